"""Matching on feature maps: known answers, and memory bounded for a pair of 4-megapixel images."""
import tracemalloc

import cv2
import numpy as np
import pytest

from service import matching
from service.feature_map import FeatureMap


def shifted_maps(h=30, w=40, shift=3.0, d=32, seed=0):
    """Smooth maps whose dot products are known: features are cos/sin pairs of random spatial
    frequencies, so similarity(p, q) = mean_k cos(w_k . (p - q)), symmetric about the truth.
    Cell (i, j) of map a shows what map b shows at (i, j + shift): content moves 4 * shift px."""
    rng = np.random.default_rng(seed)
    k = d // 2
    om = rng.uniform(0.15, 0.6, (k, 2)) * rng.choice([-1, 1], (k, 2))
    ph = rng.uniform(0, 2 * np.pi, k)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)

    def feats(dx):
        arg = om[:, 0, None, None] * (xx + dx) + om[:, 1, None, None] * yy + ph[:, None, None]
        return (np.concatenate([np.cos(arg), np.sin(arg)]) / np.sqrt(k)).astype(np.float16)

    return FeatureMap(feats(shift), w * 4, h * 4, 1.0, 4), FeatureMap(feats(0.0), w * 4, h * 4, 1.0, 4)


def test_mutual_matches_find_the_shift():
    a, b = shifted_maps()
    m = matching.match(a, b, max_queries=10_000)
    exact = (np.abs(m.xy_b - m.xy_a - [12, 0]) < 0.1).all(1)  # 3 cells of 4 px
    # interior: a true counterpart exists and its neighbours are not clipped at b's border
    inner = (m.xy_a[:, 0] >= 4) & (m.xy_a[:, 0] <= 4 * 35) & (m.xy_a[:, 1] >= 4) & (m.xy_a[:, 1] <= 4 * 28)
    assert inner.sum() >= 0.9 * 28 * 35 and exact[inner].mean() > 0.99


def test_one_blocked_product_gives_both_directions_best(monkeypatch):
    """top2_both, its blocks a few rows each, against whole similarity matrices: a's best and
    second best in b, and b's best in a, as the product taken the other way finds them."""
    rng = np.random.default_rng(3)
    qa, qb = (rng.normal(size=(n, 16)).astype(np.float32) for n in (37, 23))
    qa /= np.linalg.norm(qa, axis=1, keepdims=True)
    qb /= np.linalg.norm(qb, axis=1, keepdims=True)
    qa[31] = qa[2]  # a tie across blocks (searched at once on the cores): the first query wins it
    monkeypatch.setattr(matching, "BLOCK_BYTES", 4 * 23 * 5)  # five of a's rows a block
    idx, best, second, back = matching.top2_both(qa, qb)
    sim = qa @ qb.T
    assert (idx == sim.argmax(1)).all() and (back == sim.argmax(0)).all()
    assert np.allclose(best, sim.max(1), atol=1e-6) and np.allclose(second, np.sort(sim, 1)[:, -2], atol=1e-6)


def test_subpixel_refinement_recovers_a_fractional_shift():
    a, b = shifted_maps(shift=3.4)  # 13.6 px: halfway between cells, where rounding is worst
    m = matching.match(a, b, max_queries=10_000)
    err = np.abs(m.xy_b[:, 0] - m.xy_a[:, 0] - 13.6)
    assert np.median(err) < 0.4  # the nearest cell alone is off by 1.6 px


def test_ratio_and_cap_and_query_budget():
    a, b = shifted_maps(shift=3.5)  # two equally good cells for every query: ambiguous
    assert len(matching.first(matching.match(a, b, 10_000), 25).score) == 25
    assert len(matching.match(a, b, 100).score) <= 100
    loose, strict = matching.match(a, b, 10_000, ratio=0.99), matching.match(a, b, 10_000, ratio=0.3)
    assert len(strict.score) < len(loose.score)


