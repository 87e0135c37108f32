"""The figures the docs give for the model come from the checkpoint that ships (issue 12: "numbers beat adjectives").

Each committed report the docs quote names the checkpoint it measured; a checkpoint shipped without its reports made
again, or a headline figure typed by hand that no report holds, fails here.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.checkpoint_info import read_info
from engine.resources import DEMO_CHECKPOINT

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
#: report -> where in it the measured checkpoint's id is (each written by a committed script from the shipped model)
SHIPPED_REPORTS = {
    "demo_model_report.json": ("checkpoint_id",),          # scripts/demo_model_report.py
    "demo_model_run.json": ("checkpoint_id",),             # scripts/demo_run_record.py
    "explain_shipped_results.json": ("checkpoint_id",),    # python -m trainer.explain_checks
    "record_audit.json": ("checkpoint_id",),               # python -m trainer.record_audit
    "scanner_shift_report.json": ("checkpoint_id",),       # scripts/scanner_shift_report.py
    "generator_posterior.json": ("model", "checkpoint_id"),  # scripts/generator_posterior.py --checkpoint
}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _auc_text(m: dict) -> str:
    lo, hi = m["ci95"]
    return f"{_pct(m['auc'])} [{_pct(lo)}, {_pct(hi)}]"


@pytest.mark.parametrize("name", list(SHIPPED_REPORTS))
def test_every_quoted_report_measured_the_shipped_checkpoint(name):
    shipped = read_info(DEMO_CHECKPOINT).checkpoint_id
    obj = json.loads((DOCS / name).read_text())
    for key in SHIPPED_REPORTS[name]:
        obj = obj[key]
    assert obj == shipped, f"docs/{name} measured checkpoint {obj}; {shipped} ships: make the report again"


def test_the_headline_auc_figures_are_the_reports():
    """README's first paragraph and RESULTS' main table give the report's AUCs and CIs, to the decimal."""
    test = json.loads((DOCS / "demo_model_report.json").read_text())["data"]["test"]
    fused, mri, record = test["fused"], test["mri_only_empty_record"], test["record_only_mri_hidden"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"AUC {_pct(fused['auc'])} % [{_pct(fused['ci95']['auc'][0])}, {_pct(fused['ci95']['auc'][1])}]" in readme
    assert f"{_pct(mri['auc'])} % from the MRI alone" in readme and f"{_pct(record['auc'])} % from the record" in readme
    results = (DOCS / "RESULTS.md").read_text()
    for m in (fused, mri, record):
        assert _auc_text({"auc": m["auc"], "ci95": m["ci95"]["auc"]}) in results, m


def test_the_uncertain_verdict_figures_are_the_reports():
    """How often the shipped model says "uncertain" on the test cohort and how often it is right on the rest."""
    cal = json.loads((DOCS / "demo_model_report.json").read_text())["data"]["test"]["calibration"]
    readme = " ".join((ROOT / "README.md").read_text().split())
    results = " ".join((DOCS / "RESULTS.md").read_text().split())
    assert f"({100 * (1 - cal['coverage']):.0f} % of the test cases; it is right on " \
           f"{_pct(cal['accuracy_answered'])} % of the rest)" in readme
    assert f"coverage {_pct(cal['coverage'])} % at {_pct(cal['accuracy_answered'])} % accuracy" in results
