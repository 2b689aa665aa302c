"""What chance gives a dense geometry: the inliers of RANSAC's fits between unrelated photos and on
the validation pairs, counted as they come and once per block of ``matching.APART_CELLS`` feature
cells of image a (``matching.independent``).

    python -m eval.dense_chance

Unrelated: each of the validation scenes' images (a and b of five scenes) and lomiri-wallpapers'
validation photos, at 640 px wide, against every other that is not its own scene's; related: the
validation pairs of ``eval.robustness`` and its objects in clutter and among other photos. Each pair
asked of ``/v1/correspondences`` with method=dense, geometry=auto, in process with the defaults; an
answer's inliers are RANSAC's whether or not they verified its geometry.
"""
from __future__ import annotations

import argparse
import functools
import itertools
import json
import shlex
import sys

import cv2
import numpy as np
from fastapi.testclient import TestClient

from eval import machine
from eval.results import published
from eval.robustness import clutter_cases, homography_right, png, validation_cases
from models.data import pairs, photos
from service import matching
from service.config import Settings
from service.feature_map import working_size

SCENES = ("cube-40", "text", "leuven", "aloe", "suzanne")
WIDTH = 640


def unrelated() -> list[tuple[np.ndarray, np.ndarray]]:
    """Every ordered pair of the scenes' images and the validation photos but a scene's own two."""
    loaded = [pairs.load(n) for n in SCENES]
    images = [(i, p.a) for i, p in enumerate(loaded)] + [(i, p.b) for i, p in enumerate(loaded)]
    images += [(len(SCENES) + k, photos.to_grey(photos.load(n))) for k, n in enumerate(photos.LOMIRI_VAL)]
    images = [(s, cv2.resize(im, (WIDTH, round(WIDTH * im.shape[0] / im.shape[1])), interpolation=cv2.INTER_AREA))
              for s, im in images]
    return [(a, b) for (sa, a), (sb, b) in itertools.permutations(images, 2) if sa != sb]


def ask(client: TestClient, a: np.ndarray, b: np.ndarray) -> dict:
    r = client.post("/v1/correspondences", files={"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))},
                    data={"method": "dense", "geometry": "auto"})
    r.raise_for_status()
    return r.json()


@functools.cache
def dense_served() -> tuple[int, int]:
    """The long side the service's dense network sees an image at (DENSE_MAX_SIDE) and its stride
    (the manifest's), read once."""
    settings = Settings()
    entries = json.loads((settings.models_dir / "manifest.json").read_text())["models"]
    return settings.dense_max_side, next(e["stride"] for e in entries if e["name"] == settings.default_dense_model)


def counted(body: dict, a: np.ndarray) -> tuple[int, int, bool]:
    """(RANSAC's inliers, the blocks of a they fall in, whether as many inliers alone would have
    verified the answer's geometry: ``matching.found`` without the blocks)."""
    inliers = np.array(body.get("inliers") or [], bool)
    xy = np.array([[m["xa"], m["ya"]] for m in body["matches"]], np.float32).reshape(-1, 2)
    max_side, stride = dense_served()
    seen = working_size(*a.shape, max_side)  # as the service sees a
    m = matching.Matches(xy, xy, np.ones(len(xy), np.float32), apart=matching.apart_in(stride, seen[1] / a.shape[0]))
    kind = body.get("geometry") or "homography"
    alone = len(inliers) > 0 and matching.found(kind, inliers)
    return int(inliers.sum()), matching.independent(inliers, m) if inliers.any() else 0, alone


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    from service.main import create_app

    rows = []
    with TestClient(create_app(Settings())) as client:
        related = [p for _, p in validation_cases() + clutter_cases(("cube-40", "text", "leuven", "suzanne"))]
        for name, cases in (("related: validation pairs, objects in clutter and among other photos",
                             [(p.a, p.b, p) for p in related]),
                            ("unrelated: validation images and photos", [(a, b, None) for a, b in unrelated()])):
            served, right, alone, fewest, most = 0, 0, 0, [], []
            for a, b, pair in cases:
                body = ask(client, a, b)
                n, blocks, by_count = counted(body, a)
                alone += by_count
                if pair is None:  # every geometry is chance's
                    most += [blocks] if by_count else []
                    served += body.get("geometry") is not None
                    continue
                if body.get("geometry") is None:
                    continue
                served += 1
                ok = pair.homography is None or body["geometry"] != "homography" or \
                    homography_right(np.array(body["homography"]), pair.truth, pair.a.shape)
                right += ok
                fewest += [blocks] if ok else []
            rows.append(f"| {name} | {len(cases)} | {alone} | {served} | {right} | "
                        f"{min(fewest, default='-')} | {max(most, default='-')} |")
    command = "python -m eval.dense_chance " + shlex.join(sys.argv[1:])
    lines = ["## method=dense: a geometry's inliers counted once per block of feature cells\n",
             f"`{command.strip()}` {machine.describe()}\n",
             "Dense matches are cells of a's feature map, and neighbouring cells see nearly the same pixels: a patch "
             "matched by mistake brings a coherent blob of its neighbours along, which any homography fits. Each "
             "pair asked with method=dense, geometry=auto; *verified on the count alone*: the answers whose "
             f"RANSAC inliers number chance's {matching.CHANCE_INLIERS['homography']} (30 for a fundamental matrix) "
             "and a tenth of the matches, as every match counted before; *verified as served*: the same, counting "
             f"the inliers once per block of {matching.APART_CELLS} x {matching.APART_CELLS} feature cells of image "
             "a as well. Right: a homography within 3 px of the truth over a's grid (pairs with depth: a geometry "
             "verified), never between unrelated images. Blocks: those the inliers fall in, the fewest of a right "
             "answer's and the most of a chance fit's that the count alone verified.\n",
             "| pairs | asked | verified on the count alone | verified as served | right | blocks, right (fewest) "
             "| blocks, chance (most) |", "|---|---|---|---|---|---|---|", *rows]
    published("dense-chance", "\n".join(lines) + "\n", not args.no_write)


if __name__ == "__main__":
    main()
