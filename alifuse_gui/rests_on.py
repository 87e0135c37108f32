"""What one prediction rests on, in a line for the result card (no Qt, no torch): how far it moves with the MRI or
the record hidden (engine.explain.reliance), and whether the record had anything in it for the model to read."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from engine.ehr import FIELD_SPECS

#: how the sentences name each modality
_NAMES = {"image": "the MRI", "record": "the record"}


@dataclass(frozen=True)
class RestsOn:
    """The card's line and whether it is a warning (shown amber): the record was empty, or the prediction hardly
    depends on one of the two."""

    text: str
    warning: bool


def record_is_empty(ehr: Mapping[str, Any]) -> bool:
    """True when the record holds no field the model reads (the subject ID is never given to it)."""
    return not any(FIELD_SPECS[name].kind != "id" for name in ehr if name in FIELD_SPECS)


def rests_on(reliance, ehr: Mapping[str, Any]) -> RestsOn | None:
    """The line for ``reliance`` (an ``engine.explain.reliance.ModalityReliance``, or None when not measured) of a
    prediction from the record ``ehr``; None when there is nothing to say."""
    empty = record_is_empty(ehr)
    parts, weak = [], []
    if reliance is not None:
        for modality, name in _NAMES.items():
            shift = reliance.shift(modality)
            if shift is None:
                continue
            parts.append(f"hiding {name} moves its probabilities by {100 * shift:.1f} points")
            if reliance.weak(modality):
                weak.append(name)
    lines = []
    if empty:
        lines.append("The record was empty: this prediction rests on the MRI alone.")
    if parts:
        lines.append("Rests on: " + "; ".join(parts) + ".")
    lines += [f"It hardly depends on {name}." for name in weak if not (empty and name == "the record")]
    if not lines:
        return None
    return RestsOn(" ".join(lines), empty or bool(weak))
