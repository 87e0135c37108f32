"""One cohort record as the model sees it, and its planted-atrophy mask on the model grid."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import nibabel as nib
import numpy as np

from engine.case_inputs import CaseInputs, prepare_case
from engine.ehr import validate_ehr
from engine.errors import AlifuseInputError
from engine.imageio import load_volume
from engine.preprocess import GridMapping, to_model_grid
from trainer.records import CaseRecord


def load_case(record: CaseRecord, cfg, tokenizer, exclude_parts: Sequence[str] = ()) -> CaseInputs:
    """Read, preprocess and encode one record exactly as training did (same EHR parts left out)."""
    vol = load_volume(record.image)
    ehr = validate_ehr(record.ehr, f"a record of data set {record.dataset!r}")  # no patient identifier in messages
    return prepare_case(vol, ehr, cfg, tokenizer, "cpu", exclude_parts)  # on the CPU, as the training cache


def mask_on_model_grid(mask_path: str | Path, mapping: GridMapping) -> np.ndarray:
    """The mask file (same voxel grid as its image) -> (S, S, S) bool on the model grid.

    Nearest-neighbour resampling (order 0): a thin structure stays as thick as it is, no blur-then-threshold.
    """
    img = nib.load(str(mask_path))
    data = np.asarray(img.dataobj)
    if tuple(data.shape[:3]) != tuple(mapping.original_shape):
        raise AlifuseInputError(f"{mask_path}: mask of shape {tuple(data.shape)} does not match its image's grid "
                                f"{tuple(mapping.original_shape)}")
    if not np.allclose(img.affine, mapping.original_affine, atol=1e-3):
        raise AlifuseInputError(f"{mask_path}: mask affine differs from its image's affine")
    return to_model_grid(data[..., 0] if data.ndim == 4 else data, mapping, order=0) > 0.5
