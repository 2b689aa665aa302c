"""Correspondences between two images by either method, and what an answer says of itself.

- ``sparse``: DoG keypoints described by the learned descriptor network (``service.sparse``),
  mutual nearest neighbours with Lowe's ratio test. Invariant to rotation and scale by
  construction; where image a as sent verifies no geometry asked for, its copies seen from the
  side answer if one does (``service.side_views``).
- ``dense``: UCN feature maps, mutual nearest neighbours filtered by neighbourhood consensus
  (``service.matching``). Denser, but a map compares like with like only at about the same scale
  and orientation: when the pixels of image b are at hand and the sparse matches' geometry says
  that b is scaled or turned (or a plane seen in perspective where the direct search finds
  little), b is warped into a's frame by it, the dense search runs there, and the matches are
  mapped back (``prealigned`` says so).

Geometry (a homography or a fundamental matrix) is verified by RANSAC on request; an answer
whose matches no geometry verified says so in its warnings. Without a geometry asked for, RANSAC
still looks for either among the matches (``one_scene``): where neither is there, the images may
not show one scene, and the matches' confidence is that of answers whose geometry failed to verify.
"""
from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import cv2
import numpy as np
from starlette.concurrency import run_in_threadpool

from service import (
    align,
    aperture,
    calibration,
    consensus,
    dense,
    frames,
    margins,
    matching,
    render,
    side_views,
    sparse,
)
from service.cache import FeatureCache
from service.config import Settings
from service.errors import InvalidInput, NotFound
from service.feature_map import FeatureMap, SparseFeatures
from service.imaging import Decoded
from service.matching import Matches
from service.registry import LoadedModel, Registry

METHODS = ("dense", "sparse")
MIN_INLIERS = 8  # fewer inliers than this fit no similarity to pre-align by (``matching.found`` verifies)
GUIDE_INLIERS = matching.AGREED_INLIERS  # sparse matches a geometry needs to guide a search or a pre-alignment
SHIFT_PX = 4.0  # a homography that moves the matched points this far beyond a shift pre-aligns
# each image showing this share of the other or more, b's copy brought onto a is b: standardised alike
SAME_VIEW = 0.95
FEATURES_ONLY = "an image id whose bytes are not kept (evicted, or KEEP_IMAGES=false) carries features only"
NOT_PREALIGNED = "dense search cannot be pre-aligned"
SHOWN_AT = "b shows a at"  # how the warnings of answers by ids without their bytes, b scaled or turned, begin
DIRECT_ONLY = f"{FEATURES_ONLY}, so the MRF solves only the direct field (no pixels to bring b onto a): if the " \
              "images differ much in scale, rotation or perspective, send both images' bytes"
UNVERIFIED = "no geometry verified: the matches are unverified nearest neighbours, their confidence that of " \
             "matches between two images of one scene, lower for those the geometry found among them does not " \
             "explain (explained: false; ask geometry=homography or geometry=fundamental to verify them)"
NO_SCENE = "the matches fit neither a homography nor a fundamental matrix (no more inliers than unrelated images " \
           "give by chance): the images may not show one scene; the matches are unverified nearest neighbours, " \
           "their confidence that of matches whose geometry failed to verify"
FAILED = "the matches are unverified nearest neighbours"
SPARSE_FOUND = "the sparse matches that guide the dense search do fit a {}: the images likely show one scene, " \
               "which the dense features did not match (another light or contrast, a small part of one image): " \
               "try method=sparse"
ALIGN_NO_SCENE = "the sparse matches fit neither a homography nor a fundamental matrix (no more inliers than " \
                 "unrelated images give by chance): the images may not show one scene; the MRF's field answers " \
                 "all the same, unverified (transferred points carry no confidence)"
# a homography whose inliers span less of image a than this is warned of: among the homographies
# returned on the validation pairs (both methods) and the regions of large photos, 3 of the 6 such
# were wrong (median error over a's grid over 5 px), 2 of the other 150 (eval.robustness, eval.regions)
NARROW = 0.1


# a fast descriptor's geometry on fewer inliers than this is answered again by the default one: of the
# fast descriptor's (SPARSE_FAST_MODEL) homographies without a warning on the validation pairs, their
# exposure and degraded copies and the objects in clutter, 1 of the 6 on fewer was wrong (an object
# at 0.35x among other photos, 14 inliers, which the default's finds), 1 of the 122 on more (one the
# default's misses too)
DOUBT_INLIERS = 20


def bare(side: str, keypoints: int) -> str:
    """The warning of an image ``side`` in which fewer than MIN_INLIERS keypoints were found."""
    return (f"image {side} has {keypoints} keypoint{'s' * (keypoints != 1)} (it shows little or no texture: "
            "a blank, flat or blurred image): too few for matches to be found or verified")


async def bare_sides(a: Side, b: Side, ctx: Context) -> list[str]:
    """``bare``'s warning of each image whose keypoints (found for the pair's guide, cached) are
    too few, for an answer that found no geometry; none where an id's keypoints and bytes are gone."""
    model = ctx.model("sparse", None)
    try:
        return too_few(*await asyncio.gather(sparse_set(a, model, ctx), sparse_set(b, model, ctx)))
    except NotFound:
        return []


def too_few(sa: SparseFeatures, sb: SparseFeatures) -> list[str]:
    """``bare``'s warning of each image, a then b, with fewer than MIN_INLIERS keypoints."""
    return [bare(side, len(f.xy)) for side, f in (("a", sa), ("b", sb)) if len(f.xy) < MIN_INLIERS]


NARROW_BEGINS = "the homography's inliers span"


def narrow(inliers: int, span: float) -> str:
    """The warning of a homography whose ``inliers`` span ``span`` (< NARROW) of image a."""
    return (f"{NARROW_BEGINS} {100 * span:.0f} % of image a ({inliers} as RANSAC fitted it): it is "
            "fitted there and extrapolated beyond, where it may be far off")


