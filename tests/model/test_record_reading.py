"""The shipped model reads the record as a clinician does (CheckList-style behavioural tests, Ribeiro et al. 2020).

Cut-offs of the textbook records, from published staging:
- MMSE (Folstein et al. 1975): 30 points; >= 28 in cognitively normal older adults; 24-27 typical of MCI;
  <= 20 in dementia, 10-18 moderate, < 10 severe (Perneczky et al. 2006, Am J Geriatr Psychiatry).
- CDR (Morris 1993, Neurology): 0 normal, 0.5 very mild / questionable (MCI), 1 mild, 2 moderate, 3 severe dementia.
- CDR sum of boxes (O'Bryant et al. 2008, Arch Neurol): 0 normal, 0.5-4.0 questionable to very mild impairment,
  4.5-9.0 mild dementia, 9.5-15.5 moderate, 16-18 severe.
- Delayed logical memory (WMS-R Logical Memory II; ADNI's entry criteria, Petersen et al. 2010, Neurology): normal
  >= 9 with 16+ years of education; MCI <= 8 (16+ years) or <= 4 (8-15 years); dementia far lower.
- MCI (Petersen 2004, J Intern Med; Albert et al. 2011 NIA-AA): a memory complaint and impaired memory for age,
  CDR 0.5, independence in daily life preserved. Dementia due to AD (McKhann et al. 2011 NIA-AA): impairment that
  interferes with daily activities, CDR >= 1.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from tests.model.known_failures import KNOWN_FLIPS, KnownFlips

#: (expected class, record). Several leave fields out; some carry a summary.
TEXTBOOK: list[tuple[str, dict]] = [
    ("NC", {"age": 70, "sex": "female", "education_years": 16, "mmse": 30, "cdr": 0, "cdr_sb": 0,
            "logical_memory_delayed": 14}),
    ("NC", {"age": 68, "sex": "male", "mmse": 29, "cdr": 0}),
    ("NC", {"age": 75, "sex": "female", "education_years": 12, "mmse": 28, "cdr": 0, "cdr_sb": 0,
            "logical_memory_delayed": 11,
            "summary": "Annual wellness visit. No memory complaints; independent in all daily activities."}),
    ("NC", {"mmse": 30, "cdr": 0, "cdr_sb": 0}),
    ("NC", {"age": 72, "sex": "male", "cdr": 0, "cdr_sb": 0, "logical_memory_delayed": 16}),
    ("NC", {"age": 66, "sex": "female", "mmse": 29, "logical_memory_delayed": 13}),
    ("NC", {"age": 80, "sex": "male", "education_years": 18, "handedness": "right", "mmse": 29, "cdr": 0,
            "cdr_sb": 0, "logical_memory_delayed": 12, "ses": 1}),
    ("MCI", {"age": 74, "sex": "female", "education_years": 14, "mmse": 26, "cdr": 0.5, "cdr_sb": 1.5,
             "logical_memory_delayed": 4}),
    ("MCI", {"age": 71, "sex": "male", "mmse": 25, "cdr": 0.5, "cdr_sb": 2.0}),
    ("MCI", {"age": 77, "sex": "female", "mmse": 26, "cdr": 0.5, "logical_memory_delayed": 4,
             "summary": "Reports misplacing items and repeating questions over the past year; still manages her "
                        "finances and drives."}),
    ("MCI", {"mmse": 26, "cdr": 0.5, "cdr_sb": 1.0}),
    ("MCI", {"age": 69, "sex": "male", "education_years": 16, "mmse": 26, "cdr": 0.5, "cdr_sb": 2.5,
             "logical_memory_delayed": 6}),
    ("MCI", {"age": 76, "sex": "female", "cdr": 0.5, "cdr_sb": 1.5, "logical_memory_delayed": 5}),
    ("AD", {"age": 78, "sex": "female", "education_years": 12, "mmse": 18, "cdr": 1, "cdr_sb": 6,
            "logical_memory_delayed": 1}),
    ("AD", {"age": 81, "sex": "male", "mmse": 15, "cdr": 2, "cdr_sb": 11}),
    ("AD", {"age": 75, "sex": "female", "mmse": 20, "cdr": 1, "cdr_sb": 5.5, "logical_memory_delayed": 2,
            "summary": "Daughter reports that she got lost while driving and now needs help with medications "
                       "and bills."}),
    ("AD", {"mmse": 12, "cdr": 2, "cdr_sb": 12, "logical_memory_delayed": 0}),
    ("AD", {"age": 84, "sex": "female", "mmse": 8, "cdr": 3, "cdr_sb": 17}),
    ("AD", {"age": 73, "sex": "male", "cdr": 1, "cdr_sb": 7, "logical_memory_delayed": 0}),
    ("AD", {"age": 79, "sex": "female", "education_years": 10, "mmse": 19, "cdr": 1}),
    # the issue's own example: read as healthy by the checkpoint shipped before
    ("AD", {"age": 77, "sex": "female", "mmse": 20, "cdr": 1, "cdr_sb": 7, "logical_memory_delayed": 0}),
    # 19 more, written on 2026-12-06 from the same cut-offs before the model that now ships was trained (the one
    # shipped before passed all of them; the first epoch of the run that now ships missed one, NC -> MCI beside the
    # demo scan)
    ("NC", {"age": 82, "sex": "male", "mmse": 28, "cdr": 0, "cdr_sb": 0}),
    ("NC", {"age": 63, "sex": "female", "education_years": 20, "mmse": 30, "logical_memory_delayed": 18}),
    ("NC", {"age": 90, "sex": "female", "mmse": 28, "cdr": 0,
            "summary": "Lives alone, manages her own affairs; no concerns."}),
    ("NC", {"cdr": 0, "cdr_sb": 0}),
    ("NC", {"age": 71, "sex": "male", "education_years": 8, "mmse": 28, "cdr": 0, "cdr_sb": 0,
            "logical_memory_delayed": 9}),
    ("NC", {"logical_memory_delayed": 15, "mmse": 30}),
    ("MCI", {"age": 72, "sex": "female", "mmse": 27, "cdr": 0.5, "cdr_sb": 0.5, "logical_memory_delayed": 3}),
    ("MCI", {"age": 80, "sex": "male", "education_years": 12, "mmse": 24, "cdr": 0.5, "cdr_sb": 3.0}),
    ("MCI", {"age": 66, "sex": "female", "cdr": 0.5, "cdr_sb": 2.0,
             "summary": "Forgets recent conversations; independent in daily life."}),
    ("MCI", {"mmse": 25, "cdr": 0.5, "logical_memory_delayed": 5}),
    ("MCI", {"age": 75, "sex": "male", "education_years": 18, "mmse": 27, "cdr": 0.5, "cdr_sb": 1.0,
             "logical_memory_delayed": 7}),
    ("MCI", {"age": 78, "sex": "female", "mmse": 24, "cdr": 0.5, "cdr_sb": 3.5, "logical_memory_delayed": 3}),
    ("AD", {"age": 76, "sex": "male", "mmse": 21, "cdr": 1, "cdr_sb": 5.0, "logical_memory_delayed": 1}),
    ("AD", {"age": 70, "sex": "female", "mmse": 16, "cdr": 1, "cdr_sb": 8}),
    ("AD", {"mmse": 10, "cdr": 2}),
    ("AD", {"age": 85, "sex": "female", "mmse": 4, "cdr": 3, "cdr_sb": 18, "logical_memory_delayed": 0}),
    ("AD", {"age": 79, "sex": "male", "cdr": 2, "cdr_sb": 13, "summary": "Needs help dressing; wanders at night."}),
    ("AD", {"age": 74, "sex": "female", "education_years": 16, "mmse": 19, "cdr": 1, "cdr_sb": 6.5,
            "logical_memory_delayed": 2}),
    ("AD", {"mmse": 17, "cdr_sb": 9, "logical_memory_delayed": 0}),
]

#: field -> values from healthiest to most impaired
SWEEPS: dict[str, list[float]] = {
    "mmse": [30, 29, 28, 27, 26, 25, 24, 22, 20, 18, 15, 12, 9, 5, 0],
    "cdr": [0, 0.5, 1, 2, 3],
    "cdr_sb": [0, 0.5, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 18],
    "logical_memory_delayed": [25, 20, 16, 13, 11, 9, 7, 5, 3, 1, 0],
}
#: how far the expected stage may fall between two steps of a worsening score (float noise and small wiggles)
STEP_TOLERANCE = 0.05
UNKNOWN_CONTEXT = {"age": 74, "sex": "female"}
#: a healthy record and a demented one (the textbook cut-offs above): a score that worsens beside them must not
#: lower the stage either. The stage beside the demented record is near its top already, so it need move less.
HEALTHY_CONTEXT = {"age": 70, "sex": "male", "education_years": 16, "mmse": 29, "cdr": 0, "cdr_sb": 0,
                   "logical_memory_delayed": 14}
DEMENTED_CONTEXT = {"age": 79, "sex": "female", "education_years": 12, "mmse": 17, "cdr": 1, "cdr_sb": 7,
                    "logical_memory_delayed": 1}
FIXED_CONTEXT = {"age": 74, "sex": "female", "education_years": 14, "mmse": 26, "cdr": 0.5, "cdr_sb": 2,
                 "logical_memory_delayed": 6}
CONTEXTS = {"others unknown": UNKNOWN_CONTEXT, "others fixed": FIXED_CONTEXT, "others healthy": HEALTHY_CONTEXT,
            "others demented": DEMENTED_CONTEXT}


@pytest.mark.parametrize("expected, record", TEXTBOOK, ids=[f"{c}-{i}" for i, (c, _) in enumerate(TEXTBOOK)])
def test_textbook_records_are_classified_as_such(demo_model, expected, record):
    """On the demo scan and with the MRI hidden, the record's stage is the answer."""
    for image in (None, np.zeros_like(demo_model.demo_image)):
        label = demo_model.labels([record], image)[0]
        assert label == expected, f"{record} -> {label}, expected {expected}"


