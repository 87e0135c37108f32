"""One patient at a time (issue 13, items 1, 2 and 4): a new image is a new case unless the user says it is the same
patient; a result, a map and a report exist only while they describe what is on screen; what-if names a model
change."""
from __future__ import annotations

import json

import pytest
import torch
from qtpy.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from qtpy.QtGui import QDragEnterEvent, QDropEvent
from qtpy.QtWidgets import QApplication, QFileDialog, QMessageBox

from alifuse_gui import case_state
from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER
from alifuse_gui.whatif import Run, changes, changes_text
from tests.gui.test_predict_panel import RECORD, run, write_case

PATIENT = {**RECORD, "subject_id": "DEMO-0231"}


pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(write_case, PATIENT, "first.nii.gz")


@pytest.fixture(scope="module")
def other_checkpoint(tmp_path_factory):
    """A second untrained tiny model: other weights, so another checkpoint id."""
    from engine.checkpoint import save_checkpoint
    from engine.config import CLASS_NAMES_3WAY, preset
    from engine.model import AlifuseModel

    torch.manual_seed(1)
    path = tmp_path_factory.mktemp("ckpt2") / "other.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), path, list(CLASS_NAMES_3WAY))
    return path


def assert_new_empty_case(s) -> None:
    """Nothing of the previous patient is left: record, result cards, what-if, map, words, reliance."""
    assert all(v is None for v in s.record_form.model.entries().values())
    assert s.record_form.editors["mmse"].text() == "" and s.record_form.editors["summary"].toPlainText() == ""
    assert s.record_form.editors["sex"].currentData() is None
    panel = s.predict_panel
    assert panel.current.label.text() == "—" and panel.current.probabilities == {}
    assert panel.current.model_line.text() == "" and not panel.current.is_stale
    assert panel.previous.isHidden() and panel.runs == [] and panel.changes.text() == ""
    assert s.last_prediction is None and s.last_case is None and s.explanation is None
    assert RELEVANCE_LAYER not in s.viewer.layers or not s.viewer.layers[RELEVANCE_LAYER].data.any()
    assert s.explain_panel.words.words == [] and s.explain_panel.reliance.text() == ""
    assert "DEMO-0231" not in panel.case_line.text()


def predicted_and_explained(s) -> None:
    s.predict_panel.run_now()
    if pytest.importorskip("engine.explain"):
        s.explain_panel.run_now("relevance")
    assert s.predict_panel.current.probabilities and s.explanation is not None


# -- 1. patient mix-up --

def test_opening_another_image_from_the_file_menu_starts_a_new_case(session, tmp_path, monkeypatch):
    predicted_and_explained(session)
    session.predict_panel.run_now()  # two runs: a what-if history to clear
    assert len(session.predict_panel.runs) == 2
    second = write_case(tmp_path / "second.nii.gz")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(second), ""))
    session.menus.actions["open_image"].trigger()
    assert session.volume.path == str(second)
    assert_new_empty_case(session)
    assert session.predict_panel.case_line.text() == "Case: second.nii.gz"
    # Predict now uses the empty record of the new case, never DEMO-0231's
    pred, case = session.predict_panel.run_now()
    assert case.ehr == {} and case.volume.path == str(second)


def test_dropping_another_image_starts_a_new_case_and_a_record_dropped_with_it_fills_it(session, tmp_path):
    predicted_and_explained(session)
    second = write_case(tmp_path / "second.nii.gz")
    record = tmp_path / "second.json"
    record.write_text(json.dumps({"subject_id": "S-2", "mmse": 29}))
    handler = session.drop_handler
    handler.open_paths([second])
    assert session.volume.path == str(second)
    assert_new_empty_case(session)
    handler.open_paths([record, second])  # the record dropped with the image is this case's, whatever the order
    assert session.record_form.model.to_dict() == {"subject_id": "S-2", "mmse": 29}
    # a real drop event goes the same way
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(second))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    target = session.viewer.window._qt_viewer
    QApplication.sendEvent(target, QDragEnterEvent(QPoint(10, 10), *args))
    QApplication.sendEvent(target, QDropEvent(QPointF(10, 10), *args))
    assert session.record_form.model.to_dict() == {}


