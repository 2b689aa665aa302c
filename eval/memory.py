"""Peak and settled memory (RSS) of a real server under the inputs that cost the most memory for
their size: small files that decode large (an all-zero 6300 x 6300 PNG is 38 KB; a 16-bit RGBA
6000 x 6000 PNG), several at once, pairs with detail everywhere (the sparse detector's most
keypoints), and the largest patch batch.

    python -m eval.memory [--concurrent 8]
    python -m eval.memory --setting SPARSE_MAX_SIDE=2048     # a server setting changed

Each case runs against a fresh server: its RSS before, its peak during (VmHWM) and its RSS a
moment after the last answer.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import cv2
import httpx
import numpy as np
from PIL import Image

from eval import machine
from eval.latency import serve
from eval.results import with_settings, write_section


def png(arr: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", arr, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return buf.tobytes()


def worst_images() -> dict[str, bytes]:
    """Files small on the wire that decode large."""
    rgba = np.zeros((6000, 6000, 4), np.uint16)
    rgba[..., 3] = 65535
    rgba[::7, ::5, 0] = 40000
    buf = io.BytesIO()
    Image.fromarray(np.zeros((6300, 6300), np.uint8)).save(buf, "PNG", optimize=True)
    return {"all-zero 6300x6300 PNG": buf.getvalue(), "16-bit RGBA 6000x6000 PNG": png(rgba)}


def textured(n: int, side: int = 1024) -> list[bytes]:
    """``n`` grey PNGs of blurred noise, ``side`` a side: detail everywhere, so the sparse detector
    keeps its most keypoints (SPARSE_KEYPOINTS) and builds its largest pyramid for the size."""
    rng = np.random.default_rng(0)
    return [png(cv2.GaussianBlur(rng.integers(0, 255, (side, side), np.uint8), (0, 0), 1.2)) for _ in range(n)]


def patch_body(pairs: int) -> dict:
    rng = np.random.default_rng(0)
    b64 = [base64.b64encode(png(rng.integers(0, 255, (96, 96), np.uint8))).decode() for _ in range(8)]
    return {"pairs": [{"a": b64[k % 8], "b": b64[(k + 3) % 8]} for k in range(pairs)]}


def status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, MiB."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {k: int(fields[k].split()[0]) // 1024 for k in ("VmRSS", "VmHWM")}


def measure(send, env: dict) -> dict[str, int]:
    proc, url = serve(env)
    try:
        with httpx.Client(base_url=url, timeout=120) as c:  # one small request first: the service warm
            c.get("/v1/models")
        before = status(proc.pid)["VmRSS"]
        codes = asyncio.run(send(url))
        time.sleep(1.0)
        after = status(proc.pid)
        return {"before": before, "peak": after["VmHWM"], "after": after["VmRSS"], "codes": Counter(codes)}
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--concurrent", type=int, default=8)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--setting", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the server, e.g. SPARSE_MAX_SIDE=2048")
    a = ap.parse_args()
    env = {"PATH": os.environ.get("PATH", "")} | dict(kv.split("=", 1) for kv in a.setting)
    rows = []
    for name, data in worst_images().items():
        async def burst(url: str, data: bytes = data) -> list[int]:
            async with httpx.AsyncClient(base_url=url, timeout=120) as c:
                rs = await asyncio.gather(*(c.post("/v1/images", files={"image": ("x.png", data)})
                                            for _ in range(a.concurrent)))
            return [r.status_code for r in rs]
        rows.append((f"{a.concurrent} x {name} ({len(data) // 1024} KB) to /v1/images", measure(burst, env)))
    pages = textured(2 * a.concurrent)

    async def pairs(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=300) as c:
            rs = await asyncio.gather(*(c.post("/v1/correspondences", data={"geometry": "homography"},
                                               files={"image_a": ("a.png", pages[2 * k]),
                                                      "image_b": ("b.png", pages[2 * k + 1])})
                                        for k in range(a.concurrent)))
        return [r.status_code for r in rs]
    rows.append((f"{a.concurrent} x pairs of new 1024x1024 PNGs of blurred noise (every keypoint the detector may "
                 "keep) to /v1/correspondences", measure(pairs, env)))
    body = patch_body(1024)

    async def patches(url: str) -> list[int]:
        async with httpx.AsyncClient(base_url=url, timeout=120) as c:
            rs = await asyncio.gather(*(c.post("/v1/patches/similarity", json=body) for _ in range(2)))
        return [r.status_code for r in rs]
    rows.append(("2 x 1024 pairs of 96x96 PNG patches to /v1/patches/similarity", measure(patches, env)))
    command = shlex.join(["python", "-m", "eval.memory", *sys.argv[1:]])
    def answers(codes: Counter) -> str:
        return ", ".join(f"{n} x {code}" for code, n in sorted(codes.items()))
    table = ("| requests | answers | RSS before | peak RSS | RSS 1 s after |\n|---|---|---|---|---|\n" + "".join(
        f"| {name} | {answers(m['codes'])} | {m['before']} MiB | {m['peak']} MiB | {m['after']} MiB |\n"
        for name, m in rows))
    print(table)
    if not a.no_write:
        name, title = with_settings("memory", "## Memory under worst-case inputs", a.setting)
        write_section(name, f"{title}\n\n`{command}` {machine.describe()}\n\n"
                      "One fresh server per row "
                      f"(embedded defaults{''.join(', ' + kv for kv in a.setting)}, {os.cpu_count()} cores); "
                      f"peak = VmHWM.\n\n{table}")


if __name__ == "__main__":
    main()