def test_homography_verification():
    a, b = shifted_maps()
    m = matching.match(a, b, 10_000)
    h, inl = matching.verify(m, "homography", 2.0)
    pts = np.array([[20.0, 20.0], [100.0, 20.0], [100.0, 100.0], [20.0, 100.0]])
    p = np.c_[pts, np.ones(4)] @ h.T
    np.testing.assert_allclose(p[:, :2] / p[:, 2:], pts + [12, 0], atol=0.5)
    assert inl.mean() > 0.95
    few = matching.Matches(m.xy_a[:3], m.xy_b[:3], m.score[:3])
    assert matching.verify(few, "homography", 2.0)[0] is None


def test_memory_is_bounded_for_two_4_megapixel_images():
    """2048x2048 images at DENSE_MAX_SIDE=1024 give 256x256 cells of 32 channels each."""
    rng = np.random.default_rng(0)
    maps = [FeatureMap(rng.standard_normal((32, 256, 256)).astype(np.float16), 2048, 2048, 0.5, 4) for _ in range(2)]
    tracemalloc.start()
    matching.match(*maps, max_queries=2048, ratio=0.9)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # both maps as float32 (2 x 8 MiB) plus their cell positions, and a similarity block (4 MiB): 38 MiB
    assert peak < 60 * 2**20, f"peak {peak / 2**20:.0f} MiB"


def test_cells_are_computed_once_per_map():
    fm = FeatureMap(np.ones((4, 3, 5), np.float16), 20, 12, 1.0, 4)
    first = matching.cells(fm)
    assert matching.cells(fm) is first and first[1].shape == (15, 4)


def test_bilinear_hits_cells_blends_between_them_and_extrapolates_one_cell_at_the_border():
    f = np.zeros((2, 2, 3), np.float16)  # D=2, h=2, w=3, stride 4 at scale 0.5: one cell is 8 sent pixels
    f[0, :, 0], f[1, :, 1], f[:, :, 2] = 1.0, 1.0, np.sqrt(0.5)
    fm = FeatureMap(f, 24, 16, 0.5, 4)  # cell k on sent pixel 8k + 0.5 (the resize is centre-aligned)
    got = matching.bilinear(fm, np.array([[0.5, 0.5], [8.5, 8.5], [4.5, 0.5], [-7.5, 0.5], [-50.0, 0.5], [99.0, 0.5]]))
    # one cell before the first: 2 * (1, 0) - (0, 1), normalised; farther, held there; likewise after the last
    before, after = np.array([2, -1]), 2 * np.array([np.sqrt(0.5), np.sqrt(0.5)]) - [0, 1]
    before, after = before / np.linalg.norm(before), after / np.linalg.norm(after)
    want = np.array([[1, 0], [0, 1], [np.sqrt(0.5), np.sqrt(0.5)], before, before, after])
    np.testing.assert_allclose(got, want, atol=1e-3)
    assert got.dtype == np.float32 and np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-3)


def test_a_peak_about_whole_cells_is_the_most_similar_bilinear_sample_of_its_lattice():
    # peak takes lattices about interior whole cells from the cells' products (on_cells): every
    # answer must be the best of the lattice's bilinear samples, as sampled one by one
    rng = np.random.default_rng(3)
    f = rng.normal(size=(16, 12, 20)).astype(np.float16)
    f /= np.linalg.norm(f, axis=0, keepdims=True)
    fm = FeatureMap(f, 80, 48, 1.0, 4)
    q = matching.bilinear(fm, rng.uniform(0, [79, 47], (300, 2)))
    centre = np.c_[rng.integers(0, 20, 300), rng.integers(0, 12, 300)].astype(np.float64)
    hi = np.array([79 / 4, 47 / 4])
    fl = np.ascontiguousarray(f.transpose(1, 2, 0), np.float32)
    interior = (centre >= 1).all(1) & (centre + 1 <= [19, 11]).all(1)
    assert 100 < interior.sum() < 300  # both kinds of centre are asked
    for reach, steps in ((1.0, 9), (0.75, 7)):
        got, top = matching.peak(fm, q, centre, reach, steps, np.zeros(2), hi)
        off = np.linspace(-reach, reach, steps)
        ou, ov = (g.ravel() for g in np.meshgrid(off, off))
        grid = np.clip(np.stack([centre[:, :1] + ou, centre[:, 1:] + ov], -1), 0, hi).astype(np.float32)
        sims = np.einsum("kd,knd->kn", q, matching.sample(fl, grid[..., 0], grid[..., 1]))
        np.testing.assert_allclose(top, sims.max(1), atol=1e-5)
        at = np.einsum("kd,kd->k", q, matching.sample(fl, got[:, 0].astype(np.float32), got[:, 1].astype(np.float32)))
        np.testing.assert_allclose(at, sims.max(1), atol=1e-5)  # the answer is where that best sample lies
        assert (np.abs(got - centre) <= reach + 1e-9).all()


