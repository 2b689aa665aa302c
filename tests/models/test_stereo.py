"""Which left-image pixels a rectified stereo pair's right view does not see."""
import numpy as np

from models.data import stereo


def test_a_near_block_hides_the_background_it_moves_over_and_nothing_else():
    """A background at disparity 2 and a block of disparity 10 over columns 30-39: in the right
    view the block lands on columns 20-29, over the background of left columns 22-29 (which lands
    on 20-27); the block itself, the rest of the background and unknown pixels are seen."""
    disp = np.full((4, 60), 2.0, np.float32)
    disp[:, 30:40] = 10.0
    disp[0, :5] = np.nan
    got = stereo.hidden(disp)
    want = np.zeros((4, 60), bool)
    want[:, 22:30] = True
    np.testing.assert_array_equal(got, want)


def test_a_real_pairs_right_view_hides_a_small_share_of_its_left_view():
    """Middlebury's motorcycle (scikit-image ships it): its depth edges hide a few per cent of the
    left view from the right one (5.6 %; Aloe's 7.5 %)."""
    _, _, disp = stereo.motorcycle()
    share = stereo.hidden(disp)[np.isfinite(disp)].mean()
    assert 0.01 < share < 0.2, share
