"""A repeated pattern: the six pairs of ViSP's four hand-held views of a calibration grid of dots
(``models.data.grid``; validation pairs), where a match one period off looks as right as the right
one. Through the HTTP API: correspondences with a homography asked for, by each method beside
OpenCV SIFT (4000 keypoints, mutual nearest neighbours with Lowe's 0.8, RANSAC): whether the
homography is right, the verified matches within 5 px and their share; and 100 points of the grid
transferred with the defaults, unguided and ``method=align``: the share within 3 and 5 px and the
mean ``confidence`` the answer gives them, beside which the answer's warnings say what it cannot
vouch for.

    python -m eval.repeated
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
from eval.depth import per_point
from eval.latency import serving
from eval.moving import cells
from eval.results import published
from eval.robustness import api, png, sift, visible_points
from models.data import grid

POINTS = 100
MODES = {"defaults": {}, "guided=false": {"guided": "false"}, "method=align": {"method": "align"}}


def match_row(client: httpx.Client, pair, sent: dict) -> str:
    found = [api(client, pair, sent, m) for m in ("sparse", "dense")] + [sift(pair)]
    return f"| {pair.name} | " + " | ".join(o.cell() for o in found) + " |"


def transfer_rows(client: httpx.Client, pair, sent: dict) -> list[str]:
    pts, truth = visible_points(pair, POINTS, np.random.default_rng(0))
    rows = []
    for label, extra in MODES.items():
        r = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist()), **extra})
        r.raise_for_status()
        body = r.json()
        got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
        conf = per_point(body["keypoints"], "confidence")
        low = per_point(body["keypoints"], "support")
        under = f"{(low < 0.5).sum()}" if np.isfinite(low).any() else "-"
        rows.append(f"| {pair.name} | {label} ({body['guidance']}) | "
                    f"{cells(np.linalg.norm(got - truth, axis=1), conf)} | {under} | {len(body['warnings'])} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    matched, moved = [], []
    with serving({"defaults": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        client = clients["defaults"]
        for name in grid.NAMES:
            pair = grid.load(name)
            sent = {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}
            matched.append(match_row(client, pair, sent))
            moved += transfer_rows(client, pair, sent)
            print("\n".join([matched[-1], *moved[-len(MODES):]]), flush=True)
    command = "python -m eval.repeated " + shlex.join(sys.argv[1:])
    fits = "; ".join(f"{n} {med:.2f} px ({top:.2f} at most)" for n, (med, top) in
                     ((n, grid.residual(n)) for n in grid.NAMES))
    published("repeated", "## A repeated pattern: views of a calibration grid\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "ViSP's four hand-held views of a calibration grid, 6 x 6 black dots printed on paper "
              "(`visp-images-data`), paired each with each (validation pairs, among those the confidence curves "
              "are fitted on): every dot looks like every other, so a match one period off is as alike as the "
              "right one. Truth: the homography through the 36 dot centres OpenCV's `findCirclesGrid` finds in "
              f"both views, known within half a period of the outer dots (the dots' distance from it, median: "
              f"{fits}).\n\n"
              "Correspondences with `geometry=homography`, each cell: the homography right (the median of a grid "
              "of a's points within 5 px of the truth), the verified matches within 5 px, their share (and the "
              "share of every match returned).\n\n"
              "| pair | method=sparse | method=dense | OpenCV SIFT |\n|---|---|---|---|\n" + "\n".join(matched)
              + f"\n\nKeypoint transfer: {POINTS} points of the grid whose truth lies in b, sent together. "
              "Under 0.5: the points whose `support` (the share of the 8 sparse matches nearest them that the "
              "geometry or the alignment's field which placed them explains) is under a half.\n\n"
              "| pair | request (guidance) | within 3 px | within 5 px | mean confidence | support under 0.5 "
              "| warnings |\n|---|---|---|---|---|---|---|\n" + "\n".join(moved) + "\n", not a.no_write)


if __name__ == "__main__":
    main()
