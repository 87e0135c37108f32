"""alifuse-bench: the analytic FLOP counter against hand counts and torch's own counter; the CLI's JSON."""
from __future__ import annotations

import json

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from engine.config import preset
from engine.layers import explaining
from engine.model import AlifuseModel
from trainer.bench import bf16_peak, forward_flops, prediction_flops, training_flops
from trainer.bench.flops import block, linear, patch_embed
from trainer.bench.results import Results
from trainer.bench.targets import TARGETS, compare
from trainer.cli_bench import main


def test_linear_layer_is_two_flops_per_multiply_add():
    assert linear(tokens=5, d_in=3, d_out=7) == 2 * 5 * 3 * 7


def test_block_by_hand():
    T, D, H = 10, 8, 32
    by_hand = (2 * T * D * 3 * D          # qkv
               + 2 * T * T * D * 2        # QK^T and AV
               + 2 * T * D * D            # output projection
               + 2 * T * D * H * 2)       # MLP up and down
    assert block(T, D, H) == by_hand
    Lc, Dc = 4, 6
    cross = 2 * T * D * D + 2 * Lc * Dc * 2 * D + 2 * T * Lc * D * 2 + 2 * T * D * D
    assert block(T, D, H, Lc, Dc) == by_hand + cross


def test_patch_embed_is_a_linear_map_of_each_patch(tiny_cfg):
    assert patch_embed(tiny_cfg) == 2 * 64 * 4 ** 3 * 32  # 64 patches of 4^3 voxels to 32 channels


@pytest.mark.parametrize("stem", ["conv", "cnn"])
def test_conv_stem_count_equals_torch_flop_counter(tiny_cfg, stem):
    cfg = tiny_cfg.replace(patch_stem=stem, stem_widths=(8,))
    model = AlifuseModel(cfg)
    with FlopCounterMode(display=False) as fc:
        model.image_encoder.patch_embed(torch.rand(1, cfg.image_size, cfg.image_size, cfg.image_size))
    assert fc.get_total_flops() == patch_embed(cfg)
    assert patch_embed(cfg) > patch_embed(tiny_cfg)


def _one_sample(cfg):
    s, L = cfg.image_size, cfg.max_tokens
    ids = torch.full((1, L), 2000)
    ids[0, 0], ids[0, -1] = cfg.cls_token_id, cfg.sep_token_id
    return torch.rand(1, s, s, s), ids, torch.ones(1, L, dtype=torch.long)


def test_forward_count_equals_torch_flop_counter_on_the_tiny_model(tiny_cfg):
    """The explicit attention path makes QK^T and AV visible matmuls, so torch counts every term we count."""
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg)
    img, ids, mask = _one_sample(tiny_cfg)
    with explaining(model), FlopCounterMode(display=False) as fc:
        model(img, ids, mask, labels=torch.tensor([0]))
    ours = forward_flops(tiny_cfg).forward
    # torch also counts the 1x1 ITC similarity (2 * embed_dim FLOPs); we leave it out
    assert fc.get_total_flops() - ours == 2 * tiny_cfg.embed_dim
    model.eval()
    with explaining(model), FlopCounterMode(display=False) as fc:
        model(img, ids, mask)
    assert fc.get_total_flops() == prediction_flops(tiny_cfg)


def test_training_is_three_forwards_and_paper_is_in_the_expected_range():
    paper = preset("paper")
    assert training_flops(paper) == 3 * forward_flops(paper).forward
    # the paper brief estimates about 1.4 TFLOP per sample; a ViT-B-sized x2 model on 513 tokens is ~1.3
    assert 1.2e12 < training_flops(paper) < 1.5e12
    parts = forward_flops(paper).parts
    # the unimodal image encoder (513 tokens, 24 blocks) is the largest part, the grounded one about half of it
    assert max(parts, key=parts.get) == "image_encoder"
    assert 0.5 < parts["grounded_image_encoder"] / parts["image_encoder"] < 0.65
    assert training_flops(preset("demo")) < training_flops(paper) / 20


def test_gpu_peaks_by_name():
    assert bf16_peak("NVIDIA H100 80GB HBM3") == 989e12
    assert bf16_peak("NVIDIA H100 PCIe") == 756e12
    assert bf16_peak("NVIDIA H200") == 989e12
    assert bf16_peak("NVIDIA A100-SXM4-80GB") == 312e12
    assert bf16_peak("Tesla T4") is None


