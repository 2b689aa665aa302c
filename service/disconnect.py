"""Cancel a request's handler when its client goes away, so its queued inference is dropped
(the worker skips cancelled jobs) instead of being computed for nobody.

Once the request body has been read in full, the only message ASGI can still deliver is
``http.disconnect``; a watcher waits for it and cancels the handler if it is still running.
"""
from __future__ import annotations

import asyncio
import contextlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class CancelOnDisconnect:
    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body_read = asyncio.Event()
        gone = False

        async def tracked() -> Message:
            msg = await receive()
            if msg["type"] == "http.request" and not msg.get("more_body", False):
                body_read.set()
            return msg

        handler = asyncio.ensure_future(self.app(scope, tracked, send))

        async def watch() -> None:
            nonlocal gone
            await body_read.wait()
            msg = await receive()
            if msg["type"] == "http.disconnect" and not handler.done():
                gone = True
                handler.cancel()

        watcher = asyncio.ensure_future(watch())
        try:
            await handler
        except asyncio.CancelledError:
            if not gone:
                raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