@pytest.mark.parametrize("field", list(SWEEPS))
@pytest.mark.parametrize("context", list(CONTEXTS))
def test_a_worse_score_never_looks_healthier_and_moves_the_stage(demo_model, field, context):
    base = CONTEXTS[context]
    records = [{**{k: v for k, v in base.items() if k != field}, field: v} for v in SWEEPS[field]]
    for image in (None, np.zeros_like(demo_model.demo_image)):
        stage = demo_model.stage(records, image)
        drops = stage[:-1] - stage[1:]
        worst = int(np.argmax(drops))
        assert drops.max() <= STEP_TOLERANCE, (
            f"{field} {SWEEPS[field][worst]} -> {SWEEPS[field][worst + 1]} lowers the expected stage by "
            f"{drops.max():.3f} ({context}): {np.round(stage, 2).tolist()}")
        least = 0.2 if context == "others demented" else 0.5  # beside a demented record the stage starts near its top
        assert stage[-1] - stage[0] >= least, f"{field} hardly moves the stage ({context}): {np.round(stage, 2)}"


#: how far each score, from the healthy to the impaired end of its scale, must raise the calibrated log-odds of
#: "impaired at all" (MCI or AD against NC) and of dementia (AD against NC or MCI), beside any record and scan: a
#: clinician reads an MMSE of 0 or a delayed recall of 0 as a finding, whatever the other scores say
LEAST_LOG_ODDS = 3.0


