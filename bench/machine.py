"""The machine a benchmark ran on (CPU model, cores, kernel, Python, Envoy), for every result envelope."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from functools import lru_cache
from pathlib import Path


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    found = re.search(r"^model name\s*:\s*(.+)$", text, re.M)
    return found.group(1).strip() if found else platform.processor() or "unknown"


@lru_cache(maxsize=1)
def envoy_version() -> str:
    try:
        from smimesh.local.binaries import find_envoy

        done = subprocess.run([str(find_envoy()), "--version"], capture_output=True, text=True, timeout=30)
    except Exception as error:  # the report must still render without Envoy
        return f"unknown ({type(error).__name__})"
    found = re.search(r"version:\s*\S+/(\d+\.\d+\.\d+)", done.stdout)
    return found.group(1) if found else done.stdout.strip()[:80] or "unknown"


def describe() -> dict[str, object]:
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "envoy": envoy_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
