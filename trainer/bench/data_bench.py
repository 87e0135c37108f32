"""Data figures: preprocessing one 256^3 scan, and the cached training data loader."""
from __future__ import annotations

import os
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Subset

from engine.config import CLASS_NAMES_3WAY, preset
from engine.imageio import load_volume
from engine.preprocess import preprocess
from trainer.bench.results import Results
from trainer.bench.synthetic import BENCH_EHR, write_phantom
from trainer.bench.timing import time_it


def bench_preprocess(res: Results, workdir: Path, repeats: int, quick: bool) -> None:
    """Read a 256^3 int16 .nii.gz (1 mm) and resample it onto the paper's 128^3 grid."""
    path = write_phantom(workdir / "bench_256.nii.gz", 256)
    size = preset("paper").image_size
    t = time_it(lambda: preprocess(load_volume(path), size), repeats, warmup=0 if quick else 1)
    res.add("preprocess.cpu.256cube_s", t, what=f"load_volume + preprocess of a 256^3 int16 .nii.gz onto {size}^3")


def bench_loader(res: Results, workdir: Path, repeats: int, quick: bool) -> None:
    """Samples/s of CaseDataset over PreprocessCache's on-disk entries (paper grid, batch 4, no workers)."""
    from trainer.cache import PreprocessCache
    from trainer.dataset import CaseDataset
    from trainer.records import CaseRecord

    n = 4 if quick else 12
    (workdir / "loader").mkdir(exist_ok=True)
    records = []
    for i in range(n):
        path = write_phantom(workdir / "loader" / f"bench-{i:02d}.nii.gz", 160, voxel_mm=1.2, seed=i)
        records.append(CaseRecord(f"bench-{i:02d}", "bl", path, CLASS_NAMES_3WAY[i % 3], "bench", dict(BENCH_EHR)))
    cfg = preset("paper")
    # memory=False: every item comes from the .npy on disk, as for a cohort larger than memory
    cache = PreprocessCache(workdir / "cache", memory=False)
    ds = CaseDataset(records, cfg, list(CLASS_NAMES_3WAY), cache)

    def one_pass() -> None:
        for _ in DataLoader(ds, batch_size=4, shuffle=False, num_workers=0):
            pass

    t0 = time.perf_counter()
    one_pass()  # cold: every image is read and preprocessed once
    cold = time.perf_counter() - t0
    res.add("loader.cpu.cold_samples_per_s", n / cold, what="first epoch: read + preprocess + cache write")
    t = time_it(one_pass, repeats, warmup=0)
    res.add("loader.cpu.samples_per_s", n / t.median, **t.detail(), samples=n, image_size=cfg.image_size,
            what="cached epoch: float16 .npy from disk -> float32, text pre-encoded, batch 4, num_workers=0")

    # as alifuse-train --workers W loads on a GPU host: worker processes started per epoch, pinned memory with
    # CUDA. The rate is counted from the first batch on (the workers' start, reported apart, is paid once an epoch)
    workers = min(8, os.cpu_count() or 1)
    laps = 2 if quick else 16
    pin = torch.cuda.is_available()

    def one_epoch_with_workers() -> tuple[float, float]:
        """(samples/s after the first batch, seconds to the first batch)."""
        t0 = time.perf_counter()
        first, after = None, 0
        for batch in DataLoader(Subset(ds, list(range(n)) * laps), batch_size=4, shuffle=False,
                                num_workers=workers, pin_memory=pin):
            if first is None:
                first = time.perf_counter()
            else:
                after += len(batch["label"])
        return after / max(time.perf_counter() - first, 1e-9), first - t0

    if not quick:
        one_epoch_with_workers()  # untimed warm-up, as the other figures have
    runs = sorted(one_epoch_with_workers() for _ in range(max(1, repeats)))
    rate, startup = runs[len(runs) // 2]
    res.add("loader.cpu.workers_samples_per_s", rate, samples=n * laps, workers=workers, pin_memory=pin,
            image_size=cfg.image_size, startup_s=round(startup, 3), repeats=len(runs),
            all_per_s=[round(r, 1) for r, _ in runs],
            what=f"cached epoch with {workers} worker processes (alifuse-train --workers {workers}), batch 4, "
                 "counted from the first batch")
