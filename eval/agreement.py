"""Whether a homography's inliers agree with their keypoints, as ``matching.agreeing`` checks: how
many true inliers each tolerance keeps, and how many it leaves to chance.

    python -m eval.agreement

True: the validation pairs with a homography (``eval.robustness``'s cases, objects in clutter and
among other photos included) and the 56 regions of large photos (``eval.regions``), each pair's
mutual sparse matches fitted by RANSAC as the service fits them without the check; of the fits
that are right, the share of inliers each tolerance keeps. Chance: the same images' a against
image b of another scene (and each region against the other photos), mutual and ratio-tested
matches: how many of RANSAC's inliers each tolerance leaves. Features in process, with the
service's defaults (the same code as ``/v1/correspondences``).
"""
from __future__ import annotations

import argparse
import asyncio
import shlex
import sys
from collections import Counter

import cv2
import numpy as np

from eval import machine, regions
from eval.results import published
from eval.robustness import clutter_cases, homography_right, png, validation_cases
from models.data import pairs
from service import dense, matching, registry, sparse
from service.cache import MemoryCache
from service.config import Settings

TOLERANCES = ((0.5, 30), (0.75, 30), (0.75, 40), (0.75, 45), (1.0, 40), (0.75, 180))  # octaves, degrees
SHOWN = 6  # chance's counts from 0 to SHOWN - 1, then SHOWN or more


def homography_truth(h: np.ndarray):
    return lambda xy: (matching.project(h, xy), np.ones(len(xy), bool))


async def features(images: dict[str, bytes]) -> dict[str, sparse.SparseFeatures]:
    settings = Settings()
    reg = registry.load(settings)
    try:
        model = reg.get(settings.default_descriptor_model, ("descriptor",))
        cache = MemoryCache(0)
        return {k: (await dense.sparse_features(v, model, cache, settings))[0] for k, v in images.items()}
    finally:
        reg.close()


def homography_cases() -> list[tuple[str, pairs.Pair]]:
    """The validation pairs with a homography: ``eval.robustness``'s cases, and its objects in
    clutter and among other photos."""
    return [(n, p) for n, p in validation_cases() + clutter_cases(("cube-40", "cube-79", "leuven"))
            if p.homography is not None]


def images_of(cases: list[tuple[str, pairs.Pair]]) -> dict[str, bytes]:
    """Each case's two images as PNG bytes, named "<case>/a" and "<case>/b"."""
    return {f"{n}/a": png(p.a) for n, p in cases} | {f"{n}/b": png(p.b) for n, p in cases}


def plain(m: matching.Matches) -> matching.Matches:
    """The matches without their keypoints' sizes and orientations: ``verify`` as without the check."""
    return matching.Matches(m.xy_a, m.xy_b, m.score, m.ratio)


def hopeless(m: matching.Matches, threshold: float, geometry: str = "homography") -> bool:
    """Whether the service would spare RANSAC its fit of ``geometry`` to the matches ``m``
    (``matching.hopeless``; too few matches to fit one count as spared)."""
    if len(m.score) < (4 if geometry == "homography" else 8):
        return True
    prosac = matching.homography(m, cv2.USAC_PROSAC, threshold)[1] if geometry == "homography" else None
    return matching.hopeless(m, geometry, threshold, prosac) is not None


