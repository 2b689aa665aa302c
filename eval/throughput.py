"""Patch pairs per second through the HTTP API (a real uvicorn server on loopback) against ONNX
Runtime alone on the same batches (the ceiling), torch eager on the same architecture and batch
(an inference engine should be at least as fast), and OpenCV SIFT on the same patches.

    python -m eval.throughput [--model 2ch-2stream] [--batch 64] [--repeats 15] [--clients 4]

Each model's figures are a section of their own in docs/RESULTS.md (``make bench`` measures the
single-view 2ch-2stream, 2ch-2stream-views8 and the default scorer, 2ch-2stream-views8-sift, the
same network with SIFT's distance fused in).

Medians over repeats, all measured in one run; the ratios are what to compare across machines.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import onnxruntime as ort
import torch

from eval import machine
from eval.results import write_section
from models.data import photos, synth
from models.export_patch import Views
from models.patchnet import build
from service.config import Settings
from service.registry import session_options
from tests.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def real_pairs(n: int) -> np.ndarray:
    """(n, 2, 64, 64) uint8 patch pairs from a held-back photo."""
    ps = synth.from_photos([photos.load("coffee")], 3, seed=7, similar=False)
    idx = np.r_[ps.pos, ps.neg][:n]
    return ps.patches[idx]


def median_rate(fn, items: int, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return items / statistics.median(times)


@torch.no_grad()
def torch_rate(entry: dict, x: np.ndarray, repeats: int) -> float:
    """Pairs a second of torch eager (evaluation mode, as many threads as ONNX Runtime uses) on
    the network's architecture: the same graph, built in torch, over the same batch."""
    net = build(entry["architecture"], entry["width"]).eval()
    scorer = Views(net, entry.get("views", 1)).eval() if entry.get("views", 1) > 1 else net
    torch.set_num_threads(os.cpu_count() or 1)
    batch = torch.from_numpy(x)
    if entry["kind"] == "patch":
        return median_rate(lambda: scorer(batch), len(x), repeats)
    return median_rate(lambda: net.decide(net.describe(batch[:, :1]), net.describe(batch[:, 1:])), len(x), repeats)


def start_server(port: int, model: str) -> subprocess.Popen:
    env = {"PORT": str(port), "DEFAULT_PATCH_MODEL": model, "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.main:create_app", "--factory",
                             "--port", str(port), "--log-level", "warning"], cwd=ROOT, env=env)
    for _ in range(200):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError("server did not become ready")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="2ch-2stream")
    ap.add_argument("--batch", type=int, default=64, help="pairs per request")
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--clients", type=int, default=4, help="concurrent requests in the API run")
    ap.add_argument("--no-write", action="store_true")
    a = ap.parse_args()
    pairs = real_pairs(a.batch * a.clients)
    pngs = [[base64.b64encode(cv2.imencode(".png", p)[1].tobytes()).decode() for p in pair] for pair in pairs]
    bodies = [json.dumps({"model": a.model, "pairs": [{"a": x, "b": y} for x, y in pngs[k::a.clients]]})
              for k in range(a.clients)]
    entry = next(m for m in json.loads((ROOT / "models/weights/manifest.json").read_text())["models"]
                 if m["name"] == a.model)
    opts = session_options(Settings())  # as the service makes its sessions (threads, denormals as zero)
    sess = ort.InferenceSession(str(ROOT / "models/weights" / entry["file"]), opts, providers=["CPUExecutionProvider"])
    x = pairs.astype(np.float32) / 255.0
    n = len(pairs)
    if entry["kind"] == "patch":
        def forward(batch: np.ndarray) -> None:
            sess.run(None, {"pairs": batch})
    else:
        dec = ort.InferenceSession(str(ROOT / "models/weights" / entry["decision_file"]), opts,
                                   providers=["CPUExecutionProvider"])

        def forward(batch: np.ndarray) -> None:
            d = sess.run(None, {"patches": batch.reshape(-1, 1, 64, 64)})[0]
            dec.run(None, {"a": d[0::2], "b": d[1::2]})
    ceiling = median_rate(lambda: forward(x), n, a.repeats)
    # what batching can gain on this host at most: the same pairs in forward passes of b pairs
    scaling = {b: median_rate(lambda b=b: [forward(x[s:s + b]) for s in range(0, n, b)], n, a.repeats)
               for b in (1, 8, 32, n)}

    def sift_pairs() -> None:
        d = synth.sift_describe(pairs.reshape(-1, 64, 64))
        np.linalg.norm(d[0::2] - d[1::2], axis=1)
    sift_rate = median_rate(sift_pairs, n, a.repeats)
    eager = torch_rate(entry, x, a.repeats)

    port = free_port()
    proc = start_server(port, a.model)
    try:
        async def burst(client: httpx.AsyncClient) -> None:
            rs = await asyncio.gather(*(client.post("/v1/patches/similarity", content=b,
                                                    headers={"content-type": "application/json"}) for b in bodies))
            assert all(r.status_code == 200 for r in rs), [r.text[:200] for r in rs]

        async def api() -> float:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                await burst(client)
                times = []
                for _ in range(a.repeats):
                    t = time.perf_counter()
                    await burst(client)
                    times.append(time.perf_counter() - t)
                return n / statistics.median(times)
        api_rate = asyncio.run(api())
    finally:
        proc.terminate()
        proc.wait(10)
    command = "python -m eval.throughput " + shlex.join(sys.argv[1:])
    alone = f"; {entry['file']} only, without SIFT's part" if entry.get("fusion") else ""
    table = (f"| path | pairs/s (median of {a.repeats}) | ratio |\n|---|---|---|\n"
             f"| ONNX Runtime alone, {n} pairs per call (ceiling{alone}) | {ceiling:.0f} | 1.00 |\n"
             f"| torch eager, the same architecture and batch, {torch.get_num_threads()} threads | {eager:.0f} | "
             f"{eager / ceiling:.2f} of the ceiling |\n"
             f"| HTTP API, {a.clients} concurrent requests of {a.batch} PNG pairs | {api_rate:.0f} | "
             f"{api_rate / ceiling:.2f} of the ceiling |\n"
             f"| OpenCV SIFT describe + L2 on the same patches | {sift_rate:.0f} | "
             f"{sift_rate / ceiling:.2f} of the ceiling |\n\n"
             "ONNX Runtime alone by forward-pass size, the most that batching can gain here:\n\n"
             "| pairs per forward pass | pairs/s | over 1 pair per pass |\n|---|---|---|\n"
             + "".join(f"| {b} | {r:.0f} | {r / scaling[1]:.2f}x |\n" for b, r in scaling.items()))
    print(table)
    if not a.no_write:
        write_section(f"patch-throughput-{a.model}", f"## Patch matching throughput ({a.model}, CPU)\n\n`{command}`\n\n"
                      f"ONNX Runtime's CPUExecutionProvider {machine.describe()}; medians of one run each, "
                      "compare ratios, not absolute rates.\n\n" + table)


if __name__ == "__main__":
    main()