def _log_odds(p: np.ndarray) -> np.ndarray:
    """(N, 3) probabilities -> (N, 2) log-odds of impairment and of dementia (inf where a side is 0)."""
    with np.errstate(divide="ignore"):
        lp = np.log(p.astype(np.float64))
        imp = np.logaddexp(lp[:, 1], lp[:, 2]) - lp[:, 0]
        dem = lp[:, 2] - np.logaddexp(lp[:, 0], lp[:, 1])
    return np.stack([imp, dem], -1)


@pytest.mark.parametrize("context", list(CONTEXTS))
def test_every_score_counts_beside_any_record(demo_model, context):
    """The ends of each score's scale, the other fields as in the context: the impaired end raises both log-odds by
    LEAST_LOG_ODDS or more, on the demo scan and with the MRI hidden, however surely the others decide the case."""
    base = CONTEXTS[context]
    for field, values in SWEEPS.items():
        ends = [{**{k: v for k, v in base.items() if k != field}, field: v} for v in (values[0], values[-1])]
        for image in (None, np.zeros_like(demo_model.demo_image)):
            rise = np.diff(_log_odds(demo_model.probs(ends, image)), axis=0)[0]
            assert (rise >= LEAST_LOG_ODDS).all(), (
                f"{field} {values[0]} -> {values[-1]} ({context}) raises the log-odds of impairment / dementia by "
                f"{np.round(rise, 2).tolist()}; at least {LEAST_LOG_ODDS} asked")


