"""A request id on every answer and every log line written while a request is served.

The id is the caller's ``X-Request-ID`` when it is a short token (``GIVEN``: letters, digits and
``._:-``, at most 128 characters; a tracing proxy's id, say), else one made here (32 hex digits).
Every response carries it in ``X-Request-ID`` and every error body in ``request_id``; every log
record has it as ``request_id`` ("-" outside a request; ``service.logs``), so an operator finds a
caller's failure in the logs by the id the caller saw.
Work handed to threads (``starlette``'s thread pool, ``Context.on_pool``, ``threads.by_blocks``)
keeps it: they run in a copy of the request's context.
"""
from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = "X-Request-ID"
GIVEN = re.compile(r"[A-Za-z0-9._:-]{1,128}")
CURRENT: ContextVar[str] = ContextVar("request_id", default="-")


def current() -> str | None:
    """The id of the request being served, or None outside one."""
    rid = CURRENT.get()
    return None if rid == "-" else rid


class RequestId:
    """ASGI middleware, the outermost: sets the id for the request's context and stamps it on the
    response's headers, whatever answered (a route, a middleware's refusal, the 500 envelope)."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = Headers(scope=scope).get(HEADER, "")
        rid = given if GIVEN.fullmatch(given) else uuid.uuid4().hex
        token = CURRENT.set(rid)
        try:
            await self.app(scope, receive, with_headers(send, {HEADER: rid}))
        finally:
            CURRENT.reset(token)


def with_headers(send: Send, headers: dict[str, str]) -> Send:
    """``send`` with ``headers`` set on the response's start, whoever answers (a middleware
    stamping every answer: the request id here, the rate limit's quota in ``service.auth``)."""
    async def stamped(message: Message) -> None:
        if message["type"] == "http.response.start":
            MutableHeaders(scope=message).update(headers)
        await send(message)
    return stamped
