"""Model figures: prediction and explanation latency (demo/paper, CPU/CUDA) and paper training on CUDA."""
from __future__ import annotations

import time

import numpy as np
import torch

from engine.checkpoint import CheckpointInfo
from engine.config import CLASS_NAMES_3WAY, PREPROCESSING_VERSION, preset
from engine.ehr import validate_ehr
from engine.explain import DEFAULT_METHOD, explain
from engine.explain.api import on_original_grid
from engine.imageio import Volume, load_volume
from engine.minilm import load_tokenizer
from engine.model import AlifuseModel
from engine.predict import Predictor, indexed
from engine.resources import DEMO_CHECKPOINT, DEMO_IMAGE
from trainer.bench.flops import training_flops
from trainer.bench.machine import bf16_peak
from trainer.bench.results import Results
from trainer.bench.synthetic import BENCH_EHR, phantom
from trainer.bench.timing import time_it


def bench_volume() -> tuple[Volume, str]:
    """The bundled demo MRI when installed (a real-sized scan), else a 192^3 phantom in memory."""
    if DEMO_IMAGE.is_file():
        return load_volume(DEMO_IMAGE), f"demo case {DEMO_IMAGE.name}"
    import numpy as np

    data = phantom(192).astype(np.float32)
    aff = np.eye(4)
    return Volume(data, aff, aff, data.shape, "(phantom)"), "192^3 phantom (demo case not installed)"


def predictor_for(model: AlifuseModel, device: torch.device, note: str) -> Predictor:
    """A :class:`Predictor` around an in-memory model (random paper weights: a checkpoint file would be 2 GB)."""
    p = Predictor.__new__(Predictor)
    device = indexed(device)  # as Predictor does: else the image preprocessed on the GPU is uploaded again
    p.device, p.model, p.cfg = device, model.to(device).eval(), model.cfg
    p.info = CheckpointInfo(model.cfg, list(CLASS_NAMES_3WAY), PREPROCESSING_VERSION, {"trained": False},
                            "bench-random", note)
    p.tokenizer, p.load_s = load_tokenizer(), 0.0
    return p


