"""Build the patch-pair sets, written to data/patches_<set>.npz:

- train: warps of the training photos (the "wide" split), each positive also seen jittered as a
  detector errs, with SIFT-alike hard negatives;
- trainvideo: real views of a box turned by hand (``models.data.video``), with SIFT-alike hard
  negatives;
- val: new warps of the training photos, for the curves and choosing checkpoints;
- fusion: more of them, built as val is, to fit a fused scorer on (``eval.fuse``);
- valphotos: warps of validation photos nothing trains on;
- valstereo (Middlebury's Aloe) and valpairs (the real validation pairs of
  ``models.data.pairs``): real views, for validation;
- heldout (warps of held-back photos), stereo (the motorcycle pair), heldpairs (the held-back
  real pairs: graf, aero, box, motorcycle) and immpairs (``models.data.imm``'s fresh pairs with a
  homography, where it is known to hold): judging only.

    python -m models.build_patches [--sets train,val,...] [--warps 14] [--seed 0] [--jobs 2]

Evaluation sets carry random and nearby negatives only, so that the SIFT baseline is not judged on
negatives chosen against it; every positive records its offset (``synth.PatchSet.offset``).

The sets are built with numpy's AVX2 kernels on every machine (``portable``): its AVX-512 ones
compute exponentials and logarithms to other last bits, which moves a keypoint found in a warp here
and there, so the same command built other sets on a CPU with AVX-512 (valphotos: 17,295 positives
against 16,907, and a different training set).
"""
from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from functools import cache, partial
from multiprocessing import get_context
from typing import TypeVar

import cv2
import numpy as np
from numpy._core._multiarray_umath import __cpu_features__
from tqdm import tqdm

from models.data import imm, pairs, photos, stereo, synth, video

T = TypeVar("T")


def stereo_set(seed: int, pair=stereo.motorcycle) -> synth.PatchSet:
    left, right, disp = pair()
    rng = np.random.default_rng(seed)
    fwd = synth.mine_pairs(left, right, stereo.disparity_map(disp, right.shape[1]), rng,
                           n_kp=4000, max_pos=5000, similar=False)
    return fwd


def pairs_set(names: tuple[str, ...], seed: int, load: Callable[[str], pairs.Pair] = pairs.load) -> synth.PatchSet:
    """Real image pairs with their established geometry (``models.data.pairs``, or ``load``'s), Brown's way."""
    rng = np.random.default_rng(seed)
    parts = [synth.mine_pairs(p.a, p.b, p.point_map, rng, n_kp=4000, max_pos=3000, similar=False)
             for p in map(load, names)]
    return synth.PatchSet.by_photo(parts, list(names))


def video_part(pair: tuple[int, int], seed: int) -> synth.PatchSet:
    """The pairs of two frames of the box video (``models.data.video``), its own seed per pair."""
    shots = video_frames()
    a, b = shots[pair[0]], shots[pair[1]]
    point_map = video.point_map(a, b)
    if point_map is None:
        return synth.PatchSet()
    rng = np.random.default_rng(seed * 1000 + pair[0] * 100 + pair[1] - pair[0])
    return synth.mine_pairs(a, b, point_map, rng, n_kp=2000, max_pos=400, similar=True)


@cache
def video_frames() -> list[np.ndarray]:
    """The box video's frames, read once a process."""
    return video.frames()


def video_set(seed: int, jobs: int = 1) -> synth.PatchSet:
    """trainvideo: every frame pair of ``video.frame_pairs``, side by side in ``jobs`` processes
    (the same set for any number)."""
    parts = side_by_side(partial(video_part, seed=seed), video.frame_pairs(len(video_frames())), jobs, "trainvideo")
    return synth.PatchSet.concat([p for p in parts if len(p.pos)])


def side_by_side(part: Callable[[T], synth.PatchSet], todo: list[T], jobs: int, desc: str) -> list[synth.PatchSet]:
    """``part`` of each of ``todo``, in order, in ``jobs`` processes (or here, for one)."""
    if jobs > 1:  # spawned with one OpenCV thread each: forking after OpenCV's threads ran can deadlock
        with get_context("spawn").Pool(jobs, cv2.setNumThreads, (1,)) as pool:
            return list(tqdm(pool.imap(part, todo), total=len(todo), desc=desc))
    return [part(job) for job in tqdm(todo, desc=desc)]


