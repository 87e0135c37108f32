"""Record form: entries <-> EHR dict, invalid values marked and kept, JSON round trip, word count, preview."""
from __future__ import annotations

import json

import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QMessageBox

from alifuse_gui.record_model import SUMMARY_WORD_LIMIT, RecordModel
from engine.errors import AlifuseInputError


@pytest.fixture
def captured_boxes(monkeypatch):
    """QMessageBox.warning replaced by a recorder: (title, text) of every box shown."""
    shown: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: shown.append((title, text)))
    return shown


@pytest.fixture
def form(qtbot):
    from alifuse_gui._qt.record_form import RecordForm

    w = RecordForm()
    qtbot.addWidget(w)
    return w


# -- the Qt-free model --

def test_model_entries_become_a_normalised_dict():
    m = RecordModel()
    m.set_entry("age", "74.5")
    m.set_entry("mmse", " 29 ")
    m.set_entry("cdr_sb", "2,5")          # decimal comma
    m.set_entry("sex", "F")
    m.set_entry("summary", "Forgets  names.\nLost keys.")
    assert m.to_dict() == {"age": 74.5, "sex": "female", "mmse": 29, "cdr_sb": 2.5,
                           "summary": "Forgets names. Lost keys."}


def test_model_keeps_an_invalid_entry_and_names_the_field():
    m = RecordModel()
    assert m.set_entry("mmse", "31") == "MMSE (points): 31 is out of range 0-30"
    m.set_entry("age", "74")
    assert m.entry("mmse") == "31"                     # what was typed is not lost
    assert m.valid_dict() == {"age": 74}               # the model never reads the bad value
    with pytest.raises(AlifuseInputError, match=r"MMSE \(points\): 31 is out of range 0-30"):
        m.to_dict()
    assert "whole number" in m.set_entry("mmse", "abc")


def test_model_unknown_is_blank_not_zero():
    m = RecordModel()
    m.set_entry("mmse", "")
    m.set_entry("education_years", None)
    assert m.to_dict() == {}
    assert m.preview() == []


def test_model_bad_dict_changes_nothing():
    m = RecordModel()
    m.set_entry("mmse", "12")
    with pytest.raises(AlifuseInputError, match="CDR: 0.7"):
        m.set_dict({"age": 80, "cdr": 0.7})
    assert m.entries()["mmse"] == "12" and m.entries()["age"] is None


def test_model_json_round_trip(tmp_path):
    m = RecordModel()
    record = {"subject_id": "S-01", "age": 81, "sex": "male", "education_years": 12, "handedness": "left",
              "mmse": 22, "cdr": 0.5, "cdr_sb": 3.5, "logical_memory_delayed": 4, "ses": 3,
              "summary": "Progressive memory loss over two years."}
    m.set_dict(record)
    path = m.save_json(tmp_path / "r.json")
    assert json.loads(path.read_text()) == record
    other = RecordModel()
    other.load_json(path)
    assert other.to_dict() == record


# -- the widget --

def test_form_typing_fills_the_record(form, qtbot):
    qtbot.keyClicks(form.editors["age"], "74")
    qtbot.keyClicks(form.editors["mmse"], "24")
    form.set_entry("sex", "female")
    form.set_entry("cdr", 0.5)
    emitted: list[dict] = []
    form.changed.connect(emitted.append)
    qtbot.keyClicks(form.editors["summary"], "Word")
    assert emitted[-1] == {"age": 74, "sex": "female", "mmse": 24, "cdr": 0.5, "summary": "Word"}
    assert form.preview.toPlainText() == ("The age is 74 years. The sex is female. The MMSE score is 24. "
                                          "The CDR score is 0.5. Word")


def test_form_marks_an_invalid_value_and_keeps_it(form, qtbot):
    qtbot.keyClicks(form.editors["mmse"], "31")
    editor = form.editors["mmse"]
    assert form.invalid_fields() == ["mmse"]
    assert "border" in editor.styleSheet() and "#d32f2f" in editor.styleSheet()
    assert editor.toolTip() == "MMSE (points): 31 is out of range 0-30"
    assert editor.text() == "31"
    assert "MMSE (points): 31" in form.status.text()
    editor.setText("30")
    assert form.invalid_fields() == [] and editor.styleSheet() == ""
    assert form.model.to_dict() == {"mmse": 30}


