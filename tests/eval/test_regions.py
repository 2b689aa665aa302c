"""eval.regions: the truth it judges by, and its table."""
from pathlib import Path

import cv2
import numpy as np

from eval import regions


def test_a_regions_truth_takes_its_pixels_to_where_they_were_cut_from():
    """The region, warped back by its truth into the photo's frame, is the photo there (up to the
    resize's blur); an offset of half a pixel in the truth shows as a much larger difference."""
    rng = np.random.default_rng(0)
    photo = cv2.GaussianBlur((rng.random((600, 800, 3)) * 255).astype(np.uint8), (0, 0), 3)
    sent, h = regions.region_of(photo, 3, np.random.default_rng(1))
    assert sent.shape[1] == round(800 // 3 * regions.SHRINK)
    inv = np.linalg.inv(h)  # photo pixels -> region pixels
    ys, xs = np.mgrid[0:600, 0:800].astype(np.float32)
    pts = np.stack([xs, ys, np.ones_like(xs)], -1) @ inv.T
    mx, my = (pts[..., 0] / pts[..., 2]).astype(np.float32), (pts[..., 1] / pts[..., 2]).astype(np.float32)
    inside = (mx > 2) & (my > 2) & (mx < sent.shape[1] - 3) & (my < sent.shape[0] - 3)

    def gap(dx: float) -> float:
        back = cv2.remap(sent, mx + dx, my, cv2.INTER_LINEAR)
        return float(np.abs(back.astype(int) - photo.astype(int))[inside].mean())

    assert gap(0.0) < 1.0 and gap(0.5) > 1.5 * gap(0.0)


def test_grid_error_is_zero_for_the_truth_and_the_shift_for_a_shifted_homography():
    case = regions.Case(Path("p.jpg"), 2, b"", np.array([[2.0, 0, 10], [0, 2, 20], [0, 0, 1]]), (100, 75))
    assert regions.grid_error(case, case.h) == 0
    assert abs(regions.grid_error(case, case.h + np.array([[0, 0, 3], [0, 0, 4], [0, 0, 0]])) - 5) < 1e-9
    assert regions.grid_error(case, None) is None


def test_each_region_meets_another_photo_in_turn_and_the_table_counts_what_was_found():
    todo = [regions.Case(Path(p), f, b"", np.eye(3), (10, 10)) for p in ("a.jpg", "b.jpg") for f in regions.FRACTIONS]
    assert {regions.other_photo(todo, c) for c in todo if c.photo.name == "a.jpg"} == {Path("b.jpg")}
    assert regions.other_photo(todo, todo[-1]) == Path("a.jpg")
    errors = [0.5, None, 7.0, 1.0] * 2  # found, missed, too far, found
    warned = [False, False, True, False, False, False, False, False]
    out = regions.table(todo, {"x": regions.Run(errors, [100.0], [10.0], 512.0, 1, warned)})
    row = out.splitlines()[2]
    assert row.startswith("| x | 2 of 2 | 0 of 2 | 0 of 2 | 2 of 2 | 0.75 px | 2 (1) | 1 of 8 |") and "512 MB" in row
