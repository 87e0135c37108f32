"""Teaches a trained Alifuse model's image encoder to read scans from other scanners as it reads its own protocol's.

    .venv/bin/python scripts/robust_image.py CHECKPOINT WORK_DIR/train3000.csv --cache WORK_DIR/cache \
        --out WORK_DIR/runs/robust_probe.safetensors [--epochs 6] [--lr 1e-4] [--cls 0.5] [--seed 0] [--threads 2]

Why (docs/RESULTS.md, "The MRI on other scanners"): the encoder learned from one acquisition protocol, and on the
other-scanners cohort its reading falls from 86 to 79 % AUC. Here only the image encoder trains, on the training
part of the checkpoint's own split (alifuse-train's, from its seed and folds), with each scan given another
scanner's look at random (trainer.scanner_augment). Its targets keep the rest of the model valid:
- consistency: the encoder's tokens (B, 1 + N, D) on the changed scan must equal the original encoder's tokens on
  the scan as it is (mean squared error over the tokens' variance), so the fusion, the projections and the
  record's reading, all trained on those tokens, stay as they were;
- the hidden MRI: the encoder's tokens of the "MRI hidden" input (engine.explain.reliance.hidden_mri, which training
  gave the model for missing scans and the reliance probe uses) must stay the original encoder's, in every batch:
  no scan looks like it, so nothing else holds it, and every prediction made without the MRI rests on it;
- classification (weight ``--cls``): the unchanged fusion head, given the changed scan's image feature and the
  feature of an empty record, must give the case's class (cross-entropy), so the encoder keeps what tells the
  classes apart where consistency alone would blur it.
The original encoder's tokens on the training scans are computed once (frozen work is not recomputed). The last
epoch is written (checkpoint selection would need a held-out set of other scanners, which training never sees);
validation AUC of the MRI with an empty record, on the scans as they are and with a fixed draw of changes, is
printed for every epoch. OUT.json records the command, start, seconds and these figures
(scripts/demo_run_record.py).

Not a step of scripts/train_demo.sh: on 2026-12-06 four probes with it read the MRI from other scanners 2.5 points
better but each lost something tests/model checks (docs/RESULTS.md, "The MRI on other scanners").
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.ehr import SCORE_FIELDS
from engine.errors import AlifuseInputError
from engine.explain.reliance import hidden_mri
from engine.model import AlifuseModel, Encoded
from trainer.augment import case_rng
from trainer.cache import PreprocessCache
from trainer.dataset import CaseDataset, label_index
from trainer.records import CaseRecord
from trainer.data_source import load_records
from trainer.scanner_augment import ScannerAugment
from trainer.splits import run_splits


def volumes(records: list[CaseRecord], cache: PreprocessCache, size: int) -> torch.Tensor:
    """(N, S, S, S) preprocessed volumes in [0, 1], as the cache holds them."""
    return torch.from_numpy(np.stack([cache.get(r.image, size) for r in records]).astype(np.float32))


def augmented(x: torch.Tensor, aug: ScannerAugment, seed: int, epoch: int, index: list[int]) -> torch.Tensor:
    """(B, S, S, S) -> the same scans with other scanners' looks drawn from (seed, epoch, case index)."""
    return torch.from_numpy(np.stack([aug.apply(v.numpy(), case_rng(seed, epoch, i)) for v, i in zip(x, index)]))


def empty_record_tokens(model: AlifuseModel, class_names: list[str]) -> torch.Tensor:
    """(1, L, D_txt): the text encoder's output for an empty record (the model's "MRI only" input)."""
    ds = CaseDataset([CaseRecord("none", "bl", None, class_names[0], "none", {})], model.cfg, class_names, None)
    item = ds[0]
    with torch.no_grad():
        return model.text_encoder(item["ids"][None], item["mask"][None])


