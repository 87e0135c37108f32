"""What-if comparison: which record fields changed between two predictions, and how the result moved."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ehr import FIELD_SPECS
from alifuse_gui.record_model import entry_text


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per changed field, in field order: ``"MMSE: 29 -> 22"`` (unknown shown as 'unknown')."""
    lines = []
    for name, spec in FIELD_SPECS.items():
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if name == "summary":
            lines.append(f"{spec.label}: edited")
            continue
        show = lambda v: "unknown" if v is None else entry_text(v)  # noqa: E731
        lines.append(f"{spec.label}: {show(a)} -> {show(b)}")
    return lines


@dataclass
class Run:
    """One prediction as the result panel keeps it: the record it used and the outcome."""

    ehr: dict[str, Any]
    label: str
    probabilities: dict[str, float]
    image_path: str


def probability_shift(previous: Run, current: Run) -> dict[str, float]:
    """Per class: current minus previous probability."""
    return {c: current.probabilities.get(c, 0.0) - previous.probabilities.get(c, 0.0) for c in current.probabilities}
