"""How a checkpoint's reading of the MRI holds on other scanners: which acquisition changes cost it, with bootstrap CIs.

    .venv/bin/python scripts/scanner_shift_report.py --checkpoint resources/alifuse-demo.safetensors \
        --data test=WORK_DIR/test300 --data shifted=WORK_DIR/shifted200 [--cache DIR] --out REPORT.json

The reading is the model's with an empty record (the MRI alone decides), macro one-vs-rest AUC over NC / MCI / AD.
- For each cohort: the AUC, and the AUC of the cases with and without each acquisition setting that sets the
  other-scanners cohort apart (skull left in, contrast curve above 1.1 or below 0.9, noise above 0.045, bias field
  above 0.27, head tilt above 6 degrees), read from the cohort's cohort.json (alifuse-synth).
- For the first cohort: the AUC after one change of the model-grid volumes at a fixed size (trainer.scanner_augment's
  functions: contrast curve 0.75 and 1.3, noise 0.05, bias field 0.3, thick slices (sigma 0.8 voxel along the last
  axis), a tilt of 8 degrees), so each change's cost is measured alone on the same cases.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from engine.checkpoint import load_checkpoint
from engine.errors import AlifuseInputError
from trainer.cache import PreprocessCache
from trainer.dataset import CaseDataset, label_index
from trainer.evaluate import check_no_leakage
from trainer.loop import predict_dataset
from trainer.metrics import scores_with_ci
from trainer.records import read_manifest, with_fields
from trainer.scanner_augment import bias_field, contrast, noise, thick_slices, tilt

#: (name, test on one scan's acquisition settings) for the subgroups.
SETTINGS: tuple[tuple[str, Callable[[dict], bool]], ...] = (
    ("skull left in", lambda a: bool(a["skull"])),
    ("contrast curve > 1.1", lambda a: a["contrast_gamma"] > 1.1),
    ("contrast curve < 0.9", lambda a: a["contrast_gamma"] < 0.9),
    ("noise > 0.045", lambda a: a["noise"] > 0.045),
    ("bias field > 0.27", lambda a: a["bias_strength"] > 0.27),
    ("head tilt > 6 degrees", lambda a: max(abs(v) for v in a["pose_deg"]) > 6),
)


def _changes(seed: int) -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    """One change each, at a fixed size; random parts (field, noise) drawn from (seed, case index)."""
    rng = lambda i: np.random.default_rng([seed, i])
    return {
        "contrast curve 0.75": lambda x, i: contrast(x, 0.75),
        "contrast curve 1.3": lambda x, i: contrast(x, 1.3),
        "noise 0.05": lambda x, i: noise(x, rng(i).normal(0.0, 1.0, x.shape), 0.05),
        "bias field 0.3": lambda x, i: bias_field(x, rng(i).normal(0.0, 1.0, (4, 4, 4)), 0.3),
        "thick slices (sigma 0.8 voxel)": lambda x, i: thick_slices(x, 0.8, 2),
        "tilt 8 degrees": lambda x, i: tilt(x, 8.0, (1, 2)),
    }


class _Changed(CaseDataset):
    """The cases with one change made to each preprocessed volume."""

    def __init__(self, *args, change: Callable[[np.ndarray, int], np.ndarray], **kw) -> None:
        super().__init__(*args, **kw)
        self.change = change

    def image(self, i: int) -> torch.Tensor:
        x = super().image(i).numpy().astype(np.float64)
        return torch.from_numpy(np.ascontiguousarray(self.change(x, i), dtype=np.float32))


def _auc(y: np.ndarray, p: np.ndarray, classes: list[str], n_boot: int) -> dict:
    s = scores_with_ci(y, p, classes, n_boot)
    return {"n": s["n"], "auc": s["auc"], "ci95": s["ci95"]["auc"]}


def report(model, info, folder: Path, cache: PreprocessCache, n_boot: int, changes: dict | None) -> dict:
    """One cohort's figures (the layout of the report's JSON); ``changes``: name -> change, or None for none."""
    records = with_fields(read_manifest(folder / "manifest.csv").records, ())
    check_no_leakage(records, info, str(folder))  # a cohort the checkpoint trained on would flatter it
    classes = list(info.class_names)
    y = np.array([label_index(r.label, classes) for r in records])
    cpu = torch.device("cpu")
    p = predict_dataset(model, CaseDataset(records, model.cfg, classes, cache), cpu)
    meta = {s["subject_id"]: s["acquisition"] for s in json.loads((folder / "cohort.json").read_text())["subjects"]}
    out = {"cohort": str(folder), "mri_only_empty_record": _auc(y, p, classes, n_boot), "settings": {}}
    for name, test in SETTINGS:
        has = np.array([test(meta[r.subject_id]) for r in records])
        if min(has.sum(), (~has).sum()) >= 20:  # fewer cases give an AUC too loose to read
            out["settings"][name] = {"with": _auc(y[has], p[has], classes, n_boot),
                                     "without": _auc(y[~has], p[~has], classes, n_boot)}
    if changes:
        out["one_change"] = {name: _auc(y, predict_dataset(model, _Changed(records, model.cfg, classes, cache,
                                                                          change=fn), cpu), classes, n_boot)
                             for name, fn in changes.items()}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", action="append", required=True, metavar="NAME=COHORT",
                   help="a cohort made by alifuse-synth; the first also gets the one-change figures")
    p.add_argument("--cache", type=Path)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0, help="the draws of the noise and the bias field")
    p.add_argument("--out", type=Path, required=True)
    a = p.parse_args()
    if a.bootstrap < 100:
        p.error(f"--bootstrap {a.bootstrap}: at least 100 resamples for a 95 % interval")
    cohorts = []
    for spec in a.data:
        name, eq, folder = spec.partition("=")
        if not (eq and name and folder):
            p.error(f"--data {spec}: give NAME=COHORT_FOLDER, e.g. test=WORK_DIR/test300")
        if not (Path(folder) / "cohort.json").is_file():
            p.error(f"--data {spec}: {folder} has no cohort.json (a cohort made by alifuse-synth)")
        cohorts.append((name, Path(folder)))
    torch.set_grad_enabled(False)
    model, info = load_checkpoint(a.checkpoint)
    cache = PreprocessCache(a.cache)
    result = {"checkpoint": str(a.checkpoint), "checkpoint_id": info.checkpoint_id, "data": {}}
    for k, (name, folder) in enumerate(cohorts):
        try:
            result["data"][name] = report(model, info, folder, cache, a.bootstrap, _changes(a.seed) if k == 0 else None)
        except AlifuseInputError as exc:
            p.error(f"--data {name}={folder}: {exc}")
        print(name, json.dumps(result["data"][name]), flush=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
