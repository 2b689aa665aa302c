"""The latency benchmark's instrument: wall clock and CPU time of a step are told apart."""
import time

from eval.latency import timed_cpu


def busy(ms: float) -> None:
    end = time.perf_counter() + ms / 1e3
    while time.perf_counter() < end:
        pass


def test_a_step_that_waits_takes_wall_time_but_no_cpu():
    wall, cpu = timed_cpu(lambda _: time.sleep(0.05), 3)
    assert wall >= 45 and cpu < 20


def test_a_step_that_computes_takes_cpu_time_too():
    wall, cpu = timed_cpu(lambda _: busy(40), 3)
    assert wall >= 35 and cpu >= 0.5 * wall
