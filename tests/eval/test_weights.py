"""The before/after table of the shipped weights reads real files: those at a git revision, and
what the health scan finds in them."""
import hashlib
import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from eval import weights
from models.data.synth import PatchSet

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def committed(tmp_path_factory):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    return weights.from_git("HEAD", tmp_path_factory.mktemp("w"))


def test_from_git_writes_the_revisions_manifest_and_files(committed):
    entries = json.loads((committed / "manifest.json").read_text())["models"]
    assert {e["name"] for e in entries} >= {"2ch-2stream", "siam-2stream-l2", "ucn"}
    for e in entries:
        assert hashlib.sha256((committed / e["file"]).read_bytes()).hexdigest() == e["sha256"]


def test_a_row_measures_health_quality_and_speed(committed):
    entry = next(e for e in json.loads((committed / "manifest.json").read_text())["models"]
                 if e["kind"] == "descriptor")
    rng = np.random.default_rng(0)
    patches = rng.integers(0, 255, (40, 64, 64), np.uint8)
    patches[1::2] = patches[::2]  # each positive pair is one patch twice: a perfect separation
    pos = np.stack([np.arange(0, 40, 2), np.arange(1, 40, 2)], 1)
    ps = PatchSet(patches, np.repeat(np.arange(20), 2), pos, np.stack([pos[:-1, 0], pos[1:, 0]], 1))
    subnormal, dead, fpr, speed = weights.row(entry, committed, ps)
    assert subnormal == "0" and dead == "none dead" and fpr == "0.00 %"
    assert speed.endswith("a second") and float(speed.split()[0].replace(",", "")) > 0


def test_the_dense_network_is_probed_on_photos_as_the_export_gate_probes_it(committed):
    """Noise leaves a fifth of UCN's head channels dark; the photos the gate saw light them all."""
    entry = next(e for e in json.loads((committed / "manifest.json").read_text())["models"] if e["kind"] == "dense")
    subnormal, dead, fpr, speed = weights.row(entry, committed, None)
    assert subnormal == "0" and dead == "none dead" and fpr == "-"
    assert speed.endswith("ms an image")