@dataclass
class Side:
    """One image of a request: the bytes sent (or kept under the id it was named by), or an image
    id of features cached before whose bytes are gone."""
    field: str
    data: bytes | None = None
    image_id: str | None = None
    _decoding: asyncio.Task | None = None
    _finding: asyncio.Task | None = None
    _digest: str | None = None
    _described: dict[str, SparseFeatures] = field(default_factory=dict)  # sparse features by model, this request
    _copies: dict[str, asyncio.Future] = field(default_factory=dict)  # ``copy_of``'s uncached copies, this request

    async def digest(self) -> str:
        """sha256 of the bytes sent (hex, the image id), hashed once however many features and
        copies of the image a request needs."""
        if self._digest is None:
            self._digest = await run_in_threadpool(lambda: hashlib.sha256(self.data).hexdigest())
        return self._digest

    async def pixels(self, settings: Settings) -> Decoded | None:
        """The decoded image, decoded once however many ask at once; None for an image id."""
        if self.data is None:
            return None
        if self._decoding is None:
            self._decoding = asyncio.ensure_future(run_in_threadpool(dense.decode, self.data, settings, self.field))
        return await self._decoding

    async def points(self, settings: Settings) -> dense.SparsePoints:
        """The image's DoG keypoints and patches, found once however many descriptors describe them
        (the fast descriptor's first try and the default one's second), kept to the request's end."""
        if self._finding is None:
            self._finding = asyncio.ensure_future(self._find(settings))
        return await self._finding

    async def _find(self, settings: Settings) -> dense.SparsePoints:
        return await dense.sparse_points(await self.pixels(settings), settings)


def fast_name(settings: Settings) -> str | None:
    """The network SPARSE_FAST_MODEL names to answer sparse requests first; None where the default
    descriptor answers alone (the setting empty or naming the default)."""
    fast = settings.sparse_fast_model
    return fast if fast and fast != settings.default_descriptor_model else None


def fast_descriptor(settings: Settings, registry: Registry) -> LoadedModel | None:
    """SPARSE_FAST_MODEL's network, the one that answers sparse requests first; None where there
    is none to try (``fast_name``), or its network is not loaded as a descriptor compared by L2
    distance."""
    fast = fast_name(settings)
    if fast is None:
        return None
    m = registry.models.get(fast)
    return m if m is not None and m.kind == "descriptor" and m.entry.metric == "l2" else None


@dataclass
class FirstTries:
    """How the fast descriptor's first answers ended, since the server started (``/metrics``):
    kept; given again by the default descriptor (in doubt); or kept in doubt, as an image id held
    only the fast descriptor's features and its bytes were gone."""
    kept: int = 0
    answered_again: int = 0
    kept_in_doubt: int = 0


@dataclass
class Context:
    """What serving a request needs: settings, models, cache, and the matching pool."""
    settings: Settings
    registry: Registry
    cache: FeatureCache
    on_pool: Callable[..., Awaitable[Any]]
    owner: str = ""  # the caller's namespace of image ids (see ``dense.key_for``)
    first_tries: FirstTries = field(default_factory=FirstTries)

    def first_try(self, method: str, name: str | None) -> LoadedModel | None:
        """The descriptor a sparse request without a model named answers with first
        (``fast_descriptor``, see ``correspondences``); None for another method or a model named."""
        return fast_descriptor(self.settings, self.registry) if method == "sparse" and name is None else None

    def model(self, method: str, name: str | None) -> LoadedModel:
        kind = "dense" if method == "dense" else "descriptor"
        default = self.settings.default_dense_model if method == "dense" else self.settings.default_descriptor_model
        m = self.registry.get(name or default, (kind,))
        if kind == "descriptor" and m.entry.metric != "l2":
            raise InvalidInput(f"method=sparse needs a descriptor model compared by L2 distance; {m.name} is not one")
        return m


async def with_bytes(side: Side, ctx: Context) -> Side:
    """An image named by its id, with the bytes /v1/images kept of it (KEEP_IMAGES): every route
    then answers it as it answers the bytes sent (pre-aligned copies, pictures), and computes its
    features afresh if they were evicted. Where none were kept, the side has features only."""
    if side.data is None and side.image_id is not None and ctx.settings.keep_images:
        data = await dense.kept(ctx.cache, side.image_id, ctx.owner)
        if data is not None:
            side.data, side._digest = data, side.image_id
    return side


async def dense_map(side: Side, model: LoadedModel, ctx: Context) -> FeatureMap:
    """An image's dense features: by id, those cached, or computed from its kept bytes where they
    were evicted (a side taken with ``bytes_first=False`` reads the bytes only then)."""
    if side.data is None:
        try:
            return await dense.by_id(side.image_id, model, ctx.cache, ctx.settings, owner=ctx.owner)
        except NotFound:
            if (await with_bytes(side, ctx)).data is None:
                raise
    fm, _, _ = await dense.features(side.data, model, ctx.cache, ctx.settings, side.field,
                                    partial(side.pixels, ctx.settings), ctx.owner, await side.digest())
    return fm


async def sparse_set(side: Side, model: LoadedModel, ctx: Context, share: bool = False) -> SparseFeatures:
    """The image's sparse features by ``model``, found once however many answers of the request
    ask for them (image a's copies seen from the side each match b's: with the cache off or
    evicting, b's would be found again for each); ``share``: keep its keypoints and patches on
    ``side`` for another descriptor (``Side.points``)."""
    if model.name not in side._described:  # kept once found: a request gone cancels the finding as before
        side._described[model.name] = await described(side, model, ctx, share)
    return side._described[model.name]


async def described(side: Side, model: LoadedModel, ctx: Context, share: bool) -> SparseFeatures:
    """``sparse_set``'s work: by id, the cached features; else from the bytes (see ``dense.sparse_features``)."""
    if side.data is None:
        return await dense.by_id(side.image_id, model, ctx.cache, ctx.settings, SparseFeatures.decode, ctx.owner)
    sf, _, _ = await dense.sparse_features(side.data, model, ctx.cache, ctx.settings, side.field,
                                           partial(side.pixels, ctx.settings), ctx.owner, await side.digest(),
                                           partial(side.points, ctx.settings) if share else None)
    return sf


