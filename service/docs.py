"""The API's documentation, served by the app itself: Swagger UI from the assets the
``fastapi-offline`` package ships (nothing from a CDN, so it works offline), and an OpenAPI schema
that declares the API-key schemes, so the page's "Authorize" button takes a key and sends it."""
from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

ASSETS = Path(fastapi_offline.__file__).parent / "static"
SCHEMES = {"ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
           "Bearer": {"type": "http", "scheme": "bearer"}}
OPEN = ("/healthz", "/readyz")
ANSWER_HEADERS = {"X-Request-ID": {
    "required": True, "schema": {"type": "string"},
    "description": "the request's id: the caller's own X-Request-ID when it sent a short token (letters, digits, "
                   "._:-, at most 128), else 32 hex digits; error bodies repeat it, log lines end with it"}}
QUOTA_HEADERS = {  # on every counted answer when RATE_LIMIT_PER_MINUTE is set (see service.auth)
    "RateLimit-Limit": {"schema": {"type": "integer"}, "description": "requests a minute for this key or address"},
    "RateLimit-Remaining": {"schema": {"type": "integer"}, "description": "of them, left in this minute's window"},
    "RateLimit-Reset": {"schema": {"type": "integer"}, "description": "seconds until the window ends"}}


def install(app: FastAPI, keys_on: bool, limited: bool = False) -> None:
    """/docs (Swagger UI) and /static/docs (its assets); the schema's security schemes, required
    on every route but health when API keys are on; the headers every answer carries (the request
    id, and where ``limited`` the rate limit's)."""
    app.mount("/static/docs", StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{app.title} - API",
                                   swagger_js_url="/static/docs/swagger-ui-bundle.js",
                                   swagger_css_url="/static/docs/swagger-ui.css",
                                   swagger_favicon_url="/static/docs/favicon.png",
                                   swagger_ui_parameters={"persistAuthorization": True})

    def schema() -> dict:
        if app.openapi_schema is None:
            s = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            s.setdefault("components", {})["securitySchemes"] = SCHEMES
            for path, ops in s.get("paths", {}).items():
                for op in ops.values():
                    if path not in OPEN:
                        op["security"] = [{"ApiKeyHeader": []}, {"Bearer": []}] + ([] if keys_on else [{}])
                    counted = limited and path not in OPEN
                    for answer in op.get("responses", {}).values():
                        answer.setdefault("headers", {}).update(ANSWER_HEADERS | (QUOTA_HEADERS if counted else {}))
            app.openapi_schema = s
        return app.openapi_schema

    app.openapi = schema
