"""napari plugin contributions (see napari.yaml): an MRI reader for plain napari; the Alifuse docks are in
``alifuse_gui._qt.plugin_docks``."""
from __future__ import annotations

from typing import Any, Callable

from engine.errors import AlifuseInputError

_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")
#: set in the metadata of a layer this reader made: with the Alifuse docks open, such a layer becomes the case
READER_MARK = "alifuse_reader"


def get_reader(path: str | list[str]) -> Callable[[str], list[tuple]] | None:
    """A reader for one NIfTI/MGZ path; None for anything else (napari then asks other plugins)."""
    if isinstance(path, list) or not str(path).lower().endswith(_SUFFIXES):
        return None
    return read_mri


def read_mri(path: str) -> list[tuple[Any, dict, str]]:
    """One image layer: canonical (RAS+) data placed in world millimetres, percentile window."""
    from engine.imageio import load_volume
    from alifuse_gui.display import AXIS_LABELS, percentile_limits, placement

    try:
        vol = load_volume(path)
    except AlifuseInputError as exc:
        raise ValueError(str(exc)) from None  # napari shows reader errors as a notification
    place = placement(vol.affine)
    meta = {"name": "MRI", "scale": place.scale, "translate": place.translate, "colormap": "gray",
            "contrast_limits": percentile_limits(vol.data), "axis_labels": AXIS_LABELS, "units": "mm",
            "metadata": {"path": vol.path, "affine": vol.affine, READER_MARK: True}}
    return [(vol.data, meta, "image")]
