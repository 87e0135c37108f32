"""Print the Markdown tables of docs/EARLIER_RESULTS.md from the evaluation folders that scripts/experiments.sh writes.

Usage: .venv/bin/python scripts/results_tables.py EVAL_DIR
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

ROWS = {
    "modalities": [("image-only", "image only (3-D ViT)"), ("text-only", "text only (MiniLM)"), ("alifuse", "Alifuse")],
    "losses": [("loss-cls", "cls"), ("loss-cls-cl", "cls + cl"), ("alifuse", "cls + cl + res (Alifuse)")],
    "ehr": [("without-summary", "without summary"), ("without-lab_results", "without lab results (cognitive scores)"),
            ("without-demographics", "without demographics"), ("alifuse", "full record")],
}


def _pct(v: float | None) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"


def _cell(res: dict | None, metric: str) -> str:
    if res is None:
        return "not run"
    ci = res.get("ci95", {}).get(metric)
    return _pct(res[metric]) + (f" [{_pct(ci[0])}, {_pct(ci[1])}]" if ci else "")


def load(eval_dir: Path, run: str, split: str) -> dict | None:
    f = eval_dir / f"{run}-{split}" / "results.json"
    return json.loads(f.read_text())[0] if f.is_file() else None


def table(eval_dir: Path, rows: list[tuple[str, str]]) -> str:
    out = ["| model | test ACC % | test AUC % | zero-shot ACC % | zero-shot AUC % |", "| --- | --- | --- | --- | --- |"]
    for run, name in rows:
        t, z = load(eval_dir, run, "test"), load(eval_dir, run, "zeroshot")
        out.append(f"| {name} | {_cell(t, 'acc')} | {_cell(t, 'auc')} | {_cell(z, 'acc')} | {_cell(z, 'auc')} |")
    return "\n".join(out)


def oasis(eval_dir: Path) -> str:
    folds = [json.loads(f.read_text())[0] for f in sorted(eval_dir.glob("oasis2-text-fold*/results.json"))]
    if not folds:
        return "not run"
    n = sum(r["n"] for r in folds)
    acc = sum(r["acc"] * r["n"] for r in folds) / n
    aucs = [r["auc"] for r in folds if not math.isnan(r["auc"])]
    rows = ["| fold | visits | ACC % | AUC % |", "| --- | --- | --- | --- |"]
    rows += [f"| {i} | {r['n']} | {_pct(r['acc'])} | {_pct(r['auc'])} |" for i, r in enumerate(folds)]
    rows.append(f"| all {len(folds)} folds | {n} | {_pct(acc)} (pooled) | {_pct(sum(aucs) / len(aucs))} (mean) |")
    return "\n".join(rows)


if __name__ == "__main__":
    d = Path(sys.argv[1])
    for key, rows in ROWS.items():
        print(f"### {key}\n\n{table(d, rows)}\n")
    print(f"### oasis2\n\n{oasis(d)}")
