"""``corr``: the service from a shell, through the typed client (``service.client``).

    corr match a.jpg b.jpg --geometry homography --png matches.png
    corr transfer a.jpg b.jpg --points "[[120, 80], [300, 210]]" --png transfer.png
    corr align a.jpg b.jpg --warp warped.png --png alignment.png
    corr patches pairs.txt            # each line: two patch files; prints a score per line
    corr models
    corr add a.jpg b.jpg              # cache them; prints an id each, which the commands above take for a file
    corr held <id> ...                # what the service still holds under each id (or file), and for how long
    corr delete <id> ...              # drop what add cached (an id, or the file)

``--url`` (default $CORR_URL or http://127.0.0.1:8000) and ``--key`` (default $CORR_API_KEY) go
before the command. Answers print as short text; ``--json`` prints the service's numbers instead.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import cv2
import httpx
import numpy as np
from tqdm import tqdm

from service.client import CorrespondenceClient, ServiceError
from service.names import IMAGE_ID


def read(path: str) -> bytes:
    return Path(path).read_bytes()


def image(arg: str) -> bytes | str:
    """An image argument: an id from ``corr add`` (64 hex digits naming no file), else a file's bytes."""
    return arg if re.fullmatch(IMAGE_ID, arg) and not Path(arg).exists() else read(arg)


def image_id(arg: str) -> str:
    """The id of an image argument (``image``): the id itself, or the file's, which is the sha256 of
    its bytes (what ``corr add`` printed for it)."""
    found = image(arg)
    return found if isinstance(found, str) else hashlib.sha256(found).hexdigest()


# a transfer's optional fields
PER_POINT = ("confidence", "support", "in_view", "by_plane", "second_motion", "local_warp")


def listed(values: np.ndarray | None) -> list | None:
    """An array as JSON: floats to 3 places (as decimals, not float32's nearest), None where the answer
    left it out."""
    if values is None:
        return None
    return values.tolist() if values.dtype == bool else values.astype(np.float64).round(3).tolist()


def from_the_side(seen: dict | None, what: str) -> str:
    """The clause of an answer (or its guide: ``what``) found in a copy of image a seen from the side."""
    return "" if not seen else (f", {what} in a copy of image a seen from the side (squeezed {seen['tilt']:g}x "
                                f"along {seen['direction_deg']:g} deg)")


