"""python -m trainer.record_audit: each score swept beside records no test wrote, on the shipped checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.ehr import validate_ehr
from engine.predict import Predictor
from engine.resources import DEMO_IMAGE
from trainer.record_audit import SCALES, STAGE_WEIGHTS, main, random_context, sweep, wilson

from tests.trainer.conftest import write_toy_cohort


def test_wilson_interval_matches_the_textbook_values():
    assert wilson(0, 10) == pytest.approx([0.0, 0.2775], abs=1e-4)  # Wilson (1927); Newcombe (1998), table I
    assert wilson(5, 10) == pytest.approx([0.2366, 0.7634], abs=1e-4)
    assert wilson(0, 0) == [0.0, 1.0]


def test_random_records_are_valid_reproducible_and_sweeps_run_healthiest_first():
    a = [random_context(np.random.default_rng(3)) for _ in range(2)]
    b = [random_context(np.random.default_rng(3)) for _ in range(2)]
    assert a == b
    many = [random_context(np.random.default_rng(s)) for s in range(40)]
    assert all(validate_ehr(c) == c for c in many)
    assert any("mmse" in c for c in many) and any("mmse" not in c for c in many)
    assert all(c[f] in SCALES[f] for c in many for f in SCALES if f in c)
    records = sweep({"age": 70, "sex": "male", "mmse": 12}, "mmse")
    assert [r["mmse"] for r in records] == list(range(30, -1, -1)) and all(r["age"] == 70 for r in records)
    assert [r["cdr_sb"] for r in sweep({}, "cdr_sb")][:3] == [0, 0.5, 1]


def test_the_audit_reports_each_score_and_its_worst_step_is_the_model_s_own(tmp_path):
    manifest = write_toy_cohort(tmp_path / "toy", 6)
    out = tmp_path / "audit.json"
    assert main(["--data", str(manifest), "--contexts", "1", "--seed", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["contexts"] == 1 and report["contexts_from"] == str(manifest)
    predictor = Predictor(None, "cpu")
    scan = predictor.prepare(DEMO_IMAGE, {}).image
    for where, image in (("demo_scan", scan), ("mri_hidden", np.zeros_like(scan))):
        assert set(report[where]) == set(SCALES)
        for field, got in report[where].items():
            worst = got["worst_step"]
            scale = SCALES[field]
            assert scale.index(worst["to"]) == scale.index(worst["from"]) + 1, "a step to the next worse value"
            # the reported fall is the model's own: ask it again about those two records
            pair = [validate_ehr({**worst["context"], field: v}) for v in (worst["from"], worst["to"])]
            stage = predictor.record_probabilities(pair, image) @ STAGE_WEIGHTS
            assert stage[0] - stage[1] == pytest.approx(worst["drop"], abs=2e-4)
            assert got["violating"]["n"] == int(worst["drop"] > 0.05)  # one record: violating iff its worst step is
            assert got["violating"]["ci95"][0] <= got["violating"]["share"] <= got["violating"]["ci95"][1]
            assert got["movement"]["p10"] <= got["movement"]["median"] + 1e-9
            if field in ("cdr", "cdr_sb"):  # whole points only: the same sweep without the half points
                whole = [v for v in scale if float(v).is_integer()]
                stages = predictor.record_probabilities(
                    [validate_ehr({**worst["context"], field: v}) for v in whole], image) @ STAGE_WEIGHTS
                drop = float(np.max(stages[:-1] - stages[1:]))
                assert got["whole_points"]["worst_drop"] == pytest.approx(drop, abs=2e-4)
                assert got["whole_points"]["violating"]["n"] == int(drop > 0.05)
            else:
                assert "whole_points" not in got


@pytest.mark.parametrize("argv, named", [(["--contexts", "0"], "--contexts 0"),
                                         (["--tolerance", "-1"], "--tolerance -1"),
                                         (["--data", "MISSING"], "--data"),
                                         (["--checkpoint", "MISSING"], "--checkpoint"),
                                         (["--out", "NOFOLDER/a.json"], "--out")])
def test_bad_options_are_named(tmp_path, capsys, argv, named):
    argv = [str(tmp_path / a) if a.startswith(("MISSING", "NOFOLDER")) else a for a in argv]
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2 and named in capsys.readouterr().err
