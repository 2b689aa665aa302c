"""The batching worker on a real ONNX Runtime session (a one-node model built here)."""
import asyncio
import time

import cv2
import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper

from service import registry
from service.config import Settings
from service.errors import InferenceFailed, InferenceTimeout, Overloaded
from service.worker import FULL_ENOUGH, BatchingSession


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """scores = mean of each item: x (B, 4) float32 -> (B,)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch"])
    node = helper.make_node("ReduceMean", ["x"], ["y"], keepdims=0, axes=[1])
    model = helper.make_model(helper.make_graph([node], "mean", [x], [y]), opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=9)
    path = tmp_path_factory.mktemp("onnx") / "mean.onnx"
    onnx.save(model, path)
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


class Slow:
    """A real session that takes its time, to exercise deadlines."""
    def __init__(self, sess, seconds):
        self.sess, self.seconds = sess, seconds

    def run(self, *a):
        time.sleep(self.seconds)
        return self.sess.run(*a)

    def get_providers(self):
        return self.sess.get_providers()


def worker(sess, **kw):
    args = {"max_batch": 64, "max_wait_ms": 20, "max_queue": 1000, "timeout_s": 5.0} | kw
    return BatchingSession(sess, **args)


def test_concurrent_requests_share_forward_passes(session):
    w = worker(session)

    async def go():
        feeds = [np.full((2, 4), k, np.float32) for k in range(20)]
        return await asyncio.gather(*(w.run({"x": f}) for f in feeds))

    outs = asyncio.run(go())
    assert [o.tolist() for o in outs] == [[float(k)] * 2 for k in range(20)]
    assert w.stats.batches < 20 and w.stats.largest > 2
    w.close()


def test_a_batch_full_enough_does_not_wait_for_company_and_a_small_one_does(session):
    w = worker(session, max_batch=256, max_wait_ms=400)

    def took(n: int) -> float:
        t = time.perf_counter()
        asyncio.run(w.run({"x": np.ones((n, 4), np.float32)}))
        return time.perf_counter() - t
    took(FULL_ENOUGH)
    assert took(FULL_ENOUGH) < 0.2 and took(FULL_ENOUGH - 1) > 0.35
    w.close()


def test_large_request_is_chunked_to_max_batch(session):
    w = worker(session, max_batch=8)
    out = asyncio.run(w.run({"x": np.arange(100 * 4, dtype=np.float32).reshape(100, 4)}))
    np.testing.assert_allclose(out, np.arange(100) * 4 + 1.5)
    assert w.stats.largest <= 8
    w.close()


def test_one_bad_request_fails_alone(session):
    w = worker(session)

    async def go():
        good = [w.run({"x": np.ones((1, 4), np.float32)}) for _ in range(5)]
        bad = w.run({"x": np.ones((1, 4), np.float64)})  # the wrong dtype makes ORT raise
        return await asyncio.gather(*good, bad, return_exceptions=True)

    res = asyncio.run(go())
    assert all(isinstance(r, np.ndarray) for r in res[:5])
    assert isinstance(res[5], InferenceFailed)
    w.close()


def test_queue_bound_refuses_with_overloaded(session):
    w = worker(Slow(session, 0.2), max_queue=4, max_batch=2)

    async def go():
        return await asyncio.gather(*(w.run({"x": np.ones((2, 4), np.float32)}) for _ in range(6)),
                                    return_exceptions=True)

    res = asyncio.run(go())
    assert any(isinstance(r, Overloaded) for r in res)
    assert any(isinstance(r, np.ndarray) for r in res)
    w.close()


def test_deadline_gives_timeout_and_worker_stays_healthy(session):
    w = worker(Slow(session, 0.3), timeout_s=0.1)
    with pytest.raises(InferenceTimeout):
        asyncio.run(w.run({"x": np.ones((1, 4), np.float32)}))
    w.timeout = 5.0
    assert asyncio.run(w.run({"x": np.ones((1, 4), np.float32)})).tolist() == [1.0]
    w.close()


def test_io_binding_gives_the_same_answers(session):
    """IO binding (on by default only under CUDA) runs here on the CPU provider: same outputs."""
    x = np.random.default_rng(0).random((5, 4), np.float32)

    async def go(w):
        try:
            return await w.run({"x": x})
        finally:
            w.close()

    plain, bound = (asyncio.run(go(worker(session, io_binding=b))) for b in (False, True))
    assert np.allclose(plain, x.mean(1)) and np.array_equal(plain, bound)


def test_io_binding_is_automatic_on_a_gpu_only():
    from service import registry
    from service.config import Settings
    for setting, expected in (("auto", False), ("on", True), ("off", False)):
        reg = registry.load(Settings(io_binding=setting))
        try:
            assert {m.main.io_binding for m in reg.models.values()} == {expected}
        finally:
            reg.close()


def test_images_merge_only_while_their_pixels_fit(session):
    """A dense forward pass holds at most max_pixels of images (a 1024 x 1024 image takes about a
    gigabyte through the dense network): concurrent large images go one at a time."""
    w = worker(session, max_pixels=1024 * 1024)
    try:
        assert w.cap({"image": np.zeros((1, 1, 1024, 1024), np.float32)}) == 1
        assert w.cap({"image": np.zeros((1, 1, 512, 512), np.float32)}) == 4
        assert worker(session).cap({"x": np.zeros((3, 4), np.float32)}) == 64
    finally:
        w.close()


def test_an_images_dense_map_does_not_depend_on_what_else_is_computed():
    """Where an image followed another in a forward pass and its pixels were an odd count (as here
    and on leuven's 563 x 751), they lay at another alignment and ONNX Runtime summed them in
    another order (its ReduceMean alone does so): its map came out different in its last bits, and
    a match or two of its answer with it. By default (DENSE_BATCH_PIXELS 0) each image goes alone,
    and its map is the same whatever the other requests are."""
    reg = registry.load(Settings())
    try:
        ucn = next(m.main for m in reg.models.values() if m.entry.kind == "dense")
        rng = np.random.default_rng(0)
        a, b = (cv2.GaussianBlur(rng.random((255, 333), np.float32), (0, 0), 2)[None, None]
                for _ in range(2))

        async def together() -> list[np.ndarray]:
            return await asyncio.gather(ucn.run({"image": b}), ucn.run({"image": a}))

        single = asyncio.run(ucn.run({"image": a}))
        merged = asyncio.run(together())[1]
        assert ucn.stats.largest == 1
        assert np.array_equal(single, merged)
    finally:
        reg.close()
