"""eval_patch on a named set: candidates are judged on validation without touching the manifest's
recorded (held-back and stereo) figures."""
import json

import numpy as np

from models import eval_patch
from models.data.synth import PatchSet
from models.export_patch import export, update_manifest
from tests.models.test_export import checkpoint


def tiny_set(seed: int) -> PatchSet:
    """20 positives (noisy copies), 20 distinct negatives and 5 look-alike ones (copies of another
    point)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 200, (20, 64, 64))
    copies = base[np.r_[np.arange(20), np.arange(5)]] + rng.integers(0, 50, (25, 64, 64))
    patches = np.concatenate([base, copies]).astype(np.uint8)
    pos = np.stack([np.arange(0, 20), np.arange(20, 40)], 1)
    neg = np.r_[np.stack([np.arange(0, 20), np.roll(np.arange(20, 40), 3)], 1),
                np.stack([np.arange(5), np.arange(40, 45)], 1)]
    return PatchSet(patches, np.r_[np.arange(20), np.arange(20), 20 + np.arange(5)], pos, neg)


def test_named_set_is_evaluated_and_manifest_metrics_are_kept(tmp_path, monkeypatch):
    w = tmp_path / "w"
    update_manifest([export(checkpoint(tmp_path, "2ch-2stream"), w)], w / "manifest.json")
    before = json.loads((w / "manifest.json").read_text())
    before["models"][0]["metrics"] = {"fpr95_heldout": 0.01}
    (w / "manifest.json").write_text(json.dumps(before))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    tiny_set(0).save(str(tmp_path / "data" / "patches_val.npz"))
    results = tmp_path / "RESULTS.md"
    eval_patch.main(["--sets", "val", "--manifest", str(w / "manifest.json"), "--results", str(results)])
    text = results.read_text()
    assert "<!-- begin patch-fpr95-val -->" in text and "| FPR95 val |" in text
    assert "| 2ch-2stream |" in text and "val: 20 positive / 25 negative" in text
    assert "val: look-alike (5)" in text
    assert json.loads((w / "manifest.json").read_text()) == before
