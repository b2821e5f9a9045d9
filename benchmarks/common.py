"""What every benchmark script shares: machine information, percentiles, and writing results."""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_mib() -> float | None:
    """Total RAM from /proc/meminfo (Linux), else None."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        pass
    return None


def gpus() -> list[dict[str, Any]]:
    """Name, driver and memory of each NVIDIA GPU (`nvidia-smi`), with torch's CUDA version when torch is already
    imported (this does not import it). [] on a machine without nvidia-smi or without a GPU."""
    if not shutil.which("nvidia-smi"):
        return []
    query = ["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader,nounits"]
    try:
        lines = subprocess.run(query, capture_output=True, text=True, timeout=20, check=True).stdout.splitlines()
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in lines:
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 3:
            out.append({"name": parts[0], "driver": parts[1], "memory_mib": float(parts[2])})
    torch = sys.modules.get("torch")
    if torch is not None and out:
        for gpu in out:
            gpu["torch_cuda"] = torch.version.cuda
    return out


def machine_info(packages: tuple[str, ...] = ()) -> dict[str, Any]:
    """CPU, cores, RAM, GPUs (name, driver, memory), OS, Python, the versions of `packages` (None when absent) and
    the UTC date."""
    versions = {}
    for pkg in ("rlvr", *packages):
        try:
            versions[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            versions[pkg] = None
    return {
        "cpu": cpu_name(),
        "cpu_count": os.cpu_count(),
        "memory_mib": memory_mib(),
        "gpus": gpus(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_avg_1_5_15": [round(x, 2) for x in os.getloadavg()],  # other work on the machine skews timings
        "versions": versions,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def percentile(xs: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation; nan for no data."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo, hi = int(k), min(int(k) + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def write_result(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
