"""The inference worker: one ONNX Runtime session behind a queue that merges concurrent requests
into one forward pass (collect up to ``max_batch`` items or ``max_wait_ms``, whichever first).

Runs in its own thread, so the event loop never blocks on inference. Work beyond ``max_queue``
waiting items is refused at once (503 with Retry-After); a request that outlives its deadline
gets a 504 and its items are dropped, not computed. If a merged batch fails, each request in it
is retried alone, so one bad request fails only itself.
"""
from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

import numpy as np
import onnxruntime as ort

from service.errors import InferenceFailed, InferenceTimeout, Overloaded

log = logging.getLogger("service.worker")
STOP = object()
FULL_ENOUGH = 64  # items a batch gains nothing by waiting for more beyond: on a CPU a descriptor network's
# cost per patch is flat from about a hundred on, so a cold sparse image's last 173 patches waited
# max_wait for company that could not make them faster; what is queued already still joins
GPU_PROVIDERS = ("CUDAExecutionProvider", "TensorrtExecutionProvider")


def on_gpu(session: ort.InferenceSession) -> bool:
    """Whether the session's first provider runs on a GPU."""
    return session.get_providers()[0] in GPU_PROVIDERS


@dataclass(eq=False)  # jobs compare by identity
class Job:
    feed: dict[str, np.ndarray]  # each (n, ...) float32, the same n
    future: concurrent.futures.Future
    deadline: float
    n: int = field(init=False)

    def __post_init__(self) -> None:
        self.n = len(next(iter(self.feed.values())))

    def key(self) -> tuple:
        """Jobs merge only when every input has the same trailing shape."""
        return tuple((k, v.shape[1:]) for k, v in self.feed.items())


BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass
class Stats:
    """Counters that only grow, as Prometheus expects: batch sizes as a histogram observed once
    per forward pass (``bucket_counts[i]``: passes of at most ``BATCH_BUCKETS[i]`` items, the last
    one: all passes)."""
    batches: int = 0
    items: int = 0
    seconds: float = 0.0
    largest: int = 0
    bucket_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))

    def observe(self, size: int, seconds: float) -> None:
        self.batches += 1
        self.items += size
        self.seconds += seconds
        self.largest = max(self.largest, size)
        for i, top in enumerate(BATCH_BUCKETS):
            if size <= top:
                self.bucket_counts[i] += 1
        self.bucket_counts[-1] += 1


