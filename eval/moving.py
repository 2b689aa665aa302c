"""Keypoint transfer between two frames of a scene where things moved on their own before a still
camera (``models.data.moving``: basketball, RubberWhale), through the HTTP API. 100 points that
stayed (under 1 px) and 100 that moved (over 2 px), sent together: for each, the share within 3
and 5 px of the truth and the mean ``confidence`` the answer gives them, with the transfer's
defaults, naming the fundamental matrix, unguided, and ``method=align``; beside them OpenCV's
pyramidal Lucas-Kanade tracker from the same points, the classical way to follow points between
frames. Each request's time is with both images' features cached (sent once before).

    python -m eval.moving
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import sys
import time

import cv2
import httpx
import numpy as np

from eval import machine
from eval.depth import per_point
from eval.latency import serving
from eval.results import published
from eval.robustness import png
from models.data import moving

POINTS = 100  # a part
MODES = {"defaults": {}, "geometry=fundamental": {"geometry": "fundamental"}, "guided=false": {"guided": "false"},
         "method=align": {"method": "align"}}
REPEATS = 3


def cells(err: np.ndarray, conf: np.ndarray | None) -> str:
    """Cells of points' errors (K,) in pixels: the share within 3 and 5 px and the mean of their
    confidence (K,) ("-" without one)."""
    c = "-" if conf is None or not np.isfinite(conf).any() else f"{np.nanmean(conf):.2f}"
    return f"{100 * (err < 3).mean():.0f} % | {100 * (err < 5).mean():.0f} % | {c}"


def judged(got: np.ndarray, truth: np.ndarray, conf: np.ndarray | None, still: int) -> str:
    """Cells of a row: for the still points (the first ``still``) and the moving ones, the share
    within 3 and 5 px and the mean confidence (``cells``)."""
    err = np.linalg.norm(got - truth, axis=1)
    return " | ".join(cells(err[s], None if conf is None else conf[s]) for s in (slice(0, still), slice(still, None)))


def timed_transfer(client: httpx.Client, sent: dict, pts: np.ndarray, extra: dict[str, str]) -> tuple[dict, float]:
    """The answer to a transfer of ``pts`` (the request sent ``REPEATS`` times) and its median time, ms."""
    times, body = [], {}
    for _ in range(REPEATS):
        t = time.perf_counter()
        r = client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": json.dumps(pts.tolist()), **extra})
        times.append(1e3 * (time.perf_counter() - t))
        r.raise_for_status()
        body = r.json()
    return body, statistics.median(times)


def api_rows(client: httpx.Client, sent: dict, pts: np.ndarray, truth: np.ndarray, still: int, name: str) -> list[str]:
    client.post("/v1/keypoints/transfer", files=sent, data={"keypoints": "[[10, 10]]"}).raise_for_status()
    rows = []
    for label, extra in MODES.items():
        body, ms = timed_transfer(client, sent, pts, extra)
        got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
        rows.append(f"| {name} | {label} ({body['guidance']}) | "
                    f"{judged(got, truth, per_point(body['keypoints'], 'confidence'), still)} "
                    f"| {ms:.0f} |")
    return rows


def lucas_kanade(a: np.ndarray, b: np.ndarray, pts: np.ndarray, truth: np.ndarray, still: int, name: str) -> str:
    times = []
    for _ in range(REPEATS):
        t = time.perf_counter()
        got, _, _ = cv2.calcOpticalFlowPyrLK(a, b, pts.astype(np.float32).reshape(-1, 1, 2), None,
                                             winSize=(21, 21), maxLevel=3)
        times.append(1e3 * (time.perf_counter() - t))
    return (f"| {name} | OpenCV pyramidal Lucas-Kanade | {judged(got.reshape(-1, 2), truth, None, still)} "
            f"| {statistics.median(times):.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    rows = []
    with serving({"defaults": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        for name in moving.FILES:
            fa, fb = moving.load(name)
            fwd, known = moving.flow(fa, fb)
            rng = np.random.default_rng(0)
            (ps, ts), (pm, tm) = (moving.points(fwd, known, m, POINTS, rng) for m in (False, True))
            pts, truth = np.r_[ps, pm], np.r_[ts, tm]
            sent = {"image_a": ("a.png", png(fa)), "image_b": ("b.png", png(fb))}
            rows += api_rows(clients["defaults"], sent, pts, truth, len(ps), name)
            rows.append(lucas_kanade(fa, fb, pts, truth, len(ps), name))
            print("\n".join(rows[-len(MODES) - 1:]), flush=True)
    command = "python -m eval.moving " + shlex.join(sys.argv[1:])
    table = ("| pair | request (guidance) | stayed: within 3 px | within 5 px | mean confidence | moved: within 3 px "
             "| within 5 px | mean confidence | ms, features cached |\n|---|---|---|---|---|---|---|---|---|\n"
             + "\n".join(rows) + "\n")
    published("moving", "## Keypoint transfer between frames of a moving scene\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "Two frames of a still camera's video where things moved on their own (opencv-doc's "
              "basketball: two people passing a ball; Middlebury's RubberWhale: toys moved on a table; "
              "validation pairs): no one geometry holds. Truth from two optical flows that agree "
              "(`models/data/moving.py`), "
              f"{POINTS} points that stayed (under 1 px) and {POINTS} that moved (over 2 px) sent together. "
              "With the defaults a homography of the sparse matches guides, a blend of what stayed and "
              "what moved within RANSAC's 4 px, and each point it puts is moved by its residual at the "
              "matches around it; `method=align` follows each part by the MRF flow.\n\n" + table, not a.no_write)


if __name__ == "__main__":
    main()
