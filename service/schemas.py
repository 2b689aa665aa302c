"""Request and response bodies of the v1 API (pydantic). Limits that depend on Settings (batch
caps, image sizes) are checked in the handlers, so the schema stays static."""
from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

ModelName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
B64Image = Annotated[str, StringConstraints(min_length=1), Field(description="base64-encoded image file")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatchPair(Strict):
    a: B64Image
    b: B64Image


class SimilarityRequest(Strict):
    model: ModelName | None = Field(None, description="default: the best scorer (2ch-2stream)")
    pairs: list[PatchPair] = Field(min_length=1)


class SimilarityResponse(BaseModel):
    model: str
    scores: list[float] = Field(description="one per pair, same order; higher = more similar")


class DescriptorsRequest(Strict):
    model: ModelName | None = Field(None, description="default: the best descriptor (siam-2stream-l2)")
    patches: list[B64Image] = Field(min_length=1)


class DescriptorsResponse(BaseModel):
    model: str
    dim: int
    metric: str = Field(description="'l2': compare by Euclidean distance; 'learned': use /v1/patches/similarity")
    descriptors: list[list[float]]


class ModelInfo(BaseModel):
    name: str
    kind: str
    version: str
    sha256: str
    provider: str
    architecture: str | None = None
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    descriptor_dim: int | None = None
    metrics: dict[str, float] = Field(default_factory=dict)
    default_for: list[str] = Field(default_factory=list)


class ModelsResponse(BaseModel):
    models: list[ModelInfo]
    errors: dict[str, str] = Field(default_factory=dict, description="models that failed to load, and why")


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str = Field(description="ready | degraded (cache down: answers are computed) | not ready | loading")
    models: int
    errors: dict[str, str] = Field(default_factory=dict)
    cache: str = "ok"
    cache_backend: str = "memory"


class ErrorBody(BaseModel):
    detail: str | list[dict]
    code: str


class ImageInfo(BaseModel):
    image_id: str = Field(description="sha256 of the image bytes; use it as image_a_id / image_b_id")
    width: int
    height: int
    cached: bool = Field(description="the features were already in the cache")
    model: str


class Match(BaseModel):
    xa: float
    ya: float
    xb: float
    yb: float
    score: float = Field(description="cosine similarity of the two features, in [-1, 1]")


class CorrespondencesResponse(BaseModel):
    model: str
    matches: list[Match]
    homography: list[list[float]] | None = None
    fundamental: list[list[float]] | None = None
    inliers: list[bool] | None = Field(None, description="per match, when geometry was verified")
    timing_ms: dict[str, float]


class TransferredPoint(BaseModel):
    x: float
    y: float
    score: float = Field(description="cosine similarity of the match, in [-1, 1]")
    consistent: bool = Field(description="the point maps back to where it came from (cycle consistency)")
    cycle_error: float = Field(description="pixels in image a between the point and its round trip")


class TransferResponse(BaseModel):
    model: str
    guidance: str = Field("none", description="the geometry that guided the search: homography, fundamental or none")
    keypoints: list[TransferredPoint]
    timing_ms: dict[str, float]
