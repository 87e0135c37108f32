"""How sure the model is, in the viewer: the result card at Predict time and the PDF report."""
from __future__ import annotations

import gc

import numpy as np
import pytest
import torch

from engine.calibration import Calibration, certainty_sentence
from engine.checkpoint import CheckpointInfo
from engine.config import preset
from engine.predict import Prediction

PROBS = {"NC": 0.3, "MCI": 0.55, "AD": 0.15}
CAL = Calibration(temperature=2.0, uncertain_below=0.99, target_accuracy=0.9, n_val=12, val_ece_before=0.2,
                  val_ece_after=0.05, val_coverage=0.25, val_selective_accuracy=0.9, data="toy")


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


def _pred(calibrated: bool) -> Prediction:
    cal = CAL if calibrated else None
    said = "uncertain" if calibrated else "MCI"
    return Prediction(label="MCI", probabilities=PROBS, text="The MMSE score is 24.", tokens=[], text_truncated=False,
                      checkpoint_id="abc123def456", checkpoint="/m.safetensors", trained=True, device="cpu",
                      timings={}, notes=[], verdict=said, confidence=0.55, calibrated=calibrated,
                      uncertain_below=0.99 if calibrated else None, temperature=2.0 if calibrated else None,
                      certainty=certainty_sentence(PROBS, said, cal))


def test_card_shows_the_verdict_and_the_certainty_line(qtbot):
    from alifuse_gui._qt.result_card import ResultCard

    card = ResultCard("Current")
    qtbot.addWidget(card)
    card.show_prediction(_pred(True))
    assert card.label.text() == "Uncertain (most likely MCI)"
    assert card.certainty.text().startswith("Uncertain: the model cannot tell MCI from NC (best 55%")
    assert "below 99%" in card.certainty.text() and not card.certainty.isHidden()
    card.show_prediction(_pred(False))
    assert card.label.text() == "MCI" and card.certainty.text().startswith("Not calibrated")


@pytest.fixture(scope="module")
def calibrated_checkpoint(tmp_path_factory):
    from engine.checkpoint import save_checkpoint
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("calckpt") / "tiny-cal.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), path, ["NC", "MCI", "AD"], {"trained": True}, calibration=CAL)
    return path


def test_predict_panel_says_uncertain_with_a_calibrated_checkpoint(make_napari_viewer, calibrated_checkpoint,
                                                                   tmp_path, qtbot):
    from alifuse_gui._qt.session import AlifuseSession
    from tests.gui.test_predict_panel import RECORD, write_case

    s = AlifuseSession(make_napari_viewer(), calibrated_checkpoint)
    assert s.open_image(write_case(tmp_path / "case.nii.gz"))
    s.record_form.set_record(RECORD)
    job = s.predict_panel.start()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["ok"]
    card = s.predict_panel.current
    assert card.label.text().startswith("Uncertain (most likely ")  # a tiny model is never 99% sure
    assert "cannot tell" in card.certainty.text() and "12 validation cases" in card.certainty.text()


def test_scores_that_disagree_are_called_uncertain_on_the_card_and_in_the_report(make_napari_viewer, tmp_path,
                                                                                  qtbot):
    """The shipped model, the demo scan, MMSE 10 beside CDR 0: the card and the PDF say uncertain and why."""
    from alifuse_gui._qt.session import AlifuseSession
    from alifuse_gui.report import write_report
    from engine.resources import DEMO_CHECKPOINT, DEMO_IMAGE
    from tests.gui.test_report import pdf_text

    if not DEMO_CHECKPOINT.is_file():
        pytest.skip("needs the shipped checkpoint")
    s = AlifuseSession(make_napari_viewer(), DEMO_CHECKPOINT)
    assert s.open_image(DEMO_IMAGE)
    s.record_form.set_record({"age": 76, "sex": "female", "mmse": 10, "cdr": 0})
    job = s.predict_panel.start()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["ok"]
    card = s.predict_panel.current
    assert card.label.text().startswith("Uncertain (most likely ")
    assert card.certainty.text().startswith("Uncertain: MMSE 10 and CDR 0 disagree; ")
    assert "MMSE 10 and CDR 0: an MMSE in the range of dementia seldom goes with a CDR of no" in card.notes.text()
    text = pdf_text(write_report(tmp_path / "r.pdf", s.last_case.volume, dict(s.last_case.ehr), s.last_prediction,
                                 None, s.predictor.info).read_bytes())
    assert "Uncertain  (most likely" in text and "MMSE 10 and CDR 0 disagree" in text, text


