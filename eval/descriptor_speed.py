"""Cold method=sparse latency of every shipped descriptor network side by side: one uvicorn server
a network (DEFAULT_DESCRIPTOR_MODEL, answering alone), one as shipped (SPARSE_FAST_MODEL's network
first), and in each round the same new 640x480 pair (``eval.latency``'s) sent to every server in
turn, each woken by another new pair just before, and OpenCV SIFT run on it, so that the host's
swings between minutes fall on all of them alike (``eval.latency.race``). Beside it, each network
alone in ONNX Runtime on that image's patches.

    python -m eval.descriptor_speed [--rounds 25]

Runs of ``eval.first_octave`` on different minutes of a shared 2-core host have read the same
network a third apart; compare descriptors here.
"""
from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import onnxruntime as ort

from eval import machine
from eval.latency import race, raced, serving, test_pair, timed_cpu
from eval.results import published
from service import dense, registry
from service.config import Settings
from service.correspond import fast_name

FIRST = 0  # fresh_pngs(k) from here, two a round; each server starts with an empty in-process cache, so a
# run's pairs need only differ from each other (fresh_pngs repeats every 256: at most 128 rounds)


def descriptors(settings: Settings) -> list[str]:
    entries = json.loads((settings.models_dir / "manifest.json").read_text())["models"]
    return [e["name"] for e in entries if e["kind"] == "descriptor"]


def servers(models: list[str], settings: Settings) -> dict[str, dict[str, str]]:
    """A server's settings per row: each descriptor answering alone, and the service as it is
    shipped (SPARSE_FAST_MODEL answering first) where that is another."""
    envs = {m: {"DEFAULT_DESCRIPTOR_MODEL": m} for m in models}
    if (fast := fast_name(settings)) is not None:
        envs[f"as shipped: {fast} first, {settings.default_descriptor_model} where in doubt"] = {}
    return envs


def interleaved(envs: dict[str, dict[str, str]], rounds: int) -> dict[str, list[float]]:
    """Seconds of each round's cold request to each row's server, and of SIFT's, in order
    (``eval.latency.race``)."""
    a, b = test_pair()
    with serving(envs) as clients:
        return race(clients, a, b, rounds, first=FIRST)


def alone(models: list[str], settings: Settings, patches: np.ndarray, repeats: int) -> dict[str, tuple[float, float]]:
    """Median ms (wall, CPU of the process) of each network on ``patches``, the service's session
    options, in one worker thread, the networks taking turns run by run."""
    nets = {m: ort.InferenceSession(str(settings.models_dir / f"{m}.onnx"), registry.session_options(settings),
                                    providers=["CPUExecutionProvider"]) for m in models}
    runs: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
    with ThreadPoolExecutor(1) as worker:
        for k in range(repeats + 1):
            for m, net in nets.items():
                took = worker.submit(timed_cpu, lambda _, net=net: net.run(None, {"patches": patches}), 1).result()
                if k:  # the first run of a session sets up its buffers
                    runs[m].append(took)
    return {m: (statistics.median(w for w, _ in r), statistics.median(c for _, c in r)) for m, r in runs.items()}


def table(times: dict[str, list[float]], nets: dict[str, tuple[float, float]], patches: int) -> str:
    """``race``'s times as rows: median ms, the median of the rounds' ratios to SIFT's (``raced``)."""
    lines = [f"| descriptor | cold pair, median ms | vs SIFT, median of the rounds' ratios | the network alone on "
             f"{patches} patches: ms, CPU ms |", "|---|---|---|---|"]
    for m, (ms, ratio) in raced(times).items():
        net = f"{nets[m][0]:.1f}, {nets[m][1]:.1f}" if m in nets else ""
        lines.append(f"| {m} | {ms:.0f} | {ratio:.2f} | {net} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=25)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    if not 1 <= args.rounds <= 128:
        ap.error("--rounds must be 1 to 128")
    settings = Settings()
    models = descriptors(settings)
    times = interleaved(servers(models, settings), args.rounds)
    patches, _ = dense.sparse_input(test_pair()[0], settings)  # image a's, as the service feeds them
    nets = alone(models, settings, patches, 30)
    n = len(patches)
    command = "python -m eval.descriptor_speed " + shlex.join(sys.argv[1:])
    published("descriptor-speed", f"## method=sparse cold, descriptor by descriptor\n\n`{command}` "
              f"{machine.describe()}\n\nThe 640x480 pair of the latency table, new bytes each round, sent to one "
              "server a descriptor network in turn (each woken by another new pair, untimed, just before), then "
              "OpenCV SIFT (detect, describe, ratio-match) in process: "
              f"{args.rounds} rounds, so that the host's swings fall on every row alike. The ratio is taken round "
              "by round. Beside it, the network alone in ONNX Runtime (the service's session options) on image "
              f"a's patches.\n\n{table(times, nets, n)}\n", not args.no_write)


if __name__ == "__main__":
    main()
