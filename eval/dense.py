"""Evaluate dense correspondence through the service's API (in process) beside OpenCV baselines:

- keypoint transfer: PCK at 1, 3, 5, 10 px of /v1/keypoints/transfer vs dense SIFT nearest
  neighbour (SIFT at the query point, searched over a stride-4 grid of SIFT in image b);
- correspondences: MMA at 1-10 px and the number of correct (3 px) matches of
  /v1/correspondences (its defaults, and without its neighbourhood consensus) vs SIFT detect +
  describe + ratio test (0.8), alone and through the same consensus filter.

    python -m eval.dense                     # motorcycle stereo + held-back homographies
    python -m eval.dense --hpatches DIR...   # HPatches-style sequence folders
    python -m eval.dense --middlebury DIR... # Middlebury-style stereo folders
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from eval import benchmarks, machine
from eval.benchmarks import EvalPair
from eval.results import write_section
from service.consensus import select as consensus_select

PCK_PX = (1, 3, 5, 10)
MMA_PX = tuple(range(1, 11))
GRID = 4


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def query_points(pair: EvalPair, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n random points of a with ground truth in b, kept away from a's border."""
    h, w = pair.a.shape
    xy = np.c_[rng.uniform(8, w - 9, 8 * n), rng.uniform(8, h - 9, 8 * n)]
    gt, ok = pair.gt(xy)
    return xy[ok][:n].astype(np.float32), gt[ok][:n]


def files(pair: EvalPair) -> dict:
    return {"image_a": ("a.png", png(pair.a)), "image_b": ("b.png", png(pair.b))}


def api_transfer(client: TestClient, pair: EvalPair, pts: np.ndarray, guided: bool = True) -> np.ndarray:
    r = client.post("/v1/keypoints/transfer", files=files(pair),
                    data={"keypoints": json.dumps(pts.tolist()), "guided": str(guided).lower()})
    r.raise_for_status()
    return np.array([[k["x"], k["y"]] for k in r.json()["keypoints"]])


def api_matches(client: TestClient, pair: EvalPair, args: dict) -> tuple[np.ndarray, np.ndarray]:
    """Matches of /v1/correspondences; only the RANSAC inliers when ``args`` asks for a geometry."""
    r = client.post("/v1/correspondences", files=files(pair), data={k: str(v) for k, v in args.items()})
    r.raise_for_status()
    body = r.json()
    m = body["matches"]
    keep = np.asarray(body["inliers"], bool) if "inliers" in body else np.ones(len(m), bool)
    xa = np.array([[x["xa"], x["ya"]] for x in m]).reshape(-1, 2)[keep]
    return xa, np.array([[x["xb"], x["yb"]] for x in m]).reshape(-1, 2)[keep]


def ransac_inliers(xa: np.ndarray, xb: np.ndarray, geometry: str, threshold: float = 4.0) -> tuple:
    """The SIFT matches OpenCV's RANSAC keeps, for a like-for-like verified comparison."""
    if len(xa) < 8:
        return xa[:0], xb[:0]
    if geometry == "homography":
        _, mask = cv2.findHomography(xa, xb, cv2.RANSAC, threshold, maxIters=2000, confidence=0.999)
    else:
        _, mask = cv2.findFundamentalMat(xa, xb, cv2.FM_RANSAC, threshold, 0.999)
    keep = mask.ravel().astype(bool) if mask is not None else np.zeros(len(xa), bool)
    return xa[keep], xb[keep]


def dense_sift_transfer(pair: EvalPair, pts: np.ndarray, size: float = 16.0) -> np.ndarray:
    sift = cv2.SIFT_create()
    h, w = pair.b.shape
    grid = [cv2.KeyPoint(float(x), float(y), size, 0) for y in range(2, h - 2, GRID) for x in range(2, w - 2, GRID)]
    kb, db = sift.compute(pair.b, grid)
    _, dq = sift.compute(pair.a, [cv2.KeyPoint(float(x), float(y), size, 0) for x, y in pts])
    xb = np.float32([k.pt for k in kb])
    best = np.empty(len(dq), np.int64)
    for s in range(0, len(dq), 256):  # blocked to bound memory
        d2 = (dq[s:s + 256] ** 2).sum(1)[:, None] - 2 * dq[s:s + 256] @ db.T + (db ** 2).sum(1)[None]
        best[s:s + 256] = d2.argmin(1)
    return xb[best]


