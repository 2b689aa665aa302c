"""The GPU path in one run (``make gpu-check``, on a machine with an NVIDIA GPU and its driver, and
the CUDA 13 and cuDNN 9 libraries onnxruntime-gpu's CUDA provider is built for: inside the GPU image):

- the CUDA and TensorRT execution providers load every shipped model, and each model's outputs
  match the CPU's within 1e-3 on real inputs;
- the service's registry picks the GPU and binds inputs and outputs through IO binding;
- the batching ratio: patch pairs per second through the batching worker at MAX_BATCH=256
  against MAX_BATCH=1, on concurrent single-pair requests;
- 640 x 480 correspondences through the API on the GPU, cold (features computed) and warm (cached),
  each method against OpenCV SIFT on this host's CPU in the same run (medians of 15; cold raced round
  by round, ``eval.latency.race``).

Written to docs/RESULTS.md with the GPU's name. Without a GPU it says so and writes nothing.

    python -m eval.gpu_check
"""
from __future__ import annotations

import asyncio
import json
import shlex
import statistics
import sys
import time

import numpy as np
import onnxruntime as ort

from eval import machine
from eval.latency import api_latency, cold_race, serving, sift_latency, test_pair
from eval.results import write_section
from eval.throughput import ROOT, real_pairs
from service import registry
from service.config import Settings

TOLERANCE = 1e-3
WEIGHTS = ROOT / "models" / "weights"


def feeds(entry: dict) -> list[dict[str, np.ndarray]]:
    pairs = real_pairs(64).astype(np.float32) / 255.0
    if entry["kind"] == "dense":
        a, _ = test_pair()
        return [{"image": a[None, None].astype(np.float32) / 255.0}]
    if entry["kind"] == "patch":
        return [{"pairs": pairs}]
    return [{"patches": np.ascontiguousarray(pairs[:, :1])}]


def parity(providers: list[str]) -> dict[str, float]:
    """Largest |GPU - CPU| of each shipped model's output (a provider that cannot load one raises)."""
    out = {}
    for e in json.loads((WEIGHTS / "manifest.json").read_text())["models"]:
        cpu = ort.InferenceSession(str(WEIGHTS / e["file"]), providers=["CPUExecutionProvider"])
        gpu = ort.InferenceSession(str(WEIGHTS / e["file"]), providers=providers)
        if gpu.get_providers()[0] != providers[0]:
            raise RuntimeError(f"{e['name']}: {providers[0]} did not load it ({gpu.get_providers()})")
        out[e["name"]] = max(float(np.abs(cpu.run(None, f)[0] - gpu.run(None, f)[0]).max()) for f in feeds(e))
    return out


def batching_ratio(settings: Settings) -> tuple[float, float]:
    """Single-pair requests a second through the batching worker, 512 at once: (MAX_BATCH=256, 1)."""
    pairs = real_pairs(512).astype(np.float32) / 255.0
    rates = []
    for max_batch in (256, 1):
        reg = registry.load(settings.model_copy(update={"max_batch": max_batch}))
        worker = reg.get("2ch-2stream", ("patch",)).main

        async def burst(w=worker) -> float:
            t = time.perf_counter()
            await asyncio.gather(*(w.run({"pairs": p[None]}) for p in pairs))
            return len(pairs) / (time.perf_counter() - t)
        asyncio.run(burst())
        rates.append(statistics.median(asyncio.run(burst()) for _ in range(5)))
        reg.close()
    return rates[0], rates[1]


def correspondence_latency(provider: str = "cuda", repeats: int = 15) -> list[str]:
    """Table rows: median ms of a 640x480 pair through a uvicorn server on ``provider`` (cold: fresh
    bytes, features computed, raced round by round with OpenCV SIFT on this host's CPU; warm: the
    same bytes again, features cached, against SIFT's faster way in the same run) for each method:
    ``eval.latency``'s measures."""
    a, b = test_pair()
    sift = min(sift_latency(a, b, repeats).values())
    rows = [f"| OpenCV SIFT detect + describe + ratio match, 640x480 pair (CPU, in process) | {sift:.0f} ms | 1.00x |"]
    with serving({provider: {"PROVIDER": provider}}) as clients:
        for method in ("sparse", "dense"):
            cold, ratio = cold_race(clients, a, b, repeats, method)[provider]
            warm, _ = api_latency(clients[provider], a, b, repeats, method)
            rows += [f"| 640x480 correspondences, method={method}, cold (features computed; raced with SIFT) | "
                     f"{cold:.0f} ms | {ratio:.2f}x |",
                     f"| 640x480 correspondences, method={method}, warm (features cached) | {warm:.0f} ms | "
                     f"{warm / sift:.2f}x |"]
    return rows


def main() -> None:
    if machine.gpu() is None or "CUDAExecutionProvider" not in ort.get_available_providers() \
            or not registry.gpu_driver_present():
        print("no NVIDIA GPU with its driver here: the GPU check did not run")
        return
    lines = []
    for chain in (["CUDAExecutionProvider", "CPUExecutionProvider"],
                  ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]):
        try:
            diffs = parity(chain)
            worst = max(diffs.values())
            lines.append(f"| {chain[0]} | every shipped model loads | largest difference from the CPU "
                         f"{worst:.1e} ({'within' if worst <= TOLERANCE else 'OVER'} {TOLERANCE:g}) |")
        except Exception as exc:  # noqa: BLE001 - a provider that cannot load is what this check reports
            lines.append(f"| {chain[0]} | did not load: {exc.__class__.__name__}: {str(exc)[:120]} | |")
    settings = Settings(provider="cuda")
    reg = registry.load(settings)
    bound = {m.name: m.main.io_binding for m in reg.models.values()}
    reg.close()
    batched, single = batching_ratio(settings)
    speed = correspondence_latency()
    table = ("| check | result | |\n|---|---|---|\n" + "\n".join(lines) + "\n"
             f"| IO binding | {'on for every model' if all(bound.values()) else f'off for some: {bound}'} | |\n"
             f"| batching: single-pair requests, 512 at once | {batched:.0f} pairs/s at MAX_BATCH=256, {single:.0f} "
             f"at 1 | {batched / single:.1f}x |\n"
             + "\n".join(speed) + "\n")
    print(table)
    command = "python -m eval.gpu_check " + shlex.join(sys.argv[1:])
    write_section("gpu-check", f"## GPU check\n\n`{command}` {machine.describe()}\n\n{table}")


if __name__ == "__main__":
    main()
