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
    summary_foreign: float = 0.0  # a kept record's summary replaced by text that says nothing of the stage
                                  # (trainer/foreign_summary.py; drawn from a stream of its own)
    summary_denial: float = 0.0   # a kept record's summary given the patient's denial of memory trouble
                                  # (trainer/foreign_summary.py, DENIALS; a stream of its own)

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


@dataclass(frozen=True)
class ImageAugment:
    """Random left-right flips and small shifts of the preprocessed MRI (S, S, S), per case and epoch.

    With a few hundred to a few thousand volumes a ViT memorises each subject's position-specific detail before
    it finds the anatomy (docs/RESULTS.md): flips (the atrophy is bilateral) and shifts of a voxel or two (heads
    never sit in the same place) take that shortcut away."""

    flip: float = 0.5   # probability of a left-right flip (axis 0: preprocessed volumes are RAS)
    shift: int = 2      # largest shift in voxels along each axis, zero-filled

    def __post_init__(self) -> None:
        if not (0.0 <= self.flip <= 1.0) or isinstance(self.shift, bool) or not 0 <= self.shift <= 8:
            raise AlifuseInputError(f"image augmentation: flip {self.flip!r} must be in [0, 1] and shift "
                                    f"{self.shift!r} a whole number of voxels in 0..8")

    def apply(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        u = rng.random()
        d = rng.integers(-self.shift, self.shift + 1, 3)
        out = image[::-1] if u < self.flip else image
        for axis, k in enumerate(int(x) for x in d):
            if k:
                out = np.roll(out, k, axis=axis)
                idx = [slice(None)] * 3
                idx[axis] = slice(0, k) if k > 0 else slice(k, None)
                out[tuple(idx)] = 0.0
        return np.ascontiguousarray(out)