def test_the_command_lines_record_belongs_to_the_image_it_came_with(make_napari_viewer, tiny_checkpoint, tmp_path):
    from alifuse_gui.app import launch, plan_from_args

    image = write_case(tmp_path / "cli.nii.gz")
    ehr = tmp_path / "cli.json"
    ehr.write_text(json.dumps(PATIENT))
    s = launch(plan_from_args([str(image), "--ehr", str(ehr), "--checkpoint", str(tiny_checkpoint)]),
               make_napari_viewer())
    s.finish_startup()
    assert s.record_form.model.to_dict()["subject_id"] == "DEMO-0231"
    assert "DEMO-0231" in s.predict_panel.case_line.text()
    assert s.open_image(write_case(tmp_path / "next.nii.gz"))
    assert s.record_form.model.to_dict() == {}


def test_open_image_for_this_patient_keeps_the_record_and_the_history(session, tmp_path, monkeypatch):
    session.predict_panel.run_now()
    second = write_case(tmp_path / "followup.nii.gz")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(second), ""))
    session.menus.actions["open_same_patient"].trigger()
    assert session.volume.path == str(second)
    assert session.record_form.model.to_dict() == PATIENT
    panel = session.predict_panel
    assert len(panel.runs) == 1 and panel.current.is_stale
    assert "another image was opened" in panel.current.stale.text()
    session.predict_panel.run_now()
    assert not panel.current.is_stale and not panel.previous.isHidden()
    assert panel.changes.text() == "Changed since the previous prediction: Image: another file"


def test_new_case_from_the_file_menu_empties_the_window(session):
    predicted_and_explained(session)
    session.menus.actions["new_case"].trigger()
    assert session.volume is None and MRI_LAYER not in session.viewer.layers
    assert_new_empty_case(session)
    assert session.predict_panel.case_line.text().startswith("No case open")
    assert session.predict_panel.start() is None and "Open an MRI first" in session.predict_panel.status.text()


def test_dicom_patient_is_shown_and_a_record_of_another_subject_is_flagged_before_predict(session, tmp_path, qtbot,
                                                                                         monkeypatch):
    from tests.engine.test_dicom import _affine, _stored, write_series

    write_series(tmp_path / "dicom", _stored(), _affine("axial"), patient_id="P-0413", patient_name="DOE^JANE")
    assert session.open_image(tmp_path / "dicom")
    panel = session.predict_panel
    assert panel.case_line.text() == "Case: dicom  ·  DICOM patient DOE JANE (ID P-0413)"
    assert panel.subject_warning.isHidden()          # an empty record: nothing to compare
    session.record_form.set_record(PATIENT)           # the previous patient's record, typed in again
    assert not panel.subject_warning.isHidden()
    assert "DEMO-0231" in panel.subject_warning.text() and "P-0413" in panel.subject_warning.text()
    asked: list[str] = []

    def answer(yes):
        def question(parent, title, text, *a, **k):
            asked.append(text)
            return QMessageBox.StandardButton.Yes if yes else QMessageBox.StandardButton.No
        return question

    monkeypatch.setattr(QMessageBox, "question", answer(False))
    assert panel.start() is None and len(asked) == 1 and "DEMO-0231" in asked[0]
    assert panel.status.text().startswith("Not predicted: ") and panel.runs == []
    monkeypatch.setattr(QMessageBox, "question", answer(True))
    assert run(qtbot, panel.start) == "ok" and len(asked) == 2  # the user said it is the same patient
    session.record_form.set_entry("subject_id", "p-0413")
    assert panel.subject_warning.isHidden()
    assert run(qtbot, panel.start) == "ok" and len(asked) == 2  # no question when they agree


# -- 2. stale results --

def test_a_record_edit_marks_the_result_out_of_date_and_clears_the_map_and_words(session, tmp_path):
    from alifuse_gui._qt.menus import export_report

    predicted_and_explained(session)
    panel = session.predict_panel
    assert not panel.current.is_stale and session.viewer.layers[RELEVANCE_LAYER].visible
    session.record_form.editors["mmse"].setText("12")
    assert panel.current.is_stale
    assert panel.current.stale.text() == ("OUT OF DATE: the record changed (MMSE (points): 24 -> 12) since this prediction. "
                                          "Press Predict for a current result.")
    assert not panel.current.label.isEnabled()
    assert session.explanation is None and not session.viewer.layers[RELEVANCE_LAYER].visible
    assert not session.viewer.layers[RELEVANCE_LAYER].data.any()
    assert session.explain_panel.words.words == [] and session.explain_panel.reliance.text() == ""
    with pytest.raises(ValueError, match="Predict again first: the record changed"):
        session.explanation_job("relevance")
    # the report refuses the old values and the old map, and says why
    boxes: list[tuple[str, str]] = []
    session.warn = lambda title, message: boxes.append((title, message))
    assert export_report(session, tmp_path / "stale.pdf") is None and not (tmp_path / "stale.pdf").exists()
    assert boxes[-1][0] == "Export report" and "out of date: the record changed (MMSE (points): 24 -> 12)" in boxes[-1][1]
    session.record_form.editors["mmse"].setText("abc")
    assert "the record has invalid fields" in panel.current.stale.text()
    session.record_form.editors["mmse"].setText("24")   # back to what was predicted: current again
    assert not panel.current.is_stale and panel.current.label.isEnabled()
    session.record_form.editors["mmse"].setText("12")
    pred, case = session.predict_panel.run_now()
    assert not panel.current.is_stale and case.ehr["mmse"] == 12
    path = export_report(session, tmp_path / "current.pdf")
    assert path is not None and path.read_bytes().startswith(b"%PDF")