def test_targets_say_met_or_missed_by_how_much():
    res = Results()
    res.add("demo.cpu.predict_s", 0.75)
    res.add("paper.cuda.mfu", 0.5)
    by = {t.figure: t for t in TARGETS}
    row = compare(by["demo.cpu.predict_s"], res)
    assert row["status"] == "missed" and row["by"].startswith("0.25 s over") and "1.50x" in row["by"]
    assert compare(by["paper.cuda.mfu"], res)["status"] == "met"
    res.add("viewer.screenshot_s", 2.0)
    assert compare(by["viewer.first_image_s"], res)["status"].startswith("met (upper bound")


@pytest.mark.slow
def test_quick_json_flops_and_preprocess(capsys):
    code = main(["--quick", "--json", "--only", "flops", "preprocess"])
    out = capsys.readouterr().out
    assert code == 0
    report = json.loads(out)
    figs = report["figures"]
    for key in ("paper.flops_per_sample", "demo.flops_per_sample", "preprocess.cpu.256cube_s"):
        assert figs[key] > 0, key
    assert figs["paper.flops_per_sample"] == training_flops(preset("paper"))
    m = report["machine"]
    assert m["cores"] >= 1 and m["torch"] == torch.__version__ and m["torch_threads"] >= 1
    assert "gpu" in m and "load_average" in m
    detail = report["details"]["preprocess.cpu.256cube_s"]
    assert detail["repeats"] == 1 and len(detail["load_1m_before_after"]) == 2
    assert "demo.cpu.predict_s" not in figs and report["failed_groups"] == []


def test_quick_loader_figures_with_and_without_workers(capsys):
    import os

    assert main(["--quick", "--json", "--only", "loader"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures, details = report["figures"], report["details"]
    assert figures["loader.cpu.samples_per_s"] > 0 and figures["loader.cpu.cold_samples_per_s"] > 0
    assert figures["loader.cpu.workers_samples_per_s"] > 0
    workers = details["loader.cpu.workers_samples_per_s"]
    assert workers["workers"] == min(8, os.cpu_count() or 1) and workers["samples"] == 8  # 4 cases, 2 laps
    assert workers["startup_s"] > 0  # the workers' start is measured apart from the rate
    assert "loader.cpu.workers_samples_per_s" not in report["skipped"]


def test_quick_leaves_slow_figures_out_with_a_reason(capsys):
    assert main(["--quick", "--json", "--only", "flops", "viewer"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert "viewer.screenshot_s" not in report["figures"]
    assert "--quick" in report["skipped"]["viewer.screenshot_s"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only report")
def test_without_cuda_gpu_figures_are_skipped_with_a_reason(capsys):
    assert main(["--json", "--only", "train"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["figures"] == {}
    assert report["skipped"]["paper.cuda.mfu"] == "no CUDA GPU on this machine"
    assert report["machine"]["gpu"] == "none"


@pytest.mark.parametrize("argv, needle", [(["--only", "bogus"], "--only"), (["--repeats", "0"], "--repeats"),
                                           (["--threads", "0"], "--threads"),
                                           (["--compile", "--only", "flops"], "--compile")])
def test_bad_options_exit_2_with_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith("alifuse: error:") and needle in err


def test_timing_runs_the_warm_up_untimed_and_reports_it():
    """The compiled training figure's compilation lands in the warm-up: it is left out of the median but reported."""
    from trainer.bench.timing import time_it

    calls: list[int] = []
    t = time_it(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and len(t.seconds) == 4
    detail = t.detail()
    assert detail["repeats"] == 4 and detail["warmup_s"] >= 0.0
    assert "warmup_s" not in time_it(lambda: None, repeats=1, warmup=0).detail()


def test_the_demo_explain_figure_times_what_the_user_runs(capsys):
    """explain with the reliance, as the viewer and alifuse-predict --explain run it; the mapping back to the
    scan's grid is reported beside it (scipy on a CPU took most of the GPU's 250 ms target)."""
    assert main(["--json", "--only", "demo", "--repeats", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    detail = report["details"]["demo.cpu.explain_s"]
    assert "reliance=True" in detail["what"]
    assert 0.0 < detail["to_original_grid_s"] < report["figures"]["demo.cpu.explain_s"]
