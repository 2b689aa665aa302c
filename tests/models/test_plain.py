"""The plain-surface pairs (``models.data.plain``): still frames, and windows whose truth is their offset."""
import cv2
import numpy as np

from models.data import plain
from tests.conftest import real


def grain(img: np.ndarray) -> np.ndarray:
    f = img.astype(np.float32)
    return f - cv2.GaussianBlur(f, (0, 0), 2)


def flat(img: np.ndarray) -> np.ndarray:
    """Pixels away from the outline and the image's edges."""
    g = cv2.GaussianBlur(img.astype(np.float32), (0, 0), 2)
    edges = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    keep = cv2.erode((edges < np.percentile(edges, 70)).astype(np.uint8), np.ones((15, 15))) > 0
    keep[:10], keep[-10:], keep[:, :10], keep[:, -10:] = False, False, False, False
    return keep


def correlation(a: np.ndarray, b: np.ndarray, shift: tuple[int, int], where: np.ndarray) -> float:
    moved = np.roll(b, shift, axis=(0, 1))
    return float(np.corrcoef(a[where], moved[where])[0, 1])


def test_the_still_pairs_frames_meet_at_their_grain_unmoved():
    """The truth of every still pair rests on the camera not moving between its frames: their
    grain meets where it is, and not a couple of pixels off (a pair of frames the camera moved
    between, ellipse 1 and 20, meets nowhere near)."""
    real(lambda: plain.frame("line", 1))
    for seq, i, j, *_ in plain.STILL:
        a, b = grain(plain.frame(seq, i)), grain(plain.frame(seq, j))
        where = flat(plain.frame(seq, i))
        here = correlation(a, b, (0, 0), where)
        off = max(correlation(a, b, s, where) for s in ((0, 2), (2, 0), (0, -2), (-2, 0)))
        assert here > 0.1 and here > 2 * off, (seq, i, j, here, off)
    a, b = grain(plain.frame("ellipse-1", 1)), grain(plain.frame("ellipse-1", 20))
    assert correlation(a, b, (0, 0), flat(plain.frame("ellipse-1", 1))) < 0.05


def test_a_windows_truth_is_its_offset():
    for name, (*_, dx, dy) in zip(plain.NAMES, plain.STILL, strict=True):
        pair = real(lambda name=name: plain.load(name))
        assert pair.a.shape == pair.b.shape == plain.SIZE[::-1]
        to, known = pair.truth(np.array([[150.0, 100.0], [0.0, 0.0]]))
        np.testing.assert_allclose(to[0], [150 - dx, 100 - dy])
        assert known[0] and known[1] == (dx <= 0 and dy <= 0)
        # the windows show the same pixels of the scene: b at the truth is a, up to the sensor's noise
        ys, xs = np.mgrid[40:160, 60:240]
        tx, ty = xs - dx, ys - dy
        inside = (tx >= 0) & (tx < plain.SIZE[0]) & (ty >= 0) & (ty < plain.SIZE[1])
        diff = np.abs(pair.a[ys[inside], xs[inside]].astype(int) - pair.b[ty[inside], tx[inside]].astype(int))
        assert np.median(diff) < 4, (name, np.median(diff))
