"""napari plugin contributions (see napari.yaml): the Alifuse docks and an MRI reader for plain napari."""
from __future__ import annotations

from typing import Any, Callable

from engine.errors import AlifuseInputError

_SUFFIXES = (".nii", ".nii.gz", ".mgz", ".mgh")


def _session(napari_viewer):
    """The viewer's Alifuse session; plain napari did not start through ``alifuse_gui.app.main``, so its
    workarounds are applied here, when the first dock is made (once: the calls after it do nothing)."""
    from alifuse_gui._qt.session import session_for
    from alifuse_gui._qt.workarounds import apply_startup_workarounds

    apply_startup_workarounds()
    return session_for(napari_viewer)


def record_widget(napari_viewer):
    return _session(napari_viewer).record_form


def predict_widget(napari_viewer):
    return _session(napari_viewer).predict_panel


def explain_widget(napari_viewer):
    return _session(napari_viewer).explain_panel


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
            "metadata": {"path": vol.path, "affine": vol.affine}}
    return [(vol.data, meta, "image")]
