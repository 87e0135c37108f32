"""Held-out records with fewer scores than they came with: how a checkpoint reads records that hold one or two of
the four cognitive scores (the model issue's "missing data" target), measured on its own validation cases.

The validation loss on records as they come says little about it: nearly all of them hold three or four scores. The
copies here keep each known score with probability ``keep``, beside the scan and the summary as recorded, or on the
record read bare (no summary, the MRI hidden): what the scores alone say (docs/RESULTS.md, "The score path
refitted").
"""
from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np

from engine.ehr import SCORE_FIELDS
from trainer.records import CaseRecord


def read_bare(record: CaseRecord) -> CaseRecord:
    """The record without its summary and with the MRI hidden (image None, as the model reads a case without one):
    what its scores and other fields say alone."""
    return dataclasses.replace(record, image=None, ehr={k: v for k, v in record.ehr.items() if k != "summary"})


def with_missing_scores(records: Sequence[CaseRecord], copies: int, keep: float = 0.5, bare: bool = False,
                        seed: int = 0) -> list[CaseRecord]:
    """``copies`` copies of each record (record by record), each known score kept with probability ``keep``; the
    other fields stay as they are. ``bare``: the copies are read bare (:func:`read_bare`). Deterministic in ``seed``."""
    rng = np.random.default_rng(seed)
    out = []
    for r in records:
        for _ in range(copies):
            drop = {f for f in SCORE_FIELDS if f in r.ehr and rng.random() >= keep}
            copy = dataclasses.replace(r, ehr={k: v for k, v in r.ehr.items() if k not in drop})
            out.append(read_bare(copy) if bare else copy)
    return out
