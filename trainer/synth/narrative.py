"""The doctor's narrative summary: a few sentences picked from varied phrasings.

What the text says follows a noisy reading of the subject's severity, never the class label, and the
diagnosis itself is named only rarely (and a family history of Alzheimer's appears in every class).
"""
from __future__ import annotations

from typing import Any

import numpy as np

_REASONS = (
    ("a routine cognitive check-up", "an annual wellness visit", "a research screening visit",
     "a visit requested by {pos} primary care physician", "follow-up of blood pressure"),
    ("concerns about forgetfulness", "word-finding difficulty over the past year",
     "misplacing objects more often than before", "trouble keeping track of appointments"),
    ("progressive memory loss over two years", "getting lost while driving to familiar places",
     "increasing confusion and difficulty managing finances", "worsening memory noticed by family"),
)
_INFORMANTS = {"female": ("Her husband", "Her daughter", "Her son", "A close friend", "Her sister"),
               "male": ("His wife", "His daughter", "His son", "A close friend", "His brother")}
_OBSERVATIONS = (
    ("no change in memory or daily functioning", "only the usual trouble recalling names",
     "that {sub} is as organised as ever"),
    ("that {sub} repeats questions within the same conversation", "missed appointments unless reminded",
     "more reliance on notes and calendars", "occasional difficulty following conversations"),
    ("that {sub} gets lost in familiar places", "that {sub} forgets recent conversations entirely",
     "that {sub} needs help with medications and bills", "personality change and withdrawal"),
)
_FUNCTION = {
    0.0: ("Independent in all daily activities.", "Still drives and manages {pos} own finances.",
          "Active in volunteering and hobbies."),
    0.5: ("Mild difficulty with complex tasks such as paying bills; basic activities intact.",
          "Manages household chores but needs occasional reminders.",
          "Still drives locally, avoids unfamiliar routes."),
    1.0: ("Needs help with shopping and finances; no longer drives.",
          "Has given up cooking because of forgotten pans on the stove."),
    2.0: ("Requires help with dressing and hygiene.", "Needs supervision for most daily activities."),
}
_RECALL = ("Delayed recall {k} of 3 words.", "Recalled {k} of 3 words after five minutes.")
#: medical history drawn in any class (public: trainer/foreign_summary.py builds foreign summaries from it too)
COMORBIDITIES = (
    "History of hypertension, treated with lisinopril.", "Type 2 diabetes, controlled on metformin.",
    "Hypercholesterolemia on a statin.", "Osteoarthritis of both knees.", "Hypothyroidism on levothyroxine.",
    "Remote smoking history, quit 20 years ago.", "Cataract surgery last year.",
    "Mild hearing loss, wears hearing aids.", "Obstructive sleep apnea on CPAP.", "Atrial fibrillation on apixaban.",
    "No significant past medical history.", "Mild depression in the past, currently euthymic.",
)
_FAMILY = ("Family history: mother had Alzheimer's disease.", "Father developed dementia in his eighties.")
_DIAGNOSIS_HINTS = (
    ("Cognitively normal for age.", "No objective cognitive deficit on screening."),
    ("Previously told {sub} has mild cognitive impairment.", "Outside neuropsychology suggested MCI."),
    ("Outside clinic raised concern for Alzheimer's disease.", "Started on donepezil by another neurologist."),
)
_FAMILY_RATE, _HINT_RATE = 0.12, 0.08


def _bucket(level: float) -> int:
    return 0 if level < 0.22 else (1 if level < 0.55 else 2)


def _pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def write_summary(rng: np.random.Generator, severity: float, sex: str, age: int, cdr: float | None,
                  handedness: str | None) -> str:
    """One narrative, 2-6 sentences, from a severity read with clinical noise (not from the label)."""
    pronoun = {"female": ("she", "her", "woman"), "male": ("he", "his", "man")}[sex]
    fill: dict[str, Any] = {"sub": pronoun[0], "pos": pronoun[1]}
    level = severity + float(rng.normal(0.0, 0.12))
    b = _bucket(level)
    hand = f"{handedness}-handed " if handedness and rng.random() < 0.4 else ""
    opener = _pick(rng, ("{age}-year-old {hand}{who} seen for {reason}.", "{Who}, {age}, presents with {reason}.",
                         "Patient is a {age}-year-old {hand}{who} referred for {reason}."))
    reason = _pick(rng, _REASONS[b]).format(**fill)
    sentences = [opener.format(age=age, hand=hand, who=pronoun[2], Who=pronoun[2].capitalize(),
                               reason=reason)]
    if rng.random() < 0.75:
        obs = _pick(rng, _OBSERVATIONS[b]).format(**fill)
        sentences.append(f"{_pick(rng, _INFORMANTS[sex])} reports {obs}.")
    if cdr is not None and rng.random() < 0.7:
        sentences.append(_pick(rng, _FUNCTION[min(cdr, 2.0)]).format(**fill))
    if rng.random() < 0.5:
        recalled = int(np.clip(round(3.2 - 3.5 * level + rng.normal(0.0, 0.6)), 0, 3))
        sentences.append(_pick(rng, _RECALL).format(k=recalled))
    for _ in range(int(rng.integers(0, 3))):
        sentences.append(_pick(rng, COMORBIDITIES))
    if rng.random() < _FAMILY_RATE:
        sentences.append(_pick(rng, _FAMILY))
    if rng.random() < _HINT_RATE:
        sentences.append(_pick(rng, _DIAGNOSIS_HINTS[b]).format(**fill))
    return " ".join(dict.fromkeys(sentences))  # a comorbidity drawn twice is said once
