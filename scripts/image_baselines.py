"""Is the class in the preprocessed MRI at all, and which simple models find it? (docs/EARLIER_RESULTS.md, image branch)

    .venv/bin/python scripts/image_baselines.py COHORT [--cache DIR] [--models lr cnn vit vit-conv] [--epochs N]

Uses the split `alifuse-train --seed 0` makes (70/10/20 by subject) and the same preprocessing and cache as
training (64^3, the demo grid). Prints validation and test macro one-vs-rest AUC per model:
  lr        logistic regression on the volume average-pooled to 16^3 (4,096 voxels), raw and z-scored per voxel
  cnn       a 4-stage 3-D CNN (conv-GroupNorm-GELU-maxpool, 16..128 channels, global average pool), on 32^3
  vit       a 4-layer 192-wide ViT, patch 8 on 32^3 (64 tokens), linear patch projection, [CLS] head
  vit-conv  the same ViT with the two stride-2 convolutions of `--patch-stem conv`
  vit-cnn   the same ViT on the tokens of the CNN's first three stages (a hybrid; not in the default list)
The neural models train on the classification loss alone (AdamW, one-cycle LR, batch 8), so they isolate what
the image branch can learn from 210 volumes; they are probes, not the Alifuse model.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import StandardScaler
from torch import nn

from engine.pos_embed import sincos_3d
from trainer.cache import PreprocessCache
from trainer.records import read_manifest
from trainer.splits import run_splits

CLASSES = ["NC", "MCI", "AD"]
BatchFn = Callable[[torch.Tensor, list[int], int], torch.Tensor]


def load(cohort: Path, cache_dir: Path | None) -> tuple[torch.Tensor, np.ndarray, dict[str, list[int]]]:
    """Volumes (N, 64, 64, 64), labels (N,), and the train/val/test indices of alifuse-train's seed-0 split."""
    records = read_manifest(cohort / "manifest.csv").records
    cache = PreprocessCache(cache_dir, memory=False)
    x = torch.from_numpy(np.stack([cache.get(r.image, 64) for r in records]))
    y = np.array([CLASSES.index(r.label) for r in records])
    where = {r.subject_id: i for i, r in enumerate(records)}
    return x, y, {k: [where[r.subject_id] for r in v] for k, v in run_splits(records, 0).items()}


def auc(y: np.ndarray, probs: np.ndarray) -> float:
    return float(roc_auc_score(y, probs, multi_class="ovr", average="macro"))


def logistic(x: torch.Tensor, y: np.ndarray, idx: dict[str, list[int]]) -> None:
    feats = F.avg_pool3d(x[:, None], 4)[:, 0].reshape(len(x), -1).numpy()
    tr, va, te = idx["train"], idx["val"], idx["test"]
    for name, z in (("raw", feats), ("z-scored", StandardScaler().fit(feats[tr]).transform(feats))):
        for c in (0.1, 1.0):
            m = LogisticRegression(C=c, max_iter=3000).fit(z[tr], y[tr])
            print(f"lr {name:8s} C={c:<4} val AUC {auc(y[va], m.predict_proba(z[va])):.3f}  "
                  f"test AUC {auc(y[te], m.predict_proba(z[te])):.3f}", flush=True)


class CNN(nn.Module):
    """(B, S, S, S) -> logits (B, 3)."""

    def __init__(self, widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = 1
        for w in widths:
            layers += [nn.Conv3d(c, w, 3, padding=1), nn.GroupNorm(4, w), nn.GELU(), nn.MaxPool3d(2)]
            c = w
        self.features, self.head = nn.Sequential(*layers), nn.Linear(c, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x[:, None]).mean((2, 3, 4)))


