"""ASGI middleware that refuses oversized bodies before anything parses them: a declared
Content-Length over the limit gets 413 at once, a malformed one 400; a body without one
(chunked) is counted as it streams and cut off with 413 at the limit."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import TooLarge, error_response


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        lengths = [v for k, v in scope["headers"] if k == b"content-length"]
        if lengths:
            value = lengths[0].strip()
            if len(lengths) > 1 or not value.isdigit():
                return await error_response(400, "bad_content_length", "malformed Content-Length")(scope, receive, send)
            if int(value) > self.max_bytes:
                return await error_response(413, "too_large", f"body is larger than {self.max_bytes} bytes")(
                    scope, receive, send)
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_bytes:
                    raise TooLarge(f"body is larger than {self.max_bytes} bytes")
            return msg

        await self.app(scope, counted, send)
