"""The pairs eval.hardest draws: the highest-scored negatives and the lowest-scored positives of a bin."""
import numpy as np

from eval.hardest import GAP, alike_lines, alike_parts, hardest, sheet
from models.data.synth import PatchSet


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


def test_a_positive_with_half_of_one_view_covered_is_unlike_in_that_half_only():
    rng = np.random.default_rng(0)
    base = rng.integers(0, 255, (2, 64, 64)).astype(np.uint8)
    covered = base[0].copy()
    covered[:, 32:] = rng.integers(0, 255, (64, 32))  # another surface over the right half
    patches = np.stack([base[0], covered, base[0], base[1]])
    parts = alike_parts(patches, np.array([[0, 1], [0, 2], [0, 3]]))
    assert parts["most alike half"][0] > 0.99 and abs(parts["least alike half"][0]) < 0.1
    assert all(v[1] > 0.99 for v in parts.values())  # the patch against itself: alike in every part
    assert all(abs(v[2]) < 0.2 for v in parts.values())  # two noise patches: alike in none


def test_the_table_reads_the_negatives_let_through_and_the_positives_lost_at_95_percent_recall():
    rng = np.random.default_rng(1)
    patches = rng.integers(0, 255, (6, 64, 64)).astype(np.uint8)
    patches[1], patches[3] = patches[0], patches[2]  # one copy a positive, one a negative
    ps = PatchSet(patches, np.arange(6), np.array([[0, 1]] * 19 + [[4, 5]]), np.array([[2, 3], [4, 0]]))
    pos = np.r_[np.ones(19), 0.0]  # the noise positive scored lowest: lost
    neg = np.array([2.0, -1.0])  # the copy negative above every positive: let through
    lines = alike_lines(ps, pos, neg, np.ones(20, bool))
    assert lines[0] == "| patch correlation, median | negatives let through (1) | positives lost (1) |"
    whole = lines[2].split(" | ")
    assert whole[0] == "| whole patch" and float(whole[1]) > 0.99 and abs(float(whole[2].rstrip(" |"))) < 0.2
