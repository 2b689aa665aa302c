"""The set-building command: photos built side by side give the same set as one after another, and
numpy is held to the same kernels on every CPU."""
import os
import subprocess
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


def test_the_command_runs_again_with_numpy_s_kernels_past_avx2_off_where_this_cpu_has_them(monkeypatch):
    calls = []
    monkeypatch.setattr(os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    monkeypatch.setenv("NPY_DISABLE_CPU_FEATURES", "")
    build_patches.portable({"X86_V3": True, "X86_V4": True, "AVX512_ICL": True, "AVX512_SPR": False})
    ((path, argv, env),) = calls
    assert path == sys.executable and argv == sys.orig_argv
    assert env["NPY_DISABLE_CPU_FEATURES"] == "X86_V4 AVX512_ICL"
    build_patches.portable({"X86_V3": True, "X86_V4": False, "AVX512_ICL": False})  # off, or an AVX2 CPU
    assert len(calls) == 1


def test_turning_them_off_leaves_numpy_no_kernel_past_avx2():
    from numpy._core._multiarray_umath import __cpu_dispatch__  # the targets this numpy was built with
    assert set(__cpu_dispatch__) - {"X86_V2", "X86_V3"} <= set(build_patches.BEYOND_AVX2)
    on = [x for x in build_patches.BEYOND_AVX2 if build_patches.__cpu_features__.get(x)]  # none on an AVX2 CPU
    code = "from models.build_patches import BEYOND_AVX2 as b, __cpu_features__ as f; print([x for x in b if f.get(x)])"
    env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(on)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
