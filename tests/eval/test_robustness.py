"""eval.robustness: the clutter curve's cases are what their names say, among other photos too."""
from dataclasses import replace

import numpy as np
import pytest

from eval import robustness
from models.data import pairs
from service import matching


def test_each_object_in_clutter_is_seen_at_its_named_scale_and_turn():
    try:
        base = pairs.load("cube-40")
        cases = robustness.clutter_cases(("cube-40",))
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    assert len(cases) == len(robustness.CLUTTER_SCALES) + 1 + len(robustness.AMONG_SCALES)
    for label, p in cases:
        point = np.array([[p.a.shape[1] / 5, p.a.shape[0] / 5]])  # on the poster, clear of the die
        x0, y0 = pairs.OBJECT[None][0] * base.a.shape[1], pairs.OBJECT[None][1] * base.a.shape[0]
        _, jac, ok = p.point_map(point)
        _, jac0, _ = base.point_map(point + [int(x0), int(y0)])  # the same point of the whole image
        scale = np.sqrt(abs(np.linalg.det(jac[0])) / abs(np.linalg.det(jac0[0])))
        named = float(label.split(" at ")[1].split("x")[0])
        assert ok[0], label
        assert abs(scale - named) < 0.01 * named, (label, scale)
        turn = np.degrees(np.arctan2(jac[0][1, 0], jac[0][0, 0]) - np.arctan2(jac0[0][1, 0], jac0[0][0, 0]))
        assert abs((turn + 180) % 360 - 180) == pytest.approx(90 if "turned" in label else 0, abs=1), (label, turn)


def test_each_cases_transfer_points_depend_on_its_name_alone():
    a, b = robustness.case_rng("leuven zoom x4").uniform(size=5), robustness.case_rng("leuven zoom x4").uniform(size=5)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, robustness.case_rng("leuven zoom x2").uniform(size=5))
    assert not np.array_equal(a, robustness.case_rng("leuven zoom x4", draw=1).uniform(size=5))  # another draw
    assert np.array_equal(robustness.case_rng("leuven zoom x4", draw=1).uniform(size=5),
                          robustness.case_rng("leuven zoom x4", draw=1).uniform(size=5))


def test_a_homographys_cell_gives_its_grid_error_and_the_table_the_median_of_the_right_ones():
    zoom = np.array([[2.0, 0, 0], [0, 2.0, 0], [0, 0, 1]])  # a zoomed twice

    class Pair:
        homography, a = zoom, np.zeros((64, 96), np.uint8)

        @staticmethod
        def truth(xy):
            return matching.project(zoom, xy), np.ones(len(xy), bool)
    off = zoom + np.array([[0, 0, 0.5], [0, 0, 0], [0, 0, 0]])  # half a pixel right everywhere
    bent = zoom + np.array([[0, 0, 0], [0, 0, 0], [0.01, 0, 0]])  # a perspective the truth lacks
    near, far = (robustness.judge(Pair, np.zeros((0, 2)), np.zeros((0, 2)), h, None) for h in (off, bent))
    assert near.homography_ok and near.error == pytest.approx(0.5) and near.cell().startswith("yes (0.5 px), ")
    assert not far.homography_ok and far.error > robustness.TOL and far.cell().startswith(f"no ({far.error:.0f} px), ")
    rows = [("x", {"sparse": near}, ""), ("y", {"sparse": replace(near, error=0.25)}, ""), ("z", {"sparse": far}, "")]
    assert robustness.precision(rows, "sparse") == "0.38 px"  # the wrong homography left out


def test_the_table_says_which_network_answered_where_more_than_one_did():
    def row(sparse: str) -> tuple:
        one = robustness.Outcome(True, 1, 1, 1.0)
        got = {"sparse": replace(one, model=sparse), "dense": replace(one, model="ucn"), "SIFT": one}
        return "case", got, "100 %"
    rows = [row("fast"), row("fast"), row("default")]
    assert robustness.answered_by(rows, robustness.METHODS) == "\nAnswers by network: sparse, fast 2, default 1.\n"
    assert robustness.answered_by([row("fast")], robustness.METHODS) == ""
