"""Dense matches that may be the images' frames matched (``service.frames``)."""
import numpy as np

from eval.robustness import homography_right
from models.data import pairs, plain
from service import frames, matching
from service.feature_map import FeatureMap
from tests.conftest import encode, real


def fmap(width=400, height=300, stride=4):
    return FeatureMap(np.zeros((8, height // stride, width // stride), np.float16), width, height, 1.0, stride)


def matches(xy_a, xy_b):
    xy_a, xy_b = np.asarray(xy_a, np.float32), np.asarray(xy_b, np.float32)
    return matching.Matches(xy_a, xy_b, np.ones(len(xy_a), np.float32))


def test_framed_is_the_same_depth_behind_the_same_edges():
    fa, fb = fmap(), fmap()
    m = matches([[5, 100], [5, 100], [3, 3], [3, 3], [200, 5], [200, 150]],
                [[6, 160], [60, 100], [4, 2], [4, 60], [150, 5], [200, 150]])
    # along the left edge; off it in b; a corner to the corner; the corner to the left edge only;
    # along the top edge; the middle
    assert frames.framed(fa, fb, m).tolist() == [True, False, True, False, True, False]


def test_framed_matches_stay_only_where_the_others_geometry_explains_them():
    rng = np.random.default_rng(0)
    fa, fb = fmap(), fmap()
    inner = np.c_[rng.uniform(60, 340, 80), rng.uniform(60, 200, 80)]
    edge = np.c_[rng.uniform(0, 20, 40), rng.uniform(40, 200, 40)]
    shift = np.array([0, 30])  # along a's left edge: its points stay as deep behind it
    follow, frame = edge[:20] + shift, edge[20:] + rng.uniform(-1, 1, (20, 2))  # the frames matched: in place
    m = matches(np.r_[inner, edge], np.r_[inner + shift, follow, frame])
    assert frames.framed(fa, fb, m)[80:].all() and not frames.framed(fa, fb, m)[:80].any()
    kept = frames.off_frames(fa, fb, m, 3.0)
    np.testing.assert_array_equal(kept.xy_a, np.r_[inner, edge[:20]].astype(np.float32))
    alone = frames.off_frames(fa, fb, matching.rows(m, slice(80, None)), 3.0)  # nothing else shows a geometry
    assert len(alone.xy_a) == 0


def test_a_plain_strip_gets_no_geometry_from_the_frames(client):
    """ViSP's white strip, two still frames cut a known offset apart: the dense matches near the
    frames agreed on a wrong homography (37 matches, none within 5 px)."""
    pair = real(lambda: plain.load("plain-line-1-2"))
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "auto"},
                    files={"image_a": ("a.png", encode(pair.a)), "image_b": ("b.png", encode(pair.b))}).json()
    assert r.get("geometry") is None and r["warnings"]
    assert all(m["confidence"] < 0.2 for m in r["matches"])


def test_the_sparse_geometry_keeps_framed_matches_it_explains_where_the_others_show_none():
    """A wide image whose dense matches crowd its frame (the text pair washed out): too few others
    for a geometry of their own, but the sparse matches' one explains the framed ones."""
    fa, fb = fmap(), fmap()
    rng = np.random.default_rng(1)
    shift = np.array([0, 30])
    edge = np.c_[rng.uniform(0, 20, 30), rng.uniform(40, 200, 30)]
    inner = np.c_[rng.uniform(100, 110, 8), rng.uniform(100, 110, 8)]  # too few and too narrow to fit
    m = matches(np.r_[inner, edge], np.r_[inner + shift, edge + shift])
    guide = matching.Guide("homography", np.array([[1.0, 0, 0], [0, 1, 30], [0, 0, 1]]))
    assert len(frames.off_frames(fa, fb, m, 3.0).xy_a) == 8
    assert len(frames.off_frames(fa, fb, m, 3.0, guide).xy_a) == 38
    wrong = matching.Guide("homography", np.array([[1.0, 0, 0], [0, 1, 0], [0, 0, 1]]))
    assert len(frames.off_frames(fa, fb, m, 3.0, wrong).xy_a) == 8


def test_a_wide_washed_out_page_keeps_its_dense_homography_or_says_it_rests_on_a_corner(client):
    """The text pair with b washed out: most dense matches lie near the frame, some as deep behind
    the same edges by chance; dropped, the rest (1 % of a) fitted a wrong homography, unwarned. The
    right matches left lie mostly in a's bottom-left corner: the homography they fit is right, or
    rests on under a tenth of a and says so (a sub-pixel change of the pre-alignment tips it)."""
    pair = real(lambda: pairs.exposed(pairs.load("text"), 0.3, 150))
    r = client.post("/v1/correspondences", data={"method": "dense", "geometry": "homography"},
                    files={"image_a": ("a.png", encode(pair.a)), "image_b": ("b.png", encode(pair.b))}).json()
    right = homography_right(np.array(r["homography"]), pair.truth, pair.a.shape)
    assert right or (r["coverage"] < 0.1 and any("inliers span" in w for w in r["warnings"])), r["warnings"]


def test_framed_matches_off_the_sparse_plane_stay_on_the_others_epipolar_lines():
    """Rectified stereo keeps rows, so matches near the top and bottom lie as deep behind the same
    edges in both images; where the sparse matches show one plane only (a homography), the framed
    matches off it stay when the other dense matches' epipolar geometry explains them."""
    rng = np.random.default_rng(2)
    fa, fb = fmap(), fmap()
    inner = np.c_[rng.uniform(60, 340, 120), rng.uniform(60, 240, 120)]
    edge = np.c_[rng.uniform(60, 340, 40), rng.uniform(0, 20, 40)]  # along the top edge
    a = np.r_[inner, edge]
    disparity = rng.uniform(5, 40, len(a))  # depth: each point its own shift along its row
    disparity[120:140] = 20  # half the framed ones on the sparse matches' plane
    m = matches(a, a - np.c_[disparity, np.zeros(len(a))])
    assert frames.framed(fa, fb, m)[120:].all() and not frames.framed(fa, fb, m)[:120].any()
    plane = matching.Guide("homography", np.array([[1.0, 0, -20], [0, 1, 0], [0, 0, 1]]))
    kept = frames.off_frames(fa, fb, m, 3.0, plane)
    assert len(kept.xy_a) == 160
    side = np.c_[rng.uniform(0, 20, 40), rng.uniform(40, 200, 40)]  # a's left edge to b's, off the rows
    wrong = matches(np.r_[inner, side], np.r_[m.xy_b[:120], side + [0, 40]])
    assert frames.framed(fa, fb, wrong)[120:].all()
    assert len(frames.off_frames(fa, fb, wrong, 3.0, plane).xy_a) == 120
