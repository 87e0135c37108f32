"""``alifuse-calibrate --checkpoint IN --data PATH [--out OUT]``: calibrate a trained checkpoint on its validation split.

The validation split is the training run's own: ``trainer.splits.run_splits`` with the seed (and folds) from the
checkpoint's provenance, so the subjects are the ones the run selected its epoch on, never its training subjects
(refused, as alifuse-eval refuses them). On them it fits one temperature (NLL of softmax(logits / T)) and chooses
the confidence below which the model says "uncertain" (``engine.calibration.choose_threshold``), then writes the
checkpoint again, the same tensors and provenance, with the calibration in its metadata.
"""
from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np

from engine.calibration import (DEFAULT_TARGET_ACCURACY, Calibration, choose_threshold, describe_calibration,
                                expected_calibration_error, fit_temperature, softmax)
from engine.cli_common import ArgumentParser, resolve_device, run_cli
from engine.errors import AlifuseInputError
from engine.training_ranges import PROVENANCE_KEY, record_ranges

#: below this many validation cases the threshold rests on very few cases: said, not refused
FEW_VAL_CASES = 30


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-calibrate",
                       description="Calibrate an Alifuse checkpoint on its training run's validation split: fit a "
                                   "temperature for its probabilities and the confidence below which it says "
                                   "'uncertain', and write them into the checkpoint's metadata.")
    p.add_argument("--checkpoint", required=True, metavar="FILE", help="the trained .safetensors checkpoint")
    p.add_argument("--data", required=True, metavar="PATH",
                   help="the data it was trained on (cohort folder, manifest CSV or KIND:TABLE[:IMAGE_ROOT]); its "
                        "validation split is rebuilt from the seed in the checkpoint's provenance")
    p.add_argument("--out", metavar="FILE", help="where to write the calibrated checkpoint (default: "
                   "IN.calibrated.safetensors beside the input; the input's own path replaces it)")
    p.add_argument("--target-accuracy", type=float, default=DEFAULT_TARGET_ACCURACY, metavar="A",
                   help="the accuracy the answered (not 'uncertain') validation cases must reach (default: 0.9)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda[:N] (default: auto)")
    p.add_argument("--cache", metavar="DIR", help="preprocessed-image cache (default: ~/.cache/alifuse/preprocessed)")
    p.add_argument("--missing-scores", type=int, default=0, metavar="K",
                   help="also report the calibrated validation loss on K copies of each validation case with each "
                        "score kept with p = 0.5, beside the scan and the summary, and K more on the record read "
                        "bare (no summary, the MRI hidden): how the model reads records of fewer scores (default: 0)")
    p.add_argument("--json", action="store_true", help="print the calibration as JSON")
    return p


def validation_logits(model, info, records, device, cache=None) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    """Raw logits (N, C) in float32 (as Predictor computes them) and labels (N,) of ``records``."""
    import torch
    from torch.utils.data import DataLoader

    from trainer.batching import trim_collate
    from trainer.dataset import CaseDataset

    exclude = tuple(info.provenance.get("without_ehr") or ())
    ds = CaseDataset(records, model.cfg, info.class_names, cache, exclude)
    out = []
    model.eval()
    with torch.no_grad():
        for b in DataLoader(ds, batch_size=8, collate_fn=trim_collate):
            logits = model(b["image"].to(device) if model.cfg.use_image else None, b["ids"].to(device),
                           b["mask"].to(device), scores=b["scores"].to(device))
            out.append(logits.float().cpu().numpy())
    return np.concatenate(out), np.asarray(ds.labels)


def validation_loss(logits: np.ndarray, labels: np.ndarray, temperature: float) -> float:
    """Mean cross-entropy of ``labels`` (N,) under softmax(``logits`` (N, C) / ``temperature``), rounded to 1e-4."""
    p = softmax(logits, temperature)[np.arange(len(labels)), labels]
    return round(float(-np.log(np.clip(p, 1e-12, 1.0)).mean()), 4)


def missing_scores_loss(model, info, val, device, cache, copies: int, temperature: float,  # noqa: ANN001
                        keep: float = 0.5) -> dict | None:
    """Calibrated validation loss on ``copies`` copies of each validation case with some scores missing
    (trainer.missing_scores), beside the scan and the summary and on the record read bare; None for no copies."""
    from trainer.missing_scores import with_missing_scores

    if not copies:
        return None
    out: dict = {"copies": copies, "keep": keep}
    for key, bare, seed in (("beside_scan", False, 1), ("bare", True, 2)):
        logits, labels = validation_logits(model, info, with_missing_scores(val, copies, keep, bare, seed), device,
                                           cache)
        out[key] = validation_loss(logits, labels, temperature)
    return out


def fit_calibration(logits: np.ndarray, labels: np.ndarray, target_accuracy: float = DEFAULT_TARGET_ACCURACY,
                    data: str = "") -> Calibration:
    """Temperature, then the threshold on the calibrated probabilities, and the validation figures of both."""
    t = fit_temperature(logits, labels)
    before, after = softmax(logits, 1.0), softmax(logits, t)
    thr = choose_threshold(after, labels, target_accuracy)
    return Calibration(temperature=t, uncertain_below=thr.threshold, target_accuracy=float(target_accuracy),
                       n_val=int(len(labels)), val_ece_before=expected_calibration_error(before, labels),
                       val_ece_after=expected_calibration_error(after, labels), val_coverage=thr.coverage,
                       val_selective_accuracy=thr.selective_accuracy, data=data)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_cli(lambda: _run(args))