@dataclass
class Answer:
    method: str
    model: str
    matches: Matches
    geometry: str = "none"
    matrix: np.ndarray | None = None
    inliers: np.ndarray | None = None
    warnings: list[str] = field(default_factory=list)
    prealigned: dict[str, float] | None = None
    timing_ms: dict[str, float] = field(default_factory=dict)
    confidence: np.ndarray | None = None  # (M,) see service.calibration
    one_scene: bool | None = None  # without a geometry asked for: whether the matches fit one (``one_scene``)
    explained: np.ndarray | None = None  # (M,) bool, where one_scene: the matches the geometry found explains
    a_size: tuple[int, int] = (1, 1)  # image a's width, height as sent
    coverage: float | None = None  # with a verified geometry: the share of image a RANSAC's inliers span
    verified: int = 0  # with a geometry asked for: the inliers among every match, before the answer's cap
    guide: str | None = None  # dense: the geometry the sparse matches chose to pre-align by (``chosen``)
    uncopied: bool = False  # dense: b scaled or turned, not searched in copies (no bytes): its own curves
    # sparse: found in a copy of a seen from the side (``side_views``); dense: its sparse guide found so
    seen_from_side: dict[str, float] | None = None


@dataclass
class Options:
    max_matches: int
    mutual: bool = True
    ratio: float | None = None
    consistency: bool = True
    geometry: str = "none"


async def correspondences(a: Side, b: Side, method: str, model_name: str | None, opts: Options,
                          ctx: Context) -> Answer:
    """The matches of a request, verified as asked, with the answer's warnings (``as_sent``); where
    a sparse answer verifies no geometry asked for, those of image a's copies seen from the side
    (``from_the_side``, unless SPARSE_SIDE_VIEWS is off) if one of them verifies it over NARROW of
    a or more."""
    found = await as_sent(a, b, method, model_name, opts, ctx)
    if method != "sparse" or opts.geometry == "none" or found.matrix is not None or not ctx.settings.sparse_side_views:
        return found
    t0 = time.perf_counter()
    side = await from_the_side(a, b, ctx.model(method, model_name), opts, ctx)
    spent = {"side_views": 1e3 * (time.perf_counter() - t0)}
    if side is None:
        found.timing_ms |= spent
        return found
    side.timing_ms |= spent
    return side


async def from_the_side(a: Side, b: Side, model: LoadedModel, opts: Options, ctx: Context) -> Answer | None:
    """The answer of image a's copies seen from the side (``side_views``) that verifies the
    geometry asked for on the most inliers, in a's pixels; None where none does, its inliers span
    under NARROW of a, or a's pixels are not at hand (an id whose bytes are gone)."""
    copies = await side_copies(a, ctx)
    if copies is None:
        return None
    # one copy after another: each queues as many patches as an image does (MAX_QUEUE bounds them)
    answers = [await answer_of(side, b, "sparse", model, opts, ctx) for side, _, _, _ in copies]
    verified = [k for k, got in enumerate(answers) if got.matrix is not None]
    if not verified:
        return None
    k = max(verified, key=lambda i: answers[i].verified)
    got, (_, view_size, to_a, seen_as) = answers[k], copies[k]
    decoded = await a.pixels(ctx.settings)
    got.matches, got.matrix, got.coverage = side_views.onto_a(
        got.matches, got.geometry, got.matrix, got.coverage, view_size, (decoded.width, decoded.height), to_a)
    if got.geometry == "homography" and got.coverage < NARROW:
        return None
    got.a_size = (decoded.width, decoded.height)
    got.warnings = [w for w in got.warnings if not w.startswith(NARROW_BEGINS)]  # the copy's span, not a's
    got.seen_from_side = seen_as
    return got


async def side_copies(a: Side, ctx: Context
                      ) -> list[tuple[Side, tuple[int, int], np.ndarray, dict[str, float]]] | None:
    """Image a's copies seen from the side (``side_views``), each as a side to match, its width and
    height, the (3, 3) map of its pixels to a's as sent and what an answer found in it says
    (``side_views.seen``); those the shape rules refuse left out (a narrow image squeezed across
    its narrow side); None where a's pixels are not at hand."""
    decoded = await (await with_bytes(a, ctx)).pixels(ctx.settings)
    if decoded is None:
        return None
    out = []
    for direction in side_views.DIRECTIONS:
        view, m = await ctx.on_pool(side_views.side_view, decoded.pixels, side_views.TILT, direction)
        if not dense.servable(view.shape[1], view.shape[0], ctx.settings):
            continue
        data = await ctx.on_pool(render.png, view)
        out.append((Side(a.field, data=data), (view.shape[1], view.shape[0]), decoded.to_sent() @ np.linalg.inv(m),
                    side_views.seen(direction)))
    return out


async def as_sent(a: Side, b: Side, method: str, model_name: str | None, opts: Options, ctx: Context) -> Answer:
    """The matches of a request, verified as asked, with the answer's warnings. Every match is
    found, verified and checked, then the best ``max_matches`` are returned: a cap cuts the
    answer, it does not change what RANSAC sees or which search runs.

    A sparse request without a model named is answered by the fast descriptor first
    (``Context.first_try``); where that answer is ``doubtful`` (the geometry asked for not
    verified, verified on few inliers, a homography fitted in a narrow part of a, or a fundamental
    matrix chosen by geometry=auto), the default descriptor answers instead, and
    ``timing_ms["first_try"]`` says what the first answer took. ``opts.geometry`` "auto" verifies
    by the geometry that fits best (``chosen``)."""
    fast = ctx.first_try(method, model_name)
    model = ctx.model(method, model_name)
    if fast is None:
        return await answer_of(a, b, method, model, opts, ctx)
    # only an answer with a geometry may be given again: only then are the images' patches kept for it
    share = opts.geometry != "none"
    t0 = time.perf_counter()
    first = await answer_of(a, b, method, fast, opts, ctx, share)
    if not doubtful(first, opts):
        ctx.first_tries.kept += 1
        return first
    spent = 1e3 * (time.perf_counter() - t0)
    try:
        again = await answer_of(a, b, method, model, opts, ctx, share)
    except NotFound:  # an image id cached with the fast descriptor's features alone, its bytes gone
        ctx.first_tries.kept_in_doubt += 1
        return first
    ctx.first_tries.answered_again += 1
    again.timing_ms["first_try"] = spent
    return again