def test_each_value_is_read_as_a_value_of_its_own_field(demo_model):
    """"0" is healthy for CDR and CDR-SB and the worst score for MMSE and delayed recall."""
    hidden = np.zeros_like(demo_model.demo_image)
    for image in (None, hidden):
        s = dict(zip(["cdr", "cdr_sb", "mmse", "logical_memory_delayed"], demo_model.stage(
            [{**UNKNOWN_CONTEXT, "cdr": 0}, {**UNKNOWN_CONTEXT, "cdr_sb": 0}, {**UNKNOWN_CONTEXT, "mmse": 0},
             {**UNKNOWN_CONTEXT, "logical_memory_delayed": 0}], image)))
        assert s["cdr"] < s["logical_memory_delayed"] - 0.5 and s["cdr_sb"] < s["mmse"] - 0.5, s
        # the same holds for a high number: CDR-SB 18 is severe, a delayed recall of 18 is healthy
        hi = demo_model.stage([{**UNKNOWN_CONTEXT, "cdr_sb": 18}, {**UNKNOWN_CONTEXT, "logical_memory_delayed": 18}],
                              image)
        assert hi[0] > hi[1] + 0.5, hi


@pytest.mark.parametrize("i", [0, 2, 7, 13, 15])
def test_a_summary_neither_present_nor_absent_flips_a_clear_case(demo_model, i):
    expected, record = TEXTBOOK[i]
    plain = {k: v for k, v in record.items() if k != "summary"}
    neutral = {**plain, "summary": "Hypertension treated with lisinopril. Lives with spouse. Came with her son."}
    assert demo_model.labels([plain, neutral, record]) == [expected] * 3


#: summaries no generator wrote, as a clinic's notes say them, that say nothing of cognition (social and medical
#: history), and summaries that agree with the record's stage: neither may flip a clear case
NEUTRAL_SUMMARIES = [
    "Follow-up visit. Hypertension, type 2 diabetes. Lives with daughter.",
    "The patient is a retired teacher who enjoys gardening.",
    "Retired accountant, married, two grown children. Non-smoker.",
    "Seen in clinic today. Blood pressure 130/80. Weight stable.",
    "Came with a list of medications: amlodipine, atorvastatin.",
    "Widowed, lives alone in a house with a garden. Walks daily.",
    "Referred by the general practitioner. Allergic to penicillin.",
    "Former nurse. Knee replacement five years ago.",
]
AGREEING_SUMMARIES = {"NC": "No memory complaints; independent in all activities.",
                      "MCI": "Forgets appointments unless reminded; manages daily life alone.",
                      "AD": "Needs help with daily activities and medications."}