def _run(args) -> int:  # noqa: ANN001
    from engine.checkpoint import load_checkpoint, save_checkpoint
    from trainer.cache import PreprocessCache
    from trainer.data_source import load_records, stderr_warn
    from trainer.evaluate import check_no_leakage
    from trainer.splits import DataLeakageError, run_splits

    if not (math.isfinite(args.target_accuracy) and 0 < args.target_accuracy <= 1):
        raise AlifuseInputError(f"--target-accuracy {args.target_accuracy}: must be above 0 and at most 1")
    src = Path(args.checkpoint)
    out = Path(args.out) if args.out else src.with_name(src.name.removesuffix(".safetensors")
                                                        + ".calibrated.safetensors")
    if out.is_dir():
        raise AlifuseInputError(f"--out {out}: is a folder; give the checkpoint file to write")
    if out.suffix != ".safetensors":
        raise AlifuseInputError(f"--out {out}: must end in .safetensors")
    if not 0 <= args.missing_scores <= 20:
        raise AlifuseInputError(f"--missing-scores {args.missing_scores}: must be from 0 to 20")
    device = resolve_device(args.device)
    model, info = load_checkpoint(src, device, calibrated=False)  # raw logits: T is fitted on them
    if not info.trained:
        stderr_warn(f"{src}: the checkpoint is UNTRAINED (random weights); its calibration means nothing")
    records, _ = load_records(args.data, need_images=model.cfg.use_image, warn=stderr_warn)
    prov = info.provenance
    splits = run_splits(records, int(prov.get("seed", 0)), prov.get("folds"), prov.get("fold"))
    val = splits["val"]
    if not val:
        raise AlifuseInputError(f"--data {args.data}: the checkpoint's validation split is empty")
    n_run = (prov.get("val") or {}).get("n")
    if n_run is not None and int(n_run) != len(val):
        raise AlifuseInputError(f"--data {args.data}: its validation split has {len(val)} cases, the checkpoint's "
                                f"run validated on {n_run}: not the data (or seed) it was trained with")
    try:
        check_no_leakage(val, info, "validation split")
    except DataLeakageError as exc:
        raise DataLeakageError(f"--data {args.data}: {str(exc).split(': ', 1)[1].split(';')[0]}: not the data "
                               f"(or seed) it was trained with; calibrating on them would flatter it") from None
    if len(val) < FEW_VAL_CASES:
        stderr_warn(f"only {len(val)} validation cases: the temperature and the threshold rest on few cases")
    cache = PreprocessCache(Path(args.cache) if args.cache else None)
    logits, labels = validation_logits(model, info, val, device, cache)
    cal = fit_calibration(logits, labels, args.target_accuracy, str(args.data))
    # the figure to compare checkpoints by: the temperature does not change which class wins, the loss sees how sure
    loss = {"raw": validation_loss(logits, labels, 1.0), "calibrated": validation_loss(logits, labels, cal.temperature)}
    missing = missing_scores_loss(model, info, val, device, cache, args.missing_scores, cal.temperature)
    prov = dict(prov)
    if PROVENANCE_KEY not in prov:  # trained before alifuse-train stored them: the run's own training split
        from trainer.run_files import is_training_split, trained_cases

        if is_training_split(trained_cases(splits["train"], prov, info.class_names), prov):
            prov[PROVENANCE_KEY] = record_ranges(r.ehr for r in splits["train"])
        else:  # another table's cases would give other ranges: none is better than wrong ones
            stderr_warn(f"--data {args.data}: its training split is not the one the checkpoint stores, so the "
                        "training cases' age and schooling ranges are not added (no note for a case outside them)")
    try:
        save_checkpoint(model, out, info.class_names, prov, calibration=cal)
    except OSError as exc:
        raise AlifuseInputError(f"--out {out}: cannot write ({exc.strerror or exc})") from None
    if args.json:
        print(json.dumps({"checkpoint": str(out), "calibration": cal.to_dict(), "validation_loss": loss,
                          **({"validation_loss_missing_scores": missing} if missing else {})}))
    else:
        print(f"Calibrated on {cal.n_val} validation cases: {describe_calibration(cal)}; validation loss "
              f"(cross-entropy) {loss['raw']:.4f} -> {loss['calibrated']:.4f}")
        if missing:
            k = missing["copies"]
            print(f"Validation loss with scores missing ({k} cop{'y' if k == 1 else 'ies'} of each case, each score "
                  f"kept with p = {missing['keep']}): beside the scan and the summary {missing['beside_scan']:.4f}, "
                  f"on the record read bare {missing['bare']:.4f}")
        if cal.val_selective_accuracy < cal.target_accuracy:
            print(f"Note: no threshold reached {cal.target_accuracy:.0%} accuracy on validation; the one chosen "
                  f"answers at least a fifth of the cases with the best accuracy it could")
        print(f"Wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
