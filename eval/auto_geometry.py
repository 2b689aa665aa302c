"""``geometry=auto`` on /v1/correspondences against the geometry each real pair is known to have,
through the HTTP API: which geometry the service chose, and what it verified beside the answers to
the right geometry named and to the other one.

    python -m eval.auto_geometry                  # the validation pairs and scenes with depth
    python -m eval.auto_geometry --heldback       # the held-back ones: judge, once
    python -m eval.auto_geometry --method dense   # either, with method=dense (default: the default method)

The cases are ``eval.robustness``'s (planes and a rendered head zoomed and turned, objects in clutter,
image b darker, washed out or spoiled, a cube moved by hand) and a stereo pair whole and in windows
(``eval.depth``): a pair with a homography should be verified by one, a scene with depth by a
fundamental matrix.
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys
import time
from dataclasses import replace

import httpx
import numpy as np

from eval import depth, machine, robustness
from eval.latency import serve
from eval.results import write_section
from models.data import pairs

OTHER = {"homography": "fundamental", "fundamental": "homography"}


def validation() -> list[tuple[str, pairs.Pair]]:
    scenes = ("cube-40", "text", "leuven")
    return (robustness.validation_cases() + robustness.clutter_cases(("cube-40", "cube-79", "leuven"))
            + robustness.exposure_cases() + robustness.degraded_cases(scenes) + scenes_with_depth("aloe"))


def heldback() -> list[tuple[str, pairs.Pair]]:
    return (robustness.heldback_cases() + robustness.clutter_cases(("graf",)) + robustness.degraded_cases(("graf",))
            + scenes_with_depth("motorcycle"))


def scenes_with_depth(name: str) -> list[tuple[str, pairs.Pair]]:
    base = pairs.load(name)
    return [(f"{name} stereo pair (as is)", base)] + [(f"{name} window {label}", p) for label, p, _ in
                                                      depth.windows(base)]


def asked(client: httpx.Client, pair: pairs.Pair, sent: dict, geometry: str,
          method: str = "sparse") -> tuple[str, robustness.Outcome]:
    """The answer to ``geometry``: the geometry that verified it ("none" where none did) and how it
    fares, judged as ``robustness.judge`` judges the answers to the pair's own geometry: its
    inliers, and a homography over a grid of a's points (a fundamental matrix for a pair with a
    homography counts as no correct homography)."""
    r = client.post("/v1/correspondences", files=sent, data={"geometry": geometry, "method": method})
    r.raise_for_status()
    body = r.json()
    chose = body.get("geometry", "none")
    m = body["matches"]
    xa = np.array([[x["xa"], x["ya"]] for x in m], np.float64).reshape(-1, 2)
    xb = np.array([[x["xb"], x["yb"]] for x in m], np.float64).reshape(-1, 2)
    inliers = np.asarray(body.get("inliers", []), bool)
    if chose == "none":  # judged as every match returned, as judge does where nothing verified
        return chose, robustness.judge(pair, xa, xb, None, None)
    found = robustness.judge(replace(pair, homography=None), xa, xb, body[chose], inliers)
    if pair.homography is not None:
        ok = chose == "homography" and robustness.homography_right(np.asarray(body[chose]), pair.truth, pair.a.shape)
        found = replace(found, homography_ok=ok)
    return chose, found


def warm(client: httpx.Client, sent: dict, geometry: str, method: str) -> float:
    """Milliseconds to answer the pair again, its features cached by the requests before."""
    t0 = time.perf_counter()
    client.post("/v1/correspondences", files=sent, data={"geometry": geometry, "method": method}).raise_for_status()
    return 1e3 * (time.perf_counter() - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true", help="the held-back pairs instead of the validation ones")
    ap.add_argument("--method", choices=["sparse", "dense"], default="sparse")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    todo = heldback() if a.heldback else validation()
    proc, url = serve({"PATH": os.environ.get("PATH", "")})
    rows, took = [], []
    try:
        with httpx.Client(base_url=url, timeout=300) as client:
            for label, pair in todo:
                sent = robustness.uploads(pair)
                named = asked(client, pair, sent, pair.geometry, a.method)[1]
                other = asked(client, pair, sent, OTHER[pair.geometry], a.method)[1]
                chose, got = asked(client, pair, sent, "auto", a.method)
                took.append([warm(client, sent, g, a.method) for g in (pair.geometry, "auto")])
                rows.append((label, pair.geometry, named, chose, got, other))
                print(label, pair.geometry, named.cell(), "| auto:", chose, got.cell(), "| other:", other.cell(),
                      flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    head = ("| pairs | cases | auto chose it | chose the other | none verified | correct homographies, named / auto | "
            "correct verified matches: named, auto, the other named | MMA@5px: named, auto, the other named |\n"
            "|---|---|---|---|---|---|---|---|\n")
    lines = []
    for kind, words in (("homography", "with a homography"),
                        ("fundamental", "with depth (3-D scenes)")):
        of = [r for r in rows if r[1] == kind]
        if not of:
            continue
        right = sum(r[3] == kind for r in of)
        none = sum(r[3] == "none" for r in of)
        planes = (f"{sum(bool(r[2].homography_ok) for r in of)} / {sum(bool(r[4].homography_ok) for r in of)}"
                  if kind == "homography" else "-")
        correct = [sum(r[i].correct for r in of) for i in (2, 4, 5)]
        mma = [100 * sum(r[i].correct for r in of) / max(1, sum(r[i].verified for r in of)) for i in (2, 4, 5)]
        lines.append(f"| {words} | {len(of)} | {right} | {len(of) - right - none} | {none} | {planes} | "
                     + ", ".join(f"{n:,}" for n in correct) + " | " + ", ".join(f"{p:.1f} %" for p in mma) + " |\n")
    other = [f"{label} ({kind}; correct verified matches {named.correct} named, {got.correct} auto)"
             for label, kind, named, chose, got, _ in rows if chose == OTHER[kind]]
    table = head + "".join(lines) + ("\nWhere auto chose the other geometry: " + "; ".join(other) + ".\n"
                                     if other else "")
    took = np.array(took)
    table += (f"\nAnswered again with the features cached, median over the cases: the geometry named "
              f"{np.median(took[:, 0]):.0f} ms, auto {np.median(took[:, 1]):.0f} ms (auto / named: median "
              f"{np.median(took[:, 1] / took[:, 0]):.2f}x, at most {np.max(took[:, 1] / took[:, 0]):.2f}x).\n")
    which = "held-back" if a.heldback else "validation"
    command = "python -m eval.auto_geometry " + shlex.join(sys.argv[1:])
    dense = a.method == "dense"
    text = (f"## geometry=auto on real {which} pairs" + (", method=dense" if dense else "")
            + f"\n\n`{command.strip()}` {machine.describe()}\n\n"
            f"`/v1/correspondences` with method={a.method}, asked for the geometry each pair is known to have "
            "(named), for the other one, and for `geometry=auto`, through the HTTP API. Judged as in the "
            "robustness tables: a "
            "homography correct when its median error over a grid of a's points is under 5 px; verified "
            "matches within 5 px of the truth. A fundamental matrix chosen for a pair with a homography "
            f"counts as no correct homography.\n\n{table}")
    print(text)
    if not a.no_write:
        write_section(f"auto-geometry-{which}" + ("-dense" if dense else ""), text)


if __name__ == "__main__":
    main()
