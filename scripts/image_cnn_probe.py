"""Is the class in the 32^3 MRI of the shipped model's cohort? A plain 3-D CNN, trained on the MRI alone, answers.

    .venv/bin/python scripts/image_cnn_probe.py WORK_DIR/train3000.csv --test WORK_DIR/test300/manifest.csv \
        --cache WORK_DIR/cache [--model cnn|cnn-4cubed|stem|stem-max] [--seed 0] [--epochs 24] [--threads 1]

Same cohort, same seed-0 subject-wise split (training part only) and same cached 32^3 volumes as
scripts/train_demo.sh, centred and scaled as the image encoder does ((x - 0.15) / 0.29). The network is
image_baselines.CNN (4 stages conv-GroupNorm-GELU-maxpool, 16..128 channels, global average pool); with
``--model cnn-4cubed`` the same without the last pool, so that its features stay on the 4 x 4 x 4 token grid; with
``--model stem`` the Alifuse encoder's own CNN stem (``--patch-stem cnn``, stages 16, 32, 64, and its projection to
the 4 x 4 x 4 tokens) read out by the tokens' mean, without positions or transformer blocks (``stem-max``: by the
mean of their 2 x 2 x 2 regional maxima, as the plain CNN's last pool reads its features); AdamW with a one-cycle
learning rate (peak 1e-3, over --epochs), batch 8, cross-entropy. Prints, after every epoch, the training loss and the
three-class macro AUC on the validation split and on the held-out test cohort. A probe, not the Alifuse model: it
says what an image model can reach on these volumes (docs/RESULTS.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from image_baselines import CLASSES, CNN, fit  # noqa: E402
from pretrain_stem import split_volumes  # noqa: E402

from engine.config import preset  # noqa: E402
from engine.image_encoder import make_patch_embed  # noqa: E402
from trainer.cache import PreprocessCache  # noqa: E402

SIZE = 32


class StemProbe(torch.nn.Module):
    """(B, 32, 32, 32) centred -> logits (B, 3): the encoder's CNN stem, mean of its tokens, a linear head."""

    def __init__(self, regional_max: bool = False) -> None:
        super().__init__()
        self.regional_max = regional_max
        cfg = preset("demo", image_size=SIZE, patch_size=8, patch_stem="cnn", stem_widths=(16, 32, 64))
        self.stem, self.head = make_patch_embed(cfg), torch.nn.Linear(cfg.img_dim, len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.stem(x)                                   # (B, 64, D), the 4^3 grid in z-fastest order
        if self.regional_max:
            grid = tokens.transpose(1, 2).reshape(len(x), -1, 4, 4, 4)
            return self.head(F.max_pool3d(grid, 2).flatten(2).mean(2))
        return self.head(tokens.mean(1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("manifest", type=Path, help="the training manifest (its seed-0 split gives train and val)")
    p.add_argument("--test", type=Path, required=True, help="manifest of the held-out test cohort")
    p.add_argument("--cache", type=Path, help="preprocessed-image cache (default: alifuse-train's)")
    p.add_argument("--model", choices=["cnn", "cnn-4cubed", "stem", "stem-max"], default="cnn")
    p.add_argument("--seed", type=int, default=0, help="initialisation and batch order")
    p.add_argument("--epochs", type=int, default=24)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    cache, cfg = PreprocessCache(a.cache, memory=False), preset("demo", image_size=SIZE)
    x, y, idx = split_volumes(a.manifest, a.test, cache, cfg)

    def make() -> torch.nn.Module:
        model = StemProbe(a.model == "stem-max") if a.model.startswith("stem") else CNN()
        if a.model == "cnn-4cubed":
            model.features[-1] = torch.nn.Identity()  # the fourth stage keeps 4^3: the encoder's token grid
        return model

    # the held-out cohort as fit's "test" rows; no clipping, a line per epoch
    fit(a.model, make, x, y, idx, a.epochs, 1e-3, clip=None, seed=a.seed, report_every=1)

if __name__ == "__main__":
    main()