class ViT(nn.Module):
    """(B, S, S, S) -> logits (B, 3): patch 8, pre-LN blocks, [CLS] head.

    ``conv``: True = two stride-2 convs first (as ``--patch-stem conv``); "cnn" = the CNN's first three stages.
    """

    def __init__(self, size: int, conv: bool | str, dim: int = 192, depth: int = 4, patch: int = 8,
                 pool: str = "cls", pos: str = "learned", xavier_patch: bool = False) -> None:
        super().__init__()
        self.pool = pool
        if conv == "cnn":  # the CNN's first three stages (stride 8 in all), then a 1x1 projection to tokens
            self.embed = nn.Sequential(CNN((16, 32, 64)).features, nn.Conv3d(64, dim, 1))
        elif conv:
            self.embed = nn.Sequential(nn.Conv3d(1, 16, 3, 2, 1), nn.GroupNorm(4, 16), nn.GELU(),
                                       nn.Conv3d(16, 32, 3, 2, 1), nn.GroupNorm(4, 32), nn.GELU(),
                                       nn.Conv3d(32, dim, patch // 4, patch // 4))
        else:
            self.embed = nn.Conv3d(1, dim, patch, patch)
            if xavier_patch:  # MAE's initialisation: the projection as the linear map it is (~2x torch's default)
                nn.init.xavier_uniform_(self.embed.weight.view(dim, -1))
                nn.init.zeros_(self.embed.bias)
        if pos == "sincos":  # fixed, as in the Alifuse image encoder
            self.register_buffer("pos", sincos_3d(dim, size // patch)[None])
        else:
            self.pos = nn.Parameter(torch.randn(1, (size // patch) ** 3 + 1, dim) * 0.02)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        layer = nn.TransformerEncoderLayer(dim, 3, 4 * dim, 0.0, activation="gelu", batch_first=True, norm_first=True)
        # enable_nested_tensor=False: pre-LN layers cannot use it (torch warns otherwise)
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.norm, self.head = nn.LayerNorm(dim), nn.Linear(dim, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        t = self.embed(x[:, None]).flatten(2).transpose(1, 2)
        t = torch.cat([self.cls.expand(len(t), -1, -1), t], 1) + self.pos
        z = self.norm(self.blocks(t))
        return self.head(z[:, 0] if self.pool == "cls" else z[:, 1:].mean(1))


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Left-right flip (half the cases) and one random shift of up to 2 voxels per axis for the batch."""
    flip = torch.rand(len(x), generator=gen) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(1), x)
    return torch.roll(x, torch.randint(-2, 3, (3,), generator=gen).tolist(), (1, 2, 3))


def fit(name: str, make, x: torch.Tensor, y: np.ndarray, idx: dict[str, list[int]], epochs: int,
        lr: float, aug: bool = False, clip: float | None = 1.0, seed: int = 0, report_every: int | None = None,
        keep_best: bool = False, batch_fn: BatchFn | None = None) -> tuple[nn.Module, float, int]:
    """Cross-entropy only; prints train loss and val/test AUC every ``report_every`` epochs (default: four times).

    ``seed`` draws the initialisation and the batch order; ``clip`` the gradient norm (None: not clipped);
    ``batch_fn(volumes (8, S, S, S), their indices into x, epoch)`` changes each training batch (evaluation never).
    Returns (model, best validation AUC, its epoch); with ``keep_best`` (which reports every epoch) the model holds
    that epoch's weights, as alifuse-train's best.safetensors (without it: the last epoch's, and (-1.0, 0))."""
    torch.manual_seed(seed)  # before ``make()``: the initialisation is part of the run
    model: nn.Module = make()
    yt, tr = torch.from_numpy(y), idx["train"]
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    steps = epochs * (len(tr) // 8)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
    gen, t0 = torch.Generator().manual_seed(seed), time.time()
    best: tuple[float, int, dict[str, torch.Tensor]] = (-1.0, 0, {})

    def probs(ix: list[int]) -> np.ndarray:
        model.eval()
        with torch.no_grad():
            p = torch.cat([torch.softmax(model(x[ix[i:i + 16]]), -1) for i in range(0, len(ix), 16)])
        model.train()
        return p.numpy()

    for epoch in range(1, epochs + 1):
        order, total = torch.randperm(len(tr), generator=gen), 0.0
        for i in range(0, len(tr) - 7, 8):
            batch = [tr[j] for j in order[i:i + 8]]
            xb = augment(x[batch], gen) if aug else x[batch]
            if batch_fn is not None:
                xb = batch_fn(xb, batch, epoch)
            loss = F.cross_entropy(model(xb), yt[batch])
            opt.zero_grad()
            loss.backward()
            if clip is not None:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            opt.step()
            sched.step()
            total += loss.item()
        if keep_best or epoch % (report_every or max(1, epochs // 4)) == 0 or epoch == epochs:
            val = auc(y[idx["val"]], probs(idx["val"]))
            print(f"{name:8s} epoch {epoch:3d} train loss {total / (len(tr) // 8):.3f}  val AUC {val:.3f}  "
                  f"test AUC {auc(y[idx['test']], probs(idx['test'])):.3f}  ({time.time() - t0:.0f} s)", flush=True)
            if keep_best and val > best[0]:
                best = (val, epoch, {k: v.detach().clone() for k, v in model.state_dict().items()})
    if keep_best:
        print(f"{name:8s} kept epoch {best[1]} (val AUC {best[0]:.3f})", flush=True)
        model.load_state_dict(best[2])
    return model, best[0], best[1]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("cohort", type=Path)
    p.add_argument("--cache", type=Path, help="preprocessed-image cache (default: alifuse-train's)")
    p.add_argument("--models", nargs="+", default=["lr", "cnn", "vit", "vit-conv"],
                   choices=["lr", "cnn", "vit", "vit-conv", "vit-cnn"])
    p.add_argument("--epochs", type=int, default=48)
    p.add_argument("--pool", choices=["cls", "mean"], default="cls", help="ViT read-out: [CLS] or mean of tokens")
    p.add_argument("--pos", choices=["learned", "sincos"], default="learned",
                   help="ViT position embeddings: learned, or fixed 3-D sine-cosine as in the Alifuse encoder")
    p.add_argument("--vit-lr", type=float, default=3e-4, help="peak learning rate of the ViT probes")
    p.add_argument("--augment", action="store_true", help="random left-right flips and shifts of up to 2 voxels")
    p.add_argument("--standardise", action="store_true",
                   help="neural probes: intensities minus the training volumes' mean, over their sd (as MAE's inputs)")
    p.add_argument("--xavier-patch", action="store_true",
                   help="ViT: MAE's Xavier initialisation of the linear patch projection instead of torch's default")
    args = p.parse_args()
    x, y, idx = load(args.cohort, args.cache)
    print(f"{len(x)} volumes; train/val/test {len(idx['train'])}/{len(idx['val'])}/{len(idx['test'])}")
    small = F.avg_pool3d(x[:, None], 2)[:, 0]  # 32^3: the probes run in minutes on 2 cores
    if args.standardise:  # [0, 1] volumes, mostly background: content is small beside fixed sine-cosine positions
        train = small[idx["train"]]
        small = (small - train.mean()) / train.std()
    for name in args.models:
        if name == "lr":
            logistic(x, y, idx)
        elif name == "cnn":
            fit(name, CNN, small, y, idx, args.epochs, 1e-3, args.augment)
        else:
            conv = {"vit": False, "vit-conv": True, "vit-cnn": "cnn"}[name]
            fit(name, lambda: ViT(small.shape[-1], conv=conv, pool=args.pool, pos=args.pos,
                                  xavier_patch=args.xavier_patch), small, y, idx, args.epochs, args.vit_lr, args.augment)


if __name__ == "__main__":
    main()
