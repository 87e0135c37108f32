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
    assert cfg["Scores read as numbers (pieces per score; 0 = as text)"] == "0"
    assert cfg["Each score also counts on its own (1) or only in the mean (0)"] == "0"
    prov = rows(dlg.provenance_table)
    assert prov["Command"].startswith("alifuse-train --data /data/adni")
    assert prov["Seed"] == "7" and prov["Time"] == "2025-03-01T10:00:00" and prov["Training data"] == "/data/adni"
    assert prov["Validation metrics"] == "acc 0.812, auc 0.9"
    assert prov["Learning rate"] == "2e-05"
    assert prov["custom_note"] == "site A only"          # unknown keys are shown too
    # scores without their number of cases are not a verdict; the data is not on this machine: said so
    assert dlg.status_label.text().startswith("Trained; its validation scores do not say on how many cases")
    assert "#1e8449" not in dlg.status_label.styleSheet()
    assert dlg.facts_label.text().splitlines() == [
        "Validation: ACC 0.812, AUC 0.900 (number of cases not recorded)",
        "Training data: cohort folder /data/adni (its manifest.csv) (not on this machine: cannot tell whether it "
        "is synthetic)"]
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


def _card(qtbot, prov: dict) -> ModelCardDialog:
    dlg = ModelCardDialog(CheckpointInfo(preset("tiny"), ["NC", "MCI", "AD"], "1", prov, "abc", "/m.safetensors"))
    qtbot.addWidget(dlg)
    return dlg


def _synthetic_cohort(folder, n=300):
    import json

    folder.mkdir()
    (folder / "manifest.csv").write_text("subject_id,image,label\n")
    (folder / "cohort.json").write_text(json.dumps({"generator": "alifuse-synth", "dataset": "synthetic-seed23",
                                                    "n_subjects": n}))
    return folder


def test_a_run_validated_on_one_subject_is_not_shown_as_a_good_model(qtbot, tmp_path):
    """Issue 13: a 4-epoch tiny run validated on one subject showed a green "Trained model."."""
    cohort = _synthetic_cohort(tmp_path / "synth8")
    dlg = _card(qtbot, {"trained": True, "data": str(cohort), "preset": "tiny", "epochs": 4, "epoch": 4,
                        "val": {"acc": 1.0, "auc": float("nan"), "balanced_acc": 1.0, "loss": 0.4, "n": 1}})
    assert dlg.verdict.level == "poor"
    assert dlg.status_label.text().startswith("NOT ENOUGH VALIDATION: scored on only 1 validation case ")
    assert "#1e8449" not in dlg.status_label.styleSheet() and "#c0392b" in dlg.status_label.styleSheet()
    facts = dlg.facts_label.text().splitlines()
    assert facts[0] == "Validation: ACC 1.000 (95% CI 0.21-1.00), balanced accuracy 1.000 on 1 case"
    assert facts[1] == (f"Training data: SYNTHETIC cohort (alifuse-synth, synthetic-seed23, 300 subjects), "
                        f"cohort folder {cohort} (its manifest.csv)")
    # the truth comes first: verdict, validation, data, then the identity and the hyper-parameters
    text = dlg.as_text().splitlines()
    assert text[:3] == [dlg.status_label.text(), *facts]
    assert text.index(facts[0]) < text.index("Model configuration")
    layout = dlg.layout()
    order = [layout.itemAt(i).widget() for i in range(layout.count())]
    assert order[:2] == [dlg.status_label, dlg.facts_label]