def doubtful(found: Answer, opts: Options) -> bool:
    """Whether an answer leaves the geometry asked for unverified, verified on fewer than
    DOUBT_INLIERS inliers, or a homography in less than NARROW of image a: the answers of the
    fast descriptor that were wrong on the validation pairs, their spoiled copies and the objects
    in clutter, where the default one's were right (see DOUBT_INLIERS). With geometry=auto, a
    fundamental matrix chosen is in doubt too: the fast descriptor's look-alike matches in repeated
    structure let one explain more than a plane's homography (leuven turned or enlarged, an object
    among other photos), where the default descriptor's choose the homography (``eval.auto_geometry``)."""
    if opts.geometry == "none":
        return False
    return found.matrix is None or found.verified < DOUBT_INLIERS or \
        (found.geometry == "homography" and (found.coverage or 0.0) < NARROW) or \
        (opts.geometry == "auto" and found.geometry == "fundamental")


async def answer_of(a: Side, b: Side, method: str, model: LoadedModel, opts: Options, ctx: Context,
                    share: bool = False) -> Answer:
    """The answer of one model: see ``correspondences``; ``share``: see ``sparse_set``."""
    t0 = time.perf_counter()
    if method == "sparse":
        sa, sb = await asyncio.gather(sparse_set(a, model, ctx, share), sparse_set(b, model, ctx, share))
        t1 = time.perf_counter()
        # with a geometry to fit, RANSAC sorts the mutual matches out and a ratio test would only
        # drop true ones in repeated structure (text, facades); without one, it is the only filter
        ratio = opts.ratio or (None if opts.geometry != "none" else sparse.RATIO)
        found = await ctx.on_pool(sparse.match, sa, sb, ratio, opts.mutual)
        answer = Answer(method, model.name, found, timing_ms={"features": 1e3 * (t1 - t0)},
                        a_size=(sa.width, sa.height))
        answer.warnings += too_few(sa, sb)
    else:
        answer = await dense_correspondences(a, b, model, opts, ctx)
    t2 = time.perf_counter()
    answer.timing_ms["matching"] = 1e3 * (t2 - t0) - answer.timing_ms["features"]
    whole, threshold = answer.matches, ctx.settings.ransac_threshold_px
    if opts.geometry != "none":
        kind, fitted = await ctx.on_pool(chosen, whole, opts.geometry, threshold, answer.guide)
        if fitted is None:
            matrix, inliers = await ctx.on_pool(matching.verify, whole, kind, threshold)
        else:  # the fit that chose it
            matrix, inliers = fitted.model, fitted.inliers
            if kind == "homography":  # at OpenCV's scale (h[2, 2] = 1), not the sign fit_guide gave it
                matrix = matrix / matrix[2, 2]
        tested = None  # the matches that pass the ratio test, where the mutual ones fit nothing wide
        verified = matrix is not None and matching.found(kind, inliers, whole)
        span = matching.coverage(whole.xy_a[inliers], *answer.a_size) if verified else 0.0
        if span < NARROW and method == "sparse" and opts.ratio is None:
            # where one image holds a small part of the other (a region of a large photo, an object
            # in clutter, a scene seen far smaller), its few true matches are under a tenth of the
            # mutual ones, not of these: a fit found in a corner of a among the mutual ones gives way
            # to a wider one among these
            tested = await ctx.on_pool(sparse.match, sa, sb, sparse.RATIO, opts.mutual)
            again, tested_inliers = await ctx.on_pool(matching.verify, tested, kind, threshold)
            if again is not None and matching.found(kind, tested_inliers, tested):
                wider = matching.coverage(tested.xy_a[tested_inliers], *answer.a_size)
                if not verified or wider > span:
                    whole, matrix, inliers, span, verified = tested, again, tested_inliers, wider, True
            if verified:
                tested = None
        if verified:
            answer.geometry, answer.matrix, answer.coverage = kind, matrix, span
            if kind == "homography" and answer.coverage < NARROW:
                answer.warnings.append(narrow(int(inliers.sum()), answer.coverage))
            if method == "dense":  # a DoG keypoint is no edge: sparse matches are fixed both ways
                await one_direction(a, whole.xy_a[inliers], kind, answer, ctx)
            if method == "sparse" and kind == "homography" and opts.ratio is None:
                whole, inliers = await ctx.on_pool(explained_too, sa, sb, whole, matrix, inliers, threshold)
        else:
            agreed = kind == "homography" and matching.agreed(whole)
            least = matching.least_inliers(kind, len(inliers), agreed)
            nor = (f", nor {matching.least_inliers(kind, len(tested.score), agreed)} or more among the "
                   f"{len(tested.score)} that pass Lowe's ratio test" if tested is not None else "")
            kept = " that pass Lowe's ratio test, as without a geometry" if tested is not None else ""
            whose = " whose keypoints' scale and orientation agree with it" if agreed else ""
            if whole.apart is not None:  # dense matches: a patch's neighbours match along with it
                whose += (f" (in {matching.CHANCE_INLIERS[kind]} or more blocks of {matching.APART_CELLS} x "
                          f"{matching.APART_CELLS} feature cells of image a)")
            also = " (nor does a fundamental matrix fit them)" if opts.geometry == "auto" else ""
            answer.warnings.append(f"no {kind} has {least} or more inliers{whose} among the "
                                   f"{len(inliers)} matches{nor}{also} (fewer happen by chance between unrelated "
                                   f"images): {FAILED}{kept}")
            if tested is not None:  # no geometry sorted them: the ratio test does, as without a
                # geometry; each match keeps its mark from the failed fit to the mutual matches
                marked = {pair: ok for pair, ok in zip(keyed(whole), inliers.tolist(), strict=True)}
                whole = tested
                inliers = np.array([marked.get(pair, False) for pair in keyed(whole)], bool)
        answer.inliers, answer.verified = inliers[:opts.max_matches], int(inliers.sum())
    else:
        scene = await ctx.on_pool(matching.scene_inliers, whole, threshold)
        answer.one_scene = scene is not None
        answer.warnings.append(NO_SCENE if not answer.one_scene else UNVERIFIED)
        answer.explained = None if scene is None else scene[:opts.max_matches]
    if method == "dense" and (answer.matrix is None if opts.geometry != "none" else not answer.one_scene):
        answer.warnings[:0] = await bare_sides(a, b, ctx)  # the sparse method names them first too
        if answer.guide is not None:  # the dense features failed where the keypoints did not
            answer.warnings.append(SPARSE_FOUND.format(answer.guide))
    answer.matches = matching.first(whole, opts.max_matches)
    answer.timing_ms["geometry"] = 1e3 * (time.perf_counter() - t2)
    verified = answer.inliers if answer.matrix is not None else None
    failed = opts.geometry != "none" or not answer.one_scene
    answer.confidence = calibration.for_matches(model, method, answer.matches.score, verified, failed,
                                                answer.explained, "-uncopied" if answer.uncopied else "")
    return answer


