"""Per-subject latent disease state and the EHR drawn from it (DESIGN.md "EHR" fields and ranges).

Every score follows the latent severity with noise, so classes overlap and no field copies the label.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from trainer.synth.narrative import write_summary

CLASSES: tuple[str, ...] = ("NC", "MCI", "AD")

# Severity ~ Beta(a, b) per class: NC near 0, MCI moderate, AD high, with overlapping tails.
_SEVERITY_BETA = {"NC": (1.2, 12.0), "MCI": (4.0, 5.5), "AD": (7.0, 3.0)}
_AGE = {"NC": (72.0, 6.0), "MCI": (73.0, 7.0), "AD": (75.0, 8.0)}
_FEMALE = {"NC": 0.55, "MCI": 0.43, "AD": 0.46}
_HANDS = (("right", 0.88), ("left", 0.09), ("ambidextrous", 0.03))
#: Probability that a field is absent from a record ("summary": absent for ~40 %).
MISSING_RATE: dict[str, float] = {
    "mmse": 0.125, "cdr": 0.06, "cdr_sb": 0.15, "logical_memory_delayed": 0.22, "ses": 0.18,
    "education_years": 0.04, "handedness": 0.10, "summary": 0.40,
}


@dataclass(frozen=True)
class Latents:
    """What the generator knows and the record only hints at."""

    label: str        # NC / MCI / AD
    severity: float   # 0..1 latent disease severity
    age: float        # years, with a decimal
    sex: str          # female / male


def sample_latents(rng: np.random.Generator, label: str) -> Latents:
    a, b = _SEVERITY_BETA[label]
    mean, sd = _AGE[label]
    return Latents(
        label=label,
        severity=round(float(rng.beta(a, b)), 4),
        age=round(float(np.clip(rng.normal(mean, sd), 55.0, 95.0)), 1),
        sex="female" if rng.random() < _FEMALE[label] else "male",
    )


def _half_steps(x: float, lo: float, hi: float) -> float:
    return float(np.clip(round(x * 2.0) / 2.0, lo, hi))


#: how a subject's global CDR is drawn: "cohort" (this generator's: 10 % of MCI subjects CDR 0, a few NC 0.5) or
#: "adni" (ADNI's enrolment criteria: NC always 0, MCI always 0.5, AD as "cohort"). Only "cohort" makes the imaged
#: cohorts; "adni" is scripts/generator_posterior.py's question of what such a cohort would teach.
CDR_RULES = ("cohort", "adni")


def _cdr(rng: np.random.Generator, lat: Latents, rule: str = "cohort") -> float:
    if rule not in CDR_RULES:
        raise ValueError(f"cdr_rule {rule!r}: not one of {', '.join(CDR_RULES)}")
    drawn = _cdr_cohort(rng, lat)  # drawn under either rule, so the random stream reaches CDR-SB as the cohort's
    if rule == "adni" and lat.label in ("NC", "MCI"):
        return 0.0 if lat.label == "NC" else 0.5
    return drawn


def _cdr_cohort(rng: np.random.Generator, lat: Latents) -> float:
    s = lat.severity
    if lat.label == "NC":
        return 0.5 if rng.random() < 0.03 + 0.3 * s else 0.0
    if lat.label == "MCI":
        u = rng.random()
        return 0.0 if u < 0.10 else (1.0 if u > 0.97 else 0.5)
    z = s + rng.normal(0.0, 0.12)
    return 0.5 if z < 0.6 else 1.0 if z < 0.92 else 2.0 if z < 1.08 else 3.0


def _cdr_sb(rng: np.random.Generator, cdr: float, s: float) -> float:
    """Sum of boxes consistent with the global CDR (0-18 in half steps)."""
    if cdr == 0.0:
        return 0.5 if rng.random() < 0.15 else 0.0
    lo, hi, centre = {0.5: (0.5, 4.0, 0.5 + 3.5 * s), 1.0: (3.0, 9.0, 3.0 + 5.0 * s),
                      2.0: (9.0, 15.5, 10.0 + 3.0 * s), 3.0: (15.5, 18.0, 16.5)}[cdr]
    return _half_steps(centre + rng.normal(0.0, 0.8), lo, hi)


def sample_ehr(rng: np.random.Generator, lat: Latents, subject_id: str, cdr_rule: str = "cohort") -> dict[str, Any]:
    """One record: all fields drawn, then some removed as in real cohorts (missing = absent). ``cdr_rule``: one of
    :data:`CDR_RULES`."""
    s = lat.severity
    edu = int(np.clip(round(rng.normal(16.0 - 1.0 * s, 2.8)), 6, 20))
    hand = _HANDS[int(rng.choice(len(_HANDS), p=[p for _, p in _HANDS]))][0]
    mmse_mean = 29.6 - 2.0 * s - 14.0 * s ** 3 - 0.03 * (lat.age - 73.0) + 0.12 * (edu - 16.0)
    mmse = int(np.clip(round(rng.normal(mmse_mean, 0.8 + 2.4 * s)), 0, 30))
    cdr = _cdr(rng, lat, cdr_rule)
    ses = int(np.clip(round(5.3 - (edu - 6) / 3.5 + rng.normal(0.0, 0.7)), 1, 5))  # 1 = highest
    ehr: dict[str, Any] = {
        "subject_id": subject_id,
        "age": int(lat.age),
        "sex": lat.sex,
        "education_years": edu,
        "handedness": hand,
        "mmse": mmse,
        "cdr": cdr,
        "cdr_sb": _cdr_sb(rng, cdr, s),
        "logical_memory_delayed": int(np.clip(round(rng.normal(14.5 * (1.0 - s) ** 1.6, 3.0)), 0, 25)),
        "ses": ses,
    }
    summary = write_summary(rng, s, lat.sex, int(lat.age), cdr, hand)
    ehr["summary"] = summary
    # One draw per field in a fixed order, so the missingness pattern is reproducible.
    for name, rate in MISSING_RATE.items():
        if rng.random() < rate:
            ehr.pop(name)
    return ehr


def _widen(rng: np.random.Generator, ehr: dict[str, Any], label: str) -> None:
    """Reach the ends of each scale that the imaged cohort seldom shows (its scores follow a Beta severity).

    A text model meets score values only in context; values it never saw in a field (MMSE 4, a delayed recall of
    25, a 30-year-old) it would read at random. Published anchors: MMSE 0-9 severe, 10-18 moderate dementia
    (Folstein 1975; Perneczky et al. 2006), CDR 2-3 with CDR-SB 9.5-18 in moderate-severe dementia (O'Bryant et al.
    2008); healthy adults recall 10-25 story units after a delay (WMS-R Logical Memory II norms)."""
    u = rng.random(4)
    if label == "AD" and u[0] < 0.35:  # moderate to severe dementia
        cdr = float(rng.choice([1.0, 2.0, 3.0], p=[0.3, 0.4, 0.3]))
        ehr["cdr"] = cdr
        lo, hi = {1.0: (4.5, 9.0), 2.0: (9.5, 15.5), 3.0: (16.0, 18.0)}[cdr]
        ehr["cdr_sb"] = float(rng.integers(int(lo * 2), int(hi * 2) + 1)) / 2.0
        ehr["mmse"] = int(rng.integers(0, {1.0: 21, 2.0: 16, 3.0: 11}[cdr]))
        ehr["logical_memory_delayed"] = int(rng.integers(0, 4))
    if label == "NC" and u[1] < 0.3:  # sharp healthy adults
        ehr["mmse"] = int(rng.integers(28, 31))
        ehr["logical_memory_delayed"] = int(rng.integers(10, 26))
        ehr["cdr"], ehr["cdr_sb"] = 0.0, 0.0
    if label == "NC" and u[2] < 0.15:  # younger healthy adults, whom the imaged cohort (55+) never shows
        ehr["age"] = int(rng.integers(20, 56))
        ehr.pop("summary", None)  # it names the drawn age ("76-year-old woman ...")


def sample_record_only(rng: np.random.Generator, label: str, subject_id: str) -> dict[str, Any]:
    """A record without a scan, for training the record's reading: the cohort's draw, with the scales' ends
    reached more often (:func:`_widen`) and the usual missing fields."""
    lat = sample_latents(rng, label)
    ehr = sample_ehr(rng, lat, subject_id)
    present = set(ehr)
    _widen(rng, ehr, label)
    for name in set(ehr) - present:  # a field the draw had left out stays out: missing is missing
        ehr.pop(name)
    return ehr
