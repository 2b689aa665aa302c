"""Correspondences on real pairs through the HTTP API, as curves over scale and rotation and in
clutter, beside OpenCV SIFT (detect, describe, mutual ratio test, RANSAC) on the same images.

    python -m eval.robustness                 # the validation pairs: choose designs here
    python -m eval.robustness --heldback      # the held-back pairs: judge, once a design is chosen
    python -m eval.robustness --exposure      # the validation scenes with image b darker or washed out
    python -m eval.robustness --degraded      # the same with b blurred, streaked, noisy or JPEG-compressed
    python -m eval.robustness --clutter       # objects in clutter, 0.71x to 0.25x, among other photos too
    python -m eval.robustness --viewpoint     # the scenes with image b seen 20 to 70 degrees from the side
    python -m eval.robustness --overlap       # windows of the scenes' two images sharing 75 % to 10 %
    python -m eval.robustness --framed        # the scenes with image b in a wide white or black frame

Each case is a real pair (``models.data.pairs``) with a known similarity added to image b (zoomed
0.25x to 4x, turned through a full circle) or image a cut down to an object found in image b at
half scale among everything else (clutter), and a cube moved by hand (a 3-D object, geometry=fundamental).
For every method: whether the homography it returns
(geometry=homography) is correct (its median error over a grid of a's points under 5 px), how many
of the matches it verified lie within 5 px of the truth, and that share (MMA@5px; among all the
matches returned too); and for keypoint transfer
(its defaults), the share of 100 points of a, visible in b, that land within 5 px of the truth.
"""
from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import zlib
from collections import Counter
from dataclasses import dataclass, replace

import cv2
import httpx
import numpy as np

from eval import machine
from eval.latency import serve
from eval.results import with_settings, write_section
from models.data import pairs
from models.data.photos import LOMIRI_VAL
from models.data.photos import load as load_photo
from service import matching

TOL = 5.0
ZOOMS = (0.25, 0.35, 0.5, 0.71, 1.0, 1.41, 2.0, 2.83, 4.0)
TURNS = (0, 45, 90, 135, 180, 225, 270, 315)
PLANES = ("cube-40", "text", "leuven", "suzanne")  # the validation scenes a homography holds on
METHODS = ("sparse", "dense", "SIFT")
POINTS = 100  # transferred points a case


@dataclass
class Outcome:
    homography_ok: bool | None  # None: the pair has no homography (a 3-D object), a fundamental matrix was asked
    correct: int  # verified matches within TOL of the truth
    verified: int  # matches the homography kept (all of them when there is none)
    mma_all: float  # the share within TOL of every match returned
    model: str = ""  # the network that answered (the API's answers name it)
    error: float | None = None  # px: the homography's median error over a grid of a's points (``grid_error``)

    @property
    def mma(self) -> float:
        return self.correct / self.verified if self.verified else 0.0

    def cell(self) -> str:
        said = "-" if self.homography_ok is None else "yes" if self.homography_ok else "no"
        if self.error is not None and np.isfinite(self.error):
            said += f" ({self.error:.{1 if self.error < TOL else 0}f} px)"
        return (f"{said}, {self.correct}, {100 * self.mma:.0f} % "
                f"({100 * self.mma_all:.0f} %)")


def grid_error(h: np.ndarray, truth, shape: tuple[int, ...]) -> float:
    """The median distance (px) from where the homography ``h`` puts a grid of image a (``shape``)
    to ``truth`` (points (N, 2) -> their places in b (N, 2), known (N,) bool), where it is known;
    inf where it is known nowhere."""
    gy, gx = np.mgrid[0:shape[0]:16, 0:shape[1]:16]
    grid = np.c_[gx.ravel(), gy.ravel()].astype(np.float64)
    t, inside = truth(grid)
    err = np.linalg.norm(matching.project(h, grid) - t, axis=1)[inside]
    return float(np.median(err)) if len(err) else np.inf


