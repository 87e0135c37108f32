"""Scanner-like acquisition: head pose and size, voxel grid and orientation, bias field, Rician noise."""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from engine.errors import AlifuseInputError

ACQUISITIONS: tuple[str, ...] = ("standard", "shifted")
#: "standard": 1-1.5 mm voxels, matrices ~100-160; "small": twice the voxel size, for quick runs and tests.
SIZES: tuple[str, ...] = ("standard", "small")

# World axis (0 = x, 1 = y, 2 = z) and direction of each storage-orientation letter.
_LETTERS = {"R": (0, 1.0), "L": (0, -1.0), "A": (1, 1.0), "P": (1, -1.0), "S": (2, 1.0), "I": (2, -1.0)}
_STANDARD_ORIENTATIONS = ("RAS", "LAS", "LPS")
# "Other scanners": sagittal and coronal storage, as many MPRAGE exports are.
_SHIFTED_ORIENTATIONS = ("PIR", "ASL", "LIP", "RPI")
# Brain / head extent in MNI mm (x, y, z) that the field of view must hold, before head scaling.
_BRAIN_EXTENT = np.array([146.0, 182.0, 132.0])
_HEAD_EXTENT = np.array([178.0, 214.0, 160.0])
_BRAIN_CENTRE = np.array([0.0, -17.0, 8.0])
_MAX_MATRIX, _MIN_MATRIX = 160, 96


@dataclass(frozen=True)
class Acquisition:
    """How one scan was taken. Angles in degrees, lengths in mm, intensities relative to white matter."""

    orientation: str                       # storage axis codes, e.g. "LAS"
    voxel_mm: tuple[float, float, float]   # per storage axis
    matrix: tuple[int, int, int]           # per storage axis
    head_scale: float                      # global size of the head, 0.9..1.1
    pose_deg: tuple[float, float, float]   # head rotation about x, y, z in the scanner
    oblique_deg: tuple[float, float, float]  # rotation of the acquisition grid itself
    shift_mm: tuple[float, float, float]   # head centre offset from the field-of-view centre
    skull: bool                            # scalp and skull left in (not skull-stripped)
    contrast_gamma: float                  # T1 intensity curve (scanner/sequence contrast)
    bias_strength: float                   # std of the log bias field
    noise: float                           # Rician noise sigma / white-matter intensity
    gain: float                            # white-matter intensity in scanner units
    compressed: bool                       # .nii.gz (else .nii)
    noise_seed: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def _rotation(deg: tuple[float, float, float]) -> np.ndarray:
    """3x3 rotation, x then y then z, from degrees."""
    ax, ay, az = np.deg2rad(deg)
    rx = np.array([[1, 0, 0], [0, np.cos(ax), -np.sin(ax)], [0, np.sin(ax), np.cos(ax)]])
    ry = np.array([[np.cos(ay), 0, np.sin(ay)], [0, 1, 0], [-np.sin(ay), 0, np.cos(ay)]])
    rz = np.array([[np.cos(az), -np.sin(az), 0], [np.sin(az), np.cos(az), 0], [0, 0, 1]])
    return rz @ ry @ rx