def test_another_model_makes_the_result_out_of_date(session, other_checkpoint, tmp_path):
    from alifuse_gui._qt.menus import export_report

    session.predict_panel.run_now()
    assert session.load_checkpoint(other_checkpoint)
    panel = session.predict_panel
    assert panel.current.is_stale and "another model was loaded" in panel.current.stale.text()
    boxes: list[str] = []
    session.warn = lambda title, message: boxes.append(message)
    assert export_report(session, tmp_path / "r.pdf") is None and "another model was loaded" in boxes[-1]


def test_a_prediction_of_a_case_closed_meanwhile_is_dropped(session, tmp_path):
    work = session.prediction_job()
    result = work(lambda f, m: None, lambda: False)
    assert session.open_image(write_case(tmp_path / "second.nii.gz"))
    assert session.accept_prediction(result) is None and session.last_prediction is None


# -- 4. what-if compares like with like --

def test_what_if_says_the_model_changed(session, other_checkpoint):
    panel = session.predict_panel
    session.predict_panel.run_now()
    assert session.load_checkpoint(other_checkpoint)
    session.predict_panel.run_now()
    text = panel.changes.text()
    assert text.startswith("Changed since the previous prediction: Model: tiny.safetensors -> other.safetensors")
    assert "nothing" not in text
    assert panel.runs[0].model != panel.runs[1].model


def test_what_if_rules_without_qt():
    a = Run({"mmse": 24}, "AD", {"AD": 0.977}, "/x/a.nii.gz", "abc", "demo.safetensors", 1)
    assert changes(a, a) == [] and changes_text(a, a) == "Changed since the previous prediction: nothing"
    b = Run({"mmse": 24}, "NC", {"NC": 0.431}, "/x/a.nii.gz", "def", "best.safetensors", 1)
    assert changes(a, b) == ["Model: demo.safetensors -> best.safetensors"]
    c = Run({"mmse": 20}, "NC", {"NC": 0.431}, "/x/a.nii.gz", "def", "demo.safetensors", 2)
    assert changes(a, c) == ["Model: demo.safetensors -> demo.safetensors (id abc -> def)", "Image: opened again",
                             "MMSE (points): 24 -> 20"]


def test_case_rules_without_qt():
    made = case_state.Inputs(1, "/a.nii", {"mmse": 24}, True, 0)
    assert case_state.stale_reasons(made, made) == [] and case_state.stale_reasons(None, made) == []
    now = case_state.Inputs(2, "/a.nii", {"mmse": 20}, True, 1)
    assert case_state.stale_reasons(made, now) == ["another image was opened", "another model was loaded",
                                                   "the record changed (MMSE (points): 24 -> 20)"]
    assert case_state.stale_message(["x", "y", "z"]).startswith("OUT OF DATE: x, y and z since this prediction.")
    assert case_state.stale_message([]) == ""
    assert case_state.subject_mismatch("DEMO-0231", {"patient_id": "P-1"}).startswith(
        "The record is of subject DEMO-0231, the scan of DICOM patient ID P-1")
    assert case_state.subject_mismatch(" p-1 ", {"patient_id": "P-1"}) is None
    assert case_state.subject_mismatch(None, {"patient_id": "P-1"}) is None
    assert case_state.subject_mismatch("S", {}) is None
    assert case_state.patient_text({"patient_name": "DOE JANE"}) == "DICOM patient DOE JANE"
    assert case_state.case_text("/d/x.nii.gz", {}, "S-1") == "Case: x.nii.gz  ·  record of subject S-1"
