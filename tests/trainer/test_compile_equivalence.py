"""The fast paths give the plain path's numbers: torch.compile (``--compile``) and bf16 autocast.

Everything runs the loop's own step (:func:`trainer.loop.train_step`) on the ``tiny`` preset with batch 2 and the
toy cohort's shapes, so the compiled graphs of the first test are reused from Inductor's on-disk cache by the
end-to-end runs (a cold compile of the tiny model is about a minute and a half of CPU time; a cached one seconds).
"""
from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import pytest
import torch

from engine.checkpoint import load_checkpoint
from engine.model import AlifuseModel
from tests.conftest import make_batch
from trainer import compile as compile_mod
from trainer.cli_train import main as train_main
from trainer.compile import CompiledStep
from trainer.loop import train_step

CPU = torch.device("cpu")
ARGS = ["--preset", "tiny", "--batch-size", "2", "--seed", "3", "--device", "cpu"]

# fp32, compiled vs eager: Inductor fuses and reorders reductions, so sums differ in the last bits (measured:
# at most ~2e-6 on the total loss, ~6e-7 on logits). 1e-5 relative is a few hundred ulps of fp32: enough for
# reordering, far below what a wrong mask, a missing term or a stale weight would do (>= 1e-2).
FP32_TOL = dict(rtol=1e-5, atol=1e-5)
# Gradients go through more reordered reductions (backward of attention and layer norm) than the losses.
GRAD_TOL = dict(rtol=1e-4, atol=1e-6)
# bf16 keeps 8 significant bits (relative rounding 2^-9 ~ 2e-3 per operation), and errors accumulate over the
# layers. Measured on this model: at most 3e-3 relative on the logits, 1e-3 on the losses. 2e-2 leaves a margin of
# ~6x and is still well below what a wrong computation does (losses and logits are O(1)).
BF16_TOL = dict(rtol=2e-2, atol=2e-2)


def _batch(cfg, seed: int = 0) -> dict[str, torch.Tensor]:
    img, ids, mask, labels = make_batch(cfg, b=2, seed=seed)  # batch 2 as the end-to-end runs use
    return {"image": img, "ids": ids, "mask": mask, "label": labels}


def _optimizer(model: AlifuseModel) -> tuple[torch.optim.Optimizer, list[torch.Tensor]]:
    params = [p for p in model.parameters() if p.requires_grad]
    return torch.optim.AdamW(params, lr=1e-3, weight_decay=0.05), params


def _step(model: AlifuseModel, batch: dict, compiled: bool = False, autocast: torch.autocast | None = None):
    """One loop step on ``model`` -> (outputs, gradients, optimizer); masks from a fixed generator seed, so every
    path masks the same positions."""
    optim, params = _optimizer(model)
    gen = torch.Generator().manual_seed(11)
    out = train_step(CompiledStep(model) if compiled else model, batch, model.cfg, optim, params, 1.0, CPU, gen,
                     autocast=autocast)
    grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
    return {k: v.detach() for k, v in out.items()}, grads, optim


@pytest.fixture
def fresh_dynamo():
    """Each test traces afresh (the on-disk Inductor cache still makes repeats cheap) and counts its graphs."""
    torch._dynamo.reset()
    torch._dynamo.utils.counters.clear()
    yield
    torch._dynamo.reset()


@pytest.mark.slow
def test_compiled_step_matches_eager_losses_logits_grads_and_weights(tiny_cfg, fresh_dynamo):
    torch.manual_seed(0)
    eager = AlifuseModel(tiny_cfg).train()
    compiled = copy.deepcopy(eager)
    batch = _batch(tiny_cfg)
    out_e, grads_e, _ = _step(eager, batch)
    out_c, grads_c, _ = _step(compiled, batch, compiled=True)
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1, "nothing was compiled"
    assert set(out_c) == set(out_e) >= {"itc", "img_rec", "txt_rec", "cls", "total", "logits"}
    for k in out_e:
        torch.testing.assert_close(out_c[k], out_e[k], **FP32_TOL, msg=lambda m, k=k: f"{k}: {m}")
    assert grads_c.keys() == grads_e.keys()
    for n in grads_e:
        torch.testing.assert_close(grads_c[n], grads_e[n], **GRAD_TOL, msg=lambda m, n=n: f"grad {n}: {m}")
    # After one AdamW step. Adam's first update is lr * g / (|g| + eps): an element whose gradient is ~0 in both
    # paths may move by up to lr in either direction, so the bound is lr for those and tight for the rest.
    ps_e, ps_c = dict(eager.named_parameters()), dict(compiled.named_parameters())
    moved = 0
    for n, p in ps_e.items():
        big = grads_e[n].abs() > 1e-6 if n in grads_e else torch.zeros_like(p, dtype=torch.bool)
        torch.testing.assert_close(ps_c[n][big], p[big], **FP32_TOL, msg=lambda m, n=n: f"param {n}: {m}")
        assert (ps_c[n] - p).abs().max() <= 1e-3 + 1e-6, n
        moved += int(big.sum())
    assert moved > 1000  # the tight comparison covered most of the model, not a handful of elements


