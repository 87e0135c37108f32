"""Pre-trains the image encoder's CNN stem on the MRI alone, inside a four-stage CNN, for ``alifuse-train --init-from``.

    .venv/bin/python scripts/pretrain_stem.py WORK_DIR/train3000.csv --test WORK_DIR/test300/manifest.csv \
        --cache WORK_DIR/cache --out WORK_DIR/runs/stem.safetensors [--epochs 14] [--seed 0] [--threads 2] \
        [--augment-scanners] [--set FIELD=VALUE ...]

Why (docs/RESULTS.md, "The MRI holds more than the encoder reads"): a plain four-stage 3-D CNN learns the synthetic
cohort's atrophy from the 32^3 volumes in about ten epochs, while the same stem inside the ViT (or read out by the
mean of its tokens) stays on the class prior. So the stem learns here, where it is the first three stages of such a
CNN: stem (B, 32^3) -> tokens (B, 64, D) on the 4^3 grid -> one more stage (3^3 convolution to 128 channels,
GroupNorm, GELU, 2x max-pool) -> mean -> linear head. The script trains it with image_baselines.fit (AdamW,
one-cycle to 1e-3, batch 8, no clipping) on the seed-0 split's training part, keeps the epoch with the best
validation AUC, and writes an image-only Alifuse checkpoint whose ``image_encoder.patch_embed`` holds the stem; the
rest of its encoder is an untrained initialisation. The held-out test cohort is reported, never used to choose.
``--augment-scanners`` gives each training volume another scanner's look, drawn anew per case and epoch
(trainer/scanner_augment.py, as ``alifuse-train --augment-scanners``); validation and test volumes stay as they are.
Beside the checkpoint, OUT.json records the command, start, seconds and kept epoch (scripts/demo_run_record.py).

The model is the demo preset with ``image_size=32 patch_size=8 patch_stem=cnn stem_widths=16,32,64 image_pool=mean``
(train_demo.sh's); ``--set`` changes it as alifuse-train's does.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_baselines import CLASSES, BatchFn, fit  # noqa: E402

from engine.checkpoint import save_checkpoint  # noqa: E402
from engine.config import AlifuseConfig, parse_field, preset  # noqa: E402
from engine.errors import AlifuseInputError  # noqa: E402
from engine.image_encoder import make_patch_embed  # noqa: E402
from engine.model import AlifuseModel  # noqa: E402
from trainer.cache import PreprocessCache  # noqa: E402
from trainer.augment import case_rng  # noqa: E402
from trainer.records import CaseRecord, read_manifest  # noqa: E402
from trainer.run_files import environment, recorded_command, sidecar_records  # noqa: E402
from trainer.scanner_augment import ScannerAugment  # noqa: E402
from trainer.splits import run_splits  # noqa: E402

DEFAULTS = dict(image_size=32, patch_size=8, patch_stem="cnn", stem_widths=(16, 32, 64), image_pool="mean")


class StemCNN(nn.Module):
    """(B, S, S, S) centred -> logits (B, 3): the encoder's stem, then a fourth CNN stage on its token grid."""

    def __init__(self, cfg: AlifuseConfig, width: int = 128) -> None:
        super().__init__()
        self.grid = cfg.grid
        self.stem = make_patch_embed(cfg)
        self.stage = nn.Sequential(nn.Conv3d(cfg.img_dim, width, 3, padding=1, bias=False), nn.GroupNorm(4, width),
                                   nn.GELU(), nn.MaxPool3d(2) if cfg.grid >= 2 else nn.Identity())
        self.head = nn.Linear(width, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.stem(x)                                    # (B, g^3, D), z fastest: a reshape undoes it
        grid = tokens.transpose(1, 2).reshape(len(x), -1, self.grid, self.grid, self.grid)
        return self.head(self.stage(grid).mean((2, 3, 4)))


def volumes(records: list[CaseRecord], cache: PreprocessCache, cfg: AlifuseConfig) -> tuple[torch.Tensor, np.ndarray]:
    """(N, S, S, S) volumes centred as the image encoder centres them, and (N,) class indices."""
    x = torch.from_numpy(np.stack([cache.get(r.image, cfg.image_size) for r in records])).float()
    return (x - cfg.image_mean) / cfg.image_std, np.array([CLASSES.index(r.label) for r in records])


def split_volumes(manifest: Path, test: Path, cache: PreprocessCache,
                  cfg: AlifuseConfig) -> tuple[torch.Tensor, np.ndarray, dict[str, list[int]]]:
    """One tensor for image_baselines.fit: the seed-0 split's train and val parts of ``manifest`` (alifuse-train's
    split), then the held-out cohort ``test`` as its "test" rows -> volumes (N, S, S, S), labels (N,), indices."""
    split = run_splits(read_manifest(manifest).records, seed=0)
    parts = [volumes(split["train"], cache, cfg), volumes(split["val"], cache, cfg),
             volumes(read_manifest(test).records, cache, cfg)]
    ends = np.cumsum([len(v[1]) for v in parts])
    idx = {"train": list(range(ends[0])), "val": list(range(ends[0], ends[1])), "test": list(range(ends[1], ends[2]))}
    return torch.cat([v[0] for v in parts]), np.concatenate([v[1] for v in parts]), idx


def scanner_batches(augment: ScannerAugment, cfg: AlifuseConfig, seed: int) -> BatchFn:
    """image_baselines.fit's ``batch_fn``: centred volumes (B, S, S, S) -> the same scans with another scanner's
    look, drawn from (seed, epoch, index) so that a run is reproducible; centred again as the encoder centres."""
    def change(xb: torch.Tensor, indices: list[int], epoch: int) -> torch.Tensor:
        raw = (xb * cfg.image_std + cfg.image_mean).numpy()  # back to [0, 1], where the changes are defined
        out = np.stack([augment.apply(v, case_rng(seed + 7_919, epoch, i)) for v, i in zip(raw, indices)])
        return (torch.from_numpy(out) - cfg.image_mean) / cfg.image_std
    return change


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", type=Path, help="the training manifest (its seed-0 split gives train and val)")
    p.add_argument("--test", type=Path, required=True, help="manifest of the held-out test cohort (reported only)")
    p.add_argument("--out", type=Path, required=True, help="checkpoint to write (image encoder only)")
    p.add_argument("--cache", type=Path, help="preprocessed-image cache (default: alifuse-train's)")
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE", help="override a config field")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--augment-scanners", action="store_true",
                   help="give each training volume another scanner's look, drawn per case and epoch")
    p.add_argument("--skip-if-done", action="store_true",
                   help="do nothing if OUT was written by this same command (OUT.json says so); with other options "
                        "it is trained again")
    a = p.parse_args()
    if a.epochs < 1 or a.threads < 1:
        p.error(f"--epochs {a.epochs} / --threads {a.threads}: both must be at least 1")
    command = recorded_command(["scripts/pretrain_stem.py"], sys.argv[1:])
    if a.skip_if_done and sidecar_records(a.out, command=command):
        print(f"{a.out} was written by this command already: nothing to do")
        return
    try:  # a bad field, value or manifest is one line naming it, as alifuse-train's are
        cfg = preset("demo", **{**DEFAULTS, **dict(parse_field(s) for s in a.set)})
        cfg.validate()
        if cfg.patch_stem == "linear":
            raise AlifuseInputError("--set patch_stem=linear: there is no stem to pre-train")
        torch.set_num_threads(a.threads)
        x, y, idx = split_volumes(a.manifest, a.test, PreprocessCache(a.cache, memory=False), cfg)
    except AlifuseInputError as exc:
        p.error(str(exc))
    # the old OUT.json goes first: killed between writing the new OUT and its record, it would vouch for the new stem
    Path(f"{a.out}.json").unlink(missing_ok=True)
    started, t0 = time.strftime("%Y-%m-%dT%H:%M:%S%z"), time.time()
    augment = ScannerAugment() if a.augment_scanners else None
    net, best_auc, best_epoch = fit("stem-cnn", lambda: StemCNN(cfg), x, y, idx, a.epochs, 1e-3, clip=None,
                                    seed=a.seed, keep_best=True,
                                    batch_fn=scanner_batches(augment, cfg, a.seed) if augment else None)

    torch.manual_seed(a.seed)
    model = AlifuseModel(cfg.replace(modalities=("image",)))
    model.image_encoder.patch_embed.load_state_dict(net.stem.state_dict())
    provenance = {"trained": True, "script": "scripts/pretrain_stem.py", "data": str(a.manifest),
                  "epochs": a.epochs, "seed": a.seed, "trained_parts": ["image_encoder.patch_embed"]}
    if augment is not None:  # named as alifuse-train's provenance names it
        provenance["image_augment"] = {"kind": type(augment).__name__, **augment.to_json()}
    save_checkpoint(model, a.out, CLASSES, provenance=provenance)
    record = {"command": command, "started": started,
              "seconds": round(time.time() - t0, 2), "best_val": {"auc": round(best_auc, 4)},
              "kept_epoch": best_epoch, "n_cases": {k: len(v) for k, v in idx.items()}, "environment": environment()}
    Path(f"{a.out}.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record))


if __name__ == "__main__":
    main()
