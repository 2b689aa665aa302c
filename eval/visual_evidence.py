"""Long, Zhang & Darrell's visual evidence: what a layer's features know about appearance. Each
query image is rebuilt from other images: every patch centred at a receptive-field centre of a
layer (a cell; patch size = the layer's stride) is replaced by the mean of the patches at that
cell's k nearest neighbours in the layer's feature space, over all cells of a set of database
photos (the training photos, never the query). Good features rebuild a recognisable image.

    python -m eval.visual_evidence   # docs/images/visual-evidence.png: held-back photos x UCN layers (+ dense SIFT)
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from eval import dense_sift
from models.data import photos
from models.layers import UCN_LAYERS, LayerReader

OUT = Path(__file__).resolve().parents[1] / "docs" / "images" / "visual-evidence.png"
WEIGHTS = Path(__file__).resolve().parents[1] / "models" / "weights" / "ucn.onnx"
BLOCK = 2048


def resized(img: np.ndarray, side: int) -> np.ndarray:
    s = side / max(img.shape)
    return cv2.resize(img, (round(img.shape[1] * s), round(img.shape[0] * s)), interpolation=cv2.INTER_AREA)


def unit_cells(f: np.ndarray) -> np.ndarray:
    """(C, h, w) -> (h*w, C) unit rows."""
    v = f.reshape(f.shape[0], -1).T.astype(np.float32)
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)


def patches(img: np.ndarray, h: int, w: int, stride: int) -> np.ndarray:
    """The stride x stride patch centred on each cell (i, j) at pixel (stride*j, stride*i): (h*w, s, s)."""
    pad = stride
    p = np.pad(img.astype(np.float32), pad, mode="reflect")
    half = stride // 2
    ii, jj = np.mgrid[0:h, 0:w]
    ys = (ii * stride + pad - half).ravel()
    xs = (jj * stride + pad - half).ravel()
    oy, ox = np.mgrid[0:stride, 0:stride]
    return p[ys[:, None, None] + oy, xs[:, None, None] + ox]


def rebuild(query: np.ndarray, q_feat: np.ndarray, db_feats: list[np.ndarray], db_imgs: list[np.ndarray],
            stride: int, k: int) -> np.ndarray:
    """The query (H, W) rebuilt from the database's patches (see the module docstring)."""
    h, w = q_feat.shape[1:]
    db = np.concatenate([unit_cells(f) for f in db_feats])
    db_patch = np.concatenate([patches(img, f.shape[1], f.shape[2], stride) for img, f in zip(db_imgs, db_feats,
                                                                                             strict=True)])
    q = unit_cells(q_feat)
    out = np.empty((len(q), stride, stride), np.float32)
    for s in range(0, len(q), BLOCK):
        sim = q[s:s + BLOCK] @ db.T
        top = np.argpartition(-sim, k, axis=1)[:, :k]
        out[s:s + BLOCK] = db_patch[top].mean(1)
    canvas = out.reshape(h, w, stride, stride).transpose(0, 2, 1, 3).reshape(h * stride, w * stride)
    half = stride // 2  # tile (i, j) starts at pixel (stride*i - half, stride*j - half): shift it back
    canvas = np.pad(canvas, ((0, half), (0, half)), mode="edge")[half:half + query.shape[0], half:half + query.shape[1]]
    return np.clip(canvas, 0, 255).astype(np.uint8)


def caption(img: np.ndarray, text: str) -> np.ndarray:
    out = cv2.copyMakeBorder(img, 20, 0, 0, 0, cv2.BORDER_CONSTANT, value=0)
    cv2.putText(out, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 255, 1, cv2.LINE_AA)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", type=Path, default=WEIGHTS)
    ap.add_argument("--layers", nargs="*", default=["conv1", "conv3", "cst", "features"], choices=sorted(UCN_LAYERS))
    ap.add_argument("--queries", nargs="*", default=photos.split("heldout")[:2])
    ap.add_argument("--database", type=int, default=8, help="training photos to draw patches from")
    ap.add_argument("--side", type=int, default=256, help="long side of every image")
    ap.add_argument("-k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=OUT)
    a = ap.parse_args()
    reader = LayerReader(a.model, {n: UCN_LAYERS[n] for n in a.layers})
    db_imgs = [resized(photos.load(n), a.side) for n in photos.split("train")[:a.database]]
    db = [reader(img) for img in db_imgs]
    db_sift = [dense_sift.feature_map(img).features.astype(np.float32) for img in db_imgs]
    rows = []
    for name in a.queries:
        q = resized(photos.load(name), a.side)
        feats = reader(q)
        tiles = [caption(q, name)]
        for layer in a.layers:
            s = reader.strides[layer]
            tiles.append(caption(rebuild(q, feats[layer], [d[layer] for d in db], db_imgs, s, a.k),
                                 f"UCN {layer} (stride {s})"))
        tiles.append(caption(rebuild(q, dense_sift.feature_map(q).features.astype(np.float32), db_sift, db_imgs, 4,
                                     a.k), "dense SIFT (stride 4)"))
        rows.append(np.hstack([cv2.copyMakeBorder(t, 0, 4, 0, 4, cv2.BORDER_CONSTANT, value=255) for t in tiles]))
    width = max(r.shape[1] for r in rows)
    grid = np.vstack([cv2.copyMakeBorder(r, 0, 0, 0, width - r.shape[1], cv2.BORDER_CONSTANT, value=255)
                      for r in rows])
    cv2.imwrite(str(a.out), grid)
    print(f"wrote {a.out} ({a.k}-NN over {len(db_imgs)} training photos)")


if __name__ == "__main__":
    main()
