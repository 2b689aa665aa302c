"""The set-building command: photos built side by side give the same set as one after another."""
import numpy as np

from models.build_patches import photo_set


def test_parallel_photos_build_the_same_set_as_serial_ones():
    serial = photo_set("heldout", 1, 5, similar=False, jobs=1)
    side_by_side = photo_set("heldout", 1, 5, similar=False, jobs=2)
    assert len(serial.photo_names) >= 2 and len(serial.pos) > 50
    for field in ("patches", "point", "pos", "neg", "photo"):
        assert np.array_equal(getattr(serial, field), getattr(side_by_side, field)), field
    assert serial.photo_names == side_by_side.photo_names
    other_seed = photo_set("heldout", 1, 6, similar=False, jobs=2)
    assert not np.array_equal(other_seed.patches[:100], serial.patches[:100])
