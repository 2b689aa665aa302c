"""Regions of large photos found in the photo: a part of a photograph (a half, a third, a quarter,
a sixth of its long side, shrunk to 0.9 and saved again as JPEG) located in the whole photograph
as it was shipped (2,000-6,000 pixels a side), by method=sparse through the HTTP API at each
SPARSE_MAX_SIDE, beside OpenCV SIFT on both images at 1024 and at full size. Each region is then
sent with another photo, where any homography returned is wrong.

    python -m eval.regions                          # SPARSE_MAX_SIDE 1024, 1536, 2048
    python -m eval.regions --sides 1024,4096

The photos are the 14 photographs of lomiri-wallpapers-16.04 (``data/lomiri``, from ``python -m
models.prep_data``): no network trains on them. A region counts as found when the homography
returned (geometry=homography) puts a grid of the region's points within 5 px of the truth
(median, in the photo's pixels). The first request of each photo computes its features (cold);
the others find them cached.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import httpx
import numpy as np

from eval import machine
from eval.latency import serve
from eval.load_test import peak_rss_mb
from eval.results import write_section
from eval.robustness import TOL, mutual_ratio
from models.data.photos import LOMIRI_PHOTOS, package_path
from service import matching

FRACTIONS = (2, 3, 4, 6)  # the region's long side: the photo's over this
SHRINK = 0.9  # the region is sent at this size
QUALITY = 80  # and saved again as JPEG at this quality
SIDES = (1024, 1536, 2048)


@dataclass
class Case:
    photo: Path
    fraction: int
    region: bytes  # JPEG
    h: np.ndarray  # (3, 3) region pixels -> photo pixels
    size: tuple[int, int]  # the region's width, height as sent


def textured(grey: np.ndarray) -> bool:
    """Whether a region has detail to find (not sky, water or blur alone)."""
    small = cv2.resize(grey, (256, max(1, round(256 * grey.shape[0] / grey.shape[1]))), interpolation=cv2.INTER_AREA)
    return float(cv2.Laplacian(small, cv2.CV_32F).std()) > 6


def region_of(img: np.ndarray, fraction: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(region as sent, h: its pixels -> img's): a 4:3 window 1/``fraction`` of img's long side, at
    a random place with detail (the last of 50 tries otherwise), shrunk to SHRINK."""
    height, width = img.shape[:2]
    cw = min(max(width, height) // fraction, width)
    ch = min(round(cw * 0.75), height)
    grey = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    for _ in range(50):
        x, y = int(rng.integers(0, width - cw + 1)), int(rng.integers(0, height - ch + 1))
        if textured(grey[y:y + ch, x:x + cw]):
            break
    sent = cv2.resize(img[y:y + ch, x:x + cw], (round(cw * SHRINK), round(ch * SHRINK)), interpolation=cv2.INTER_AREA)
    sx, sy = cw / sent.shape[1], ch / sent.shape[0]
    # pixel centres: region pixel u sits at (u + 0.5) * s - 0.5 of the window, which starts at x
    h = np.array([[sx, 0, x + 0.5 * sx - 0.5], [0, sy, y + 0.5 * sy - 0.5], [0, 0, 1]])
    return sent, h


def cases(seed: int = 1) -> list[Case]:
    photos = [package_path(name) for name in LOMIRI_PHOTOS]
    if None in photos:
        raise SystemExit("not every photo of lomiri-wallpapers-16.04 in data/lomiri: run `python -m models.prep_data`")
    rng, out = np.random.default_rng(seed), []
    for photo in photos:
        img = cv2.imread(str(photo), cv2.IMREAD_COLOR)
        for f in FRACTIONS:
            sent, h = region_of(img, f, rng)
            data = cv2.imencode(".jpg", sent, [cv2.IMWRITE_JPEG_QUALITY, QUALITY])[1].tobytes()
            out.append(Case(photo, f, data, h, (sent.shape[1], sent.shape[0])))
    return out


def grid_error(case: Case, h: np.ndarray | None) -> float | None:
    """Median distance (photo pixels) between where ``h`` and the truth put an 8 x 8 grid of the region."""
    if h is None:
        return None
    w, ht = case.size
    g = np.stack(np.meshgrid(np.linspace(0, w - 1, 8), np.linspace(0, ht - 1, 8)), -1).reshape(1, -1, 2)
    got = cv2.perspectiveTransform(g, np.asarray(h, np.float64))[0]
    want = cv2.perspectiveTransform(g, case.h)[0]
    return float(np.median(np.linalg.norm(got - want, axis=1)))


@dataclass
class Run:
    errors: list[float | None]
    cold_ms: list[float]  # requests whose photo was not cached yet
    warm_ms: list[float]
    peak_mb: float
    unrelated: int  # homographies returned for a region sent with another photo
    warned: list[bool] | None = None  # per case: the answer warned its homography is extrapolated


def other_photo(todo: list[Case], case: Case) -> Path:
    """The photo after ``case``'s among the cases' photos, in turn: a scene the region is not in."""
    photos = sorted({c.photo for c in todo})
    return photos[(photos.index(case.photo) + 1) % len(photos)]


def api(todo: list[Case], env: dict[str, str]) -> Run:
    """Each region with its photo, then with another photo (features cached by then)."""
    proc, url = serve(env)
    errors, cold, warm, seen, unrelated, warned = [], [], [], set(), 0, []

    def ask(client: httpx.Client, case: Case, photo: Path) -> np.ndarray | None:
        r = client.post("/v1/correspondences", data={"geometry": "homography"},
                        files={"image_a": ("region.jpg", case.region, "image/jpeg"),
                               "image_b": (photo.name, photo.read_bytes(), "image/jpeg")})
        r.raise_for_status()
        warned.append(any("extrapolated" in w for w in r.json()["warnings"]))
        return r.json().get("homography")

    try:
        with httpx.Client(base_url=url, timeout=300) as client:
            for case in todo:
                t = time.perf_counter()
                h = ask(client, case, case.photo)
                (warm if case.photo in seen else cold).append(1e3 * (time.perf_counter() - t))
                seen.add(case.photo)
                errors.append(grid_error(case, h))
            unrelated = sum(ask(client, case, other_photo(todo, case)) is not None for case in todo)
        peak = peak_rss_mb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return Run(errors, cold, warm, peak, unrelated, warned[:len(todo)])  # the regions with their own photos


def reduced(img: np.ndarray, side: int | None) -> tuple[np.ndarray, float]:
    """(img downscaled to ``side`` on its long side if larger, the factor); None: as it is."""
    f = 1.0 if side is None else min(1.0, side / max(img.shape))
    return (img if f == 1 else cv2.resize(img, None, fx=f, fy=f, interpolation=cv2.INTER_AREA)), f


def sift(todo: list[Case], side: int | None = None) -> Run:
    """OpenCV SIFT (4,000 keypoints an image, mutual ratio test 0.8, RANSAC 4 px, as
    ``eval.robustness``) on the images downscaled to ``side`` (None: full size), a homography
    kept on the service's rule (``matching.found``); each photo's features once (the cold time
    includes them)."""
    det, photos = cv2.SIFT_create(4000), {}

    def features(photo: Path) -> tuple:
        if photo not in photos:
            img, f = reduced(cv2.imread(str(photo), cv2.IMREAD_GRAYSCALE), side)
            photos[photo] = (*det.detectAndCompute(img, None), f)
        return photos[photo]

    def homography(case: Case, photo: Path) -> np.ndarray | None:
        kb, db, fb = features(photo)
        img, fa = reduced(cv2.imdecode(np.frombuffer(case.region, np.uint8), cv2.IMREAD_GRAYSCALE), side)
        ka, da = det.detectAndCompute(img, None)
        if da is None or len(da) < 2:
            return None
        xa, xb = mutual_ratio(ka, da, kb, db)
        if len(xa) < 8:
            return None
        xa, xb = (xa + 0.5) / fa - 0.5, (xb + 0.5) / fb - 0.5  # in pixels as sent
        h, mask = cv2.findHomography(xa, xb, cv2.RANSAC, 4.0 / fb, maxIters=2000, confidence=0.999)
        return h if h is not None and matching.found("homography", mask.ravel().astype(bool)) else None

    errors, cold, warm = [], [], []
    for case in todo:
        t, new = time.perf_counter(), case.photo not in photos
        errors.append(grid_error(case, homography(case, case.photo)))
        (cold if new else warm).append(1e3 * (time.perf_counter() - t))
    unrelated = sum(homography(case, other_photo(todo, case)) is not None for case in todo)
    return Run(errors, cold, warm, float("nan"), unrelated)


def found(errors: list[float | None]) -> np.ndarray:
    return np.array([e is not None and e < TOL for e in errors])


def table(todo: list[Case], runs: dict[str, Run]) -> str:
    every = np.all([found(r.errors) for r in runs.values()], axis=0)
    head = ("| | " + " | ".join(f"found, 1/{f} of the side" for f in FRACTIONS)
            + f" | median error where all found ({int(every.sum())}) | wrong homographies (warned of) "
            "| homographies with another photo | cold pair, median | warm | server peak |\n"
            + "|---" * (len(FRACTIONS) + 7) + "|\n")
    rows = []
    for label, r in runs.items():
        ok = found(r.errors)
        cells = [f"{int(ok[[c.fraction == f for c in todo]].sum())} of {sum(c.fraction == f for c in todo)}"
                 for f in FRACTIONS]
        err = np.median([e for e, a in zip(r.errors, every, strict=True) if a]) if every.any() else float("nan")
        peak = "-" if np.isnan(r.peak_mb) else f"{r.peak_mb:.0f} MB"
        wrong = np.array([e is not None and e >= TOL for e in r.errors])
        said = "" if r.warned is None else f" ({int((wrong & np.array(r.warned)).sum())})"
        rows.append(f"| {label} | " + " | ".join(cells) + f" | {err:.2f} px | {int(wrong.sum())}{said} | "
                    f"{r.unrelated} of {len(todo)} | "
                    f"{np.median(r.cold_ms):.0f} ms | "
                    f"{np.median(r.warm_ms):.0f} ms | {peak} |\n")
    return head + "".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sides", default=",".join(map(str, SIDES)), help="comma-separated SPARSE_MAX_SIDE values")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    todo = cases()
    runs = {f"sparse, SPARSE_MAX_SIDE={s}": api(todo, {"SPARSE_MAX_SIDE": s}) for s in a.sides.split(",")}
    runs["OpenCV SIFT, 1024"] = sift(todo, 1024)
    runs["OpenCV SIFT, full size"] = sift(todo)
    out = table(todo, runs)
    print(out)
    if not a.no_write:
        photos = len({c.photo for c in todo})
        write_section("regions", "## Regions of large photos: SPARSE_MAX_SIDE\n\n"
                      f"`{shlex.join(['python', '-m', 'eval.regions', *sys.argv[1:]])}` {machine.describe()}\n\n"
                      f"{len(todo)} regions of {photos} photographs (every one lomiri-wallpapers-16.04 ships, "
                      f"1,365-5,312 px a side; no network trains on them), a window 1/2 to 1/6 of the photo's "
                      f"long side at a place with detail, shrunk to {SHRINK:g} and saved as JPEG (quality "
                      f"{QUALITY}), sent with the whole photo as shipped (geometry=homography). Found: the "
                      f"homography puts a grid of the region within {TOL:g} px of the truth (median, photo "
                      "pixels). Cold: the photo's features computed in that request (upload and decoding "
                      "included); warm: cached. Server peak: its VmHWM over the run.\n\n" + out)


if __name__ == "__main__":
    main()
