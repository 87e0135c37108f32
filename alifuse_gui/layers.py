"""The napari layers of one case: the MRI in world millimetres and the relevance overlay on top of it."""
from __future__ import annotations

import numpy as np
from napari.layers import Image
from napari.utils.colormaps import Colormap

from engine.imageio import Volume
from alifuse_gui.display import AXIS_LABELS, percentile_limits, placement
from alifuse_gui.overlay_style import relevance_rgba  # the report paints with the same table

MRI_LAYER = "MRI"
RELEVANCE_LAYER = "relevance"


def relevance_colormap(base: str = "turbo", n: int = 256, ramp: float = 0.5) -> Colormap:
    """``base`` (turbo/jet) whose alpha rises from 0 at the low end to 1 at ``ramp`` of the range.

    Transparent lows keep the anatomy visible outside relevant regions (additive jet tints it all blue).
    """
    return Colormap(relevance_rgba(base, n, ramp), name=f"{base}_transparent_low", interpolation="linear")


def _update(layer: Image, data: np.ndarray, scale, translate) -> None:
    """Reuse a layer for new data: removing layers makes napari run a full garbage collection per canvas."""
    layer.data = data
    layer.scale = scale
    layer.translate = translate


def show_volume(viewer, volume: Volume) -> Image:
    """Show ``volume`` as the MRI layer (canonical data, world placement from its affine); hides old maps."""
    place = placement(volume.affine)
    limits = percentile_limits(volume.data)
    meta = {"path": volume.path, "affine": np.asarray(volume.affine), "obliquity_deg": place.obliquity_deg}
    if MRI_LAYER in viewer.layers:
        layer = viewer.layers[MRI_LAYER]
        _update(layer, volume.data, place.scale, place.translate)
        layer.contrast_limits_range = (float(volume.data.min()), float(volume.data.max()))
        layer.contrast_limits = limits
        layer.metadata = meta
    else:
        layer = viewer.add_image(
            volume.data, name=MRI_LAYER, scale=place.scale, translate=place.translate, contrast_limits=limits,
            colormap="gray", interpolation2d="linear", units="mm", metadata=meta,
        )
        viewer.layers.move(viewer.layers.index(layer), 0)  # the anatomy stays at the bottom of the stack
    if RELEVANCE_LAYER in viewer.layers:  # the old case's map: hidden, emptied, on the new grid
        rel = viewer.layers[RELEVANCE_LAYER]
        rel.visible = False
        _update(rel, np.zeros(volume.data.shape, np.float32), place.scale, place.translate)
    viewer.dims.axis_labels = AXIS_LABELS
    viewer.reset_view()
    return layer


def show_relevance(viewer, relevance: np.ndarray, mri: Image, opacity: float = 0.6,
                   threshold: float = 0.5) -> Image:
    """Show the relevance layer: same grid and placement as ``mri``, values in [0, 1]."""
    if relevance.shape != mri.data.shape:
        raise ValueError(f"relevance shape {relevance.shape} != MRI shape {mri.data.shape}")
    data = np.asarray(relevance, dtype=np.float32)
    if RELEVANCE_LAYER in viewer.layers:
        layer = viewer.layers[RELEVANCE_LAYER]
        _update(layer, data, mri.scale, mri.translate)
        layer.visible = True
    else:
        layer = viewer.add_image(data, name=RELEVANCE_LAYER, scale=mri.scale, translate=mri.translate,
                                 colormap=relevance_colormap(), blending="translucent",
                                 interpolation2d="linear", units="mm")
    layer.contrast_limits_range = (0.0, 1.0)  # the threshold slider spans the map's fixed [0, 1] scale
    layer.contrast_limits = (threshold, 1.0)
    layer.opacity = opacity
    return layer
