"""POST /v1/patches/similarity and /v1/patches/descriptors."""
from __future__ import annotations

from fastapi import APIRouter

from service import patches
from service.deps import RegistryDep, SettingsDep
from service.schemas import DescriptorsRequest, DescriptorsResponse, ErrorBody, SimilarityRequest, SimilarityResponse

ERRORS = {s: {"model": ErrorBody} for s in (400, 404, 413, 415, 422, 503, 504)}
router = APIRouter(prefix="/v1/patches", tags=["patches"], responses=ERRORS)


@router.post("/similarity", response_model=SimilarityResponse)
async def similarity(body: SimilarityRequest, settings: SettingsDep, registry: RegistryDep) -> SimilarityResponse:
    """Match scores of patch pairs (grey 64x64; other sizes are converted)."""
    patches.check_count(len(body.pairs), settings.max_pairs, "pairs")
    model = registry.get(body.model or settings.default_patch_model, ("patch", "descriptor"))
    scores = await patches.similarity(model, [(p.a, p.b) for p in body.pairs], settings)
    return SimilarityResponse(model=model.name, scores=scores.tolist())


@router.post("/descriptors", response_model=DescriptorsResponse)
async def descriptors(body: DescriptorsRequest, settings: SettingsDep, registry: RegistryDep) -> DescriptorsResponse:
    """One descriptor per patch, from a siamese network's descriptor part."""
    patches.check_count(len(body.patches), settings.max_patches, "patches")
    model = registry.get(body.model or settings.default_descriptor_model, ("descriptor",))
    desc = await patches.describe(model, body.patches, settings)
    return DescriptorsResponse(model=model.name, dim=desc.shape[1], metric=model.entry.metric or "l2",
                               descriptors=desc.tolist())
