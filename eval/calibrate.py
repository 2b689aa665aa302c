"""Fit the confidence curves (``service.calibration``) on the real validation pairs, store them in
the manifest, and write the reliability tables: of the answers whose confidence falls in a bin,
the share that lay within 3 px of the truth, on the validation pairs (where the curves were fitted)
and on the held-back pairs (which judge whether they carry over).

    python -m eval.calibrate [--setting DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25 ...]
    python -m eval.calibrate --spoiled   # the stored curves read on the validation scenes' spoiled copies
    python -m eval.calibrate --as-shipped   # sparse confidence as a server with its defaults serves it
    python -m eval.calibrate --priors   # how far each curve's steps are drawn (PRIOR), on validation

Everything goes through the HTTP API of a real server with the shipped networks. With
``--setting``, the server runs with those settings, the curves are stored only on the models the
settings name (``DEFAULT_DESCRIPTOR_MODEL``: its sparse curves; ``DEFAULT_DENSE_MODEL``: its dense
ones), since other settings change what the default models' scores mean, and the tables go to a
section of their own.
"""
from __future__ import annotations

import argparse
import itertools
import json
import shlex
import sys
from collections import defaultdict

import cv2
import httpx
import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from eval import machine, robustness
from eval.latency import FIRST_TRY_OFF, served_settings, serving
from eval.results import with_settings, write_section
from models.data import grid, lenses, mire, pairs
from models.export_patch import MANIFEST
from service.calibration import WITHIN_PX
from service.correspond import NOT_PREALIGNED, SHOWN_AT
from service.keypoint_transfer import DENSE_ALONE, NOT_COPIED, extrapolated
from service.local_warp import BELOW

BINS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0 + 1e-9)
USES = ("sparse", "sparse-unexplained", "sparse-inlier", "sparse-outlier", "sparse-unverified", "dense",
        "dense-unexplained", "dense-inlier", "dense-outlier", "dense-unverified", "transfer", "transfer-fundamental",
        "transfer-inconsistent", "transfer-extrapolated", "transfer-dense", "transfer-dense-inconsistent",
        "transfer-uncopied", "transfer-uncopied-inconsistent", "transfer-align", "transfer-align-unsupported",
        *(f"dense{use}-uncopied" for use in ("", "-unexplained", "-inlier", "-outlier", "-unverified")))
# shown, not fitted, each read off the curve that serves it: the matches without a geometry whose
# matches fit none (``one_scene`` false: the curve of answers that failed to verify), and the other
# matches without a geometry between unrelated images (the method's curve, or for those the geometry
# found does not explain, their own)
SHOWN = {"sparse-no-scene": "sparse-unverified", "dense-no-scene": "dense-unverified",
         "sparse-unrelated": "sparse", "dense-unrelated": "dense", "sparse-unexplained-unrelated": "sparse-unexplained",
         "dense-unexplained-unrelated": "dense-unexplained", "transfer-align-unrelated": "transfer-align",
         "transfer-align-unsupported-unrelated": "transfer-align-unsupported",
         **{f"{shown}-uncopied": f"{use}-uncopied" for shown, use in (
             ("dense-no-scene", "dense-unverified"), ("dense-unrelated", "dense"),
             ("dense-unexplained-unrelated", "dense-unexplained"))}}
# the keypoint transfers ``collect`` can ask for, by name in its ``asks``: the defaults' and the
# MRF alignment's (``method=align``), which always answers, whatever the images show
TRANSFERS = {"transfer": {}, "align": {"method": "align"}}
# uses whose curve reads how far a point's round trip missed (``cycle_error``, px; less is better)
# instead of its score: along the MRF's fields the score told the right from the wrong little (AUC
# 0.57 among the validation transfers' consistent points), the miss much (0.84)
BY_MISS = ("transfer-align", "transfer-align-unsupported")
KNOTS = 41
# answers at a use's share right each step of its monotone fit is drawn towards (``fit``): of PRIORS,
# the one with the lowest Brier score over the validation scenes, each read off curves fitted on the
# others, averaged over the uses (``python -m eval.calibrate --priors``), or within 0.0002 of it: five
# until the plain box moved by hand joined the validation transfers, then 0.0005 above twenty's
PRIOR = 20
PRIORS = (0, 2, 5, 10, 20, 50)
MIN_ANSWERS = 20  # a use with fewer validation answers gets no curve: the service reads its fallback
# each descriptor's curves are fitted on its own answers: the fast one's first try (SPARSE_FAST_MODEL)
# is off (FIRST_TRY_OFF), and its curves come from a run that names it (--setting DEFAULT_DESCRIPTOR_MODEL=...)


def png(img: np.ndarray) -> bytes:
    return cv2.imencode(".png", img)[1].tobytes()


def scene_of(name: str) -> str:
    """A validation case's scene, by its pair's name, for fitting on some and reading on the rest:
    the cube sequence's frames are one scene, an object cut into clutter is another, and a scaled
    or turned copy is its pair's."""
    base, _, made = name.partition("@")
    if made == "clutter":
        return "clutter"
    if base in pairs.MBT_FRAMES:
        return "moved cube"
    if base.startswith("grid-"):
        return "grid"
    return "cube" if base.startswith("cube-") else base


def windows(stereo: str) -> list[pairs.Pair]:
    """The windows of a stereo pair a user might send (``pairs.CROPS``, as ``eval.depth``): parts
    of a scene with depth where a homography guides transfers as often as a fundamental matrix."""
    p = pairs.load(stereo)
    return [pairs.cropped(p, box) for box in pairs.CROPS]