def test_form_warns_when_two_scores_disagree_once_typing_pauses(form, qtbot):
    from alifuse_gui._qt.record_form import WARNING_PAUSE_MS

    form.set_entry("cdr", 0)
    qtbot.keyClicks(form.editors["mmse"], "2")  # on the way to 25: no warning flashes at "2"
    assert form.status.text() == ""
    qtbot.keyClicks(form.editors["mmse"], "5")
    assert form.status.text() == ""
    qtbot.wait(WARNING_PAUSE_MS + 300)
    assert form.status.text() == ""  # MMSE 25 beside CDR 0 may both be right
    form.editors["mmse"].clear()
    qtbot.keyClicks(form.editors["mmse"], "2")  # a user who stops at 2 is told, after a pause
    qtbot.waitUntil(lambda: form.status.text().startswith("Check these scores: MMSE 2 and CDR 0"), timeout=5000)
    form.editors["mmse"].clear()
    qtbot.keyClicks(form.editors["mmse"], "3")
    assert form.status.text() == ""
    qtbot.keyClick(form.editors["mmse"], Qt.Key.Key_Return)  # or at once, with Enter
    assert form.status.text().startswith("Check these scores: MMSE 3 and CDR 0")
    qtbot.keyClicks(form.editors["age"], "7")  # typing a field the rules do not read leaves the warning shown
    assert form.status.text().startswith("Check these scores: MMSE 3 and CDR 0")
    form.editors["age"].clear()
    qtbot.keyClicks(form.editors["mmse"], "0")  # MMSE 30 typed, the pause pending ...
    assert form.status.text() == ""
    form.set_entry("mmse", 4)  # ... and a value put in whole is judged at once
    assert form.status.text().startswith("Check these scores: MMSE 4 and CDR 0")
    form.editors["mmse"].setText("10")
    assert form.status.text() == ("Check these scores: MMSE 10 and CDR 0 disagree. A model that reads the scores "
                                  "says 'uncertain' here.")
    assert form.status.toolTip() == "MMSE 10 and CDR 0: an MMSE in the range of dementia seldom goes with a CDR of no " \
                                    "impairment"
    assert "#b26a00" in form.status.styleSheet() and form.invalid_fields() == []
    assert form.model.to_dict() == {"mmse": 10, "cdr": 0}  # a warning, not an error: the record is kept as typed
    qtbot.keyClicks(form.editors["ses"], "9")  # an invalid field is named first
    assert form.status.text().startswith("Fix the marked fields: Socioeconomic status: 9")
    form.editors["ses"].setText("")
    form.editors["mmse"].setText("25")
    assert form.status.text() == "" and form.status.toolTip() == ""


def test_form_unknown_choice_is_explicit(form):
    combo = form.editors["handedness"]
    assert combo.itemText(0) == "unknown" and combo.currentIndex() == 0
    form.set_entry("handedness", "left")
    assert form.model.to_dict() == {"handedness": "left"}
    combo.setCurrentIndex(0)
    assert form.model.to_dict() == {}


def test_form_counts_summary_words(form):
    form.set_entry("summary", " ".join(f"w{i}" for i in range(45)))
    assert form.word_count.text().startswith(f"45 / {SUMMARY_WORD_LIMIT} words")
    assert "only the first 40" in form.word_count.text()
    # the preview shows what the model reads: 40 words, not 45
    assert form.preview.toPlainText().split()[-1] == "w39"


def test_form_load_bad_file_keeps_what_was_typed(form, qtbot, tmp_path, captured_boxes):
    qtbot.keyClicks(form.editors["mmse"], "27")
    bad = tmp_path / "bad.json"
    bad.write_text('{"age": 74, "mmse": 31}')
    assert form.load(bad) is False
    assert captured_boxes == [("Cannot load the record",
                               f"{bad}: MMSE (points) ('mmse' in the file): 31 is out of range 0-30")]
    assert form.editors["mmse"].text() == "27" and form.editors["age"].text() == ""


def test_form_save_and_load_round_trip(form, qtbot, tmp_path, captured_boxes):
    form.set_record({"age": 70, "sex": "male", "cdr_sb": 1.5, "summary": "Mild word-finding pauses."})
    path = tmp_path / "saved.json"
    assert form.save(path)
    form.clear()
    assert form.model.to_dict() == {} and form.editors["age"].text() == ""
    assert form.load(path)
    assert form.editors["age"].text() == "70" and form.editors["sex"].currentText() == "male"
    assert form.editors["cdr_sb"].text() == "1.5"
    assert form.model.to_dict() == {"age": 70, "sex": "male", "cdr_sb": 1.5, "summary": "Mild word-finding pauses."}
    assert captured_boxes == []


def test_form_refuses_to_save_an_invalid_record(form, qtbot, tmp_path, captured_boxes):
    qtbot.keyClicks(form.editors["ses"], "9")
    path = tmp_path / "r.json"
    assert form.save(path) is False
    assert not path.exists()
    assert captured_boxes and "Socioeconomic status: 9 is out of range 1-5" in captured_boxes[0][1]