#: the textbook records that hold two or more of MMSE, CDR and CDR-SB, their own summaries taken out
CLEAR = [(c, {k: v for k, v in r.items() if k != "summary"}) for c, r in TEXTBOOK
         if sum(k in r for k in ("mmse", "cdr", "cdr_sb")) >= 2]


@pytest.mark.parametrize("image", ["demo scan", "MRI hidden"])
@pytest.mark.parametrize("summary", [*range(len(NEUTRAL_SUMMARIES)), "agreeing"])
def test_a_summary_no_generator_wrote_does_not_flip_a_clear_case(demo_model, summary, image):
    """A cell of tests/model/known_failures.KNOWN_FLIPS may flip the records it lists (the expected failure,
    KnownFlips) and no other."""
    assert len(CLEAR) == 37
    records = [{**r, "summary": AGREEING_SUMMARIES[c] if summary == "agreeing" else NEUTRAL_SUMMARIES[summary]}
               for c, r in CLEAR]
    scan = None if image == "demo scan" else np.zeros_like(demo_model.demo_image)
    probs = demo_model.probs(records, scan)
    labels = [demo_model.classes[int(i)] for i in probs.argmax(1)]
    flipped = {i for i, ((c, _), got) in enumerate(zip(CLEAR, labels)) if got != c}
    shown = "; ".join(f"{CLEAR[i][0]} record {i} {CLEAR[i][1]} -> {labels[i]} {np.round(probs[i], 2).tolist()}"
                      for i in sorted(flipped))
    known = KNOWN_FLIPS.get(f"{summary}-{image}", frozenset())
    assert flipped <= known, f"{len(flipped - known)} of {len(CLEAR)} flipped beyond the known ones: {shown}"
    if flipped:
        raise KnownFlips(f"{len(flipped)} of {len(CLEAR)} flipped, as known: {shown}")


#: a healthy person's own word that memory is fine, in sentences neither the generator nor the training's
#: --summary-denial writes (tests/trainer/test_foreign_summary.py checks the latter)
MEMORY_DENIALS = ["No memory complaints.", "No memory problems.", "Memory is good.",
                  "Her husband notices no forgetfulness.", "Denies memory loss."]


@pytest.mark.parametrize("image", ["demo scan", "MRI hidden"])
def test_a_denial_of_memory_trouble_does_not_move_a_healthy_record_towards_impairment(demo_model, image):
    """The NC records at MMSE 28 (the closest NC calls; CDR 0): a summary in which the patient denies memory
    trouble agrees with the record, so it must not make it read more impaired. A word like "memory" read as a
    complaint whatever surrounds it tipped one of them to MCI beside the demo scan (1ab24fd06cd5: NC 57 % -> 45 %
    with "No memory complaints; ...", 44 % with "Denies memory loss.")."""
    nc28 = [r for c, r in CLEAR if c == "NC" and r.get("mmse") == 28]
    assert len(nc28) == 4
    scan = None if image == "demo scan" else np.zeros_like(demo_model.demo_image)
    bare = demo_model.stage(nc28, scan)
    for denial in MEMORY_DENIALS:
        said = demo_model.stage([{**r, "summary": denial} for r in nc28], scan)
        assert (said <= bare + 0.05).all(), (denial, bare.round(3), said.round(3))
        assert demo_model.labels([{**r, "summary": denial} for r in nc28], scan) == ["NC"] * 4, denial


def test_a_record_with_fields_missing_is_less_sure_than_the_full_record(demo_model):
    """Missing is not a value: with fewer fields the prediction moves toward uncertainty, not toward a class."""
    hidden = np.zeros_like(demo_model.demo_image)
    full = [r for _, r in TEXTBOOK[:1] + TEXTBOOK[13:14]]
    sparse = [{"age": 70, "sex": "female"}, {"age": 78, "sex": "female"}]
    p_full, p_sparse = demo_model.probs(full, hidden), demo_model.probs(sparse, hidden)
    assert (p_full.max(1) > p_sparse.max(1) + 0.15).all(), (p_full.round(2), p_sparse.round(2))
    assert p_sparse.max() < 0.8, "age and sex alone are no diagnosis"


