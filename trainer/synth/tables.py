"""The cohort as the tables real data sets ship: an ADNIMERGE-like and an OASIS-2-like CSV.

Both carry an extra column with the scan's path relative to the cohort folder: ``IMAGEPATH`` in
ADNIMERGE.csv, ``Image Path`` in oasis2.csv. Missing values are empty cells, as in the real files.
"""
from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from trainer.synth.cohort import SubjectSpec

ADNIMERGE_COLUMNS: tuple[str, ...] = (
    "RID", "PTID", "VISCODE", "EXAMDATE", "DX_bl", "DX", "AGE", "PTGENDER", "PTEDUCAT", "MMSE", "CDRSB",
    "LDELTOTAL", "IMAGEUID", "IMAGEPATH",
)
OASIS2_COLUMNS: tuple[str, ...] = (
    "Subject ID", "MRI ID", "Group", "Visit", "MR Delay", "M/F", "Hand", "Age", "EDUC", "SES", "MMSE", "CDR",
    "eTIV", "nWBV", "ASF", "Image Path",
)
_DX = {"NC": "CN", "MCI": "MCI", "AD": "Dementia"}
_SITES = (2, 11, 23, 33, 67, 99, 127, 130, 941)
_FIRST_EXAM = _dt.date(2006, 9, 1)
#: Mean eTIV (ml) of a head of scale 1; OASIS's atlas scaling factor is ASF = 1755 / eTIV.
_ETIV_ML = 1480.0


def _get(ehr: dict[str, Any], key: str) -> Any:
    return ehr.get(key, "")


def _dx_bl(spec: SubjectSpec) -> str:
    if spec.latents.label == "MCI":  # ADNI splits MCI at baseline into early and late
        return "LMCI" if spec.latents.severity >= 0.45 else "EMCI"
    return {"NC": "CN", "AD": "AD"}[spec.latents.label]


def adnimerge_rows(specs: list[SubjectSpec]) -> pd.DataFrame:
    rows = []
    for spec in specs:
        e, x = spec.ehr, spec.extras
        rows.append({
            "RID": spec.index, "PTID": f"{x['site']:03d}_S_{spec.index:04d}", "VISCODE": "bl",
            "EXAMDATE": (_FIRST_EXAM + _dt.timedelta(days=x["exam_day"])).isoformat(),
            "DX_bl": _dx_bl(spec), "DX": _DX[spec.latents.label], "AGE": spec.latents.age,
            "PTGENDER": spec.latents.sex.capitalize(), "PTEDUCAT": _get(e, "education_years"),
            "MMSE": _get(e, "mmse"), "CDRSB": _get(e, "cdr_sb"), "LDELTOTAL": _get(e, "logical_memory_delayed"),
            "IMAGEUID": x["image_uid"], "IMAGEPATH": spec.image_name,
        })
    return pd.DataFrame(rows, columns=list(ADNIMERGE_COLUMNS))


def _oasis_group(spec: SubjectSpec) -> str:
    if spec.latents.label == "NC":
        return "Nondemented"
    # OASIS-2 calls very mild (CDR 0.5) impairment "Demented"; an MCI still at CDR 0 converts later.
    if spec.latents.label == "MCI" and spec.ehr.get("cdr") == 0.0:
        return "Converted"
    return "Demented"


def oasis2_rows(specs: list[SubjectSpec]) -> pd.DataFrame:
    rows = []
    for spec in specs:
        e, x = spec.ehr, spec.extras
        hand = e.get("handedness")
        rows.append({
            "Subject ID": f"OAS2_{spec.index:04d}", "MRI ID": f"OAS2_{spec.index:04d}_MR1",
            "Group": _oasis_group(spec), "Visit": 1, "MR Delay": 0,
            "M/F": "F" if spec.latents.sex == "female" else "M", "Hand": hand[0].upper() if hand else "",
            "Age": int(spec.latents.age), "EDUC": _get(e, "education_years"), "SES": _get(e, "ses"),
            "MMSE": _get(e, "mmse"), "CDR": _get(e, "cdr"),
            "eTIV": x["etiv"], "nWBV": x["nwbv"], "ASF": round(1755.0 / x["etiv"], 3),
            "Image Path": spec.image_name,
        })
    return pd.DataFrame(rows, columns=list(OASIS2_COLUMNS))


def sample_extras(rng: np.random.Generator, severity: float, age: float, head_scale: float) -> dict[str, Any]:
    """Table-only facts: site, exam date, image id, eTIV (ml) and normalised whole-brain volume."""
    etiv = int(round(_ETIV_ML * head_scale ** 3 * (1.0 + rng.normal(0.0, 0.02))))
    nwbv = float(np.clip(0.80 - 0.0028 * (age - 60.0) - 0.05 * severity + rng.normal(0.0, 0.01), 0.6, 0.85))
    return {"site": int(rng.choice(_SITES)), "exam_day": int(rng.integers(0, 6 * 365)),
            "image_uid": int(rng.integers(10_000, 999_999)), "etiv": etiv, "nwbv": round(nwbv, 3)}


def write_tables(specs: list[SubjectSpec], out_dir: Path) -> None:
    adnimerge_rows(specs).to_csv(out_dir / "ADNIMERGE.csv", index=False)
    oasis2_rows(specs).to_csv(out_dir / "oasis2.csv", index=False)
