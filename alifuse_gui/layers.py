"""The napari layers of one case: the MRI in scanner millimetres and the relevance overlay on top of it.

Both are shown on the case's ``DisplayGrid`` (an oblique scan resampled onto the scanner's axes), so a point
in any view is the scanner position of the voxel drawn there, and the map lies on the anatomy it explains.
"""
from __future__ import annotations

import numpy as np
from napari.layers import Image, Shapes
from napari.utils.colormaps import Colormap

from engine.imageio import Volume
from alifuse_gui.display import AXIS_LABELS, DisplayGrid, display_grid, percentile_limits, placement
from alifuse_gui.overlay_style import relevance_rgba  # the report paints with the same table

MRI_LAYER = "MRI"
RELEVANCE_LAYER = "relevance"
CROSSHAIR_LAYER = "crosshair"


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
    """Show ``volume`` as the MRI layer, on its display grid (scanner axes, millimetres); hides old maps."""
    grid = display_grid(volume.affine, volume.data.shape)
    data = grid.to_display(volume.data)
    limits = percentile_limits(volume.data)
    meta = {"path": volume.path, "affine": np.asarray(volume.affine), "display_grid": grid,
            "obliquity_deg": placement(volume.affine).obliquity_deg}
    if MRI_LAYER in viewer.layers:
        layer = viewer.layers[MRI_LAYER]
        _update(layer, data, grid.scale, grid.translate)
        layer.contrast_limits_range = (float(data.min()), float(data.max()))
        layer.contrast_limits = limits
        layer.metadata = meta
    else:
        layer = viewer.add_image(
            data, name=MRI_LAYER, scale=grid.scale, translate=grid.translate, contrast_limits=limits,
            colormap="gray", interpolation2d="linear", units="mm", metadata=meta,
        )
        viewer.layers.move(viewer.layers.index(layer), 0)  # the anatomy stays at the bottom of the stack
    if RELEVANCE_LAYER in viewer.layers:  # the old case's map: hidden, emptied, on the new grid
        rel = viewer.layers[RELEVANCE_LAYER]
        rel.visible = False
        _update(rel, np.zeros(grid.shape, np.float32), grid.scale, grid.translate)
    viewer.dims.axis_labels = AXIS_LABELS
    viewer.reset_view()
    return layer


def show_relevance(viewer, relevance: np.ndarray, mri: Image, opacity: float = 0.6,
                   threshold: float = 0.5) -> Image:
    """Show the relevance layer (``relevance`` on the image's canonical grid, values in [0, 1]) on ``mri``'s display
    grid and placement."""
    grid: DisplayGrid | None = mri.metadata.get("display_grid")
    if grid is not None:
        data = np.asarray(grid.to_display(relevance), dtype=np.float32)
    elif relevance.shape != mri.data.shape:
        raise ValueError(f"relevance shape {relevance.shape} != MRI shape {mri.data.shape}")
    else:
        data = np.asarray(relevance, dtype=np.float32)
    if RELEVANCE_LAYER in viewer.layers:
        layer = viewer.layers[RELEVANCE_LAYER]
        _update(layer, data, mri.scale, mri.translate)
        layer.visible = True
    else:
        layer = viewer.add_image(data, name=RELEVANCE_LAYER, scale=mri.scale, translate=mri.translate,
                                 colormap=relevance_colormap(), blending="translucent",
                                 interpolation2d="linear", units="mm")
        if CROSSHAIR_LAYER in viewer.layers:  # the crosshair stays on top, not tinted by the map
            viewer.layers.move(viewer.layers.index(CROSSHAIR_LAYER), len(viewer.layers))
    layer.contrast_limits_range = (0.0, 1.0)  # the threshold slider spans the map's fixed [0, 1] scale
    layer.contrast_limits = (threshold, 1.0)
    layer.opacity = opacity
    return layer


def crosshair_lines(point, extent: np.ndarray) -> list[np.ndarray]:
    """Three lines through ``point`` (world mm), one along each world axis, across ``extent`` (2, 3).

    Each view draws the two that lie in its slice: the axial view the R-L and A-P lines, and so on.
    """
    lines = []
    for axis in range(3):
        line = np.tile(np.asarray(point, dtype=float)[:3], (2, 1))
        line[:, axis] = extent[:, axis]
        lines.append(line)
    return lines


def keep_read_only(layer: Shapes) -> None:
    """No drawing or selecting tools for ``layer``, also after a 3-D round trip (napari makes a Shapes layer editable
    again whenever it is shown in 2-D): a drawing mode on the crosshair would swallow the clicks that move it."""
    def refuse(_event=None) -> None:
        layer.editable = False  # napari then also puts it back in pan/zoom mode

    layer.events.editable.connect(refuse)
    refuse()


def show_crosshair(viewer, point) -> Shapes | None:
    """Mark ``point`` (world mm, kept inside the image) with a crosshair over the MRI; None with no MRI shown."""
    if MRI_LAYER not in viewer.layers:
        return None
    mri = viewer.layers[MRI_LAYER]
    # the voxel centres' extent, not the edges: a longer line would widen the sliders' range off the MRI's grid
    extent = np.asarray(mri.extent.world, dtype=float)
    point = np.clip(np.asarray(point, dtype=float)[:3], extent[0], extent[1])
    # drawn on the MRI's grid (its scale and translation): a layer of another grid would change the sliders' steps
    scale, translate = np.asarray(mri.scale, dtype=float), np.asarray(mri.translate, dtype=float)
    lines = [(line - translate) / scale for line in crosshair_lines(point, extent)]
    if CROSSHAIR_LAYER in viewer.layers:
        layer = viewer.layers[CROSSHAIR_LAYER]
        layer.scale, layer.translate = scale, translate
        layer.data = lines
        layer.visible = True
        return layer
    active = viewer.layers.selection.active  # a new layer becomes the active one: the user's stays so
    layer = viewer.add_shapes(lines, shape_type="line", name=CROSSHAIR_LAYER, edge_color="#ffd400",
                              edge_width=0.6, opacity=0.75, scale=scale, translate=translate, units="mm")
    keep_read_only(layer)
    if active is not None:
        viewer.layers.selection.active = active
    return layer
