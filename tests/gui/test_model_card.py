"""ModelCardDialog shows what a checkpoint says about itself, and warns loudly about untrained weights."""
from __future__ import annotations

import os

import pytest

if not os.environ.get("DISPLAY"):
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

pytest.importorskip("pytestqt")

from alifuse_gui._qt.model_card import UNTRAINED_TEXT, ModelCardDialog, format_value  # noqa: E402
from engine.checkpoint import CheckpointInfo  # noqa: E402
from engine.config import preset  # noqa: E402


def rows(table) -> dict[str, str]:
    return {table.item(i, 0).text(): table.item(i, 1).text() for i in range(table.rowCount())}


def trained_info() -> CheckpointInfo:
    prov = {"trained": True, "command": "alifuse-train --data /data/adni --preset tiny --out run1",
            "data": "/data/adni", "seed": 7, "time": "2025-03-01T10:00:00", "epoch": 3, "lr": 2e-5,
            "val": {"acc": 0.8125, "auc": 0.9}, "custom_note": "site A only"}
    return CheckpointInfo(preset("tiny"), ["NC", "MCI", "AD"], "1", prov, "a1b2c3d4e5f6", "/models/best.safetensors")


def test_trained_card_shows_identity_config_and_provenance(qtbot):
    dlg = ModelCardDialog(trained_info())
    qtbot.addWidget(dlg)
    assert "a1b2c3d4e5f6" in dlg.windowTitle()
    assert dlg.identity["File"] == "/models/best.safetensors"
    assert dlg.identity["Classes"] == "NC, MCI, AD"
    cfg = rows(dlg.config_table)
    tiny = preset("tiny")
    assert dlg.config_table.item(0, 0).text() == "Preset" and cfg["Preset"] == "tiny"
    assert cfg["Image size (voxels per side)"] == str(tiny.image_size)
    assert cfg["Image encoder layers"] == str(tiny.img_depth)
    assert cfg["Modalities"] == "image, text"
    prov = rows(dlg.provenance_table)
    assert prov["Command"].startswith("alifuse-train --data /data/adni")
    assert prov["Seed"] == "7" and prov["Time"] == "2025-03-01T10:00:00" and prov["Training data"] == "/data/adni"
    assert prov["Validation metrics"] == "acc 0.812, auc 0.9"
    assert prov["Learning rate"] == "2e-05"
    assert prov["custom_note"] == "site A only"          # unknown keys are shown too
    assert dlg.status_label.text() == "Trained model."
    assert "c0392b" not in dlg.status_label.styleSheet()
    assert "Checkpoint ID: a1b2c3d4e5f6" in dlg.as_text()


def test_untrained_card_warns_in_red(qtbot):
    info = CheckpointInfo(preset("demo"), ["NC", "MCI", "AD"], "1", {"trained": False}, "untrained-demo",
                          "(none: random demo weights)")
    dlg = ModelCardDialog(info)
    qtbot.addWidget(dlg)
    assert dlg.status_label.text() == UNTRAINED_TEXT and UNTRAINED_TEXT.startswith("UNTRAINED")
    assert "color: #c0392b" in dlg.status_label.styleSheet()
    assert rows(dlg.provenance_table) == {"Trained": "no"}


def test_format_value():
    assert format_value(0.81249) == "0.812"
    assert format_value(1.0) == "1"
    assert format_value(float("nan")) == "n/a"
    assert format_value([]) == "none"
    assert format_value({"acc": 0.5}) == "acc 0.5"
    assert format_value([f"h{i}" for i in range(1000)]) == "h0, h1, h2, … (1000 in all)"
