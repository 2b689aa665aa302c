"""Evaluate /v1/align: held-back photos aligned to warped versions of themselves (a smooth
non-rigid field, and a moderate homography, each with photometric changes), where the true field
is known. Reports the endpoint error (pixels) of the MRF field at every cell of a against
independent nearest neighbours on the same features (/v1/correspondences without the mutual
check), and the same two with dense SIFT in place of UCN; writes a PNG of the warping.

    python -m eval.align                  # writes docs/RESULTS.md (section align) and docs/images/eval-alignment.png
"""
from __future__ import annotations

import argparse
import base64
import io
import shlex
import sys
import time

import cv2
import numpy as np
from fastapi.testclient import TestClient

from eval import dense_sift
from eval.dense import png
from eval.results import RESULTS, write_section
from models.data import photos, warps
from models.data.synth import photometric

PNG_PATH = RESULTS.parent / "images" / "eval-alignment.png"
TILE = 240  # pixels wide, per image of the figure
KINDS = {"non-rigid": warps.nonrigid_map,
         "strong non-rigid": lambda rng, shape: warps.nonrigid_map(rng, shape, amplitude=0.08),
         "homography": warps.homography_map}


def cases(per_photo: int, seed: int):
    """(name, kind, a, b, map, valid): a(x) = b(map(x)) up to photometric changes."""
    rng = np.random.default_rng(seed)
    for name in photos.split("heldout"):
        b = photos.load(name)
        for kind in KINDS:
            for k in range(per_photo):
                m = KINDS[kind](rng, b.shape)
                a, valid = warps.apply(b, m)
                yield f"{name}#{k}", kind, photometric(a, rng, 0.5), b, m, valid


