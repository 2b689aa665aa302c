"""eval.sampling compares the shipped dense network with the file it was rewritten from."""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from eval import sampling

ROOT = Path(__file__).parents[2]


@pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs git's history")
def test_the_original_is_found_in_git_by_the_manifest_s_digest():
    rev = sampling.original()
    blob = subprocess.run(["git", "show", f"{rev}:models/weights/ucn.onnx"], cwd=ROOT, check=True,
                          capture_output=True).stdout
    entry = next(e for e in json.loads((ROOT / "models/weights/manifest.json").read_text())["models"]
                 if e["name"] == "ucn")
    assert hashlib.sha256(blob).hexdigest() == entry["graph_rewrite"]["from_sha256"]
    assert b"GridSample" in blob


def test_a_forward_pass_is_timed_in_a_process_of_its_own():
    out = sampling.in_child(sampling.SHIPPED, 64, 96, 1, 1)
    assert out["ms"] > 0 and out["peak_mib"] >= 0
