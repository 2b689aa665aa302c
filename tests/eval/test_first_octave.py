"""The first-octave benchmark's verdict: the finest pyramid start within 1.5x SIFT's cold time."""
import pytest

from eval.first_octave import Row, finest_fast, planar_cases


def row(octave: float, ratio: float) -> Row:
    return Row(octave, 0, 100 * ratio, ratio, 0, 0, [])


def test_the_finest_start_within_the_speed_target_is_named():
    rows = [row(-1, 3.0), row(-0.5, 1.4), row(-0.25, 1.2), row(0, 1.0)]
    assert finest_fast(rows) == -0.5


def test_none_is_named_when_every_start_is_too_slow():
    assert finest_fast([row(-1, 3.0), row(0, 1.51)]) is None


def test_its_cases_are_the_planar_validation_cases():
    """Every case it counts homographies on has one (the cube moved by hand is left out)."""
    try:
        cases = planar_cases()
    except FileNotFoundError:
        pytest.skip("no data/pairs: run `python -m models.prep_data --opencv`")
    assert len(cases) == 68 and all(p.homography is not None for _, p in cases)
