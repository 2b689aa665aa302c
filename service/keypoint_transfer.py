"""Keypoint transfer: each point of image a found in image b (``POST /v1/keypoints/transfer``).

The pair's geometry is fitted to the sparse matches (``correspond.sparse_guide``): a homography
puts each point, or a fundamental matrix's epipolar line bounds its search, which runs in the dense
features (``service.point_transfer``), in copies of the images brought onto each other where b is
scaled or turned. Where a fundamental matrix guides while a homography also holds, each point may
go where the plane puts it instead. Each point carries its round trip (``consistent``), its local
support and a calibrated confidence; the answer warns where no geometry guided it.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from service import align, calibration, frames, local_warp, matching, point_transfer, second_motion
from service.correspond import (
    FEATURES_ONLY,
    NARROW,
    Context,
    Prealignment,
    Side,
    alignment,
    bare_sides,
    cached_guide,
    copy_of,
    dense_map,
    narrow,
    prealigned_copies,
    prealignment_from,
    without_copies,
    zoom_of,
)
from service.feature_map import FeatureMap
from service.matching import Matches
from service.points import inside, read_points
from service.registry import LoadedModel


@dataclass
class Transferred:
    model: str
    transfer: point_transfer.Transfer
    points: np.ndarray  # (K, 2) the points of a, as parsed
    warnings: list[str] = field(default_factory=list)
    prealigned: dict[str, float] | None = None
    confidence: np.ndarray | None = None  # (K,) see service.calibration
    in_view: np.ndarray | None = None  # (K,) bool: inside image b by the homography that guided them
    support: np.ndarray | None = None  # (K,) see ``support_of``
    second_motion: np.ndarray | None = None  # (K,) bool, where a second geometry was found: placed by it
    local_warp: np.ndarray | None = None  # (K,) bool, where the homography spans little of a: placed by a local map
    coverage: float | None = None  # the share of a the guiding homography's inliers span
    one_scene: bool | None = None  # method=align: whether the images' sparse matches fit a geometry
    seen_from_side: dict[str, float] | None = None  # the sparse guide was fitted in a copy of a seen from the side
    timing_ms: dict[str, float] = field(default_factory=dict)  # the steps' times (see ``transfer``)


def through_prealigned(fa: FeatureMap, fb: FeatureMap, fw: FeatureMap, fab: FeatureMap | None,
                       points: np.ndarray, pre: Prealignment, guide: matching.Guide,
                       tol: float) -> point_transfer.Transfer:
    """Points of a (K, 2) found in b through copies brought onto each other by ``pre`` (b's
    pixels -> a's; ``prealigned_copies``): searched at a's scale in the copy of b brought onto a
    (``fw``) and mapped back; when b shows a's content larger, also at b's finer scale in the copy
    of a brought onto b (``fab``), keeping per point the consistent, more similar answer (a copy of
    a enlarged is blurred, which suits coarse structure but not fine print; the copy of b shrunk
    is sharp but coarse)."""
    wa = np.linalg.inv(pre.w)  # a's pixels -> b's
    down = matching.Guide(guide.kind, pre.w @ guide.model if guide.kind == "homography" else wa.T @ guide.model)
    t1 = point_transfer.transfer(fa, fw, points, tol, down)
    t1.xy = matching.held_in(matching.project(wa, t1.xy), fb.width, fb.height).astype(np.float32)
    if fab is None:
        return t1
    zoom = pre.described["scale"]
    t2 = point_transfer.transfer(fab, fb, matching.project(wa, points).astype(np.float32), tol * zoom,
                                 matching.Guide(guide.kind, guide.model @ pre.w))
    t2.cycle_error = (t2.cycle_error / zoom).astype(np.float32)  # in a's pixels
    return point_transfer.either(t1, t2)


def plane_where_alike(search: Callable[[matching.Guide], point_transfer.Transfer], tr: point_transfer.Transfer,
                      plane: matching.Guide, points: np.ndarray, fb: FeatureMap) -> point_transfer.Transfer:
    """``tr`` (searched along a fundamental matrix's epipolar lines) with each point moved to where
    the homography ``plane`` puts it (found by ``search``, the same copies as ``tr``'s) wherever
    that lies in b and the features there are at least as similar (``point_transfer.more_alike``)."""
    _, in_view = matching.lands_in(plane.model, points, fb.width, fb.height, matching.BORDER_SLACK_PX)
    return point_transfer.more_alike(tr, search(plane), in_view)


LINES_HOLD = 0.75
LEAST_PROBES, MOST_PROBES = 8, 64
# the sparse matches an aligned point's support counts (``field_support``): those passing Lowe's
# 0.8, the ratio his paper and our SIFT baseline use. Of all mutual matches, 0.9 and 0.8, 0.8 read
# the validation objects in clutter and the grid of dots best, each scene off curves fitted on the
# others (Brier 0.075 and 0.242, against 0.085 and 0.269 counting every match)
SUPPORT_RATIO = 0.8


def lines_hold(find: Callable[..., point_transfer.Transfer], guide: matching.Guide, plane: matching.Guide,
               m: Matches, share: float = LINES_HOLD) -> bool:
    """Whether the epipolar search of the fundamental matrix ``guide`` (``find(points, guide=)``)
    comes back (``consistent``) from at least ``share`` of the places of a where ``guide``
    explains a sparse match (of ``m``) that the homography ``plane`` beside it does not (the
    evidence of depth; at most MOST_PROBES of them, evenly), or there are under LEAST_PROBES such
    places. Off a scene's plane its features do single places out: 85-100 % came back on Aloe, its
    windows and the cube moved by hand. Where a camera turned about its centre saw repeated
    structure and b is noisy or JPEG-compressed (leuven, ``eval.robustness --degraded``), 60-64 %:
    the fundamental matrix threads look-alikes onto its lines, and the homography should guide."""
    extra = np.flatnonzero(guide.inliers & ~plane.inliers)
    if len(extra) < LEAST_PROBES:
        return True
    probes = m.xy_a[extra[:: -(-len(extra) // MOST_PROBES)]].astype(np.float32)
    return float(find(probes, guide=guide).consistent.mean()) >= share


def extrapolated(coverage: float | None, support: np.ndarray | None, warped: np.ndarray | None,
                 moved: np.ndarray | None) -> np.ndarray | None:
    """(K,) bool: the points a homography whose inliers span under ``NARROW`` of image a
    (``coverage``) put far from them (``support`` under ``local_warp.BELOW``), where no local map
    (``warped``) or second motion (``moved``) placed them; None where no such homography guided.
    They read a curve of their own (``calibration.for_transfer``): of 301 such points of the
    validation transfers (the far side of an object moved by hand, the periphery of two lenses'
    projections) 21 % lay within 3 px, where the curve of all homography-put points had given
    the object's 0.53 for 36 % and the lenses' 0.66 for 21 % and 0.75 for none."""
    if coverage is None or support is None or coverage >= NARROW:
        return None
    far = support < local_warp.BELOW
    for placed in (warped, moved):
        if placed is not None:
            far &= ~placed
    return far


def support_of(guide: matching.Guide | None, m: Matches | None, points: np.ndarray, by_plane: np.ndarray | None,
               second: matching.Guide | None = None, moved: np.ndarray | None = None,
               second_m: Matches | None = None) -> np.ndarray | None:
    """(K,) each point's local support (``point_transfer.support``) by the geometry that placed it: the
    homography of a ``by_plane`` point, the ``second`` geometry of a point that ``moved`` with it
    (``second_motion``; among the matches ``second_m`` it was fitted to, ``m`` unless said), else
    the guide; None without a guide fitted to sparse matches. On the
    validation transfers, homography-put points with support under 0.5 lay within 3 px of the
    truth 52 % of the time, the rest 97 % (a depth window's other surface, a second motion, a
    street's look-alikes)."""
    if guide is None or m is None or guide.inliers is None:
        return None
    own = point_transfer.support(points, m.xy_a, guide.inliers)
    if by_plane is not None and guide.plane is not None and guide.plane.inliers is not None:
        own = np.where(by_plane, point_transfer.support(points, m.xy_a, guide.plane.inliers), own)
    if second is not None and moved is not None and moved.any():
        own[moved] = point_transfer.support(points[moved], (m if second_m is None else second_m).xy_a, second.inliers)
    return own


def locally_corrected(tr: point_transfer.Transfer, guide: matching.Guide | None, m: Matches | None,
                      points: np.ndarray, in_view: np.ndarray | None, moved: np.ndarray | None,
                      fb: FeatureMap) -> point_transfer.Transfer:
    """``tr`` with each point a homography fitted to the sparse matches ``m`` put in b (the guide,
    where it lands ``in_view``, or the plane beside a fundamental matrix: ``by_plane``, in view by
    ``plane_where_alike``; not one that ``moved`` with a second motion) moved by the homography's
    residual at the matches around it (``point_transfer.local_offset``); its ``score`` stays the
    features' similarity where the homography put it. Two frames of a still camera's video
    (``eval.moving``), within 3 px: the points that moved 94 -> 100 % (basketball) and 59 -> 95 %
    (RubberWhale), those that stayed 76 -> 85 % and 100 %; a street from a camera not quite
    turned about its centre (leuven, judged at SIFT's matches): 94 -> 98 %; Aloe's windows
    69 -> 72 %; planes unchanged."""
    plane = None if guide is None or m is None else guide if guide.kind == "homography" else guide.plane
    put = in_view if guide is not None and guide.kind == "homography" else tr.by_plane
    if plane is None or plane.inliers is None or put is None:
        return tr
    if moved is not None:
        put = put & ~moved
    if put.any():
        off = point_transfer.local_offset(plane.model, m.xy_a, m.xy_b, plane.inliers, points[put])
        tr.xy[put] = np.clip(tr.xy[put] + off, 0, [fb.width - 1, fb.height - 1])
    return tr


def second_geometry(find: Callable[..., point_transfer.Transfer], guide: matching.Guide | None,
                    m: Matches | None, threshold_px: float, points: np.ndarray,
                    geometry: str = "auto") -> matching.Guide | None:
    """Beside a homography guide fitted to the sparse matches ``m``, the geometry of the matches it
    misses (``second_motion.fit``) where the search along it comes back from at least
    ``second_motion.COMES_BACK`` of their places (``lines_hold``); else None, and always where the
    caller named the ``geometry`` (theirs guides every point) or none of the ``points`` could
    follow it (``second_motion.possible``)."""
    if geometry != "auto" or guide is None or guide.kind != "homography" or m is None:
        return None
    if not second_motion.possible(points, m, guide):
        return None
    second = second_motion.fit(m, guide, threshold_px)
    if second is None or not lines_hold(find, second, guide, m, second_motion.COMES_BACK):
        return None  # none, or look-alikes threaded onto its lines
    return second


def dense_second(find: Callable[..., point_transfer.Transfer], fa: FeatureMap, fb: FeatureMap,
                 guide: matching.Guide | None, m: Matches | None, threshold_px: float, points: np.ndarray,
                 geometry: str = "auto") -> tuple[matching.Guide, Matches, matching.Guide, np.ndarray] | None:
    """Where the sparse matches show no second motion (``second_geometry``), the one the dense
    features' matches show around the points the homography ``guide`` leaves unsupported
    (``second_motion.dense_near``; those of whose 8 nearest sparse matches it explains under
    ``1 - second_motion.HOLDS``): a homography that explains more of those dense matches than
    the guide does, judged as ``second_geometry`` judges the sparse one's. -> (it, the dense
    matches, the guide's inliers among them, those points (K,) bool), or None. A box with a
    printed face of five dots moved by hand before a still camera (``models.data.mire``) gives
    the detector a handful of keypoints on it and the dense features hundreds of matches (of
    which the guide explained 22-38 %). Where the guide explains as many, the sparse matches it
    missed were look-alikes: a street's windows (leuven: the guide 46-49 %, a homography one
    window off 15-20 %, which would have moved 5-7 right points in a hundred), before an
    unrelated photo's clutter whose sky then matched the clutter's sky (62 %; a homography of
    200 dense matches, none right). A fundamental matrix fitted to the plain box's dense matches
    threaded its black top along lines: 0-28 % of its points within 3 px where its homography
    put 38-47 %."""
    if geometry != "auto" or guide is None or guide.kind != "homography" or m is None or guide.inliers is None:
        return None
    low = second_motion.unsupported(points, m, guide)
    if not low.any():
        return None
    for most in (second_motion.FIRST_CELLS, second_motion.MOST_CELLS):  # a few cells first: most often enough
        dm = second_motion.dense_near(fa, fb, points[low], most=most, agree=most == second_motion.MOST_CELLS)
        first = second_motion.inliers_among(dm, guide, threshold_px)
        if not len(dm.xy_a) or first.inliers.mean() >= 0.5:
            return None  # the dense matches there mostly follow the guide: no second can explain more of them
    second = second_motion.fit(dm, first, threshold_px, "homography")
    if second is None or second.inliers.sum() <= first.inliers.sum() or \
            not lines_hold(find, second, first, dm, second_motion.COMES_BACK):
        return None
    return second, dm, first, low


async def aligned(a: Side, b: Side, fa: FeatureMap, fb: FeatureMap, points: np.ndarray, model: LoadedModel,
                  ctx: Context) -> Transferred:
    """Points of a (K, 2) carried along the MRF's field of b aligned to a, as ``/v1/align``
    answers it (``correspond.alignment``: with both images' bytes, solved in a copy of b brought
    onto a by the sparse matches' geometry where that field's energy is lower), and back along a
    aligned to b in the same frame (a copy of a brought onto b, if b's was; for an object that covers
    under half of b, b's copy aligned to a: ``align.back_in_frame_of_a``); their confidence off
    the curve of such transfers' round trips, none where the sparse matches fit no geometry (the
    images may not show one scene: ``correspond.ALIGN_NO_SCENE``)."""
    p = align.Params()
    out = await alignment(a, b, fa, fb, model, p, ctx)
    pre = out.pre
    if pre is None:
        backward = await ctx.on_pool(align.align, fb, fa, p)
    else:
        covered = align.share_covered(np.linalg.inv(pre.w), (fa.width, fa.height), (fb.width, fb.height))
        if covered < align.OBJECT_SHARE:  # the copy that solved the way forward (made once a request)
            fwb = await copy_of(b, pre.w, fa, model, ctx, a)
            backward = await ctx.on_pool(align.back_in_frame_of_a, fb, fwb, fa, pre.w, p)
        else:
            fwa = await copy_of(a, np.linalg.inv(pre.w), fb, model, ctx, b)
            backward = align.through(await ctx.on_pool(align.align, fb, fwa, p), pre.w)
    tr = await ctx.on_pool(align.transfer, fa, fb, out.solved, backward, points, ctx.settings.cycle_tolerance_px)
    support = None if out.matches is None else await ctx.on_pool(field_support, out.solved, out.matches, points,
                                                                  ctx.settings.ransac_threshold_px)
    confidence = None if out.one_scene is False else calibration.for_alignment(
        model, tr.cycle_error, None if support is None else support < local_warp.BELOW)
    in_view = matching.within(tr.xy, fb.width, fb.height, matching.BORDER_SLACK_PX)
    warnings = list(out.warnings)
    if not in_view.all():  # the field carries them beyond b (a crop of a, b zoomed in): held, as guided ones are
        tr.xy = np.where(in_view[:, None], tr.xy, matching.held_in(tr.xy, fb.width, fb.height)).astype(np.float32)
        warnings.append(f"{int((~in_view).sum())} of {len(points)} points lie outside image b along the alignment's "
                        "field (in_view: false): their positions are held at its border")
    return Transferred(model.name, tr, points, warnings, pre.described if pre is not None else None, confidence,
                       in_view=in_view, support=support, one_scene=out.one_scene, seen_from_side=out.seen_from_side)


def field_support(al: align.Alignment, m: Matches, points: np.ndarray, tol_px: float) -> np.ndarray:
    """(K,) each point's local support by the MRF's field (``point_transfer.support``): the share of
    its nearest sparse matches ``m`` that pass Lowe's ratio test (``SUPPORT_RATIO``; all where they
    carry no ratio) that the field puts within ``tol_px`` of where they lie in b. Where the field
    follows the scene the matches around a point mostly agree with it; where it locked onto
    look-alikes (a grid of dots one period off, a facade's windows) or wandered over little texture
    they mostly do not. Every mutual match had counted at first: then the look-alikes among the
    matches of an object in clutter outvoted the right ones, and its right points read low."""
    keep = slice(None) if m.ratio is None else m.ratio < SUPPORT_RATIO
    xy_a, xy_b = m.xy_a[keep], m.xy_b[keep]
    return point_transfer.support(points, xy_a, align.explains(al, xy_a, xy_b, tol_px))


DENSE_ALONE = "the geometry was fitted to the dense matches alone"  # the warnings of transfers by ids without bytes
NOT_COPIED = "the points were not searched in copies brought onto each other"


def dense_guide(fa: FeatureMap, fb: FeatureMap, threshold_px: float, kind: str) -> matching.Guide | None:
    """The geometry of mutual, ratio-tested dense matches (``matching.fit_guide``), for a pair whose
    sparse features cannot be had (ids whose bytes are not kept), without the matches of the
    images' frames that the others do not explain (``frames.off_frames``): on plain paper shapes
    those had fitted wrong homographies that guided points at a confidence of 0.8-0.9."""
    m = matching.match(fa, fb, max_queries=4096, mutual=True, ratio=0.8)
    return matching.fit_guide(frames.off_frames(fa, fb, m, threshold_px), threshold_px, kind=kind)


async def transfer(a: Side, b: Side, text: str, method: str, guided: bool, model_name: str | None,
                   ctx: Context, geometry: str = "auto") -> Transferred:
    """Each point of ``text`` (JSON [[x, y], ...] in image a) found in image b; ``geometry``: the
    kind of guide to fit ("auto" chooses, see ``matching.fit_guide``)."""
    model = ctx.model("dense", model_name)
    points = read_points(text, ctx.settings.max_keypoints)
    t0 = time.perf_counter()
    fa = await dense_map(a, model, ctx)
    points = inside(points, fa.width, fa.height)
    fb = await dense_map(b, model, ctx)
    steps = {"features": 1e3 * (time.perf_counter() - t0)}
    if method == "align":
        out = await aligned(a, b, fa, fb, points, model, ctx)
        out.timing_ms = steps | {"alignment": 1e3 * (time.perf_counter() - t0) - steps["features"]}
        return out
    tol = ctx.settings.cycle_tolerance_px
    # own: the confidence curves of a transfer by ids without their bytes (``calibration.for_transfer``)
    guide, pre, sparse_m, unmet, own = None, None, None, [], None
    if guided:  # the sparse matches survive rotation and scale; with ids, if their features were cached
        found = await cached_guide(a, b, ctx, geometry)
        if found is None:
            guide = await ctx.on_pool(dense_guide, fa, fb, ctx.settings.ransac_threshold_px, geometry)
            own = "transfer-dense"
            unmet.append(f"{FEATURES_ONLY} and no keypoints cached, so {DENSE_ALONE}, which miss scale and rotation: "
                         "send both images' bytes")
        else:
            guide, sparse_m = found
            pre = prealignment_from(guide, sparse_m, ctx.settings.ransac_threshold_px, zoom_of(fa, fb))
            if pre is not None and pre.required and b.data is None:  # its copies need b's pixels
                unmet.append(without_copies(pre, NOT_COPIED) + ": send both images' bytes")
                pre, own = None, "transfer-uncopied"
    # a fundamental matrix chosen while a homography also holds (a camera turned about its centre
    # has no epipolar geometry, and a plane's repeated structure threads its lines): each point
    # may go where the plane puts it instead, searched in the same copies (the plane's, perspective
    # and all, when it scales or turns b)
    plane = guide.plane if guide is not None and sparse_m is not None else None  # set only by geometry=auto
    if plane is not None and b.data is not None:
        by_plane = prealignment_from(plane, sparse_m, ctx.settings.ransac_threshold_px, zoom_of(fa, fb))
        pre = by_plane if by_plane is not None and by_plane.required else pre
    out = Transferred(model.name, None, points, warnings=unmet, timing_ms=steps)
    # b scaled or turned: search copies brought onto each other by the homography (perspective and
    # all). Otherwise the guided search copes, and a homography fitted to one plane of a scene
    # with depth would carry the other planes' points astray
    if pre is not None and pre.required:
        fw, fab = await prealigned_copies(a, b, fa, fb, pre, model, ctx)
        find = partial(through_prealigned, fa, fb, fw, fab, pre=pre, tol=tol)
        out.prealigned = pre.described
    else:
        find = partial(point_transfer.transfer, fa, fb, cycle_tol_px=tol)
    t1 = time.perf_counter()  # the sparse matches and their geometry, and the features of pre-aligned copies
    steps["guide"] = 1e3 * (t1 - t0) - steps["features"]
    if plane is not None and not await ctx.on_pool(lines_hold, find, guide, plane, sparse_m):
        guide, plane = plane, None  # the lines run through look-alikes: the homography guides

    def search(g: matching.Guide | None) -> point_transfer.Transfer:
        return find(points, guide=g)
    tr = await ctx.on_pool(search, guide)
    if plane is not None:
        tr = await ctx.on_pool(plane_where_alike, search, tr, plane, points, fb)
    threshold = ctx.settings.ransac_threshold_px
    second = await ctx.on_pool(second_geometry, find, guide, sparse_m, threshold, points, geometry)
    # the matches a second motion was found among, the guide's inliers among them, the points that may follow it
    motion, by, may = (sparse_m, guide), "sparse", None
    if second is None and (pre is None or not pre.required):  # a thing too plain for the detector: its dense matches
        dense_found = await ctx.on_pool(dense_second, find, fa, fb, guide, sparse_m, threshold, points, geometry)
        if dense_found is not None:
            second, motion, may, by = dense_found[0], dense_found[1:3], dense_found[3], "dense"
    moved = None
    if second is not None:
        moved = second_motion.followers(points, *motion, second)
        if may is not None:  # the dense matches lie around these alone
            moved &= may
        if moved.any():
            along = await ctx.on_pool(partial(find, guide=second), points[moved])
            if by == "dense" and not second_motion.more_alike(tr.score[moved], along.score):
                moved[:] = False  # as alike where the guide put them: look-alikes one period on
            else:
                tr, moved = point_transfer.replaced(tr, moved, along)
        out.second_motion = moved
    followed = moved is not None and bool(moved.any())
    if followed:
        out.warnings.append(f"{int(moved.sum())} of {len(points)} points follow a second motion (second_motion: "
                            f"true): {int(second.inliers.sum())} {by} matches the homography misses agree on a "
                            f"{second.kind} of their own, which guided them")
    in_view, span, warped = None, None, None
    if guide is not None and guide.kind == "homography":
        # a point on a's border, mapped by an estimate, may land a hair outside b
        _, in_view = matching.lands_in(guide.model, points, fb.width, fb.height, matching.BORDER_SLACK_PX)
        if sparse_m is not None:
            span = matching.coverage(sparse_m.xy_a[guide.inliers], fa.width, fa.height)
    if span is not None and span < NARROW and geometry == "auto":
        free = np.ones(len(points), bool) if moved is None else ~moved
        tr, warped, kept = await ctx.on_pool(local_warp.follow, tr, fa, fb, points, sparse_m, guide,
                                             ctx.settings.ransac_threshold_px, free)
        out.local_warp = warped
        if warped.any():
            in_view[warped] = True
            out.warnings.append(f"{int(warped.sum())} of {len(points)} points follow a local map of the sparse "
                                "matches around them (local_warp: true), which the homography misses")
    taken = moved if warped is None else warped if moved is None else moved | warped
    out.transfer = await ctx.on_pool(locally_corrected, tr, guide, sparse_m, points, in_view, taken, fb)
    out.support = support_of(guide, sparse_m, points, tr.by_plane, second, moved, motion[0])
    if warped is not None and out.support is not None:
        out.support[warped] = kept[warped]
    # the curves were fitted on guided transfers: an unguided point's score says little (between
    # unrelated photos points come back consistent by chance at 0.8-0.95 of those curves)
    out.coverage, out.seen_from_side = span, guide.seen_from_side if guide is not None else None
    far = extrapolated(span, out.support, warped, moved)
    out.confidence = (calibration.for_transfer(model, tr.score, tr.consistent, tr.guidance, tr.by_plane, far, own)
                      if tr.guidance != "none" else None)
    if followed and out.confidence is not None:  # read off the curve of the geometry that placed them
        out.confidence[moved] = calibration.for_transfer(model, tr.score[moved], tr.consistent[moved], second.kind,
                                                         own=own)
    if in_view is not None:
        out.in_view = in_view
        if moved is not None:  # found in b along the second geometry
            out.in_view[moved] = True
        if not out.in_view.all():
            out.warnings.append(f"{int((~out.in_view).sum())} of {len(points)} points lie outside image b by the "
                                "estimated homography (in_view: false): their positions are held at its border")
    if span is not None and span < NARROW:  # as a correspondences answer would: far from them it may be far off
        out.warnings.append(narrow(int(guide.inliers.sum()), span) + " (each point's support says how near "
                            "it lies to them)")
    if tr.guidance == "none":
        if guided:
            out.warnings += await bare_sides(a, b, ctx)
        missing = {"auto": "no geometry", "homography": "no homography",
                   "fundamental": "no fundamental matrix"}[geometry]
        out.warnings.append(f"{missing} was found between the images: each point went to its nearest neighbour "
                            "in feature space, unverified and without a confidence" if guided else
                            "guided=false: each point went to its nearest neighbour in feature space, unverified "
                            "and without a confidence")
    steps["search"] = 1e3 * (time.perf_counter() - t1)  # the guided search, second motion, local maps
    return out