class BatchingSession:
    """An ``ort.InferenceSession`` served by one thread with dynamic batching."""

    def __init__(self, session: ort.InferenceSession, max_batch: int, max_wait_ms: float, max_queue: int,
                 timeout_s: float, name: str = "", io_binding: bool = False, max_pixels: int | None = None):
        self.session, self.name, self.io_binding = session, name, io_binding
        self._run_options = ort.RunOptions()
        if max_pixels is not None:
            # an image's activations grow with its pixels (about a gigabyte for 1024 x 1024): the
            # arena gives them back once the batch is done. A patch batch is bounded by max_batch,
            # so its arena is kept: shrinking it made every batch fault its pages in again (2x)
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage",
                                                   "cpu:0;gpu:0" if on_gpu(session) else "cpu:0")
        if io_binding:  # where the output is left, and its name: fixed per session
            self._device = "cuda" if on_gpu(session) else "cpu"
            self._output = session.get_outputs()[0].name
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self.max_pixels = max_pixels
        self.max_queue, self.timeout = max_queue, timeout_s
        self.stats = Stats()
        self._queue: queue.Queue = queue.Queue()
        self._pending = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name=f"ort-{name}", daemon=True)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    async def run(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """Run the model on ``feed`` (inputs of batch n, chunked to max_batch) -> its first
        output, (n, ...)."""
        n = len(next(iter(feed.values())))
        with self._lock:
            if self._pending + n > self.max_queue:
                raise Overloaded(f"model {self.name} has {self._pending} items queued; try again shortly")
            self._pending += n
        deadline = time.monotonic() + self.timeout
        cap = self.cap(feed)
        jobs = [Job({k: v[i:i + cap] for k, v in feed.items()}, concurrent.futures.Future(), deadline)
                for i in range(0, n, cap)]
        for j in jobs:
            self._queue.put(j)
        futures = [asyncio.wrap_future(j.future) for j in jobs]
        try:
            parts = await asyncio.wait_for(asyncio.gather(*futures), self.timeout)
        except TimeoutError:
            raise InferenceTimeout(f"inference took longer than {self.timeout:g} s") from None
        finally:
            for j in jobs:
                j.future.cancel()  # frees queued work of a request that timed out or went away
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def close(self) -> None:
        self._queue.put(STOP)
        self._thread.join(timeout=5)

    def cap(self, feed: dict[str, np.ndarray]) -> int:
        """Items a forward pass may hold: ``max_batch``, and for images no more than fit in
        ``max_pixels`` together (activations grow with pixels: one 1024 x 1024 image takes about
        a gigabyte through the dense network, so concurrent requests must not merge freely)."""
        if self.max_pixels is None:
            return self.max_batch
        pixels = max(int(np.prod(v.shape[2:])) for v in feed.values())
        return max(1, min(self.max_batch, self.max_pixels // max(pixels, 1)))

    def _collect(self, first: Job) -> tuple[list[Job], object]:
        """Gather jobs that fit with ``first`` until the batch is full or the wait is over (no wait
        once it holds FULL_ENOUGH items: only jobs queued already join). Returns the batch and the
        job (or STOP) that did not fit, to start the next one."""
        batch, n, leftover = [first], first.n, None
        end = time.monotonic() + self.max_wait
        cap = self.cap(first.feed)
        while n < cap:
            try:
                job = self._queue.get(timeout=max(0.0, end - time.monotonic())) if n < FULL_ENOUGH else \
                    self._queue.get_nowait()
            except queue.Empty:
                break
            if job is STOP or job.key() != first.key() or n + job.n > cap:
                leftover = job
                break
            batch.append(job)
            n += job.n
        return batch, leftover

    def _loop(self) -> None:
        nxt = None
        while True:
            job = nxt if nxt is not None else self._queue.get()
            if job is STOP:
                return
            batch, nxt = self._collect(job)
            with self._lock:
                self._pending -= sum(j.n for j in batch)
            # drop work whose client gave up (cancelled) or whose deadline passed
            live = [j for j in batch if time.monotonic() < j.deadline and j.future.set_running_or_notify_cancel()]
            for j in batch:
                if j not in live:
                    j.future.cancel()
            if live:
                try:
                    self._run(live)
                except Exception:  # never let the worker thread die
                    log.exception("worker error in %s", self.name)
                    for j in live:
                        if not j.future.done():
                            j.future.set_exception(InferenceFailed(f"model {self.name} failed"))

    def _infer(self, jobs: list[Job]) -> np.ndarray:
        feed = {k: np.concatenate([j.feed[k] for j in jobs]) for k in jobs[0].feed}
        t0 = time.perf_counter()
        out = self._forward(feed)
        self.stats.observe(len(out), time.perf_counter() - t0)
        return out

    def _forward(self, feed: dict[str, np.ndarray]) -> np.ndarray:
        """One forward pass -> the first output. With IO binding, the inputs are bound from host
        memory and the output is left on the session's device (a GPU's, under CUDA) and copied
        back once, instead of the copies and synchronisation of a plain run."""
        if not self.io_binding:
            return self.session.run(None, feed, self._run_options)[0]
        binding = self.session.io_binding()
        for name, value in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(value))
        binding.bind_output(self._output, self._device)
        self.session.run_with_iobinding(binding, self._run_options)
        return binding.copy_outputs_to_cpu()[0]

    def _run(self, jobs: list[Job]) -> None:
        try:
            out = self._infer(jobs)
        except Exception:
            if len(jobs) > 1:  # isolate the failing request
                for j in jobs:
                    self._run([j])
                return
            log.exception("inference failed in %s", self.name)
            jobs[0].future.set_exception(InferenceFailed(f"model {self.name} failed on this input"))
            return
        i = 0
        for j in jobs:
            j.future.set_result(out[i:i + j.n])
            i += j.n