def test_bf16_autocast_step_is_close_to_fp32_and_keeps_fp32_master_weights(tiny_cfg):
    torch.manual_seed(0)
    fp32 = AlifuseModel(tiny_cfg).train()
    bf16 = copy.deepcopy(fp32)
    batch = _batch(tiny_cfg)
    out_32, grads_32, _ = _step(fp32, batch)
    out_16, grads_16, optim_16 = _step(bf16, batch, autocast=torch.autocast("cpu", dtype=torch.bfloat16))
    # autocast really ran: the fusion head's matmul came out in bf16 (the fp32 path gives fp32)
    assert out_16["logits"].dtype == torch.bfloat16 and out_32["logits"].dtype == torch.float32
    for k in ("itc", "img_rec", "txt_rec", "cls", "total", "logits"):
        torch.testing.assert_close(out_16[k].float(), out_32[k], **BF16_TOL, msg=lambda m, k=k: f"{k}: {m}")
    # master weights, their gradients and the optimizer's moments stay fp32: autocast casts copies per op
    moments = optim_16.state
    for n, p in bf16.named_parameters():
        assert p.dtype == torch.float32, n
        if n in grads_16:
            assert grads_16[n].dtype == torch.float32, n
            assert moments[p]["exp_avg"].dtype == moments[p]["exp_avg_sq"].dtype == torch.float32, n
    # and each weight ended where the fp32 step put it, within AdamW's first-step bound (each moves by <= lr)
    for (n, p16), p32 in zip(bf16.named_parameters(), fp32.parameters()):
        assert (p16 - p32).abs().max() <= 2e-3 + 1e-6, n
    assert len(moments) == len(grads_16) > 0
    # the bf16 gradients point the same way as the fp32 ones (measured cosine 0.99993)
    g16 = torch.cat([grads_16[n].flatten() for n in grads_32])
    g32 = torch.cat([grads_32[n].flatten() for n in grads_32])
    assert torch.nn.functional.cosine_similarity(g16, g32, dim=0) > 0.999


@pytest.mark.slow
def test_train_with_compile_matches_eager_writes_plain_checkpoints_and_resumes(toy_cohort, tmp_path, fresh_dynamo):
    common = ["--data", toy_cohort, *ARGS, "--cache", tmp_path / "cache", "--epochs", "2"]
    out, eager = tmp_path / "compiled", tmp_path / "eager"
    assert train_main([str(a) for a in [*common, "--out", out, "--compile"]]) == 0
    assert torch._dynamo.utils.counters["stats"]["unique_graphs"] >= 1, "--compile compiled nothing"
    assert train_main([str(a) for a in [*common, "--out", eager]]) == 0

    state = torch.load(out / "train_state.pt", weights_only=True)
    assert state["epoch"] == 2 and not [k for k in state["model"] if "_orig_mod" in k]
    model, info = load_checkpoint(out / "last.safetensors")  # refuses any key the config does not expect
    assert info.trained and info.provenance["compile"] is True and info.provenance["epoch"] == 2
    # the file holds the trained weights: the same as the in-run state, and the same logits
    plain = AlifuseModel(info.config).eval()
    plain.load_state_dict(state["model"])
    for k, v in model.state_dict().items():
        assert torch.equal(v, state["model"][k]), k
    b = _batch(info.config, seed=5)
    with torch.no_grad():
        torch.testing.assert_close(model(b["image"], b["ids"], b["mask"]),
                                   plain(b["image"], b["ids"], b["mask"]), rtol=0, atol=0)
    # and what the trained model scored on the validation set during the run, the loaded file scores again
    from trainer.dataset import CaseDataset
    from trainer.loop import _validate
    from trainer.records import read_manifest

    val_ids = set(json.loads((out / "splits.json").read_text())["val"])
    recs = [r for r in read_manifest(Path(toy_cohort) / "manifest.csv").records if r.subject_id in val_ids]
    lines_c = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    again = _validate(model, CaseDataset(recs, info.config, list(info.class_names)), info.class_names, CPU, 2)
    assert lines_c[-1]["epoch"] == 2 and again.keys() == lines_c[-1]["val"].keys()
    for k, v in lines_c[-1]["val"].items():  # NaN (an AUC over one class) is written to JSON as null
        assert math.isnan(again[k]) if v is None else again[k] == v, k

    # the same run without --compile trained the same model, within the tolerances of the step test
    lines_e = [json.loads(x) for x in (eager / "metrics.jsonl").read_text().splitlines()]
    for le, lc in zip(lines_e, lines_c, strict=True):
        assert lc["train"] == pytest.approx(le["train"], rel=1e-5)  # measured: ~5e-8
        assert lc["val"]["loss"] == pytest.approx(le["val"]["loss"], abs=2e-4)  # rounded to 4 digits in the file
    w_e = load_checkpoint(eager / "last.safetensors")[0].state_dict()
    off = total = 0
    for k, v in model.state_dict().items():
        # 8 AdamW steps of lr 1e-3: an element whose gradient is ~0 moves by up to lr per step either way
        assert (v - w_e[k]).abs().max() <= 8e-3, k
        off += int(((v - w_e[k]).abs() > 1e-5).sum())
        total += v.numel()
    assert off <= total * 1e-3  # measured: 73 of 1.1 M elements differ by more than 1e-5 (max 1.1e-4)

    # --resume under --compile: the plain train_state.pt loads into the plain model before it is wrapped
    assert train_main([str(a) for a in [*common[:-2], "--epochs", "3", "--out", out, "--compile", "--resume"]]) == 0
    assert torch.load(out / "train_state.pt", weights_only=True)["epoch"] == 3
    assert load_checkpoint(out / "last.safetensors")[1].provenance["epoch"] == 3
    assert [json.loads(x)["epoch"] for x in (out / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]


def test_a_compiler_failure_is_one_line_naming_compile(toy_cohort, tmp_path, capsys, monkeypatch, fresh_dynamo):
    def no_compiler(gm, example_inputs):  # noqa: ANN001 - what a machine without g++ ends up raising
        raise RuntimeError("Compiler: g++ is not found\nmore compiler output")

    monkeypatch.setattr(compile_mod, "BACKEND", no_compiler)
    with pytest.raises(SystemExit) as exc:
        train_main([str(a) for a in ["--data", toy_cohort, *ARGS, "--cache", tmp_path / "cache", "--compile",
                                     "--out", tmp_path / "r", "--epochs", "1"]])
    err = capsys.readouterr().err
    assert exc.value.code == 2
    assert err.startswith("alifuse: error: --compile: torch.compile failed") and err.count("\n") == 1
    assert "g++ is not found" in err and "Traceback" not in err
    assert not (tmp_path / "r" / "last.safetensors").exists()


def test_a_failure_compiling_the_backward_is_one_line_too(tiny_cfg, monkeypatch, fresh_dynamo):
    from torch._dynamo.backends.common import aot_autograd

    from engine.errors import AlifuseInputError

    def bad(gm, example_inputs):  # noqa: ANN001 - the backward graph is compiled at its first use
        raise RuntimeError("backward kernel failed")

    monkeypatch.setattr(compile_mod, "BACKEND", aot_autograd(fw_compiler=lambda gm, ex: gm.forward, bw_compiler=bad))
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg).train()
    with pytest.raises(AlifuseInputError, match=r"^--compile: .*backward kernel failed.*without --compile$"):
        _step(model, _batch(tiny_cfg), compiled=True)


