"""Where a case's demographics lie outside those of the cases the model learned from, and the note that says so.

A model answers for any age, but it learned what a brain looks like at each age from the scans it was trained on
(the demo model: 55 to 95 years): an age of 33 is extrapolation, and the product says so (``engine.predict`` adds the
note; alifuse-predict, the viewer's result card and the PDF report show it). alifuse-train stores the ranges of its
training split in the checkpoint's provenance (``record_ranges``); alifuse-calibrate adds them to a checkpoint
trained before them (it rebuilds the run's split). A checkpoint without them gives no note.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from engine.ehr import FIELD_SPECS

#: the numbers whose training range is checked: the demographics. The scores are not: their scales are taught end to
#: end (records without a scan reach their ends), and a model that reads them as numbers reads every value
#: monotonically
RANGE_FIELDS: tuple[str, ...] = ("age", "education_years")
#: where a checkpoint's provenance keeps them: {field: [lowest, highest]}
PROVENANCE_KEY = "record_ranges"


def _fmt(x: float) -> str:
    return f"{x:g}"


@dataclass(frozen=True)
class OutOfRange:
    """One value of a case outside the training cases' range of its field."""

    field: str
    value: float
    low: float
    high: float

    def __str__(self) -> str:
        spec = FIELD_SPECS[self.field]
        unit = f" {spec.unit}" if spec.unit else ""
        return f"{spec.label} {_fmt(self.value)}{unit} (the training cases: {_fmt(self.low)}-{_fmt(self.high)})"


def record_ranges(ehrs: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """{field: [lowest, highest]} of :data:`RANGE_FIELDS` over the (training) records that hold the field."""
    values: dict[str, list[float]] = {f: [] for f in RANGE_FIELDS}
    for ehr in ehrs:
        for f in RANGE_FIELDS:
            v = ehr.get(f)
            if isinstance(v, (int, float)) and not isinstance(v, bool) and v == v:  # v == v: not NaN
                values[f].append(float(v))
    return {f: [min(vs), max(vs)] for f, vs in values.items() if vs}


def outside(ehr: Mapping[str, Any], ranges: Mapping[str, Any] | None) -> list[OutOfRange]:
    """The (validated) record's values outside the stored ``ranges`` (none without ranges: an older checkpoint)."""
    found = []
    for f, bounds in (ranges or {}).items():
        v = ehr.get(f)
        if f not in RANGE_FIELDS or v is None or isinstance(v, bool):
            continue
        low, high = float(bounds[0]), float(bounds[1])
        if not low <= float(v) <= high:
            found.append(OutOfRange(f, float(v), low, high))
    return found


def outside_note(found: list[OutOfRange]) -> str:
    """The prediction's note for a case outside the training cases' demographics (``found`` from :func:`outside`)."""
    # the scan is read against brains of the training ages: an age outside them reaches the image too
    what = ("the answer, and what the model reads in a scan at this age," if any(u.field == "age" for u in found)
            else "the answer")
    return (f"outside the cases the model learned from: {'; '.join(map(str, found))}. No training case is like this "
            f"one there, so {what} is extrapolated")