def photo_part(job: tuple[int, str], seed: int, **kw) -> synth.PatchSet:
    """The pairs of the ``k``-th photo of a split, ``name``: its own seed, so any order gives one set."""
    k, name = job
    return synth.from_photos([photos.load(name)], seed=seed * 1000 + k, **kw)


def photo_set(which: str, warps: int, seed: int, similar: bool, near: int = 1, jobs: int = 1,
              jitter: bool = False) -> synth.PatchSet:
    names = photos.split(which)
    print(f"{which}: {len(names)} photos ({', '.join(names)})")  # fewer if prep_data was not run
    part = partial(photo_part, warps=warps, seed=seed, similar=similar, n_near=near, jitter=jitter)
    return synth.PatchSet.by_photo(side_by_side(part, list(enumerate(names)), jobs, which), names)


BEYOND_AVX2 = ("X86_V4", "AVX512_ICL", "AVX512_SPR")  # numpy's dispatch targets past AVX2


def portable(features: dict[str, bool] = __cpu_features__) -> None:
    """Where numpy would use kernels past AVX2 on this CPU, run this command again with them
    turned off (NPY_DISABLE_CPU_FEATURES, read when numpy is imported); the processes it starts
    inherit that."""
    on = [f for f in BEYOND_AVX2 if features.get(f)]
    if on:
        off = " ".join([os.environ.get("NPY_DISABLE_CPU_FEATURES", ""), *on]).strip()
        os.execve(sys.executable, sys.orig_argv, {**os.environ, "NPY_DISABLE_CPU_FEATURES": off})


def main() -> None:
    portable()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warps", type=int, default=14, help="random warps per training photo")
    ap.add_argument("--eval-warps", type=int, default=30, help="random warps per held-back photo")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(photos.DATA_DIR))
    ap.add_argument("--sets", default="train,val,heldout,stereo")
    ap.add_argument("--near", type=int, default=1, help="nearby negatives per positive in the photo sets")
    ap.add_argument("--jobs", type=int, default=1, help="photos built side by side, one process each "
                    "(the sets are the same for any number)")
    a = ap.parse_args()
    if a.near < 0:
        ap.error("--near must be 0 or more")
    # photo sets: (photo split, warps per photo, seed, SIFT-alike negatives)
    specs = {"train": ("wide", a.warps, a.seed, True),
             "heldout": ("heldout", a.eval_warps, a.seed + 1, False),
             # new warps of the training photos, scored like the evaluation sets: for choosing
             # checkpoints and settings without looking at held-back photos
             "val": ("wide", 2, a.seed + 7, False),
             # more new warps of them, built as val is: what a fused scorer is fitted on (eval.fuse)
             "fusion": ("wide", 2, a.seed + 41, False),
             # warps of photos nothing trains on: for choosing between candidates by generalisation
             "valphotos": ("valphotos", a.eval_warps // 3, a.seed + 13, False)}
    photo = partial(photo_set, near=a.near, jobs=a.jobs)
    build = {k: lambda s=s: photo(*s) for k, s in specs.items()}
    build["train"] = lambda: photo(*specs["train"], jitter=True)
    build |= {"trainvideo": lambda: video_set(a.seed + 53, a.jobs),
              "stereo": lambda: stereo_set(a.seed), "valstereo": lambda: stereo_set(a.seed, stereo.aloe),
              # real pairs: the validation ones, and the held-back ones (judging only)
              "valpairs": lambda: pairs_set(pairs.VALIDATION, a.seed + 29),
              "heldpairs": lambda: pairs_set(("graf", "aero", "box", "motorcycle"), a.seed + 31),
              # fresh held-back pairs from another package (judging only)
              "immpairs": lambda: pairs_set(tuple(imm.truth()), a.seed + 37, imm.pair)}
    os.makedirs(a.out, exist_ok=True)
    for name in a.sets.split(","):
        ps = build[name]()
        ps.save(f"{a.out}/patches_{name}.npz")
        print(f"{name}: {len(ps.patches)} patches, {len(ps.pos)} positive and {len(ps.neg)} negative pairs")


if __name__ == "__main__":
    main()