def test_coarse_to_fine_finds_what_the_exhaustive_search_finds(monkeypatch):
    """Maps above COARSE_FROM cells are matched among 2 x 2 blocks first, then locally: the same
    shift, found from a quarter of the queries."""
    a, b = shifted_maps(h=70, w=80, shift=5.0)
    assert 70 * 80 > matching.COARSE_FROM
    coarse = matching.match(a, b, max_queries=70 * 80)
    monkeypatch.setattr(matching, "COARSE_FROM", 10**9)
    full = matching.match(a, b, max_queries=70 * 80)
    right = lambda m: (np.abs(m.xy_b - m.xy_a - [20, 0]) < 0.5).all(1)  # noqa: E731
    assert right(coarse).mean() > 0.98 and right(coarse).sum() > 0.6 * right(full).sum()
    assert len(np.unique(coarse.xy_a, axis=0)) == len(coarse.xy_a)  # each cell of a at most once


def test_pooling_is_the_unit_mean_of_each_two_by_two_block_edges_repeated():
    rng = np.random.default_rng(3)
    f = rng.normal(size=(8, 5, 7)).astype(np.float32)
    f /= np.linalg.norm(f, axis=0, keepdims=True)
    edge = np.pad(f, ((0, 0), (0, 1), (0, 1)), mode="edge")  # odd sides: the last row and column again
    want = np.array([[edge[:, 2 * i:2 * i + 2, 2 * j:2 * j + 2].mean((1, 2)) for j in range(4)]
                     for i in range(3)]).transpose(2, 0, 1)  # (8, 3, 4)
    want /= np.linalg.norm(want, axis=0, keepdims=True)
    got = matching.pooled(f)
    assert got.shape == (8, 3, 4)
    assert np.allclose(got, want, atol=1e-6)


def row_matches(extra_distinct: bool, seed: int = 0, plane: int = 200, extra: int = 100) -> matching.Matches:
    """A horizontal stereo pair: ``plane`` matches on a plane (disparity a linear function of x
    and y, distinct), and ``extra`` more displaced along their rows by 30-50 px, which any
    fundamental matrix of a sideways camera motion keeps: with ``extra_distinct`` as distinct as
    the plane's (points at another depth), else look-alikes (a row of windows matched to the next
    one)."""
    rng = np.random.default_rng(seed)
    n = plane + extra
    xa = rng.uniform(0, 600, (n, 2)).astype(np.float32)
    xb = xa + np.c_[20 + 0.02 * xa[:, 0] + 0.01 * xa[:, 1], np.zeros(n)] + rng.normal(0, 0.3, (n, 2))
    xb[plane:, 0] += rng.uniform(30, 50, extra) * rng.choice([-1, 1], extra)
    ratio = np.r_[rng.uniform(0.3, 0.7, plane), rng.uniform(0.3, 0.7, extra) if extra_distinct else
                  rng.uniform(0.85, 1.0, extra)]
    return matching.Matches(xa, xb.astype(np.float32), np.ones(n, np.float32), ratio.astype(np.float32))


def test_look_alikes_on_epipolar_lines_do_not_outvote_the_homography():
    m = row_matches(extra_distinct=False)
    _, inl_h = matching.verify(m, "homography", 4.0)
    _, inl_f = matching.verify(m, "fundamental", 4.0)
    assert inl_h.sum() < 0.85 * inl_f.sum()  # counted as they come, the fundamental matrix would win
    assert matching.fit_guide(m, 4.0).kind == "homography"


def test_distinct_matches_off_the_plane_choose_the_fundamental_matrix():
    assert matching.fit_guide(row_matches(extra_distinct=True), 4.0).kind == "fundamental"