def test_bench_compile_flag_is_reported(capsys):
    from trainer.cli_bench import main as bench_main

    # the train group is the one that compiles (on a machine without CUDA it is skipped with a reason)
    assert bench_main(["--json", "--only", "flops", "train", "--compile"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["compile"] is True
    assert bench_main(["--json", "--only", "flops"]) == 0
    assert json.loads(capsys.readouterr().out)["compile"] is False


def test_an_error_of_the_step_itself_is_not_blamed_on_the_compiler(tiny_cfg, monkeypatch, fresh_dynamo):
    monkeypatch.setattr(compile_mod, "BACKEND", "eager")  # Dynamo traces, nothing is compiled: quick
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg).train()
    batch = _batch(tiny_cfg)
    batch["label"] = batch["label"] + 7  # no such class: the data is wrong, with or without --compile
    with pytest.raises(IndexError, match="out of bounds"):
        _step(model, batch)
    with pytest.raises(IndexError, match="out of bounds"):
        _step(model, batch, compiled=True)


def test_the_compiled_training_step_is_one_graph(tiny_cfg, monkeypatch, fresh_dynamo):
    """No graph breaks: masks are drawn outside the forward, the masked-token index is traced symbolically."""
    monkeypatch.setattr(compile_mod, "BACKEND", "eager")  # Dynamo's graphs without Inductor's code: quick
    torch.manual_seed(0)
    _step(AlifuseModel(tiny_cfg).train(), _batch(tiny_cfg), compiled=True)
    counters = torch._dynamo.utils.counters
    assert counters["stats"]["unique_graphs"] == 1, dict(counters["graph_break"])
    assert not counters["graph_break"]


def test_the_eager_rerun_uses_the_plain_model_and_the_steps_autocast(monkeypatch, fresh_dynamo):
    """Telling the step's errors from the compiler's reruns the model itself (a DDP wrapper would wait for the other
    ranks), without ``gather``, in the step's autocast (an error only bf16 meets is still the step's)."""
    monkeypatch.setattr(compile_mod, "BACKEND", "eager")

    class FailsInBf16(torch.nn.Module):
        def forward(self, x, gather=None):
            if torch.is_autocast_enabled("cpu"):
                raise ValueError("fails in bf16")
            return x * 2

    class LikeDDP(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.module = model

        def forward(self, x, gather=None):
            if gather is None:
                raise RuntimeError("waits for the other ranks")
            return self.module(x)

    step = CompiledStep(LikeDDP(FailsInBf16()))
    with pytest.raises(ValueError, match="fails in bf16"):
        with step.errors(), torch.autocast("cpu", dtype=torch.bfloat16):
            step(torch.ones(3), gather=lambda t: t)
    assert step._inputs is None  # the batch is not held after the step
