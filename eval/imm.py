"""Fresh real pairs, held back: the example pairs of the ``image-matching-models`` package
(``models.data.imm``), each file sent as it is to ``/v1/correspondences`` in process with the
defaults and geometry=auto, as a user would, beside OpenCV SIFT on the same files.

    python -m eval.imm

For the pairs with an established homography (``models.data.imm``, checked by eye), a match is
right within ``TOL`` px of where it puts a's point; for the two different cathedrals every geometry
is wrong; for the rest the table says what was answered and the docs what it showed by eye. Keypoint
transfer carries a grid of points over the part of a where the homography is known to hold.
"""
from __future__ import annotations

import argparse
import json
import time

import cv2
import numpy as np
from fastapi.testclient import TestClient

from eval import machine
from eval.results import published
from models.data import imm, pairs
from service.matching import project

TOL = 5.0  # px in b
METHODS = ("sparse", "dense")  # sparse: the default
POINTS = 100  # a transfer's grid


def sift(data: tuple[bytes, bytes]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """OpenCV SIFT's ratio-tested (0.8) matches of a pair's files and the homography MAGSAC++ fits
    them at 4 px: (a's points, b's, the homography and its inliers, or None where it fits none)."""
    xa, xb = pairs.sift_matches(*(imm.grey(d) for d in data))
    if len(xa) < 4:
        return xa, xb, None, None
    h, inliers = cv2.findHomography(xa, xb, cv2.USAC_MAGSAC, 4.0)
    return xa, xb, h, None if h is None else inliers.ravel().astype(bool)


def ask(client: TestClient, data: tuple[bytes, bytes], method: str) -> tuple[dict, float]:
    t0 = time.perf_counter()
    r = client.post("/v1/correspondences", files={"image_a": ("a.jpg", data[0]), "image_b": ("b.jpg", data[1])},
                    data={"method": method, "geometry": "auto"})
    r.raise_for_status()
    return r.json(), time.perf_counter() - t0


def right(name: str, xa: np.ndarray, xb: np.ndarray, truth: dict[str, np.ndarray]) -> str:
    """How many of the matches lie within TOL of the truth, and their share; "-" without one."""
    if name == "cathedrals":
        return f"0 of {len(xa)}" if len(xa) else "-"
    if name not in truth or not len(xa):
        return "-"
    ok = np.linalg.norm(project(truth[name], xa) - xb, axis=1) < TOL
    return f"{int(ok.sum())} of {len(xa)} ({100 * ok.mean():.0f} %)"


def rows_of(client: TestClient, name: str, data: tuple[bytes, bytes], by_sift: tuple,
            truth: dict[str, np.ndarray]) -> list[str]:
    """The pair's rows: each method's answer, then SIFT's (``by_sift``: ``sift``'s)."""
    out = []
    for method in METHODS:
        body, took = ask(client, data, method)
        inliers = np.array(body.get("inliers") or [], bool)
        geometry = body.get("geometry")
        xy = np.array([[m["xa"], m["ya"], m["xb"], m["yb"]] for m in body["matches"]], np.float64).reshape(-1, 4)
        kept = xy[inliers] if geometry else np.zeros((0, 4))
        said = f"{geometry}, {len(kept)} inliers" if geometry else "none"
        out.append(f"| {name} | {method}{' (default)' * (method == 'sparse')} | {said} | "
                   f"{right(name, kept[:, :2], kept[:, 2:], truth)} | {len(body['warnings'])} | {took:.1f} s |")
    xa, xb, _, inliers = by_sift
    said = f"homography, {int(inliers.sum())} inliers" if inliers is not None else "none"
    kept = inliers if inliers is not None else np.zeros(len(xa), bool)
    out.append(f"| {name} | OpenCV SIFT | {said} | {right(name, xa[kept], xb[kept], truth)} | - | - |")
    return out


def plane_points(name: str, h: np.ndarray, n: int = POINTS) -> np.ndarray:
    """About ``n`` points of a on a grid over ``imm.held``'s hull: where the homography ``h`` is
    known to hold."""
    hull = imm.held(name, h)
    x0, y0, w, h_ = cv2.boundingRect(hull)
    step = np.sqrt(cv2.contourArea(hull) / n)
    grid = np.stack(np.meshgrid(np.arange(x0 + step / 2, x0 + w, step), np.arange(y0 + step / 2, y0 + h_, step)), -1)
    grid = grid.reshape(-1, 2).astype(np.float32)
    return grid[imm.inside(hull, grid)]


def transfer_row(client: TestClient, name: str, data: tuple[bytes, bytes], fitted: np.ndarray | None,
                 h: np.ndarray) -> str:
    """The defaults' transfer of ``plane_points`` beside mapping them by SIFT's homography ``fitted``."""
    pts = plane_points(name, h)
    r = client.post("/v1/keypoints/transfer", files={"image_a": ("a.jpg", data[0]), "image_b": ("b.jpg", data[1])},
                    data={"keypoints": json.dumps(pts.tolist())})
    r.raise_for_status()
    got = r.json()["keypoints"]
    ok = np.linalg.norm(np.array([[k["x"], k["y"]] for k in got]) - project(h, pts), axis=1) < TOL
    conf = np.array([k.get("confidence") if k.get("confidence") is not None else np.nan for k in got])
    by_sift = (np.linalg.norm(project(fitted, pts) - project(h, pts), axis=1) < TOL).mean() if fitted is not None else 0
    mean = lambda v: f"{np.nanmean(v):.2f}" if np.isfinite(v).any() else "-"  # noqa: E731
    return (f"| {name} | {len(pts)} | {100 * ok.mean():.0f} % | {mean(conf[ok])} / {mean(conf[~ok])} | "
            f"{r.json().get('guidance')} | {100 * by_sift:.0f} % |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from service.config import Settings
    from service.main import create_app

    truth = imm.truth()
    lines = ["## Fresh pairs (held back): image-matching-models' examples\n",
             f"`python -m eval.imm` {machine.describe()}\n",
             "The example pairs that the image-matching-models package ships, each file sent as it is with "
             "geometry=auto (in process, the defaults; the time includes decoding and both images' features). "
             f"*Right*: of the verified inliers, those within {TOL:g} px of where the pair's homography, "
             "established from SIFT and checked by eye, puts a's point; between the two cathedrals every match is "
             "wrong; \"-\" where no truth could be established. OpenCV SIFT: ratio-tested (0.8) matches, the "
             "homography MAGSAC++ fits them at 4 px, as many inliers as it counts (it says nothing of chance). "
             "Warnings: how many the answer gave.\n",
             "| pair | what it shows |", "|---|---|",
             *(f"| {name} | {what} |" for name, (what, _) in imm.SCENE.items()), "",
             "| pair | method | geometry verified | right | warnings | time |", "|---|---|---|---|---|---|"]
    data = {name: imm.load(name) for name in imm.FILES}
    by_sift = {name: sift(d) for name, d in data.items()}
    with TestClient(create_app(Settings())) as client:
        for name in imm.FILES:
            lines += rows_of(client, name, data[name], by_sift[name], truth)
        lines += ["", f"Keypoint transfer (`/v1/keypoints/transfer`, the defaults) of a grid of about {POINTS} points "
                  "over the part of a where the homography is known to hold (the hull of SIFT's matches it takes "
                  f"within 3 px): the share within {TOL:g} px of where it puts them, the mean confidence of those "
                  "and of the others, and the points mapped by the homography OpenCV SIFT's RANSAC fits instead.\n",
                  "| pair | points | within 5 px | confidence: right / wrong | guidance | SIFT's homography |",
                  "|---|---|---|---|---|---|",
                  *(transfer_row(client, name, data[name], by_sift[name][2], h) for name, h in truth.items())]
    published("imm", "\n".join(lines) + "\n", not args.no_write)


if __name__ == "__main__":
    main()