def empty_record_logits(model: AlifuseModel, z: torch.Tensor, txt: torch.Tensor) -> torch.Tensor:
    """Logits (B, C) of the model's own head for image tokens ``z`` (B, 1 + P, D) beside the empty record ``txt``."""
    nothing = torch.full((len(z), len(SCORE_FIELDS)), float("nan"))  # the empty record has no scores either
    return model.classify(Encoded(z, txt.expand(len(z), -1, -1), nothing))


@torch.no_grad()
def tokens(model: AlifuseModel, x: torch.Tensor, batch: int = 16) -> torch.Tensor:
    """(N, S, S, S) -> the image encoder's tokens (N, 1 + N_patches, D)."""
    model.image_encoder.eval()
    return torch.cat([model.image_encoder(x[i:i + batch]) for i in range(0, len(x), batch)])


def objective(model: AlifuseModel, looks: torch.Tensor, target: torch.Tensor, blank: torch.Tensor,
              blank_target: torch.Tensor, scale: torch.Tensor, txt: torch.Tensor, labels: torch.Tensor,
              cls: float) -> torch.Tensor:
    """The step's loss: changed scans (B, S, S, S) against the original tokens of the scans as they are (B, 1 + P, D),
    and the hidden MRI (1, S, S, S) against its original tokens (1, 1 + P, D), each a mean squared error over the
    tokens' variance ``scale``; plus ``cls`` x the cross-entropy of the fusion head given the changed scans'
    image tokens and the empty record's tokens ``txt`` (1, L, D_txt), for ``labels`` (B,)."""
    z_all = model.image_encoder(torch.cat([looks, blank]))          # one pass: the hidden MRI as one more row
    z, z_blank = z_all[:-1], z_all[-1:]
    loss = (F.mse_loss(z, target) + F.mse_loss(z_blank, blank_target)) / scale
    if cls > 0:
        loss = loss + cls * F.cross_entropy(empty_record_logits(model, z, txt), labels)
    return loss


