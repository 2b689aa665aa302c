"""The fused scorer's fit: a regression that reads a match off a high score and a small distance."""
import json
import sys

import numpy as np
from threadpoolctl import threadpool_limits

from eval import fuse
from eval.fuse import fit
from models.export_patch import MANIFEST, export, update_manifest
from tests.models.sets import tiny_set
from tests.models.test_export import checkpoint


def test_the_fit_weighs_the_score_up_and_the_distance_down():
    rng = np.random.default_rng(0)
    label = rng.random(4000) < 0.5
    scores = np.where(label, 1.0, -1.0) + rng.normal(0, 1.0, 4000)
    distances = np.where(label, 150.0, 350.0) + rng.normal(0, 100.0, 4000)
    with threadpool_limits(1):  # BLAS threads left spinning would bill CPU to the next test's timings
        f = fit(scores, distances, label.astype(float))
    assert f.score_weight > 0 > f.sift_weight
    z = f.combine(scores, distances)
    both = ((z > 0) == label).mean()
    assert both > max(((scores > 0) == label).mean(), ((distances < 250) == label).mean()) + 0.02


def test_a_candidate_exported_elsewhere_is_fused_into_its_own_manifest(tmp_path, monkeypatch):
    shipped = MANIFEST.read_text()
    w = tmp_path / "w"
    update_manifest([export(checkpoint(tmp_path, "2ch-2stream"), w, views=2)], w / "manifest.json")
    monkeypatch.setattr(sys, "argv", ["fuse", "--network", "2ch-2stream-views2", "--weights", str(w),
                                      "--set", tiny_set(tmp_path / "set.npz"), "--pairs", "10"])
    with threadpool_limits(1):
        fuse.main()
    names = {e["name"]: e for e in json.loads((w / "manifest.json").read_text())["models"]}
    assert set(names) == {"2ch-2stream-views2", "2ch-2stream-views2-sift"}
    assert names["2ch-2stream-views2-sift"]["file"] == names["2ch-2stream-views2"]["file"]
    assert MANIFEST.read_text() == shipped
