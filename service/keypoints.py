"""Keypoint prediction and classification from dense features (Long, Zhang & Darrell, NIPS 2014,
section 4): one linear SVM per named keypoint, trained on the feature at the receptive-field
centre (grid cell) nearest the keypoint in each exemplar against every cell away from it, with
hard negative mining; at prediction the SVM response is combined with a Gaussian prior on
location whose mean is the keypoint in the exemplar nearest the query by global appearance
(spatially pooled features), as the paper uses its global nearest neighbour.

Everything here takes FeatureMaps, so any dense feature network (or dense SIFT in the
evaluation) goes through the same pipeline.
"""
from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass, field

import numpy as np
from sklearn.svm import LinearSVC

from service.feature_map import BadRecord, FeatureMap
from service.matching import bilinear, cells

POOL_GRID = 4  # global descriptor: mean features over a 4 x 4 grid of image regions
MEMBERS = {f"{n}.npy" for n in ("weights", "bias", "global_desc", "locations", "header")}
MAX_MODEL_BYTES = 16 * 1024 * 1024  # a model of 64 keypoints and 64 exemplars is far below this


@dataclass
class Exemplar:
    fm: FeatureMap
    points: dict[str, tuple[float, float]]  # name -> (x, y) pixels of the image as sent


@dataclass(frozen=True)
class TrainParams:
    c: float = 1.0  # SVM regularisation
    negatives: int = 200  # random negatives per exemplar to start with (all exemplars pooled)
    rounds: int = 3  # rounds of hard negative mining
    hard: int = 200  # hardest violators added per round
    exclusion: float = 0.05  # cells closer than this fraction of the diagonal are not negatives
    seed: int = 0


@dataclass
class KeypointModel:
    names: list[str]
    weights: np.ndarray  # (K, D) float32
    bias: np.ndarray  # (K,) float32
    global_desc: np.ndarray  # (N, G) float32, unit: each exemplar's pooled features
    locations: np.ndarray  # (N, K, 2) float32: keypoints as fractions of each exemplar's width and height
    meta: dict = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        buf = io.BytesIO()
        np.savez(buf, weights=self.weights, bias=self.bias, global_desc=self.global_desc, locations=self.locations,
                 header=np.frombuffer(json.dumps({"names": self.names, "meta": self.meta}).encode(), np.uint8))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes, max_bytes: int = MAX_MODEL_BYTES) -> KeypointModel:
        """A stored model, checked: BadRecord for anything that is not one this service wrote (a
        member that would decompress past ``max_bytes``, missing arrays, shapes that disagree,
        values that are not finite)."""
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                sizes = {i.filename: i.file_size for i in zf.infolist()}
            if set(sizes) != MEMBERS or sum(sizes.values()) > max_bytes:
                raise BadRecord(f"members {sorted(sizes)} of {sum(sizes.values())} bytes uncompressed")
            z = np.load(io.BytesIO(data), allow_pickle=False)
            head = json.loads(z["header"].tobytes())
            m = cls(list(head["names"]), z["weights"], z["bias"], z["global_desc"], z["locations"], dict(head["meta"]))
        except (zipfile.BadZipFile, ValueError, KeyError, TypeError, OSError) as exc:
            if isinstance(exc, BadRecord):
                raise
            raise BadRecord(f"unreadable ({exc.__class__.__name__})") from None
        k = len(m.names)
        shapes_ok = (m.weights.ndim == 2 and m.weights.shape[0] == k and m.bias.shape == (k,)
                     and m.global_desc.ndim == 2 and m.locations.shape == (len(m.global_desc), k, 2))
        if not k or not shapes_ok or not all(isinstance(n, str) for n in m.names):
            raise BadRecord("arrays whose shapes disagree with the names")
        if not all(np.isfinite(a).all() for a in (m.weights, m.bias, m.global_desc, m.locations)):
            raise BadRecord("values that are not finite")
        return m


def global_descriptor(fm: FeatureMap) -> np.ndarray:
    """Mean features over a POOL_GRID x POOL_GRID grid of regions, concatenated, unit: (G,) float32."""
    f = fm.features.astype(np.float32)
    d, h, w = f.shape
    ys = np.linspace(0, h, POOL_GRID + 1).round().astype(int)
    xs = np.linspace(0, w, POOL_GRID + 1).round().astype(int)
    parts = [f[:, ys[i]:max(ys[i + 1], ys[i] + 1), xs[j]:max(xs[j + 1], xs[j] + 1)].mean((1, 2))
             for i in range(POOL_GRID) for j in range(POOL_GRID)]
    v = np.concatenate(parts)
    return v / max(float(np.linalg.norm(v)), 1e-6)


def nearest_cell(xy_cells: np.ndarray, point: tuple[float, float]) -> int:
    return int(((xy_cells - np.asarray(point, np.float32)) ** 2).sum(1).argmin())


