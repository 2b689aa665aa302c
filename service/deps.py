"""Injected dependencies: route signatures read as lists of what they need; tests override them."""
from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.cache import MemoryCache
from service.config import Settings
from service.errors import NotReady
from service.model_store import MemoryStore
from service.registry import Registry


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_registry(request: Request) -> Registry:
    reg = getattr(request.app.state, "registry", None)
    if reg is None:
        raise NotReady("models are still loading")
    return reg


def get_cache(request: Request) -> MemoryCache:
    return request.app.state.cache


def get_model_store(request: Request) -> MemoryStore:
    return request.app.state.model_store


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[Registry, Depends(get_registry)]
CacheDep = Annotated[MemoryCache, Depends(get_cache)]
StoreDep = Annotated[MemoryStore, Depends(get_model_store)]
