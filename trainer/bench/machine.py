"""The machine a benchmark ran on, and the GPU peak that MFU is measured against."""
from __future__ import annotations

import os
import platform
from typing import Any

import torch

#: Dense bf16 tensor-core peaks (FLOP/s, no sparsity) by a substring of ``torch.cuda.get_device_name``.
#: Order matters: the first match wins, so the more specific names come first.
BF16_PEAKS: tuple[tuple[str, float], ...] = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),      # SXM / HBM3
    ("H200", 989e12),
    ("A100", 312e12),
)


def bf16_peak(device_name: str) -> float | None:
    """The GPU's dense bf16 peak in FLOP/s, or None for a GPU not in :data:`BF16_PEAKS`."""
    for key, peak in BF16_PEAKS:
        if key.lower() in device_name.lower():
            return peak
    return None


def load_average() -> list[float] | None:
    """1, 5 and 15 minute load averages (runnable processes), or None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask), not the host's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gpu_name() -> str | None:
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPU, cores, torch threads, load, GPU, versions."""
    name = gpu_name()
    return {
        "cpu": cpu_model(),
        "cores": usable_cores(),
        "torch_threads": torch.get_num_threads(),
        "load_average": load_average(),
        "gpu": name or "none",
        "gpu_bf16_peak_flops": bf16_peak(name) if name else None,
        "torch": torch.__version__,
        "cuda": torch.version.cuda or "none",
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
