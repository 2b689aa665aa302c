"""eval_patch on a named set: candidates are judged on validation without touching the manifest's
recorded (held-back and stereo) figures."""
import json

import numpy as np

from eval import patches as eval_patch
from models.data.synth import PatchSet
from models.export_patch import export, update_manifest
from models.metrics import fpr95
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


def test_false_positives_are_counted_photo_by_photo(tmp_path, monkeypatch):
    w = tmp_path / "w"
    update_manifest([export(checkpoint(tmp_path, "2ch-2stream"), w)], w / "manifest.json")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    PatchSet.by_photo([tiny_set(0), tiny_set(1)], ["first", "second"]).save(str(tmp_path / "data" / "patches_val.npz"))
    results = tmp_path / "RESULTS.md"
    eval_patch.main(["--sets", "val", "--manifest", str(w / "manifest.json"), "--results", str(results)])
    lines = results.read_text().splitlines()
    start = next(i for i, row in enumerate(lines) if row.startswith("| photo |"))
    header = lines[start].split(" | ")
    rows = {row.split(" | ")[0][2:]: row.strip(" |").split(" | ") for row in lines[start + 2:start + 4]}
    assert rows["first"][1:3] == ["20", "25"] and rows["second"][1:3] == ["20", "25"]
    sift_fpr = next(row for row in lines if row.startswith("| OpenCV SIFT | ")).split(" | ")[1]
    column = header.index("OpenCV SIFT")
    fp = sum(int(r[column].split()[0]) for r in rows.values())
    assert f"{100 * fp / 50:.2f} %" == sift_fpr  # the photos' false positives add up to the set's


def test_photo_counts_use_the_whole_sets_95_percent_threshold():
    ps = PatchSet.by_photo([tiny_set(0), tiny_set(1)], ["first", "second"])  # 20 + 20 positives, 25 + 25 negatives
    pos = np.arange(40.0)  # 95 % of these are at or above 2.0
    neg = np.zeros(50)
    neg[[0, 1, 2]] = [2.0, 1.99, 3.0]  # first photo: two at or above the threshold
    neg[30] = 50.0  # second photo: one
    lines = eval_patch.photo_lines(ps, {"m": (pos, neg)})
    first_alone = fpr95(pos[:20], neg[:25])  # 95 % of 0..19 are at or above 1.0: three
    assert first_alone == 3 / 25
    assert lines[2:4] == ["| first | 20 | 25 | 2 (12.00 %) |", "| second | 20 | 25 | 1 (4.00 %) |"]
    # without the first photo: positives 20..39 put the threshold at 21.0, which only 50.0 passes
    assert lines[-2:] == ["| first | 4.00 % |", "| second | 12.00 % |"]


def test_offset_bins_give_the_interval_of_each_networks_difference_from_sift():
    ps = PatchSet.by_photo([tiny_set(0), tiny_set(1)], ["first", "second"])  # 40 positives, 50 negatives
    ps.offset[:] = 0.01  # every positive in the tightest bin
    rng = np.random.default_rng(0)
    neg = rng.normal(0, 1, 50)
    sift = (rng.normal(0, 1, 40), neg)  # positives like the negatives: FPR95 near 1
    net = (np.full(40, 9.0), neg)  # every positive above every negative: FPR95 0
    rows = {r.split(" | ")[0][2:]: r.strip(" |").split(" | ") for r in
            eval_patch.offset_lines(ps, {"OpenCV SIFT": sift, "net": net, "same": sift}, resamples=200)[2:]}
    assert "[" not in rows["OpenCV SIFT"][1]  # the baseline has no interval
    assert rows["net"][1].startswith("0.00 % [-") and rows["net"][1].endswith("]")
    lo, hi = (float(v) for v in rows["net"][1].split("[")[1].rstrip("]").split(", "))
    assert hi < 0  # beyond doubt better than SIFT
    assert rows["same"][1].endswith("[+0.0, +0.0]")  # the same scores: no difference either way


def test_the_tightest_bin_is_judged_against_a_quarter_of_sifts_only_beyond_doubt():
    ps = PatchSet.by_photo([tiny_set(0), tiny_set(1)], ["first", "second"])  # 40 positives, 50 negatives
    ps.offset[:] = 0.01
    neg = np.arange(50.0)
    sift = (np.full(40, 30.0), neg)  # 20 of 50 negatives at or above every positive
    quarter = eval_patch.TIGHT_TARGET
    nets = {"OpenCV SIFT": sift,
            "none": (np.full(40, 99.0), neg),  # no false positive: ratio 0
            "same": sift,  # ratio 1
            "near": (np.full(40, 45.0), neg)}  # 5 of 50: a quarter, the resamples fall on both sides
    lines = eval_patch.tight_lines(ps, nets, resamples=200)
    rows = {r.split(" | ")[0][2:]: r.strip(" |").split(" | ") for r in lines[2:]}
    assert rows["none"] == ["none", "0.00 [0.00, 0.00]", "met"]
    assert rows["same"] == ["same", "1.00 [1.00, 1.00]", "missed"]
    assert rows["near"][1].startswith(f"{quarter:.2f} [") and rows["near"][2] == "not told apart"
    assert "OpenCV SIFT" not in rows
    ps.offset[:] = 0.07  # no positive in the tightest bin: no lines
    assert eval_patch.tight_lines(ps, nets, resamples=200) == []


def test_through_the_api_the_tables_are_the_servers_and_say_how_far_they_lie_from_the_files(tmp_path, monkeypatch):
    """``--api``: a server of the shipped weights scores every pair from PNGs, as a caller sends
    them; the section is one of its own, and every network's scores match its file's."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    tiny_set(0).save(str(tmp_path / "data" / "patches_val.npz"))
    results = tmp_path / "RESULTS.md"
    eval_patch.main(["--sets", "val", "--api", "--results", str(results)])
    text = results.read_text()
    assert "<!-- begin patch-fpr95-val-api -->" in text and "## Patch matching through the HTTP API" in text
    gaps = {row.split(" | ")[0][2:]: float(row.split(" | ")[1].rstrip(" |")) for row in text.splitlines()
            if row.startswith("| ") and row.count(" | ") == 1 and not row.startswith("| network")}
    assert "2ch-2stream-views8-sift" in gaps and "siam-2stream-l2" in gaps
    assert max(gaps.values()) < 1e-4, gaps