def epe(xy_a: np.ndarray, xy_b: np.ndarray, m: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Endpoint errors of predicted positions in b for pixels of a whose truth lies inside b."""
    ix = np.clip(np.rint(xy_a).astype(int), 0, [m.shape[1] - 1, m.shape[0] - 1])
    ok = valid[ix[:, 1], ix[:, 0]]
    return np.linalg.norm(xy_b - m[ix[:, 1], ix[:, 0]], axis=1)[ok]


def grid_points(flow: np.ndarray, step: float) -> np.ndarray:
    h, w, _ = flow.shape
    ii, jj = np.mgrid[0:h, 0:w]
    return (np.stack([jj, ii], -1).reshape(-1, 2) * step).astype(np.float32)


def api_align(client: TestClient, a: np.ndarray, b: np.ndarray, warp: bool = False,
              supersample: int = 0) -> tuple[dict, float]:
    files = {"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))}
    t = time.perf_counter()
    r = client.post("/v1/align", files=files, data={"warp": str(warp).lower(), "supersample": supersample})
    r.raise_for_status()
    return r.json(), time.perf_counter() - t


def api_nn(client: TestClient, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r = client.post("/v1/correspondences", files={"image_a": ("a.png", png(a)), "image_b": ("b.png", png(b))},
                    data={"method": "dense", "mutual": "false"})
    r.raise_for_status()
    ms = r.json()["matches"]
    return np.array([[x["xa"], x["ya"]] for x in ms]), np.array([[x["xb"], x["yb"]] for x in ms])


def sift_pair(a: np.ndarray, b: np.ndarray, m: np.ndarray, valid: np.ndarray,
              supersample: int) -> tuple[np.ndarray, np.ndarray]:
    """EPE of dense SIFT through the service's MRF, and of its independent nearest neighbours."""
    from service import align, matching
    fa, fb = dense_sift.feature_map(a), dense_sift.feature_map(b)
    al = align.align(fa, fb, align.Params(supersample=supersample))
    xa = grid_points(al.flow, al.step[0])
    mrf = epe(xa, xa + al.flow.reshape(-1, 2), m, valid)
    ca, da = matching.cells(fa)
    cb, db = matching.cells(fb)
    idx, _, _ = matching.top2(da, db)
    return mrf, epe(ca, cb[idx], m, valid)


def label(img: np.ndarray, text: str) -> np.ndarray:
    out = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def checker(a: np.ndarray, b: np.ndarray, tile: int = 48) -> np.ndarray:
    ii, jj = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    return np.where(((ii // tile + jj // tile) % 2) == 0, a, b)


def figure_row(a: np.ndarray, b: np.ndarray, warped: np.ndarray, kind: str) -> np.ndarray:
    bb = cv2.resize(b, (a.shape[1], a.shape[0]))
    tiles = [label(a, f"a: {kind} warp of b"), label(bb, "b: the photo"), label(warped, "b aligned to a (MRF)"),
             label(checker(a, bb), "a | b checkerboard"), label(checker(a, warped), "a | aligned b checkerboard")]
    return np.hstack([cv2.resize(t, (TILE, round(TILE * a.shape[0] / a.shape[1])), interpolation=cv2.INTER_AREA)
                      for t in tiles])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-photo", type=int, default=2, help="warps of each kind per held-back photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--supersample", type=int, default=0, help="/v1/align's supersample")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from service.config import Settings
    from service.main import create_app
    rows: dict[tuple[str, str], list[np.ndarray]] = {}
    times, figure = [], {}
    with TestClient(create_app(Settings(max_queries=10 ** 6, max_matches=10 ** 6))) as client:
        for name, kind, img_a, img_b, m, valid in cases(a.per_photo, a.seed):
            out, dt = api_align(client, img_a, img_b, warp=kind not in figure, supersample=a.supersample)
            times.append(dt)
            flow = np.load(io.BytesIO(base64.b64decode(out["flow"]["data"])))
            xa = grid_points(flow, out["grid"]["step_x"])
            rows.setdefault((kind, "UCN, MRF (/v1/align)"), []).append(epe(xa, xa + flow.reshape(-1, 2), m, valid))
            nxa, nxb = api_nn(client, img_a, img_b)
            rows.setdefault((kind, "UCN, independent nearest neighbours"), []).append(epe(nxa, nxb, m, valid))
            s_mrf, s_nn = sift_pair(img_a, img_b, m, valid, a.supersample)
            rows.setdefault((kind, "dense SIFT, same MRF"), []).append(s_mrf)
            rows.setdefault((kind, "dense SIFT, independent nearest neighbours"), []).append(s_nn)
            if kind not in figure:
                warped = cv2.imdecode(np.frombuffer(base64.b64decode(out["warped_png"]), np.uint8),
                                      cv2.IMREAD_GRAYSCALE)
                figure[kind] = figure_row(img_a, img_b, warped, kind)
            print(name, kind, {k[1]: f"{np.median(v[-1]):.2f}" for k, v in rows.items() if k[0] == kind})
    command = "python -m eval.align " + shlex.join(sys.argv[1:])
    n = len(times) // len(KINDS)
    lines = [f"## Alignment (Long et al.'s MRF on dense features)\n\n`{command}`\n",
             f"Held-back photos ({', '.join(photos.split('heldout'))}) aligned to {a.per_photo} warps of each kind "
             f"({n} pairs per kind); endpoint error in pixels at every cell of a whose truth lies in b. "
             f"Median /v1/align time per pair (features included): {1e3 * np.median(times):.0f} ms.\n",
             "| warp | features, method | median EPE | mean EPE | share within 3 px |", "|---|---|---|---|---|"]
    for (kind, method), parts in rows.items():
        e = np.concatenate(parts)
        lines.append(f"| {kind} | {method} | {np.median(e):.2f} | {e.mean():.2f} | {100 * np.mean(e <= 3):.1f} % |")
    lines.append(f"\n![alignment](images/{PNG_PATH.name})\n")
    print("\n".join(lines))
    if not a.no_write:
        cv2.imwrite(str(PNG_PATH), np.vstack(list(figure.values())), [cv2.IMWRITE_PNG_COMPRESSION, 9])
        write_section("align", "\n".join(lines))


if __name__ == "__main__":
    main()
