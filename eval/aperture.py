"""Whether dense answers' geometries rest on edges of one direction (``service.aperture``), through
the HTTP API: each pair of a set sent with method=dense and geometry=auto; of the answers that
verify a geometry, the spread of image a's gradients over its inliers (``aperture.spread``, read
here on the image sent), the lowest (with its case), the median and the highest, how many answers
warn that their inliers lie on edges that run one way, and how many of the homographies are wrong
(median error over a grid of a's points over 5 px, where the truth is one).

    python -m eval.aperture              # the validation sets, the plain surfaces, unseen photos warped
    python -m eval.aperture --heldback   # graf zoomed, turned, in clutter and spoiled; box; aero: judge, once
"""
from __future__ import annotations

import argparse
import os
import shlex
import sys

import cv2
import httpx
import numpy as np

from eval import depth, machine, robustness
from eval.latency import serving, test_pair, timed
from eval.results import published
from models.data import grid, mire, pairs, photos, plain
from service import aperture, dense
from service.config import Settings
from service.imaging import Decoded

ONE_WAY = "run one way"  # the warning's words (``aperture.warning``)


def warped_photos() -> list[tuple[str, pairs.Pair]]:
    """The photos no network trains on (lomiri-wallpapers', the held-out ones), each at most 640 px
    a side against itself in a random perspective (corners moved up to 8 % of the sides)."""
    rng = np.random.default_rng(0)
    out = []
    for name in photos.LOMIRI_PHOTOS + photos.split("heldout"):
        a = photos.load(name)
        s = min(1.0, 640 / max(a.shape))
        a = cv2.resize(a, None, fx=s, fy=s, interpolation=cv2.INTER_AREA)
        h, w = a.shape
        src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
        dst = (src + rng.uniform(-0.08, 0.08, (4, 2)) * [w, h]).astype(np.float32)
        t = cv2.getPerspectiveTransform(src, dst)
        out.append((name, pairs.of_homography(name, a, cv2.warpPerspective(a, t, (w, h)), t)))
    return out


def sets(heldback: bool) -> list[tuple[str, list[tuple[str, pairs.Pair]]]]:
    if heldback:
        return [("graf zoomed and turned, box, aero", robustness.heldback_cases()),
                ("graf's object in clutter", robustness.clutter_cases(("graf",))),
                ("graf, b spoiled", robustness.degraded_cases(("graf",)))]
    return [("planes zoomed and turned, objects in clutter, the cube", robustness.validation_cases()),
            ("b darker or washed out", robustness.exposure_cases()),
            ("b spoiled", robustness.degraded_cases(("cube-40", "text", "leuven"))),
            ("objects in clutter by scale", robustness.clutter_cases(("cube-40", "cube-79", "leuven"))),
            ("aloe's windows", [(n, p) for n, p, _ in depth.windows(pairs.load("aloe"))]),
            ("a printed grid of dots", [(n, grid.load(n)) for n in grid.NAMES]),
            ("a box with dots moved by hand", [(n, mire.parts(n)[0]) for n in mire.NAMES]),
            ("photos no network trains on, warped", warped_photos()),
            ("plain surfaces, still windows", [(n, plain.load(n)) for n in plain.NAMES])]


def inliers_a(body: dict) -> np.ndarray:
    """Image a's places (N, 2) of a correspondences answer's inliers."""
    return np.array([[m["xa"], m["ya"]] for m in body["matches"]])[np.array(body["inliers"], bool)]


def read(client: httpx.Client, pair: pairs.Pair) -> tuple[float, bool, bool | None] | None:
    """(spread, warned, homography wrong: None where not a homography against a homography's
    truth) of the pair's dense answer; None where it verified no geometry."""
    r = client.post("/v1/correspondences", files=robustness.uploads(pair), data={"method": "dense", "geometry": "auto"})
    r.raise_for_status()
    body = r.json()
    if not body.get("geometry"):
        return None
    xy = inliers_a(body)
    h, w = pair.a.shape
    value = aperture.spread(Decoded(pair.a, w, h), xy)
    warned = any(ONE_WAY in x for x in body["warnings"])
    wrong = None
    if body.get("homography") is not None and pair.homography is not None:
        wrong = not robustness.homography_right(np.array(body["homography"]), pair.truth, pair.a.shape)
    return value, warned, wrong