def test_a_fundamental_matrix_that_leaves_out_the_plane_does_not_outvote_its_homography():
    """60 matches on a plane whose vertical disparity grows to 12 px across the image, and 80 as
    distinct displaced 30-50 px along their rows: RANSAC turns a fundamental matrix to keep the
    rows' and half of the plane's. The scene's own would keep the plane's (its epipolar geometry
    holds on each of its planes), so the homography guides, though the counts favour the other."""
    rng = np.random.default_rng(0)
    xa = rng.uniform(0, 600, (140, 2)).astype(np.float32)
    xb = xa + np.r_[np.c_[20 + 0.02 * xa[:60, 0], 0.02 * xa[:60, 0]],
                    np.c_[rng.uniform(30, 50, 80) * rng.choice([-1, 1], 80), np.zeros(80)]]
    m = matching.Matches(xa, (xb + rng.normal(0, 0.3, xb.shape)).astype(np.float32), np.ones(140, np.float32),
                         rng.uniform(0.3, 0.7, 140).astype(np.float32))
    _, inl_h = matching.verify(m, "homography", 4.0)
    _, inl_f = matching.verify(m, "fundamental", 4.0)
    assert inl_h.sum() == 60 and inl_h.sum() < 0.85 * matching.fundamental_support(m, inl_h, inl_f)
    assert matching.leaves_out(inl_h, inl_f)
    assert matching.fit_guide(m, 4.0).kind == "homography"
    assert not matching.leaves_out(inl_h, inl_h | inl_f)  # one that keeps them: the counts decide


def test_a_homography_is_signed_so_that_the_points_it_was_fitted_to_lie_in_front():
    """A plane whose horizon in a runs at x = 100: OpenCV's scaling (h[2, 2] = 1) puts a's origin,
    beyond it, in front, and every point of the plane behind; ``facing`` turns the sign over, and
    the guide a fit returns is so signed."""
    h = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.01, 0.0, -1.0]])  # w = 0.01 x - 1
    h = h / h[2, 2]
    plane = np.random.default_rng(0).uniform([150, 0], [600, 400], (60, 2))
    assert not matching.lands_in(h, plane, 10_000, 10_000)[1].any()
    signed = matching.facing(h, plane)
    np.testing.assert_array_equal(signed, -h)
    assert matching.lands_in(signed, plane, 10_000, 10_000)[1].all()
    assert matching.facing(signed, plane) is signed and matching.facing(h, np.zeros((0, 2))) is h
    xb = matching.project(h, plane) + np.random.default_rng(1).normal(0, 0.2, plane.shape)
    m = matching.Matches(plane.astype(np.float32), xb.astype(np.float32), np.ones(60, np.float32))
    g = matching.fit_guide(m, 4.0, kind="homography")
    assert g.kind == "homography" and matching.lands_in(g.model, plane, 10_000, 10_000)[1].all()


def enlarged(m: matching.Matches, s: float, noise_a: float, seed: int = 1) -> matching.Matches:
    """``m`` with image b enlarged ``s`` times, each match in b off by ``noise_a`` pixels of a
    (a keypoint is located to about a pixel of the scale it is found at: more of b's pixels)."""
    rng = np.random.default_rng(seed)
    xb = s * m.xy_b + rng.normal(0, s * noise_a, m.xy_b.shape)
    return matching.Matches(m.xy_a, xb.astype(np.float32), m.score, m.ratio)


def test_enlargement_is_the_scale_of_b_against_a_where_the_points_are():
    h = np.diag([3.0, 3.0, 1.0]) @ np.array([[np.cos(0.5), -np.sin(0.5), 10], [np.sin(0.5), np.cos(0.5), 4], [0, 0, 1]])
    assert matching.enlargement(h, np.float32([[100, 50], [300, 200]])) == pytest.approx(3.0)
    assert matching.enlargement(np.linalg.inv(h), np.float32([[100, 50]])) == pytest.approx(1 / 3)
    assert matching.enlargement(h, np.zeros((0, 2), np.float32)) == 1.0


