"""Evaluation of a checkpoint on one data set: scores, bootstrap CIs, ROC curves, the modality gap, calibration
(ECE and a reliability diagram; with a calibrated checkpoint, how often it says "uncertain" and how right it is
on the rest)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from engine.calibration import Calibration, expected_calibration_error, reliability_bins
from engine.checkpoint import CheckpointInfo
from engine.ehr import SCORE_PART
from engine.errors import AlifuseInputError, quote
from engine.model import AlifuseModel
from engine.score_agreement import scores_disagree
from trainer.batching import trim_collate
from trainer.dataset import CaseDataset
from trainer.loop import _autocast
from trainer.metrics import bootstrap_ci, ece_noise_floor, scores, to_two_class
from trainer.records import CaseRecord
from trainer.run_files import image_digest
from trainer.splits import DataLeakageError
from trainer.subject_ids import (ID_SCHEME, LEGACY_SCHEMES, SCHEME, data_identity, legacy_keys, normalise_id,
                                 subject_keys)


def check_no_leakage(records: Sequence[CaseRecord], info: CheckpointInfo, name: str,
                     data_spec: str | None = None) -> None:
    """Refuse to score subjects the model was trained on (a ClinicaDL-style data-leakage error).

    The rule and its limits are :mod:`trainer.subject_ids`'s: the same normalised (data set, id) pair; the same
    image content; or the same normalised id in the checkpoint's own training table (``data_spec``, the
    ``--data`` argument, names it). Checkpoints written before these keys hold exact ids, hashed: each case's id
    is tried in every spelling that normalises as it does (:func:`trainer.subject_ids.legacy_keys`).
    """
    prov = info.provenance
    scheme = prov.get("train_subjects_scheme", LEGACY_SCHEMES[1])  # older checkpoints keyed the id alone
    if scheme not in (SCHEME, *LEGACY_SCHEMES):
        raise AlifuseInputError(f"checkpoint provenance: unknown train_subjects_scheme '{quote(scheme)}'")
    trained = set(prov.get("train_subjects_sha256", []))
    trained_ids = set(prov.get("train_subject_ids_sha256", []))
    trained_images = set(prov.get("train_images_sha256", []))
    own_table = bool(trained_ids) and data_spec is not None and \
        prov.get("train_data_sha256") is not None and data_identity(data_spec) == prov["train_data_sha256"]
    why: dict[str, set[tuple[str, str]]] = {"id": set(), "scan": set(), "table": set()}
    known: dict[tuple[str, str], bool] = {}  # a legacy checkpoint's spellings are many: once per (data set, id)

    def trained_pair(r: CaseRecord) -> bool:
        if scheme == SCHEME:
            return subject_keys([(r.dataset, r.subject_id)], scheme)[0] in trained
        pair = (r.dataset, r.subject_id)
        if pair not in known:
            known[pair] = not trained.isdisjoint(legacy_keys(r.dataset, r.subject_id, scheme))
        return known[pair]

    for r in records:
        who = (normalise_id(r.dataset), normalise_id(r.subject_id))
        if trained_pair(r):
            why["id"].add(who)
        elif trained_images and image_digest(r.image) in trained_images:
            why["scan"].add(who)
        elif own_table and subject_keys([(r.dataset, r.subject_id)], ID_SCHEME)[0] in trained_ids:
            why["table"].add(who)
    n = len(why["id"] | why["scan"] | why["table"])
    if n:
        parts = [f"{len(why['scan'])} by their scans' content"] if why["scan"] else []
        parts += [f"{len(why['table'])} by subject id in the training table"] if why["table"] else []
        how = f" ({', '.join(parts)})" if parts else ""
        raise DataLeakageError(f"data set {quote(name)}: {n} subject(s) were in the checkpoint's training split"
                               f"{how}; evaluate on held-out subjects (e.g. --split test)")


@torch.no_grad()
def embed_and_predict(model: AlifuseModel, ds: CaseDataset, device: torch.device,
                      batch: int = 8) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Probabilities (N, C) and, for two-modality models, the ITC embeddings (N, E) of image and text."""
    model.eval()
    probs, fi, ft = [], [], []
    for b in DataLoader(ds, batch_size=batch, collate_fn=trim_collate):
        with _autocast(device):
            enc = model.encode(b["image"].to(device) if model.cfg.use_image else None, b["ids"].to(device),
                               b["mask"].to(device), b["scores"].to(device))
            probs.append(torch.softmax(model.classify(enc).float(), -1).cpu().numpy())
            if enc.img is not None and enc.txt is not None:
                a, t = model.embeddings(enc)
                fi.append(a.float().cpu().numpy())
                ft.append(t.float().cpu().numpy())
    return (np.concatenate(probs), np.concatenate(fi) if fi else None, np.concatenate(ft) if ft else None)


