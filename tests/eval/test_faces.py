"""eval.faces: the crops keep each landmark on what it marks; the baseline that reads no pixel."""
from pathlib import Path

import numpy as np
import pytest

from eval.annotations import Instance
from eval.faces import crop
from eval.keypoints import in_place


def spots(shape: tuple[int, int], marks: np.ndarray, sigma: float) -> np.ndarray:
    yy, xx = np.mgrid[0:shape[0], 0:shape[1]].astype(np.float64)
    img = sum(np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * sigma ** 2)) for x, y in marks)
    return (255 * img / img.max()).astype(np.uint8)


@pytest.mark.parametrize("side", [None, 320, 60])
def test_a_crop_keeps_each_landmark_on_the_spot_it_marks(side):
    marks = np.float32([[140.3, 90.6], [210.8, 95.2], [175.5, 160.1]])
    image = spots((300, 400), marks, sigma=6.0)
    out, pts = crop(image, marks, side=side)
    if side is not None:
        assert max(out.shape) == side
    yy, xx = np.mgrid[0:out.shape[0], 0:out.shape[1]]
    w = out.astype(np.float64)
    r = 2.5 * 6.0 * (1 if side is None else side / max(crop(image, marks)[0].shape))
    for x, y in pts:
        near = w * (np.hypot(xx - x, yy - y) < r)
        got = np.array([(near * xx).sum(), (near * yy).sum()]) / near.sum()
        assert np.hypot(*(got - (x, y))) < 0.15, (side, got, (x, y))


def test_a_crop_stays_within_the_image():
    marks = np.float32([[2.0, 3.0], [50.0, 40.0]])
    out, pts = crop(np.zeros((60, 80), np.uint8), marks)
    assert out.shape == (53, 63)  # from (0, 0) to the box's far side widened by 12 px, within the image
    np.testing.assert_allclose(pts, marks)


def test_the_baseline_puts_each_keypoint_at_its_mean_share_of_the_exemplars():
    images = {Path("a"): np.zeros((100, 200)), Path("b"): np.zeros((50, 100)), Path("q"): np.zeros((40, 80))}
    ex = [Instance(Path("a"), "x", (0, 0, 1, 1), {"eye": (50.0, 20.0), "nose": (100.0, 50.0)}),
          Instance(Path("b"), "x", (0, 0, 1, 1), {"eye": (35.0, 10.0)})]
    # eye: shares (0.25, 0.2) and (0.35, 0.2) -> (0.3, 0.2) of 80 x 40; nose: (0.5, 0.5)
    q = Instance(Path("q"), "x", (0, 0, 10, 10), {"eye": (24.0, 8.0), "nose": (41.0, 20.0), "chin": (5.0, 5.0)})
    assert in_place(ex, [q], images) == pytest.approx([0.0, 0.1])
    assert in_place(ex, [q], images, names=["nose"]) == pytest.approx([0.1])
