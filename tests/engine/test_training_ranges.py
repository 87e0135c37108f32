"""A case outside the demographics of the cases the model learned from is answered with a note that says so
(engine.training_ranges): an age of 33 beside a cohort of 55-95-year-olds is extrapolation."""
from __future__ import annotations

import json

import pytest

from engine.checkpoint import load_checkpoint, read_info, save_checkpoint
from engine.cli_predict import main
from engine.resources import DEMO_CHECKPOINT, DEMO_IMAGE
from engine.training_ranges import PROVENANCE_KEY, OutOfRange, outside, outside_note, record_ranges


def test_the_ranges_are_the_lowest_and_highest_values_present():
    ehrs = [{"age": 70, "education_years": 12}, {"age": 55.5}, {"age": 91, "education_years": None},
            {"age": float("nan"), "education_years": 7}, {"age": True}, {"mmse": 3}, {}]
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


@pytest.mark.skipif(not DEMO_CHECKPOINT.is_file(), reason="needs the shipped checkpoint")
def test_the_shipped_checkpoint_notes_a_young_adult_and_not_an_older_one(tmp_path, capsys):
    assert read_info(DEMO_CHECKPOINT).provenance[PROVENANCE_KEY] == {"age": [55.0, 95.0],
                                                                      "education_years": [7.0, 20.0]}
    rec = tmp_path / "rec.json"
    rec.write_text(json.dumps({"age": 33, "sex": "male"}))
    assert main([str(DEMO_IMAGE), "--ehr", str(rec), "--json", "--device", "cpu"]) == 0
    young = json.loads(capsys.readouterr().out)
    assert young["outside_training_ranges"] == ["Age 33 years (the training cases: 55-95)"]
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