def test_a_plane_seen_larger_in_b_keeps_its_homography():
    """Matches of a plane b shows three times as large, each off by 1.2 of a's pixels (3.6 of
    b's): at 4 px in b's pixels the homography keeps about half of them and a fundamental matrix,
    bounding only the distance across its lines, three quarters; in a's pixels both keep all."""
    m = enlarged(row_matches(extra_distinct=True, extra=0), 3.0, 1.2)
    _, inl_h = matching.verify(m, "homography", 4.0)
    _, inl_f = matching.verify(m, "fundamental", 4.0)
    assert inl_h.sum() < 0.85 * matching.fundamental_support(m, inl_h, inl_f)  # counted in b's pixels: F
    g = matching.fit_guide(m, 4.0)
    assert g.kind == "homography"
    assert g.inliers.sum() < 0.8 * len(g.inliers)  # the model fitted at 4 px of b's (12 of b's keep all)
    assert matching.fit_guide(enlarged(row_matches(extra_distinct=True), 3.0, 1.2), 4.0).kind == "fundamental"


def test_dense_matches_without_ratios_choose_by_the_counts():
    m = row_matches(extra_distinct=True, plane=100, extra=100)
    assert matching.fit_guide(matching.Matches(m.xy_a, m.xy_b, m.score), 4.0).kind == "fundamental"  # no ratio
    few = row_matches(extra_distinct=True, plane=300, extra=10)
    assert matching.fit_guide(matching.Matches(few.xy_a, few.xy_b, few.score), 4.0).kind == "homography"


def test_a_named_kind_of_guide_is_fitted_whatever_the_matches_favour():
    assert matching.fit_guide(row_matches(extra_distinct=False), 4.0, kind="fundamental").kind == "fundamental"
    assert matching.fit_guide(row_matches(extra_distinct=True), 4.0, kind="homography").kind == "homography"
    assert matching.fit_guide(row_matches(extra_distinct=True, plane=8, extra=8), 4.0, kind="homography") is None


def test_what_ransac_fits_to_unrelated_matches_is_not_a_geometry():
    """Matches between unrelated images: RANSAC's fundamental matrix takes in a dozen or two of
    them by chance (seven fit exactly), its homography a few; neither is found, nor guides."""
    rng = np.random.default_rng(2)
    m = matching.Matches(rng.uniform(0, [640, 480], (400, 2)).astype(np.float32),
                         rng.uniform(0, [640, 480], (400, 2)).astype(np.float32), np.ones(400, np.float32),
                         rng.uniform(0.6, 1.0, 400).astype(np.float32))
    _, inl_f = matching.verify(m, "fundamental", 4.0)
    assert 8 <= inl_f.sum() < matching.CHANCE_INLIERS["fundamental"]  # more than a minimal sample: chance
    assert not matching.found("fundamental", inl_f) and matching.fit_guide(m, 4.0, 10) is None
    real = row_matches(extra_distinct=True)
    assert matching.found("fundamental", matching.verify(real, "fundamental", 4.0)[1])


def test_a_geometry_must_explain_a_tenth_of_the_matches():
    assert matching.found("homography", np.r_[np.ones(40, bool), np.zeros(360, bool)])
    assert not matching.found("homography", np.r_[np.ones(39, bool), np.zeros(361, bool)])
    assert not matching.found("fundamental", np.r_[np.ones(29, bool), np.zeros(11, bool)])


def blob_and_chance(apart: float | None, rng) -> tuple[matching.Matches, np.ndarray]:
    """A patch of a matched by mistake: 12 neighbouring cells (4 px apart) that moved together to
    one place of b, among 60 matches gone anywhere; and the matches' marks of the blob."""
    jj, ii = np.meshgrid(np.arange(4), np.arange(3))
    blob = (np.c_[jj.ravel(), ii.ravel()] * 4.0 + [200, 100]).astype(np.float32)
    xa = np.vstack([blob, rng.uniform(0, [640, 480], (60, 2))]).astype(np.float32)
    xb = np.vstack([blob + [230, 400], rng.uniform(0, [640, 480], (60, 2))]).astype(np.float32)
    return matching.Matches(xa, xb, np.ones(72, np.float32), apart=apart), np.arange(72) < 12