def chosen(m: Matches, geometry: str, threshold_px: float,
           guide: str | None = None) -> tuple[str, matching.Guide | None]:
    """The geometry to verify the matches ``m`` by: the one asked for, or for "auto" the one that
    fits best, chosen as a transfer's guide is (``matching.fit_guide``): a homography for a plane
    or a turning camera, a fundamental matrix for a scene with depth; a homography where neither
    is found (its failure is what the answer warns of, and a narrow one is looked for among the
    matches that pass the ratio test). ``guide``: the choice of the sparse matches that the dense
    method's pre-alignment rests on (``Answer.guide``), taken instead where there is one: dense
    matches carry no Lowe's ratio to tell a fundamental matrix's look-alikes by
    (``fundamental_support``). With it, the fit that chose it (its RANSAC is ``matching.verify``'s
    on the same matches: not to be run again), or None where there is none."""
    if geometry != "auto":
        return geometry, None
    if guide is not None:
        return guide, None
    fitted = matching.fit_guide(m, threshold_px)
    return (fitted.kind, fitted) if fitted is not None else ("homography", None)


def explained_too(sa: SparseFeatures, sb: SparseFeatures, m: Matches, h: np.ndarray, inliers: np.ndarray,
                  threshold_px: float) -> tuple[Matches, np.ndarray]:
    """The sparse matches ``m`` with the homography ``h`` verified on them (``inliers``), and the
    keypoint pairs it explains besides, as inliers (``sparse.explained``: within RANSAC's
    threshold, keypoints agreeing, at least as alike as its least alike inlier; ``matching.joined``).
    On the validation pairs these add a tenth more correct verified matches, nearly all right
    (``eval.robustness``; docs/correspondences.md)."""
    held = matching.rows(m, inliers)
    extra = sparse.explained(sa, sb, h, threshold_px, float(held.score.min()), held)
    return matching.joined(m, inliers, extra)


async def one_direction(a: Side, xy: np.ndarray, kind: str, answer: Answer, ctx: Context) -> None:
    """Warns where the inliers ``xy`` of the geometry ``kind`` lie on edges that run one way in
    image a (``aperture``), where a's pixels are at hand."""
    image = await a.pixels(ctx.settings)
    if image is None:
        return
    value = await ctx.on_pool(aperture.spread, image, xy)
    if value < aperture.ONE_DIRECTION:
        answer.warnings.append(aperture.warning(kind, len(xy), value))


def keyed(m: matching.Matches) -> list[tuple[float, ...]]:
    """Each match as its two positions, to find it again in another set of the same features' matches."""
    return [tuple(r) for r in np.hstack([m.xy_a, m.xy_b]).tolist()]


async def dense_correspondences(a: Side, b: Side, model: LoadedModel, opts: Options, ctx: Context) -> Answer:
    """Dense matches; when both images' bytes are at hand, in copies brought to meet each other
    (``through_copies``) whenever the sparse matches agree that the two differ in scale or
    rotation (dense features compare like with like only at about one scale and orientation), or
    when b is a's plane in perspective and fewer of the direct search's matches agree with it
    than sparse ones did, or when the copy of b they bring onto a, even by a shift, standardises b
    apart from b alone (``apart_copy``: one a part of the other, such as a crop, whose grey
    levels are not the whole's). Without the bytes (ids whose bytes are gone) the search is direct, and where
    the images' cached keypoints say b is scaled or turned, the answer says so and its matches read
    curves of their own (``Answer.uncopied``)."""
    t0 = time.perf_counter()
    both = a.data is not None and b.data is not None
    fa, fb, sparse_found = await asyncio.gather(dense_map(a, model, ctx), dense_map(b, model, ctx),
                                                cached_guide(a, b, ctx))
    guide, pre, placed = None, None, None
    if sparse_found is not None:
        guide = sparse_found[0]
        pre = prealignment_from(guide, sparse_found[1], ctx.settings.ransac_threshold_px, zoom_of(fa, fb))
        placed = pre if pre is not None or guide is None or guide.kind != "homography" else \
            by_plane_map(*plane_map(guide, sparse_found[1]), False, int(guide.inliers.sum()))  # a shift
    made = None  # b's copy standardised as a, made to tell whether b alone is standardised apart from it
    if both and placed is not None and not placed.required:
        made = await apart_copy(a, b, placed, fa, fb, ctx)
    timing = {"features": 1e3 * (time.perf_counter() - t0)}
    search = partial(matching.match, max_queries=ctx.settings.max_queries, mutual=opts.mutual, ratio=opts.ratio,
                     consensus=consensus.Consensus() if opts.consistency else None)  # every match: the caller cuts
    if made is None and (pre is None or not pre.required or not both):
        direct = await ctx.on_pool(search, fa, fb)
        direct = await ctx.on_pool(frames.off_frames, fa, fb, direct, ctx.settings.ransac_threshold_px, guide)
        if not both or pre is None or agreeing(direct, pre.w, 4 * ctx.settings.ransac_threshold_px) >= pre.support:
            answer = Answer("dense", model.name, direct, timing_ms=timing, a_size=(fa.width, fa.height),
                            guide=guide.kind if guide else None, uncopied=not both and pre is not None and pre.required,
                            seen_from_side=guide.seen_from_side if guide else None)
            if answer.uncopied:
                answer.warnings.append(without_copies(pre, f"the {NOT_PREALIGNED}") + ": send both images' bytes or "
                                       "use method=sparse")
            elif not both:
                answer.warnings.append(f"{FEATURES_ONLY}, so the {NOT_PREALIGNED}: if the images differ much in "
                                       "scale or rotation, send both images' bytes or use method=sparse")
            return answer
    pre = placed
    fw, fab = await prealigned_copies(a, b, fa, fb, pre, model, ctx, made)
    timing["features"] = 1e3 * (time.perf_counter() - t0)
    found = await ctx.on_pool(through_copies, search, fa, fb, fw, fab, pre.w, 4 * ctx.settings.ransac_threshold_px)
    found = await ctx.on_pool(frames.off_frames, fa, fb, found, ctx.settings.ransac_threshold_px, guide)
    return Answer("dense", model.name, found, prealigned=pre.described, timing_ms=timing, a_size=(fa.width, fa.height),
                  guide=guide.kind if guide else None, seen_from_side=guide.seen_from_side if guide else None)


