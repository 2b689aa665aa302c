"""Keypoint transfer by image ids whose bytes are not kept, through the HTTP API: what a caller
loses with KEEP_IMAGES=false. Each pair's images are posted to /v1/images, as by default (the
keypoints cached beside the dense features: the sparse matches' geometry guides, but there are no
pixels to bring copies onto each other), and with method=dense (no keypoints either: the geometry
is fitted to dense matches alone), and a grid of 10 x 10 points of a is transferred by the ids;
beside them, the same points with the pair's bytes sent (the default path: the sparse matches'
geometry, copies brought onto each other). Then the dense correspondences of the validation planes
the same three ways.

    python -m eval.features_only     # the validation sets, Aloe's windows, the plain surfaces
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys

import httpx
import numpy as np

from eval import depth, machine, robustness
from eval.latency import serving
from eval.results import published
from models.data import pairs, plain
from service.calibration import WITHIN_PX
from service.correspond import NOT_PREALIGNED
from service.keypoint_transfer import DENSE_ALONE, NOT_COPIED

# how the pair is sent: its bytes, or ids posted with what method (None: both kinds of features),
# each to a server of its own (one id names one image's features whatever method posted it)
WAYS = (("bytes sent", False, None), ("ids, keypoints and features", True, None), ("ids, features only", True, "dense"))


def grid(pair: pairs.Pair, n: int = 10) -> np.ndarray:
    h, w = pair.a.shape
    xs, ys = np.meshgrid(np.linspace(10, w - 11, n), np.linspace(10, h - 11, n))
    return np.c_[xs.ravel(), ys.ravel()]


def outcome(body: dict, pair: pairs.Pair, points: np.ndarray) -> dict:
    """The answer judged against the pair's truth: guided or not, the share of its points within
    5 px, and of the guided points their mean confidence and share within 3 px."""
    got = np.array([[k["x"], k["y"]] for k in body["keypoints"]])
    truth, known = pair.truth(points)
    off = np.hypot(*(got - truth).T)
    conf = np.array([np.nan if k.get("confidence") is None else k["confidence"] for k in body["keypoints"]])
    rated = known & ~np.isnan(conf)
    return {"guided": body["guidance"] != "none", "within5": float(np.mean(off[known] < 5)),
            "conf": conf[rated].tolist(), "right3": (off[rated] < 3).tolist(),
            "warned": any(DENSE_ALONE in w or NOT_COPIED in w for w in body["warnings"])}


def transfer(client: httpx.Client, pair: pairs.Pair, by_ids: bool, method: str | None = None) -> dict:
    points = grid(pair)
    sent = robustness.uploads(pair)
    ask = {"keypoints": json.dumps(points.tolist())}
    if by_ids:
        r = client.post("/v1/keypoints/transfer", data=ask | robustness.by_ids(client, sent, method))
    else:
        r = client.post("/v1/keypoints/transfer", files=sent, data=ask)
    r.raise_for_status()
    return outcome(r.json(), pair, points)


def matched(client: httpx.Client, pair: pairs.Pair, by_ids: bool, method: str | None, verified: bool) -> dict:
    """The pair's dense correspondences, without a geometry or ``verified`` by its own, judged
    against its truth: each match's confidence and whether it lies within 3 px, and whether the
    answer says its search could not be pre-aligned."""
    sent, ask = robustness.uploads(pair), {"method": "dense", "geometry": pair.geometry if verified else "none"}
    r = (client.post("/v1/correspondences", data=ask | robustness.by_ids(client, sent, method)) if by_ids
         else client.post("/v1/correspondences", files=sent, data=ask))
    r.raise_for_status()
    body = r.json()
    m = [x for x in body["matches"] if x["confidence"] is not None]
    xa = np.array([[x["xa"], x["ya"]] for x in m]).reshape(-1, 2)
    truth, known = pair.truth(xa)
    off = np.hypot(*(np.array([[x["xb"], x["yb"]] for x in m]).reshape(-1, 2) - truth).T)
    return {"conf": np.array([x["confidence"] for x in m])[known], "right3": off[known] < WITHIN_PX,
            "warned": any(NOT_PREALIGNED in w for w in body["warnings"])}


def summary(label: str, way: str, got: list[dict]) -> str:
    conf = np.concatenate([g["conf"] for g in got]) if got else np.zeros(0)
    right = np.concatenate([g["right3"] for g in got]).astype(bool) if got else np.zeros(0, bool)
    rated = (f"{conf.mean():.2f} | {right.mean():.0%} ({len(conf)})" if len(conf) else "- | -")
    return (f"| {label} | {way} | {sum(g['guided'] for g in got)} of {len(got)} | "
            f"{np.mean([g['within5'] for g in got]):.0%} | {rated} | {sum(g['warned'] for g in got)} |")


def sets() -> list[tuple[str, list[tuple[str, pairs.Pair]]]]:
    return [("planes zoomed and turned, objects in clutter, the cube", robustness.validation_cases()),
            ("aloe's windows", [(n, p) for n, p, _ in depth.windows(pairs.load("aloe"))]),
            ("plain surfaces, still windows", [(n, plain.load(n)) for n in plain.NAMES])]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    path = {"PATH": os.environ.get("PATH", "")}
    lines = []
    envs = {way: path | ({"KEEP_IMAGES": "false"} if by_ids else {}) for way, by_ids, _ in WAYS}
    dense, every = [], sets()
    with serving(envs, timeout=300) as clients:
        for label, cases in every:
            for way, by_ids, method in WAYS:
                got = [transfer(clients[way], p, by_ids, method) for _, p in cases]
                lines.append(summary(label, way, got))
                print(lines[-1], flush=True)
        for geometry, verified in (("none", False), ("the pair's", True)):
            for way, by_ids, method in WAYS:
                got = [matched(clients[way], p, by_ids, method, verified) for _, p in every[0][1]]
                conf, right = (np.concatenate([g[k] for g in got]) for k in ("conf", "right3"))
                dense.append(f"| {geometry} | {way} | {len(conf)} | {conf.mean():.2f} | {right.mean():.0%} | "
                             f"{sum(g['warned'] for g in got)} of {len(got)} |")
                print(dense[-1], flush=True)
    command = "python -m eval.features_only " + shlex.join(sys.argv[1:])
    published("features-only", "## Keypoint transfer and dense correspondences by ids whose bytes are not kept\n\n"
              f"`{command}` {machine.describe()}\n\n"
              "A grid of 10 x 10 points of each pair's image a, through the HTTP API: with the pair's bytes sent, "
              "and by ids from /v1/images on a server with KEEP_IMAGES=false (no bytes kept): posted as by default "
              "(the keypoints cached: the sparse matches' geometry guides, but there are no pixels to search copies "
              "brought onto each other where b is scaled or turned), and with method=dense (no keypoints cached: "
              "the geometry is fitted to the dense matches alone, without the frames' matches the rest do not "
              "explain). Guided: answers with a geometry. Within 5 px: the mean over the pairs of the share of "
              "their points (where the truth is known). Confidence and within 3 px: over the guided points, their "
              "mean confidence and the share within 3 px (how many points). Warned: answers saying what they "
              "could not do without the bytes (copies not searched, or the geometry fitted to the dense matches "
              "alone).\n\n"
              "| pairs | sent as | guided | within 5 px | mean confidence | within 3 px | warned |\n"
              "|---|---|---|---|---|---|---|\n" + "\n".join(lines) + "\n\n"
              "The first set's dense correspondences (`method=dense`) the same three ways, without a geometry and "
              "verified by the pair's own (a homography for a plane, else a fundamental matrix): the matches with a "
              "confidence whose truth is known, their mean confidence "
              f"and share within {WITHIN_PX:g} px, and the answers saying the search could not be pre-aligned.\n\n"
              "| geometry | sent as | matches | mean confidence | within 3 px | warned |\n|---|---|---|---|---|---|\n"
              + "\n".join(dense) + "\n", not a.no_write)


if __name__ == "__main__":
    main()
