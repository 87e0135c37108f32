"""What a prediction rests on, at Predict time (issue 13, item 3): the result card says how far the prediction moves
with the MRI or the record hidden, before any Explain, and says so when the record was empty."""
from __future__ import annotations

import pytest

from alifuse_gui.rests_on import record_is_empty, rests_on
from engine.explain.reliance import ModalityReliance
from tests.gui.test_predict_panel import RECORD, run, write_case


pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(write_case)


NAMES = ("NC", "MCI", "AD")


def test_the_line_gives_both_shifts_and_warns_of_a_modality_hardly_used():
    rel = ModalityReliance(NAMES, 2, (0.1, 0.2, 0.7), (0.1, 0.21, 0.69), (0.5, 0.3, 0.2))
    line = rests_on(rel, RECORD)
    assert line.text == ("Rests on: hiding the MRI moves its probabilities by 1.0 points; hiding the record moves its "
                         "probabilities by 50.0 points. It hardly depends on the MRI.")
    assert line.warning
    assert not rests_on(ModalityReliance(NAMES, 2, (0.1, 0.2, 0.7), (0.3, 0.3, 0.4), (0.5, 0.3, 0.2)), RECORD).warning


def test_an_empty_record_is_said_even_unmeasured():
    assert record_is_empty({}) and record_is_empty({"subject_id": "S-1"}) and not record_is_empty({"mmse": 20})
    line = rests_on(None, {"subject_id": "S-1"})
    assert line.text == "The record was empty: this prediction rests on the MRI alone." and line.warning
    assert rests_on(None, RECORD) is None


def test_the_card_says_what_the_prediction_rests_on_at_predict(session, qtbot):
    session.record_form.set_record(RECORD)
    assert run(qtbot, session.predict_panel.start) == "ok"
    card = session.predict_panel.current
    rel = session.last_reliance
    assert rel is not None and session.explanation is None  # measured with the prediction, no Explain needed
    text = card.rests_on.text()
    assert not card.rests_on.isHidden()
    assert f"hiding the MRI moves its probabilities by {100 * rel.shift('image'):.1f} points" in text
    assert f"hiding the record moves its probabilities by {100 * rel.shift('record'):.1f} points" in text
    assert "record was empty" not in text
    session.record_form.set_entry("mmse", "12")  # out of date: greyed with the rest of the card
    assert card.is_stale and not card.rests_on.isEnabled()


def test_a_case_with_an_empty_record_says_the_record_was_empty(session, qtbot):
    assert run(qtbot, session.predict_panel.start) == "ok"
    card = session.predict_panel.current
    assert card.rests_on.text().startswith("The record was empty: this prediction rests on the MRI alone.")
    assert "hiding the MRI moves its probabilities by" in card.rests_on.text()
    assert "hiding the record" not in card.rests_on.text()  # no word to hide
    assert "#b26a00" in card.rests_on.styleSheet()


def test_a_new_case_clears_the_line(session, qtbot, tmp_path):
    session.record_form.set_record(RECORD)
    session.predict_panel.run_now()
    session.predict_panel.run_now()  # a previous card too
    panel = session.predict_panel
    assert panel.previous.rests_on.text() and panel.current.rests_on.text()
    assert session.open_image(write_case(tmp_path / "other.nii.gz"))
    assert panel.current.rests_on.text() == "" and panel.current.rests_on.isHidden()
    assert session.last_reliance is None


def test_explain_reuses_what_predict_measured(session, monkeypatch):
    """The probe of the prediction is not run again for its explanation: the map is read with the same figures."""
    import engine.explain.api as api

    session.predict_panel.run_now()
    measured = session.last_reliance
    assert measured is not None
    probes = []
    real = api.modality_reliance
    monkeypatch.setattr(api, "modality_reliance", lambda *a, **k: probes.append(1) or real(*a, **k))
    expl = session.explain_panel.run_now("relevance")
    assert expl.reliance is measured and probes == []
    assert session.explain_panel.reliance.text() == "\n".join(measured.lines())