@torch.no_grad()
def mean_reliance(model: AlifuseModel, ds: CaseDataset, device: torch.device, batch: int = 8) -> dict[str, float]:
    """How far the predictions move, on average over the cases, with the MRI set to 0 and with every word-piece of
    the record [MASK]ed: mean total-variation distance in [0, 1] per modality (``engine.explain.reliance``, the
    figure the viewer shows for one case). NaN for a modality the model does not read, or with only one."""
    from engine.explain.reliance import hide_each_modality, total_variation

    if not (model.cfg.use_image and model.cfg.use_text):
        return {"image": math.nan, "record": math.nan}
    shifts: dict[str, list[np.ndarray]] = {"image": [], "record": []}
    for b in DataLoader(ds, batch_size=batch, collate_fn=trim_collate):
        # float32 and above, no autocast: bf16 logits would add a noise floor of a few tenths of a percent
        hp = hide_each_modality(model, b["image"].to(device), b["ids"].to(device), b["mask"].to(device),
                                scores=b["scores"].to(device))
        shifts["image"].append(total_variation(hp.whole, hp.without_image).cpu().numpy())
        if hp.without_record is not None:  # a record with no word-piece to hide has no figure (as in the viewer)
            shifts["record"].append(total_variation(hp.whole, hp.without_record)[hp.has_words].cpu().numpy())
    return {name: float(np.concatenate(v).mean()) if v and sum(map(len, v)) else math.nan
            for name, v in shifts.items()}


def modality_gap(img_emb: np.ndarray | None, txt_emb: np.ndarray | None) -> float:
    """‖Δ‖ = ‖mean(image embeddings) − mean(text embeddings)‖ (paper, Sec. III-F)."""
    if img_emb is None or txt_emb is None:
        return math.nan
    return float(np.linalg.norm(img_emb.mean(axis=0) - txt_emb.mean(axis=0)))


def evaluate(model: AlifuseModel, info: CheckpointInfo, records: Sequence[CaseRecord], name: str,
             device: torch.device, out_dir: Path | None = None, n_boot: int = 1000, cache=None,
             data_spec: str | None = None) -> dict:
    """Scores of one data set. Two-class data (NC/impaired) is scored with MCI + AD summed into impaired.
    ``data_spec`` (the ``--data`` argument) lets the leakage refusal recognise the checkpoint's own table."""
    check_no_leakage(records, info, name, data_spec)
    labels = {r.label for r in records}
    two_class = labels <= {"NC", "impaired"} and list(info.class_names) == ["NC", "MCI", "AD"]
    classes = ["NC", "impaired"] if two_class else list(info.class_names)
    # a model trained without some EHR parts (ablation) is scored on the text it was trained on, as Predictor does
    exclude = tuple(info.provenance.get("without_ehr") or ())
    ds = CaseDataset(records, model.cfg, classes if not two_class else ["NC", "impaired"], cache, exclude)
    probs, fi, ft = embed_and_predict(model, ds, device)
    confidence = probs.max(axis=1)  # the model's own top probability: what its "uncertain" verdict reads
    if two_class:
        probs, _ = to_two_class(probs)
    y = np.asarray(ds.labels)
    res = scores(y, probs, classes)
    # records whose scores disagree are "uncertain" in the product whatever the confidence (Predictor does the same)
    disagree = scores_disagree(ds.ehrs) if model.cfg.use_text and SCORE_PART not in exclude else None
    res.update(certainty(y, probs, confidence, info.calibration, disagree))
    res["ci95"] = bootstrap_ci(y, probs, n=n_boot) if n_boot else {}
    res["modality_gap"] = modality_gap(fi, ft)
    res["reliance"] = mean_reliance(model, ds, device)
    res["dataset"] = name
    if out_dir is not None:
        res["roc_png"] = str(plot_roc(y, probs, classes, Path(out_dir) / f"roc_{_safe(name)}.png", name))
        res["reliability_png"] = str(plot_reliability(y, probs, Path(out_dir) / f"reliability_{_safe(name)}.png",
                                                      name, info.calibration is not None))
    return res


