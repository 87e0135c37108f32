"""The open case without Qt: whose scan it is, what a prediction was made from, and whether it still describes
what is on screen.

One patient at a time (DESIGN.md): a new scan starts a new case unless the user says it is the same patient,
and a result, a map or a report is shown only as long as the image, the record and the model it came from are
the ones on screen. The session (``alifuse_gui._qt.session``) keeps the state; these rules decide.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from alifuse_gui.whatif import changed_fields


@dataclass(frozen=True)
class Inputs:
    """What a prediction is made from: the opened image (``case_serial`` counts the opens, so the same file opened
    again as a new case is another image), the normalised record, and the model (``model_serial`` counts the models
    loaded)."""

    case_serial: int
    image_path: str
    record: Mapping[str, Any] = field(default_factory=dict)
    record_valid: bool = True
    model_serial: int = 0

    def record_key(self) -> str:
        return json.dumps(dict(self.record), sort_keys=True, default=str)


def stale_reasons(made_from: Inputs | None, now: Inputs | None) -> list[str]:
    """Why a prediction made from ``made_from`` no longer describes ``now`` ([] while it does, or when there is
    none); each reason a phrase: "the record changed (MMSE: 24 -> 12)"."""
    if made_from is None:
        return []
    if now is None:
        return ["the image was closed"]
    reasons = []
    if made_from.case_serial != now.case_serial:
        reasons.append("another image was opened")
    if made_from.model_serial != now.model_serial:
        reasons.append("another model was loaded")
    if not now.record_valid:
        reasons.append("the record has invalid fields")
    elif made_from.record_key() != now.record_key():
        lines = changed_fields(dict(made_from.record), dict(now.record))
        reasons.append("the record changed" + (f" ({'; '.join(lines)})" if lines else ""))
    return reasons


def stale_message(reasons: list[str]) -> str:
    """The line the result card shows while it is out of date ('' while it is current)."""
    if not reasons:
        return ""
    return f"OUT OF DATE: {join_reasons(reasons)} since this prediction. Press Predict for a current result."


def report_refusal(reasons: list[str]) -> str:
    """Why the report is not written while the result on screen is out of date."""
    return (f"The result on screen is out of date: {join_reasons(reasons)} since the prediction. The report "
            "describes only a current result: press Predict (and Explain, for the maps) again, then export.")


def join_reasons(reasons: list[str]) -> str:
    return reasons[0] if len(reasons) == 1 else ", ".join(reasons[:-1]) + " and " + reasons[-1]


# -- whose scan it is --

def patient_text(metadata: Mapping[str, str]) -> str:
    """``"DICOM patient DOE JANE (ID 12345)"``, or '' when the file names no patient (NIfTI files do not)."""
    pid, name = metadata.get("patient_id"), metadata.get("patient_name")
    if name and pid:
        return f"DICOM patient {name} (ID {pid})"
    if pid:
        return f"DICOM patient ID {pid}"
    if name:
        return f"DICOM patient {name}"
    return ""


def case_text(image_path: str | None, metadata: Mapping[str, str], record_subject: str | None = None) -> str:
    """The case line shown above the result: the scan, whose it is (DICOM), the record's subject."""
    if image_path is None:
        return "No case open: File → Open MRI image… starts one."
    parts = [f"Case: {Path(image_path).name}"]
    if (who := patient_text(metadata)):
        parts.append(who)
    if record_subject:
        parts.append(f"record of subject {record_subject}")
    return "  ·  ".join(parts)


def _same_id(a: str, b: str) -> bool:
    return a.strip().casefold() == b.strip().casefold()


def subject_mismatch(record_subject: Any, metadata: Mapping[str, str]) -> str | None:
    """A warning when the record's ``subject_id`` is not the scan's DICOM patient ID, else None (also when either
    is unknown: there is nothing to compare)."""
    pid = metadata.get("patient_id")
    if not pid or record_subject is None or not str(record_subject).strip():
        return None
    if _same_id(str(record_subject), pid):
        return None
    return (f"The record is of subject {record_subject}, the scan of DICOM patient ID {pid}: "
            "are they the same patient?")
