"""Fixtures shared by the viewer tests: a tiny checkpoint and captured message boxes."""
from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained tiny-preset checkpoint: fast to load, real file format."""
    from engine.checkpoint import save_checkpoint
    from engine.config import CLASS_NAMES_3WAY, preset
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), path, list(CLASS_NAMES_3WAY))
    return path


@pytest.fixture
def boxes(monkeypatch):
    """Warnings the viewer would show in a QMessageBox, as (title, text) pairs, without blocking."""
    from qtpy.QtWidgets import QMessageBox

    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown


def pytest_configure(config) -> None:  # noqa: ANN001
    """The suite builds some thirty viewers in one process: apply what alifuse_gui.app.main applies first."""
    from alifuse_gui._qt.workarounds import keep_none_alive

    keep_none_alive()


@pytest.fixture
def collect_qt_garbage():
    """Collect after the test, in the GUI thread: Qt objects of its viewers are then finalised here, not in a
    later test's worker thread."""
    yield
    import gc

    gc.collect()


@pytest.fixture
def open_case(make_napari_viewer, tiny_checkpoint, tmp_path, boxes):
    """``open_case(image_writer, record=None, name="case.nii.gz", show=False)``: a session of a new viewer with the
    image ``image_writer(path)`` wrote open as its case and ``record`` (if any) in its form."""
    def make(image_writer, record: dict | None = None, name: str = "case.nii.gz", show: bool = False):
        from alifuse_gui._qt.session import AlifuseSession

        s = AlifuseSession(make_napari_viewer(show=show), tiny_checkpoint)
        assert s.open_image(image_writer(tmp_path / name))
        if record is not None:
            s.record_form.set_record(record)
        return s

    return make
