"""Which figures exist, in which group, and running the selected groups into one report dict."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from engine.config import preset
from trainer.bench.flops import forward_flops, prediction_flops, training_flops
from trainer.bench.machine import machine_info
from trainer.bench.results import Results
from trainer.bench.targets import compare_all

#: The brief's estimate for one paper training sample, compared with the analytic count.
BRIEF_PAPER_FLOPS = 1.4e12

#: group -> the figures it can produce (listed as skipped, with the reason, when it cannot).
GROUPS: dict[str, tuple[str, ...]] = {
    "flops": ("paper.flops_per_sample", "demo.flops_per_sample",
              "paper.flops_per_prediction", "demo.flops_per_prediction"),
    "preprocess": ("preprocess.cpu.256cube_s",),
    "demo": ("demo.cpu.predict_s", "demo.cpu.explain_s"),
    "paper": ("paper.cpu.predict_s", "paper.cuda.predict_s", "paper.cuda.explain_s", "paper.cuda.predict_explain_s"),
    "train": ("paper.cuda.train_samples_per_s", "paper.cuda.mfu"),
    "loader": ("loader.cpu.samples_per_s", "loader.cpu.cold_samples_per_s", "loader.cpu.workers_samples_per_s"),
    "viewer": ("viewer.first_image_s", "viewer.model_ready_s", "viewer.first_prediction_s", "viewer.screenshot_s"),
}
#: groups --quick leaves out (each takes a minute or more on two cores)
SLOW_GROUPS = ("paper", "train", "viewer")


def bench_flops(res: Results) -> None:
    for name in ("paper", "demo"):
        cfg = preset(name)
        fc = forward_flops(cfg)
        res.add(f"{name}.flops_per_sample", training_flops(cfg), forward=fc.forward,
                parts={k: v for k, v in fc.parts.items()}, text_tokens=fc.text_tokens,
                masked_text_tokens=fc.masked_text_tokens, kept_patches=fc.kept_patches,
                rule="3 x forward; matmuls of linear layers, QK^T and AV, patch-embed conv, MLM vocabulary")
        res.add(f"{name}.flops_per_prediction", prediction_flops(cfg))
    ratio = res.figures["paper.flops_per_sample"] / BRIEF_PAPER_FLOPS
    res.notes.append(f"paper.flops_per_sample is {ratio:.2f}x the brief's estimate of 1.4 TFLOP per sample "
                     f"(see docs/PERFORMANCE.md for why)")
    if preset("demo").text_trainable_layers >= 0:
        res.notes.append("demo.flops_per_sample counts a full backward; the demo's frozen text layers skip "
                         "their weight gradients, so its real training cost is somewhat lower")


def run_groups(groups: list[str], quick: bool = False, repeats: int | None = None,
               train_steps: int = 10, train_batch: int = 32, compile: bool = False) -> dict[str, Any]:
    """Run ``groups`` (names of :data:`GROUPS`); returns {machine, figures, skipped, targets, details, notes}.

    ``compile``: torch.compile the model of the ``train`` group (``alifuse-bench --compile``)."""
    reps = repeats if repeats is not None else (1 if quick else 5)
    cuda = torch.cuda.is_available()
    res = Results()
    failed = []
    with tempfile.TemporaryDirectory(prefix="alifuse-bench-") as tmp:
        work = Path(tmp)
        for g in groups:
            if quick and g in SLOW_GROUPS:
                for f in GROUPS[g]:
                    res.skip(f, "--quick leaves out the slow figures")
                continue
            try:
                _run_group(g, res, work, reps, quick, cuda, train_steps, train_batch, compile)
            except Exception as exc:  # noqa: BLE001 - one broken figure must not hide the others
                failed.append(g)
                for f in GROUPS[g]:
                    res.skip(f, f"failed: {type(exc).__name__}: {exc}")
            for f in GROUPS[g]:
                if f not in res.figures and f not in res.skipped:
                    res.skip(f, "no CUDA GPU on this machine" if ".cuda." in f else "not measured")
    targets = [t for t in compare_all(res) if t["by"] != "not selected"]
    out = {"machine": machine_info(), **res.to_dict(), "targets": targets, "failed_groups": failed,
           "repeats": reps, "quick": quick, "compile": compile}
    return out


def _run_group(g: str, res: Results, work: Path, reps: int, quick: bool, cuda: bool,
               train_steps: int, train_batch: int, compile: bool = False) -> None:
    from trainer.bench import data_bench, model_bench, viewer_bench

    actions: dict[str, Callable[[], None]] = {
        "flops": lambda: bench_flops(res),
        "preprocess": lambda: data_bench.bench_preprocess(res, work, reps, quick),
        "demo": lambda: model_bench.bench_demo_cpu(res, reps),
        "paper": lambda: model_bench.bench_paper(res, reps, ["cpu", "cuda"] if cuda else ["cpu"]),
        "train": lambda: (model_bench.bench_train_cuda(res, reps, train_steps, train_batch, compile) if cuda else None),
        "loader": lambda: data_bench.bench_loader(res, work, reps, quick),
        # launches vary by ±0.3 s on a shared 2-core machine: up to 5 of them (about 20 s each)
        "viewer": lambda: viewer_bench.bench_viewer(res, work, 1 if quick else min(reps, 5)),
    }
    actions[g]()