def sift_ratio_matches(pair: EvalPair, ratio: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    sift = cv2.SIFT_create()
    ka, da = sift.detectAndCompute(pair.a, None)
    kb, db = sift.detectAndCompute(pair.b, None)
    if da is None or db is None or len(db) < 2:
        return np.zeros((0, 2)), np.zeros((0, 2))
    good = [m for m, n in cv2.BFMatcher(cv2.NORM_L2).knnMatch(da, db, k=2) if m.distance < ratio * n.distance]
    return (np.float32([ka[m.queryIdx].pt for m in good]).reshape(-1, 2),
            np.float32([kb[m.trainIdx].pt for m in good]).reshape(-1, 2))


def sift_consensus(xa: np.ndarray, xb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """SIFT's matches through the API's neighbourhood consensus, with the UCN's cell (4 px)."""
    keep, pulled = consensus_select(xa, xb, GRID, GRID)
    return xa[keep], pulled[keep]


def match_errors(pair: EvalPair, xa: np.ndarray, xb: np.ndarray) -> np.ndarray:
    """Pixel errors of matches whose a-point has ground truth (others cannot be judged)."""
    if not len(xa):
        return np.zeros(0)
    gt, ok = pair.gt(xa.astype(np.float64))
    return np.linalg.norm(gt[ok] - xb[ok], axis=1)


def evaluate(pairs: list[EvalPair], client: TestClient, n_points: int, match_args: dict, seed: int,
             geometry: str) -> dict:
    rng = np.random.default_rng(seed)
    acc: dict = defaultdict(list)
    for pair in pairs:
        pts, gt = query_points(pair, n_points, rng)
        acc["ucn_transfer"].append(np.linalg.norm(api_transfer(client, pair, pts) - gt, axis=1))
        acc["ucnglobal_transfer"].append(np.linalg.norm(api_transfer(client, pair, pts, False) - gt, axis=1))
        acc["dsift_transfer"].append(np.linalg.norm(dense_sift_transfer(pair, pts) - gt, axis=1))
        acc["ucn_matches"].append(match_errors(pair, *api_matches(client, pair, match_args)))
        acc["sparse_matches"].append(match_errors(pair, *api_matches(client, pair, {"method": "sparse"})))
        acc["sparseransac_matches"].append(match_errors(pair, *api_matches(
            client, pair, {"method": "sparse", "geometry": geometry})))
        raw = {"method": "dense", "mutual": "true", "ratio": 0.8, "consistency": "false"}
        acc["ucnraw_matches"].append(match_errors(pair, *api_matches(client, pair, raw)))
        sift = sift_ratio_matches(pair)
        acc["sift_matches"].append(match_errors(pair, *sift))
        acc["siftcons_matches"].append(match_errors(pair, *sift_consensus(*sift)))
        verified = api_matches(client, pair, match_args | {"geometry": geometry})
        acc["ucnransac_matches"].append(match_errors(pair, *verified))
        acc["siftransac_matches"].append(match_errors(pair, *ransac_inliers(*sift, geometry)))
    out = {}
    for method in ("ucn", "ucnglobal", "dsift"):
        e = np.concatenate(acc[f"{method}_transfer"])
        out[f"{method}_pck"] = {t: float((e <= t).mean()) for t in PCK_PX}
    for method in ("ucn", "ucnraw", "sparse", "sift", "siftcons", "ucnransac", "sparseransac", "siftransac"):
        per_pair = acc[f"{method}_matches"]
        e = np.concatenate(per_pair) if per_pair else np.zeros(0)
        out[f"{method}_mma"] = {t: float((e <= t).mean()) if len(e) else 0.0 for t in MMA_PX}
        out[f"{method}_correct3"] = float(np.mean([(x <= 3).sum() for x in per_pair]))
        out[f"{method}_matches"] = float(np.mean([len(x) for x in per_pair]))
    out["pairs"], out["points"], out["geometry"] = len(pairs), n_points, geometry
    return out


def table(name: str, r: dict) -> str:
    pck = " | ".join(f"PCK@{t}px" for t in PCK_PX)
    lines = [f"### {name} ({r['pairs']} pairs, {r['points']} query points each)", "",
             f"| keypoint transfer | {pck} |", "|---|" + "---|" * len(PCK_PX)]
    for label, key in (("UCN through /v1/keypoints/transfer (guided, the default)", "ucn_pck"),
                       ("UCN through /v1/keypoints/transfer, guided=false (global search)", "ucnglobal_pck"),
                       ("dense SIFT nearest neighbour", "dsift_pck")):
        lines.append(f"| {label} | " + " | ".join(f"{100 * r[key][t]:.1f}" for t in PCK_PX) + " |")
    mma = " | ".join(f"MMA@{t}" for t in (1, 2, 3, 5, 10))
    lines += ["", f"| correspondences | {mma} | correct@3px per pair | matches per pair |",
              "|---|" + "---|" * 7]
    for label, key in (("method=dense (UCN) through /v1/correspondences", "ucn"),
                       ("method=dense, consistency=false ratio=0.8 (mutual NN + ratio test only)", "ucnraw"),
                       ("method=sparse (DoG + learned descriptors, as served) via /v1/correspondences", "sparse"),
                       ("SIFT + ratio test 0.8", "sift"),
                       ("SIFT + ratio test 0.8 + the same neighbourhood consensus", "siftcons"),
                       (f"method=dense, RANSAC inliers (geometry={r['geometry']})", "ucnransac"),
                       (f"method=sparse, RANSAC inliers (geometry={r['geometry']})", "sparseransac"),
                       (f"SIFT + ratio test 0.8, RANSAC inliers ({r['geometry']})", "siftransac")):
        lines.append(f"| {label} | " + " | ".join(f"{100 * r[key + '_mma'][t]:.1f}" for t in (1, 2, 3, 5, 10))
                     + f" | {r[key + '_correct3']:.0f} | {r[key + '_matches']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hpatches", nargs="*", type=Path, default=[])
    ap.add_argument("--middlebury", nargs="*", type=Path, default=[])
    ap.add_argument("--png-scale", type=float, default=1.0, help="PNG disparity = value / scale")
    ap.add_argument("--points", type=int, default=500)
    ap.add_argument("--ratio", type=float, default=None, help="ratio test of the API's correspondences "
                    "(default: none, as the API)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--models-dir", type=Path, default=None)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from service.config import Settings
    from service.main import create_app
    settings = Settings(**({"models_dir": a.models_dir} if a.models_dir else {}))
    sets: dict[str, list[EvalPair]] = {}
    if a.hpatches or a.middlebury:
        for d in a.hpatches:
            sets[f"HPatches {d.name}"] = list(benchmarks.hpatches(d))
        for d in a.middlebury:
            sets[f"Middlebury {d.name}"] = list(benchmarks.middlebury(d, a.png_scale))
    else:
        sets["Middlebury 2014 motorcycle (scikit-image), never trained on"] = list(benchmarks.motorcycle())
        sets["Held-back photos under homographies"] = list(benchmarks.heldout_homographies(seed=a.seed))
    kinds = {name: "homography" if "homograph" in name or name.startswith("HPatches") else "fundamental"
             for name in sets}
    match_args = {"method": "dense", "mutual": "true"} | ({"ratio": a.ratio} if a.ratio else {})
    command = "python -m eval.dense " + shlex.join(sys.argv[1:])
    how = f"ratio test {a.ratio}" if a.ratio else "no ratio test"
    parts = [f"## Keypoint transfer and correspondences beside SIFT\n\n`{command}` {machine.describe()}\n\n"
             f"method=dense uses its defaults: mutual nearest neighbours, {how}, neighbourhood consensus "
             "(`service/consensus.py`); method=sparse its own (mutual, Lowe's ratio 0.9). PCK and MMA are in percent; "
             "a match counts when its a-point has ground truth.\n"]
    with TestClient(create_app(settings)) as client:
        for name, pairs in sets.items():
            r = evaluate(pairs, client, a.points, match_args, a.seed, kinds[name])
            parts.append(table(name, r))
            print(parts[-1] + "\n")
    if not a.no_write:
        write_section("dense-eval" if not (a.hpatches or a.middlebury) else "dense-eval-user", "\n\n".join(parts))


if __name__ == "__main__":
    main()
