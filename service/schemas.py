"""Request and response bodies of the v1 API (pydantic). Limits that depend on Settings (batch
caps, image sizes) are checked in the handlers, so the schema stays static."""
from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from service.names import IMAGE_ID, KEYPOINT_NAME, MODEL_NAME

ModelName = Annotated[str, StringConstraints(pattern=MODEL_NAME)]
B64Image = Annotated[str, StringConstraints(min_length=1), Field(description="base64-encoded image file")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PatchPair(Strict):
    a: B64Image
    b: B64Image


class SimilarityRequest(Strict):
    model: ModelName | None = Field(None, description="default: the best scorer (2ch-2stream-views8-sift)")
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
    io_binding: bool = Field(False, description="inputs and outputs bound through ONNX Runtime's IO binding")
    architecture: str | None = None
    inputs: dict[str, list[int | str]]
    outputs: dict[str, list[int | str]]
    descriptor_dim: int | None = None
    views: int = Field(1, description="forward passes per pair: a patch network scoring each pair as the mean "
                       "over this many of its rotations and flips")
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
    request_id: str | None = Field(None, description="the request's id, as in the X-Request-ID header: quote it "
                                   "when reporting a failure")


class ImageInfo(BaseModel):
    image_id: str = Field(description="sha256 of the image bytes; use it as image_a_id / image_b_id")
    width: int
    height: int
    cached: bool = Field(description="the features were already in the cache")
    expires_in_s: int = Field(description="the id answers for this long from now (CACHE_TTL_S; sooner where the "
                                          "cache must make room): POST the image again to renew it")
    model: str = Field(description="the first of ``models``")
    models: dict[str, str] = Field(default_factory=dict, description="method -> the network whose features were "
                                   "cached under this id (sparse_second_try: the descriptor that answers where the "
                                   "first one's answer is in doubt, SPARSE_FAST_MODEL)")


class HeldImage(BaseModel):
    image_id: str
    networks: list[str] = Field(description="the served networks whose features of the image are cached for you")
    bytes_kept: bool = Field(description="the image's own bytes are kept (KEEP_IMAGES): requests by the id answer "
                                         "as with the bytes, the features computed again where they expired")
    expires_in_s: int = Field(description="the id answers for this long from now (what is held longest; sooner "
                                          "where the cache must make room): POST the image again to renew it")


def pixels(image: str, axis: str) -> str:
    """The description of a coordinate: where a position lies in an image as sent."""
    return (f"{axis} in pixels of image {image} as sent (after its EXIF orientation), x to the right and y down; "
            "pixel centres lie at whole coordinates, (0, 0) the centre of the top-left pixel (OpenCV's convention)")


class Match(BaseModel):
    xa: float = Field(description=pixels("a", "x"))
    ya: float = Field(description=pixels("a", "y"))
    xb: float = Field(description=pixels("b", "x"))
    yb: float = Field(description=pixels("b", "y"))
    score: float = Field(description="cosine similarity of the two features, in [-1, 1]")
    ratio: float | None = Field(None, description="method=sparse: Lowe's ratio, the descriptor distance to this "
                                "match over that to image b's second-nearest feature (lower: more distinctive)")
    confidence: float | None = Field(None, description="the share of matches like this one (its score and, with a "
                                     "geometry asked for, whether it verified and this match is an inlier) that lay "
                                     "within 3 px of the truth on the validation pairs (docs/RESULTS.md); without "
                                     "a geometry, as if both images showed one scene, unless their matches fit "
                                     "none (one_scene false): then as for a geometry that failed to verify")


class Prealigned(BaseModel):
    scale: float = Field(description="image b's scale relative to image a's, as the sparse matches agree")
    rotation_deg: float = Field(description="image b's rotation relative to image a's, degrees")


class SideView(BaseModel):
    tilt: float = Field(description="image a's copy was squeezed this many times across (2: a plane seen 60 "
                                    "degrees from straight on)")
    direction_deg: float = Field(description="the direction it was squeezed along, degrees from a's x axis")


class CorrespondencesResponse(BaseModel):
    model: str = Field(description="the network whose features were matched: for method=sparse without a model "
                       "named, the fast descriptor (SPARSE_FAST_MODEL) or, where its answer was in doubt (the "
                       "geometry asked for not verified, verified on few inliers, a homography over a narrow "
                       "part of image a, or with geometry=auto a fundamental matrix), the default descriptor, which "
                       "answered again")
    method: Literal["dense", "sparse"] = Field(description="the method that ran")
    matches: list[Match]
    geometry: Literal["homography", "fundamental"] | None = Field(
        None, description="the geometry that verified the matches (with geometry=auto, the one that fitted best); "
                          "absent when none was asked for or none verified them")
    homography: list[list[float]] | None = None
    fundamental: list[list[float]] | None = None
    inliers: list[bool] | None = Field(None, description="per match, when geometry was asked for: RANSAC's "
                                       "inliers and, for a sparse homography, the keypoint pairs it explains "
                                       "besides (within the RANSAC threshold, keypoints agreeing)")
    coverage: float | None = Field(None, description="with a verified geometry: the share of image a's area inside "
                                   "the convex hull of the inliers RANSAC fitted it to (all of them, before "
                                   "max_matches; not the keypoint pairs a sparse homography explains besides); a "
                                   "homography whose inliers span under a tenth of image a is extrapolated over the "
                                   "rest, and the warnings say so")
    explained: list[bool] | None = Field(None, description="without a geometry asked for, where one_scene: per "
                                         "match, whether the homography or fundamental matrix RANSAC found among the "
                                         "matches (the one that explains more of them), or one found among the rest "
                                         "(a second motion's), explains it. Those none explains read a lower "
                                         "confidence: on the validation pairs few were right (look-alikes, a repeated "
                                         "pattern a period off)")
    one_scene: bool | None = Field(None, description="without a geometry asked for: whether RANSAC finds a homography "
                                   "or a fundamental matrix among the matches, as two images of one scene give; "
                                   "false: the images may not show one scene, and confidence is that of matches "
                                   "whose geometry failed to verify (absent when a geometry was asked for)")
    warnings: list[str] = Field(default_factory=list, description="what the answer cannot vouch for, e.g. that no "
                                                                  "geometry verified the matches")
    prealigned: Prealigned | None = Field(None, description="dense: b was brought onto a first (turned and scaled, "
                                          "or, where it is a part of a or a of it, shifted) and searched there")
    seen_from_side: SideView | None = Field(None, description="sparse: image a as sent matched no geometry asked "
                                            "for, and these matches were found in a copy of it as a camera to its "
                                            "side would see it (SPARSE_SIDE_VIEWS); their positions are a's as sent. "
                                            "dense: the sparse geometry that pre-aligned and checked them was "
                                            "found so")
    timing_ms: dict[str, float] = Field(description="milliseconds by step (e.g. features, matching, geometry, total); "
                                        "first_try: what the fast descriptor's first answer took, where the "
                                        "default descriptor answered again")


class TransferredPoint(BaseModel):
    x: float = Field(description=pixels("b", "x"))
    y: float = Field(description=pixels("b", "y"))
    score: float = Field(description="cosine similarity of the point's features in a and where it landed in b, "
                                     "in [-1, 1]")
    consistent: bool = Field(description="the point maps back to where it came from (cycle consistency; with a "
                                         "homography guiding, the round trip goes through it)")
    cycle_error: float = Field(description="pixels in image a between the point and its round trip")
    confidence: float | None = Field(None, description="the share of points with this score and consistency that "
                                                       "landed within 3 px of the truth on the validation pairs "
                                                       "(with method=align, of points carried along its fields "
                                                       "whose round trip missed by as much); "
                                                       "absent when no geometry guided the search (with "
                                                       "method=align: when one_scene is false)")
    in_view: bool | None = Field(None, description="with a homography guiding, or method=align: whether it (the "
                                                   "alignment's field) puts the point inside image b (if not, the "
                                                   "position is held at b's border)")
    by_plane: bool | None = Field(None, description="with a fundamental matrix guiding (geometry=auto) and a "
                                                    "homography of the pair holding too: whether the point went "
                                                    "where the homography puts it (it looked at least as alike "
                                                    "there as anywhere on its epipolar line)")
    second_motion: bool | None = Field(None, description="with geometry=auto, a homography guiding and the sparse "
                                                         "matches it misses agreeing on a geometry of their own (a "
                                                         "thing that moved otherwise): whether the point followed "
                                                         "that one, its neighbourhood's matches being more its than "
                                                         "the homography's; absent where none was found")
    local_warp: bool | None = Field(None, description="with geometry=auto and a homography guiding whose inliers "
                                                      "span under a tenth of image a (two lenses' projections of "
                                                      "one view, say): whether the point went where an affine map "
                                                      "of the sparse matches around it puts it, they being mostly "
                                                      "not the homography's (its support is then the share of its "
                                                      "16 nearest matches that map kept); absent otherwise")
    support: float | None = Field(None, description="where the pair's sparse matches guided it: the share of the "
                                                   "8 matches nearest the point in image a that the geometry "
                                                   "which placed it explains. Under 0.5 the point sits among "
                                                   "matches that follow something else (another surface, a "
                                                   "second motion) or look-alikes: on the validation pairs such "
                                                   "points put by a homography were right half as often (a "
                                                   "fundamental matrix explains nearly every match: its epipolar "
                                                   "finds read high either way). With method=align: the share "
                                                   "the alignment's field puts within RANSAC's threshold of "
                                                   "where they lie in b; under 0.5 the field may have locked "
                                                   "onto look-alikes (a repeated pattern one period off), and "
                                                   "the confidence says so")


class TransferResponse(BaseModel):
    model: str
    guidance: str = Field("none", description="the geometry that guided the search: homography (each point inside "
                                              "b goes where it puts it), fundamental (searched along the epipolar "
                                              "line; with geometry=auto, a point goes where a homography of the "
                                              "pair puts it instead when it looks at least as alike there) or none; "
                                              "align with method=align")
    keypoints: list[TransferredPoint]
    warnings: list[str] = Field(default_factory=list, description="what the answer cannot vouch for, e.g. that no "
                                                                  "geometry guided the search")
    prealigned: Prealigned | None = Field(None, description="b was turned and scaled to meet a before the search")
    coverage: float | None = Field(None, description="where a homography of the sparse matches guided: the share of "
                                   "image a's area inside the convex hull of its inliers (under a tenth: it is "
                                   "extrapolated over the rest, the warnings say so, and the points far from its "
                                   "inliers read a confidence of their own)")
    one_scene: bool | None = Field(None, description="with method=align: whether the images' sparse matches fit a "
                                                     "homography or a fundamental matrix (false: the images may not "
                                                     "show one scene, and the points carry no confidence); absent "
                                                     "for an image id whose sparse features are no longer cached")
    seen_from_side: SideView | None = Field(
        None, description="the sparse geometry that guided the search was found in a copy of image a as a "
                          "camera to its side would see it, as a as sent matched none (SPARSE_SIDE_VIEWS)")
    timing_ms: dict[str, float] = Field(description="milliseconds by step: features (both images' dense maps), "
                                    "guide (the sparse matches, their geometry, pre-aligned copies), search (the "
                                    "points found; with method=align: alignment), total")


class Grid(BaseModel):
    width: int
    height: int
    step_x: float = Field(description="a's pixels between cells: cell (i, j) lies at a's pixel (j*step_x, i*step_y)")
    step_y: float


class NpyArray(BaseModel):
    encoding: Literal["npy+base64"] = "npy+base64"
    dtype: str
    shape: list[int]
    data: str = Field(description="a NumPy .npy file, base64-encoded (numpy.load(io.BytesIO(b64decode(data))))")


class AlignResponse(BaseModel):
    model: str
    grid: Grid
    flow: NpyArray = Field(description="(height, width, 2) float32 per cell of a: (x_b - x_a, y_b - y_a) in pixels, "
                                       "where (x_b, y_b) is the point's position in image b")
    energy: dict[str, float] = Field(description="the MRF's data, smoothness and displacement terms and their total")
    levels: int = Field(description="pyramid levels solved, coarse to fine")
    params: dict[str, float]
    warped_png: str | None = Field(None, description="with warp=true: image b warped into a's frame, grey PNG, base64")
    prealigned: Prealigned | None = Field(None, description="b was first brought onto a by its sparse matches' "
                                                            "geometry; the MRF solved the rest")
    warnings: list[str] = Field(default_factory=list, description="what the answer could not do (with an "
                                                                  "image id whose bytes are gone, no pre-alignment) "
                                                                  "or vouch for")
    one_scene: bool | None = Field(None, description="whether the images' sparse matches fit a homography or a "
                                                     "fundamental matrix (false: the images may not show one scene; "
                                                     "the field answers all the same); absent for an image id whose "
                                                     "sparse features are no longer cached")
    seen_from_side: SideView | None = Field(
        None, description="the sparse geometry that guided the alignment was found in a copy of image a as a "
                          "camera to its side would see it, as a as sent matched none (SPARSE_SIDE_VIEWS)")
    timing_ms: dict[str, float]


FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
KeypointName = Annotated[str, StringConstraints(pattern=KEYPOINT_NAME)]
ImageIdText = Annotated[str, StringConstraints(pattern=IMAGE_ID), Field(description="an id from /v1/images")]


class ExemplarIn(Strict):
    image: B64Image | None = Field(None, description="the exemplar image (send this or image_id)")
    image_id: ImageIdText | None = None
    keypoints: dict[KeypointName, tuple[FiniteFloat, FiniteFloat]] = Field(
        description="name -> [x, y] in pixels of the image; every exemplar must carry the same names")


class KeypointModelRequest(Strict):
    model: ModelName | None = Field(None, description="the dense feature network (default: ucn)")
    label: str | None = Field(None, max_length=200)
    exemplars: list[ExemplarIn] = Field(min_length=1)


class KeypointModelInfo(BaseModel):
    id: str
    label: str | None = None
    names: list[str]
    exemplars: int
    feature_model: str
    feature_version: str
    created: float = Field(description="seconds since the epoch")
    training: dict[str, dict[str, float]] = Field(description="per keypoint: positives, negatives, hard negatives "
                                                              "mined, share of positives the SVM accepts")


class KeypointModelList(BaseModel):
    models: list[KeypointModelInfo]


class PredictedKeypoint(BaseModel):
    name: str
    x: float
    y: float
    score: float = Field(description="SVM response plus the location prior's (non-positive) term")
    svm: float = Field(description="the SVM response alone; above 0 means the SVM accepts the point, as it "
                       "does nearly every prediction (each is the best cell of the image), right or wrong: no "
                       "check of a prediction (docs/RESULTS.md)")


class PredictResponse(BaseModel):
    id: str
    exemplar: int = Field(description="the exemplar nearest the image by global appearance (the prior's source)")
    keypoints: list[PredictedKeypoint]
    timing_ms: dict[str, float]


class ClassifiedPoint(BaseModel):
    x: float
    y: float
    label: str | None = Field(description="the keypoint whose SVM responds most, when any responds above 0")
    scores: dict[str, float]


class ClassifyResponse(BaseModel):
    id: str
    points: list[ClassifiedPoint]
