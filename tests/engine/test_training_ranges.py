"""A case outside the demographics of the cases the model learned from is answered with a note that says so
(engine.training_ranges): an age of 33 beside a cohort of 55-95-year-olds is extrapolation."""
from __future__ import annotations

import json

import pytest

from engine.checkpoint import load_checkpoint, read_info, save_checkpoint
from engine.cli_predict import main
from engine.resources import DEMO_CHECKPOINT, DEMO_IMAGE
from engine.training_ranges import (PROVENANCE_KEY, OutOfRange, bounds_problem, fields_read, outside, outside_note,
                                    record_ranges)


def test_the_ranges_are_the_lowest_and_highest_values_present():
    ehrs = [{"age": 70, "education_years": 12}, {"age": 55.5}, {"age": 91, "education_years": None},
            {"age": float("nan"), "education_years": 7}, {"age": True}, {"age": "33"}, {"age": 10 ** 400},
            {"mmse": 3}, {}]
    assert record_ranges(ehrs) == {"age": [55.5, 91.0], "education_years": [7.0, 12.0]}
    assert record_ranges([{"mmse": 20}]) == {}  # scores are not range-checked; a field no record holds is left out


def test_a_value_outside_its_range_is_named_in_the_forms_words():
    ranges = {"age": [55, 95], "education_years": [7, 20]}
    assert outside({"age": 55, "education_years": 20}, ranges) == []  # the ends are inside
    found = outside({"age": 33, "sex": "male", "education_years": 4, "mmse": 30}, ranges)
    assert found == [OutOfRange("age", 33.0, 55.0, 95.0), OutOfRange("education_years", 4.0, 7.0, 20.0)]
    note = outside_note(found)
    assert note.startswith("outside the cases the model learned from: Age 33 years (the training cases: 55-95); "
                           "Education 4 years (the training cases: 7-20). ")
    assert note.endswith("so the answer, and what the model reads in a scan at this age, is extrapolated")
    assert outside_note(found[1:]).endswith("so the answer is extrapolated")  # schooling alone: not the scan
    assert outside({"age": 96.5}, ranges)[0].value == 96.5
    assert outside({"age": 33}, None) == [] and outside({"age": 33}, {}) == []  # an older checkpoint: no note
    assert outside({"age": "33", "education_years": True}, ranges) == []  # not numbers: nothing to compare
    # only what the model reads: the age through a scan or the record, the schooling through the record
    assert [u.field for u in outside({"age": 33, "education_years": 4}, ranges, fields_read(True, False))] == ["age"]
    assert fields_read(False, True) == ("age", "education_years") and fields_read(False, False) == ()
    assert outside_note(found[:1], uses_image=False).endswith("so the answer is extrapolated")  # no scan to read


@pytest.mark.parametrize("field, bounds, why", [
    ("mmse", [0, 30], "'mmse' is not one of age, education_years"),
    ("age", [95, 55], "two numbers from 1 to 120, lowest first"), ("age", [55, "old"], "two numbers"),
    ("age", [55, float("nan")], "two numbers"), ("age", [55, 10 ** 400], "two numbers"),
    ("age", [55, 95, 99], "expected [lowest, highest]"), ("education_years", [0, 31], "from 0 to 30"),
])
def test_stored_ranges_that_no_checkpoint_writes_are_named(field, bounds, why):
    assert why in bounds_problem(field, bounds)
    assert outside({field: 500}, {field: bounds}) == []  # never compared, never a crash
    assert bounds_problem("age", [55, 95]) is None and bounds_problem("age", [55.0, 55.0]) is None


@pytest.mark.skipif(not DEMO_CHECKPOINT.is_file(), reason="needs the shipped checkpoint")
def test_the_shipped_checkpoint_notes_a_young_adult_and_not_an_older_one(tmp_path, capsys):
    assert read_info(DEMO_CHECKPOINT).provenance[PROVENANCE_KEY] == {"age": [55.0, 95.0],
                                                                      "education_years": [7.0, 20.0]}
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"age": 33, "sex": "male"}))
    assert main([str(DEMO_IMAGE), "--ehr", str(rec), "--json", "--device", "cpu"]) == 0
    young = json.loads(capsys.readouterr().out)
    assert young["outside_training_ranges"] == [{"field": "age", "value": 33.0, "low": 55.0, "high": 95.0}]
    assert any(n.startswith("outside the cases the model learned from: Age 33 years") for n in young["notes"])
    rec.write_text(json.dumps({"age": 70, "sex": "male"}))
    assert main([str(DEMO_IMAGE), "--ehr", str(rec), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "outside the cases" not in text
    rec.write_text(json.dumps({"age": 33, "sex": "male"}))
    assert main([str(DEMO_IMAGE), "--ehr", str(rec), "--device", "cpu"]) == 0
    assert "Note: outside the cases the model learned from: Age 33 years" in capsys.readouterr().out
    # the same weights without the stored ranges (a checkpoint trained before them) give no such note
    model, info = load_checkpoint(DEMO_CHECKPOINT, calibrated=False)
    older = tmp_path / "older.safetensors"
    save_checkpoint(model, older, info.class_names, {k: v for k, v in info.provenance.items() if k != PROVENANCE_KEY},
                    calibration=info.calibration)
    assert main([str(DEMO_IMAGE), "--ehr", str(rec), "--json", "--device", "cpu", "--checkpoint", str(older)]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["outside_training_ranges"] == [] and res["probabilities"] == young["probabilities"]


@pytest.mark.parametrize("modalities, fields, scan_words", [
    (("image",), ["age"], True),                          # reads no record: the age reaches it through the scan
    (("text",), ["age", "education_years"], False),       # reads no scan
    (("image", "text"), ["age", "education_years"], True),
])
def test_the_note_names_only_what_the_model_reads(tmp_path, modalities, fields, scan_words):
    import torch

    from engine.config import preset
    from engine.model import AlifuseModel
    from engine.predict import Predictor

    torch.manual_seed(0)
    path = tmp_path / "m.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny", modalities=modalities)), path, ["NC", "MCI", "AD"],
                    {"trained": True, PROVENANCE_KEY: {"age": [55, 95], "education_years": [7, 20]}})
    pred, _ = Predictor(path, "cpu").predict(DEMO_IMAGE, {"age": 33, "education_years": 2, "sex": "male"})
    assert [u["field"] for u in pred.outside_training_ranges] == fields
    note = [n for n in pred.notes if n.startswith("outside the cases the model learned from")]
    assert len(note) == 1 and ("reads in a scan at this age" in note[0]) == scan_words, note