def test_report_carries_the_verdict_and_the_calibration(tmp_path):
    import nibabel as nib

    from alifuse_gui.report import write_report
    from engine.imageio import load_volume
    from tests.gui.test_report import pdf_text

    x, y, z = np.meshgrid(*[np.linspace(-1, 1, n) for n in (20, 24, 18)], indexing="ij")
    nib.save(nib.Nifti1Image((np.exp(-(x ** 2 + y ** 2 + z ** 2) * 2) * 100).astype(np.float32), np.eye(4)),
             tmp_path / "c.nii.gz")
    vol = load_volume(tmp_path / "c.nii.gz")
    for calibrated in (True, False):
        info = CheckpointInfo(preset("tiny"), ["NC", "MCI", "AD"], "1", {"trained": True}, "abc123def456",
                              "/m.safetensors", CAL if calibrated else None)
        text = pdf_text(write_report(tmp_path / f"r{calibrated}.pdf", vol, {"mmse": 24}, _pred(calibrated), None,
                                     info).read_bytes())
        if calibrated:
            assert "Uncertain  (most likely MCI (55.0%))" in text
            assert "the model cannot tell MCI from NC" in text
            assert "temperature 2; 'uncertain' below 99% (12 validation cases)" in text
        else:
            assert "MCI  (55.0%)" in text and "Uncertain" not in text
            assert "Not calibrated" in text and "not calibrated (never says 'uncertain' from its" in text


def test_model_card_says_whether_and_how_the_checkpoint_is_calibrated(qtbot):
    from alifuse_gui._qt.model_card import ModelCardDialog

    for cal, start in ((CAL, "temperature 2 on 12 validation cases (ECE 20.0% -> 5.0%); 'uncertain' below 99%"),
                       (None, "not calibrated")):
        dlg = ModelCardDialog(CheckpointInfo(preset("tiny"), ["NC", "MCI", "AD"], "1", {"trained": True}, "a1b2",
                                             "/m.safetensors", cal))
        qtbot.addWidget(dlg)
        assert dlg.identity["Calibration"].startswith(start)
        assert "Calibration: " + start in dlg.as_text()


def test_an_age_the_training_scans_never_showed_is_noted_on_the_card_and_in_the_report(make_napari_viewer, tmp_path,
                                                                                        qtbot):
    """The shipped model, the demo scan, a record of a 33-year-old: the answer stands, the note says it is
    extrapolated (engine.training_ranges), on the card and in the PDF."""
    from alifuse_gui._qt.session import AlifuseSession
    from alifuse_gui.report import write_report
    from engine.resources import DEMO_CHECKPOINT, DEMO_IMAGE
    from tests.gui.test_report import pdf_text

    if not DEMO_CHECKPOINT.is_file():
        pytest.skip("needs the shipped checkpoint")
    s = AlifuseSession(make_napari_viewer(), DEMO_CHECKPOINT)
    assert s.open_image(DEMO_IMAGE)
    s.record_form.set_record({"age": 33, "sex": "male"})
    job = s.predict_panel.start()
    with qtbot.waitSignal(job.done, timeout=60_000) as blocker:
        pass
    assert blocker.args == ["ok"]
    notes = s.predict_panel.current.notes.text()
    assert "outside the cases the model learned from: Age 33 years (the training cases: 55-95)" in notes, notes
    text = " ".join(pdf_text(write_report(tmp_path / "r.pdf", s.last_case.volume, dict(s.last_case.ehr),
                                          s.last_prediction, None, s.predictor.info).read_bytes()).split())
    assert "outside the cases the model learned from: Age 33 years" in text, text