def case_row(label: str, r: tuple[float, bool, bool | None] | None) -> str:
    if r is None:
        return f"| {label} | 0 | - | | | 0 | - |"
    value, warned, wrong = r
    return f"| {label} | 1 | {value:.3f} | | | {int(warned)} | {({None: '-', True: 'wrong', False: 'right'})[wrong]} |"


def row(client: httpx.Client, label: str, cases: list[tuple[str, pairs.Pair]], each: bool) -> list[str]:
    """The set's row; with ``each``, a row a case instead."""
    answers = [(name, read(client, p)) for name, p in cases]
    got = [(name, r) for name, r in answers if r is not None]
    if each:
        return [case_row(f"{label}: {name}", r) for name, r in answers]
    if not got:
        return [f"| {label} | 0 of {len(cases)} | - | - | - | 0 | - |"]
    values = np.array([r[0] for _, r in got])
    low = got[int(values.argmin())][0]
    judged = [r[2] for _, r in got if r[2] is not None]
    return [f"| {label} | {len(got)} of {len(cases)} | {values.min():.3f} ({low}) | {np.median(values):.3f} | "
            f"{values.max():.3f} | {sum(r[1] for _, r in got)} | {sum(judged)} of {len(judged)} |"]


def cost(client: httpx.Client) -> str:
    """What the test adds to a warm dense answer with a geometry on ``eval.latency``'s 640x480 pair:
    a's bytes decoded (its features cached, the answer would not decode them otherwise) and
    ``aperture.spread`` over the answer's inliers, in process, beside the answer through the API."""
    a, b = test_pair()
    sent = robustness.images(a, b)
    ask = {"method": "dense", "geometry": "auto"}
    body = client.post("/v1/correspondences", files=sent, data=ask).json()  # cached from here on
    answer = timed(lambda _: client.post("/v1/correspondences", files=sent, data=ask).raise_for_status(), 10)
    xy = inliers_a(body)
    data = sent["image_a"][1]
    decoded = dense.decode(data, Settings(), "image_a")
    decode = timed(lambda _: dense.decode(data, Settings(), "image_a"), 20)
    spread = timed(lambda _: aperture.spread(decoded, xy), 20)
    return (f"The test's cost on `eval.latency`'s 640x480 pair ({len(xy)} inliers): a's bytes decoded {decode:.1f} ms "
            f"(where its features were cached) and the spread {spread:.1f} ms, in process, medians of 20; the warm "
            f"answer with `geometry=auto` through the API, the test included, {answer:.0f} ms (median of 10).")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    lines = []
    with serving({"default": {"PATH": os.environ.get("PATH", "")}}, timeout=300) as clients:
        for label, cases in sets(a.heldback):
            lines += row(clients["default"], label, cases, each=label.startswith("plain"))
            print(lines[-1], flush=True)
        spent = "" if a.heldback else "\n" + cost(clients["default"]) + "\n"
    command = "python -m eval.aperture " + shlex.join(sys.argv[1:])
    name = "aperture-heldback" if a.heldback else "aperture"
    published(name, f"## Dense geometries on edges of one direction{' (held back)' if a.heldback else ''}\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "method=dense, geometry=auto, through the HTTP API. Spread: over the inliers of each verified "
              "geometry, the smaller eigenvalue of image a's structure tensor (gradients summed in a window of "
              f"sigma {aperture.SIGMA_PX:g} px about each) over the larger; the answer warns below "
              f"{aperture.ONE_DIRECTION:g}. Wrong: homographies off the truth by a median over 5 px, of those "
              "verified against a homography's truth.\n\n"
              "| pairs | a geometry verified | spread: lowest (case) | median | highest | warned | wrong homographies |"
              "\n|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n" + spent, not a.no_write)


if __name__ == "__main__":
    main()