def kept(h: np.ndarray, inliers: np.ndarray, m: matching.Matches) -> list[int]:
    """The inliers each of TOLERANCES keeps."""
    return [int(matching.agreeing(h, inliers, m, octaves, np.deg2rad(degrees)).sum())
            for octaves, degrees in TOLERANCES]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    threshold = Settings().ransac_threshold_px
    cases = homography_cases()
    images = images_of(cases)
    todo = regions.cases()
    photos = sorted({c.photo for c in todo})
    images |= {f"region {i}": c.region for i, c in enumerate(todo)} | {str(p): p.read_bytes() for p in photos}
    f = asyncio.run(features(images))
    true = [(f"{n}/a", f"{n}/b", p.truth, p.a.shape) for n, p in cases]
    true += [(f"region {i}", str(c.photo), homography_truth(c.h), c.size[::-1]) for i, c in enumerate(todo)]
    fits, inliers, keeps = 0, 0, np.zeros(len(TOLERANCES), int)
    spared = Counter()  # where ``matching.hopeless`` spares RANSAC: right fits, chance fits
    for a, b, truth, shape in true:
        m = sparse.match(f[a], f[b], None, True)
        h, inl = matching.verify(plain(m), "homography", threshold)
        if h is None or not homography_right(h, truth, shape):
            continue
        spared["right"] += hopeless(m, threshold)
        fits, inliers, keeps = fits + 1, inliers + int(inl.sum()), keeps + kept(h, inl, m)
    scene = [n.split()[0].split("-")[0] for n, _ in cases]  # cube-40 and cube-79: one scene
    others = [(f"{n}/a", f"{cases[j][0]}/b") for i, (n, _) in enumerate(cases)
              for j in range(i % 7, len(cases), 7) if scene[j] != scene[i]]
    others += [(f"region {i}", str(p)) for i, c in enumerate(todo) for p in photos if p != c.photo]
    plain_counts, chance, most = Counter(), [Counter() for _ in TOLERANCES], np.zeros(len(TOLERANCES), int)
    for a, b in others:
        for ratio in (None, sparse.RATIO):
            m = sparse.match(f[a], f[b], ratio, True)
            spared["scenes"] += hopeless(m, threshold, "fundamental")
            h, inl = matching.verify(plain(m), "homography", threshold)
            if h is None:
                continue
            plain_counts[int(inl.sum())] += 1
            spared["chance"] += hopeless(m, threshold)
            agree = kept(h, inl, m)
            most = np.maximum(most, agree)
            for c, k in zip(chance, agree, strict=True):
                c[min(k, SHOWN)] += 1
    n_chance = sum(plain_counts.values())
    command = "python -m eval.agreement " + shlex.join(sys.argv[1:])
    default = (matching.SCALE_AGREES, round(float(np.rad2deg(matching.TURN_AGREES))))
    head = " | ".join(f"{k}" for k in range(SHOWN)) + f" | {SHOWN}+"
    lines = ["## method=sparse: a homography's inliers that agree with their keypoints\n",
             f"`{command.strip()}` {machine.describe()}\n",
             f"Right homographies: RANSAC's ({threshold:g} px) on the mutual sparse matches of {len(true)} pairs "
             f"(validation pairs with a homography, objects in clutter and among other photos, regions of large "
             f"photos), {fits} right, {inliers:,} inliers. Chance: {n_chance:,} homographies RANSAC fits between "
             f"unrelated images ({len(others):,} pairs, mutual and ratio-tested matches); as counted by RANSAC "
             f"they hold {min(plain_counts)}-{max(plain_counts)} inliers. A match agrees where its keypoints' "
             "sizes differ by no more than the octaves shown from how the homography scales there, and their "
             f"orientations by no more than the degrees shown from how it turns. The default: {default[0]:g} "
             f"octaves, {default[1]} degrees; a homography needs {matching.AGREED_INLIERS} agreeing inliers. "
             f"Where neither GC-RANSAC nor PROSAC finds that many, the service does not run RANSAC "
             f"(`matching.hopeless`): so spared, {spared['chance']:,} of the {n_chance:,} chance fits and "
             f"{spared['right']} of the {fits} right ones; its fit of a fundamental matrix (where GC-RANSAC's holds "
             f"fewer inliers than one needs), on {spared['scenes']:,} of the {2 * len(others):,} pairs' sets of "
             "matches.\n",
             f"| octaves, degrees | right inliers kept | chance homographies by agreeing inliers: {head} | most |",
             "|---|---|" + "---|" * (SHOWN + 2)]
    for (octaves, degrees), keep, c, top in zip(TOLERANCES, keeps, chance, most, strict=True):
        counts = " | ".join(str(c[k]) for k in range(SHOWN + 1))
        lines.append(f"| {octaves:g}, {degrees} | {100 * keep / max(inliers, 1):.2f} % | {counts} | {top} |")
    published("sparse-agreement", "\n".join(lines) + "\n", not args.no_write)


if __name__ == "__main__":
    main()
