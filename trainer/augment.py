"""Missing data as training input: random field dropout, whole-record and whole-image dropout.

The paper claims Alifuse handles missing non-imaging data; a model only sees complete-looking records learns
that every field is always there, and reads "nothing said" as a value. So while training, each case loses
fields at random (each field on its own), now and then its whole record (an empty record, or every word-piece
hidden as [MASK], the viewer's "record hidden" probe) or its MRI (all zeros, the "MRI hidden" probe). Then a
record with one score must be predicted from that score, an empty record leaves the MRI to decide, and the
reliance probes are inputs the model has met.

Every draw comes from (seed, epoch, case index), so an epoch is the same after ``--resume``.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from engine.errors import AlifuseInputError


@dataclass(frozen=True)
class RecordAugment:
    """Probabilities of each kind of dropout, per case and epoch."""

    field_drop: float = 0.3      # each present field is left out with this probability
    record_empty: float = 0.06   # the whole record left out (the model reads [CLS] [SEP])
    record_masked: float = 0.04  # every word-piece of the record hidden as [MASK]
    image_drop: float = 0.1      # the MRI set to 0 (for cases that have one)

    def __post_init__(self) -> None:
        for name, p in asdict(self).items():
            if not (isinstance(p, (int, float)) and not isinstance(p, bool) and 0.0 <= p < 1.0):
                raise AlifuseInputError(f"record augmentation '{name}': {p!r} is not a probability in [0, 1)")
        if self.record_empty + self.record_masked >= 1.0:
            raise AlifuseInputError("record augmentation: record_empty + record_masked must be below 1")

    def to_json(self) -> dict[str, float]:
        return asdict(self)

    def draw(self, ehr: dict[str, Any], rng: np.random.Generator) -> tuple[dict[str, Any], str, bool]:
        """(record with fields left out, "kept" | "empty" | "masked", drop the image?).

        Draws a fixed number of random numbers per call whatever the record holds, so two records of one
        epoch never shift each other's draws."""
        u_record, u_image = rng.random(2)
        u_fields = rng.random(len(ehr))
        if u_record < self.record_empty:
            kept, how = {}, "empty"
        else:
            kept = {k: v for (k, v), u in zip(ehr.items(), u_fields) if k == "subject_id" or u >= self.field_drop}
            how = "masked" if u_record < self.record_empty + self.record_masked else "kept"
        return kept, how, bool(u_image < self.image_drop)


def case_rng(seed: int, epoch: int, index: int) -> np.random.Generator:
    """The random stream of one case in one epoch."""
    return np.random.default_rng(np.random.SeedSequence(int(seed), spawn_key=(int(epoch), int(index))))