def test_the_verdict_follows_the_validation_metrics_and_the_data(qtbot, tmp_path):
    cohort = _synthetic_cohort(tmp_path / "synth300")
    real = tmp_path / "adni"
    real.mkdir()
    (real / "ADNIMERGE.csv").write_text("RID\n")
    good = {"acc": 0.82, "auc": 0.93, "balanced_acc": 0.8, "n": 120}
    cases = [
        ({"trained": True}, "caution", "Trained, but NOT VALIDATED"),
        ({"trained": True, "data": str(cohort), "val": {}}, "caution", "Trained, but NOT VALIDATED"),
        ({"trained": True, "data": str(cohort), "val": {"acc": 0.36, "balanced_acc": 0.34, "n": 60}}, "poor",
         "NO BETTER THAN CHANCE on 60 validation cases"),
        ({"trained": True, "data": str(cohort), "val": good}, "caution",
         "Validated on 120 cases of a SYNTHETIC cohort only"),
        ({"trained": True, "data": f"adni:{real / 'ADNIMERGE.csv'}", "val": good}, "validated",
         "Trained and validated on 120 held-out cases."),
        ({"trained": True, "data": f"adni:{cohort / 'ADNIMERGE.csv'}", "val": good}, "caution",
         "Validated on 120 cases of a SYNTHETIC cohort only"),
    ]
    for prov, level, start in cases:
        dlg = _card(qtbot, prov)
        assert (dlg.verdict.level, dlg.status_label.text()[:len(start)]) == (level, start), prov
        assert ("#1e8449" in dlg.status_label.styleSheet()) == (level == "validated")
    dlg = _card(qtbot, {"trained": True, "data": f"adni:{real / 'ADNIMERGE.csv'}", "val": good})
    assert dlg.facts_label.text().splitlines()[1] == (f"Training data: ADNI table {real / 'ADNIMERGE.csv'} "
                                                      "(not an alifuse-synth cohort)")
    dlg = _card(qtbot, {"trained": True, "data": "/gone/synth300", "record_only": 50, "val": good})
    assert dlg.verdict.level == "caution" and "looks like a SYNTHETIC cohort" in dlg.status_label.text()
    assert dlg.facts_label.text().splitlines()[1] == (
        "Training data: cohort folder /gone/synth300 (its manifest.csv); plus 50 synthetic record-only cases "
        "(not on this machine: cannot tell whether it is synthetic; its name suggests a synthetic cohort)")


def test_wilson_interval():
    from alifuse_gui.model_verdict import wilson_interval

    lo, hi = wilson_interval(0.7, 30)
    assert (round(lo, 2), round(hi, 2)) == (0.52, 0.83)
    assert wilson_interval(1.0, 1)[0] < 0.25 and wilson_interval(0.5, 0) == (0.0, 1.0)


HOSTILE = ['<b>NC</b>', '<img src="x.png">MCI', '<a href="http://example.invalid">AD</a>']


def test_html_in_a_checkpoint_renders_as_plain_text(qtbot):
    """A checkpoint is untrusted: HTML in its class names, data set name or command is shown as the characters it
    is (issue 14), never as bold text, an image or a link."""
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QLabel

    prov = dict(trained_info().provenance, data="<h1>cohort</h1>", command="<script>x</script> alifuse-train")
    info = CheckpointInfo(preset("tiny"), HOSTILE, "1", prov, "a1b2c3d4e5f6", "/m/<i>best</i>.safetensors")
    dlg = ModelCardDialog(info)
    qtbot.addWidget(dlg)
    shown = {lab.text(): lab for lab in dlg.findChildren(QLabel)}
    classes = ", ".join(HOSTILE)
    assert classes in shown and shown[classes].textFormat() == Qt.TextFormat.PlainText
    for text, lab in shown.items():  # every label whose text holds markup shows it verbatim
        if "<" in text:
            assert lab.textFormat() == Qt.TextFormat.PlainText, text
    # rendered: the card's label draws what a plain-text label draws, not what the HTML would
    def drawn(label):
        label.setWordWrap(True)
        label.setFixedSize(700, 40)
        img = label.grab().toImage()
        # the ink: how many pixels the text darkens (backgrounds of a dialog and a lone label may differ)
        return sum(1 for y in range(img.height()) for x in range(img.width()) if img.pixelColor(x, y).value() < 110)

    def reference(fmt):
        lab = QLabel()
        lab.setTextFormat(fmt)
        lab.setText(classes)
        qtbot.addWidget(lab)
        return drawn(lab)

    card = drawn(shown[classes])
    assert card == reference(Qt.TextFormat.PlainText) > 0 and card != reference(Qt.TextFormat.RichText)
    table = dlg.provenance_table
    tips = [table.item(i, 1).toolTip() for i in range(table.rowCount())]
    assert "<qt>&lt;h1&gt;cohort&lt;/h1&gt;</qt>" in tips and not any("<h1>" in t for t in tips)
    assert "<script>" not in " ".join(tips)
    assert classes in dlg.as_text()  # the copied text is the plain text itself
