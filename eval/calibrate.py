"""Fit the confidence curves (``service.calibration``) on the real validation pairs, store them in
the manifest, and write the reliability tables: of the answers whose confidence falls in a bin,
the share that lay within 3 px of the truth, on the validation pairs (where the curves were fitted)
and on the held-back pairs (which judge whether they carry over).

    python -m eval.calibrate

Everything goes through the HTTP API of a real server with the shipped networks.
"""
from __future__ import annotations

import json
import os
import shlex
import sys

import cv2
import httpx
import numpy as np
from sklearn.isotonic import IsotonicRegression

from eval import machine
from eval.latency import serve
from eval.results import write_section
from models.data import pairs
from models.export_patch import MANIFEST
from service.calibration import WITHIN_PX

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9)
KNOTS = 41


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def validation_cases() -> list[pairs.Pair]:
    out = []
    for name in ("cube-20", "cube-40", "cube-79", "text"):
        p = pairs.load(name)
        out += [p, pairs.zoomed(p, 0.5), pairs.zoomed(p, 2.0), pairs.rotated(p, 90)]
    return out + [pairs.in_clutter(pairs.load("cube-40")), pairs.load("aloe")]


def heldback_cases() -> list[pairs.Pair]:
    g = pairs.load("graf")
    return [g, pairs.zoomed(g, 0.5), pairs.rotated(g, 90), pairs.load("box"), pairs.load("aero"),
            pairs.load("motorcycle")]


def collect(client: httpx.Client, cases: list[pairs.Pair]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{use: (raw scores, right or not)} over the cases' answers."""
    got: dict[str, list] = {u: [] for u in ("sparse", "dense", "transfer", "transfer-inconsistent")}
    rng = np.random.default_rng(0)
    for p in cases:
        files = {"image_a": ("a.png", png(p.a)), "image_b": ("b.png", png(p.b))}
        for method in ("sparse", "dense"):
            r = client.post("/v1/correspondences", files=files, data={"method": method})
            r.raise_for_status()
            m = r.json()["matches"]
            if not m:
                continue
            xa = np.array([[x["xa"], x["ya"]] for x in m])
            t, known = p.truth(xa)
            right = np.linalg.norm(t - np.array([[x["xb"], x["yb"]] for x in m]), axis=1) < WITHIN_PX
            got[method].append((np.array([x["score"] for x in m])[known], right[known]))
        h, w = p.a.shape
        pts = np.c_[rng.uniform(4, w - 5, 400), rng.uniform(4, h - 5, 400)]
        t, known = p.truth(pts)
        pts, t = pts[known][:200], t[known][:200]
        r = client.post("/v1/keypoints/transfer", files=files, data={"keypoints": json.dumps(pts.tolist())})
        r.raise_for_status()
        k = r.json()["keypoints"]
        right = np.linalg.norm(t - np.array([[x["x"], x["y"]] for x in k]), axis=1) < WITHIN_PX
        score, ok = np.array([x["score"] for x in k]), np.array([x["consistent"] for x in k])
        got["transfer"].append((score[ok], right[ok]))
        got["transfer-inconsistent"].append((score[~ok], right[~ok]))
    return {u: (np.concatenate([s for s, _ in v]), np.concatenate([c for _, c in v])) for u, v in got.items() if v}


def fit(score: np.ndarray, right: np.ndarray) -> dict[str, list[float]]:
    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip").fit(score, right)
    knots = np.linspace(score.min(), score.max(), KNOTS)
    return {"score": knots.round(5).tolist(), "p": iso.predict(knots).round(4).tolist()}


def reliability(curves: dict, data: dict) -> list[str]:
    lines = ["| use | " + " | ".join(f"{lo:.1f}-{min(hi, 1):.1f}" for lo, hi in zip(BINS[:-1], BINS[1:], strict=True))
             + " |", "|---|" + "---|" * (len(BINS) - 1)]
    for use, (score, right) in data.items():
        conf = np.interp(score, curves[use]["score"], curves[use]["p"])
        cells = []
        for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
            inside = (conf >= lo) & (conf < hi)
            cells.append(f"{100 * right[inside].mean():.0f} % of {inside.sum()}" if inside.sum() else "-")
        lines.append(f"| {use} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    proc, url = serve({"PATH": os.environ.get("PATH", "")})
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            val = collect(client, validation_cases())
            held = collect(client, heldback_cases())
    finally:
        proc.terminate()
        proc.wait(10)
    curves = {use: fit(*v) for use, v in val.items()}
    manifest = json.loads(MANIFEST.read_text())
    for e in manifest["models"]:
        if e["kind"] == "dense":
            e["calibration"] = {u: curves[u] for u in ("dense", "transfer", "transfer-inconsistent") if u in curves}
        if e["name"] == "siam-2stream-l2" and "sparse" in curves:
            e["calibration"] = {"sparse": curves["sparse"]}
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    command = "python -m eval.calibrate " + shlex.join(sys.argv[1:])
    text = (f"## Confidence: reliability\n\n`{command}` {machine.describe()}\n\nEach cell: of the answers whose "
            f"`confidence` falls in the bin, the share within {WITHIN_PX:g} px of the truth, and how many there "
            "were. The curves were fitted on the validation pairs (first table) and stored in the manifest; the "
            "held-back pairs (second table) show whether they carry over. *transfer*: points whose round trip "
            "came back (`consistent`); *transfer-inconsistent*: the others.\n\nValidation pairs:\n\n"
            + "\n".join(reliability(curves, val)) + "\n\nHeld-back pairs:\n\n" + "\n".join(reliability(curves, held)))
    print(text)
    write_section("reliability", text)


if __name__ == "__main__":
    main()
