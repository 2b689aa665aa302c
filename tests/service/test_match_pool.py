"""The matching pool sheds what it cannot take: a full queue or a wait past its deadline is a 503,
a job given up is never run, a job under way runs to its end."""
import asyncio
import time

import pytest

from service.errors import Overloaded
from service.match_pool import MatchPool
from tests.conftest import busy, eventually


def test_a_full_queue_refuses_at_once_and_the_waiting_jobs_run_in_order():
    async def go():
        pool = MatchPool(1, queue=2, wait_s=10)
        gate, holder = await busy(pool)
        ran = []
        waiting = [asyncio.ensure_future(pool.run(ran.append, k)) for k in range(2)]
        assert await eventually(lambda: pool.waiting == 2)
        t = time.monotonic()
        with pytest.raises(Overloaded, match="2 matching jobs are waiting"):
            await pool.run(ran.append, 99)
        assert time.monotonic() - t < 0.5
        gate.set()
        await asyncio.gather(holder, *waiting)
        pool.shutdown()
        return ran, pool.waiting
    assert asyncio.run(go()) == ([0, 1], 0)


def test_a_job_no_worker_takes_in_time_is_refused_and_never_run():
    async def go():
        pool = MatchPool(1, queue=8, wait_s=0.2)
        gate, holder = await busy(pool)
        ran = []
        t = time.monotonic()
        with pytest.raises(Overloaded, match="within 0.2 s"):
            await pool.run(ran.append, 1)
        waited = time.monotonic() - t
        gate.set()
        await holder
        await pool.run(ran.append, 2)  # the worker is free again, and runs what comes next
        pool.shutdown()
        return ran, waited, pool.waiting
    ran, waited, left = asyncio.run(go())
    assert ran == [2] and 0.15 < waited < 2 and left == 0


def test_a_job_under_way_past_the_wait_runs_to_its_end_and_errors_reach_the_caller():
    async def go():
        pool = MatchPool(1, queue=8, wait_s=0.05)
        slow = await pool.run(lambda: time.sleep(0.3) or "done")
        with pytest.raises(ValueError, match="bad"):
            await pool.run(int, "bad")
        pool.shutdown()
        return slow
    assert asyncio.run(go()) == "done"


def test_a_job_whose_request_is_cancelled_before_it_starts_is_not_run():
    async def go():
        pool = MatchPool(1, queue=8, wait_s=10)
        gate, holder = await busy(pool)
        ran = []
        job = asyncio.ensure_future(pool.run(ran.append, 1))
        assert await eventually(lambda: pool.waiting == 1)
        job.cancel()
        await asyncio.gather(job, return_exceptions=True)
        left = pool.waiting
        gate.set()
        await holder
        await pool.run(ran.append, 2)
        pool.shutdown()
        return ran, left
    assert asyncio.run(go()) == ([2], 0)
