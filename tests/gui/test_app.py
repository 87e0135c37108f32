"""alifuse-gui: command-line errors, menus, model loading, the npe2 manifest, and the --screenshot run."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from alifuse_gui.app import main

ROOT = Path(__file__).resolve().parents[2]
AFFINE = np.array([[2.0, 0, 0, -20], [0, 2.0, 0, -24], [0, 0, 2.0, -18], [0, 0, 0, 1]])


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


@pytest.fixture
def case(tmp_path):
    x, y, z = np.mgrid[0:20, 0:24, 0:18]
    d = ((x - 10) / 8) ** 2 + ((y - 12) / 10) ** 2 + ((z - 9) / 7) ** 2
    data = np.where(d < 1, 150 + 50 * np.sin(y / 2.0), 0).astype(np.float32)
    image = tmp_path / "case.nii.gz"
    nib.save(nib.Nifti1Image(data, AFFINE), str(image))
    record = tmp_path / "case.json"
    record.write_text('{"age": 70, "mmse": 26, "summary": "Slowly worsening memory."}')
    return image, record


def one_error_line(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert gc.isenabled()  # paused for the start-up only, back on when main ends early
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("alifuse: error: ")
    return err[0]


def test_bad_arguments_give_one_line_and_exit_2(capsys, case, tmp_path):
    image, record = case
    assert "--bogus" in one_error_line(capsys, [str(image), "--bogus"])
    assert "nothere.nii: image not found" in one_error_line(capsys, [str(tmp_path / "nothere.nii")])
    assert "--device tpu" in one_error_line(capsys, [str(image), "--device", "tpu"])
    bad_ehr = tmp_path / "bad.json"
    bad_ehr.write_text('{"mmse": 31}')
    assert "field 'mmse': 31 is out of range 0-30" in one_error_line(capsys, [str(image), "--ehr", str(bad_ehr)])
    pickle = tmp_path / "model.pt"
    pickle.write_bytes(b"\x80\x04junk")
    assert "model.pt" in one_error_line(capsys, [str(image), "--checkpoint", str(pickle)])
    assert "must end in .png" in one_error_line(capsys, [str(image), "--screenshot", str(tmp_path / "x.jpg")])
    broken = tmp_path / "broken.nii"
    broken.write_bytes(b"garbage")
    assert str(broken) in one_error_line(capsys, [str(broken)])


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for option in ("IMAGE", "--ehr", "--checkpoint", "--device", "--screenshot", "--radiological", "--method"):
        assert option in out


def test_menus_are_in_napari_window(make_napari_viewer, tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession

    viewer = make_napari_viewer()
    session = AlifuseSession(viewer, tiny_checkpoint)
    file_texts = [a.text() for a in viewer.window.file_menu.actions()]
    assert file_texts[:5] == ["New case", "Open MRI image (new case)…", "Open DICOM folder (new case)…",
                              "Open image for this patient…", "Load record…"]
    assert any(t.startswith("Export report…") for t in file_texts)
    bar = [a.text() for a in viewer.window.main_menu.actions()]
    assert "&Model" in bar and "&Training" in bar
    actions = session.menus.actions
    assert actions["radiological"].isCheckable()
    actions["radiological"].trigger()
    assert session.views.radiological is True
    # entries backed by a colleague's module say so when that module is missing
    for key, module in (("model_card", "alifuse_gui._qt.model_card"), ("train", "alifuse_gui._qt.training_dialog"),
                        ("export_report", "alifuse_gui.report")):
        try:
            __import__(module)
            available = True
        except ImportError:
            available = False
        assert actions[key].isEnabled() == available
        assert ("not available" in actions[key].text()) == (not available)


def test_load_checkpoint_from_the_model_menu(make_napari_viewer, tiny_checkpoint, tmp_path, boxes):
    from alifuse_gui._qt.session import AlifuseSession

    session = AlifuseSession(make_napari_viewer(), None)
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04junk")
    assert session.load_checkpoint(pickled) is False
    assert boxes[-1] == ("Cannot load the model", f"{pickled}: not a .safetensors checkpoint "
                                                   "(Alifuse never loads pickled files)")
    fake = tmp_path / "fake.safetensors"
    fake.write_bytes(b"\x80\x04junk")
    assert session.load_checkpoint(fake) is False and "pickled PyTorch file" in boxes[-1][1]
    assert session.predictor is None
    assert session.load_checkpoint(tiny_checkpoint)
    assert session.predictor.info.path == str(tiny_checkpoint) and len(boxes) == 2


def test_manifest_declares_the_docks_and_the_reader(case):
    from npe2 import PluginManifest

    from alifuse_gui.plugin import get_reader

    manifest = PluginManifest.from_file(ROOT / "alifuse_gui" / "napari.yaml")
    assert manifest.name == "alifuse-viewer"
    assert [w.display_name for w in manifest.contributions.widgets] == ["Record", "Predict", "Explain"]
    image, _ = case
    assert get_reader(str(image.with_suffix(".txt"))) is None
    [(data, meta, kind)] = get_reader(str(image))(str(image))
    assert kind == "image" and data.shape == (20, 24, 18)
    assert meta["scale"] == (2.0, 2.0, 2.0) and meta["translate"] == (-20.0, -24.0, -18.0)


@pytest.mark.slow
def test_screenshot_run_saves_a_real_window(case, tiny_checkpoint, tmp_path):
    image, record = case
    shot = tmp_path / "window.png"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "alifuse_gui.app", str(image), "--ehr", str(record),
                           "--checkpoint", str(tiny_checkpoint), "--screenshot", str(shot)],
                          capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB"), dtype=float)
    assert pixels.shape[0] >= 600 and pixels.shape[1] >= 1000       # the whole window, not the canvas
    assert pixels.std() > 20 and pixels.mean() > 15                   # not blank, not black


def test_the_record_preview_is_written_as_the_model_in_use_reads_it(make_napari_viewer, tiny_checkpoint, tmp_path,
                                                                     boxes):
    """A model trained on text format 2 reads CDR-SB 10.5 as "10½": the preview shows the text of the model the
    session starts with, and of the one the user loads after it."""
    import torch

    from alifuse_gui._qt.session import AlifuseSession
    from engine.checkpoint import save_checkpoint
    from engine.config import CLASS_NAMES_3WAY, preset
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    v2 = tmp_path / "format2.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny", text_format=2)), v2, list(CLASS_NAMES_3WAY))
    session = AlifuseSession(make_napari_viewer(), v2)
    session.record_form.set_record({"cdr_sb": 10.5, "cdr": 0.5})
    shown = session.record_form.preview.toPlainText()
    assert "The CDR sum of boxes is 10½." in shown and "The CDR score is 0.5." in shown
    assert session.load_checkpoint(tiny_checkpoint)  # format 1
    assert "The CDR sum of boxes is 10.5." in session.record_form.preview.toPlainText() and not boxes


def test_the_preview_and_the_explanation_say_which_scores_a_model_reads_as_numbers(make_napari_viewer, tmp_path,
                                                                                  tiny_checkpoint, boxes):
    """A model with score_knots > 0 reads MMSE and CDR as numbers: the preview leaves them out of the text and lists
    them below it, and its explanation says what each did (no word of the text holds them)."""
    import torch

    from alifuse_gui._qt.session import AlifuseSession
    from engine.checkpoint import save_checkpoint
    from engine.config import CLASS_NAMES_3WAY, preset
    from engine.explain import explain
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    numbers = tmp_path / "numbers.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny", score_knots=4)), numbers, list(CLASS_NAMES_3WAY))
    session = AlifuseSession(make_napari_viewer(), numbers)
    session.record_form.set_record({"age": 70, "mmse": 24, "cdr": 0.5})
    shown = session.record_form.preview.toPlainText()
    assert "The age is 70 years." in shown and "MMSE score" not in shown
    assert shown.splitlines()[-1] == "Read as numbers: MMSE 24, CDR 0.5."
    predictor = session.ensure_model()
    _, case = predictor.predict(session_scan(tmp_path), {"age": 70, "mmse": 24, "cdr": 0.5})
    expl = explain(predictor.model, case, "relevance", class_names=list(CLASS_NAMES_3WAY))
    assert [e.field for e in expl.score_effects] == ["mmse", "cdr"]
    lines = expl.score_lines()
    assert lines[0].startswith("MMSE 24 (read as a number): ") and "with it unknown" in lines[0]
    session.explain_panel.show_explanation(expl)
    assert session.explain_panel.scores.text().splitlines() == lines
    session.explain_panel.clear()
    assert session.explain_panel.scores.text() == ""
    assert session.load_checkpoint(tiny_checkpoint)  # reads its scores as text again
    assert "The MMSE score is 24." in session.record_form.preview.toPlainText() and not boxes


def session_scan(tmp_path):
    import nibabel as nib

    from tests.engine.test_explain import AFFINE, _brain

    nib.save(nib.Nifti1Image(_brain(), AFFINE), tmp_path / "t1.nii.gz")
    return tmp_path / "t1.nii.gz"