def certainty(y: np.ndarray, probs: np.ndarray, confidence: np.ndarray, calibration: Calibration | None,
              disagree: np.ndarray | None = None, n_floor: int = 1000) -> dict:
    """Top-label ECE of ``probs`` and beside it the ECE that a perfectly calibrated model with these probabilities
    would show on this many cases from sampling alone (mean and 95th percentile: a measured ECE below it says nothing
    against the calibration); with a calibration, the fraction of cases the model calls "uncertain" (its top
    probability ``confidence`` below the threshold, or ``disagree``: the record's scores disagree,
    engine.score_agreement), the fraction it answers and its accuracy on those. ``n_floor``: draws of the floor."""
    out: dict = {"ece": expected_calibration_error(probs, y) if len(y) else math.nan,
                 "ece_if_calibrated": (ece_noise_floor(probs, n_floor) if len(y)
                                       else {"mean": math.nan, "p95": math.nan}),
                 "calibrated": calibration is not None}
    if disagree is not None:
        out["scores_disagree"] = int(disagree.sum())
    if calibration is None:
        return out
    answered = confidence >= calibration.uncertain_below
    if disagree is not None:
        answered &= ~disagree
    right = probs.argmax(axis=1) == y
    out.update(uncertain_below=calibration.uncertain_below, temperature=calibration.temperature,
               uncertain_fraction=float(1 - answered.mean()) if len(y) else math.nan,
               coverage=float(answered.mean()) if len(y) else math.nan,
               selective_accuracy=float(right[answered].mean()) if answered.any() else math.nan)
    return out


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def plot_roc(y: np.ndarray, probs: np.ndarray, classes: Sequence[str], path: Path, title: str) -> Path:
    """One-vs-rest ROC curve per class (a single curve for two classes) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    targets = [1] if len(classes) == 2 else range(len(classes))
    for c in targets:
        if (y == c).any() and (y != c).any():
            fpr, tpr, _ = roc_curve(y == c, probs[:, c])
            ax.plot(fpr, tpr, label=f"{classes[c]} vs rest")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC: {title}")
    ax.legend(loc="lower right")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_reliability(y: np.ndarray, probs: np.ndarray, path: Path, title: str, calibrated: bool) -> Path:
    """Reliability diagram: accuracy against mean confidence per equal-width confidence bin, with the case count
    per bin below; the diagonal is perfect calibration."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b = reliability_bins(probs, y)
    mids, width = (b["edges"][:-1] + b["edges"][1:]) / 2, b["edges"][1] - b["edges"][0]
    full = b["count"] > 0
    ece = expected_calibration_error(probs, y)
    fig, (ax, hist) = plt.subplots(2, 1, figsize=(4.5, 5.5), dpi=100, sharex=True,
                                   gridspec_kw={"height_ratios": [3, 1]})
    ax.bar(mids[full], b["accuracy"][full], width=width * 0.9, color="#1f4fd8", alpha=0.8, label="accuracy")
    ax.plot(b["confidence"][full], b["accuracy"][full], "o", color="k", ms=3, label="bin: mean confidence vs accuracy")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8)
    ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1),
           title=f"Reliability: {title} ({'calibrated' if calibrated else 'not calibrated'}), ECE {ece:.1%}")
    ax.title.set_fontsize(9)
    ax.legend(loc="upper left", fontsize=8)
    hist.bar(mids, b["count"], width=width * 0.9, color="0.5")
    hist.set(xlabel="confidence (top probability)", ylabel="cases")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def markdown_table(results: Sequence[dict]) -> str:
    def f(v: float) -> str:
        return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.1f}"

    def ci(r: dict, m: str) -> str:
        c = r.get("ci95", {}).get(m)
        return f" [{f(c[0])}, {f(c[1])}]" if c else ""

    def floor(d: dict | None) -> str:
        return f"{f(d['mean'])} ({f(d['p95'])})" if d else "–"

    def num(v: float | None) -> str:
        return "–" if v is None or math.isnan(v) else f"{v:.3f}"

    lines = ["| data set | n | ACC % [95% CI] | AUC % [95% CI] | balanced ACC % | modality gap ‖Δ‖ "
             "| moved without the MRI | moved without the record | ECE % | ECE if calibrated % (p95) | uncertain % "
             "| ACC when answered % |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in results:
        rel = r.get("reliance") or {}
        lines.append(f"| {r['dataset']} | {r['n']} | {f(r['acc'])}{ci(r, 'acc')} | {f(r['auc'])}{ci(r, 'auc')} | "
                     f"{f(r['balanced_acc'])} | {num(r.get('modality_gap'))} | {num(rel.get('image'))} | "
                     f"{num(rel.get('record'))} | {f(r.get('ece'))} | {floor(r.get('ece_if_calibrated'))} | "
                     f"{f(r.get('uncertain_fraction'))} | "
                     f"{f(r.get('selective_accuracy'))} |")
    return "\n".join(lines) + "\n"
