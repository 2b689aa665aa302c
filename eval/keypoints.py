"""Evaluate keypoint prediction and alignment-based keypoint transfer (Long, Zhang & Darrell) by
PCK at tolerance alpha (a fraction of the query's object box, its longer side), with UCN through
the API beside dense SIFT through the same code (service.keypoints, service.align).

Per category, a seeded shuffle picks ``--exemplars`` instances to train a keypoint model on
(names common to all of them); every other instance is a query. Transfer runs from every
exemplar to every query.

    python -m eval.keypoints                          # builds our annotated set (eval.keypoint_set)
    python -m eval.keypoints --annotations PATH       # ours, SPair-71k or PF-PASCAL (eval.annotations)
"""
from __future__ import annotations

import argparse
import base64
import json
import shlex
import sys
import tempfile
from pathlib import Path

import numpy as np
from fastapi.testclient import TestClient

from eval import annotations, dense_sift, keypoint_set
from eval.annotations import Instance
from eval.benchmarks import grey
from eval.dense import png
from eval.results import write_section
from service.keypoints import PRIOR_SIGMA, PRIOR_WEIGHT

ALPHAS = (0.05, 0.1, 0.15)


def errors(pred: dict[str, tuple[float, float]], q: Instance) -> list[float]:
    """Distances over the query's box side, for the names both carry."""
    return [float(np.hypot(*np.subtract(xy, q.keypoints[n]))) / q.box_side for n, xy in pred.items()
            if n in q.keypoints]


def split(items: list[Instance], n_ex: int, rng: np.random.Generator) -> tuple[list[Instance], list[Instance], list]:
    order = rng.permutation(len(items))
    ex, qs = [items[i] for i in order[:n_ex]], [items[i] for i in order[n_ex:]]
    names = sorted(set.intersection(*(set(e.keypoints) for e in ex)))
    return ex, qs, names


def ucn_predict(client: TestClient, ex: list[Instance], qs: list[Instance], names: list[str], images: dict,
                prior: bool, accepted: list[bool] | None = None) -> list[float]:
    """Errors of the predicted keypoints the queries carry; ``accepted`` (if given) gets, for each,
    whether the SVM accepted it (``svm`` > 0)."""
    body = {"exemplars": [{"image": base64.b64encode(png(images[e.image])).decode(),
                           "keypoints": {n: e.keypoints[n] for n in names}} for e in ex]}
    r = client.post("/v1/keypoint-models", json=body)
    r.raise_for_status()
    mid, out = r.json()["id"], []
    for q in qs:
        r = client.post(f"/v1/keypoint-models/{mid}/predict", files={"image": ("q.png", png(images[q.image]))},
                        data={} if prior else {"prior_weight": "0"})
        r.raise_for_status()
        found = [k for k in r.json()["keypoints"] if k["name"] in q.keypoints]
        out += errors({k["name"]: (k["x"], k["y"]) for k in found}, q)
        if accepted is not None:
            accepted += [k["svm"] > 0 for k in found]
    return out


def sift_predict(ex: list[Instance], qs: list[Instance], names: list[str], maps: dict,
                 prior: bool) -> list[float]:
    from service import keypoints
    model = keypoints.train([keypoints.Exemplar(maps[e.image], {n: e.keypoints[n] for n in names}) for e in ex])
    out = []
    for q in qs:
        p = keypoints.predict(model, maps[q.image]) if prior else keypoints.predict(model, maps[q.image],
                                                                                     prior_weight=0.0)
        out += errors(dict(zip(model.names, map(tuple, p.xy.tolist()), strict=True)), q)
    return out


def ucn_transfer(client: TestClient, ex: list[Instance], qs: list[Instance], images: dict, method: str,
                 guided: bool = False) -> list[float]:
    out = []
    for e in ex:
        names = list(e.keypoints)
        for q in qs:
            files = {"image_a": ("a.png", png(images[e.image])), "image_b": ("b.png", png(images[q.image]))}
            data = {"keypoints": json.dumps([e.keypoints[n] for n in names]), "method": method,
                    "guided": str(guided).lower()}
            r = client.post("/v1/keypoints/transfer", data=data, files=files)
            r.raise_for_status()
            out += errors({n: (k["x"], k["y"]) for n, k in zip(names, r.json()["keypoints"], strict=True)}, q)
    return out


def sift_transfer(ex: list[Instance], qs: list[Instance], maps: dict) -> list[float]:
    from service import align
    out = []
    for e in ex:
        names = list(e.keypoints)
        for q in qs:
            xy = align.align(maps[e.image], maps[q.image]).at(np.float32([e.keypoints[n] for n in names]))
            out += errors(dict(zip(names, map(tuple, xy.tolist()), strict=True)), q)
    return out