async def prealigned_copies(a: Side, b: Side, fa: FeatureMap, fb: FeatureMap, pre: Prealignment,
                            model: LoadedModel, ctx: Context, made: tuple[Decoded, str] | None = None
                            ) -> tuple[FeatureMap, FeatureMap | None]:
    """Dense features of b brought onto a by ``pre`` (b's pixels -> a's; ``made``: that copy and its
    fill, where made already) and, when b shows a's content larger and a's pixels are at hand, of a
    brought onto b (else None)."""
    fw = await copy_of(b, pre.w, fa, model, ctx, like=a, made=made)
    if pre.described["scale"] / zoom_of(fa, fb) <= 1 or a.data is None:
        return fw, None
    return fw, await copy_of(a, np.linalg.inv(pre.w), fb, model, ctx, like=b)


async def copy_of(src: Side, w: np.ndarray, onto: FeatureMap, model: LoadedModel, ctx: Context,
                  behind: Side | None = None, like: Side | None = None, made: tuple[Decoded, str] | None = None
                  ) -> FeatureMap:
    """Dense features of ``src`` brought by ``w`` (its pixels -> ``onto``'s) onto ``onto``'s frame
    (``warped_into``; ``like``: the image of that frame, whose standardisation the noise beyond
    ``src`` gives the copy; ``made``: the copy and its fill, made already), cached
    (``dense.copy_features``). With ``behind`` (the image of that
    frame), its pixels where ``src`` does not reach: such a copy holds both images, and a deletion
    of either must drop what derives from it, so it is made once a request and never cached."""
    if behind is None:
        copy, fill = made if made is not None else await warped_into(src, w, onto, ctx, like=like)
        return await dense.copy_features(await src.digest(), w, (onto.width, onto.height), copy, fill, model,
                                         ctx.cache, ctx.settings, ctx.owner)
    key = dense.copy_frame(w, (onto.width, onto.height), f"image:{await behind.digest()}")
    async def made() -> FeatureMap:
        copy, _ = await warped_into(src, w, onto, ctx, behind=behind)
        return await dense.computed(copy, model, ctx.settings)
    if key not in src._copies:
        src._copies[key] = asyncio.ensure_future(made())
    return await src._copies[key]


async def apart_copy(a: Side, b: Side, pre: Prealignment, fa: FeatureMap, fb: FeatureMap,
                     ctx: Context) -> tuple[Decoded, str] | None:
    """b's copy brought onto a by ``pre``, standardised as a (``warped_into``), and its fill, where
    it shifts or scales b's grey levels apart from b standardised alone (``margins.apart``): b shows
    a part of a (a crop, a zoomed view) whose grey levels are not the whole's, and b's own dense
    features match a's nowhere (a photo's darker corner cut out: 1 % of its cells found). None
    elsewhere, and where each shows SAME_VIEW of the other or more: the copy is then b (decoding
    both images spared). The copy made is the one searched, not made again."""
    if min(align.share_covered(pre.w, (fb.width, fb.height), (fa.width, fa.height)),
           align.share_covered(np.linalg.inv(pre.w), (fa.width, fa.height), (fb.width, fb.height))) >= SAME_VIEW:
        return None
    copy, fill = await warped_into(b, pre.w, fa, ctx, like=a)
    own = margins.filled((await b.pixels(ctx.settings)).pixels)
    apart = margins.apart(float(own.mean()), float(own.std()), float(copy.pixels.mean()), float(copy.pixels.std()))
    return (copy, fill) if apart else None


def through_copies(search: Callable[[FeatureMap, FeatureMap], Matches], fa: FeatureMap, fb: FeatureMap,
                   fw: FeatureMap, fab: FeatureMap | None, w: np.ndarray, reach_px: float) -> Matches:
    """Matches of a and b found at a's scale (a against ``fw``, b brought onto a by ``w``) and,
    with ``fab`` (a brought onto b), at b's finer scale; the search more of whose matches ``w``
    agrees with answers: an enlarged copy of a keeps coarse structure, and gives many times the
    matches there, but blurs fine print away."""
    m = search(fa, fw)
    xy_b = matching.project(np.linalg.inv(w), m.xy_b).astype(np.float32)
    inside = matching.within(xy_b, fb.width, fb.height)
    best = Matches(m.xy_a[inside], xy_b[inside], m.score[inside], apart=m.apart)
    if fab is not None:
        m = search(fab, fb)
        xy_a = matching.project(w, m.xy_a).astype(np.float32)
        inside = matching.within(xy_a, fa.width, fa.height)
        # counted apart by a's own cells, the coarser: its copy's are finer in a's pixels
        up = Matches(xy_a[inside], m.xy_b[inside], m.score[inside], apart=matching.apart_in(fa.stride, fa.scale))
        if agreeing(up, w, reach_px) > agreeing(best, w, reach_px):
            best = up
    return best


def agreeing(m: Matches, w: np.ndarray, reach_px: float) -> int:
    """How many matches the map ``w`` (b's pixels -> a's) brings within ``reach_px`` of a's point."""
    return int((np.linalg.norm(matching.project(w, m.xy_b) - m.xy_a, axis=1) <= reach_px).sum())


@dataclass
class Prealignment:
    w: np.ndarray  # (3, 3) b's pixels as sent -> a's
    described: dict[str, float]  # how it scales and turns b (``describe``)
    required: bool  # b differs from a in scale or rotation: the direct dense search is hopeless
    support: int  # the sparse inliers it was fitted to


def prealignment_from(guide: matching.Guide | None, m: Matches, threshold_px: float,
                      zoom: float = 1.0) -> Prealignment | None:
    """The map taking b's pixels to a's of a geometry fitted to the matches ``m``: its homography
    for a plane (or a turning camera), perspective included, else the inliers' similarity;
    ``required`` when it scales or turns b as the dense features see it (``similarity_of``;
    ``zoom``: see ``zoom_of``); None when there is none or it is about a shift."""
    if guide is None:
        return None
    support = int(guide.inliers.sum())
    s = similarity_of(m, guide.inliers, threshold_px, zoom)
    if guide.kind != "homography":
        return None if s is None else Prealignment(np.vstack([s, [0, 0, 1]]), describe(s), True, support)
    w, pb, moved = plane_map(guide, m)
    drift = moved - pb - np.median(moved - pb, axis=0)
    if s is None and np.percentile(np.abs(drift), 90) <= SHIFT_PX:
        return None
    return by_plane_map(w, pb, moved, s is not None, support)


