"""Liveness, readiness and the model list."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.deps import RegistryDep, SettingsDep
from service.schemas import Health, ModelInfo, ModelsResponse, Readiness

router = APIRouter()


@router.get("/healthz", response_model=Health, tags=["health"])
async def healthz() -> Health:
    """The process answers."""
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, tags=["health"], responses={503: {"model": Readiness}})
async def readyz(request: Request, settings: SettingsDep) -> JSONResponse:
    """200 when the models are loaded and the default ones are among them; 503 otherwise."""
    reg = getattr(request.app.state, "registry", None)
    if reg is None:
        return JSONResponse(Readiness(status="loading", models=0).model_dump(), status_code=503)
    defaults = (settings.default_patch_model, settings.default_descriptor_model, settings.default_dense_model)
    missing = {d: "default model not loaded" for d in defaults if d not in reg.models}
    errors = reg.errors | missing
    ok = bool(reg.models) and not missing
    cache = request.app.state.cache
    # a cache that is down degrades speed, not answers: still ready, but said
    cache_ok = await run_in_threadpool(cache.ping)
    body = Readiness(status=("ready" if cache_ok else "degraded") if ok else "not ready", models=len(reg.models),
                     errors=errors, cache="ok" if cache_ok else "degraded", cache_backend=cache.backend)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/v1/models", response_model=ModelsResponse, tags=["models"])
async def models(registry: RegistryDep, settings: SettingsDep) -> ModelsResponse:
    """The loaded networks with kind, version, sha256 and execution provider."""
    defaults = {settings.default_patch_model: ["similarity"], settings.default_descriptor_model: ["descriptors"]}
    out = []
    for m in sorted(registry.models.values(), key=lambda m: m.name):
        e = m.entry
        out.append(ModelInfo(name=m.name, kind=m.kind, version=e.version, sha256=e.sha256, provider=m.provider,
                             io_binding=m.main.io_binding, architecture=e.architecture, inputs=e.inputs,
                             outputs=e.outputs, descriptor_dim=e.descriptor_dim, views=e.views, metrics=e.metrics,
                             default_for=defaults.get(m.name, [])))
    return ModelsResponse(models=out, errors=registry.errors)
