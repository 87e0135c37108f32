"""Predict and explain docks: worker threads with progress and cancel, result cards, what-if, overlay."""
from __future__ import annotations

import gc

import numpy as np
import pytest

from alifuse_gui.layers import MRI_LAYER, RELEVANCE_LAYER


def write_case(path):
    """A small head-like ellipsoid, stored with a flipped (LPS-like) affine."""
    import nibabel as nib

    x, y, z = np.mgrid[0:20, 0:24, 0:18]
    d = ((x - 10) / 8) ** 2 + ((y - 12) / 10) ** 2 + ((z - 9) / 7) ** 2
    data = np.where(d < 1, 150 + 50 * np.sin(x / 2.0), 0).astype(np.float32)
    affine = np.array([[-2.0, 0, 0, 60], [0, -2.0, 0, 70], [0, 0, 2.5, -40], [0, 0, 0, 1]])
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path

RECORD = {"age": 74, "sex": "female", "mmse": 24, "cdr": 0.5, "summary": "Memory complaints for two years."}


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


@pytest.fixture
def session(make_napari_viewer, tiny_checkpoint, tmp_path):
    from alifuse_gui._qt.session import AlifuseSession

    s = AlifuseSession(make_napari_viewer(), tiny_checkpoint)
    assert s.open_image(write_case(tmp_path / "case.nii.gz"))
    s.record_form.set_record(RECORD)
    return s


def run(qtbot, start):
    """Start a job and wait for its final state ("ok", "cancelled", "failed")."""
    job = start()
    assert job is not None
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    return blocker.args[0]


