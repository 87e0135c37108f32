"""Where the mouse points, in the words of a clinician (no Qt): scanner millimetres (RAS) and the voxel of the file.

napari's status bar gives its own world coordinates in its own axis order, rounded to whole numbers. The viewer's
world is the scanner's (layers.py shows every image on a scanner-aligned grid), so the scanner position is the
cursor's; the voxel is the file's own (i, j, k) as stored, which other tools show, not the display grid's.
"""
from __future__ import annotations

import numpy as np


def file_voxel(point, original_affine: np.ndarray, original_shape) -> tuple[int, int, int] | None:
    """The voxel (i, j, k) of the file whose centre is nearest ``point`` (scanner mm); None outside the image."""
    xyz = np.asarray(point, dtype=float)[:3]
    ijk = np.linalg.inv(np.asarray(original_affine, dtype=float)) @ np.append(xyz, 1.0)
    voxel = np.round(ijk[:3]).astype(int)
    if np.any(voxel < 0) or np.any(voxel >= np.asarray(original_shape)[:3]):
        return None
    return int(voxel[0]), int(voxel[1]), int(voxel[2])


def position_text(point, original_affine: np.ndarray, original_shape) -> str:
    """``"12.0, -30.5, 8.0 mm (RAS) · voxel 45, 60, 30"`` for ``point`` (scanner mm, x y z)."""
    x, y, z = (float(v) for v in np.asarray(point, dtype=float)[:3])
    voxel = file_voxel(point, original_affine, original_shape)
    where = f"voxel {voxel[0]}, {voxel[1]}, {voxel[2]}" if voxel is not None else "outside the image"
    return f"{x:.1f}, {y:.1f}, {z:.1f} mm (RAS) · {where}"