def sample_acquisition(rng: np.random.Generator, kind: str = "standard", size: str = "standard") -> Acquisition:
    """Draw one scan's settings; ``kind`` 'shifted' = other scanners (for the zero-shot set)."""
    if kind not in ACQUISITIONS:
        raise AlifuseInputError(f"--acquisition: unknown value {kind!r} (choose from {', '.join(ACQUISITIONS)})")
    if size not in SIZES:
        raise AlifuseInputError(f"--preset-size: unknown value {size!r} (choose from {', '.join(SIZES)})")
    factor = 2.0 if size == "small" else 1.0
    max_n, min_n = int(_MAX_MATRIX / factor), int(_MIN_MATRIX / factor)
    shifted = kind == "shifted"
    orientations = _SHIFTED_ORIENTATIONS if shifted else _STANDARD_ORIENTATIONS
    orientation = orientations[int(rng.integers(len(orientations)))]
    scale = float(rng.uniform(0.9, 1.1))
    skull = bool(rng.random() < (0.6 if shifted else 0.3))
    max_pose = 8.0 if shifted else 5.0
    pose = tuple(round(float(a), 3) for a in rng.uniform(-max_pose, max_pose, 3))
    oblique = tuple(round(float(a), 3) for a in rng.uniform(-3.0, 3.0, 3)) if rng.random() < 0.3 else (0.0, 0.0, 0.0)
    shift = tuple(round(float(a), 2) for a in rng.uniform(-4.0, 4.0, 3))
    # The field of view holds the posed head's bounding box, off-centre by the shift, plus a margin.
    tilt = np.abs(_rotation(oblique).T @ _rotation(pose))
    extent = tilt @ ((_HEAD_EXTENT if skull else _BRAIN_EXTENT) * scale) + 2 * np.abs(shift) + rng.uniform(2.0, 12.0, 3)
    lo, hi = (1.2, 1.5) if shifted else (1.05, 1.45)
    voxel, matrix = [], []
    for i, letter in enumerate(orientation):
        axis = _LETTERS[letter][0]
        v = float(rng.uniform(lo, hi))
        if shifted and i == 2:  # thick slices along the last storage axis, as in older protocols
            v = float(rng.uniform(1.4, 1.5))
        # Coarser voxels where the field of view would need more than the largest matrix, up to
        # 1.5 mm (x2 for "small"); beyond that the scan clips a little scalp, as tight scans do.
        v = min(max(v * factor, float(extent[axis]) / max_n), max(v, 1.5) * factor)
        voxel.append(round(v, 3))
        matrix.append(int(np.clip(round(extent[axis] / v), min_n, max_n)))
    return Acquisition(
        orientation=orientation,
        voxel_mm=tuple(voxel), matrix=tuple(matrix), head_scale=round(scale, 4),
        pose_deg=pose, oblique_deg=oblique, shift_mm=shift, skull=skull,
        contrast_gamma=round(float(rng.uniform(0.75, 1.3) if shifted else rng.uniform(0.92, 1.08)), 4),
        bias_strength=round(float(rng.uniform(0.2, 0.35) if shifted else rng.uniform(0.05, 0.15)), 4),
        noise=round(float(rng.uniform(0.03, 0.06) if shifted else rng.uniform(0.012, 0.03)), 4),
        gain=round(float(rng.uniform(400.0, 900.0)), 2),
        compressed=bool(rng.random() < 0.95),
        noise_seed=int(rng.integers(2**31 - 1)),
    )


def output_affine(acq: Acquisition) -> np.ndarray:
    """Voxel index -> scanner mm (4, 4); the field of view is centred on the world origin."""
    cols = np.zeros((3, 3))
    for i, letter in enumerate(acq.orientation):
        axis, sign = _LETTERS[letter]
        cols[axis, i] = sign * acq.voxel_mm[i]
    lin = _rotation(acq.oblique_deg) @ cols
    centre_ijk = (np.asarray(acq.matrix, float) - 1.0) / 2.0
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = -lin @ centre_ijk
    return aff


def head_to_world(acq: Acquisition) -> np.ndarray:
    """Subject MNI mm -> scanner mm (4, 4): scale about the brain centre, rotate, place in the FOV."""
    lin = _rotation(acq.pose_deg) * acq.head_scale
    aff = np.eye(4)
    aff[:3, :3] = lin
    aff[:3, 3] = -lin @ _BRAIN_CENTRE + np.asarray(acq.shift_mm)
    return aff


def bias_field(shape: tuple[int, int, int], strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative field (shape) with log-std about ``strength``, mean about 1."""
    return np.exp(log_bias_field(rng.normal(0.0, 1.0, (4, 4, 4)).astype(np.float32), shape, strength)).astype(
        np.float32)


def log_bias_field(coarse: np.ndarray, shape: tuple[int, ...], strength: float) -> np.ndarray:
    """The log of a bias field (shape), from ``coarse`` (4, 4, 4) normal draws: smoothed, scaled to std ``strength``,
    linearly interpolated; computed in ``coarse``'s dtype."""
    c = ndi.gaussian_filter(coarse, 0.8, mode="nearest")
    c = c * (strength / max(float(c.std()), 1e-6))
    return ndi.zoom(c, [s / 4.0 for s in shape], order=1, mode="nearest", grid_mode=True)[: shape[0], : shape[1],
                                                                                           : shape[2]]


def rician(signal: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Magnitude of signal plus complex Gaussian noise, as MR magnitude images are (same shape)."""
    re = signal + rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    im = rng.normal(0.0, sigma, signal.shape).astype(np.float32)
    return np.sqrt(re * re + im * im)