def precision(rows: list, method: str) -> str:
    """The median over the cases of the grid error of ``method``'s correct homographies."""
    errors = [r[method].error for _, r, _ in rows if r[method].homography_ok and r[method].error is not None]
    return f"{np.median(errors):.2f} px" if errors else "-"


def homography_right(h: np.ndarray, truth, shape: tuple[int, ...]) -> bool:
    """Whether the homography ``h`` puts a grid of image a within TOL px of ``truth`` (``grid_error``)."""
    return grid_error(h, truth, shape) < TOL


def judge(pair: pairs.Pair, xy_a: np.ndarray, xy_b: np.ndarray, h: np.ndarray | None,
          inliers: np.ndarray | None) -> Outcome:
    truth, known = pair.truth(xy_a) if len(xy_a) else (np.zeros((0, 2)), np.zeros(0, bool))
    right = known & (np.linalg.norm(truth - xy_b, axis=1) < TOL) if len(xy_a) else np.zeros(0, bool)
    judged = np.isfinite(truth).all(1)  # NaN: no truth there (off the plane), neither right nor wrong
    kept = (inliers if h is not None and inliers is not None else np.ones(len(right), bool)) & judged
    ok, error = None if pair.homography is None else False, None
    if h is not None and pair.homography is not None:
        error = grid_error(np.asarray(h), pair.truth, pair.a.shape)
        ok = error < TOL
    return Outcome(ok, int(right[kept].sum()), int(kept.sum()), float(right[judged].mean()) if judged.any() else 0.0,
                   error=error)


def answered_by(rows: list, methods: tuple[str, ...]) -> str:
    """A line of how many cases each network answered, per method of the API, where more than one
    did (a sparse answer in doubt is given again by the default descriptor: SPARSE_FAST_MODEL)."""
    told = []
    for m in methods:
        counts = Counter(r[m].model for _, r, _ in rows if r[m].model)
        if len(counts) > 1:
            told.append(f"{m}, " + ", ".join(f"{name} {n}" for name, n in counts.most_common()))
    return f"\nAnswers by network: {'; '.join(told)}.\n" if told else ""


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def form(sent: dict, data: dict) -> dict:
    """A request's fields: the images as files, or their ids as form fields (``by_ids``)."""
    files = {k: v for k, v in sent.items() if isinstance(v, tuple)}
    return {"files": files or None, "data": data | {k: v for k, v in sent.items() if not isinstance(v, tuple)}}


def uploads(pair: pairs.Pair) -> dict[str, tuple[str, bytes]]:
    """The pair's two images as the API's multipart fields, encoded once for every request."""
    return images(pair.a, pair.b)


