"""Injected dependencies: route signatures read as lists of what they need; tests override them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from service.cache import FeatureCache
from service.config import Settings
from service.correspond import Context
from service.errors import NotReady
from service.model_store import MemoryStore
from service.registry import Registry
from service.threads import carried


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> Registry:
    reg = getattr(request.app.state, "registry", None)
    if reg is None:
        raise NotReady("models are still loading")
    return reg


def get_cache(request: Request) -> FeatureCache:
    return request.app.state.cache


def get_model_store(request: Request) -> MemoryStore:
    return request.app.state.model_store


@dataclass(frozen=True)
class Caller:
    """Who is asking: ``owner`` names the API key's namespace ("" with keys off), and an admin
    key sees every key's keypoint models."""
    owner: str = ""
    admin: bool = False

    def may_see(self, info: dict) -> bool:
        return self.admin or info.get("owner", "") == self.owner


def get_caller(request: Request) -> Caller:
    state = request.scope.get("state") or {}
    return Caller(state.get("owner", ""), state.get("admin", False))


def get_context(request: Request, registry: Annotated[Registry, Depends(get_registry)],
                caller: Annotated[Caller, Depends(get_caller)]) -> Context:
    """Settings, models, cache, the matching pool and the caller's namespace, for the routes
    that compute features."""
    state = request.app.state
    pool = state.match_pool

    async def on_pool(fn, *args):  # in a copy of the request's context: its log lines keep the request id
        return await pool.run(carried(fn), *args)
    return Context(state.settings, registry, state.cache, on_pool, caller.owner, state.first_tries)


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CacheDep = Annotated[FeatureCache, Depends(get_cache)]
StoreDep = Annotated[MemoryStore, Depends(get_model_store)]
ContextDep = Annotated[Context, Depends(get_context)]
CallerDep = Annotated[Caller, Depends(get_caller)]
