"""Keypoint transfer where two things move differently in one real scene, through the HTTP API:
ViSP's castle turned by hand before a still RGB-D camera (``pairs.castle``), frame 0 against a
later frame, and its box with five dots on a black top moved by hand before a still camera
(``models.data.mire``, a plain thing: a handful of keypoints on it). Points of the earlier frame
on the moving thing and on the still background (100 of each, whose truth lies in the later frame)
are sent together with the transfer's defaults; for each part, the share that lands within 5 px
of the truth, the mean ``confidence`` the answer gives them, and how many followed a second motion
(``service.second_motion``) rather than the geometry that guides the transfer.

    python -m eval.two_motions
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
from eval.results import published
from eval.robustness import uploads
from models.data import mire, pairs

TOL = 5.0
POINTS = 100  # a part
FRAMES = (10, 20, 29)


def sample(mask: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """n pixels (x, y) of a mask (H, W) bool, drawn without replacement."""
    ys, xs = np.nonzero(mask)
    pick = rng.choice(len(xs), min(n, len(xs)), replace=False)
    return np.c_[xs[pick], ys[pick]].astype(np.float64)


def run(client: httpx.Client, pair: pairs.Pair, moving: np.ndarray, still: np.ndarray, label: str,
        rng: np.random.Generator) -> str:
    """A row: ``label``'s cells, then the pair's points on the ``moving`` thing and the ``still``
    background (masks of a) sent together."""
    parts = {"moving": sample(moving, POINTS, rng), "still": sample(still, POINTS, rng)}
    pts = np.concatenate(list(parts.values()))
    truth, known = pair.truth(pts)
    r = client.post("/v1/keypoints/transfer", files=uploads(pair), data={"keypoints": json.dumps(pts.tolist())})
    r.raise_for_status()
    body = r.json()
    got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
    conf, support = per_point(body["keypoints"], "confidence"), per_point(body["keypoints"], "support")
    right = known & (np.linalg.norm(got - truth, axis=1) < TOL)
    followed = np.array([bool(k.get("second_motion")) for k in body["keypoints"]])
    cells, start = [], 0
    for part in parts.values():
        s = slice(start, start + len(part))
        start += len(part)
        c, u = conf[s], support[s]
        cells.append(f"{100 * right[s].mean():.0f} % ({np.nanmean(c):.2f}, {np.nanmean(u):.2f})" if np.isfinite(c).any()
                     else f"{100 * right[s].mean():.0f} % (-)")
    counts = f"{followed[:len(parts['moving'])].sum()} / {followed[len(parts['moving']):].sum()}"
    return f"| {label} | {body['guidance']} | " + " | ".join(cells) + f" | {counts} |"


def rows(client: httpx.Client) -> list[str]:
    rng, out = np.random.default_rng(0), []
    for frame in FRAMES:
        pair, moving, still, inliers = pairs.castle(frame)
        out.append(run(client, pair, moving, still, f"castle, 0 -> {frame} | PnP, {inliers} inliers", rng))
        print(out[-1], flush=True)
    for name in mire.NAMES:
        fit = mire.fitted(name)
        pair, moving, still = mire.parts(name, fit)
        i, j = name.split("-")[1:]
        label = f"box, {i} -> {j} | 5 dots, {mire.residual(name, fit):.2f} px"
        out.append(run(client, pair, moving, still, label, rng))
        print(out[-1], flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    with serving({"default": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        found = rows(clients["default"])
    command = "python -m eval.two_motions " + shlex.join(sys.argv[1:])
    table = ("| scene, frames | the moving thing's truth | guidance | moving thing: within 5 px (mean confidence, "
             "support) | still background: within 5 px (mean confidence, support) | followed a second motion: "
             "moving / still |\n|---|---|---|---|---|---|\n"
             + "\n".join(found) + "\n")
    published("two-motions", "## Keypoint transfer with two motions: things moved before a still camera\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "ViSP's castle sequence (`visp-images-data`): a still RGB-D camera, the castle model turned "
              "by hand among things that stay; frame 0 against a later one, the castle turned further each "
              "time. Truth from the depth and the castle's motion fitted by PnP to SIFT's matches "
              "(`models/data/rgbd.py`: a pixel or two loose from frame 20 on, so judged within 5 px). "
              "ViSP's `mire-2` sequence: a cardboard box whose black top carries five white dots, moved and "
              "turned by hand before a still camera (`models/data/mire.py`): a plain thing, with a handful of "
              "keypoints on it; truth on its top by the homography through the dots (their largest distance "
              "from it given), on the background where it is. "
              f"{POINTS} points on the moving thing and {POINTS} on the still background, sent together with "
              "the transfer's defaults: the pair's geometry guides them, and where the sparse matches it "
              "misses agree on one of their own, or else the dense matches around the points it leaves "
              "unsupported mostly miss it and agree on a homography of their own, the points among those "
              "follow that second motion (`second_motion`). `support`: the share of the 8 matches nearest a "
              "point that the geometry which placed it explains.\n\n" + table, not a.no_write)


if __name__ == "__main__":
    main()