def images(a: np.ndarray, b: np.ndarray) -> dict[str, tuple[str, bytes]]:
    """Two images as the API's multipart fields (``uploads``, for images that are no pair)."""
    return {"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))}


def by_ids(client: httpx.Client, sent: dict, method: str | None = None) -> dict[str, str]:
    """The pair sent once to /v1/images (both kinds of features, or ``method``'s): the ids to name
    it by instead of its bytes (``--by-id``)."""
    ids = {}
    for field, upload in sent.items():
        r = client.post("/v1/images", files={"image": upload}, data={"method": method} if method else None)
        r.raise_for_status()
        ids[f"{field}_id"] = r.json()["image_id"]
    return ids


def api(client: httpx.Client, pair: pairs.Pair, sent: dict, method: str, extra: dict | None = None) -> Outcome:
    geometry = pair.geometry
    data = {"method": method, "geometry": geometry} | (extra or {})
    r = client.post("/v1/correspondences", **form(sent, data))
    r.raise_for_status()
    body = r.json()
    m = body["matches"]
    xa = np.array([[x["xa"], x["ya"]] for x in m], np.float64).reshape(-1, 2)
    xb = np.array([[x["xb"], x["yb"]] for x in m], np.float64).reshape(-1, 2)
    found = judge(pair, xa, xb, body.get(geometry), np.asarray(body.get("inliers", []), bool))
    return replace(found, model=body["model"])


def visible_points(pair: pairs.Pair, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Up to n random points of a whose truth is known and inside b, and that truth."""
    h, w = pair.a.shape
    pts = np.c_[rng.uniform(2, w - 3, 20 * n), rng.uniform(2, h - 3, 20 * n)]
    t, ok = pair.truth(pts)
    ok &= matching.within(t, pair.b.shape[1], pair.b.shape[0])
    return pts[ok][:n], t[ok][:n]


def case_rng(label: str, draw: int = 0) -> np.random.Generator:
    """The generator of a case's transfer points, seeded by its name: adding or leaving out other
    cases (``--only``, a new pair) leaves each case's points as they were. ``draw`` > 0: another
    draw of them (``--draw``), to see how much a case's share owes to which points were drawn."""
    name = zlib.crc32(label.encode())
    return np.random.default_rng([name, draw] if draw else name)


def transferred(client: httpx.Client, pair: pairs.Pair, sent: dict,
                rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint transfer (its defaults) of points whose truth lies in image b: each point's
    distance from its truth (K,) and its confidence (K,), NaN where it carries none."""
    pts, t = visible_points(pair, POINTS, rng)
    r = client.post("/v1/keypoints/transfer", **form(sent, {"keypoints": json.dumps(pts.tolist())}))
    r.raise_for_status()
    points = r.json()["keypoints"]
    got = np.array([[k["x"], k["y"]] for k in points])
    conf = np.array([np.nan if k.get("confidence") is None else k["confidence"] for k in points], float)
    return np.linalg.norm(got - t, axis=1), conf


def transfer(client: httpx.Client, pair: pairs.Pair, sent: dict, rng: np.random.Generator) -> str:
    """Keypoint transfer of points whose truth lies in image b: the share within 5 px."""
    err, _ = transferred(client, pair, sent, rng)
    return f"{100 * (err < TOL).mean():.0f} %"


def mutual_ratio(ka: tuple, da: np.ndarray, kb: tuple, db: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """OpenCV keypoints and descriptors of two images matched as SIFT's baseline is: mutual nearest
    neighbours passing Lowe's 0.8. -> (places (M, 2) in a, in b)."""
    fwd = cv2.BFMatcher().knnMatch(da, db, k=2)
    back = {m.queryIdx: m.trainIdx for m in cv2.BFMatcher().match(db, da)}
    keep = [m for m, n in fwd if m.distance < 0.8 * n.distance and back.get(m.trainIdx) == m.queryIdx]
    return (np.float64([ka[m.queryIdx].pt for m in keep]).reshape(-1, 2),
            np.float64([kb[m.trainIdx].pt for m in keep]).reshape(-1, 2))


def sift(pair: pairs.Pair) -> Outcome:
    """OpenCV SIFT: 4000 keypoints an image, mutual nearest neighbours with Lowe's 0.8, RANSAC."""
    det = cv2.SIFT_create(4000)
    ka, da = det.detectAndCompute(pair.a, None)
    kb, db = det.detectAndCompute(pair.b, None)
    if da is None or db is None or len(da) < 2 or len(db) < 2:
        return Outcome(False, 0, 0, 0.0)
    xa, xb = mutual_ratio(ka, da, kb, db)
    h, mask = None, None
    if len(xa) >= 8 and pair.geometry == "fundamental":
        h, mask = cv2.findFundamentalMat(xa, xb, cv2.FM_RANSAC, 4.0, 0.999, 2000)
    elif len(xa) >= 8:
        h, mask = cv2.findHomography(xa, xb, cv2.RANSAC, 4.0, maxIters=2000, confidence=0.999)
    return judge(pair, xa, xb, h, None if mask is None else mask.ravel().astype(bool))


def cases(names: tuple[str, ...], stereo: tuple[str, ...], clutter: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    out = []
    for name in names:
        base = pairs.load(name)
        out += [(f"{name} zoom x{s:g}", pairs.zoomed(base, s)) for s in ZOOMS]
        out += [(f"{name} turned {t} deg", pairs.rotated(base, t)) for t in TURNS[1:]]
    out += [(f"{name} object at half scale in clutter", pairs.in_clutter(pairs.load(name))) for name in clutter]
    out += [(f"{name} (as is)", pairs.load(name)) for name in stereo]
    return out


def validation_cases() -> list[tuple[str, pairs.Pair]]:
    return cases(PLANES, ("cube-79",), ("cube-40", "cube-79", "leuven")) + [
        ("cube moved by hand, frame 0 -> 100 (3-D object, as is)", pairs.load("cube-object-100")),
        ("cube moved by hand, frame 0 -> 150 (3-D object, as is)", pairs.load("cube-object"))]


EXPOSURES = ((0.5, 0), (0.25, 0), (0.12, 0), (0.06, 0), (0.3, 150))  # b's grey levels: gain, offset


def exposure_cases() -> list[tuple[str, pairs.Pair]]:
    """The validation scenes with image b darker (a gain) or washed out (a gain and a lift), plus
    a sensor's noise: ``pairs.exposed``."""
    return [(f"{name} b at {100 * g:g} % brightness" + (f" + {o}" if o else ""), pairs.exposed(pairs.load(name), g, o))
            for name in ("cube-40", "text", "leuven") for g, o in EXPOSURES]


DEGRADATIONS = (("blur", 1.5, "out of focus, sigma 1.5 px"), ("blur", 3, "out of focus, sigma 3 px"),
                ("blur", 5, "out of focus, sigma 5 px"), ("motion", 9, "moved while exposed, a 9 px streak"),
                ("motion", 21, "moved while exposed, a 21 px streak"), ("noise", 8, "noise of 8 grey levels"),
                ("noise", 20, "noise of 20 grey levels"), ("jpeg", 40, "JPEG quality 40"),
                ("jpeg", 15, "JPEG quality 15"), ("jpeg", 5, "JPEG quality 5"))


def degraded_cases(names: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    """The scenes with image b blurred, streaked, noisy or JPEG-compressed (``pairs.degraded``)."""
    return [(f"{name} b {words}", pairs.degraded(pairs.load(name), kind, level))
            for name in names for kind, level, words in DEGRADATIONS]


TILTS = (20, 40, 50, 60, 70)  # degrees: b seen from the side (``pairs.tilted``)


def viewpoint_cases(names: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    """The scenes with image b seen from the side, as a camera walking past it sees a facade:
    ``pairs.tilted`` by each of TILTS."""
    return [(f"{name} b seen {t} deg from the side", pairs.tilted(pairs.load(name), t))
            for name in names for t in TILTS]


OVERLAPS = (0.75, 0.5, 0.3, 0.2, 0.1)  # the share of a's window shown in b's (``pairs.overlapping``)


def overlap_cases(names: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    """The scenes as a panorama's or a video's neighbours: half of a against half of b, sharing
    each of OVERLAPS (``pairs.overlapping``; the case names the share reached)."""
    out = []
    for name in names:
        base = pairs.load(name)
        for share in OVERLAPS:
            p = pairs.overlapping(base, share)
            out.append((f"{name} halves sharing {100 * float(p.name.rsplit('overlap', 1)[1]):.0f} %", p))
    return out


FRAMES = (0.25, 0.5, 1.0)  # b's frame, a share of its sides wide on each (``pairs.framed``)


def framed_cases(names: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    """The scenes with b sent in a white or a black frame as wide as each of FRAMES of its sides:
    a margin the dense network's per-image standardisation takes in, and at 1.0 an image three
    times b's size, shrunk to the working size as a whole."""
    return [(f"{name} b in a {'white' if grey else 'black'} frame {s:g} of its sides wide", pairs.framed(
        pairs.load(name), s, grey)) for name in names for grey in (255, 0) for s in FRAMES]


# what a run's section is about, by its kind of case
AXES = {"": "scale, rotation, clutter",
        "exposure": "exposure (image b darker or washed out, with a sensor's noise of 2 grey levels)",
        "clutter": "an object in clutter, by its scale", "degraded": "blur, motion, noise and JPEG (image b spoiled)",
        "viewpoint": "viewpoint (image b a print seen from the side, by a camera two of its sides away)",
        "overlap": "partial overlap (half of each image, sharing 75 % to 10 % of a's half)",
        "framed": "image b sent in a wide white or black frame"}
CLUTTER_SCALES = (0.71, 0.5, 0.35, 0.25)
AMONG_SCALES = (0.5, 0.35, 0.25)


def clutter_cases(names: tuple[str, ...]) -> list[tuple[str, pairs.Pair]]:
    """Each scene's object (``pairs.OBJECT``, 0.45 of a's sides) found in all of image b shrunk by
    each of CLUTTER_SCALES, among everything else b shows; at half scale turned a quarter; and
    b shrunk by each of AMONG_SCALES pasted among four other photos (``pairs.among_others``:
    lomiri-wallpapers' validation photos) on a canvas of b's own size."""
    others = [load_photo(n) for n in LOMIRI_VAL[:4]]
    out = []
    for name in names:
        base = pairs.load(name)
        out += [(f"{name} object at {s:g}x in clutter", pairs.in_clutter(base, scale=s)) for s in CLUTTER_SCALES]
        out.append((f"{name} object at 0.5x in clutter, turned 90 deg", pairs.rotated(pairs.in_clutter(base), 90)))
        out += [(f"{name} object at {s:g}x among other photos",
                 pairs.among_others(pairs.in_clutter(base, scale=s), base.b.shape, others)) for s in AMONG_SCALES]
    return out


def heldback_cases() -> list[tuple[str, pairs.Pair]]:
    return cases(("graf",), (), ()) + [("box -> box_in_scene (as is)", pairs.load("box")),
                                       ("aero (as is)", pairs.load("aero"))]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--heldback", action="store_true", help="the held-back pairs instead of the validation ones")
    ap.add_argument("--exposure", action="store_true", help="the validation scenes, image b darker or washed out")
    ap.add_argument("--degraded", action="store_true",
                    help="the scenes with b blurred, streaked, noisy or JPEG-compressed (held back: graf)")
    ap.add_argument("--clutter", action="store_true", help="objects in clutter by scale (held back: graf's)")
    ap.add_argument("--viewpoint", action="store_true", help="the scenes with b seen from the side (held back: graf)")
    ap.add_argument("--overlap", action="store_true", help="halves of the scenes' images sharing 75 %% to 10 %% "
                    "(held back: graf)")
    ap.add_argument("--framed", action="store_true", help="the scenes with b in a white or black frame "
                    "(held back: graf)")
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--ratio", type=float, default=None, help="the API's ratio test (default: each method's)")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the server, e.g. SPARSE_KEYPOINTS=1000 (to compare designs)")
    ap.add_argument("--only", default="", help="comma-separated words: keep the cases whose name has one")
    ap.add_argument("--methods", default=",".join(METHODS), help="comma-separated, of " + ", ".join(METHODS))
    ap.add_argument("--by-id", action="store_true",
                    help="send each image once to /v1/images and name it by its id in every request")
    ap.add_argument("--draw", type=int, default=0, help="another draw of the transfer's points (0: the tables'; "
                    "others are not written)")
    a = ap.parse_args()
    methods = tuple(m for m in METHODS if m in a.methods.split(","))
    # one kind of case a run (exposure has no held-back cases): it picks the cases and names the section
    mode = ("clutter" if a.clutter else "degraded" if a.degraded else "viewpoint" if a.viewpoint
            else "overlap" if a.overlap else "framed" if a.framed
            else "exposure" if a.exposure and not a.heldback else "")
    todo = {"clutter": lambda: clutter_cases(("graf",) if a.heldback else ("cube-40", "cube-79", "leuven")),
            "degraded": lambda: degraded_cases(("graf",) if a.heldback else ("cube-40", "text", "leuven")),
            "viewpoint": lambda: viewpoint_cases(("graf",) if a.heldback else PLANES),
            "overlap": lambda: overlap_cases(("graf",) if a.heldback else PLANES),
            "framed": lambda: framed_cases(("graf",) if a.heldback else PLANES),
            "exposure": exposure_cases,
            "": lambda: heldback_cases() if a.heldback else validation_cases()}[mode]()
    if a.only:
        todo = [(label, p) for label, p in todo if any(w in label for w in a.only.split(","))]
    extra = {"ratio": str(a.ratio)} if a.ratio else {}
    proc, url = serve({"PATH": os.environ.get("PATH", "")} | dict(kv.split("=", 1) for kv in a.setting))
    rows = []
    try:
        with httpx.Client(base_url=url, timeout=300) as client:
            for label, pair in todo:
                sent = by_ids(client, uploads(pair)) if a.by_id else uploads(pair)
                got = {m: (sift(pair) if m == "SIFT" else api(client, pair, sent, m, extra)) for m in methods}
                moved = transfer(client, pair, sent, case_rng(label, a.draw))
                rows.append((label, got, moved))
                print(label, " | ".join(f"{m}: {o.cell()}" for m, o in got.items()), "| transfer", moved, flush=True)
    finally:
        proc.terminate()
        proc.wait(10)
    planes = [r for r in rows if r[1][methods[0]].homography_ok is not None]
    totals = {m: sum(r[m].homography_ok for _, r, _ in planes) for m in methods}
    command = "python -m eval.robustness " + shlex.join(sys.argv[1:])
    table = ("| case | " + " | ".join(methods) + " | transfer within 5 px |\n|---|" + "---|" * (len(methods) + 1)
             + "\n" + "".join(f"| {label} | " + " | ".join(r[m].cell() for m in methods) + f" | {t} |\n"
                              for label, r, t in rows)
             + "| correct homographies | " + " | ".join(f"{totals[m]} of {len(planes)}" for m in methods) + " | |\n"
             + "| their median error | " + " | ".join(precision(planes, m) for m in methods) + " | |\n")
    table += answered_by(rows, methods)
    print(table)
    share = np.mean([float(t.rstrip(" %")) for _, _, t in rows])
    print(f"transfer within {TOL:g} px over the {len(rows)} cases: {share:.1f} %")
    if not a.no_write and not (a.ratio or a.only or a.draw) and (a.setting or methods == METHODS):
        # the defaults own one section; each set of settings writes its own beside it
        which = "held-back" if a.heldback else "validation"
        name, title = with_settings(f"robustness-{which}" + (f"-{mode}" if mode else "") + "-by-id" * a.by_id,
                                    f"## Correspondences on real {which} pairs: {AXES[mode]}"
                                    + ", the images named by their ids from /v1/images" * a.by_id, a.setting)
        write_section(name, f"{title}\n\n"
                      f"`{command}` {machine.describe()}\n\n"
                      "Each cell: the homography correct (median error over a grid of a's points "
                      f"under {TOL:g} px; that error in brackets); of the matches it verified (its inliers: "
                      "RANSAC's, and for sparse the keypoint pairs the homography explains besides), how many lie "
                      f"within {TOL:g} px of the truth and their share (MMA@{TOL:g}px); in brackets the share among "
                      "all the matches returned. Matches where the truth is unknown ("
                      + ("graf1 below a ledge near its bottom edge, off the plane of the homography shipped with "
                         "the pair: `eval.truth`" if a.heldback else
                         "the die standing on the cube sequence's posters, and what it hides")
                      + ") count neither way. "
                      + ("The cube moved by hand is a 3-D object: no homography (-), a fundamental matrix asked "
                         "for and its inliers counted; off the cube there is no truth. " if len(planes) < len(rows)
                         else "") + "Through the HTTP API" + (", each image sent once to /v1/images and named by its "
                                                               "id" if a.by_id else "")
                      + f"; SIFT in process.\n\n{table}")


if __name__ == "__main__":
    main()
