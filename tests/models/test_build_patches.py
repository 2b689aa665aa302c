"""The set-building command: photos built side by side give the same set as one after another, and
numpy is held to the same kernels on every CPU."""
import os
import sys

import numpy as np

from models import build_patches
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


def test_the_command_runs_again_with_numpy_held_to_avx2_unless_it_already_is(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "")
    build_patches.portable()
    ((path, argv, env),) = calls
    assert path == sys.executable and argv == sys.orig_argv
    assert env["NPY_DISABLE_CPU_FEATURES"] == build_patches.NUMPY_AVX2
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", build_patches.NUMPY_AVX2)
    build_patches.portable()
    assert len(calls) == 1
