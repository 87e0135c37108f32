"""Records without a scan: thousands of them cost nothing to make, where each scan costs a rendering.

They train the reading of the record (and, with the MRI read as hidden, the text path of the fusion) far
beyond what the imaged cohort's few hundred records can. Drawn from a stream of their own (seed, 1_000_003):
never the imaged cohort's subjects.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from trainer.records import CaseRecord
from trainer.synth.cohort import DEFAULT_BALANCE, class_counts
from trainer.synth.ehr_gen import sample_record_only

DATASET = "synthetic-records"
_STREAM = 1_000_003


def record_only_cases(n: int, seed: int, class_names: Sequence[str] = ("NC", "MCI", "AD")) -> list[CaseRecord]:
    """``n`` record-only cases (``image`` None) in the cohort's class balance, ids ``rec-000001`` ..."""
    if tuple(class_names) != ("NC", "MCI", "AD"):
        from engine.errors import AlifuseInputError

        raise AlifuseInputError("--record-only: the record generator draws NC / MCI / AD records only")
    labels = [c for c, k in zip(class_names, class_counts(n, DEFAULT_BALANCE)) for _ in range(k)]
    out = []
    for i, label in enumerate(labels, 1):
        rng = np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(_STREAM, i)))
        sid = f"rec-{i:06d}"
        out.append(CaseRecord(subject_id=sid, visit="bl", image=None, label=label,
                              dataset=f"{DATASET}-seed{int(seed)}", ehr=sample_record_only(rng, label, sid)))
    return out
