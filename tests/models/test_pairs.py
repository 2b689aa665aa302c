"""Real pairs with established geometry, and the harder cases made from them."""
import cv2
import numpy as np
import pytest

from models.data import pairs


def sift_agreement(p: pairs.Pair) -> float:
    """Share of SIFT's ratio-tested matches that the pair's truth puts within 3 px."""
    det = cv2.SIFT_create(2000)
    ka, da = det.detectAndCompute(p.a, None)
    kb, db = det.detectAndCompute(p.b, None)
    m = [x for x, y in cv2.BFMatcher().knnMatch(da, db, k=2) if x.distance < 0.7 * y.distance]
    xa, xb = np.float64([ka[x.queryIdx].pt for x in m]), np.float64([kb[x.trainIdx].pt for x in m])
    t, ok = p.truth(xa)
    return float((ok & (np.linalg.norm(t - xb, axis=1) < 3)).sum() / max(ok.sum(), 1))


@pytest.fixture(scope="module")
def cube():
    try:
        return pairs.load("cube-40")
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")


def test_the_established_homography_agrees_with_independent_matches(cube):
    assert sift_agreement(cube) > 0.85


@pytest.mark.parametrize("make", [lambda p: pairs.zoomed(p, 0.35), lambda p: pairs.zoomed(p, 2.83),
                                  lambda p: pairs.rotated(p, 135), lambda p: pairs.in_clutter(p)],
                         ids=["zoom 0.35", "zoom 2.83", "turned 135", "in clutter"])
def test_harder_cases_keep_a_true_geometry(cube, make):
    harder = make(cube)
    assert harder.homography is not None and sift_agreement(harder) > 0.8


def test_rotated_canvas_holds_the_whole_image(cube):
    turned = pairs.rotated(cube, 90)
    assert turned.b.shape == cube.b.shape[::-1]