def test_predict_runs_in_a_worker_and_shows_the_result(session, qtbot):
    panel = session.predict_panel
    progress: list[float] = []
    job = panel.start()
    job.progress.connect(lambda f, m: progress.append(f))
    assert not panel.predict_button.isEnabled() and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["ok"]
    card = panel.current
    assert card.label.text() in ("NC", "MCI", "AD")
    assert sum(card.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert card.label.text() == max(card.probabilities, key=card.probabilities.get)
    assert sum(b.value() for b in card.bars.values()) == pytest.approx(1000, abs=2)
    assert "UNTRAINED" in card.model_line.text() and session.predictor.info.checkpoint_id in card.model_line.text()
    assert card.device_line.text() == "Device: cpu"
    assert panel.progress.value() == 100 and panel.predict_button.isEnabled()
    assert progress == sorted(progress) and progress  # the bar only moves forward


def test_cancel_discards_the_result(session, qtbot):
    panel = session.predict_panel
    job = panel.start()
    panel.cancel()  # before the worker's result can reach the GUI thread
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["cancelled"]
    assert panel.current.label.text() == "—" and panel.runs == []
    assert "Cancelled" in panel.status.text() and panel.predict_button.isEnabled()


def test_invalid_record_is_not_predicted(session):
    session.record_form.editors["mmse"].setText("31")
    assert session.predict_panel.start() is None
    assert "MMSE (points): 31 is out of range 0-30" in session.predict_panel.status.text()


def test_what_if_shows_previous_and_current(session, qtbot):
    panel = session.predict_panel
    assert run(qtbot, panel.start) == "ok"
    first = dict(panel.current.probabilities)
    session.record_form.editors["mmse"].setText("12")
    session.record_form.set_entry("cdr", 2)
    assert run(qtbot, panel.start) == "ok"
    assert not panel.previous.isHidden()
    assert panel.previous.probabilities == first
    assert panel.current.probabilities != first      # the record reached the model
    assert "MMSE (points): 24 -> 12" in panel.changes.text() and "CDR: 0.5 -> 2" in panel.changes.text()
    assert [r.ehr.get("mmse") for r in panel.runs] == [24, 12]


def test_explain_in_a_worker_adds_an_aligned_overlay(session, qtbot):
    pytest.importorskip("engine.explain")
    assert session.explain_panel.start() is None  # nothing predicted yet
    assert run(qtbot, session.predict_panel.start) == "ok"
    panel = session.explain_panel
    panel.method.setCurrentText("relevance")
    assert run(qtbot, panel.start) == "ok"
    rel, mri = session.viewer.layers[RELEVANCE_LAYER], session.viewer.layers[MRI_LAYER]
    assert rel.data.shape == mri.data.shape
    np.testing.assert_allclose(rel.affine.affine_matrix, mri.affine.affine_matrix)
    assert 0.0 <= rel.data.min() and rel.data.max() <= 1.0 and rel.data.max() > 0
    assert str(rel.blending) == "translucent"
    # the words the model read, shaded; the fields, charted
    assert panel.words.words == session.explanation.words and "MMSE" in panel.words.words
    assert "(MMSE (points))" in panel.words.tooltip_for(panel.words.words.index("MMSE"))  # as the form names it
    assert set(panel.chart.values) == set(session.explanation.field_relevance)
    panel.threshold.setValue(70)
    panel.opacity.setValue(35)
    assert tuple(rel.contrast_limits) == (0.7, 1.0) and rel.opacity == pytest.approx(0.35)
    # what the prediction rests on: the model's own figures, for the class the map explains
    reliance = session.explanation.reliance
    assert reliance.target_class == session.explanation.target_class
    assert reliance.class_names == tuple(session.predictor.class_names)
    assert reliance.probabilities[reliance.target_class] == pytest.approx(
        session.last_prediction.probabilities[session.explanation.target_name], abs=1e-5)
    assert panel.reliance.text() == "\n".join(reliance.lines())
    assert panel.reliance.text().startswith("Without the MRI: ") and "Without the record: " in panel.reliance.text()
    weak = reliance.weak("image") or reliance.weak("record")
    assert ("hardly depends on" in panel.reliance.text()) == weak
    assert ("font-weight: bold" in panel.reliance.styleSheet()) == weak


def test_a_new_prediction_retires_the_shown_explanation(session, qtbot):
    """What-if: after the record changes and Predict runs again, the old map, words and reliance explained the old
    prediction; they are hidden and cleared, and the panel says to explain again."""
    pytest.importorskip("engine.explain")
    session.predict_panel.run_now()
    session.explain_panel.run_now("relevance")
    panel = session.explain_panel
    assert session.viewer.layers[RELEVANCE_LAYER].visible and panel.words.words and panel.reliance.text()
    session.record_form.set_record({**RECORD, "mmse": 12})
    # the map goes as soon as the record changes, not only at the next Predict (issue 13, stale results)
    assert session.explanation is None and not session.viewer.layers[RELEVANCE_LAYER].visible
    assert panel.status.text().startswith("The inputs changed since the prediction")
    assert run(qtbot, session.predict_panel.start) == "ok"
    assert session.explanation is None and not session.viewer.layers[RELEVANCE_LAYER].visible
    assert not session.viewer.layers[RELEVANCE_LAYER].data.any(), "ticking the layer on must not bring it back"
    assert panel.words.words == [] and panel.chart.values == {} and panel.reliance.text() == ""
    assert "explain" in panel.status.text().lower()
    session.explain_panel.run_now("relevance")
    assert session.viewer.layers[RELEVANCE_LAYER].visible and panel.reliance.text()


def test_explain_cancel_keeps_no_overlay(session, qtbot):
    pytest.importorskip("engine.explain")
    assert run(qtbot, session.predict_panel.start) == "ok"
    job = session.explain_panel.start()
    session.explain_panel.cancel()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["cancelled"]
    assert RELEVANCE_LAYER not in session.viewer.layers and session.explanation is None


def test_export_report_from_the_file_menu_after_predict_and_explain(session, qtbot, tmp_path, monkeypatch):
    """The menu action writes the PDF of the last prediction and explanation: three pages with the label."""
    from alifuse_gui._qt.menus import export_report
    from tests.gui.test_report import pdf_pages, pdf_text

    warnings: list[str] = []
    monkeypatch.setattr(session, "warn", lambda title, message: warnings.append(message))
    assert export_report(session, tmp_path / "none.pdf") is None  # nothing predicted yet: refused, said why
    assert not (tmp_path / "none.pdf").exists() and "Predict first" in warnings[0]
    pred, _ = session.predict_panel.run_now()
    session.explain_panel.run_now("relevance")
    path = export_report(session, tmp_path / "case_report.pdf")
    data = path.read_bytes()
    assert data.startswith(b"%PDF") and pdf_pages(data) == 3
    text = pdf_text(data)
    assert pred.label in text and "not a medical device" in text


def test_an_explanation_that_finishes_after_a_new_prediction_is_dropped(session, qtbot):
    """The docks run their jobs independently: an explanation of the old prediction that arrives after the new one
    must not put the old map, words and reliance back beside the new result."""
    import threading

    pytest.importorskip("engine.explain")
    session.predict_panel.run_now()
    panel = session.explain_panel
    go_on = threading.Event()
    make_job = session.explanation_job

    def held_job(method):  # the explanation finishes only once the new prediction is in
        work = make_job(method)
        return lambda report, cancelled: (go_on.wait(60), work(report, cancelled))[1]

    session.explanation_job = held_job
    job = panel.start()
    session.record_form.set_record({**RECORD, "mmse": 12})
    session.predict_panel.run_now()
    go_on.set()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["ok"]
    qtbot.waitUntil(lambda: panel.explain_button.isEnabled(), timeout=10_000)
    assert session.explanation is None and panel.reliance.text() == "" and panel.words.words == []
    assert RELEVANCE_LAYER not in session.viewer.layers or not session.viewer.layers[RELEVANCE_LAYER].visible
    assert panel.status.text() == "The prediction changed while this explanation ran: explain the new one."