def match(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    ia, ib = image(a.image_a), image(a.image_b)
    m = c.correspondences(ia, ib, geometry=a.geometry, method=a.method, max_matches=a.max_matches)
    if a.png:
        Path(a.png).write_bytes(c.picture("/v1/correspondences", ia, ib, geometry=a.geometry, method=a.method,
                                          max_matches=a.max_matches))
    if a.json:
        print(json.dumps({"method": m.method, "network": m.network,
                          "matches": listed(np.c_[m.xy_a, m.xy_b, m.score]),
                          "geometry": m.geometry, "model": None if m.model is None else m.model.tolist(),
                          "inliers": None if m.inliers is None else m.inliers.tolist(),
                          "confidence": listed(m.confidence),
                          "one_scene": m.one_scene, "seen_from_side": m.seen_from_side, "warnings": m.warnings}))
        return
    line = f"{len(m.score)} matches ({m.method}, {m.network})"
    if m.model is not None:
        named = "fundamental matrix" if m.geometry == "fundamental" else m.geometry
        line += f", {int(m.inliers.sum())} verified by a {named}"
    found = "found" if m.method == "sparse" else "their guide found"
    print(line + from_the_side(m.seen_from_side, found) + (f"; picture: {a.png}" if a.png else ""))
    for w in m.warnings:
        print(f"warning: {w}")


def points_of(text: str) -> np.ndarray:
    """JSON [[x, y], ...] -> (K, 2), read as the service reads them (``points.read_points``; the
    service's own cap and bounds apply when it answers); otherwise the command stops with one line
    saying what to send."""
    from service.errors import InvalidInput  # here: the server's modules bring FastAPI, 0.2 s the other commands skip
    from service.points import read_points
    try:
        return read_points(text, sys.maxsize, "points").astype(float)
    except InvalidInput as exc:
        sys.exit(f"corr: the points must be JSON [[x, y], ...] ({exc})")


def transfer(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    ia, ib = image(a.image_a), image(a.image_b)
    points = points_of(Path(a.points_file).read_text() if a.points_file else a.points)
    t = c.transfer(ia, ib, points, geometry=a.geometry, method=a.method)
    if a.png:
        Path(a.png).write_bytes(c.picture("/v1/keypoints/transfer", ia, ib, keypoints=points.tolist(),
                                          geometry=a.geometry, method=a.method))
    if a.json:
        print(json.dumps({"guidance": t.guidance, "points": listed(np.c_[t.xy, t.score]),
                          "consistent": t.consistent.tolist(), "seen_from_side": t.seen_from_side}
                         | {key: listed(getattr(t, key)) for key in PER_POINT} | {"warnings": t.warnings}))
        return
    for k, (p, q, s, ok) in enumerate(zip(points, t.xy, t.score, t.consistent, strict=True)):
        print(f"({p[0]:.1f}, {p[1]:.1f}) -> ({q[0]:.1f}, {q[1]:.1f})  score {s:.3f}"
              + (f"  confidence {t.confidence[k]:.2f}" if t.confidence is not None else "")
              + (f"  support {t.support[k]:.2f}" if t.support is not None else "")
              + f"  {'consistent' if ok else 'not consistent'}"
              + ("  outside b" if t.in_view is not None and not t.in_view[k] else "")
              + ("  by the plane" if t.by_plane is not None and t.by_plane[k] else "")
              + ("  following a second motion" if t.second_motion is not None and t.second_motion[k] else "")
              + ("  by a local map" if t.local_warp is not None and t.local_warp[k] else ""))
    print(f"guided by {t.guidance}" + from_the_side(t.seen_from_side, "found"))
    for w in t.warnings:
        print(f"warning: {w}")


def align(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    ia, ib = image(a.image_a), image(a.image_b)
    out = c.align(ia, ib, warp=bool(a.warp))
    if a.warp:
        cv2.imwrite(a.warp, out["warped"])
    if a.png:
        Path(a.png).write_bytes(c.picture("/v1/align", ia, ib))
    flow = out["flow"]
    print(f"flow {flow.shape[1]}x{flow.shape[0]} cells, median displacement "
          f"{np.median(np.linalg.norm(flow, axis=2)):.1f} px, energy {out['energy']['total']:.4f}"
          + (f"; b brought onto a first (scale {out['prealigned']['scale']:g}, turned "
             f"{out['prealigned']['rotation_deg']:g} deg)" if out["prealigned"] else "")
          + from_the_side(out["seen_from_side"], "its guide found")
          + (f"; warped b: {a.warp}" if a.warp else "") + (f"; picture: {a.png}" if a.png else ""))
    for w in out["warnings"]:
        print(f"warning: {w}")


def patches(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    rows = [line.split() for line in Path(a.pairs).read_text().splitlines() if line.strip()]
    if any(len(r) != 2 for r in rows):
        sys.exit(f"{a.pairs}: each line must name two patch files")
    base = Path(a.pairs).parent
    with tqdm(total=len(rows), unit="pair", disable=not sys.stderr.isatty() and not a.progress) as bar:
        scores = c.similarity([read(str(base / x)) for x, _ in rows], [read(str(base / y)) for _, y in rows],
                              model=a.model, chunk=a.chunk, progress=bar.update)
    for (x, y), s in zip(rows, scores, strict=True):
        print(f"{s:.4f}\t{x}\t{y}")


def models(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    for m in c.models():
        default = f"  default for {', '.join(m['default_for'])}" if m["default_for"] else ""
        print(f"{m['name']}\t{m['kind']}\t{m['version']}\t{m['provider']}{default}")


def add(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    for path in a.images:
        print(f"{c.add_image(read(path))}\t{path}")


def held(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    for arg in a.ids:
        h = c.held_image(image_id(arg))
        if h is None:
            print(f"{arg}\tnothing held")
            continue
        kept, nets = "kept" if h["bytes_kept"] else "not kept", ", ".join(h["networks"]) or "no features"
        print(f"{arg}\t{nets}; bytes {kept}; expires in {h['expires_in_s']} s")


def delete(c: CorrespondenceClient, a: argparse.Namespace) -> None:
    for arg in a.ids:
        c.delete_image(image_id(arg))
        print(f"deleted {arg}")


IMAGE_ARG = "an image file, or an id from `corr add`"


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="corr", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("CORR_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--key", default=os.environ.get("CORR_API_KEY"), help="API key (or $CORR_API_KEY)")
    ap.add_argument("--timeout", type=float, default=120.0)
    sub = ap.add_subparsers(dest="command", required=True)
    m = sub.add_parser("match", help="correspondences between two images")
    m.add_argument("image_a", help=IMAGE_ARG)
    m.add_argument("image_b", help=IMAGE_ARG)
    m.add_argument("--geometry", choices=["auto", "homography", "fundamental", "none"], default="auto",
                   help="what verifies the matches; auto: the one that fits best (a homography for a plane, a "
                        "fundamental matrix for a scene with depth)")
    m.add_argument("--method", choices=["sparse", "dense"], default=None)
    m.add_argument("--max-matches", type=int, default=None)
    t = sub.add_parser("transfer", help="points of image a, found in image b")
    t.add_argument("image_a", help=IMAGE_ARG)
    t.add_argument("image_b", help=IMAGE_ARG)
    pts = t.add_mutually_exclusive_group(required=True)
    pts.add_argument("--points", help='JSON [[x, y], ...] in pixels of image a')
    pts.add_argument("--points-file", help="a file holding that JSON")
    t.add_argument("--geometry", choices=["auto", "homography", "fundamental"], default="auto",
                   help="the geometry that guides the search; fundamental for a scene with depth")
    t.add_argument("--method", choices=["nearest", "align"], default="nearest",
                   help="nearest: the guided search; align: along the MRF's dense alignment (slower)")
    al = sub.add_parser("align", help="the dense alignment of image b to image a")
    al.add_argument("image_a", help=IMAGE_ARG)
    al.add_argument("image_b", help=IMAGE_ARG)
    al.add_argument("--warp", help="write image b warped into a's frame here (PNG)")
    p = sub.add_parser("patches", help="match scores of patch pairs listed in a file")
    p.add_argument("pairs", help="a text file: two patch files a line (paths relative to it)")
    p.add_argument("--model", default=None)
    p.add_argument("--chunk", type=int, default=256, help="pairs a request")
    p.add_argument("--progress", action="store_true", help="show the progress bar even when not on a terminal")
    for cmd in (m, t, al):
        cmd.add_argument("--png", help="write the service's picture of the answer here")
    for cmd in (m, t):
        cmd.add_argument("--json", action="store_true", help="print the numbers as JSON")
    sub.add_parser("models", help="the networks the service serves")
    ad = sub.add_parser("add", help="cache images' features and bytes; prints an id for each, which the "
                                    "commands above take in place of the file, for the cache's TTL")
    ad.add_argument("images", nargs="+")
    he = sub.add_parser("held", help="what the service holds under each id (networks' features, bytes) and for "
                                     "how long")
    he.add_argument("ids", nargs="+", metavar="id", help="an id from `corr add`, or the file itself")
    de = sub.add_parser("delete", help="drop what `corr add` cached under each id")
    de.add_argument("ids", nargs="+", metavar="id", help="an id from `corr add`, or the file itself")
    return ap


def main(argv: list[str] | None = None) -> None:
    a = parser().parse_args(argv)
    run = {"match": match, "transfer": transfer, "align": align, "patches": patches, "models": models, "add": add,
           "held": held, "delete": delete}[a.command]
    try:
        with CorrespondenceClient(a.url, api_key=a.key, timeout=a.timeout) as c:
            run(c, a)
    except ServiceError as exc:
        sys.exit(f"corr: the service answered {exc.status} {exc.code}: {exc.detail}")
    except httpx.HTTPError as exc:
        sys.exit(f"corr: cannot reach the service at {a.url} ({exc.__class__.__name__}); is it running?")
    except OSError as exc:
        sys.exit(f"corr: {exc}")


if __name__ == "__main__":
    main()
