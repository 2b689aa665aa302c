"""Give memory back to the system when the service falls idle, instead of on every free.

glibc raises its mmap threshold after each large free, up to 32 MiB, so a burst of large requests
(images that decode to hundreds of megabytes, batches of a thousand patch pairs) leaves its buffers
in the heaps and the process keeps them. These measures bound that without making work slower:
buffers of ``MMAP_THRESHOLD`` or more (decoded images) are always mapped, so they go back the moment
they are freed; smaller ones (SIFT's pyramid, activations) are reused from the heap while requests
run (returning those at once, with a 1 MiB threshold, made sparse features 20-30 % slower), up to
``TRIM_THRESHOLD`` of free memory at its top (glibc's 128 KiB, which fixing the mmap threshold also
fixes, gave SIFT's pyramid of some 40 MB back after every image, to be faulted in again by the next:
cold sparse correspondences took 15-20 % longer), and ``malloc_trim`` hands the free pages back once
no request has run for ``IDLE_S`` and the process holds more than ``keep`` bytes beyond what it held
after its last trim (MEMORY_KEEP_MB). The trim gives back the free pages inside the heap as well as
at its top, and the next request faults in again every page it touches: trimmed after every quiet
quarter-second, a cold 640x480 sparse pair sent a second after the last answer took 7-26 % longer
(25-75 ms) than one sent right after another. What an ordinary request leaves free (up to some
140 MB for such a pair) is kept for the next; a burst of large images or patch batches, which
leaves more, is given back. At start-up the heaps are trimmed once the models are loaded, and the
idle trim measures growth from there (``Heap.settle``), so what the warm-up grows (about 100 MB) is
kept the same way: trimmed at the first idle moment, it had to be faulted in again by the first
requests (a fresh server's first cold pair 406 ms against 351, medians of 8 starts). Every thread
allocates from the one main heap: ``malloc_trim`` cannot shrink the top of the per-thread heaps
glibc otherwise makes, so they would keep up to ``TRIM_THRESHOLD`` each for good.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
from dataclasses import dataclass

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

IDLE_S = 0.25  # quiet time before the free pages go back
MMAP_THRESHOLD = 8 << 20
TRIM_THRESHOLD = 128 << 20
KEEP = 256 << 20  # resident bytes beyond the last trim's an idle service keeps for the next requests

try:
    _libc = ctypes.CDLL("libc.so.6")
    _malloc_trim = _libc.malloc_trim
except (OSError, AttributeError):  # not glibc: its own allocator decides
    _libc = _malloc_trim = None


def tune_heaps(size: int = MMAP_THRESHOLD, keep: int = TRIM_THRESHOLD) -> None:
    """Map every buffer of ``size`` bytes or more on its own, whatever was freed before; keep up
    to ``keep`` bytes free at the top of the heap until the idle trim; one heap for every thread
    started from now on. Before any worker thread starts, so that none has a heap of its own."""
    if _libc is not None:
        _libc.mallopt(-3, size)  # M_MMAP_THRESHOLD
        _libc.mallopt(-1, keep)  # M_TRIM_THRESHOLD
        _libc.mallopt(-8, 1)  # M_ARENA_MAX


def resident() -> int:
    """Bytes of this process's memory now resident (0 where /proc cannot say)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def trim() -> bool:
    """Return the heaps' free pages to the system; False where the allocator has no such call."""
    return bool(_malloc_trim is not None and _malloc_trim(0))


@dataclass
class Heap:
    """What the idle trim measures growth from: the resident bytes after the last trim (the idle
    trim's or ``settle``'s); None until one (then the first idle moment trims)."""
    settled: int | None = None

    def settle(self) -> None:
        """Trim the heaps now and measure growth from what is left (at start-up, once the models
        are loaded: what the warm-up then grows stays for the first requests, within ``keep``)."""
        trim()
        self.settled = resident()


class TrimWhenIdle:
    """ASGI middleware: counts requests in flight and, ``idle_s`` after the last, trims the heaps
    when the process holds more than ``keep`` bytes beyond ``heap.settled`` (with nothing settled
    the first idle moment trims)."""

    def __init__(self, app: ASGIApp, idle_s: float = IDLE_S, keep: int = KEEP, heap: Heap | None = None):
        self.app, self.idle_s, self.keep = app, idle_s, keep
        self.heap = heap or Heap()
        self.running = 0
        self._timer: asyncio.TimerHandle | None = None
        self.trims = 0  # idle moments that trimmed
        self.checks = 0  # idle moments judged, trimmed or not

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        self.running += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        try:
            await self.app(scope, receive, send)
        finally:
            self.running -= 1
            if self.running == 0:
                self._timer = asyncio.get_running_loop().call_later(self.idle_s, self._start_trim)

    def _start_trim(self) -> None:
        self._timer = None
        if self.running == 0:
            asyncio.ensure_future(self._trim())

    async def _trim(self) -> None:
        try:
            if self.heap.settled is not None and resident() - self.heap.settled <= self.keep:
                return
            await run_in_threadpool(self.heap.settle)
            self.trims += 1
        finally:
            self.checks += 1