def train_one(descs: np.ndarray, positives: np.ndarray, eligible: np.ndarray, p: TrainParams,
              rng: np.random.Generator, initial: int) -> tuple[np.ndarray, float, dict]:
    """One keypoint's SVM: positives (N, D) against negatives drawn from the ``eligible`` (M,)
    cells of all exemplars' descriptors (M, D), mined for hard ones. -> (w (D,), b, stats)."""
    chosen = np.zeros(len(descs), bool)
    pool = np.flatnonzero(eligible)
    chosen[rng.choice(pool, min(initial, len(pool)), replace=False)] = True
    svm = LinearSVC(C=p.c, class_weight="balanced", max_iter=5000, random_state=p.seed)
    mined = 0
    for rnd in range(p.rounds + 1):
        neg = descs[chosen]
        svm.fit(np.concatenate([positives, neg]), np.r_[np.ones(len(positives)), -np.ones(len(neg))])
        if rnd == p.rounds:
            break
        # hard negatives: eligible cells not yet chosen that fall inside the margin, highest first
        scores = descs @ svm.coef_[0] + svm.intercept_[0]
        cand = np.flatnonzero(eligible & ~chosen & (scores > -1.0))
        if not len(cand):
            break
        cand = cand[np.argsort(-scores[cand], kind="stable")[:p.hard]]
        chosen[cand] = True
        mined += len(cand)
    w, b = svm.coef_[0].astype(np.float32), float(svm.intercept_[0])
    return w, b, {"positives": len(positives), "negatives": int(chosen.sum()), "hard_mined": mined,
                  "train_positive_recall": float(np.mean(positives @ w + b > 0))}


def train(exemplars: list[Exemplar], p: TrainParams | None = None) -> KeypointModel:
    """One SVM per name; every exemplar must carry the same names (checked by the caller)."""
    p = p or TrainParams()
    rng = np.random.default_rng(p.seed)
    names = sorted(exemplars[0].points)
    grids = [cells(e.fm) for e in exemplars]
    descs = np.concatenate([d for _, d in grids])
    weights, bias, stats = [], [], {}
    for name in names:
        positives, eligible = [], []
        for e, (xy, d) in zip(exemplars, grids, strict=True):
            pt = e.points[name]
            positives.append(d[nearest_cell(xy, pt)])
            radius = max(p.exclusion * float(np.hypot(e.fm.width, e.fm.height)), 1.5 * e.fm.stride / e.fm.scale)
            eligible.append(((xy - np.asarray(pt, np.float32)) ** 2).sum(1) > radius ** 2)
        w, b, s = train_one(descs, np.stack(positives), np.concatenate(eligible), p, rng,
                            p.negatives * len(exemplars))
        weights.append(w)
        bias.append(b)
        stats[name] = s
    loc = np.array([[[e.points[n][0] / e.fm.width, e.points[n][1] / e.fm.height] for n in names]
                    for e in exemplars], np.float32)
    return KeypointModel(names, np.stack(weights), np.array(bias, np.float32),
                         np.stack([global_descriptor(e.fm) for e in exemplars]), loc, {"training": stats})


@dataclass
class Prediction:
    xy: np.ndarray  # (K, 2) pixels of the query image
    score: np.ndarray  # (K,) combined: SVM response + prior term
    svm: np.ndarray  # (K,) SVM response at the chosen cell
    exemplar: int  # the exemplar nearest the query, whose keypoints give the prior's means


# chosen on a validation draw of our annotated set (seed 1), never the evaluation draw (seed 0)
PRIOR_SIGMA, PRIOR_WEIGHT = 0.2, 0.3


def predict(model: KeypointModel, fm: FeatureMap, prior_sigma: float = PRIOR_SIGMA,
            prior_weight: float = PRIOR_WEIGHT) -> Prediction:
    """Each keypoint at the cell maximising svm(x) - prior_weight * |x - mu|^2 / (2 sigma^2), where
    mu is the keypoint's place in the nearest exemplar (scaled to the query) and sigma is
    ``prior_sigma`` of the query's diagonal; prior_weight 0 uses the SVM alone."""
    xy, d = cells(fm)
    resp = model.weights @ d.T + model.bias[:, None]  # (K, N)
    e = int((model.global_desc @ global_descriptor(fm)).argmax())
    mu = model.locations[e] * np.array([fm.width, fm.height], np.float32)  # (K, 2)
    sigma = prior_sigma * float(np.hypot(fm.width, fm.height))
    d2 = ((xy[None] - mu[:, None]) ** 2).sum(-1)
    total = resp - prior_weight * d2 / (2 * sigma ** 2)
    best = total.argmax(1)
    k = np.arange(len(model.names))
    return Prediction(xy[best], total[k, best], resp[k, best], e)


def classify(model: KeypointModel, fm: FeatureMap, points: np.ndarray) -> np.ndarray:
    """SVM responses (P, K) of every named keypoint at points (P, 2) of the image."""
    return bilinear(fm, points) @ model.weights.T + model.bias[None]