def lens_pairs() -> list[pairs.Pair]:
    """One view in two lenses' projections (``models.data.lenses``): no one geometry holds, and a
    homography fitted where the projections are alike is far off beyond."""
    return [lenses.as_pair(name) for name in lenses.FILES]


def castles() -> list[pairs.Pair]:
    """The castle turned before a still camera (``pairs.castle``), at frames 20 and 29: two motions
    in one scene, the points on the one the guide does not follow wrong whatever their features say."""
    return [pairs.load(f"castle-{frame}") for frame in (20, 29)]


def boxes() -> list[pairs.Pair]:
    """The plain box moved by hand before a still camera (``models.data.mire``), its seven pairs:
    two motions again, the moving one with a handful of keypoints."""
    return [mire.parts(name)[0] for name in mire.NAMES]


def validation_cases() -> list[pairs.Pair]:
    out = []
    for name in ("cube-20", "cube-40", "cube-79", "text", "leuven"):
        p = pairs.load(name)
        out += [p, pairs.zoomed(p, 0.5), pairs.zoomed(p, 2.0), pairs.rotated(p, 90)]
    return out + [pairs.in_clutter(pairs.load("cube-40")), pairs.load("aloe"), pairs.load("cube-object"),
                  *(grid.load(name) for name in grid.NAMES)]


def ids_cases(cases: list[pairs.Pair]) -> list[pairs.Pair]:
    """The validation planes at every scale and turn (``eval.robustness``) that ``cases`` lack,
    for the transfers by ids whose bytes are not kept: there a geometry fitted to the dense matches
    alone fails most often, and the points are not searched in copies brought onto each other
    (``eval.features_only``)."""
    have = {p.name for p in cases}
    return [p for _, p in robustness.validation_cases() if p.name not in have]


def heldback_cases() -> list[pairs.Pair]:
    g = pairs.load("graf")
    return [g, pairs.zoomed(g, 0.5), pairs.rotated(g, 90), pairs.load("box"), pairs.load("aero"),
            pairs.load("motorcycle")]


def unrelated_cases(names: tuple[str, ...]) -> list[pairs.Pair]:
    """Each scene's image a against every other scene's image b: every answer wrong."""
    loaded = [pairs.load(n) for n in names]
    return [pairs.unrelated(p, q) for p, q in itertools.permutations(loaded, 2)]


# one pair of a scene: cube's frames are one scene. Four scenes in turn (four pairs) had given the
# default descriptor's curve of answers that failed to verify 65 wrong matches against the moved
# cube's 11 (6 right), and a top step of one right match that read 1 for any higher score
VALIDATION_UNRELATED = ("cube-40", "text", "leuven", "aloe", "suzanne")
HELD_BACK_UNRELATED = ("graf", "box", "aero", "motorcycle")


