"""Keypoint transfer and correspondences between two lenses' projections of one view
(``models.data.lenses``: Medinet Habu's court as a fisheye and a stereographic image, a nave as a
fisheye and a rectilinear one), through the HTTP API, where no homography or epipolar geometry
holds. 100 of a's SIFT keypoints where the truth is known, sent together: the share within 3 and
5 px of the truth and the mean ``confidence`` the answer gives them, with the transfer's
defaults, naming a geometry, unguided and ``method=align``; and the correspondences of each
method (no geometry asked) beside OpenCV SIFT's (mutual nearest neighbours with Lowe's 0.8):
how many, and the share within 3 px. Each request's time is with both images' features cached.

    python -m eval.lenses
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

import cv2
import httpx
import numpy as np

from eval import machine
from eval.depth import per_point
from eval.latency import serving
from eval.moving import cells, timed_transfer
from eval.results import published
from eval.robustness import mutual_ratio, png
from models.data import lenses

POINTS = 100
TOL = 3.0
MODES = {"defaults": {}, "geometry=homography": {"geometry": "homography"},
         "geometry=fundamental": {"geometry": "fundamental"}, "guided=false": {"guided": "false"},
         "method=align": {"method": "align"}}


def judged(got: np.ndarray, truth: np.ndarray, conf: np.ndarray | None) -> str:
    """Cells: the share within 3 and 5 px and the mean confidence."""
    return cells(np.linalg.norm(got - truth, axis=1), conf)


def transfer_rows(client: httpx.Client, sent: dict, pts: np.ndarray, truth: np.ndarray, name: str) -> list[str]:
    client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": "[[10, 10]]"}).raise_for_status()
    rows = []
    for label, extra in MODES.items():
        body, ms = timed_transfer(client, sent, pts, extra)
        got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
        local = sum(bool(k.get("local_warp")) for k in body["keypoints"])
        cells = judged(got, truth, per_point(body["keypoints"], "confidence"))
        rows.append(f"| {name} | {label} ({body['guidance']}) | {cells} | {local} | {ms:.0f} |")
    return rows


def share_right(pair: lenses.LensPair, xa: np.ndarray, xb: np.ndarray) -> str:
    """How many matches, and the share within TOL px of the truth."""
    if not len(xa):
        return "0 | -"
    err = np.nan_to_num(np.linalg.norm(pair.to_b(xa) - xb, axis=1), nan=np.inf)
    return f"{len(xa)} | {100 * (err < TOL).mean():.0f} %"


def sift(pair: lenses.LensPair) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV SIFT: 4000 keypoints an image, mutual nearest neighbours with Lowe's 0.8."""
    det = cv2.SIFT_create(4000)
    return mutual_ratio(*det.detectAndCompute(pair.a, None), *det.detectAndCompute(pair.b, None))


def match_rows(client: httpx.Client, sent: dict, pair: lenses.LensPair, name: str) -> list[str]:
    rows = []
    for method in ("sparse", "dense"):
        r = client.post("/v1/correspondences", files=sent, data={"method": method})
        r.raise_for_status()
        m = r.json()["matches"]
        xa = np.array([[q["xa"], q["ya"]] for q in m], np.float64).reshape(-1, 2)
        xb = np.array([[q["xb"], q["yb"]] for q in m], np.float64).reshape(-1, 2)
        rows.append(f"| {name} | method={method} | {share_right(pair, xa, xb)} |")
    rows.append(f"| {name} | OpenCV SIFT | {share_right(pair, *sift(pair))} |")
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    moved, matched = [], []
    with serving({"defaults": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        for name in lenses.FILES:
            pair = lenses.load(name)
            pts, truth = lenses.points(pair, POINTS, np.random.default_rng(0))
            sent = {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}
            moved += transfer_rows(clients["defaults"], sent, pts, truth, name)
            matched += match_rows(clients["defaults"], sent, pair, name)
            print("\n".join(moved[-len(MODES):] + matched[-3:]), flush=True)
    command = "python -m eval.lenses " + shlex.join(sys.argv[1:])
    table = ("| pair | request (guidance) | within 3 px | within 5 px | mean confidence | by a local map "
             "| ms, features cached |\n|---|---|---|---|---|---|---|\n" + "\n".join(moved) + "\n\n"
             "| pair | correspondences | matches | within 3 px |\n|---|---|---|---|\n" + "\n".join(matched) + "\n")
    described = "; ".join(f"{n}: {p.kinds[0]} to {p.kinds[1]}, focal lengths {p.focal[0]:.1f} and {p.focal[1]:.1f} "
                          f"px, {p.kept} SIFT matches {p.residual:.2f} px from it (median)"
                          for n, p in ((n, lenses.load(n)) for n in lenses.FILES))
    published("lenses", "## Keypoint transfer between two lenses' projections\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "One view in two projections (hugin-data's help pictures; validation pairs): Medinet Habu's "
              "court as a fisheye and a stereographic image (600 x 600), a nave as a fisheye and a "
              "rectilinear image (300 x 300). No homography or fundamental matrix holds. Truth: each "
              f"projection's focal length fitted to SIFT's matches (`models/data/lenses.py`; {described}). "
              f"{POINTS} of a's SIFT keypoints where it is known, sent together. With the defaults a homography "
              "of the sparse matches guides where its inliers span a tenth of a or more; under that, a point "
              "among matches it misses goes where an affine map of its 16 nearest (those within 80 px) puts it "
              "(`local_warp`).\n\n"
              + table, not a.no_write)


if __name__ == "__main__":
    main()
