"""Whether chance passes through image a's copies seen from the side (``service.side_views``), and
what they cost: ``eval.dense_chance``'s ordered pairs of unrelated photos (the validation scenes'
images and lomiri's validation photos, 640 px wide) asked of /v1/correspondences with
method=sparse and geometry=auto, with SPARSE_SIDE_VIEWS on (the default) and off. No geometry is
right between them, and every one of them asks for the copies where a as it is fits none.

    python -m eval.side_views

In process, the defaults otherwise but for a feature cache that holds nothing: the time is each
request's cold, decoding and every image's features (the copies' too) included.
What the copies find where a plane is seen from the side: ``python -m eval.robustness --viewpoint``
beside ``--viewpoint --setting SPARSE_SIDE_VIEWS=false``.
"""
from __future__ import annotations

import argparse
import shlex
import sys
import time

import numpy as np
from fastapi.testclient import TestClient

from eval import machine
from eval.dense_chance import unrelated
from eval.results import published
from eval.robustness import png
from service.config import Settings
from service.main import create_app

CACHE_OFF = 1  # bytes: nothing fits, so each request computes every image's features (its copies' too)


def asked(views: bool, pairs: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[dict], list[float]]:
    """Each pair's answer and its time (ms) on a server with SPARSE_SIDE_VIEWS ``views``."""
    bodies, times = [], []
    with TestClient(create_app(Settings(sparse_side_views=views, cache_max_bytes=CACHE_OFF))) as client:
        for a, b in pairs:
            t0 = time.perf_counter()
            r = client.post("/v1/correspondences", files={"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))},
                            data={"method": "sparse", "geometry": "auto"})
            times.append(1e3 * (time.perf_counter() - t0))
            r.raise_for_status()
            bodies.append(r.json())
    return bodies, times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    pairs = unrelated()
    rows = []
    for views in (True, False):
        bodies, times = asked(views, pairs)
        found = [b for b in bodies if b.get("geometry")]
        most = max((sum(b.get("inliers") or []) for b in found), default=0)
        rows.append(f"| {'on' if views else 'off'} | {len(bodies)} | {len(found)} | "
                    f"{sum('seen_from_side' in b for b in found)} | {most} | {np.median(times):.0f} ms | "
                    f"{np.percentile(times, 90):.0f} ms |")
        print(rows[-1], flush=True)
    command = "python -m eval.side_views " + shlex.join(sys.argv[1:])
    text = ("## method=sparse: image a seen from the side, between unrelated photos\n\n"
            f"`{command.strip()}` {machine.describe()}\n\n"
            "Ordered pairs of unrelated photos (each of the validation scenes' images and lomiri-wallpapers' "
            "validation photos at 640 px wide, against every other not of its own scene) asked with method=sparse, "
            "geometry=auto, in process: every geometry verified is wrong. With SPARSE_SIDE_VIEWS on, each answer "
            "that verifies none asks again with image a's four copies squeezed twice across (`service.side_views`). "
            "Time: each request's cold (a feature cache that holds nothing), decoding and every image's features "
            "included.\n\n"
            "| SPARSE_SIDE_VIEWS | pairs | geometry verified | from a copy | most inliers | median time | "
            "90th percentile |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n")
    published("side-views-chance", text, not a.no_write)


if __name__ == "__main__":
    main()