def test_a_blob_of_neighbouring_dense_matches_counts_once_per_block_of_two_cells():
    """12 inliers that a homography fits, all within a 12 x 8 px patch of a: enough for chance's
    10 as counted, but dense cells two apart (8 px) fill 4 blocks, and no geometry is found; the
    same inliers spread over the image are one."""
    rng = np.random.default_rng(5)
    m, blob = blob_and_chance(8.0, rng)
    assert matching.independent(blob, m) == 4 and not matching.found("homography", blob, m)
    assert matching.found("homography", blob, matching.Matches(m.xy_a, m.xy_b, m.score))  # each counted
    assert not matching.one_scene(m, 4.0) and matching.fit_guide(m, 4.0, 10) is None
    assert matching.one_scene(blob_and_chance(None, np.random.default_rng(5))[0], 4.0)  # as sparse matches count
    spread = rng.uniform(0, [640, 480], (12, 2)).astype(np.float32)
    wide = matching.Matches(np.vstack([spread, m.xy_a[12:]]), np.vstack([spread + [5, 3], m.xy_b[12:]]),
                            m.score, apart=8.0)
    assert matching.independent(blob, wide) == 12 and matching.found("homography", blob, wide)
    assert matching.rows(m, slice(3)).apart == 8.0  # a cut keeps the rule


def test_one_scene_finds_a_plane_or_depth_and_not_chance():
    """Matches that a homography or (with depth) only a fundamental matrix explains show one
    scene; random pairs of points, or fewer matches than chance gives inliers, do not."""
    rng = np.random.default_rng(3)
    xa = rng.uniform(0, 640, (200, 2)).astype(np.float32)
    h = np.array([[0.9, 0.1, 20], [-0.1, 0.95, 10], [1e-4, 0, 1]])
    plane = matching.Matches(xa, matching.project(h, xa).astype(np.float32), np.ones(200, np.float32))
    assert matching.one_scene(plane, 4.0)
    # a scene with depth, seen by two cameras a metre apart: no homography holds
    pts = np.c_[rng.uniform(-2, 2, (200, 2)), rng.uniform(4, 12, 200)]
    k = np.array([[500, 0, 320], [0, 500, 240], [0, 0, 1.0]])
    seen = lambda p: (p @ k.T)[:, :2] / p[:, 2:]  # noqa: E731
    depth = matching.Matches(seen(pts).astype(np.float32), seen(pts - [1.0, 0, 0]).astype(np.float32),
                             np.ones(200, np.float32))
    assert matching.verify(depth, "homography", 4.0)[1].sum() < 100 and matching.one_scene(depth, 4.0)
    chance = matching.Matches(xa, rng.uniform(0, 640, (200, 2)).astype(np.float32), np.ones(200, np.float32))
    assert not matching.one_scene(chance, 4.0)
    assert not matching.one_scene(matching.Matches(xa[:9], plane.xy_b[:9], np.ones(9, np.float32)), 4.0)


def test_coverage_is_the_share_of_the_image_inside_the_points_hull():
    from service.matching import coverage
    square = np.float32([[10, 10], [110, 10], [110, 60], [10, 60], [50, 30]])  # 100 x 50 and a point inside
    assert coverage(square, 200, 100) == pytest.approx(0.25)
    assert coverage(square[:2], 200, 100) == 0.0  # a line spans nothing


def keypoint_matches(h: np.ndarray, true: int, chance: int, seed: int = 4) -> matching.Matches:
    """``true`` matches of a plane that ``h`` maps from a to b, with their keypoints' sizes and
    orientations changed as ``h`` scales and turns them there, then ``chance`` random ones:
    random places in b, random keypoint sizes and orientations."""
    rng = np.random.default_rng(seed)
    xa = rng.uniform(0, [640, 480], (true + chance, 2)).astype(np.float32)
    xb = np.r_[matching.project(h, xa[:true]) + rng.normal(0, 0.5, (true, 2)), rng.uniform(0, 640, (chance, 2))]
    s = np.sqrt(abs(np.linalg.det(h[:2, :2])))  # h has no perspective part: the same Jacobian everywhere
    turn = np.arctan2(h[1, 0] - h[0, 1], h[0, 0] + h[1, 1])
    scale = np.r_[np.log2(s) + rng.normal(0, 0.15, true), rng.uniform(-3, 3, chance)].astype(np.float32)
    angle = np.r_[turn + rng.normal(0, 0.1, true), rng.uniform(-np.pi, np.pi, chance)].astype(np.float32)
    return matching.Matches(xa, xb.astype(np.float32), np.ones(true + chance, np.float32),
                            rng.uniform(0.5, 1.0, true + chance).astype(np.float32), scale, angle)


