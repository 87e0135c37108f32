"""scripts/generator_posterior.py: the synthetic cohort's own P(class | scores), and a model set beside it."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.resources import DEMO_CHECKPOINT

from tests.trainer.conftest import load_script


def _script():
    return load_script("generator_posterior")


def test_the_posterior_counts_the_matching_records_and_leaves_thin_cells_out():
    gp = _script()
    labels = np.array([0] * 30 + [1] * 60 + [2] * 10)
    scores = np.zeros((100, 4))
    scores[:, 0] = 26.0
    scores[:10, 0] = 30.0  # ten NC records of MMSE 30: too few for a cell of their own
    cell = gp.posterior(labels, scores, {"mmse": 26})
    assert cell["n"] == 90 and cell["p"] == [round(20 / 90, 3), round(60 / 90, 3), round(10 / 90, 3)]
    assert cell["stage"] == round((60 + 20) / 90, 3)
    assert gp.posterior(labels, scores, {"mmse": 30}) is None


def test_the_cohort_reads_a_worse_score_as_worse_and_the_model_is_set_beside_it(tmp_path):
    gp = _script()
    out = tmp_path / "gp.json"
    assert gp.main(["--records", "20000", "--seed", "1", "--out", str(out), "--checkpoint", str(DEMO_CHECKPOINT)]) == 0
    d = json.loads(out.read_text())
    alone = d["one_score_alone"]
    assert alone["mmse 30"]["stage"] < alone["mmse 26"]["stage"] < alone["mmse 20"]["stage"]
    assert alone["cdr 0"]["p"][0] > 0.8 and alone["cdr 2"]["p"][2] > 0.9
    m = d["model"]
    assert set(m["p"]) == {k for k, v in alone.items() if v}
    assert all(abs(sum(p) - 1) < 0.01 for p in m["p"].values())
    assert 0 <= m["mean_total_variation"] <= m["max_total_variation"] <= 1
    corners = d["criteria_corners"]  # ADNI's criteria edges: the cohort's and the model's call beside ADNI's label
    rows = corners["records"]
    assert [r["adni"] for r in rows] == [label for label, _ in gp.CRITERIA_CORNERS]
    assert all(abs(sum(r["model"]) - 1) < 0.01 for r in rows)
    assert corners["cohort_agrees"] <= corners["cohort_cells"] == sum(r["cohort"] is not None for r in rows)
    called = [gp.CLASSES[int(np.argmax(r["model"]))] for r in rows]
    assert corners["model_agrees"] == sum(c == r["adni"] for c, r in zip(called, rows))
    assert called[-1] == "AD" and called[4] == "MCI"  # CDR 1 with MMSE 20 and no recall; MMSE 30 with CDR 0.5


def test_too_few_records_are_refused_by_the_options_name(tmp_path, capsys):
    with pytest.raises(SystemExit):
        _script().main(["--records", "10", "--out", str(tmp_path / "x.json")])
    assert "--records 10" in capsys.readouterr().err and not (tmp_path / "x.json").exists()


def test_adni_s_cdr_rule_gives_mci_cdr_half_and_nc_cdr_zero_and_leaves_the_cohort_s_rule_as_it_was(tmp_path):
    gp = _script()
    labels, scores = gp.draw(20000, 2)
    cdr = scores[:, 1]
    assert (labels[cdr == 0] == 1).any() and (labels[cdr == 0.5] == 0).any()  # the cohort's own overlap
    labels, scores = gp.draw(20000, 2, "adni")
    cdr = scores[:, 1]
    assert not (labels[cdr == 0] == 1).any() and not (labels[cdr == 0.5] == 0).any()
    assert set(cdr[labels == 1]) == {0.5} and (cdr[labels == 2] >= 0.5).all()
    out = tmp_path / "gp.json"
    assert gp.main(["--records", "20000", "--seed", "1", "--cdr-rule", "adni", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["cdr_rule"] == "adni"
