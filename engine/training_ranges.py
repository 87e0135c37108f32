"""Where a case's demographics lie outside those of the cases the model learned from, and the note that says so.

A model answers for any age, but it learned what a brain looks like at each age from the scans it was trained on
(the demo model: 55 to 95 years): an age of 33 is extrapolation, and the product says so (``engine.predict`` adds the
note; alifuse-predict, the viewer's result card and the PDF report show it). alifuse-train stores the ranges of its
training split in the checkpoint's provenance (``record_ranges``); alifuse-calibrate adds them to a checkpoint
trained before them (it rebuilds the run's split). A checkpoint without them gives no note.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
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


def _number(v: Any) -> float | None:
    """``v`` as a finite float, or None (missing, a bool, text, NaN, or an integer too large for a float)."""
    if isinstance(v, bool) or not isinstance(v, Real):
        return None
    try:
        x = float(v)
    except OverflowError:
        return None
    return x if math.isfinite(x) else None


def bounds_problem(field: str, bounds: Any) -> str | None:
    """Why ``bounds`` cannot be a stored range of ``field`` (a checkpoint's metadata is untrusted), or None."""
    if field not in RANGE_FIELDS:
        return f"{field!r} is not one of {', '.join(RANGE_FIELDS)}"
    spec = FIELD_SPECS[field]
    xs = [_number(b) for b in bounds] if isinstance(bounds, list) and len(bounds) == 2 else [None]
    if None in xs or not spec.minimum <= xs[0] <= xs[1] <= spec.maximum:
        return (f"{field!r}: expected [lowest, highest], two numbers from {_fmt(spec.minimum)} to "
                f"{_fmt(spec.maximum)}, lowest first")
    return None


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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def record_ranges(ehrs: Iterable[Mapping[str, Any]]) -> dict[str, list[float]]:
    """{field: [lowest, highest]} of :data:`RANGE_FIELDS` over the (training) records that hold the field."""
    values: dict[str, list[float]] = {f: [] for f in RANGE_FIELDS}
    for ehr in ehrs:
        for f in RANGE_FIELDS:
            v = _number(ehr.get(f))
            if v is not None:
                values[f].append(v)
    return {f: [min(vs), max(vs)] for f, vs in values.items() if vs}


def outside(ehr: Mapping[str, Any], ranges: Mapping[str, Any] | None,
            fields: Iterable[str] = RANGE_FIELDS) -> list[OutOfRange]:
    """The record's values of ``fields`` outside the stored ``ranges`` (checked by ``bounds_problem`` when the
    checkpoint was read; none without ranges: an older checkpoint)."""
    found = []
    for f in fields:
        v, bounds = _number(ehr.get(f)), (ranges or {}).get(f)
        if v is None or bounds is None or bounds_problem(f, bounds):
            continue
        low, high = float(bounds[0]), float(bounds[1])
        if not low <= v <= high:
            found.append(OutOfRange(f, v, low, high))
    return found


def fields_read(uses_image: bool, reads_demographics: bool) -> tuple[str, ...]:
    """The range fields that matter to a model: the age for one that reads a scan (a brain of an age no scan showed)
    or the demographics; the schooling only for one that reads the demographics."""
    return tuple(f for f in RANGE_FIELDS if reads_demographics or (f == "age" and uses_image))


def outside_note(found: list[OutOfRange], uses_image: bool = True) -> str:
    """The prediction's note for a case outside the training cases' demographics (``found`` from :func:`outside`)."""
    # the scan is read against brains of the training ages: an age outside them reaches the image too
    scan_age = uses_image and any(u.field == "age" for u in found)
    what = "the answer, and what the model reads in a scan at this age," if scan_age else "the answer"
    return (f"outside the cases the model learned from: {'; '.join(map(str, found))}. No training case is like this "
            f"one there, so {what} is extrapolated")
