"""Whether chance passes through image a's copies seen from the side (``service.side_views``), and
what they cost: ``eval.dense_chance``'s ordered pairs of unrelated photos (the validation scenes'
images and lomiri's validation photos, 640 px wide) asked of /v1/correspondences with
method=sparse and geometry=auto, with SPARSE_SIDE_VIEWS on (the default) and off. No geometry is
right between them, and every one of them asks for the copies where a as it is fits none.

    python -m eval.side_views
    python -m eval.side_views --guided

``--guided``: the requests that take a guide from the sparse matches instead (method=dense
correspondences, keypoint transfer, /v1/align), each on every fourth of those pairs: how often a
guide was found, how often in a copy, and the time the copies add.

In process, the defaults otherwise but for a feature cache that holds nothing: the time is each
request's cold, decoding and every image's features (the copies' too) included.
What the copies find where a plane is seen from the side: ``python -m eval.robustness --viewpoint``
beside ``--viewpoint --setting SPARSE_SIDE_VIEWS=false``.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from fastapi.testclient import TestClient

from eval import machine
from eval.dense_chance import unrelated
from eval.results import published
from eval.robustness import png
from service.config import Settings
from service.main import create_app

CACHE_OFF = 1  # bytes: nothing fits, so each request computes every image's features (its copies' too)
EVERY = 4  # --guided: every fourth pair


@dataclass(frozen=True)
class Route:
    path: str
    data: Callable[[np.ndarray], dict]  # the form's fields for image a
    found: Callable[[dict], bool]  # whether the answer verified or was guided by a geometry
    what: str  # what ``found`` counts, for the table


def points(a: np.ndarray) -> dict:
    """12 points of image a on a grid, its border left out."""
    h, w = a.shape[:2]
    return {"keypoints": json.dumps([[x * w / 5, y * h / 4] for x in range(1, 5) for y in range(1, 4)])}


SPARSE = Route("/v1/correspondences", lambda _: {"method": "sparse", "geometry": "auto"},
               lambda b: bool(b.get("geometry")), "geometry verified")
GUIDED = {
    "correspondences, method=dense": Route("/v1/correspondences", lambda _: {"method": "dense", "geometry": "auto"},
                                           lambda b: b.get("prealigned") is not None, "pre-aligned"),
    "keypoints/transfer": Route("/v1/keypoints/transfer", points, lambda b: b["guidance"] != "none", "guided"),
    "align": Route("/v1/align", lambda _: {}, lambda b: b.get("one_scene") is True, "one scene"),
}


def asked(views: bool, pairs: list[tuple[np.ndarray, np.ndarray]], route: Route = SPARSE
          ) -> tuple[list[dict], list[float]]:
    """Each pair's answer and its time (ms) on a server with SPARSE_SIDE_VIEWS ``views``."""
    bodies, times = [], []
    with TestClient(create_app(Settings(sparse_side_views=views, cache_max_bytes=CACHE_OFF))) as client:
        for a, b in pairs:
            t0 = time.perf_counter()
            r = client.post(route.path, files={"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))},
                            data=route.data(a))
            times.append(1e3 * (time.perf_counter() - t0))
            r.raise_for_status()
            bodies.append(r.json())
    return bodies, times


def sparse_rows(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    rows = []
    for views in (True, False):
        bodies, times = asked(views, pairs)
        found = [b for b in bodies if b.get("geometry")]
        most = max((sum(b.get("inliers") or []) for b in found), default=0)
        rows.append(f"| {'on' if views else 'off'} | {len(bodies)} | {len(found)} | "
                    f"{sum('seen_from_side' in b for b in found)} | {most} | {np.median(times):.0f} ms | "
                    f"{np.percentile(times, 90):.0f} ms |")
        print(rows[-1], flush=True)
    return rows


def guided_rows(pairs: list[tuple[np.ndarray, np.ndarray]]) -> list[str]:
    rows = []
    for name, route in GUIDED.items():
        for views in (True, False):
            bodies, times = asked(views, pairs, route)
            rows.append(f"| {name} | {'on' if views else 'off'} | {len(bodies)} | {route.what}: "
                        f"{sum(map(route.found, bodies))} | {sum(b.get('seen_from_side') is not None for b in bodies)}"
                        f" | {np.median(times):.0f} ms | {np.percentile(times, 90):.0f} ms |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--guided", action="store_true", help="dense correspondences, transfer and align instead")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    pairs = unrelated()
    command = "python -m eval.side_views " + shlex.join(sys.argv[1:])
    common = ("Ordered pairs of unrelated photos (each of the validation scenes' images and lomiri-wallpapers' "
              "validation photos at 640 px wide, against every other not of its own scene)")
    timed = ("Time: each request's cold (a feature cache that holds nothing), decoding and every image's features "
             "included.")
    if not a.guided:
        text = ("## method=sparse: image a seen from the side, between unrelated photos\n\n"
                f"`{command.strip()}` {machine.describe()}\n\n"
                f"{common} asked with method=sparse, geometry=auto, in process: every geometry verified is wrong. "
                "With SPARSE_SIDE_VIEWS on, each answer that verifies none asks again with image a's four copies "
                f"squeezed twice across (`service.side_views`). {timed}\n\n"
                "| SPARSE_SIDE_VIEWS | pairs | geometry verified | from a copy | most inliers | median time | "
                "90th percentile |\n|---|---|---|---|---|---|---|\n" + "\n".join(sparse_rows(pairs)) + "\n")
        published("side-views-chance", text, not a.no_write)
        return
    text = ("## Guided requests: image a seen from the side, between unrelated photos\n\n"
            f"`{command.strip()}` {machine.describe()}\n\n"
            f"Every {EVERY}th of the {common.lower()}, asked in process of the requests that take their guide from "
            "the sparse matches (geometry=auto where asked; transfer: 12 points of a on a grid): every guide is wrong. "
            "Where the sparse matches of a as it is fit none, SPARSE_SIDE_VIEWS on fits them in a's four copies "
            f"(`service.side_views`) too. Found: the dense answer pre-aligned, the points guided, the alignment's "
            f"images said to show one scene. {timed}\n\n"
            "| request | SPARSE_SIDE_VIEWS | pairs | found | from a copy | median time | 90th percentile |\n"
            "|---|---|---|---|---|---|---|\n" + "\n".join(guided_rows(pairs[::EVERY])) + "\n")
    published("side-views-chance-guided", text, not a.no_write)


if __name__ == "__main__":
    main()
