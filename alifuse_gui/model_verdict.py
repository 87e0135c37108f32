"""What a model card says first, without Qt: is the model trained, how well it did on how many validation cases, and
what it was trained on (a synthetic cohort or a real table).

"Trained" is not a verdict: a 4-epoch run scored on one validation case is trained. The verdict rests on the
validation metrics and their number of cases, as the trainer stored them in the checkpoint's provenance
(``provenance["val"]``: ``acc``, ``auc``, ``balanced_acc``, ``n``), and on where the training data came from.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

#: Fewer validation cases than this cannot support a verdict: at 30, a 95 % interval on an accuracy of 0.7 is
#: already 0.52-0.83.
MIN_VALIDATION_CASES = 30
#: cohort.json of an alifuse-synth cohort is read to tell a synthetic cohort apart; a bigger file is not read
_MAX_COHORT_JSON = 64 << 20
_TABLE_KINDS = {"adni": "ADNI", "nacc": "NACC", "aibl": "AIBL", "oasis2": "OASIS-2", "miriad": "MIRIAD"}

UNTRAINED_TEXT = ("UNTRAINED: this checkpoint holds random weights. Its predictions mean nothing; "
                  "train a model (alifuse-train, or Train a model… in the viewer) before reading any result.")

#: colour of each verdict level on the card
LEVEL_COLOURS = {"untrained": "#c0392b", "poor": "#c0392b", "caution": "#b26a00", "validated": "#1e8449"}


@dataclass
class Verdict:
    """``level``: untrained | poor (not enough or chance-level validation) | caution | validated; ``headline``
    first, then ``facts`` (validation, training data) before any hyper-parameter."""

    level: str
    headline: str
    facts: list[str] = field(default_factory=list)

    @property
    def colour(self) -> str:
        return LEVEL_COLOURS[self.level]


def wilson_interval(p: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson score interval of a proportion ``p`` measured on ``n`` cases."""
    if n <= 0:
        return 0.0, 1.0
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _num(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else None


def validation_text(val: Mapping[str, Any]) -> str:
    """``"Validation: ACC 0.700 (95% CI 0.52-0.83), AUC 0.890, balanced accuracy 0.651 on 30 cases"``."""
    n = val.get("n") if isinstance(val.get("n"), int) else None
    parts = []
    if (acc := _num(val.get("acc"))) is not None:
        ci = f" (95% CI {wilson_interval(acc, n)[0]:.2f}-{wilson_interval(acc, n)[1]:.2f})" if n else ""
        parts.append(f"ACC {acc:.3f}{ci}")
    if (auc := _num(val.get("auc"))) is not None:
        parts.append(f"AUC {auc:.3f}")
    if (bal := _num(val.get("balanced_acc"))) is not None:
        parts.append(f"balanced accuracy {bal:.3f}")
    where = f" on {n} case{'s' if n != 1 else ''}" if n is not None else " (number of cases not recorded)"
    return "Validation: " + (", ".join(parts) if parts else "no scores") + where


def _cohort(folder: Path) -> dict | None:
    """The alifuse-synth summary of ``folder`` (cohort.json), or None."""
    p = folder / "cohort.json"
    try:
        if not p.is_file() or p.stat().st_size > _MAX_COHORT_JSON:
            return None
        summary = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) and summary.get("generator") == "alifuse-synth" else None


def training_data(provenance: Mapping[str, Any]) -> tuple[str, bool | None]:
    """(the line naming the training data and its table, synthetic?) — synthetic is None when it cannot be told
    (the data is not on this machine)."""
    spec = provenance.get("data")
    if not isinstance(spec, str) or not spec:
        return "Training data: not recorded in the checkpoint", None
    kind, _, rest = spec.partition(":")
    if kind.lower() in _TABLE_KINDS and rest:
        table = Path(rest.split(":", 1)[0])
        what, folder = f"{_TABLE_KINDS[kind.lower()]} table {table}", table.parent
    else:
        p = Path(spec)
        if p.suffix.lower() == ".csv":
            what, folder = f"manifest table {p}", p.parent
        else:
            what, folder = f"cohort folder {p} (its manifest.csv)", p
    cohort = _cohort(folder)
    extra = ""
    if isinstance(provenance.get("record_only"), int) and provenance["record_only"] > 0:
        extra = f"; plus {provenance['record_only']} synthetic record-only cases"
    if cohort is not None:
        n = cohort.get("n_subjects")
        about = ", ".join(x for x in (str(cohort.get("dataset") or ""), f"{n} subjects" if n else "") if x)
        return f"Training data: SYNTHETIC cohort (alifuse-synth{', ' + about if about else ''}), {what}{extra}", True
    if folder.exists():
        return f"Training data: {what}{extra} (not an alifuse-synth cohort)", False
    hint = "; its name suggests a synthetic cohort" if "synth" in spec.lower() else ""
    return (f"Training data: {what}{extra} (not on this machine: cannot tell whether it is synthetic{hint})",
            None)


def verdict(trained: bool, provenance: Mapping[str, Any], num_classes: int) -> Verdict:
    """The card's first line and facts, from the checkpoint's ``trained`` flag and provenance."""
    data_line, synthetic = training_data(provenance)
    if not trained:
        return Verdict("untrained", UNTRAINED_TEXT, [data_line] if provenance.get("data") else [])
    val = provenance.get("val") if isinstance(provenance.get("val"), Mapping) else {}
    facts = [validation_text(val) if val else "Validation: none recorded", data_line]
    n = val.get("n") if isinstance(val.get("n"), int) and not isinstance(val.get("n"), bool) else None
    score = _num(val.get("balanced_acc"))
    score = score if score is not None else _num(val.get("acc"))
    if not val or score is None:
        return Verdict("caution", "Trained, but NOT VALIDATED: the checkpoint carries no validation scores, so "
                       "nothing says how often it is right.", facts)
    if n is None:
        return Verdict("caution", "Trained; its validation scores do not say on how many cases they were measured: "
                       "treat them as unproven.", facts)
    if n < MIN_VALIDATION_CASES:
        return Verdict("poor", f"NOT ENOUGH VALIDATION: scored on only {n} validation case{'s' if n != 1 else ''} "
                       f"(at least {MIN_VALIDATION_CASES} are needed for a verdict); its scores say next to nothing.",
                       facts)
    chance = 1.0 / max(2, num_classes)
    if wilson_interval(score, n)[0] <= chance:
        return Verdict("poor", f"NO BETTER THAN CHANCE on {n} validation cases (chance is {chance:.2f}): do not "
                       "read its predictions.", facts)
    if synthetic:
        return Verdict("caution", f"Validated on {n} cases of a SYNTHETIC cohort only: a demonstration, not evidence "
                       "about real patients.", facts)
    if synthetic is None and "synth" in str(provenance.get("data", "")).lower():
        return Verdict("caution", f"Validated on {n} cases of what looks like a SYNTHETIC cohort (the data is not on "
                       "this machine to check): a demonstration, not evidence about real patients.", facts)
    return Verdict("validated", f"Trained and validated on {n} held-out cases.", facts)
