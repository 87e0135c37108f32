"""Scores of one record that disagree: a clinician rechecks them before reading any prediction.

The model learned from records whose scores agree with each other (a synthetic cohort drawn from one disease
severity per subject: trainer.synth.ehr_gen draws fewer than 1 in 1,000 records that any rule below flags). On a
record whose scores disagree by two stages or more it still answers, often surely, but no training case and no
calibration case stands behind that answer: such a prediction is said to be uncertain, with the reason.

The rules, each from the staging the textbook records of tests/model cite:
- The global CDR and the CDR sum of boxes rate the same six boxes (Morris 1993, Neurology). A global CDR of 0 needs
  memory 0 and at most one other box impaired, so its sum of boxes is at most 3; under the scoring rules a global CDR
  of 0.5, 1, 2 or 3 needs a sum of boxes of at least 0.5, 3.5, 7.5 or 10 (asked here: 0.5, 3, 6 and 9, a margin for
  a box scored a step off).
- An MMSE of 20 or less is in the range of dementia (Perneczky et al. 2006): it seldom goes with a clinical rating of
  no impairment (CDR 0, or a sum of boxes of 0), and where it does (little schooling, a language barrier, poor
  hearing or sight) the record should say so.
- Moderate or severe dementia (CDR 2 or 3; a sum of boxes of 9.5 or more, O'Bryant et al. 2008) seldom goes with an
  MMSE of 28 or more, the range of cognitively normal older adults.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from engine.ehr import FIELD_SPECS

#: the MMSE at or below which a score is in dementia's range, and at or above which it is in the normal range
MMSE_DEMENTIA_AT_MOST = 20
MMSE_NORMAL_AT_LEAST = 28
#: the sum of boxes of moderate dementia or worse (O'Bryant et al. 2008: 9.5-15.5 moderate, 16-18 severe)
CDR_SB_MODERATE_AT_LEAST = 9.5
#: the most a sum of boxes can be with a global CDR of 0 (memory 0 and one other box at most, scored 3 at most)
CDR_SB_WITH_CDR_0_AT_MOST = 3.0
#: global CDR -> the least sum of boxes asked beside it (the scoring rules need 0.5, 3.5, 7.5, 10)
CDR_SB_AT_LEAST = {0.5: 0.5, 1.0: 3.0, 2.0: 6.0, 3.0: 9.0}

_Rule = tuple[str, str, Callable[[float, float], bool], Callable[[float, float], str]]
#: (field a, field b, disagree(a, b), why(a, b) in words)
RULES: tuple[_Rule, ...] = (
    ("cdr", "cdr_sb", lambda cdr, sb: cdr == 0 and sb > CDR_SB_WITH_CDR_0_AT_MOST,
     lambda cdr, sb: "a global CDR of 0 allows at most one impaired box besides memory, a sum of boxes of 3 at most"),
    ("cdr", "cdr_sb", lambda cdr, sb: cdr in CDR_SB_AT_LEAST and sb < CDR_SB_AT_LEAST[cdr],
     lambda cdr, sb: f"a global CDR of {cdr:g} needs a sum of boxes of at least {CDR_SB_AT_LEAST[cdr]:g}"),
    ("mmse", "cdr", lambda mmse, cdr: mmse <= MMSE_DEMENTIA_AT_MOST and cdr == 0,
     lambda mmse, cdr: "an MMSE in the range of dementia seldom goes with a CDR of no impairment"),
    ("mmse", "cdr_sb", lambda mmse, sb: mmse <= MMSE_DEMENTIA_AT_MOST and sb == 0,
     lambda mmse, sb: "an MMSE in the range of dementia seldom goes with a sum of boxes of no impairment"),
    ("mmse", "cdr", lambda mmse, cdr: mmse >= MMSE_NORMAL_AT_LEAST and cdr >= 2,
     lambda mmse, cdr: "an MMSE in the normal range seldom goes with moderate or severe dementia"),
    ("mmse", "cdr_sb", lambda mmse, sb: mmse >= MMSE_NORMAL_AT_LEAST and sb >= CDR_SB_MODERATE_AT_LEAST,
     lambda mmse, sb: "an MMSE in the normal range seldom goes with a sum of boxes of moderate or severe dementia"),
)

@dataclass(frozen=True)
class Disagreement:
    """Two scores of one record that disagree."""

    pair: str   # the two scores as the form names them, e.g. "MMSE 10 and CDR 0"
    why: str    # the rule, in words

    def __str__(self) -> str:
        return f"{self.pair}: {self.why}"


def _value(ehr: dict[str, Any], name: str) -> float | None:
    v = ehr.get(name)
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v)
    except (TypeError, ValueError):  # not a number: validation names it elsewhere; no rule reads it
        return None


def _shown(name: str, value: float) -> str:
    return f"{FIELD_SPECS[name].label} {value:g}"


def disagreements(ehr: dict[str, Any]) -> list[Disagreement]:
    """The pairs of the (validated) record's scores that disagree, in :data:`RULES` order."""
    out = []
    for a, b, disagree, why in RULES:
        va, vb = _value(ehr, a), _value(ehr, b)
        if va is not None and vb is not None and disagree(va, vb):
            out.append(Disagreement(f"{_shown(a, va)} and {_shown(b, vb)}", why(va, vb)))
    return out


def pairs_text(found: list[Disagreement]) -> str:
    """The pairs found, one after the other: "MMSE 10 and CDR 0, and MMSE 10 and CDR sum of boxes 0"."""
    return ", and ".join(d.pair for d in found)


def disagreement_note(found: list[Disagreement]) -> str:
    """The prediction's note for a record whose scores disagree (``found`` from :func:`disagreements`)."""
    return ("the record's scores disagree (" + "; ".join(map(str, found)) + "): check them. The model learned from "
            "records whose scores agree, so almost no case like this one stands behind its answer, which is shown as "
            "uncertain")


def disagreement_certainty(found: list[Disagreement], best: str, p_best: float, calibrated: bool = True) -> str:
    """The prediction's one-line certainty for such a record: uncertain, and why."""
    return (f"Uncertain: {pairs_text(found)} disagree; {best} at {p_best:.1%} rests on almost no case like this one"
            + ("" if calibrated else " (and the checkpoint is not calibrated)"))


def scores_disagree(ehrs: Iterable[dict[str, Any]]) -> np.ndarray:
    """(N,) bool: which records have scores that disagree, i.e. which cases the product calls uncertain whatever
    the model's confidence (for evaluations that count the cases it answers, as the viewer shows them)."""
    return np.array([bool(disagreements(e)) for e in ehrs], dtype=bool)