def _predict_and_explain(res: Results, prefix: str, pred: Predictor, vol: Volume, repeats: int,
                         with_explain: bool, device: torch.device) -> None:
    ehr = validate_ehr(BENCH_EHR, "benchmark record")
    timings: list[dict] = []

    def predict() -> None:
        timings.append(pred.predict(vol, ehr)[0].timings)

    t = time_it(predict, repeats, device=device)
    timed = timings[-len(t.seconds):]
    res.add(f"{prefix}.predict_s", t, what="Predictor.predict on an opened MRI: preprocess + text + forward",
            preprocess_s=sorted(x["preprocess_s"] for x in timed)[len(timed) // 2],
            model_s=sorted(x["model_s"] for x in timed)[len(timed) // 2])
    if not with_explain:
        return
    case = pred.prepare(vol, ehr)
    shown: dict[str, np.ndarray] = {}

    def explain_as_the_user_does() -> None:  # the viewer and alifuse-predict --explain also measure the reliance
        shown["map"] = explain(pred.model, case, class_names=pred.class_names, reliance=True).image_model

    t = time_it(explain_as_the_user_does, repeats, device=device)
    # the map's way back to the scan's own grid, as explain takes it (scipy on CPU, grid_sample on a GPU)
    back = time_it(lambda: on_original_grid(shown["map"], case.mapping, device), repeats, device=device)
    res.add(f"{prefix}.explain_s", t,
            what=f"explain(method={DEFAULT_METHOD!r}, reliance=True) on a prepared case (the viewer's default map)",
            to_original_grid_s=round(back.median, 6))
    if device.type == "cuda":
        t = time_it(lambda: (pred.probabilities(case), explain_as_the_user_does()), repeats, device=device)
        res.add(f"{prefix}.predict_explain_s", t,
                what="forward + relevance explanation with reliance of a prepared case")


def bench_demo_cpu(res: Results, repeats: int) -> None:
    """The viewer's default model on CPU: the bundled checkpoint, or random demo weights when none is shipped."""
    pred = Predictor(None, "cpu")
    weights = (f"bundled checkpoint {DEMO_CHECKPOINT.name}" if DEMO_CHECKPOINT.is_file()
               else "random demo weights (resources/alifuse-demo.safetensors not installed)")
    res.notes.append(f"demo.cpu: {weights}")
    vol, what = bench_volume()
    _predict_and_explain(res, "demo.cpu", pred, vol, repeats, True, torch.device("cpu"))
    for k in ("demo.cpu.predict_s", "demo.cpu.explain_s"):
        res.details[k].update(weights=weights, image=what)


def bench_paper(res: Results, repeats: int, devices: list[str]) -> None:
    """The paper's model (random weights, nothing downloaded): predict on CPU; predict + explain on CUDA."""
    t0 = time.perf_counter()
    torch.manual_seed(0)
    model = AlifuseModel(preset("paper"))
    build = time.perf_counter() - t0
    vol, what = bench_volume()
    for dev in devices:
        device = torch.device(dev)
        pred = predictor_for(model, device, "random paper weights")
        _predict_and_explain(res, f"paper.{dev}", pred, vol, repeats, dev == "cuda", device)
        res.details[f"paper.{dev}.predict_s"].update(weights="random paper weights", build_s=round(build, 2),
                                                     image=what)
    model.to("cpu")


def _train_batch(cfg, batch: int, device: torch.device) -> dict[str, torch.Tensor]:
    """A batch as the training loader yields it: image, ids, mask, scores, label."""
    from engine.ehr_text import encode_for_model

    enc = encode_for_model(validate_ehr(BENCH_EHR), load_tokenizer(), cfg)
    s = cfg.image_size
    return {"image": torch.rand(batch, s, s, s, device=device),
            "ids": enc.input_ids[None].repeat(batch, 1).to(device),
            "mask": enc.attention_mask[None].repeat(batch, 1).to(device),
            "scores": enc.scores[None].repeat(batch, 1).to(device),
            "label": torch.arange(batch, device=device) % cfg.num_classes}


def bench_train_cuda(res: Results, repeats: int, steps: int, batch: int, compile: bool = False) -> None:
    """Paper training steps on one GPU as alifuse-train runs them: bf16 autocast, fused AdamW, clipping;
    with ``compile`` the model is torch.compile-d as ``alifuse-train --compile`` does (the warm-up compiles)."""
    from trainer.compile import maybe_compile
    from trainer.loop import train_step

    device = torch.device("cuda")
    cfg = preset("paper")
    torch.manual_seed(0)
    model = AlifuseModel(cfg).to(device).train()
    step_model = maybe_compile(model, compile)
    params = [p for p in model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=2e-5, fused=True)
    gen = torch.Generator(device=device).manual_seed(0)
    while True:
        try:
            torch.cuda.reset_peak_memory_stats()  # the peak of this batch size, not of an earlier group or try
            b = _train_batch(cfg, batch, device)
            # the trainer's own step (bf16 autocast on CUDA, clipping, compile errors as one line)
            t = time_it(lambda: [train_step(step_model, b, cfg, optim, params, 1.0, device, gen) for _ in range(steps)],
                        repeats, warmup=1, device=device)
            break
        except torch.cuda.OutOfMemoryError:
            optim.zero_grad(set_to_none=True)  # the allocator frees its own cache before it reports the error
            if batch <= 1:
                raise
            batch //= 2
    rate = batch * steps / t.median
    flops = training_flops(cfg)
    name = torch.cuda.get_device_name(0)
    detail = {**t.detail(), "batch": batch, "steps": steps, "flops_per_sample": flops, "gpu": name,
              "compile": compile,
              "peak_memory_gib": round(torch.cuda.max_memory_allocated() / 2 ** 30, 1)}
    res.add("paper.cuda.train_samples_per_s", rate, **detail)
    peak = bf16_peak(name)
    if peak is None:
        res.skip("paper.cuda.mfu", f"no bf16 peak on record for GPU {name!r} (see trainer.bench.machine)")
    else:
        res.add("paper.cuda.mfu", rate * flops / peak, peak_flops=peak, gpu=name, compile=compile,
                achieved_flops=round(rate * flops / 1e12, 1) * 1e12)
    del model, step_model, optim
    torch.cuda.empty_cache()
