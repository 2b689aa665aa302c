"""The FastAPI application. Run it with ``make run`` or
``uvicorn service.main:create_app --factory``."""
from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool

from service import errors, registry
from service.config import Settings
from service.limits import BodyLimit
from service.routes import health, patches

VERSION = "0.1.0"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.registry = await run_in_threadpool(registry.load, settings)
        try:
            yield
        finally:
            app.state.registry.close()

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = FastAPI(title="Image correspondence service", version=VERSION, lifespan=lifespan)
    app.state.settings = settings
    errors.install(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.include_router(health.router)
    app.include_router(patches.router)
    return app
