"""The latency benchmark's instrument: wall clock and CPU time of a step are told apart, and each
cold request sends bytes the server has not seen."""
import time

import cv2
import numpy as np

from eval.latency import (
    LOAD_FIRST,
    PAUSE_S,
    PAUSED_FIRST,
    RACE_FIRST,
    STARTED_FIRST,
    STARTS,
    TRANSFER_FIRST,
    fresh_pngs,
    served_settings,
    sift_started,
    timed_cpu,
)
from service.memory import IDLE_S


def busy(ms: float) -> None:
    """Computes for ``ms`` of this process's CPU time (however long a loaded machine takes to give it)."""
    end = time.process_time() + ms / 1e3
    while time.process_time() < end:
        pass


def test_a_step_that_waits_takes_wall_time_but_no_cpu():
    wall, cpu = timed_cpu(lambda _: time.sleep(0.05), 3)
    assert wall >= 45 and cpu < 20


def test_a_step_that_computes_takes_cpu_time_too():
    wall, cpu = timed_cpu(lambda _: busy(40), 3)
    assert cpu >= 39.5 and wall >= 39.5  # the CPU time it computed for, and at least as long in wall time


def test_cold_requests_send_bytes_no_request_sent_before():
    """Each cold request's pair is new to the cache (its own sha256), and is the pair but for a pixel."""
    a = np.random.default_rng(0).integers(0, 255, (48, 64), np.uint8)
    sent = [fresh_pngs(a, a[::-1].copy(), k) for k in range(5)]
    assert len({p for pair in sent for p in pair}) == 10
    back = cv2.imdecode(np.frombuffer(sent[3][0], np.uint8), cv2.IMREAD_UNCHANGED)
    assert back.shape == a.shape and (back != a).sum() <= 1


def test_a_benchmark_reads_the_settings_its_server_was_started_with():
    """What eval.first_octave counts and eval.calibrate stores follow the server's settings."""
    s = served_settings({"PATH": "/bin", "SPARSE_KEYPOINTS": "1000",
                         "DEFAULT_DESCRIPTOR_MODEL": "siam-2stream-l2-w0.25"})
    assert (s.sparse_keypoints, s.default_descriptor_model) == (1000, "siam-2stream-l2-w0.25")
    assert served_settings({}).sparse_keypoints == 2000


def test_the_load_sends_pairs_new_to_the_cache_after_the_sequential_runs():
    """cold_load's 48 pairs differ from each other and from the 15 cold pairs sent before them."""
    a = np.random.default_rng(1).integers(0, 255, (48, 64), np.uint8)
    before = {p for k in range(15) for p in fresh_pngs(a, a[::-1].copy(), k)}
    load = [p for k in range(LOAD_FIRST, LOAD_FIRST + 48) for p in fresh_pngs(a, a[::-1].copy(), k)]
    assert len(set(load)) == len(load) and not before & set(load)


def test_the_cold_transfers_send_pairs_no_other_run_sent():
    """transfer_latency's 15 pairs differ from the sequential runs' and from the load's."""
    a = np.random.default_rng(2).integers(0, 255, (48, 64), np.uint8)
    others = {fresh_pngs(a, a[::-1].copy(), k) for k in [*range(15), *range(LOAD_FIRST, LOAD_FIRST + 48)]}
    transfers = [fresh_pngs(a, a[::-1].copy(), k) for k in range(TRANSFER_FIRST, TRANSFER_FIRST + 15)]
    assert len(set(transfers)) == len(transfers) and not others & set(transfers)


def test_the_paused_pairs_are_new_and_wait_out_the_idle_time():
    """paused_latency's 16 pairs (a first round, then 15) differ from every other run's, and each
    waits longer than the service's idle time before its heaps are trimmed (what it measures)."""
    a = np.random.default_rng(3).integers(0, 255, (48, 64), np.uint8)
    others = {fresh_pngs(a, a[::-1].copy(), k) for k in
              [*range(15), *range(LOAD_FIRST, LOAD_FIRST + 48), *range(TRANSFER_FIRST, TRANSFER_FIRST + 15)]}
    paused = [fresh_pngs(a, a[::-1].copy(), k) for k in range(PAUSED_FIRST - 1, PAUSED_FIRST + 15)]
    assert len(set(paused)) == len(paused) and not others & set(paused)
    started = [fresh_pngs(a, a[::-1].copy(), k) for k in range(STARTED_FIRST, STARTED_FIRST + 2 * STARTS)]
    assert len(set(started)) == len(started) and not (others | set(paused)) & set(started)
    assert PAUSE_S > 2 * IDLE_S


def test_the_races_send_pairs_no_other_run_sends_those_servers():
    """cold_race's pairs (two a round, up to 16 rounds, sparse's and dense's) differ from each other
    and from the pairs the load and the transfers send the same servers after them."""
    a = np.random.default_rng(4).integers(0, 255, (48, 64), np.uint8)
    others = {fresh_pngs(a, a[::-1].copy(), k) for k in
              [*range(LOAD_FIRST, LOAD_FIRST + 48), *range(TRANSFER_FIRST, TRANSFER_FIRST + 16)]}
    raced = [fresh_pngs(a, a[::-1].copy(), first + k) for first in RACE_FIRST.values() for k in range(2 * 16)]
    assert len(set(raced)) == len(raced) and not others & set(raced)


def test_sifts_first_run_in_a_process_just_started_is_timed_apart_from_its_second():
    """The baseline of a fresh server's first request: a new Python process's first two runs of
    SIFT on the pair, each timed (the first pays for the process's first use of OpenCV's SIFT)."""
    first, second = sift_started()
    assert 0 < second < 10_000 and 0 < first < 10_000 and first != second
