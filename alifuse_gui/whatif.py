"""What-if comparison: which record fields changed between two predictions, and how the result moved."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine.ehr import FIELD_SPECS
from alifuse_gui.record_model import entry_text, form_label


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """One line per changed field, in field order, named as the form names it: ``"MMSE (points): 29 -> 22"``
    (unknown shown as 'unknown')."""
    lines = []
    for name in FIELD_SPECS:
        a, b = before.get(name), after.get(name)
        if a == b:
            continue
        if name == "summary":
            lines.append(f"{form_label(name)}: edited")
            continue
        show = lambda v: "unknown" if v is None else entry_text(v)  # noqa: E731
        lines.append(f"{form_label(name)}: {show(a)} -> {show(b)}")
    return lines


@dataclass
class Run:
    """One prediction as the result panel keeps it: the record, the image and the model it used, and the outcome.

    ``model`` is the checkpoint's id (the digest of its tensors), ``model_name`` what the user knows it by (the
    file name); ``case_serial`` tells two opens of one file apart."""

    ehr: dict[str, Any]
    label: str
    probabilities: dict[str, float]
    image_path: str
    model: str = ""
    model_name: str = ""
    case_serial: int | None = None


def changes(previous: Run, current: Run) -> list[str]:
    """What differs between two predictions, the model and the image first, then the record fields.

    A model change is a change: AD 97.7 % becoming NC 43.1 % after switching the model is not "nothing"."""
    lines = []
    if previous.model != current.model:
        name = lambda r: r.model_name or r.model or "unknown"  # noqa: E731
        same_name = name(previous) == name(current)
        lines.append(f"Model: {name(previous)} -> {name(current)}" +
                     (f" (id {previous.model or 'unknown'} -> {current.model or 'unknown'})" if same_name else ""))
    if previous.image_path != current.image_path:
        lines.append("Image: another file")
    elif previous.case_serial != current.case_serial:
        lines.append("Image: opened again")
    return lines + changed_fields(previous.ehr, current.ehr)


def changes_text(previous: Run, current: Run) -> str:
    """The what-if line under the two result cards."""
    lines = changes(previous, current)
    return "Changed since the previous prediction: " + ("; ".join(lines) if lines else "nothing")


def probability_shift(previous: Run, current: Run) -> dict[str, float]:
    """Per class: current minus previous probability."""
    return {c: current.probabilities.get(c, 0.0) - previous.probabilities.get(c, 0.0) for c in current.probabilities}
