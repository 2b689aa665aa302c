"""A small annotated keypoint set built from held-back scikit-image photos, in the JSON layout
that ``eval.annotations`` reads.

Named keypoints were placed by hand on two photos the networks never trained on (coffee, rocket).
Each photo yields ``per_photo`` instances: a smooth random non-rigid warp (with a mild affine
part; composed with a moderate homography at the default ``strong`` setting) and photometric
changes (gain, gamma, blur, noise, JPEG), with the
keypoints carried through the known warp (those pushed out of the frame are left out) and the
box around them. It is a stand-in for an
intraclass set (PF-PASCAL, SPair-71k), which cannot be downloaded here: the instances of a
"category" share one object, so it tests keypoint models and alignment under deformation and
appearance change, not across object instances (``eval.faces`` judges that, on held-back faces).

    python -m eval.keypoint_set --out data/keypoints   # writes images + annotations.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from models.data import photos, warps
from models.data.synth import photometric

# (x, y) pixels of photos.load(name), placed by hand
BASE = {
    "coffee": {"rim_left": (175, 110), "rim_right": (405, 100), "rim_back": (290, 22), "rim_front": (290, 198),
               "handle": (228, 262), "spoon_bowl": (365, 290), "spoon_end": (412, 72), "saucer_left": (80, 235),
               "saucer_front": (240, 378)},
    "rocket": {"nose": (321, 128), "band": (321, 150), "base": (322, 398), "left_mast": (197, 125),
               "right_mast": (446, 125), "light_left": (82, 350), "light_centre": (362, 395),
               "light_right": (435, 392)},
}


def carry(points: dict[str, tuple[float, float]], m: np.ndarray) -> dict[str, list[float]]:
    """Keypoints of the source photo -> the warped image a, where a(x) = b(m(x)): the pixel x whose
    m(x) is nearest each point, refined by the local Jacobian of m. Points that no pixel of a
    shows (pushed out of the frame) are left out."""
    flat = m.reshape(-1, 2)
    h, w = m.shape[:2]
    out = {}
    for name, p in points.items():
        i = int(((flat - np.asarray(p, np.float32)) ** 2).sum(1).argmin())
        y, x = divmod(i, w)
        residual = np.asarray(p, np.float32) - m[y, x]
        if np.abs(residual).max() > 2.0:
            continue
        x0, x1, y0, y1 = max(x - 1, 0), min(x + 1, w - 1), max(y - 1, 0), min(y + 1, h - 1)
        jac = np.stack([(m[y, x1] - m[y, x0]) / max(x1 - x0, 1), (m[y1, x] - m[y0, x]) / max(y1 - y0, 1)], 1)
        step = np.linalg.lstsq(jac, residual, rcond=None)[0]
        out[name] = [float(x + step[0]), float(y + step[1])]
    return out


def instance_map(rng: np.random.Generator, shape: tuple[int, int], strength: str) -> np.ndarray:
    """mild: a non-rigid field (2-6 % of the long side); strong: a larger one (3-8 %) composed
    with a moderate homography (rotation within 45 degrees, scale 0.7-1.4, tilt)."""
    if strength == "mild":
        return warps.nonrigid_map(rng, shape, amplitude=rng.uniform(0.02, 0.06))
    n = warps.nonrigid_map(rng, shape, amplitude=rng.uniform(0.03, 0.08))
    h = warps.homography_map(rng, shape)
    return cv2.remap(h, n[..., 0], n[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def build(out: Path, per_photo: int = 12, seed: int = 0, strength: str = "strong") -> Path:
    """Write the instances and ``annotations.json``; returns its path."""
    rng = np.random.default_rng(seed)
    out.mkdir(parents=True, exist_ok=True)
    records = []
    for name, points in BASE.items():
        src = photos.load(name)
        for k in range(per_photo):
            m = instance_map(rng, src.shape, strength)
            img, _ = warps.apply(src, m)
            img = photometric(img, rng, 0.7 if strength == "mild" else 1.0)
            h, w = src.shape
            pts = {k: v for k, v in carry(points, m).items() if 0 <= v[0] <= w - 1 and 0 <= v[1] <= h - 1}
            xy = np.array(list(pts.values()))
            box = [float(v) for v in (*xy.min(0), *xy.max(0))]
            path = f"{name}_{k:02d}.png"
            cv2.imwrite(str(out / path), img)
            records.append({"image": path, "category": name, "box": box, "keypoints": pts})
    ann = out / "annotations.json"
    ann.write_text(json.dumps({"images": records}, indent=1))
    return ann


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=photos.DATA_DIR / "keypoints")
    ap.add_argument("--per-photo", type=int, default=12)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strength", choices=("mild", "strong"), default="strong")
    a = ap.parse_args()
    print(build(a.out, a.per_photo, a.seed, a.strength))


if __name__ == "__main__":
    main()
