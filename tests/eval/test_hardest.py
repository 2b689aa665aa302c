"""The pairs eval.hardest draws: the highest-scored negatives and the lowest-scored positives of a bin."""
import numpy as np

from eval.hardest import GAP, hardest, sheet


def test_the_hardest_are_the_top_negatives_and_the_bottom_positives_of_the_bin():
    pos = np.array([0.9, -1.0, 0.1, -2.0, 0.5])
    neg = np.array([0.2, 3.0, -1.0, 1.5])
    tight = np.array([True, True, True, False, True])  # the worst positive lies outside the bin
    worst_neg, worst_pos = hardest(pos, neg, tight, 2)
    assert worst_neg.tolist() == [1, 3] and worst_pos.tolist() == [1, 2]


def test_a_sheet_sets_each_pair_side_by_side():
    patches = np.stack([np.full((64, 64), v, np.uint8) for v in (10, 20, 30, 40)])
    out = sheet(patches, np.array([[0, 1], [2, 3], [1, 2]]), ["a", "b", "c"], columns=2)
    cell_w, cell_h = 2 * 64 + 2 + GAP, 64 + 14 + GAP
    assert out.shape == (2 * cell_h, 2 * cell_w - GAP)
    assert out[5, 5] == 10 and out[5, 64 + 2 + 5] == 20  # the first pair, left then right
    assert out[5, cell_w + 5] == 30 and out[cell_h + 5, 64 + 2 + 5] == 30  # the second pair, then the third below
    assert (out[cell_h + 5, cell_w + 5:] == 255).all()  # no fourth pair