def collect(client: httpx.Client, cases: list[pairs.Pair], related: bool = True,
            asks: tuple[str, ...] = ("sparse", "dense", *TRANSFERS), value: str = "score",
            by_ids: dict[str | None, httpx.Client] | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{use: (raw scores, right or not)} over the cases' answers (``USES``): each method's matches
    without a geometry, then with the case's own (a homography for a plane, else a fundamental
    matrix), verified ones split into inliers and the rest, and those of answers that failed to
    verify it; the matches of answers without a geometry that fit none (``one_scene`` false) under
    "<method>-no-scene"; "sparse-ratio" holds the other unverified sparse matches' Lowe's ratios,
    and "scene" their case numbers, for ``crossed``. Cases not ``related`` (``pairs.unrelated``) put
    their other matches without a geometry under "<method>-unrelated" instead: the methods' curves
    assume one scene, and so do the MRF transfers' (``align``), whose points between them go under
    "transfer-align-unrelated" (where the answer found a scene: ``one_scene``). ``asks``: the
    methods' correspondences and the keypoint transfers (``TRANSFERS``) asked for each case.
    ``value``: what is kept of each match, its raw ``score`` (a ``BY_MISS`` use's ``cycle_error``) or
    the ``confidence`` it was served with (matches without one left out). Matches without a
    geometry that fit one are split by whether it explains them (the answer's ``explained``): those
    it does not go under "<method>-unexplained" (and "<method>-unexplained-unrelated"). With ``by_ids``
    ({method posted with: a server with KEEP_IMAGES=false}), the default transfer is asked again on
    each by ids posted there: with method=dense (features only) its guided points go under
    "transfer-dense" and "transfer-dense-inconsistent" (the geometry fitted to the dense matches
    alone); with both kinds of features (None), where b is scaled or turned, under
    "transfer-uncopied" and "transfer-uncopied-inconsistent" (not searched in copies brought onto
    each other); answered as the bytes are, they are not counted again. So are the dense
    correspondences by the ids posted with both (where b is scaled or turned and not searched in
    copies: under each of their uses with "-uncopied" added). ``asks`` "ids" and "dense-ids" ask
    for those transfers and correspondences alone."""
    got: dict[str, list] = defaultdict(list)
    rng = np.random.default_rng(0)
    for case, p in enumerate(cases):
        files = {"image_a": ("a.png", png(p.a)), "image_b": ("b.png", png(p.b))}
        geometry = p.geometry
        wanted = by_ids is not None and any(how in asks for how in ("transfer", "ids", "dense", "dense-ids"))
        ids = {method: robustness.by_ids(to, files, method) for method, to in by_ids.items()} if wanted else {}
        for method in ("sparse", "dense"):
            targets = [(client, files, {}, "")] if method in asks else []
            if method == "dense" and None in ids and ("dense" in asks or "dense-ids" in asks):
                targets.append((by_ids[None], None, ids[None], "-uncopied"))
            for (to, sent, named, variant), asked in itertools.product(targets, ("none", geometry)):
                r = to.post("/v1/correspondences", files=sent, data={**named, "method": method, "geometry": asked})
                r.raise_for_status()
                body = r.json()
                if variant and not any(w.startswith(SHOWN_AT) and NOT_PREALIGNED in w for w in body["warnings"]):
                    continue  # by ids answered as by the bytes: counted with them
                kept = [x[value] is not None for x in body["matches"]]
                m = [x for x, k in zip(body["matches"], kept, strict=True) if k]
                if not m:
                    continue
                xa = np.array([[x["xa"], x["ya"]] for x in m])
                t, known = p.truth(xa)
                right = (np.linalg.norm(t - np.array([[x["xb"], x["yb"]] for x in m]), axis=1) < WITHIN_PX)[known]
                score = np.array([x[value] for x in m])[known]
                if asked == "none" and body.get("one_scene") is False:
                    got[f"{method}-no-scene{variant}"].append((score, right))
                elif asked == "none":  # split by whether the geometry found among them explains them
                    ex = np.array([e for e, k in zip(body["explained"], kept, strict=True) if k], bool)[known]
                    tag = ("" if related else "-unrelated") + variant
                    got[method + tag].append((score[ex], right[ex]))
                    got[f"{method}-unexplained{tag}"].append((score[~ex], right[~ex]))
                    if method == "sparse" and related:
                        got["sparse-ratio"].append((np.array([x["ratio"] for x in m])[known][ex], right[ex]))
                        got["scene"].append((np.full(ex.sum(), case), right[ex]))
                elif body.get(asked) is not None:  # verified: on the geometry, and off it
                    inlier = np.array(body["inliers"], bool)[known]
                    got[f"{method}-inlier{variant}"].append((score[inlier], right[inlier]))
                    got[f"{method}-outlier{variant}"].append((score[~inlier], right[~inlier]))
                else:
                    got[f"{method}-unverified{variant}"].append((score, right))
        if not any(how in asks for how in (*TRANSFERS, "ids")):
            continue
        h, w = p.a.shape
        pts = np.c_[rng.uniform(4, w - 5, 400), rng.uniform(4, h - 5, 400)]
        t, known = p.truth(pts)
        pts, t = pts[known][:200], t[known][:200]
        ways = [(how, client, {"files": files}, TRANSFERS[how]) for how in TRANSFERS if how in asks]
        if ids and ("transfer" in asks or "ids" in asks):
            ways += [("ids", by_ids[method], {}, named) for method, named in ids.items()]
        for how, to, sent, extra in ways:
            r = to.post("/v1/keypoints/transfer", **sent, data={"keypoints": json.dumps(pts.tolist()), **extra})
            r.raise_for_status()
            body = r.json()
            own = own_curves(body["warnings"])
            if body["guidance"] == "none" or body.get("one_scene") is False or (how == "ids" and own is None):
                continue  # unguided points, and those of alignments of no scene, carry no confidence; ids
                # answered as their bytes are were counted with the bytes
            k = body["keypoints"]  # (as served, every guided point has a confidence)
            right = np.linalg.norm(t - np.array([[x["x"], x["y"]] for x in k]), axis=1) < WITHIN_PX
            use = transfer_uses(body["guidance"], np.array([bool(x.get("by_plane")) for x in k]),
                                np.array([x["consistent"] for x in k]), far_from_inliers(body), unsupported(body),
                                own)
            score = np.array([x["cycle_error" if value == "score" and u in BY_MISS else value]
                              for x, u in zip(k, use, strict=True)])
            unrelated = "-unrelated" if how == "align" and not related else ""
            for name in dict.fromkeys(use):
                got[name + unrelated].append((score[use == name], right[use == name]))
    return {u: (np.concatenate([s for s, _ in v]), np.concatenate([c for _, c in v])) for u, v in got.items()
            if v and sum(map(len, (c for _, c in v)))}


def far_from_inliers(body: dict) -> np.ndarray | None:
    """A transfer answer's points a homography fitted to a small part of image a put far from its
    inliers (``keypoint_transfer.extrapolated``, read off the answer's fields)."""
    k = body["keypoints"]

    def field(name: str) -> np.ndarray | None:
        return None if k[0].get(name) is None else np.array([x[name] for x in k])
    return extrapolated(body.get("coverage"), field("support"), field("local_warp"), field("second_motion"))


def unsupported(body: dict) -> np.ndarray | None:
    """An alignment transfer's points among sparse matches its field mostly does not explain
    (``keypoint_transfer.field_support`` under ``local_warp.BELOW``, read off the answer)."""
    k = body["keypoints"]
    return None if body["guidance"] != "align" or k[0].get("support") is None else \
        np.array([x["support"] for x in k]) < BELOW


def own_curves(warnings: list[str]) -> str | None:
    """The curves of a transfer by ids without their bytes, by what its answer warns of (as
    ``keypoint_transfer.transfer`` chooses them), or None."""
    said = " ".join(warnings)
    return "transfer-dense" if DENSE_ALONE in said else "transfer-uncopied" if NOT_COPIED in said else None


def transfer_uses(guidance: str, by_plane: np.ndarray, consistent: np.ndarray,
                  far: np.ndarray | None = None, low: np.ndarray | None = None, own: str | None = None) -> np.ndarray:
    """The curve (K,) of each of a guided transfer's points, as ``calibration.for_transfer`` and
    ``for_alignment`` read it: of those whose round trip came back, found along epipolar lines or
    put by a homography (the guide, or one beside a fundamental matrix: ``by_plane``), or put by a
    homography fitted to a small part of a far from its inliers (``far``); the others; and the
    points carried along the MRF's fields (``guidance`` "align"), their round trip's miss read on
    one curve for those among sparse matches the field explains and another for the rest (``low``);
    and every point of a transfer by ids without their bytes that reads curves of its own (``own``,
    see ``own_curves``), on one for those that came back and another for the rest."""
    if own is not None:
        return np.where(consistent, own, f"{own}-inconsistent")
    if guidance == "align":
        return np.where(low, "transfer-align-unsupported", "transfer-align") if low is not None else \
            np.full(len(consistent), "transfer-align")
    found = (guidance == "fundamental") & ~by_plane
    yes = np.where(found, "transfer-fundamental", "transfer")
    if far is not None:
        yes = np.where(far, "transfer-extrapolated", yes)
    return np.where(consistent, yes, "transfer-inconsistent")


def monotone(increasing: bool) -> IsotonicRegression:
    return IsotonicRegression(y_min=0.0, y_max=1.0, increasing=increasing, out_of_bounds="clip")


def fit(value: np.ndarray, right: np.ndarray, increasing: bool = True, prior: float = PRIOR,
        by_quantile: bool = False) -> dict[str, list[float]]:
    """A monotone curve from an answer's raw value to the share right, at ``KNOTS`` knots (evenly
    spaced, or ``by_quantile`` of the values, for a long-tailed one): isotonic
    regression, each of its steps (the answers it gives one level) then drawn towards the use's
    share right as if ``prior`` answers at that share were in it, and made monotone again. A step of
    a few answers, all right or all wrong, would otherwise read 1 or 0 (the curve of answers that
    failed to verify had read 1 above its top right match)."""
    right = np.asarray(right, float)
    _, step, n = np.unique(monotone(increasing).fit(value, right).predict(value), return_inverse=True,
                           return_counts=True)
    drawn = (np.bincount(step, weights=right) + prior * right.mean()) / (n + prior)
    centre = np.bincount(step, weights=value) / n
    level = monotone(increasing).fit(centre, drawn, sample_weight=n).predict(centre)[step]
    knots = (np.unique(np.quantile(value, np.linspace(0, 1, KNOTS)).round(5)) if by_quantile
             else np.linspace(value.min(), value.max(), KNOTS))
    p = monotone(increasing).fit(value, level).predict(knots)
    return {"score": knots.round(5).tolist(), "p": p.round(4).tolist()}


def curve_of(use: str, value: np.ndarray, right: np.ndarray, prior: float = PRIOR) -> dict[str, list[float]]:
    """``use``'s curve (``fit``): rising with the score, or for a ``BY_MISS`` use falling with the
    round trip's miss, its knots at quantiles (most misses are under a pixel, a few hundreds)."""
    return fit(value, right, use not in BY_MISS, prior, use in BY_MISS)


def scene_brier(parts: list[tuple[str, dict]], prior: float) -> dict[str, float]:
    """Each use's Brier score with every scene's answers read off a curve (``fit`` with ``prior``)
    fitted on the other scenes' answers: {use: Brier}. ``parts``: (scene, ``collect``'s answers of
    one case). A use is scored where at least MIN_ANSWERS answers are fitted on each time."""
    out = {}
    for use in USES:
        scenes = {scene for scene, got in parts if use in got}
        read, right = [], []
        for scene in scenes:
            fitted = merged(*(got for s, got in parts if s != scene and use in got)).get(use)
            if fitted is None or len(fitted[1]) < MIN_ANSWERS:
                continue
            value, ok = merged(*(got for s, got in parts if s == scene and use in got))[use]
            read.append(on_curve(curve_of(use, *fitted, prior), value))
            right.append(ok)
        if read:
            out[use] = brier_score_loss(np.concatenate(right), np.concatenate(read))
    return out


def on_curve(curve: dict[str, list[float]], value: np.ndarray) -> np.ndarray:
    """Confidence off a fitted curve (``fit``), as the service reads it."""
    return np.interp(value, curve["score"], curve["p"])


def calibration_error(conf: np.ndarray, right: np.ndarray) -> float:
    """Expected calibration error over the reliability bins: the answers' mean |confidence - share
    right| of their bin."""
    b = np.digitize(conf, BINS[1:-1])
    return float(sum(abs(conf[b == k].mean() - right[b == k].mean()) * (b == k).sum() for k in np.unique(b))
                 / len(conf))


def crossed(val: dict[str, tuple[np.ndarray, np.ndarray]], held: dict[str, tuple[np.ndarray, np.ndarray]],
            scenes: list[str]) -> list[str]:
    """Sparse confidence read off the score (as served) or off Lowe's ratio: each curve fitted on
    all validation scenes but one and read on that one, then on all of them and read on the held-back
    pairs. How well it ranks right above wrong (AUC), how far it is from the truth (Brier score) and
    from the share right in its bin (calibration error). ``scenes``: each validation case's."""
    scene = np.array(scenes)[val["scene"][0].astype(int)]
    lines = ["| read on (matches, share right) | AUC: score / ratio | Brier: score / ratio | "
             "calibration error: score / ratio |", "|---|---|---|---|"]
    runs = [(f"validation {name}, the rest fitted", val, scene != name, scene == name)
            for name in dict.fromkeys(scene)]  # scenes whose answers without a geometry fit one
    everything = np.ones(len(scene), bool)
    runs.append(("held-back pairs, validation fitted", held, everything, np.ones(len(held["sparse"][1]), bool)))
    for label, seen, fitted, read in runs:
        conf, right = [], seen["sparse"][1][read]
        for use, increasing in (("sparse", True), ("sparse-ratio", False)):
            curve = fit(val[use][0][fitted], val[use][1][fitted], increasing)
            conf.append(on_curve(curve, seen[use][0][read]))
        auc = [f"{roc_auc_score(right, c):.2f}" if 0 < right.mean() < 1 else "-" for c in conf]
        lines.append(f"| {label} ({read.sum()}, {100 * right.mean():.0f} %) | {' / '.join(auc)} | "
                     + " / ".join(f"{brier_score_loss(right, c):.3f}" for c in conf) + " | "
                     + " / ".join(f"{100 * calibration_error(c, right):.1f} %" for c in conf) + " |")
    return lines


def verified(curves: dict, sets: dict[str, dict]) -> list[str]:
    """The matches of answers with a verified geometry, given confidence by the inlier and outlier
    curves (as served) or by the method's one curve for answers without a geometry: Brier score and
    calibration error on each set."""
    lines = ["| matches of verified answers | Brier: split / one curve | calibration error: split / one curve |",
             "|---|---|---|"]
    for name, data in sets.items():
        for method in ("sparse", "dense"):
            parts = [data.get(f"{method}-{side}") for side in ("inlier", "outlier")]
            if not all(parts):
                continue
            score, right = (np.concatenate(v) for v in zip(*parts, strict=True))
            split = np.concatenate([on_curve(curves[f"{method}-{side}"], s)
                                    for (s, _), side in zip(parts, ("inlier", "outlier"), strict=True)])
            one = on_curve(curves[method], score)
            lines.append(versus(f"{method}, {name}", right, split, one))
    return lines


def failed(curves: dict, sets: dict[str, dict]) -> list[str]:
    """The matches of answers whose geometry was asked for and not verified, given confidence by
    their own curve (as served) or by the method's one curve: Brier score, calibration error and
    how many got more than 0.5 on each set."""
    lines = ["| matches of answers that failed to verify | Brier: own / one curve | calibration error: own / one "
             "curve | above 0.5: own / one curve |", "|---|---|---|---|"]
    for name, data in sets.items():
        for method in ("sparse", "dense"):
            use = f"{method}-unverified"
            if use not in data or use not in curves:
                continue
            score, right = data[use]
            own, one = (on_curve(curves[u], score) for u in (use, method))
            lines.append(versus(f"{method}, {name}", right, own, one) + f" {(own > 0.5).sum()} / {(one > 0.5).sum()} |")
    return lines


def without_geometry(curves: dict, sets: dict[str, dict], fitted_on: dict | None = None) -> list[str]:
    """The matches of answers without a geometry, related and unrelated images pooled, given
    confidence as served (those that fit no geometry by the curve of answers that failed to
    verify, those the geometry found does not explain by their own) or all by the method's one
    curve (fitted on both kinds of match of the answers that fit one in ``fitted_on``, or else the
    method's curve): Brier score, calibration error and how many got more than 0.5 on each set."""
    lines = ["| matches of answers without a geometry | Brier: as served / one curve | calibration error: as served "
             "/ one curve | above 0.5: as served / one curve |", "|---|---|---|---|"]
    singles = {}  # each method's one curve, fitted once for every set
    for method in ("sparse", "dense"):
        both = [fitted_on[u] for u in (method, f"{method}-unexplained") if fitted_on and u in fitted_on]
        singles[method] = curve_of(method, *(np.concatenate(v) for v in zip(*both, strict=True))) if both \
            else curves.get(method)
    for name, data in sets.items():
        for method in ("sparse", "dense"):
            uses = (method, f"{method}-unrelated", f"{method}-unexplained", f"{method}-unexplained-unrelated",
                    f"{method}-no-scene")
            parts = [(u, SHOWN.get(u, u)) for u in uses if u in data and SHOWN.get(u, u) in curves]
            if not parts:
                continue
            single = singles[method]
            right = np.concatenate([data[u][1] for u, _ in parts])
            served = np.concatenate([on_curve(curves[c], data[u][0]) for u, c in parts])
            one = np.concatenate([on_curve(single, data[u][0]) for u, _ in parts])
            lines.append(versus(f"{method}, {name}", right, served, one)
                         + f" {(served > 0.5).sum()} / {(one > 0.5).sum()} |")
    return lines


def versus(label: str, right: np.ndarray, served: np.ndarray, one: np.ndarray) -> str:
    """A table row: the matches (how many, the share right), then the Brier score and the
    calibration error of their confidence as served against the method's one curve."""
    return (f"| {label} ({len(right)}, {100 * right.mean():.0f} % right) | "
            f"{brier_score_loss(right, served):.3f} / {brier_score_loss(right, one):.3f} | "
            f"{100 * calibration_error(served, right):.1f} % / {100 * calibration_error(one, right):.1f} % |")


def supported(curves: dict, sets: dict[str, dict], fitted_on: dict) -> list[str]:
    """The alignment transfers' points given confidence by the curves of points the field's sparse
    matches support and of the rest (as served), or by one curve fitted on both (on ``fitted_on``):
    Brier score and calibration error on each set."""
    lines = ["| points carried along the MRF's fields | Brier: split / one curve | calibration error: split / one "
             "curve |", "|---|---|---|"]
    uses = ("transfer-align", "transfer-align-unsupported")
    if not all(u in curves and u in fitted_on for u in uses):
        return lines
    one = curve_of("transfer-align", *(np.concatenate(v) for v in zip(*(fitted_on[u] for u in uses), strict=True)))
    for name, data in sets.items():
        parts = [(u, data[u]) for u in uses if u in data]
        if not parts:
            continue
        right = np.concatenate([r for _, (_, r) in parts])
        split = np.concatenate([on_curve(curves[u], v) for u, (v, _) in parts])
        lines.append(versus(name, right, split, on_curve(one, np.concatenate([v for _, (v, _) in parts]))))
    return lines


def merged(*parts: dict) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``collect``'s answers of several calls, use by use."""
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for part in parts:
        for use, (value, right) in part.items():
            old = out.get(use, (np.empty(0), np.empty(0, bool)))
            out[use] = (np.r_[old[0], value], np.r_[old[1], right])
    return out


def reliability(curves: dict, data: dict) -> list[str]:
    lines = ["| use | " + " | ".join(f"{lo:.1f}-{min(hi, 1):.1f}" for lo, hi in zip(BINS[:-1], BINS[1:], strict=True))
             + " |", "|---|" + "---|" * (len(BINS) - 1)]
    for use in (u for u in (*USES, *SHOWN) if u in data and SHOWN.get(u, u) in curves):
        value, right = data[use]
        conf = on_curve(curves[SHOWN.get(use, use)], value)
        cells = []
        for lo, hi in zip(BINS[:-1], BINS[1:], strict=True):
            inside = (conf >= lo) & (conf < hi)
            cells.append(f"{100 * right[inside].mean():.0f} % of {inside.sum()}" if inside.sum() else "-")
        lines.append(f"| {use} | " + " | ".join(cells) + " |")
    return lines


def store(manifest: dict, curves: dict, settings: dict[str, str]) -> None:
    """Put the curves on the models that served them: the default dense model gets the dense ones
    and the default descriptor the sparse ones; with other ``settings``, only a model they name."""
    served = served_settings(settings)
    named = {k.lower() for k in settings} & {"default_dense_model", "default_descriptor_model"}
    for e in manifest["models"]:
        if e["name"] == served.default_dense_model and (not settings or "default_dense_model" in named):
            e["calibration"] = {u: curves[u] for u in USES if not u.startswith("sparse") and u in curves}
        if e["name"] == served.default_descriptor_model and "sparse" in curves and \
                (not settings or "default_descriptor_model" in named):
            e["calibration"] = {u: curves[u] for u in USES if u.startswith("sparse") and u in curves}


def stored_curves() -> dict[str, dict[str, list[float]]]:
    """The curves the manifest holds for the default dense model and descriptor, use by use."""
    served = served_settings({})
    entries = json.loads(MANIFEST.read_text())["models"]
    return {use: curve for e in entries if e["name"] in (served.default_dense_model, served.default_descriptor_model)
            for use, curve in e.get("calibration", {}).items()}


def errors(curves: dict, data: dict, uses: tuple[str, ...] = USES) -> list[str]:
    """Each use's answers, share right, mean confidence and calibration error, read off ``curves``
    (a use of ``SHOWN`` off the curve that serves it)."""
    lines = ["| use | answers | share right | mean confidence | calibration error |", "|---|---|---|---|---|"]
    for use in (u for u in uses if u in data and SHOWN.get(u, u) in curves):
        value, right = data[use]
        conf = on_curve(curves[SHOWN.get(use, use)], value)
        lines.append(f"| {use} | {len(right)} | {100 * right.mean():.0f} % | {conf.mean():.2f} | "
                     f"{100 * calibration_error(conf, right):.1f} % |")
    return lines


AS_SERVED = {use: {"score": [0.0, 1.0], "p": [0.0, 1.0]} for use in (*USES, *SHOWN)}  # confidence read as is


def as_shipped() -> None:
    """Sparse confidence as a server with every default serves it: the fast descriptor answers
    first and the default one again where in doubt (``SPARSE_FAST_MODEL``), each match's confidence
    read off the curve of the network that answered, fitted on that network's answers alone. A
    first answer kept is one the doubt test let through, a subset of that network's answers: this
    table shows whether the curves still hold on what is served. Nothing fitted or stored."""
    with serving({"served": {}}, timeout=600) as clients:
        client = clients["served"]
        shipped = {name: merged(collect(client, cases, asks=("sparse",), value="confidence"),
                                collect(client, unrelated_cases(other), related=False, asks=("sparse",),
                                        value="confidence"))
                   for name, cases, other in (("Validation pairs", validation_cases(), VALIDATION_UNRELATED),
                                              ("Held-back pairs", heldback_cases(), HELD_BACK_UNRELATED))}
    text = ("## Sparse confidence as shipped: reliability\n\n`python -m eval.calibrate --as-shipped` "
            f"{machine.describe()}\n\nA server with every default: method=sparse without a model, so the fast "
            "descriptor (`SPARSE_FAST_MODEL`) answers first and the default descriptor again where that answer is "
            "in doubt, each match's `confidence` as served (off the curves of the network that answered, each "
            "fitted on that network's answers alone: the tables above); nothing fitted. Each cell as in the "
            f"reliability table: of the matches whose `confidence` falls in the bin, the share within {WITHIN_PX:g} "
            "px of the truth, and how many there were. Rows as there.\n\n"
            + "\n\n".join(f"{name}:\n\n" + "\n".join(reliability(AS_SERVED, data)) + "\n\n"
                          + "\n".join(errors(AS_SERVED, data, (*USES, *SHOWN))) for name, data in shipped.items()))
    print(text)
    write_section("reliability-as-shipped", text)


def spoiled() -> None:
    """The stored curves, fitted on the validation pairs as they are, read on their scenes' spoiled
    copies (``eval.robustness``'s exposure and degraded cases: image b darker, washed out, blurred,
    streaked, noisy or JPEG-compressed), nothing fitted or stored."""
    from eval.robustness import degraded_cases, exposure_cases
    cases = [p for _, p in exposure_cases() + degraded_cases(("cube-40", "text", "leuven"))]
    with serving({"served": FIRST_TRY_OFF}, timeout=600) as clients:
        data = collect(clients["served"], cases)
    curves = stored_curves()
    text = ("## Confidence on spoiled photos: reliability\n\n`python -m eval.calibrate --spoiled` "
            f"{machine.describe()}\n\nThe curves stored in the manifest (fitted on the validation pairs as "
            f"they are: `python -m eval.calibrate`) read on {len(cases)} copies of the validation scenes with "
            "image b darker or washed out (`eval.robustness --exposure`) or blurred, streaked, noisy or "
            "JPEG-compressed (`--degraded`); nothing fitted. Each cell as in the reliability table: of the "
            f"answers whose `confidence` falls in the bin, the share within {WITHIN_PX:g} px of the truth, and "
            "how many there were.\n\n" + "\n".join(reliability(curves, data)) + "\n\n"
            + "\n".join(errors(curves, data)))
    print(text)
    write_section("reliability-spoiled", text)


def validation_parts(client: httpx.Client) -> list[tuple[str, dict]]:
    """``main``'s validation answers case by case, each under its scene (``scene_of``; Aloe's
    windows are Aloe's, the unrelated pairs one scene of their own)."""
    return ([(scene_of(p.name), collect(client, [p])) for p in validation_cases()]
            + [("aloe", collect(client, [p], asks=tuple(TRANSFERS))) for p in windows("aloe")]
            + [("castle", collect(client, [p], asks=tuple(TRANSFERS))) for p in castles()]
            + [("box", collect(client, [p], asks=tuple(TRANSFERS))) for p in boxes()]
            + [(p.name, collect(client, [p], asks=tuple(TRANSFERS))) for p in lens_pairs()]
            + [("unrelated", collect(client, [p], related=False))
               for p in unrelated_cases(VALIDATION_UNRELATED)])


def priors() -> None:
    """How many answers at a use's share right to draw each step of its curve towards (``fit``):
    each candidate's Brier score, every validation scene read off curves fitted on the others,
    use by use and averaged over the uses; nothing fitted or stored, no held-back pair read."""
    with serving({"served": FIRST_TRY_OFF}, timeout=600) as clients:
        parts = validation_parts(clients["served"])
    scores = {prior: scene_brier(parts, prior) for prior in PRIORS}
    uses = [u for u in USES if u in scores[PRIORS[0]]]
    lines = ["| answers drawn towards | " + " | ".join(uses) + " | mean |", "|---|" + "---|" * (len(uses) + 1)]
    for prior, by_use in scores.items():
        lines.append(f"| {prior} | " + " | ".join(f"{by_use[u]:.4f}" for u in uses)
                     + f" | {np.mean([by_use[u] for u in uses]):.4f} |")
    best = min(PRIORS, key=lambda k: np.mean([scores[k][u] for u in uses]))
    text = ("## Confidence: how far each curve's steps are drawn towards its share right\n\n"
            f"`python -m eval.calibrate --priors` {machine.describe()}\n\nBrier score of each use's answers on "
            "the validation pairs, every scene read off curves fitted on the other scenes (Aloe's windows are "
            "Aloe's; the unrelated pairs are one scene), with each step of a curve drawn towards its use's share "
            "right as if that many answers at that share were in it. Lowest mean: "
            f"{best} (`eval.calibrate.PRIOR` is {PRIOR}).\n\n" + "\n".join(lines))
    print(text)
    write_section("reliability-prior", text)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the server, e.g. DEFAULT_DESCRIPTOR_MODEL=siam-2stream-l2-w0.25")
    ap.add_argument("--spoiled", action="store_true", help="read the stored curves on spoiled copies; fit nothing")
    ap.add_argument("--priors", action="store_true", help="choose how far the curves' steps are drawn towards "
                    "their share right, on the validation pairs; fit nothing")
    ap.add_argument("--as-shipped", action="store_true", help="sparse confidence as a server with its defaults "
                    "serves it (the fast descriptor first); fit nothing")
    a = ap.parse_args()
    if a.spoiled:
        return spoiled()
    if a.as_shipped:
        return as_shipped()
    if a.priors:
        return priors()
    settings = dict(kv.split("=", 1) for kv in a.setting)
    # the curves of transfers by ids whose bytes are not kept, where the dense curves are stored:
    # a server that keeps no bytes for each way of posting them (one id names one image's features
    # whatever method posted it)
    dense = "default_descriptor_model" not in {k.lower() for k in settings}
    kept_none = FIRST_TRY_OFF | settings | {"KEEP_IMAGES": "false"}
    envs = {"served": FIRST_TRY_OFF | settings} | ({"ids": kept_none, "ids-dense": kept_none} if dense else {})
    with serving(envs, timeout=600) as clients:
        client = clients["served"]
        ids = {None: clients["ids"], "dense": clients["ids-dense"]} if dense else None
        cases = validation_cases()
        val = merged(collect(client, cases, by_ids=ids),
                     collect(client, windows("aloe") + castles() + boxes() + lens_pairs(), asks=tuple(TRANSFERS),
                             by_ids=ids),
                     collect(client, unrelated_cases(VALIDATION_UNRELATED), related=False, by_ids=ids),
                     collect(client, ids_cases(cases), asks=("ids", "dense-ids"), by_ids=ids) if ids else {})
        held = merged(collect(client, heldback_cases(), by_ids=ids),
                      collect(client, windows("motorcycle"), asks=tuple(TRANSFERS), by_ids=ids),
                      collect(client, unrelated_cases(HELD_BACK_UNRELATED), related=False, by_ids=ids))
    curves = {use: curve_of(use, *v) for use, v in val.items() if use in USES and len(v[1]) >= MIN_ANSWERS}
    manifest = json.loads(MANIFEST.read_text())
    store(manifest, curves, settings)
    MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    command = "python -m eval.calibrate " + shlex.join(sys.argv[1:])
    name, title = with_settings("reliability", "## Confidence: reliability", a.setting)
    text = (f"{title}\n\n`{command}` {machine.describe()}\n\nEach cell: of the answers whose "
            f"`confidence` falls in the bin, the share within {WITHIN_PX:g} px of the truth, and how many there "
            "were. The curves were fitted on the validation pairs (first table) and stored in the manifest; the "
            "held-back pairs (second table) show whether they carry over. Transfers count each stereo pair whole "
            "and in the ten windows of it a user might send (as `eval.depth`), and on validation the castle "
            "turned before a still camera (`eval.two_motions`, frames 20 and 29), the plain box moved by hand "
            "before one (its seven pairs, `models.data.mire`) and the two lens pairs "
            "(`eval.lenses`); the validation pairs include the six pairs of four views of a calibration grid of "
            "dots (`models.data.grid`), a repeated pattern. *transfer*: points whose round "
            "trip came back (`consistent`) where a homography put them (the guide, or one beside a fundamental "
            "matrix: `by_plane`); *transfer-extrapolated*: the same where a homography whose inliers span under "
            "a tenth of image a put them far from its inliers (`support` under 0.5, no local map placing them); "
            "*transfer-fundamental*: the same where they were found along epipolar lines; *transfer-dense* and "
            "*transfer-dense-inconsistent*: the points of the same transfers (and on validation of the planes at "
            "every scale and turn of `eval.robustness`) asked by ids posted with method=dense to a server with "
            "KEEP_IMAGES=false, whose geometry was fitted to the dense matches alone (the ids carry "
            "features only), those that came back and the rest; *transfer-uncopied* and "
            "*transfer-uncopied-inconsistent*: the same asked by ids posted with both kinds of features, where b is "
            "scaled or turned (no pixels to search copies brought onto each other); *dense-...-uncopied*: the "
            "dense correspondences asked so, where b is scaled or turned; "
            "*transfer-inconsistent*: the "
            "others (both where a geometry guided them: unguided points carry no confidence); *transfer-align*: "
            "points carried along the MRF's fields (`method=align`), their curve read off how far the round trip "
            "missed (`cycle_error`); *transfer-align-unsupported*: the same where under half of the 8 sparse "
            "matches nearest a point are where the field puts them (`support` under 0.5: a field locked onto "
            "look-alikes, such as a grid of dots one period off); *-unrelated* those between unrelated images (shown, "
            "not fitted; an alignment whose sparse matches fit no geometry, `one_scene` false, gives its points no "
            "confidence). *-inlier* and "
            "*-outlier*: the matches of answers whose geometry (a homography for a plane, else a fundamental "
            "matrix) was verified, on it and off it; *-unverified*: the matches of answers whose geometry was "
            "asked for and not verified (the pairs above and each scene's image a against every other scene's "
            "image b, where every match is wrong); *-no-scene*: the matches of answers without a geometry in which "
            "RANSAC found none either (`one_scene` false), read off the *-unverified* curve as served (shown, not "
            "fitted); *-unexplained*: the matches of answers without a geometry that the homography or fundamental "
            "matrix RANSAC found among them (`one_scene` true; the one explaining more) does not explain "
            "(`explained` false); *-unrelated*: the other matches without a geometry between those unrelated "
            "images, read off the curve that serves them (shown, not fitted: the curves assume both images show one "
            "scene); the other rows are answers without a geometry, the matches that geometry explains.\n\n"
            "Validation pairs:\n\n"
            + "\n".join(reliability(curves, val)) + "\n\nHeld-back pairs:\n\n" + "\n".join(reliability(curves, held))
            + "\n\nWhy verified answers have their own curves: the same matches given confidence by the inlier and "
            "outlier curves, or by the method's one curve.\n\n"
            + "\n".join(verified(curves, {"validation, where fitted": val, "held-back": held}))
            + "\n\nWhy alignment transfers among sparse matches their field mostly does not explain have a curve of "
            "their own: the same points given confidence by the two curves, or by one fitted on both.\n\n"
            + "\n".join(supported(curves, {"validation, where fitted": val, "held-back": held}, val))
            + "\n\nWhy answers that failed to verify have a curve of their own: the same matches given confidence "
            "by that curve, or by the method's one curve.\n\n"
            + "\n".join(failed(curves, {"validation, where fitted": val, "held-back": held}))
            + "\n\nWhy answers without a geometry whose matches fit none read the curve of answers that failed to "
            "verify, and the matches the geometry found among them does not explain a curve of their own: the "
            "matches of every answer without a geometry (related and unrelated images) given confidence as served, "
            "or all by one curve of the method fitted on every match of the validation answers that fit one.\n\n"
            + "\n".join(without_geometry(curves, {"validation": val, "held-back": held}, val))
            + "\n\nSparse confidence read off the score (as served) or off Lowe's ratio (each sparse match's "
            "`ratio` in the answer): each curve fitted on all validation scenes but one and read on that one, "
            "then fitted on all of them and read on the held-back pairs. AUC: how well it ranks right matches "
            "above wrong ones; Brier score: its mean squared gap from right (1) or wrong (0); calibration "
            "error: the mean gap between a match's confidence and the share right in its bin.\n\n"
            + "\n".join(crossed(val, held, [scene_of(p.name) for p in cases])))
    print(text)
    write_section(name, text)


if __name__ == "__main__":
    main()