def zoom_of(fa: FeatureMap, fb: FeatureMap) -> float:
    """How many times as finely a's dense features sample a's pixels as b's sample b's: each image
    is shrunk to DENSE_MAX_SIDE on its own, so a 4000-pixel photo and a 640-pixel cut of it, alike
    in scale as sent, meet at six times apart."""
    return fa.scale / fb.scale


def plane_map(guide: matching.Guide, m: Matches) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A homography guide as the map of b's pixels to a's (3, 3), b's inliers (N, 2) and where it
    puts them in a (N, 2)."""
    w = np.linalg.inv(guide.model)
    w /= abs(w[2, 2])  # the sign kept: b's points of the plane in front of the camera (``matching.facing``)
    pb = m.xy_b[guide.inliers].astype(np.float64)
    return w, pb, matching.project(w, pb)


def by_plane_map(w: np.ndarray, pb: np.ndarray, moved: np.ndarray, required: bool, support: int) -> Prealignment:
    """The prealignment by a plane's map ``w`` (``plane_map``), described by the similarity of its
    inliers ``pb`` to where it puts them (``moved``)."""
    fit, _ = cv2.estimateAffinePartial2D(pb, moved)
    return Prealignment(w, describe(fit), required, support)


async def warped_into(b: Side, w: np.ndarray, fa: FeatureMap, ctx: Context, behind: Side | None = None,
                      like: Side | None = None) -> tuple[Decoded, str]:
    """Image b under ``w`` (a similarity (2, 3) or a homography (3, 3): b's pixels as sent ->
    a's), on a's frame, and what fills it where b does not reach (``dense.warped_copy``): with
    ``behind`` (image a's side), a's own pixels; else noise, standardising the frame as ``like``
    (image a's side, where its pixels are at hand) standardises b's pixels there."""
    img = await b.pixels(ctx.settings)
    m = (np.vstack([w, [0, 0, 1]]) if w.shape[0] == 2 else w) @ img.to_sent()
    frame = behind if behind is not None else like
    own = None if frame is None else await frame.pixels(ctx.settings)
    other = None if own is None else await run_in_threadpool(
        cv2.warpPerspective, own.pixels if behind is not None else margins.filled(own.pixels), own.to_sent(),
        (fa.width, fa.height))
    out, fill = await run_in_threadpool(dense.warped_copy, img.pixels, m, (fa.width, fa.height),
                                        *((other, None) if behind is not None else (None, other)))
    return Decoded(out, fa.width, fa.height), fill


@dataclass
class Aligned:
    """``alignment``'s answer: b aligned to a (``solved``), the prealignment when it won, what the
    answer warns of, whether their sparse matches fit one scene (None where they are not at hand),
    and those matches."""
    solved: align.Alignment
    pre: Prealignment | None = None
    warnings: list[str] = field(default_factory=list)
    one_scene: bool | None = None
    matches: Matches | None = None
    seen_from_side: dict[str, float] | None = None  # the sparse guide was fitted in a copy of a seen from the side


async def alignment(a: Side, b: Side, fa: FeatureMap, fb: FeatureMap, model: LoadedModel, p: align.Params,
                    ctx: Context) -> Aligned:
    """Image b aligned to a by the MRF (``service.align``). When both images' bytes are at hand
    and the sparse matches agree on a geometry beyond a shift (``prealignment_from``), the MRF also
    solves what is left in a copy of b brought onto a by it (its search window and small-
    displacement prior fit a residual, not a homography), that field is taken back into b, and
    the field of lower MRF energy over the cells b shows (``lower``) is the answer: a plane's
    homography wins by far, while for a non-rigid warp a homography fitted to part of it loses
    to the direct field. Where the sparse
    matches fit no geometry at all (``matching.one_scene``: every unrelated validation pair, no
    related one) the answer warns (``ALIGN_NO_SCENE``): the field answers whatever the images
    show. With an image id whose bytes are gone only the direct field is solved (``DIRECT_ONLY``),
    and the scene is checked where its sparse features are still cached. ``fa``, ``fb``: the images' dense features."""
    guide, m = await cached_guide(a, b, ctx) or (None, None)  # None: an id whose keypoints are gone too
    threshold = ctx.settings.ransac_threshold_px
    scene = None if m is None else guide is not None or await ctx.on_pool(matching.one_scene, m, threshold)
    warnings = [ALIGN_NO_SCENE] if scene is False else []
    seen = guide.seen_from_side if guide is not None else None
    if a.data is None or b.data is None:
        return Aligned(await ctx.on_pool(align.align, fa, fb, p), None, [DIRECT_ONLY, *warnings], scene, m, seen)
    pre = prealignment_from(guide, m, threshold, zoom_of(fa, fb)) or off_relative_place(guide, m, fa, fb)
    if pre is None:
        return Aligned(await ctx.on_pool(align.align, fa, fb, p), None, warnings, scene, m, seen)
    fw = await copy_of(b, pre.w, fa, model, ctx, a)  # a's own pixels where b does not reach
    direct, residual = await asyncio.gather(ctx.on_pool(align.align, fa, fb, p), ctx.on_pool(align.align, fa, fw, p))
    if lower(direct, residual, align.seen_in(direct, np.linalg.inv(pre.w), (fb.width, fb.height))):
        return Aligned(direct, None, warnings, scene, m, seen)
    return Aligned(align.through(residual, np.linalg.inv(pre.w)), pre, warnings, scene, m, seen)


def lower(direct: align.Alignment, residual: align.Alignment, seen: np.ndarray) -> bool:
    """Whether the direct field's energy is no higher than the residual's (solved in b's copy
    brought onto a), over the cells of a that b shows (``seen``): where b shows part of a (a crop
    of it, b zoomed in) the rest of the copy is fill, where no field matches, while the direct
    field stretches b over all of a and finds something there. Over all of a, the field solved in
    the copy of a 300 x 200 crop of the rocket photo lost to a direct field 53 px off at the median."""
    if seen.all() or not seen.any():
        return direct.energy["total"] <= residual.energy["total"]
    return float(direct.cost[seen].sum()) <= float(residual.cost[seen].sum())


def off_relative_place(guide: matching.Guide | None, m: Matches, fa: FeatureMap, fb: FeatureMap
                       ) -> Prealignment | None:
    """For the MRF, whose zero field puts each point of a at the same relative place in b: a
    homography that ``prealignment_from`` leaves out as about a shift, when the images differ in
    size and it moves b's inliers more than SHIFT_PX from where the relative place would (an object
    cut from a scene, sent with the whole scene at its own scale: the direct field missed there,
    and its way back too)."""
    if guide is None or guide.kind != "homography" or (fa.width, fa.height) == (fb.width, fb.height):
        return None
    w, pb, moved = plane_map(guide, m)
    relative = pb * [fa.width / fb.width, fa.height / fb.height]
    if np.percentile(np.linalg.norm(moved - relative, axis=1), 90) <= SHIFT_PX:
        return None
    return by_plane_map(w, pb, moved, False, int(guide.inliers.sum()))


async def cached_guide(a: Side, b: Side, ctx: Context, kind: str = "auto"
                       ) -> tuple[matching.Guide | None, Matches] | None:
    """``sparse_guide``, or None where an image id's bytes and keypoints are both gone."""
    try:
        return await sparse_guide(a, b, ctx, kind)
    except NotFound:
        return None


def without_copies(pre: Prealignment, so: str) -> str:
    """The warning of an answer by ids without their bytes where b is scaled or turned (``pre``),
    so that what needs copies brought onto each other was not done (``so``)."""
    return (f"{SHOWN_AT} {pre.described['scale']:.3g}x, turned {pre.described['rotation_deg']:.0f} degrees, but "
            f"{FEATURES_ONLY}, so {so}")


async def sparse_guide(a: Side, b: Side, ctx: Context, kind: str = "auto") -> tuple[matching.Guide | None, Matches]:
    """The pair's geometry from the sparse matches (robust to scale and rotation), and the matches
    it was fitted to: the mutual ones, or where they fit nothing or only in a tenth of image a
    (``NARROW``) those that also pass the ratio test, when these fit wider; ``kind``: see
    ``matching.fit_guide``."""
    model = ctx.model("sparse", None)
    sa, sb = await asyncio.gather(sparse_set(a, model, ctx), sparse_set(b, model, ctx))
    m = await ctx.on_pool(sparse.match, sa, sb, None, True)  # mutual only: RANSAC sorts them out
    fit = partial(matching.fit_guide, threshold_px=ctx.settings.ransac_threshold_px, min_inliers=GUIDE_INLIERS,
                  kind=kind)
    guide = await ctx.on_pool(fit, m)
    span = 0.0 if guide is None else matching.coverage(m.xy_a[guide.inliers], sa.width, sa.height)
    if span < NARROW:  # one image a small part of the other: its matches pass the ratio test (``correspondences``)
        tested = await ctx.on_pool(sparse.match, sa, sb, sparse.RATIO, True)
        again = await ctx.on_pool(fit, tested)
        if again is not None and (guide is None or
                                  matching.coverage(tested.xy_a[again.inliers], sa.width, sa.height) > span):
            return again, tested
    if guide is None and ctx.settings.sparse_side_views:
        return await guide_from_the_side(a, sb, ctx, fit) or (guide, m)
    return guide, m


async def guide_from_the_side(a: Side, sb: SparseFeatures, ctx: Context, fit: Callable[[Matches], Any]
                              ) -> tuple[matching.Guide, Matches] | None:
    """Where a's sparse matches fit no guide: the one fitted (``fit``) to those of its copy seen from
    the side (``side_copies``) with the most inliers, where they span NARROW of a or more, and
    the matches in a's pixels; None where no copy's fit one."""
    copies = await side_copies(a, ctx)
    if copies is None:
        return None
    model, best = ctx.model("sparse", None), None
    for side, _, to_a, seen_as in copies:
        sv = await sparse_set(side, model, ctx)
        m = await ctx.on_pool(sparse.match, sv, sb, None, True)
        guide = await ctx.on_pool(fit, m)
        if guide is not None and (best is None or guide.inliers.sum() > best[0].inliers.sum()):
            best = guide, m, to_a, seen_as
    if best is None:
        return None
    guide, m, to_a, seen_as = best
    m = side_views.in_a(m, to_a)
    decoded = await a.pixels(ctx.settings)
    if guide.kind == "homography" and matching.coverage(m.xy_a[guide.inliers], decoded.width, decoded.height) < NARROW:
        return None
    return side_views.guide_in_a(guide, to_a, seen_as), m


def similarity_of(m: Matches, inliers: np.ndarray, threshold_px: float, zoom: float = 1.0) -> np.ndarray | None:
    """The similarity (2, 3) taking b's pixels to a's that the inlier matches agree on, when it is
    far enough from the identity to matter (a quarter octave, 20 degrees) where a's pixels are
    ``zoom`` times as many as b's to the features (``zoom_of``); else None."""
    if inliers.sum() < MIN_INLIERS:
        return None
    s, ok = cv2.estimateAffinePartial2D(m.xy_b[inliers], m.xy_a[inliers], method=cv2.RANSAC,
                                        ransacReprojThreshold=4 * threshold_px)
    if s is None or ok.sum() < MIN_INLIERS:
        return None
    return s if far_from_identity(s, zoom) else None


def far_from_identity(s: np.ndarray, zoom: float = 1.0) -> bool:
    """Whether a similarity (2, 3), its scale times ``zoom``, scales by a quarter octave or more,
    or turns by 20 degrees."""
    scale, angle = zoom * np.sqrt(abs(np.linalg.det(s[:, :2]))), np.degrees(np.arctan2(s[1, 0], s[0, 0]))
    return abs(np.log2(scale)) >= 0.25 or abs(angle) >= 20


def describe(s: np.ndarray) -> dict[str, float]:
    """How b was turned to meet a: its scale relative to a and its rotation, in degrees."""
    return {"scale": round(1 / float(np.sqrt(abs(np.linalg.det(s[:, :2])))), 4),
            "rotation_deg": round(float(-np.degrees(np.arctan2(s[1, 0], s[0, 0]))), 2) + 0.0}  # never -0.0
