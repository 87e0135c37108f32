"""What a benchmark run found: figures by name, skipped figures with the reason, details and notes."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from trainer.bench.timing import Timing


@dataclass
class Results:
    """``figures``: name -> number (seconds, per second, FLOPs or a fraction); ``skipped``: name -> reason."""

    figures: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, name: str, value: float | Timing, **detail: Any) -> None:
        """Record a figure; a :class:`Timing` records its median and its repeats/load as details."""
        if isinstance(value, Timing):
            detail = {**value.detail(), **detail}
            value = value.median
        self.figures[name] = float(value)
        self.skipped.pop(name, None)
        if detail:
            self.details[name] = detail

    def skip(self, name: str, reason: str) -> None:
        if name not in self.figures:
            self.skipped[name] = reason

    def to_dict(self) -> dict[str, Any]:
        return {"figures": dict(self.figures), "skipped": dict(self.skipped), "details": dict(self.details),
                "notes": list(self.notes)}
