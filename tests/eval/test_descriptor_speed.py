"""The side-by-side descriptor benchmark: which networks it races, and how it reads the rounds."""
import numpy as np

from eval.descriptor_speed import FIRST, descriptors, table
from eval.latency import fresh_pngs
from service.config import Settings


def test_it_races_every_shipped_descriptor_network_and_no_patch_scorer():
    names = descriptors(Settings())
    assert {"siam-2stream-l2", "siam-2stream-l2-w0.25", "siam-2stream-l2-distilled-w0.25"} <= set(names)
    assert not any(n.startswith("2ch") for n in names)


def test_the_ratio_is_taken_round_by_round_so_a_slow_minute_falls_on_both():
    """A round in which the host is twice as slow doubles both times: the ratio stays 2."""
    times = {"net": [0.2, 0.4, 0.2], "OpenCV SIFT": [0.1, 0.2, 0.1]}
    row = table(times, {"net": (30.0, 55.0)}, 429).splitlines()[2]
    assert row == "| net | 200 | 2.00 | 30.0, 55.0 |"


def test_the_most_rounds_allowed_send_no_bytes_twice():
    """Two pairs a round (one to wake each server, one timed), 128 rounds at most."""
    a = np.random.default_rng(0).integers(0, 255, (24, 32), np.uint8)
    sent = [fresh_pngs(a, a[::-1].copy(), k) for k in range(FIRST, FIRST + 2 * 128)]
    assert len({p for pair in sent for p in pair}) == 2 * len(sent)
