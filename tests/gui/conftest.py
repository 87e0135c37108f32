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
