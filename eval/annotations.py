"""Keypoint annotations: image, object box and named points, read from three layouts.

- Ours (``eval.keypoint_set`` writes it): one JSON file
  ``{"images": [{"image": path, "category": str, "box": [x0, y0, x1, y1], "keypoints": {name: [x, y]}}]}``,
  paths relative to the file.
- SPair-71k per-image annotations: a folder of ``ImageAnnotation/<category>/<name>.json``, each
  ``{"filename", "category", "bndbox": [x0, y0, x1, y1], "kps": {"<id>": [x, y] | null}}``; images
  are looked up in ``JPEGImages/<category>/<filename>`` beside ``ImageAnnotation``.
- PF-PASCAL: ``Annotations/<category>/<name>.mat`` with ``kps`` (N, 2; NaN where absent) and
  ``bbox``; images in ``JPEGImages/<name>.jpg`` beside ``Annotations``.

Missing points are left out, so instances of one category may carry different names.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Instance:
    image: Path
    category: str
    box: tuple[float, float, float, float]  # x0, y0, x1, y1
    keypoints: dict[str, tuple[float, float]]

    @property
    def box_side(self) -> float:
        """PCK's reference length: the longer side of the object box."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


def ours(path: Path) -> list[Instance]:
    doc = json.loads(path.read_text())
    return [Instance(path.parent / r["image"], r.get("category", "object"), tuple(r["box"]),
                     {k: (float(v[0]), float(v[1])) for k, v in r["keypoints"].items() if v is not None})
            for r in doc["images"]]


def spair(root: Path) -> list[Instance]:
    out = []
    for f in sorted((root / "ImageAnnotation").glob("*/*.json")):
        r = json.loads(f.read_text())
        pts = {k: (float(v[0]), float(v[1])) for k, v in r["kps"].items() if v is not None}
        out.append(Instance(root / "JPEGImages" / r["category"] / r["filename"], r["category"],
                            tuple(float(v) for v in r["bndbox"]), pts))
    return out


def pf_pascal(root: Path) -> list[Instance]:
    from scipy.io import loadmat  # only this layout needs scipy
    out = []
    for f in sorted((root / "Annotations").glob("*/*.mat")):
        m = loadmat(f)
        kps = np.asarray(m["kps"], float).reshape(-1, 2)
        pts = {str(i): (float(x), float(y)) for i, (x, y) in enumerate(kps) if np.isfinite([x, y]).all()}
        out.append(Instance(root / "JPEGImages" / f"{f.stem}.jpg", f.parent.name,
                            tuple(float(v) for v in np.ravel(m["bbox"])[:4]), pts))
    return out


def read(path: str | Path) -> list[Instance]:
    """Any of the three layouts: a JSON file (ours), or a folder holding ImageAnnotation (SPair)
    or Annotations (PF-PASCAL)."""
    p = Path(path)
    if p.is_file():
        return ours(p)
    if (p / "ImageAnnotation").is_dir():
        return spair(p)
    if (p / "Annotations").is_dir():
        return pf_pascal(p)
    raise FileNotFoundError(f"{p}: not an annotations JSON file, nor a SPair-71k or PF-PASCAL folder")
