"""Benchmark inputs made on the spot: a head-like phantom NIfTI and a full record (no patient data)."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np

#: A complete record, so that the text fills a realistic share of the token budget.
BENCH_EHR: dict[str, object] = {
    "age": 74, "sex": "female", "education_years": 16, "handedness": "right", "mmse": 24, "cdr": 0.5,
    "cdr_sb": 2.5, "logical_memory_delayed": 6, "ses": 2,
    "summary": ("Benchmark record: seventy-four year old retired teacher with two years of slowly worsening "
                "memory for recent events, repeats questions, still manages her finances with some help."),
}


def phantom(size: int, seed: int = 0) -> np.ndarray:
    """(size, size, size) int16: a bright ellipsoid 'head' with dark 'ventricles' and scanner-like noise."""
    rng = np.random.default_rng(seed)
    ax = np.linspace(-1.0, 1.0, size, dtype=np.float32)
    x, y, z = np.meshgrid(ax, ax, ax, indexing="ij", sparse=True)
    r = np.sqrt((x / 0.8) ** 2 + (y / 0.9) ** 2 + (z / 0.75) ** 2)
    vol = np.where(r < 1.0, 600.0, 0.0).astype(np.float32)
    vol -= np.where(np.sqrt((x / 0.15) ** 2 + (y / 0.3) ** 2 + (z / 0.2) ** 2) < 1.0, 400.0, 0.0).astype(np.float32)
    vol += rng.normal(0.0, 20.0, vol.shape).astype(np.float32)
    return np.clip(vol, 0, None).astype(np.int16)


def write_phantom(path: Path, size: int, voxel_mm: float = 1.0, seed: int = 0) -> Path:
    """Write :func:`phantom` as NIfTI (gzip if the name ends in .gz) with isotropic ``voxel_mm`` voxels."""
    affine = np.diag([voxel_mm, voxel_mm, voxel_mm, 1.0])
    affine[:3, 3] = -voxel_mm * (size - 1) / 2
    nib.save(nib.Nifti1Image(phantom(size, seed), affine), str(path))
    return Path(path)