@pytest.mark.parametrize("field, healthy, impaired", [("mmse", 30, 14), ("cdr", 0, 2), ("cdr_sb", 0, 12),
                                                       ("logical_memory_delayed", 16, 0)])
def test_a_record_with_one_score_follows_that_score(demo_model, field, healthy, impaired):
    hidden = np.zeros_like(demo_model.demo_image)
    labels = demo_model.labels([{field: healthy}, {field: impaired}], hidden)
    assert labels[0] == "NC" and labels[1] != "NC", labels


@pytest.mark.parametrize("mmse", [20, 18, 15, 10])
def test_one_mmse_in_the_dementia_range_alone_reads_dementia(demo_model, mmse):
    """MMSE <= 20 is dementia's range (Perneczky et al. 2006: 10-18 moderate); with nothing else known and the MRI
    hidden, the likeliest stage is AD (the synthetic cohort's own posterior: AD 85 % at 20, 92 % at 18,
    docs/generator_posterior.json)."""
    hidden = np.zeros_like(demo_model.demo_image)
    p = demo_model.probs([{"mmse": mmse}], hidden)[0]
    assert demo_model.classes[int(p.argmax())] == "AD", p.round(3)


def _staged_records() -> list[tuple[str, dict]]:
    """Every combination of the staging cut-offs above, with the other scores consistent with the stage or unknown
    and three sets of demographics: (expected class, record). NC: CDR 0, MMSE 28-30, sum of boxes 0, delayed recall
    >= 9 (ADNI's normal range); MCI: CDR 0.5, MMSE 24-27, sum of boxes 0.5-2.5, recall <= 6 (MCI's range at 8-15
    years of education is <= 4; 6 is <= 8 at 16+); AD: CDR 1 or 2, MMSE <= 20, sum of boxes in the CDR's range
    (O'Bryant et al. 2008: 4.5-9 mild, 9.5-15.5 moderate), recall <= 3."""
    stages = [("NC", [28, 29, 30], [0], {0: [0, None]}, [9, 12, 16, None]),
              ("MCI", [24, 25, 26, 27], [0.5], {0.5: [0.5, 1.5, 2.5, None]}, [2, 4, 6, None]),
              ("AD", [20, 18, 15, 12, 8], [1, 2], {1: [4.5, 6, 8, None], 2: [10, 12, None]}, [0, 1, 3, None])]
    people = [{}, {"age": 72, "sex": "female"}, {"age": 80, "sex": "male", "education_years": 12}]
    out = []
    for label, mmses, cdrs, boxes, recalls in stages:
        for mmse, cdr, person in itertools.product(mmses, cdrs, people):
            for sb, recall in itertools.product(boxes[cdr], recalls):
                extra = {k: v for k, v in (("cdr_sb", sb), ("logical_memory_delayed", recall)) if v is not None}
                out.append((label, {**person, "mmse": mmse, "cdr": cdr, **extra}))
    return out


def test_every_record_built_from_the_staging_cut_offs_is_called_as_they_say(demo_model):
    """684 records, each a clear case by every cut-off it holds, on the demo scan and with the MRI hidden. (The
    narrowest call, measured on 2026-12-07: MMSE 24, CDR 0.5, recall 2, age 80, beside the demo scan, an AD case's:
    MCI 50.5 %, AD 49.2 %; float rounding across processors moves probabilities by far less.)"""
    cases = _staged_records()
    expected = [c for c, _ in cases]
    for image in (None, np.zeros_like(demo_model.demo_image)):
        labels = demo_model.labels([r for _, r in cases], image)
        wrong = [(e, r) for e, got, (_, r) in zip(expected, labels, cases) if got != e]
        assert len(cases) == 684 and not wrong, f"{len(wrong)} of {len(cases)} called otherwise: {wrong[:5]}"
