"""Keypoint transfer's choice of guide: the epipolar lines guide only where their own search comes
back from the places that are the evidence of depth. (Through the API: test_dense_api.py,
test_sparse_api.py.)"""
import numpy as np

from service import keypoint_transfer, matching, point_transfer


def test_the_lines_hold_where_the_epipolar_search_comes_back_from_the_evidence_of_depth():
    m = matching.Matches(np.arange(80, dtype=np.float32).reshape(40, 2), np.zeros((40, 2), np.float32),
                         np.ones(40, np.float32))
    on_plane = np.arange(40) < 20
    asked = []

    def find(share):
        def run(points, guide):
            asked.append(points.copy())
            ok = np.arange(len(points)) < round(share * len(points))
            return point_transfer.Transfer(points, np.ones(len(points), np.float32),
                                           np.zeros(len(points), np.float32), ok, guide.kind)
        return run
    f = matching.Guide("fundamental", np.eye(3), np.ones(40, bool))
    h = matching.Guide("homography", np.eye(3), on_plane)
    assert keypoint_transfer.lines_hold(find(0.8), f, h, m) and not keypoint_transfer.lines_hold(find(0.6), f, h, m)
    np.testing.assert_array_equal(asked[0], m.xy_a[20:].astype(np.float32))  # the places only depth explains
    few = matching.Guide("homography", np.eye(3), np.arange(40) < 35)  # 5 places beyond the plane: too few to tell
    asked.clear()
    assert keypoint_transfer.lines_hold(find(0.0), f, few, m) and not asked
