"""ASGI middleware that refuses oversized bodies before anything parses them: a declared
Content-Length over the limit gets 413 at once, a malformed one 400; a body without one
(chunked) is read here, at most up to the limit, and cut off with 413 there."""
from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import error_response


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
        if lengths or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            return await self.app(scope, receive, send)
        # no Content-Length (chunked): read up to the limit here, since a frame raised while the
        # framework reads the body would come back as its generic 400
        chunks, seen, more = [], 0, True
        while more:
            msg = await receive()
            if msg["type"] != "http.request":
                return  # the client went away
            chunks.append(msg.get("body", b""))
            seen += len(chunks[-1])
            more = msg.get("more_body", False)
            if seen > self.max_bytes:
                return await error_response(413, "too_large", f"body is larger than {self.max_bytes} bytes")(
                    scope, receive, send)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
