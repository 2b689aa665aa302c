"""Keypoint transfer on scenes with depth, through the HTTP API: windows cut from both views of a
rectified stereo pair (``pairs.CROPS``: quarters, centre, thirds, halves), each a part of a 3-D
scene a user might send. For each window: the geometry that guided the transfer (``guidance``), the
share of 200 points of a, inside b, that land within 5 px of the truth (disparity), and what
the answer claims of them: their mean ``confidence`` beside the share within 3 px, the distance
the confidence speaks of. Beside them, the share within 5 px when the request names the geometry
(``geometry=fundamental``, as a caller who knows the scene has depth would). The points b does not
see (``stereo.hidden``: a nearer surface covers them there) are counted apart as well: their truth
is where they would be, behind it.

    python -m eval.depth              # Middlebury's Aloe (validation)
    python -m eval.depth --heldback   # Middlebury's motorcycle (held back: judge, do not tune)
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
from eval.latency import serve
from eval.results import write_section
from eval.robustness import uploads, visible_points
from models.data import pairs, stereo
from service.calibration import WITHIN_PX

TOL = 5.0
POINTS = 200


def windows(base: pairs.Pair) -> list[tuple[str, pairs.Pair, tuple[int, int]]]:
    """The stereo pair's windows (``pairs.CROPS``), each named by its box ("x 0.25, y 0.00, 0.50 x
    0.50"), with its top-left corner in the whole pair's pixels (as ``pairs.cropped`` cuts it)."""
    h, w = base.a.shape
    return [(f"x {b[0]:.2f}, y {b[1]:.2f}, {b[2]:.2f} x {b[3]:.2f}", pairs.cropped(base, b),
             (int(b[0] * w), int(b[1] * h))) for b in pairs.CROPS]


def run(client: httpx.Client, pair: pairs.Pair, sent: dict, seed: int, hidden: np.ndarray,
        corner: tuple[int, int] = (0, 0), geometry: str = "auto") -> dict:
    """Transfer of the pair's points (``sent``: its images as uploaded), judged against its truth;
    ``hidden``: the whole left view's pixels b does not see, ``corner``: where the pair's window
    starts in it."""
    pts, truth = visible_points(pair, POINTS, np.random.default_rng(seed))
    r = client.post("/v1/keypoints/transfer", files=sent,
                    data={"keypoints": json.dumps(pts.tolist()), "geometry": geometry})
    r.raise_for_status()
    body = r.json()
    k = body["keypoints"]
    err = np.linalg.norm(np.array([[x["x"], x["y"]] for x in k]) - truth, axis=1)
    col, row = np.rint(pts + corner).astype(np.int64).T
    covered = hidden[np.clip(row, 0, hidden.shape[0] - 1), np.clip(col, 0, hidden.shape[1] - 1)]
    return {"guidance": body["guidance"], "within": err < TOL, "claimed": err < WITHIN_PX,
            "confidence": per_point(k, "confidence"), "support": per_point(k, "support"), "hidden": covered}


def per_point(keypoints: list[dict], key: str) -> np.ndarray:
    """An optional field of each transferred point (K,), NaN where the answer leaves it out (no
    geometry guided the point, say)."""
    return np.array([np.nan if x.get(key) is None else x[key] for x in keypoints], np.float64)


def mean(conf: np.ndarray) -> str:
    """Mean confidence of the points that carry one ("-" when none does: no geometry guided them)."""
    return f"{np.nanmean(conf):.2f}" if np.isfinite(conf).any() else "-"


COUNTED = ("within", "claimed", "confidence")  # what a row of the tables sums over its answers' points


def where(got: list[dict], keep) -> list[dict]:
    """The answers' points for which ``keep(answer)`` (a (K,) bool of an answer) holds."""
    return [{key: g[key][keep(g)] for key in COUNTED} for g in got]


def row(label: str, got: list[dict]) -> str:
    within, claimed, conf = (np.concatenate([g[key] for g in got]) for key in COUNTED)
    return (f"| {label} | {100 * within.mean():.0f} % | {100 * claimed.mean():.0f} % | {mean(conf)} | "
            f"{len(within)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true", help="the held-back stereo pair instead of the validation one")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    name = "motorcycle" if a.heldback else "aloe"
    base = pairs.load(name)
    hidden = stereo.hidden(getattr(stereo, name)()[2])
    cases = [("all of it", base, (0, 0))] + windows(base)
    proc, url = serve({"PATH": os.environ.get("PATH", "")})
    got, named = [], []
    try:
        with httpx.Client(base_url=url, timeout=600) as client:
            for seed, (label, pair, corner) in enumerate(cases):
                sent = uploads(pair)
                got.append((label, pair, run(client, pair, sent, seed, hidden, corner)))
                named.append(run(client, pair, sent, seed, hidden, corner, "fundamental"))
                print(row(f"{label} ({got[-1][2]['guidance']})", [got[-1][2]]), flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    head = ("| window of both views (fractions of the image) | size | guidance | within 5 px | within 3 px | "
            "mean confidence | within 5 px, geometry=fundamental |\n|---|---|---|---|---|---|---|\n")
    table = head + "".join(f"| {label} | {p.a.shape[1]}x{p.a.shape[0]} | {g['guidance']} | "
                           f"{100 * g['within'].mean():.0f} % | {100 * g['claimed'].mean():.0f} % | "
                           f"{mean(g['confidence'])} | {100 * f['within'].mean():.0f} % |\n"
                           for (label, p, g), f in zip(got, named, strict=True))
    kinds = sorted({g["guidance"] for _, _, g in got})
    summary = ("| windows by guidance | within 5 px | within 3 px | mean confidence | points |\n|---|---|---|---|---|\n"
               + "".join(row(f"{kind} ({sum(g['guidance'] == kind for _, _, g in got)} of {len(got)})",
                             [g for _, _, g in got if g["guidance"] == kind]) + "\n" for kind in kinds)
               + row("all", [g for _, _, g in got]) + "\n"
               + row("all, `support` under 0.5", where([g for _, _, g in got], lambda g: g["support"] < 0.5)) + "\n"
               + row("all, `support` 0.5 or more", where([g for _, _, g in got], lambda g: g["support"] >= 0.5)) + "\n"
               + row("all, points b sees", where([g for _, _, g in got], lambda g: ~g["hidden"])) + "\n"
               + row("all, points b does not see (a nearer surface covers them there)",
                     where([g for _, _, g in got], lambda g: g["hidden"])) + "\n"
               + row("all, geometry=fundamental", named) + "\n")
    command = "python -m eval.depth " + shlex.join(sys.argv[1:])
    which = "held-back" if a.heldback else "validation"
    text = (f"## Keypoint transfer on scenes with depth: {name} ({which}), whole and in windows\n\n"
            f"`{command.strip()}` {machine.describe()}\n\n"
            f"The same window cut from both views of {name}'s rectified stereo pair: a scene with depth, as a user "
            f"might send a part of it. {POINTS} points of a inside b each, through the HTTP API with the "
            "transfer's defaults; truth from the pair's disparity (for a point b does not see, where it would be "
            "behind the nearer surface). A mean confidence above the share within "
            f"{WITHIN_PX:g} px claims more than the answers deliver. `support`: the share of the 8 sparse matches "
            f"nearest a point that the geometry which placed it explains.\n\n{table}\n{summary}")
    print(text)
    if not a.no_write:
        write_section(f"depth-{which}", text)


if __name__ == "__main__":
    main()
