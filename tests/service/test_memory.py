"""service.memory: the heaps are trimmed once the service falls idle, never while a request runs."""
from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service import memory


def app_with(gate: asyncio.Event) -> tuple[Starlette, memory.TrimWhenIdle]:
    async def slow(_request) -> PlainTextResponse:
        await gate.wait()
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/slow", slow)])
    return inner, memory.TrimWhenIdle(inner, idle_s=0.05)


def test_the_heaps_are_trimmed_after_the_last_request_and_not_during_one():
    async def scenario() -> tuple[int, int, int]:
        gate = asyncio.Event()
        _, mw = app_with(gate)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mw), base_url="http://t") as c:
            first = asyncio.ensure_future(c.get("/slow"))
            second = asyncio.ensure_future(c.get("/slow"))
            await asyncio.sleep(0.2)
            during = mw.trims  # two requests still running: nothing trimmed
            gate.set()
            assert [r.status_code for r in await asyncio.gather(first, second)] == [200, 200]
            right_after = mw.trims
            await asyncio.sleep(0.3)
            return during, right_after, mw.trims
    during, right_after, later = asyncio.run(scenario())
    assert (during, right_after, later) == (0, 0, 1)


def test_trim_calls_the_allocator():
    assert memory.trim() in (True, False)
    assert memory._malloc_trim is not None  # glibc: the images this service ships on
