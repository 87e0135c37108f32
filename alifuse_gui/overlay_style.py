"""How the relevance overlay is coloured: the viewer's colour table, threshold and opacity, usable off screen (no Qt).

The viewer's relevance layer uses :func:`relevance_rgba` as its colormap, its contrast limits (threshold, 1) and its
opacity; :func:`style_of_layers` reads those back from the layers, so the report paints what the screen paints.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: The Explain panel's opacity slider at start, and the threshold of a style made without a map.
DEFAULT_THRESHOLD, DEFAULT_OPACITY = 0.5, 0.6


def relevance_rgba(base: str = "turbo", n: int = 256, ramp: float = 0.5) -> np.ndarray:
    """(n, 4) RGBA of ``base`` whose alpha rises from 0 at the low end to 1 at ``ramp`` of the range.

    Transparent lows keep the anatomy visible outside relevant regions (additive jet tints it all blue).
    """
    from matplotlib import colormaps  # here: matplotlib is not needed before the first explanation

    rgba = colormaps[base](np.linspace(0.0, 1.0, n))
    rgba[:, 3] = np.clip(np.linspace(0.0, 1.0, n) / ramp, 0.0, 1.0)
    return rgba


@dataclass(frozen=True)
class OverlayStyle:
    """The overlay as drawn: ``colors`` spread evenly from ``low`` (the threshold) to ``high``, times ``opacity``."""

    colors: np.ndarray                              # (N, 4) RGBA in [0, 1]
    low: float = DEFAULT_THRESHOLD
    high: float = 1.0
    opacity: float = DEFAULT_OPACITY
    name: str = "turbo"
    mri_limits: tuple[float, float] | None = None   # the MRI layer's contrast window; None: the report picks one

    def rgba(self, values: np.ndarray) -> np.ndarray:
        """Values in [0, 1] -> (..., 4) RGBA as the viewer composites them (below the threshold: transparent)."""
        span = self.high - self.low if self.high > self.low else 1.0
        t = np.clip((np.nan_to_num(np.asarray(values, dtype=float)) - self.low) / span, 0.0, 1.0)
        grid = np.linspace(0.0, 1.0, len(self.colors))
        out = np.stack([np.interp(t, grid, self.colors[:, c]) for c in range(4)], axis=-1)
        out[..., 3] *= self.opacity
        return out


def default_style(heat: np.ndarray | None = None, anatomy: np.ndarray | None = None) -> OverlayStyle:
    """The overlay as the viewer first shows the map ``heat`` over ``anatomy`` (both on one grid): its threshold
    where the map's top voxels begin (:func:`alifuse_gui.map_threshold.default_threshold`)."""
    from alifuse_gui.map_threshold import default_threshold

    low = default_threshold(heat, anatomy) if heat is not None else DEFAULT_THRESHOLD
    return OverlayStyle(relevance_rgba(), low=low)


def style_of_layers(relevance: Any | None, mri: Any | None = None) -> OverlayStyle:
    """The style of napari image layers (read by attribute: no napari import): colour table, limits, opacity;
    the MRI layer's contrast window. No relevance layer: the default overlay."""
    limits = tuple(float(v) for v in mri.contrast_limits) if mri is not None else None
    if relevance is None:
        return OverlayStyle(relevance_rgba(), mri_limits=limits)  # type: ignore[arg-type]
    cmap = relevance.colormap
    colors = np.asarray(cmap.colors, dtype=float)
    controls = np.asarray(getattr(cmap, "controls", np.linspace(0, 1, len(colors))), dtype=float)
    if len(controls) == len(colors) and not np.allclose(controls, np.linspace(0, 1, len(colors))):
        grid = np.linspace(0.0, 1.0, 256)   # uneven control points: resample onto an even table
        colors = np.stack([np.interp(grid, controls, colors[:, c]) for c in range(4)], axis=-1)
    low, high = (float(v) for v in relevance.contrast_limits)
    name = str(getattr(cmap, "name", "colormap")).replace("_transparent_low", "")
    return OverlayStyle(colors, low, high, float(relevance.opacity), name, limits)  # type: ignore[arg-type]
