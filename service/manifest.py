"""The manifest (``models/weights/manifest.json``), read through one typed model: what the service
needs of each network, with the defaults in one place. A network trained elsewhere joins by adding
an entry with the same I/O contract; fields the service does not use (the training command, its
health record) are kept as they are."""
from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, model_validator

from service.fusion import Fusion
from service.names import MODEL_NAME


class Curve(BaseModel):
    """A calibration curve: raw score -> the share of answers right (``service.calibration``),
    read by linear interpolation: as many finite knots as shares, in order of score, each share
    within [0, 1]. A curve that breaks this would give confidences that mean nothing, so its
    entry is refused (the registry names it) rather than served."""
    score: list[float] = Field(min_length=1)
    p: list[float] = Field(min_length=1)

    @model_validator(mode="after")
    def readable(self) -> Curve:
        score, p = np.asarray(self.score), np.asarray(self.p)
        if len(score) != len(p):
            raise ValueError(f"a calibration curve has {len(score)} scores and {len(p)} shares")
        if not (np.isfinite(score).all() and np.isfinite(p).all()):
            raise ValueError("a calibration curve holds a value that is not finite")
        if np.any(np.diff(score) < 0):
            raise ValueError("a calibration curve's scores are not in order")
        if p.min() < 0 or p.max() > 1:
            raise ValueError("a calibration curve's shares are not within [0, 1]")
        return self


class ManifestEntry(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(pattern=MODEL_NAME)
    kind: Literal["patch", "descriptor", "dense"]
    file: str = Field(pattern=MODEL_NAME)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    version: str
    decision_file: str | None = Field(None, pattern=MODEL_NAME)
    decision_sha256: str | None = None
    architecture: str | None = None
    inputs: dict[str, list[int | str]] = Field(default_factory=dict)
    outputs: dict[str, list[int | str]] = Field(default_factory=dict)
    descriptor_dim: int | None = Field(None, gt=0)
    feature_dim: int | None = Field(None, gt=0)
    metric: Literal["l2", "learned"] | None = None
    stride: int = Field(4, gt=0)
    views: int = Field(1, ge=1, description="forward passes a pair: the mean over this many rotations and flips")
    preprocessing: dict = Field(default_factory=dict)
    metrics: dict[str, float] = Field(default_factory=dict)
    calibration: dict[str, Curve] = Field(default_factory=dict)
    fusion: Fusion | None = Field(None, description="a patch scorer's score fused with SIFT's distance "
                                  "(``service.fusion``)")

    @property
    def dim(self) -> int:
        """The features' dimension: the dense map's channels or the descriptor's length."""
        return int((self.feature_dim if self.kind == "dense" else self.descriptor_dim) or 0)

    @property
    def min_side(self) -> int:
        return int(self.preprocessing.get("min_size", 64))

    @property
    def fixed_side(self) -> int | None:
        return self.preprocessing.get("patch_size", 64)


class Manifest(BaseModel):
    models: list[dict]  # each checked on its own, so one bad entry leaves the others loadable
