"""How many threads numpy's BLAS and OpenCV's parallel loops may use. OpenBLAS's idle threads spin
for a while after every matrix product before they sleep; in a service whose requests also run
OpenCV's detector and ONNX Runtime's pools on the same cores, that spinning takes a core from the
next request. With one thread, cold sparse correspondences on two cores took 113-176 ms against
154-204 ms in the same runs (``python -m eval.latency`` measures both), and warm dense matching
stayed within noise. OpenCV's loops share one pool, so a cold pair's two detectors, run at once,
wait on each other there; on one thread each they run side by side (``eval.latency``'s load table:
from level to 51 % more new pairs a second from 8 callers on two cores, 6-12 % in most runs)."""
from __future__ import annotations

import contextvars
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import TypeVar

import cv2
from threadpoolctl import threadpool_info, threadpool_limits

T = TypeVar("T")
BLOCKS = ThreadPoolExecutor(os.cpu_count() or 1, "blocks")  # see ``by_blocks``


def limit_blas(n: int) -> None:
    """At most ``n`` threads for every BLAS library numpy loaded; 0 leaves them as they are."""
    if n > 0:
        threadpool_limits(limits=n, user_api="blas")


def blas_threads() -> list[int]:
    """The thread counts of the BLAS libraries loaded in this process."""
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def limit_opencv(n: int) -> None:
    """At most ``n`` threads for OpenCV's parallel loops, process-wide; 0 leaves them as they are."""
    if n > 0:
        cv2.setNumThreads(n)


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn``, to be run on another thread in a copy of the caller's context as it is now, so what
    it logs names the caller's request (``request_id``). One copy a run: a context cannot be
    entered by two threads at once."""
    return partial(contextvars.copy_context().run, fn)


def by_blocks(fn: Callable[[slice], T], n: int, block: int) -> list[T]:
    """``fn`` of each block of ``block`` rows of ``n``, in order, on a pool of one thread a core
    (each in the caller's context: ``carried``): work whose rows are independent (each match's
    local fit, each block of similarities) keeps every core busy for a lone request, and comes out
    the same to the bit (numpy lets go of the GIL in its loops). Not for a ``fn`` that calls
    ``by_blocks`` itself: its blocks would wait for threads their caller holds."""
    if n <= block:
        return [fn(slice(0, n))]
    runs = [BLOCKS.submit(carried(fn), slice(s, min(s + block, n))) for s in range(0, n, block)]
    return [run.result() for run in runs]