SHRINK_TURN = np.array([[0.3 * np.cos(1.0), -0.3 * np.sin(1.0), 200], [0.3 * np.sin(1.0), 0.3 * np.cos(1.0), 100],
                        [0, 0, 1]])


def test_inliers_whose_keypoints_disagree_with_the_homography_are_not_counted():
    """A match within RANSAC's threshold whose keypoints differ by an octave and a half more than
    the homography scales there, or are turned 90 degrees from how it turns, is a chance one."""
    m = keypoint_matches(SHRINK_TURN, 60, 0)
    m.scale[:10] += 1.5
    m.turn[10:20] += np.pi / 2
    h, inliers = matching.verify(m, "homography", 4.0)
    assert h is not None and not inliers[:20].any() and inliers[20:].mean() > 0.95
    plain = matching.Matches(m.xy_a, m.xy_b, m.score, m.ratio)  # dense matches: no keypoints to check
    assert matching.verify(plain, "homography", 4.0)[1][:20].all()


def test_a_few_agreeing_inliers_among_many_matches_are_a_geometry_and_chance_is_not():
    """An object a few keypoints show among hundreds of chance matches (clutter, other photos):
    without keypoints, 8 inliers of 400 matches are under a tenth of them and under what chance
    gives; with keypoints that agree, 8 are more than twice what chance leaves."""
    m = keypoint_matches(SHRINK_TURN, 8, 392)
    _, inliers = matching.verify(m, "homography", 4.0)
    assert inliers[:8].sum() >= matching.AGREED_INLIERS and matching.found("homography", inliers, m)
    assert not matching.found("homography", inliers)  # counted without the keypoints' agreement
    g = matching.fit_guide(m, 4.0, matching.AGREED_INLIERS)
    assert g is not None and g.kind == "homography"
    for seed in range(5):
        chance = keypoint_matches(SHRINK_TURN, 0, 400, seed)
        _, inliers = matching.verify(chance, "homography", 4.0)
        assert inliers.sum() < matching.AGREED_INLIERS and not matching.found("homography", inliers, chance)


def test_ransac_is_spared_only_where_no_homography_can_be_found():
    """Random sparse matches: GC-RANSAC and PROSAC find fewer than AGREED_INLIERS agreeing inliers,
    so RANSAC is not run and nothing is found. An object 8 of 400 matches show: RANSAC runs."""
    chance = keypoint_matches(SHRINK_TURN, 0, 400)
    prosac = matching.homography(chance, cv2.USAC_PROSAC, 4.0)[1]
    assert matching.hopeless(chance, "homography", 4.0, prosac) is not None
    _, inliers = matching.verify(chance, "homography", 4.0)
    assert not matching.found("homography", inliers, chance)
    real = keypoint_matches(SHRINK_TURN, 8, 392)
    prosac = matching.homography(real, cv2.USAC_PROSAC, 4.0)[1]
    assert matching.hopeless(real, "homography", 4.0, prosac) is None
    h, inliers = matching.verify(real, "homography", 4.0)
    assert matching.found("homography", inliers, real) and inliers[:8].all()
    without_keypoints = matching.Matches(real.xy_a, real.xy_b, real.score, real.ratio)
    assert matching.hopeless(without_keypoints, "homography", 4.0) is None  # dense matches: RANSAC always runs


def test_matches_a_geometry_explains_besides_join_its_inliers_each_keypoint_once():
    """An extra match on a keypoint an inlier holds is left out; an outlier on a keypoint of an
    added match gives way to it; the rest come best first with the added ones marked inliers."""
    xy = np.float32([[0, 0], [10, 0], [20, 0], [30, 0]])
    m = matching.Matches(xy[:3], xy[:3] + [[1, 0], [50, 50], [2, 0]], np.float32([0.9, 0.8, 0.5]))
    inliers = np.array([True, False, True])  # the second is an outlier: keypoint (10, 0) went astray
    extra = matching.Matches(np.float32([[0, 0], [10, 0], [30, 0]]), np.float32([[9, 9], [11, 0], [31, 0]]),
                             np.float32([0.95, 0.6, 0.7]))
    out, flags = matching.joined(m, inliers, extra)
    assert out.xy_a.tolist() == [[0, 0], [30, 0], [10, 0], [20, 0]]
    assert out.xy_b.tolist() == [[1, 0], [31, 0], [11, 0], [22, 0]]
    assert out.score.tolist() == pytest.approx([0.9, 0.7, 0.6, 0.5]) and flags.all()


