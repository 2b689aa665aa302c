"""service.memory: the heaps are trimmed once the service falls idle, never while a request runs."""
from __future__ import annotations

import asyncio
import mmap

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from service import memory
from tests.conftest import eventually


def app_with(gate: asyncio.Event, keep: int = memory.KEEP,
             heap: memory.Heap | None = None) -> tuple[Starlette, memory.TrimWhenIdle]:
    async def slow(_request) -> PlainTextResponse:
        await gate.wait()
        return PlainTextResponse("ok")

    inner = Starlette(routes=[Route("/slow", slow)])
    return inner, memory.TrimWhenIdle(inner, idle_s=0.05, keep=keep, heap=heap)


async def judged(mw: memory.TrimWhenIdle, checks: int) -> int:
    """mw.trims once the middleware has judged its ``checks``-th idle moment (a trim runs in a
    thread and takes as long as the heap is large: waited for, not guessed)."""
    assert await eventually(lambda: mw.checks >= checks, 20), f"{checks} idle moments expected, {mw.checks} judged"
    return mw.trims


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
            return during, right_after, await judged(mw, 1)
    during, right_after, later = asyncio.run(scenario())
    assert (during, right_after, later) == (0, 0, 1)


@pytest.mark.parametrize("settled", [False, True])
def test_an_idle_service_keeps_what_ordinary_requests_leave_and_gives_back_a_larger_growth(settled):
    import numpy as np
    held = []
    heap = memory.Heap()
    if settled:  # start-up settled the heap (service.main, once the models are loaded)
        heap.settle()

    async def scenario() -> list[int]:
        gate = asyncio.Event()
        gate.set()
        _, mw = app_with(gate, keep=64 << 20, heap=heap)
        counts = []
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=mw), base_url="http://t") as c:
            for grow in (0, 0, 16, 128):  # MiB made resident (and kept) before each request
                if grow:
                    held.append(np.ones(grow << 20, np.uint8))
                assert (await c.get("/slow")).status_code == 200
                counts.append(await judged(mw, len(counts) + 1))
        return counts
    # the first idle moment trims unless start-up settled the heap; then nothing until the process holds
    # over 64 MiB more than after it
    assert asyncio.run(scenario()) == ([0, 0, 0, 1] if settled else [1, 1, 1, 2])


def test_resident_reads_this_process():
    # pages of a new anonymous mapping, so none can be heap the process held already (once the
    # allocator's thresholds are raised, a numpy array may reuse freed, still resident memory)
    block, ones = mmap.mmap(-1, 64 << 20), b"\1" * (64 << 20)
    before = memory.resident()
    block.write(ones)
    assert memory.resident() - before > 48 << 20
    block.close()


def test_trim_calls_the_allocator():
    assert memory.trim() in (True, False)
    assert memory._malloc_trim is not None  # glibc: the images this service ships on



RETENTION = """
import ctypes, os, sys, threading
from service import memory
mode, where = sys.argv[1:]
if mode == "service":
    memory.tune_heaps()
else:  # the mmap threshold alone: it also fixes the trim threshold at glibc's 128 KiB
    memory._libc.mallopt(-3, memory.MMAP_THRESHOLD)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
statm = os.open("/proc/self/statm", os.O_RDONLY)
rss = lambda: int(os.pread(statm, 64, 0).split()[1]) * 4096 >> 20  # nothing from the heap in between
out = [0, 0]

def work():
    blocks = [libc.malloc(1 << 20) for _ in range(64)]  # a pyramid's worth, under the mmap threshold
    for b in blocks:
        ctypes.memset(b, 1, 1 << 20)
    held = rss()
    for b in reversed(blocks):
        libc.free(b)
    out[0], out[1] = held - rss(), held

if where == "thread":  # as a request's worker thread allocates
    t = threading.Thread(target=work)
    t.start()
    t.join()
else:
    work()
memory.trim()
print(out[0], out[1] - rss())
"""


def retained(mode: str, where: str) -> tuple[int, int]:
    """(MiB the process gave back when 64 MiB of 1 MiB blocks were freed, and after the idle trim)."""
    import subprocess
    import sys
    from pathlib import Path
    out = subprocess.run([sys.executable, "-c", RETENTION, mode, where], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout.split()
    return int(out[0]), int(out[1])


@pytest.mark.parametrize("where", ["main", "thread"])
def test_freed_heap_memory_stays_for_the_next_request_until_the_idle_trim(where):
    at_free, after_trim = retained("service", where)
    assert at_free < 8 and after_trim > 48  # kept while requests run, given back when idle


def test_glibcs_own_trim_threshold_gives_it_back_at_once():
    at_free, _ = retained("mmap threshold only", "main")
    assert at_free > 48  # what the service's trim threshold stops: faulted in again by the next image


def test_start_up_settles_the_heap_so_the_first_idle_keeps_the_warm_ups_buffers():
    from tests.conftest import make_client
    with make_client() as c:
        settled = c.app.state.heap.settled
        assert settled is not None and settled > 0  # before any request: set at start-up
        assert c.get("/healthz").status_code == 200
    assert memory.Heap().settled is None  # a heap nobody settled: its first idle moment trims
