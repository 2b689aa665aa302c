"""The GPU check's speed rows, run here on the CPU so that a machine with a GPU is not the first to
run them: every method cold and warm through a served API, each against SIFT in the same run."""
import re

from eval.gpu_check import correspondence_latency


def test_speed_rows_time_each_method_cold_and_warm_against_sift():
    rows = correspondence_latency(provider="cpu", repeats=2)
    assert len(rows) == 5 and "SIFT" in rows[0] and rows[0].endswith("| 1.00x |")
    for row, (method, when) in zip(rows[1:], [(m, w) for m in ("sparse", "dense") for w in ("cold", "warm")],
                                   strict=True):
        ms, ratio = re.search(r"\| (\d+) ms \| (\d+\.\d\d)x \|$", row).groups()
        assert f"method={method}, {when}" in row and int(ms) > 0 and float(ratio) > 0