def test_the_matches_a_scene_explains_are_those_of_the_geometry_that_explains_more():
    """A plane's 120 matches beside 80 look-alikes a period or two off, each its own way: the
    homography explains the plane's alone, a fundamental matrix (a line for each point) some
    look-alikes besides, and the one explaining more is taken (on the validation pairs the
    unexplained sparse matches were then 4 % right, 34 % had the homography been taken where
    found); with depth, the fundamental matrix's inliers; chance gives none. (Look-alikes all off
    by the same period fit a geometry of their own, as a second motion's matches do, and are
    explained: nothing in the matches tells them apart.)"""
    rng = np.random.default_rng(3)
    xa = rng.uniform(0, 640, (200, 2)).astype(np.float32)
    h = np.array([[0.9, 0.1, 20], [-0.1, 0.95, 10], [1e-4, 0, 1]])
    xb = matching.project(h, xa).astype(np.float32)
    periods = rng.integers(1, 3, (80, 2)) * rng.choice([-1, 1], (80, 2))  # one or two periods off, each its own
    xb[120:] += (60.0 * periods).astype(np.float32)
    got = matching.scene_inliers(matching.Matches(xa, xb, np.ones(200, np.float32)), 4.0)
    h_only = matching.verify(matching.Matches(xa, xb, np.ones(200, np.float32)), "homography", 4.0)[1]
    assert got[:120].all() and h_only.tolist() == [True] * 120 + [False] * 80
    assert 120 < got.sum() < 170, got.sum()  # the fundamental matrix explains more: its inliers
    pts = np.c_[rng.uniform(-2, 2, (200, 2)), rng.uniform(4, 12, 200)]
    k = np.array([[500, 0, 320], [0, 500, 240], [0, 0, 1.0]])
    seen = lambda p: (p @ k.T)[:, :2] / p[:, 2:]  # noqa: E731
    depth = matching.Matches(seen(pts).astype(np.float32), seen(pts - [1.0, 0, 0]).astype(np.float32),
                             np.ones(200, np.float32))
    assert matching.scene_inliers(depth, 4.0).mean() > 0.95
    chance = matching.Matches(xa, rng.uniform(0, 640, (200, 2)).astype(np.float32), np.ones(200, np.float32))
    assert matching.scene_inliers(chance, 4.0) is None


def test_a_second_motions_matches_are_explained_by_a_geometry_of_their_own_and_look_alikes_are_not():
    """A still background's 150 matches, 80 of something that moved (another homography) and 60
    look-alikes at random: the background's geometry explains its own, a second fitted among the
    rest the moved thing's; the look-alikes stay unexplained."""
    rng = np.random.default_rng(5)
    xa = rng.uniform(0, 640, (290, 2)).astype(np.float32)
    moved = np.array([[0.95, -0.2, 60], [0.2, 0.95, -30], [0, 0, 1]])
    xb = xa.copy()
    xb[150:230] = matching.project(moved, xa[150:230])
    xb[230:] = rng.uniform(0, 640, (60, 2))
    got = matching.scene_inliers(matching.Matches(xa, xb.astype(np.float32), np.ones(290, np.float32)), 4.0)
    assert got[:230].mean() > 0.97 and got[230:].mean() < 0.2, (got[:230].mean(), got[230:].mean())
    # under SECOND_LEAST leftovers no second fit is tried: most of 20 moved matches stay unexplained
    few = np.r_[np.arange(150), np.arange(150, 150 + matching.SECOND_LEAST - 4)]
    got = matching.scene_inliers(matching.Matches(xa[few], xb[few].astype(np.float32), np.ones(len(few), np.float32)),
                                 4.0)
    assert got[:150].all() and got[150:].mean() < 0.8, got[150:].mean()  # only what the first geometry takes in
