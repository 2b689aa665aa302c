"""All service settings, read once from the environment (pydantic-settings) and injected."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.redis_conn import check_url

MODELS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"


class Settings(BaseSettings):
    """Environment variables have the field's name in capitals (``MAX_PAIRS=256``)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", hide_input_in_errors=True)

    host: str = Field("127.0.0.1", description="address `python -m service` (and `make run`) listens on")
    port: int = Field(8000, ge=1, le=65535, description="its port")
    models_dir: Path = Field(MODELS_DIR, description="the folder of manifest.json and the .onnx files it lists")
    provider: Literal["auto", "cpu", "cuda", "tensorrt"] = Field(
        "auto", description="execution provider; auto: CUDA when a GPU and its driver are present (with the CUDA 13 "
                "and cuDNN 9 libraries onnxruntime-gpu needs, as in the GPU image), else the CPU")
    ort_threads: int = Field(0, ge=0, description="intra-op threads per session; 0 lets ONNX Runtime choose")
    io_binding: Literal["auto", "on", "off"] = Field(
        "auto", description="bind inputs and outputs through ONNX Runtime's IO binding; auto: on a GPU only")
    ort_spinning: bool = Field(False, description="let ONNX Runtime's threads spin between runs: lower latency "
                               "on a dedicated machine, but a spinning thread takes a core from the event loop "
                               "while a batch is being collected")
    blas_threads: int = Field(1, ge=0, description="threads numpy's BLAS (the matrix products of matching) may "
                              "use; 0 leaves its default, one a core. After each product its idle threads spin for "
                              "a while and take the cores from the detector and the networks of the next request")
    opencv_threads: int = Field(1, ge=0, description="threads OpenCV's own parallel loops (the DoG detector, "
                                "warps) may use; 0 leaves its default, one a core. With one, a cold pair's two "
                                "detectors run side by side, one a core, instead of sharing one pool")
    warm_up: bool = Field(True, description="before it takes requests, run a synthetic pair through a cold "
                          "method=sparse request's path (decoding, detector, both sparse descriptors, matching) and "
                          "build the app's routes, so that the first request does not pay for first-time setup "
                          "(a cold 640x480 pair: 199 ms, with it 114)")
    log_format: Literal["text", "json"] = Field(
        "text", description="text: lines ending with the request id they were written for; json: one JSON object a "
                "line (time, level, logger, message, request_id; uvicorn's access lines also client, method, path, "
                "status) for a log collector")
    default_patch_model: str = Field("2ch-2stream-views8-sift", description="of /v1/patches/similarity")
    default_descriptor_model: str = Field("siam-2stream-l2", description="of /v1/patches/descriptors and "
                                          "method=sparse")
    sparse_fast_model: str = Field("siam-2stream-l2-s2-distilled-w0.125", description="/v1/correspondences with "
                                   "method=sparse and no model named answers with this descriptor first, and with "
                                   "DEFAULT_DESCRIPTOR_MODEL only where that answer verifies no geometry asked for, "
                                   "verifies it on fewer than 20 inliers, or a homography in under a tenth of image a; "
                                   "empty: DEFAULT_DESCRIPTOR_MODEL alone")

    # request limits
    max_body_bytes: int = Field(32 * 1024 * 1024, gt=0, description="a request body larger than this: 413")
    max_image_bytes: int = Field(16 * 1024 * 1024, gt=0, description="an image file larger than this: 413")
    max_image_pixels: int = Field(40_000_000, gt=0, description="an image with more pixels than this (read from "
                                  "its header, before decoding): 413")
    max_patch_side: int = Field(512, ge=64, description="patches larger than this are refused (413)")
    min_patch_side: int = Field(8, ge=1, description="patches smaller than this: 422")
    max_pairs: int = Field(1024, gt=0, description="pairs in one /v1/patches/similarity request")
    max_patches: int = Field(2048, gt=0, description="patches in one /v1/patches/descriptors request")
    memory_keep_mb: int = Field(256, ge=0, description="an idle service gives its free heap memory back once it "
                                "holds more than this beyond what it held after doing so last; 0: after every "
                                "request. What an ordinary request leaves free stays for the next, which would "
                                "otherwise fault it in again (a cold sparse pair after a pause: 7-93 % slower in "
                                "most runs)")
    max_concurrent_decodes: int = Field(2, ge=1, description="images decoded, or run through the sparse detector, "
                                        "at once; each may hold a large frame or pyramid for a moment, so this "
                                        "bounds peak memory")

    # dense features, matching and the feature cache
    default_dense_model: str = Field("ucn", description="of method=dense, transfer, alignment, keypoint models")
    default_method: Literal["dense", "sparse"] = Field("sparse", description="of /v1/correspondences and /v1/images")
    dense_max_side: int = Field(1024, ge=64, description="images are downscaled to this long side for the dense "
                               "network's features")
    sparse_max_side: int = Field(1024, ge=64, description="images are downscaled to this long side for method=sparse's "
                                 "keypoints (and the sparse guide of dense matching and transfer): larger finds "
                                 "smaller regions of large photos, more precisely, for more time and memory")
    dense_min_side: int = Field(16, ge=8, description="images smaller than this: 422")
    max_queries: int = Field(16384, gt=0, description="cells of image a searched for dense correspondences (coarse to "
                             "fine on large maps: a quarter of them as 2 x 2 blocks)")
    sparse_keypoints: int = Field(2000, ge=16, le=20000, description="DoG keypoints per image for method=sparse")
    sparse_first_octave: float = Field(-1, ge=-1, le=0, description="the DoG pyramid's first octave for method=sparse: "
                                                "-1 starts from the image doubled, as SIFT does; 0 from the image "
                                                "itself: a quarter of the detector's work, no finest keypoints")
    sparse_side_views: bool = Field(True, description="where image a as sent matches no geometry asked for with "
                                    "method=sparse (or fits no guide for keypoint transfer and the dense search), "
                                    "match its copies seen from the side too (squeezed twice across in four "
                                    "directions, as ASIFT simulates views) and answer with the one that verifies it "
                                    "(`seen_from_side`)")
    sparse_blur: float = Field(1.5, ge=0, le=8, description="least blur of each method=sparse patch, a Gaussian's "
                               "sigma in its own pixels (of 64): makes a point's views alike across scales; 0: none")
    max_keypoints: int = Field(4096, gt=0, description="points in one transfer or classify request")
    max_matches: int = Field(10000, gt=0, description="the most correspondences one answer may return")
    cycle_tolerance_px: float = Field(8.0, gt=0, description="a transferred point is `consistent` when its round "
                                      "trip ends this close to where it started")
    ransac_threshold_px: float = Field(4.0, gt=0, description="RANSAC's inlier distance")
    min_exemplars: int = Field(2, ge=1, description="exemplars a keypoint model needs at least")
    max_exemplars: int = Field(64, ge=1, description="exemplars a keypoint model may have")
    max_keypoint_names: int = Field(128, ge=1, description="named keypoints a keypoint model may have (a face's "
                                    "landmarks in the iBUG scheme are 68)")
    max_exemplar_keypoints: int = Field(4096, ge=1, description="exemplars times keypoint names in one keypoint "
                                        "model: its training's work grows with both (one SVM a name, negatives "
                                        "drawn from every exemplar)")
    max_keypoint_models: int = Field(256, ge=1, description="models kept in process (the embedded store)")
    redis_url: SecretStr | None = Field(None, description="unset: the in-process cache and store (a secret: "
                                        "never printed, it may hold a password)")
    cache_ttl_s: int = Field(3600, gt=0, description="how long the cache keeps an image's features "
                             "(and its kept bytes), in Redis and in process")
    cache_max_bytes: int = Field(512 * 1024 * 1024, gt=0, description="in-process cache size")
    keep_images: bool = Field(True, description="keep each image /v1/images receives in the cache beside its "
                              "features, so a request by id answers as one with the bytes (pre-aligned copies, "
                              "pictures); false: features only, and what needs pixels is left out with a warning")
    redis_timeout_s: float = Field(0.25, gt=0, description="socket timeouts of every Redis call")
    redis_retry_s: float = Field(1.0, ge=0, description="after a Redis failure, how long it is left alone")
    local_cache_bytes: int = Field(256 * 1024 * 1024, ge=0, description="in-process tier in front of Redis")
    matching_workers: int = Field(0, ge=0, description="concurrent matching jobs; 0: one per CPU core")
    matching_queue: int = Field(64, gt=0, description="matching jobs waiting for a worker before new ones are "
                                "refused (503)")
    matching_wait_s: float = Field(30.0, gt=0, description="how long a matching job may wait for a worker: then 503")

    # access
    api_keys: str | None = Field(None, description="comma-separated API keys; unset (and no file): open")
    api_keys_file: Path | None = Field(None, description="a file of API keys, one a line (# comments)")
    admin_api_keys: str | None = Field(None, description="comma-separated keys that also see every key's "
                                       "keypoint models")
    rate_limit_per_minute: int = Field(0, ge=0, description="per valid API key, else per client address; "
                                       "shared by replicas through REDIS_URL; 0: unlimited")
    auth_failures_per_minute: int = Field(30, ge=1, description="failed authentications per client address "
                                          "before 429")
    metrics_public: bool = Field(True, description="false: /metrics needs an API key too")

    # inference worker
    max_batch: int = Field(256, gt=0, description="items merged into one forward pass (a pair scored over N views "
                           "counts N times)")
    dense_batch_pixels: int = Field(0, ge=0, description="images merged into one dense forward pass hold at most "
                                    "this many pixels together (one image always goes); 0: none are merged, so an "
                                    "image's map does not depend on what else is being computed (merged, it can "
                                    "differ in its last bits, and its answers by a match or two)")
    max_wait_ms: float = Field(2.0, ge=0, description="how long a batch waits for company")
    max_queue: int = Field(8192, gt=0, description="items waiting before new work is refused (503)")
    inference_timeout_s: float = Field(30.0, gt=0, description="a request's inference deadline: then 504")

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, url: SecretStr | None) -> SecretStr | None:
        """A malformed REDIS_URL stops the service at start-up instead of failing every request."""
        if url is not None and url.get_secret_value():
            check_url(url.get_secret_value())
            return url
        return None

    @property
    def redis(self) -> str | None:
        """REDIS_URL in the clear, for the code that connects."""
        return self.redis_url.get_secret_value() if self.redis_url else None

    @field_validator("api_keys_file")
    @classmethod
    def _keys_file(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"API_KEYS_FILE {path} is not a readable file")
        return path

    @model_validator(mode="after")
    def _consistent(self) -> Settings:
        if self.max_image_bytes > self.max_body_bytes:
            raise ValueError("MAX_IMAGE_BYTES cannot exceed MAX_BODY_BYTES")
        if self.min_exemplars > self.max_exemplars:
            raise ValueError("MIN_EXEMPLARS cannot exceed MAX_EXEMPLARS")
        if self.min_patch_side > self.max_patch_side:
            raise ValueError("MIN_PATCH_SIDE cannot exceed MAX_PATCH_SIDE")
        return self
