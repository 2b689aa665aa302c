"""Correspondences on plain surfaces, through the HTTP API: ViSP's paper ellipse and strip on a dark
board (``models.data.plain``), nothing on them but an outline and a faint grain. Windows of two
frames the camera took standing still, a known offset apart: for each method, the matches
returned, the geometry verified and whether it is right (its median error over a grid of a's points
under 5 px), the share of the matches within 5 px of the truth and their mean ``confidence``, right
and wrong, and whether the answer warns. Then frames the camera moved between, whose truth is
unknown: the geometry each method claims and how confident it is. Keypoint transfer of a grid of
points on the still windows: the share within 5 px and the guidance.

    python -m eval.plain
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import httpx
import numpy as np

from eval import machine
from eval.latency import serving
from eval.results import published
from eval.robustness import homography_right, images, uploads
from models.data import plain

TOL = 5.0
METHODS = ("sparse", "dense")


def answer(client: httpx.Client, a: np.ndarray, b: np.ndarray, method: str) -> dict:
    r = client.post("/v1/correspondences", files=images(a, b), data={"method": method, "geometry": "auto"})
    r.raise_for_status()
    return r.json()


def claimed(body: dict) -> str:
    """The geometry an answer verified and how it reads it: 'homography, 0.95' (the matches' mean
    confidence), or 'none'; ', warned' where it warns."""
    conf = [m["confidence"] for m in body["matches"]]
    geometry = body.get("geometry") or "none"
    said = f"{geometry}, {len(conf)} matches" + (f", {np.mean(conf):.2f}" if conf else "")
    return said + (", warned" if body.get("warnings") else "")


def mean_of(values: np.ndarray, which: np.ndarray) -> str:
    return f"{values[which].mean():.2f}" if which.any() else "-"


def still_row(client: httpx.Client, name: str) -> str:
    pair = plain.load(name)
    cells = []
    for method in METHODS:
        body = answer(client, pair.a, pair.b, method)
        m = body["matches"]
        if not m:
            cells.append("none, 0" + (", warned" if body.get("warnings") else ""))
            continue
        xy = np.array([[q["xa"], q["ya"], q["xb"], q["yb"]] for q in m])
        conf = np.array([q["confidence"] for q in m])
        truth, known = pair.truth(xy[:, :2])
        right = known & (np.linalg.norm(xy[:, 2:] - truth, axis=1) < TOL)
        h = body.get("homography")
        verdict = "none" if not body.get("geometry") else body["geometry"] if h is None else (
            "right" if homography_right(np.array(h), pair.truth, pair.a.shape) else "wrong")
        cells.append(f"{verdict}, {len(m)}, {100 * right.mean():.0f} % (right {mean_of(conf, right)}, wrong "
                     f"{mean_of(conf, ~right)})" + (", warned" if body.get("warnings") else ""))
    w, h = plain.SIZE
    pts = np.array([[x, y] for x in range(15, w, 30) for y in range(15, h, 30)], np.float64)
    r = client.post("/v1/keypoints/transfer", files=uploads(pair), data={"keypoints": json.dumps(pts.tolist())})
    r.raise_for_status()
    body = r.json()
    got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
    truth, known = pair.truth(pts)
    within = np.linalg.norm(got - truth, axis=1)[known] < TOL
    return f"| {name} | " + " | ".join(cells) + f" | {100 * within.mean():.0f} % ({body['guidance']}) |"


def rows(client: httpx.Client) -> tuple[list[str], list[str]]:
    still = []
    for name in plain.NAMES:
        still.append(still_row(client, name))
        print(still[-1], flush=True)
    moved = []
    for label, a, b in plain.moved():
        moved.append(f"| {label} | " + " | ".join(claimed(answer(client, a, b, m)) for m in METHODS) + " |")
        print(moved[-1], flush=True)
    return still, moved


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    with serving({"default": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        still, moved = rows(clients["default"])
    command = "python -m eval.plain " + shlex.join(sys.argv[1:])
    tables = ("| still windows | sparse | dense | transfer within 5 px (guidance) |\n|---|---|---|---|\n"
              + "\n".join(still) + "\n\nFrames the camera moved between (no truth): the geometry each method "
              "verified, its matches and their mean confidence.\n\n| frames | sparse | dense |\n|---|---|---|\n"
              + "\n".join(moved) + "\n")
    published("plain", "## Correspondences on plain surfaces: a paper ellipse and a strip\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "ViSP's `ellipse-1` and `line` sequences (`visp-images-data`, `models/data/plain.py`): a white "
              "paper shape on a dark board, nothing but its outline and a faint grain. Windows of two frames "
              "the camera took standing still, a known offset apart, so each image's frame lies on a "
              "different part of the scene. Each cell: the geometry `geometry=auto` verified (right or wrong "
              "by its median error over a grid of a's points under 5 px; none), the matches returned, the "
              "share within 5 px of the truth and the mean confidence of the right and the wrong ones, and "
              "whether the answer warns. Transfer: a grid of points, the transfer's defaults.\n\n" + tables,
              not a.no_write)


if __name__ == "__main__":
    main()
