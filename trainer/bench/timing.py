"""Repeated timing: the median of N runs after warm-up, with the machine load recorded beside it."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Callable

import torch

from trainer.bench.machine import load_average


@dataclass
class Timing:
    """Seconds of each timed repeat; ``load`` is the 1-minute load average before and after."""

    seconds: list[float] = field(default_factory=list)
    load: list[float | None] = field(default_factory=list)
    #: the untimed warm-up runs together (torch.compile's compilation lands there)
    warmup_s: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def detail(self) -> dict:
        return {"repeats": len(self.seconds), "median_s": round(self.median, 6),
                "min_s": round(min(self.seconds), 6), "max_s": round(max(self.seconds), 6),
                "load_1m_before_after": self.load,
                **({"warmup_s": round(self.warmup_s, 3)} if self.warmup_s is not None else {})}


def _sync(device: torch.device | str | None) -> None:
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_it(fn: Callable[[], object], repeats: int, warmup: int = 1,
            device: torch.device | str | None = None) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``repeats`` times timed (CUDA synchronised on both ends)."""
    t0 = time.perf_counter()
    for _ in range(warmup):
        fn()
    _sync(device)
    warm = time.perf_counter() - t0 if warmup else None
    la = load_average()
    t = Timing(load=[la[0] if la else None], warmup_s=warm)
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        _sync(device)
        t.seconds.append(time.perf_counter() - t0)
    la = load_average()
    t.load.append(la[0] if la else None)
    return t
