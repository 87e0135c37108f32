"""Summaries the cohort's generator never writes, as training input: text that says nothing of the stage.

Every synthetic summary comes from one template (trainer/synth/narrative.py: an opener naming the visit's reason,
graded by severity, then observations), so a model trained on them reads any unfamiliar text as a step towards
MCI: a clinic's "Retired accountant, married, two grown children." tipped records near a class boundary
(tests/model, "a summary no generator wrote"). With ``alifuse-train --augment-records --summary-foreign P`` a
case's summary is, with probability P each epoch, replaced by one to three sentences of social or medical history
that say nothing of cognition, its label kept: unfamiliar text then carries no class.

With ``--summary-denial P`` a case's summary also gains, with probability P, one sentence in which the patient
denies trouble with memory, whatever the case's class: the synthetic summaries name memory mostly where it fails
(in train3000.csv "memory" is in 10 % of NC summaries, always as "no change in memory or daily functioning", and
21 % of AD ones), so a clinic's "No memory complaints" read as a step towards MCI. A denial is weak evidence in a
clinic too: people with Alzheimer's disease often do not notice their own decline (anosognosia), so these
sentences carry no class.

The sentences here are written for training and share none with the tests' summaries
(tests/trainer/test_foreign_summary.py checks it): the tests judge what the model learned, not what it saw.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from trainer.synth.narrative import COMORBIDITIES

#: social history and findings that say nothing of memory, thinking or daily function
SOCIAL = (
    "Lives with spouse.", "Retired electrician.", "Retired shopkeeper; two grandchildren.",
    "Married for forty years.", "Non-drinker.", "Walks the dog every morning.",
    "Moved here from another city last year.", "Attends church weekly.", "Takes vitamin D.",
    "Flu vaccine given today.", "Blood tests last month were normal.", "Brought by a neighbour.",
    "Works part-time in a bakery.", "Former bus driver.", "Has three children who live nearby.",
    "Enjoys swimming twice a week.", "Chest X-ray unremarkable.", "Seen for the annual review.",
    "Pulse regular, 72 per minute.", "No known allergies.", "Retired farmer.", "Uses reading glasses.",
    "Cholesterol checked last year.", "Came alone by bus today.", "Former postal worker.",
    "Plays bowls in summer.",
)
#: every sentence a foreign summary is made of (the generator's comorbidities read in any class)
POOL: tuple[str, ...] = SOCIAL + tuple(COMORBIDITIES)


#: the patient's own denial of trouble with memory, in several phrasings (none of them a test's sentence)
DENIALS = (
    "Denies any trouble with memory.", "Says his memory is fine.", "Says her memory is as good as ever.",
    "Reports no problems remembering things.", "Has no concerns about memory.", "Not worried about memory.",
    "Feels sharp; does not think memory has changed.", "Reports memory unchanged over the years.",
    "Denies forgetting names or appointments.", "No subjective memory decline reported by the patient.",
    "Patient feels well and voices no memory concerns.", "Thinks recall is normal for age.",
)


def foreign_summary(rng: np.random.Generator) -> str:
    """One to three distinct sentences of :data:`POOL`, in random order."""
    k = int(rng.integers(1, 4))
    return " ".join(POOL[int(j)] for j in rng.choice(len(POOL), size=k, replace=False))


def with_foreign_summary(ehr: dict[str, Any], rng: np.random.Generator, p: float) -> dict[str, Any]:
    """``ehr`` with its summary replaced (or, where it has none, given one) with probability ``p``; the record
    itself otherwise. One draw decides, then the sentences: a fixed use of ``rng`` per call when ``p`` is 0."""
    if rng.random() >= p:
        return ehr
    return {**ehr, "summary": foreign_summary(rng)}


def with_denial(ehr: dict[str, Any], rng: np.random.Generator, p: float) -> dict[str, Any]:
    """``ehr`` with, with probability ``p``, one sentence of :data:`DENIALS` put before or after its summary (or
    as its summary where it has none); the record itself otherwise. One draw decides, then the sentence and its
    place."""
    if rng.random() >= p:
        return ehr
    denial = DENIALS[int(rng.integers(len(DENIALS)))]
    before = bool(rng.integers(2))
    summary = str(ehr.get("summary") or "").strip()
    if not summary:
        return {**ehr, "summary": denial}
    return {**ehr, "summary": f"{denial} {summary}" if before else f"{summary} {denial}"}