def image_only_auc(model: AlifuseModel, x: torch.Tensor, y: np.ndarray, txt: torch.Tensor) -> float:
    """Macro one-vs-rest AUC of the fusion head on the MRI with an empty record."""
    z = tokens(model, x)
    with torch.no_grad():
        logits = empty_record_logits(model, z, txt)
    return float(roc_auc_score(y, torch.softmax(logits, -1).numpy(), multi_class="ovr"))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", type=Path, help="a trained two-modality Alifuse checkpoint (uncalibrated)")
    p.add_argument("manifest", type=Path, help="the manifest it was trained on (its split gives train and val)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (the whole model; never overwritten)")
    p.add_argument("--cache", type=Path, help="preprocessed-image cache (default: alifuse-train's)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--cls", type=float, default=0.5, help="weight of the classification term (0: consistency only)")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--seed", type=int, default=0, help="batch order and the draws of changes")
    p.add_argument("--threads", type=int, default=2)
    a = p.parse_args()
    for option, value in (("--epochs", a.epochs), ("--threads", a.threads), ("--batch-size", a.batch_size)):
        if value < 1:
            p.error(f"{option} {value}: must be at least 1")
    if not a.lr > 0:
        p.error(f"--lr {a.lr:g}: must be above 0")
    if not a.cls >= 0:
        p.error(f"--cls {a.cls:g}: must be 0 or more")
    if a.out.exists():
        p.error(f"--out {a.out}: already exists (a run never overwrites a checkpoint; give a new file)")
    if a.out.suffix != ".safetensors":
        p.error(f"--out {a.out}: must end in .safetensors")
    torch.set_num_threads(a.threads)
    try:
        model, info = load_checkpoint(a.checkpoint, "cpu", calibrated=False)
        if model.image_encoder is None or model.text_encoder is None:
            raise AlifuseInputError(f"{a.checkpoint}: needs a model of both modalities")
        records, _ = load_records(a.manifest)
        prov = info.provenance  # the run's own split: its seed and, for a k-fold run, its fold
        split = {k: [r for r in v if r.image is not None]
                 for k, v in run_splits(records, int(prov.get("seed", 0)), prov.get("folds"), prov.get("fold")).items()}
        n_run = (prov.get("val") or {}).get("n")
        if n_run is not None and int(n_run) != len(split["val"]):
            raise AlifuseInputError(f"{a.manifest}: its validation split has {len(split['val'])} cases with a scan, "
                                    f"the checkpoint's run validated on {n_run}: not the data (or seed) it was "
                                    f"trained with")
        classes = list(info.class_names)
        missing = sorted(set(classes) - {r.label for r in split["val"]})
        if missing:
            raise AlifuseInputError(f"{a.manifest}: the validation split has no {', '.join(missing)} case, so its AUC "
                                    f"is undefined")
        cache = PreprocessCache(a.cache, memory=False)
        size = model.cfg.image_size
        x_tr, x_va = volumes(split["train"], cache, size), volumes(split["val"], cache, size)
    except AlifuseInputError as exc:
        p.error(str(exc))
    y_tr = torch.tensor([label_index(r.label, classes) for r in split["train"]])
    y_va = np.array([label_index(r.label, classes) for r in split["val"]])
    aug = ScannerAugment()
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.time()

    # the encoder centres its input itself (image_mean, image_std): it is given [0, 1] volumes as the cache holds them
    target = tokens(model, x_tr)                                    # (N, 1 + P, D), the original encoder's
    blank = hidden_mri(x_tr[:1])                                    # (1, S, S, S)
    blank_target = tokens(model, blank)
    scale = target.var().clamp_min(1e-8)
    txt = empty_record_tokens(model, classes)
    x_va_look = augmented(x_va, aug, a.seed, 0, list(range(len(x_va))))  # one fixed draw (epoch 0), for validation
    history = [{"epoch": 0, "val_auc": round(image_only_auc(model, x_va, y_va, txt), 4),
                "val_auc_other_look": round(image_only_auc(model, x_va_look, y_va, txt), 4)}]
    print(json.dumps(history[-1]), flush=True)

    for name, prm in model.named_parameters():
        prm.requires_grad_(name.startswith("image_encoder."))
    params = [q for q in model.image_encoder.parameters() if q.requires_grad]
    opt = torch.optim.AdamW(params, lr=a.lr, weight_decay=0.01)
    gen = torch.Generator().manual_seed(a.seed)
    steps = a.epochs * -(-len(x_tr) // a.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: 0.5 * (1.0 + np.cos(np.pi * min(k / steps, 1.0))))
    for epoch in range(1, a.epochs + 1):
        model.image_encoder.train()
        order = torch.randperm(len(x_tr), generator=gen).tolist()
        total = 0.0
        for s in range(0, len(order), a.batch_size):
            idx = order[s:s + a.batch_size]
            loss = objective(model, augmented(x_tr[idx], aug, a.seed, epoch, idx), target[idx], blank, blank_target,
                             scale, txt, y_tr[idx], a.cls)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        history.append({"epoch": epoch, "loss": round(total / len(order), 4),
                        "val_auc": round(image_only_auc(model, x_va, y_va, txt), 4),
                        "val_auc_other_look": round(image_only_auc(model, x_va_look, y_va, txt), 4)})
        print(json.dumps(history[-1]), flush=True)

    for prm in model.parameters():
        prm.requires_grad_(True)
    provenance = {**info.provenance, "robust_image": {"script": "scripts/robust_image.py", "from": str(a.checkpoint),
                                                      "epochs": a.epochs, "lr": a.lr, "cls": a.cls, "seed": a.seed,
                                                      "augment": aug.to_json()}}
    save_checkpoint(model, a.out, classes, provenance=provenance)
    record = {"command": shlex.join(["scripts/robust_image.py", *sys.argv[1:]]), "started": started,
              "seconds": round(time.time() - t0, 2), "history": history}
    Path(f"{a.out}.json").write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
