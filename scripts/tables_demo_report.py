"""Tables II and III (paper form) from the models scripts/tables_demo.sh trained, on the held-out cohorts.

    .venv/bin/python scripts/tables_demo_report.py WORK_DIR --out docs/tables_demo.json [--bootstrap 1000]

For every trained variant under WORK_DIR/tables/runs (a row whose run is missing or unfinished is "not run"):
three-class macro AUC and ACC on the test cohort (WORK_DIR/test300, seed 23) and on other scanners
(WORK_DIR/shifted200, seed 24) with percentile-bootstrap 95 % CIs, and the paired bootstrap difference in AUC from
the tables' reference, Alifuse by the same short recipe (cls + cl, both modalities, the full record): the same
resampled cases for both models, so a difference whose CI excludes 0 is one the data shows. Also, on the shipped
model, the record's parts left out at prediction time. ``--runs-from REPORT`` takes the variants' rows from an
earlier report (a later session, whose work folder no longer holds their runs) and computes the shipped model's.
Prints the Markdown tables and writes everything as JSON.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from engine.checkpoint import load_checkpoint
from trainer.cache import PreprocessCache
from trainer.dataset import CaseDataset
from trainer.evaluate import check_no_leakage
from trainer.loop import predict_dataset
from trainer.metrics import paired_auc_difference, scores_with_ci
from trainer.records import read_manifest

CLASSES = ["NC", "MCI", "AD"]
COHORTS = {"test": "test300", "shifted": "shifted200"}
TABLES = {  # table -> (rows (run, name), the run the differences are taken from)
    "modalities": ([("image-only", "image only (3-D ViT)"), ("text-only", "text only (MiniLM)"),
                    ("loss-cls-cl", "Alifuse (both)")], "loss-cls-cl"),
    # against cls + cl: the full objective (res) is the step a 2-core machine could not give the time
    "losses": ([("loss-cls", "cls"), ("loss-cls-cl-res", "cls + cl + res"), ("loss-cls-cl", "cls + cl")],
               "loss-cls-cl"),
    "ehr_parts": ([("without-summary", "without summary"), ("without-lab_results", "without cognitive scores"),
                   ("without-demographics", "without demographics"), ("loss-cls-cl", "full record")],
                  "loss-cls-cl"),
}
EHR_PARTS = ("summary", "lab_results", "demographics")


def _finished(run: Path) -> bool:
    try:
        return (run / "best.safetensors").is_file() and '"event": "done"' in (run / "progress.json").read_text()
    except OSError:
        return False


def _probs(ckpt: Path | str, records, name: str, cache, exclude: tuple[str, ...] | None = None
           ) -> tuple[np.ndarray, np.ndarray, dict]:
    model, info = load_checkpoint(ckpt)
    check_no_leakage(records, info, name)
    trained_without = tuple(info.provenance.get("without_ehr") or ())
    ds = CaseDataset(records, model.cfg, CLASSES, cache, trained_without if exclude is None else exclude)
    return np.asarray(ds.labels), predict_dataset(model, ds, torch.device("cpu")), info.provenance


def _scored(y: np.ndarray, p: np.ndarray, n_boot: int) -> dict:
    """The two figures the tables show, AUC then ACC (the layout of docs/tables_demo.json)."""
    return scores_with_ci(y, p, CLASSES, n_boot, metrics=("auc", "acc"))


def _pct(x: float) -> str:
    return f"{100 * x:.1f}"


def _cell(r: dict | None, key: str) -> str:
    if r is None:
        return "not run"
    lo, hi = r["ci95"][key]
    return f"{_pct(r[key])} [{_pct(lo)}, {_pct(hi)}]"


def _diff_cell(d: dict | None) -> str:
    if d is None:
        return "–"
    lo, hi = d["ci95"]
    return f"{100 * d['auc_diff']:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"


def markdown(result: dict) -> str:
    out = []
    for table, (rows, ref) in TABLES.items():
        ref_name = dict(rows)[ref]
        out += [f"\n{table}: differences are AUC(row) − AUC({ref_name}), paired", "",
                "| model | test AUC % | test ACC % | Δ AUC (test) | other scanners AUC % | other scanners ACC % "
                "| Δ AUC (other scanners) |", "| --- | --- | --- | --- | --- | --- | --- |"]
        for run, name in rows:
            t, s = (result["runs"].get(run, {}).get(c) for c in COHORTS)
            dt, ds = (result["differences"].get(f"{table}/{run}", {}).get(c) for c in COHORTS)
            out.append(f"| {name} | {_cell(t, 'auc')} | {_cell(t, 'acc')} | {_diff_cell(dt)} | {_cell(s, 'auc')} "
                       f"| {_cell(s, 'acc')} | {_diff_cell(ds)} |")
    out += ["\nshipped model, parts of the record left out when predicting", "",
            "| record given | test AUC % | other scanners AUC % |", "| --- | --- | --- |"]
    for what, r in result["shipped_parts_left_out"].items():
        out.append(f"| {what} | {_cell(r.get('test'), 'auc')} | {_cell(r.get('shifted'), 'auc')} |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("work", type=Path, help="the WORK_DIR of scripts/train_demo.sh and scripts/tables_demo.sh")
    p.add_argument("--shipped", default="resources/alifuse-demo.safetensors")
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--runs-from", type=Path, metavar="REPORT",
                   help="take the trained variants' rows from this earlier report (their run folders are gone); "
                        "only the shipped model's rows are computed")
    a = p.parse_args()
    torch.set_grad_enabled(False)
    cache = PreprocessCache(a.work / "cache")
    records = {c: read_manifest(a.work / folder / "manifest.csv").records for c, folder in COHORTS.items()}
    runs = sorted({run for rows, _ in TABLES.values() for run, _ in rows})
    probs: dict[str, dict[str, np.ndarray]] = {}
    labels: dict[str, np.ndarray] = {}
    result: dict = {"runs": {}, "differences": {}, "shipped_parts_left_out": {}, "provenance": {}}
    if a.runs_from:
        earlier = json.loads(a.runs_from.read_text())
        result.update({k: earlier[k] for k in ("runs", "differences", "provenance")}, runs_from=str(a.runs_from))
        runs = []
    for run in runs:
        folder = a.work / "tables" / "runs" / run
        if not _finished(folder):
            continue
        probs[run] = {}
        for c, recs in records.items():
            labels[c], probs[run][c], prov = _probs(folder / "best.safetensors", recs, c, cache)
        result["runs"][run] = {c: _scored(labels[c], probs[run][c], a.bootstrap) for c in COHORTS}
        result["provenance"][run] = {k: prov.get(k) for k in ("modalities", "loss", "without_ehr", "epochs")}
        print(run, json.dumps(result["runs"][run]), flush=True)
    for table, (rows, ref) in TABLES.items():
        for run, _ in rows:
            if run != ref and run in probs and ref in probs:
                result["differences"][f"{table}/{run}"] = {
                    c: paired_auc_difference(labels[c], probs[run][c], probs[ref][c], a.bootstrap) for c in COHORTS}
    for left_out in ((), *((part,) for part in EHR_PARTS)):
        what = "full record" if not left_out else f"without {left_out[0]}"
        result["shipped_parts_left_out"][what] = {
            c: _scored(*_probs(a.shipped, recs, c, cache, left_out)[:2], a.bootstrap) for c, recs in records.items()}
    a.out.write_text(json.dumps(result, indent=2) + "\n")
    print(markdown(result))


if __name__ == "__main__":
    main()
