"""The matching pool: the CPU work of a request after inference (matching, RANSAC, the MRF, point
transfer) on a few threads, with a bounded wait. A job that finds ``queue`` others waiting, or
that no worker has taken within ``wait_s``, is refused with 503 and Retry-After (the typed client
retries it): a burst beyond capacity is shed instead of queueing without end, as the inference
queue sheds its own (``service.worker``). A job whose request is cancelled before a worker takes
it (its client went away) is not run; one that has started runs to its end.
"""
from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from service.errors import Overloaded

T = TypeVar("T")


@dataclass
class Ticket:
    """A job's place in the queue: taken by a worker (``started``) or given up (``dropped``),
    whichever comes first."""
    started: bool = False
    dropped: bool = False


class MatchPool:
    def __init__(self, workers: int, queue: int, wait_s: float):
        self.executor = ThreadPoolExecutor(workers, "match")
        self.queue, self.wait_s = queue, wait_s
        self.lock = threading.Lock()
        self.waiting = 0  # jobs submitted that no worker has taken yet
        self.refused = 0  # jobs refused, the queue full or the wait past its bound (503)

    async def run(self, fn: Callable[..., T], *args) -> T:
        """``fn(*args)`` on a worker; 503 (``Overloaded``) when the queue is full or no worker
        took it within ``wait_s``."""
        with self.lock:
            if self.waiting >= self.queue:
                self.refused += 1
                raise Overloaded(f"{self.waiting} matching jobs are waiting for a worker; try again shortly")
            self.waiting += 1
        ticket = Ticket()

        def job() -> T | None:
            with self.lock:
                if ticket.dropped:
                    return None
                ticket.started = True
                self.waiting -= 1
            return fn(*args)

        done = asyncio.get_running_loop().run_in_executor(self.executor, job)
        try:
            return await asyncio.wait_for(asyncio.shield(done), self.wait_s)
        except TimeoutError:
            if self.drop(ticket, refuse=True):
                raise Overloaded(f"no matching worker was free within {self.wait_s:g} s; try again shortly") from None
            return await done
        except asyncio.CancelledError:
            self.drop(ticket)
            raise

    def drop(self, ticket: Ticket, refuse: bool = False) -> bool:
        """Give up a job no worker has taken (True), counted as refused with ``refuse``; False
        where a worker has taken it."""
        with self.lock:
            if ticket.started or ticket.dropped:
                return False
            ticket.dropped = True
            self.waiting -= 1
            self.refused += refuse
            return True

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
