"""The shipped model's figures for docs/RESULTS.md, on held-out cohorts, with bootstrap 95% CIs.

    .venv/bin/python scripts/demo_model_report.py --checkpoint resources/alifuse-demo.safetensors \
        --data test=COHORT_TEST --data shifted=COHORT_SHIFTED [--image-only RUN/stage1/best.safetensors] \
        [--cache DIR] --out docs/demo_model_report.json [--figures docs/figures]

``--image-only-from REPORT`` instead of ``--image-only``: Table II's image row copied from an earlier report on the
same cohorts (marked with where it came from), for a checkpoint fine-tuned with the image encoder frozen in a work
folder that no longer holds the image-only run.

For each data set (every subject of a cohort drawn with a seed no training run used):
- fused: the full record and the MRI; "MRI only": the same model with an empty record; "record only": the same
  model with the MRI hidden (zeros); optionally a separately trained image-only model (Table II's image row);
- fused minus each one-modality reading: the AUC difference with a paired bootstrap CI (the same cases resampled
  once for both readings);
- NC vs AD from the MRI with a record of age and sex only (AUC of P(AD), NC and AD subjects);
- reliance: the mean total-variation shift of the prediction with the MRI hidden / every word-piece [MASK]ed;
- calibration: ECE of the shipped (calibrated) probabilities (beside the ECE a perfectly calibrated model would show
  on these cases from sampling noise alone), coverage and accuracy at its "uncertain" threshold (a case whose scores
  disagree, engine.score_agreement, counts as uncertain, as the viewer shows it), the mean cross-entropy (log loss)
  of the fused probabilities with its bootstrap CI, and a reliability diagram.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from engine.calibration import reliability_bins
from engine.checkpoint import load_checkpoint
from engine.score_agreement import scores_disagree
from trainer.cache import PreprocessCache
from trainer.dataset import CaseDataset
from trainer.evaluate import certainty, check_no_leakage, mean_reliance
from trainer.loop import predict_dataset
from trainer.metrics import auc, bootstrap_ci, log_loss_ci, paired_auc_difference, scores_with_ci
from trainer.records import CaseRecord, read_manifest, with_fields

CLASSES = ["NC", "MCI", "AD"]


def _scored(y: np.ndarray, probs: np.ndarray, n_boot: int) -> dict:
    """ACC, AUC and balanced accuracy with CIs (the layout of docs/demo_model_report.json)."""
    return scores_with_ci(y, probs, CLASSES, n_boot)


def _binary_auc_ci(y: np.ndarray, score: np.ndarray, n_boot: int) -> dict:
    """AUC of a 1-D score with its bootstrap CI (trainer.metrics.bootstrap_ci on the two-column form)."""
    ci = bootstrap_ci(y, np.stack([1.0 - score, score], axis=1), n=n_boot)["auc"]
    return {"n": int(len(y)), "auc": round(auc(y, score), 4), "ci95": [round(ci[0], 4), round(ci[1], 4)]}


class _HiddenImage(CaseDataset):
    """The same cases with the MRI set to 0 (the viewer's "MRI hidden")."""

    def image(self, i: int) -> torch.Tensor:
        return torch.zeros_like(super().image(i))


def report_one(model, info, records: list[CaseRecord], name: str, cache: PreprocessCache, n_boot: int,
               image_only=None, figures: Path | None = None) -> dict:
    cfg, cpu = model.cfg, torch.device("cpu")
    check_no_leakage(records, info, name)
    y = np.array([CLASSES.index(r.label) for r in records])
    full = CaseDataset(records, cfg, CLASSES, cache)
    p_fused = predict_dataset(model, full, cpu)
    out = {"fused": _scored(y, p_fused, n_boot)}
    p_img = predict_dataset(model, CaseDataset(with_fields(records, ()), cfg, CLASSES, cache), cpu)
    out["mri_only_empty_record"] = _scored(y, p_img, n_boot)
    p_rec = predict_dataset(model, _HiddenImage(records, cfg, CLASSES, cache), cpu)
    out["record_only_mri_hidden"] = _scored(y, p_rec, n_boot)
    # is the fused reading above each one-modality reading? The same cases resampled once for both (paired): the
    # two CIs above overlap even where the data show a difference
    out["fused_minus"] = {"record_only_mri_hidden": paired_auc_difference(y, p_fused, p_rec, n_boot),
                          "mri_only_empty_record": paired_auc_difference(y, p_fused, p_img, n_boot)}
    if image_only is not None:
        m2, _ = image_only
        out["image_only_model"] = _scored(y, predict_dataset(m2, CaseDataset(records, m2.cfg, CLASSES, cache), cpu),
                                          n_boot)
    nc_ad = y != 1
    p_age_sex = predict_dataset(model, CaseDataset(with_fields(records, ("age", "sex")), cfg, CLASSES, cache), cpu)
    out["nc_vs_ad_mri_with_age_sex"] = _binary_auc_ci((y[nc_ad] == 2).astype(int), p_age_sex[nc_ad, 2], n_boot)
    out["reliance_mean_shift"] = {k: round(v, 4) for k, v in mean_reliance(model, full, cpu).items()}
    calibrated = info.calibration is not None  # "uncertain" in the product also where the scores disagree
    cal = certainty(y, p_fused, p_fused.max(1), info.calibration,
                    scores_disagree(full.ehrs) if calibrated else None, n_floor=n_boot)
    out["calibration"] = {"ece": round(cal["ece"], 4), "ece_if_calibrated": cal["ece_if_calibrated"],
                          "calibrated": calibrated, "log_loss": log_loss_ci(y, p_fused, n_boot)}
    if calibrated:
        answered = cal["selective_accuracy"]
        out["calibration"].update(uncertain_below=round(cal["uncertain_below"], 4),
                                  scores_disagree=cal["scores_disagree"], coverage=round(cal["coverage"], 4),
                                  accuracy_answered=None if np.isnan(answered) else round(answered, 4),
                                  accuracy_all=round(float((p_fused.argmax(1) == y).mean()), 4))
    if figures is not None:
        _reliability_figure(p_fused, y, figures / f"demo_reliability_{name}.png", name)
    return out


def _reliability_figure(probs: np.ndarray, y: np.ndarray, path: Path, name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = reliability_bins(probs, y)
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfectly calibrated")
    used = bins["count"] >= 5  # a bin of one or two cases is noise, not calibration
    ax.plot(bins["confidence"][used], bins["accuracy"][used], "-", color="C0")
    ax.scatter(bins["confidence"][used], bins["accuracy"][used], s=8 + 2 * bins["count"][used], color="C0",
               label="shipped model (area ~ cases; bins of >= 5)", alpha=0.8)
    ax.set_xlabel("confidence (top class probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"Reliability, {name} (n={len(y)})")
    ax.legend(loc="lower right", fontsize=7)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--data", action="append", required=True, metavar="NAME=COHORT")
    p.add_argument("--image-only", metavar="CKPT")
    p.add_argument("--image-only-from", type=Path, metavar="REPORT",
                   help="copy each data set's image-only figures from this earlier report (same cohorts)")
    p.add_argument("--cache", type=Path)
    p.add_argument("--bootstrap", type=int, default=1000)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--figures", type=Path)
    a = p.parse_args()
    torch.set_grad_enabled(False)
    model, info = load_checkpoint(a.checkpoint)
    image_only = load_checkpoint(a.image_only) if a.image_only else None
    earlier = json.loads(a.image_only_from.read_text())["data"] if a.image_only_from else {}
    cache = PreprocessCache(a.cache)
    result = {"checkpoint": str(a.checkpoint), "checkpoint_id": info.checkpoint_id, "data": {}}
    for spec in a.data:
        name, _, folder = spec.partition("=")
        records = read_manifest(Path(folder) / "manifest.csv").records
        result["data"][name] = {"cohort": folder, **report_one(model, info, records, name, cache, a.bootstrap,
                                                                image_only, a.figures)}
        if image_only is None and "image_only_model" in earlier.get(name, {}):
            if Path(earlier[name]["cohort"]).name != Path(folder).name:
                raise SystemExit(f"--image-only-from {a.image_only_from}: its {name!r} is {earlier[name]['cohort']}, "
                                 f"not {folder}")
            # a row the earlier report copied from one before it keeps naming the report it was measured in
            result["data"][name]["image_only_model"] = {"from_report": str(a.image_only_from),
                                                        **earlier[name]["image_only_model"]}
        print(name, json.dumps(result["data"][name]), flush=True)
    a.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