def in_place(ex: list[Instance], qs: list[Instance], images: dict, names: list[str] | None = None) -> list[float]:
    """A baseline that reads no pixel: each keypoint (of ``names``, default every one an exemplar
    carries) at its mean place in the exemplars, as a share of their width and height, put at
    that share of the query's."""
    out = []
    for q in qs:
        size = np.array(images[q.image].shape[1::-1], float)
        pred = {n: tuple(size * np.mean([np.divide(e.keypoints[n], images[e.image].shape[1::-1]) for e in ex
                                         if n in e.keypoints], 0))
                for n in q.keypoints if any(n in e.keypoints for e in ex) and (names is None or n in names)}
        out += errors(pred, q)
    return out


def acceptance(errs: list[float], accepted: list[bool], within: float = 0.1) -> str:
    """How the predictions the SVM accepted and those it rejected fare at PCK@``within``."""
    right, ok = np.array(errs) <= within, np.array(accepted)
    return (f"The SVM accepted (`svm` > 0) {ok.sum()} of the {len(ok)} points the defaults predicted, "
            f"{(ok & right).sum()} of them within {within:g}; of the {(~ok).sum()} it rejected, {(~ok & right).sum()}.")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--annotations", type=Path, default=None, help="default: build our set in a temporary folder")
    ap.add_argument("--exemplars", type=int, default=4)
    ap.add_argument("--per-photo", type=int, default=20, help="instances per photo when building our set")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strength", choices=("mild", "strong"), default="strong", help="of our set's warps")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    from service.config import Settings
    from service.main import create_app
    with tempfile.TemporaryDirectory() as tmp:
        path = a.annotations or keypoint_set.build(Path(tmp), a.per_photo, a.seed, a.strength)
        instances = annotations.read(path)
        images = {i.image: grey(i.image) for i in instances}
        rng = np.random.default_rng(a.seed)
        maps = {p: dense_sift.feature_map(img) for p, img in images.items()}
        rows: dict[str, list[float]] = {}
        accepted: list[bool] = []
        with TestClient(create_app(Settings())) as client:
            for cat in sorted({i.category for i in instances}):
                ex, qs, names = split([i for i in instances if i.category == cat], a.exemplars, rng)
                if not names or not qs:
                    continue
                for label, errs in (
                    ("prediction: UCN through /v1/keypoint-models (SVM + prior, the defaults)",
                     ucn_predict(client, ex, qs, names, images, True, accepted)),
                    ("prediction: dense SIFT, same pipeline (SVM + prior)", sift_predict(ex, qs, names, maps, True)),
                    ("prediction: UCN, SVM alone (prior_weight 0)", ucn_predict(client, ex, qs, names, images, False)),
                    ("prediction: dense SIFT, SVM alone", sift_predict(ex, qs, names, maps, False)),
                    ("transfer: UCN through /v1/keypoints/transfer method=align",
                     ucn_transfer(client, ex, qs, images, "align")),
                    ("transfer: dense SIFT, same MRF", sift_transfer(ex, qs, maps)),
                    ("transfer: UCN, method=nearest (global)", ucn_transfer(client, ex, qs, images, "nearest")),
                    ("no pixel read: each keypoint the model names at its mean share of the exemplars' width "
                     "and height", in_place(ex, qs, images, names)),
                ):
                    rows.setdefault(label, []).extend(errs)
                print(cat, {k: f"{np.mean(np.array(v) <= 0.1):.3f}" for k, v in rows.items()})
    source = (f"our annotated set (eval.keypoint_set, {a.strength} warps)" if a.annotations is None
              else f"`{a.annotations}`")
    command = "python -m eval.keypoints " + shlex.join(sys.argv[1:])
    head = " | ".join(f"PCK@{t}" for t in ALPHAS)
    which = f"{a.strength} warps" if a.annotations is None else "your annotations"
    lines = [f"## Keypoint prediction and alignment-based transfer (PCK, {which})\n\n`{command}`\n",
             f"On {source}: {a.exemplars} exemplars per category, the rest are queries; PCK in percent of "
             "keypoints within alpha times the longer side of the query's object box. The prior's defaults "
             f"(sigma {PRIOR_SIGMA} of the diagonal, weight {PRIOR_WEIGHT}) were chosen on another draw of the set "
             "(seed 1); transfer runs from each exemplar to each query.\n",
             f"| method | {head} | keypoints |", "|---|" + "---|" * (len(ALPHAS) + 1)]
    for label, errs in rows.items():
        e = np.array(errs)
        lines.append(f"| {label} | " + " | ".join(f"{100 * np.mean(e <= t):.1f}" for t in ALPHAS) + f" | {len(e)} |")
    lines += ["", acceptance(next(iter(rows.values())), accepted)]
    print("\n".join(lines))
    if not a.no_write:
        write_section(f"keypoints-eval-{a.strength}" if a.annotations is None else "keypoints-eval-user",
                      "\n".join(lines))


if __name__ == "__main__":
    main()
