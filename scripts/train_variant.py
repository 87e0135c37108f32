"""Train a config variant that alifuse-train's options do not reach, through the real training loop, and score it.

    .venv/bin/python scripts/train_variant.py COHORT OUT_DIR EPOCHS LR [FIELD=VALUE ...]

FIELD=VALUE overrides fields of the `demo` preset (engine/config.py), e.g. `image_size=32 patch_stem=cnn
stem_widths=16,32,64 image_pool=mean lambda_res=0 modalities=image`. Uses the seed-0 70/10/20 split and the
preprocessing cache of alifuse-train (its default folder, or $ALIFUSE_TRAIN_CACHE: the folder given to
alifuse-train --cache), writes the usual run folder into OUT_DIR and prints one
JSON line: best validation scores and the test AUC/ACC of the best and of the last checkpoint.
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

from engine.checkpoint import load_checkpoint
from engine.config import parse_field, preset
from trainer.cache import PreprocessCache
from trainer.evaluate import evaluate
from trainer.loop import TrainOptions, train
from trainer.records import read_manifest
from trainer.splits import run_splits

def main(argv: list[str]) -> None:
    cohort, out, epochs, lr = Path(argv[0]), Path(argv[1]), int(argv[2]), float(argv[3])
    cfg = preset("demo", **dict(parse_field(a, 'FIELD=VALUE') for a in argv[4:]))
    records = read_manifest(cohort / "manifest.csv").records
    splits = run_splits(records, 0)
    folder = os.environ.get("ALIFUSE_TRAIN_CACHE")
    cache = PreprocessCache(Path(folder) if folder else None)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    result = train(cfg, splits, ["NC", "MCI", "AD"], out, TrainOptions(epochs=epochs, lr=lr, batch_size=8),
                   torch.device("cpu"), provenance={"variant": argv[4:]}, cache=cache)
    scores = {}
    for which in ("best", "last"):
        model, info = load_checkpoint(out / f"{which}.safetensors")
        test = evaluate(model, info, splits["test"], "test", torch.device("cpu"), n_boot=1000, cache=cache)
        scores[which] = {"test_auc": round(test["auc"], 4), "test_acc": round(test["acc"], 4),
                         "test_auc_ci95": [round(v, 4) for v in test["ci95"]["auc"]]}
    print(json.dumps({"variant": argv[4:], "minutes": round((time.time() - t0) / 60, 1),
                      "best_val": result.best_val, **scores}))


if __name__ == "__main__":
    main(sys.argv[1:])
