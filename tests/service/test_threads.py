"""numpy's BLAS is held to BLAS_THREADS threads by the app, and left alone with 0; OpenCV's
parallel loops likewise by OPENCV_THREADS; blocks of independent rows share the cores."""
import os
import threading
import time

import cv2
import pytest
from threadpoolctl import threadpool_limits

from service import request_id
from service.config import Settings
from service.main import create_app
from service.threads import blas_threads, by_blocks


@pytest.fixture
def restored():
    """Whatever the test sets, every BLAS gets its thread count back afterwards."""
    keep = threadpool_limits(limits=None, user_api="blas")
    yield
    keep.restore_original_limits()


def test_the_app_holds_numpys_blas_to_one_thread_by_default(restored):
    threadpool_limits(limits=2, user_api="blas")
    assert blas_threads() and max(blas_threads()) == 2
    create_app(Settings())
    assert set(blas_threads()) == {1}


def test_zero_leaves_blas_as_it_was(restored):
    threadpool_limits(limits=2, user_api="blas")
    create_app(Settings(blas_threads=0))
    assert set(blas_threads()) == {2}


@pytest.fixture
def opencv_restored():
    keep = cv2.getNumThreads()
    yield
    cv2.setNumThreads(keep)


def test_the_app_holds_opencvs_loops_to_one_thread_by_default_and_zero_leaves_them(opencv_restored):
    cv2.setNumThreads(2)
    create_app(Settings(opencv_threads=0))
    assert cv2.getNumThreads() == 2
    create_app(Settings())
    assert cv2.getNumThreads() == 1


def test_blocks_come_back_in_order_and_share_the_cores():
    names = set()

    def block(b: slice) -> list[int]:
        names.add(threading.current_thread().name)
        time.sleep(0.01)  # long enough for the pool's other threads to take the next blocks
        return list(range(b.start, b.stop))
    out = by_blocks(block, 1000, 64)
    assert sum(out, []) == list(range(1000)) and len(out) == 16
    assert len(names) == min(os.cpu_count() or 1, 16)
    assert by_blocks(block, 10, 64) == [list(range(10))]  # one block: no hand-off


def test_blocks_run_in_the_callers_context():
    """What a block logs names the caller's request: each runs in a copy of its context."""
    token = request_id.CURRENT.set("req-7")
    try:
        assert set(by_blocks(lambda b: request_id.current(), 100, 10)) == {"req-7"}
    finally:
        request_id.CURRENT.reset(token)
