"""eval.guide: how it counts the homography's inliers a fundamental matrix keeps."""
import numpy as np

from eval import guide
from models.data import pairs
from service import matching
from tests.conftest import real
from tests.service.test_matching import enlarged, row_matches


def test_a_scene_with_depth_keeps_its_planes_inliers_and_too_few_matches_count_nothing():
    h, f, both = guide.kept(row_matches(extra_distinct=True), 4.0)
    assert h >= 195 and f >= 290 and both >= 0.97 * h  # the plane's 200, the other depth's 100
    few = row_matches(extra_distinct=True, plane=5, extra=0)
    assert guide.kept(few, 4.0) is None


def test_counted_in_the_coarser_images_pixels():
    """b three times as large, each match off by 1.2 of a's pixels: at 4 px of b's the homography
    keeps about half of the plane, at 4 px of a's (12 of b's) all of it, as the guide counts."""
    m = enlarged(row_matches(extra_distinct=True, extra=0), 3.0, 1.2)
    h, inl_h = matching.verify(m, "homography", 4.0)
    _, inl_f = matching.verify(m, "fundamental", 4.0)
    again_h, again_f = matching.counted(m, h, inl_h, inl_f, 4.0)
    assert inl_h.sum() < 0.6 * len(inl_h) and again_h.sum() >= 0.95 * len(inl_h) and again_f.sum() >= 0.95 * len(inl_h)
    assert guide.kept(m, 4.0)[0] == again_h.sum()
    plain = row_matches(extra_distinct=True, extra=0)  # b as large as a: as RANSAC found them
    h, inl_h = matching.verify(plain, "homography", 4.0)
    _, inl_f = matching.verify(plain, "fundamental", 4.0)
    assert all(np.array_equal(x, y) for x, y in zip(matching.counted(plain, h, inl_h, inl_f, 4.0), (inl_h, inl_f),
                                                     strict=True))


def test_the_scenes_with_depth_are_aloe_whole_its_windows_and_the_cube_moved_by_hand():
    cases = real(guide.depth_cases)
    names = [name for name, _ in cases]
    assert names[0] == "aloe" and sum(n.startswith("aloe window x ") for n in names) == len(pairs.CROPS)
    assert sum(n.startswith("cube moved by hand") for n in names) == len(pairs.MBT_FRAMES)
    h, w = cases[0][1].a.shape
    assert all(p.a.shape[0] < h or p.a.shape[1] < w for _, p in cases[1:1 + len(pairs.CROPS)])
