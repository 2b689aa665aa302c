"""One exception hierarchy for the service's domain errors, mapped to HTTP in one place.

Every error response is ``{"detail": <message or list>, "code": <short name>, "request_id": <id>}``
(the id also in ``X-Request-ID``: ``service.request_id``); exception text from libraries is never
passed through to the client.
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service import request_id

log = logging.getLogger("service")


class ServiceError(Exception):
    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None

    def __init__(self, detail: str):
        super().__init__(detail)
        self.detail = detail


class InvalidInput(ServiceError):
    status, code = 422, "invalid_input"


class BadImage(ServiceError):
    status, code = 400, "corrupt_image"


class UnsupportedImage(ServiceError):
    status, code = 415, "unsupported_media_type"


class TooLarge(ServiceError):
    status, code = 413, "too_large"


class UnknownModel(ServiceError):
    status, code = 404, "unknown_model"


class NotFound(ServiceError):
    status, code = 404, "not_found"


class Overloaded(ServiceError):
    status, code = 503, "overloaded"
    headers = {"Retry-After": "1"}


class InferenceTimeout(ServiceError):
    status, code = 504, "inference_timeout"


class InferenceFailed(ServiceError):
    status, code = 500, "inference_failed"


class NotReady(ServiceError):
    status, code = 503, "not_ready"
    headers = {"Retry-After": "5"}


def error_response(status: int, code: str, detail: object, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code, "request_id": request_id.current()}, status_code=status,
                        headers=headers)


METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def allowed_methods(app: FastAPI, scope: dict) -> list[str]:
    """Every method some route serves at the request's path (asked of the router's own matching)."""
    return [m for m in METHODS
            if any(route.matches(dict(scope, method=m))[0] == Match.FULL for route in app.router.routes)]


def install(app: FastAPI) -> None:
    """Map domain errors, validation errors, HTTP errors and unexpected failures to the envelope."""

    @app.exception_handler(ServiceError)
    async def _service(_: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.detail, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        # loc/msg/type only: echoing the input back could return megabytes of base64
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
                  for e in exc.errors()]
        return error_response(422, "invalid_input", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = getattr(exc, "headers", None)
        if exc.status_code == 405:  # Starlette names only the first route on the path; name them all
            headers = dict(headers or {}, Allow=", ".join(allowed_methods(app, request.scope)))
        return error_response(exc.status_code, "http_error", exc.detail, headers)



class CatchAll:
    """The outermost middleware: an unexpected exception becomes the 500 envelope here and goes
    no further. Starlette's own last-resort handler answers too but then re-raises, and the
    server closes the connection, so a keep-alive client's next request would fail."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)
        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:  # too late for an answer of our own: let the server end it
                raise
            await error_response(500, "internal_error", "internal server error")(scope, receive, send)
