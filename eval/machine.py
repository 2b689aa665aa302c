"""What a figure was measured on, for every results table: the CPU model (as ``lscpu`` names it)
and its cores, and the GPU when there is one."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from functools import cache


@cache
def cpu() -> str:
    name = ""
    if shutil.which("lscpu"):
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        name = next((line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name")), "")
    if not name:
        try:
            text = open("/proc/cpuinfo").read()
            name = re.search(r"model name\s*:\s*(.+)", text).group(1).strip()
        except (OSError, AttributeError):
            name = "unknown CPU"
    return f"{name}, {os.cpu_count()} cores"


@cache
def gpu() -> str | None:
    if not shutil.which("nvidia-smi"):
        return None
    out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True)
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def describe() -> str:
    """'on <CPU>' or 'on <GPU> (CPU: <CPU>)'."""
    g = gpu()
    return f"on {g} (CPU: {cpu()})" if g else f"on {cpu()}"
