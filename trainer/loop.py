"""The Alifuse training loop: AdamW, warm-up + cosine, clipping, bf16 autocast on CUDA, DDP, exact resume.

Exact resume: every epoch reseeds its own shuffling, masking and dropout from (seed, epoch), and the
optimizer/scheduler state is saved with each epoch's checkpoint, so a run stopped and resumed ends with the
same weights as one that was never stopped.
"""
from __future__ import annotations

import json
import math
import os
import signal
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from engine import run_format as rf
from engine.checkpoint import save_checkpoint
from engine.config import AlifuseConfig
from engine.errors import AlifuseInputError
from engine.masking import draw_mask_noise
from engine.model import AlifuseModel
from engine.text_batches import trim_text
from trainer.augment import ImageAugment, RecordAugment
from trainer.batching import trim_collate
from trainer.scanner_augment import ScannerAugment
from trainer.compile import maybe_compile, step_errors
from trainer.dataset import CaseDataset
from trainer.monotone import expected_stage, margin_penalty, penalty
from trainer.mri_weight import mri_margin_penalty
from trainer.distributed import DistInfo, all_reduce_mean, gather_with_grad
from trainer.metrics import scores
from trainer.progress import Reporter, truncate_metrics
from trainer.records import CaseRecord
from trainer.run_files import SUBJECT_KEY_SCHEME, load_train_state, save_train_state, subject_hashes

#: Learning rates by preset: the paper's 2e-5 fine-tunes large pretrained encoders; the small presets
#: train their ViT from scratch and need more.
DEFAULT_LR = {rf.PRESET_PAPER: 2e-5, rf.PRESET_DEMO: 3e-4, rf.PRESET_TINY: 1e-3}


@dataclass
class TrainOptions:
    epochs: int = 10
    batch_size: int = 8
    lr: float | None = None
    weight_decay: float = 0.05
    warmup_frac: float = 0.1
    clip: float = 1.0
    seed: int = 0  # the split's (the checkpoint records it: calibration and evaluation rebuild the split from it)
    draw_seed: int | None = None  # initialisation, order, masks and dropout; None: ``seed``
    num_workers: int = 0
    exclude_parts: tuple[str, ...] = ()
    progress_json: bool = False
    compile: bool = False  # torch.compile the training step (checkpoints stay plain; see trainer.compile)
    augment: RecordAugment | None = None  # random field / record / image dropout (trainer.augment)
    # random flips and shifts of the MRI (trainer.augment), or other scanners' looks (trainer.scanner_augment)
    image_augment: ImageAugment | ScannerAugment | None = None
    monotone: float = 0.0  # weight of the pairwise monotonicity penalty (trainer.monotone); 0 = off
    monotone_margin: float = 0.0  # log-odds a score must move a prediction across its range (trainer.monotone)
    monotone_ends: float = 0.0  # share of the shifted copies moved to an end of the score's scale
    monotone_anywhere: float = 0.0  # share of the pairs that compare two nearby values anywhere on the scale
    monotone_reach: int = 3  # how many steps of its scale apart those two values may lie
    monotone_pair_ends: float = 0.0  # share of those pairs that start at an end of the scale (MMSE 0 or 30)
    mri_margin: float = 0.0  # log-odds a clear case's scan must move it towards its diagnosis (trainer.mri_weight)
    mri_margin_fixed: bool = False  # the prediction without the scan held fixed (no gradient) in that margin
    freeze: tuple[str, ...] = ()  # modules kept as they are, e.g. ("image_encoder",) or ("image_encoder.patch_embed",)
    init_from: str | None = None  # a checkpoint whose tensors of ``init_parts`` start the run
    init_parts: tuple[str, ...] = ("image_encoder",)

    @property
    def draw(self) -> int:
        """The seed of everything random in training but the split (alifuse-train --draw-seed)."""
        return self.seed if self.draw_seed is None else self.draw_seed


@dataclass
class RunResult:
    best_checkpoint: Path
    last_checkpoint: Path
    epochs_done: int
    best_val: dict = field(default_factory=dict)
    stopped: bool = False


class _StopFlag:
    """SIGTERM/SIGINT ask the loop to stop at the next step; the last epoch's checkpoint stays."""

    def __init__(self) -> None:
        self.stop = False
        self._old = {}
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread (e.g. inside a test runner thread)
                pass

    def _handler(self, signum, frame) -> None:  # noqa: ANN001
        self.stop = True

    def restore(self) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


#: the score path's learning rate over the rest's: its few hundred parameters, fitted before the first step
#: (trainer.score_path_fit), must follow within two epochs as the fusion and the text encoder they sit beside move
SCORE_PATH_LR_SCALE = 30.0


def _lr_lambda(total: int, warmup: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return f


def _epoch_seed(seed: int, epoch: int) -> int:
    return seed * 100_003 + epoch


def _order(n: int, seed: int, epoch: int, info: DistInfo, batch: int) -> list[int]:
    """This process's indices for the epoch: a seeded permutation, sharded by rank, whole batches only."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(_epoch_seed(seed, epoch))).tolist()
    per_rank = (n // info.world) // batch * batch if n >= info.world * batch else n // info.world
    return perm[info.rank::info.world][:per_rank]


@torch.no_grad()
def predict_dataset(model: AlifuseModel, ds: CaseDataset, device: torch.device, batch: int = 8) -> np.ndarray:
    """Class probabilities (N, C) for every item of ``ds`` (each batch's text cut to its longest record)."""
    model.eval()
    out = []
    loader = DataLoader(ds, batch_size=batch, shuffle=False, collate_fn=trim_collate)
    for b in loader:
        with _autocast(device):
            logits = model(b["image"].to(device) if model.cfg.use_image else None, b["ids"].to(device),
                           b["mask"].to(device), scores=b["scores"].to(device))
        out.append(torch.softmax(logits.float(), dim=-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, model.cfg.num_classes))


def _on(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    """A batch entry on ``device``; None stays None (a batch made without the records' scores: only a model that
    reads them as numbers needs them, and it says so)."""
    return None if t is None else t.to(device)


def _monotone_term(model: AlifuseModel, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                   device: torch.device, margin: float = 0.0) -> torch.Tensor:
    """Hinge on expected stages of each case and its record's shifted copy (same MRI; trainer.monotone), plus,
    with ``margin`` > 0, the hinge asking the copy's cumulative log-odds to move by ``margin`` per whole scale."""
    from engine.model import Encoded

    z_txt = model.text_encoder(batch["ids_alt"].to(device), batch["mask_alt"].to(device))
    logits_alt = model.classify(Encoded(out.get("z_img"), z_txt, _on(batch.get("scores_alt"), device)))
    logits = out["logits"]
    if "ids_ref" in batch:  # --monotone-anywhere: some pairs compare two copies, not the record and one copy
        logits = _reference_logits(model, out, batch, device)
    sign = batch["alt_sign"].to(device).float()
    term = penalty(expected_stage(logits), expected_stage(logits_alt), sign)
    if margin > 0:
        term = term + margin_penalty(logits, logits_alt, sign, batch["alt_moved"].to(device), margin)
    return term


def _reference_logits(model: AlifuseModel, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
                      device: torch.device) -> torch.Tensor:
    """Logits (B, C) of each pair's reference: the batch's own where the reference is the record (``ref_own``),
    which the forward pass has encoded already; the other rows' copies are encoded here, cut to their longest."""
    from engine.model import Encoded

    n = len(out["logits"])
    own = batch["ref_own"].to(device).bool() if "ref_own" in batch else torch.zeros(n, dtype=torch.bool, device=device)
    rows = (~own).nonzero().squeeze(1)
    if len(rows) == 0:
        return out["logits"]
    z_ref = model.text_encoder(*trim_text(batch["ids_ref"].to(device)[rows], batch["mask_ref"].to(device)[rows]))
    z_img = out.get("z_img")
    scores_ref = _on(batch.get("scores_ref"), device)
    ref = model.classify(Encoded(z_img[rows] if z_img is not None else None, z_ref,
                                 scores_ref[rows] if scores_ref is not None else None))
    return out["logits"].index_put((rows,), ref.to(out["logits"].dtype))


def _mri_term(model: AlifuseModel, out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor],
              device: torch.device, margin: float, fixed: bool = False) -> torch.Tensor:
    """The MRI margin (trainer.mri_weight): the batch's logits against the same records beside a hidden MRI.

    With ``fixed`` the hidden-MRI logits are a fixed target (no gradient): the margin must then be met by reading
    the scan, not by moving the prediction without it, which is the very probe that measures the MRI's weight.
    """
    from engine.explain.reliance import hidden_mri
    from engine.model import Encoded

    with torch.set_grad_enabled(not fixed):
        blank = hidden_mri(batch["image"][:1].to(device))
        z_blank = model.image_encoder(blank).expand(out["z_txt"].shape[0], -1, -1)
        logits_hidden = model.classify(Encoded(z_blank, out["z_txt"].detach() if fixed else out["z_txt"],
                                               _on(batch.get("scores"), device)))
    return mri_margin_penalty(out["logits"], logits_hidden, batch["label"].to(device),
                              batch["has_image"].to(device).bool(), margin)


def _init_parts(model: AlifuseModel, path: str, parts: Sequence[str]) -> list[str]:
    """Copy the tensors of ``parts`` (top-level modules) from a checkpoint; returns the names copied."""
    from engine.checkpoint import load_checkpoint

    source, _ = load_checkpoint(path)
    theirs = source.state_dict()
    mine = model.state_dict()
    copied = [k for k in mine if k.split(".")[0] in parts and k in theirs and theirs[k].shape == mine[k].shape]
    if not copied:
        raise AlifuseInputError(f"--init-from {path}: holds no tensors of {', '.join(parts)} that fit this model")
    model.load_state_dict({**mine, **{k: theirs[k] for k in copied}})
    return copied


def _fit_score_path(model: AlifuseModel, train_ds: CaseDataset, opts: TrainOptions, run_dir: Path,
                    device: torch.device, resume: bool, main: bool) -> dict | None:
    """A model that reads the scores as numbers: its path fitted to the training cases before the first step
    (trainer.score_path_fit), on top of what the image and the text say; the fit's figures for the provenance
    (kept in the run folder, so a resumed run, whose state replaces the weights, states the same). None otherwise,
    and when the path comes from --init-from."""
    if model.score_path is None or (opts.init_from and "score_path" in opts.init_parts):
        return None
    record = run_dir / "score_path_fit.json"
    if resume and record.is_file():
        return json.loads(record.read_text())
    from trainer.score_path_fit import base_logits, fit_score_path

    loss = fit_score_path(model.score_path, torch.stack([t.scores for t in train_ds.texts]),
                          torch.tensor(train_ds.labels), base_logits(model, train_ds, device))
    fit = {"cases": len(train_ds), "cross_entropy": round(loss, 4), "on_top_of": "the image and the text"}
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        record.write_text(json.dumps(fit))
    return fit


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return torch.autocast("cpu", enabled=False)


def train_step(model: Callable[..., dict[str, torch.Tensor]], batch: dict[str, torch.Tensor], cfg: AlifuseConfig,
               optim: torch.optim.Optimizer, params: Sequence[torch.Tensor], clip: float, device: torch.device,
               generator: torch.Generator, gather: Callable | None = None,
               autocast: torch.autocast | None = None, monotone: float = 0.0,
               monotone_margin: float = 0.0, mri_margin: float = 0.0,
               mri_margin_fixed: bool = False) -> dict[str, torch.Tensor]:
    """One optimizer step as :func:`train` runs it: forward (bf16 autocast on CUDA), backward, clip, AdamW.

    ``model`` may be the plain module, its DDP wrapper or a compiled one; ``autocast`` overrides the default
    (tests use CPU bf16 to exercise the CUDA path); ``monotone`` weighs the pairwise monotonicity penalty on
    batches that carry shifted copies (``ids_alt``), with ``monotone_margin`` as its margin; ``mri_margin`` > 0
    adds the MRI margin (trainer.mri_weight) with weight 1, against a hidden-MRI prediction held fixed with
    ``mri_margin_fixed``. Returns the model's outputs (losses, logits).
    """
    ids = batch["ids"].to(device)
    # the masks' random numbers are drawn here, not in the forward: a compiled forward cannot take a generator
    noise = draw_mask_noise(cfg, ids.shape[0], ids.shape[1], device, generator)
    with step_errors(model):  # --compile: a compiler failure becomes one line naming the option
        with autocast if autocast is not None else _autocast(device):
            out = model(batch["image"].to(device, non_blocking=True) if cfg.use_image else None,
                        ids, batch["mask"].to(device), labels=batch["label"].to(device), gather=gather, noise=noise,
                        itc_rows=batch["has_image"].to(device) if "has_image" in batch else None,
                        scores=_on(batch.get("scores"), device))
            if monotone > 0 and "ids_alt" in batch:
                out[rf.MONOTONE_LOSS] = _monotone_term(getattr(model, "module", model), out, batch, device,
                                                       monotone_margin)
                out[rf.TOTAL_LOSS] = out[rf.TOTAL_LOSS] + monotone * out[rf.MONOTONE_LOSS]
            if mri_margin > 0 and cfg.use_image and cfg.use_text and "has_image" in batch:
                out[rf.MRI_LOSS] = _mri_term(getattr(model, "module", model), out, batch, device, mri_margin,
                                             mri_margin_fixed)
                out[rf.TOTAL_LOSS] = out[rf.TOTAL_LOSS] + out[rf.MRI_LOSS]
        optim.zero_grad(set_to_none=True)
        out[rf.TOTAL_LOSS].backward()
    torch.nn.utils.clip_grad_norm_(params, clip)
    optim.step()
    return out


def train(cfg: AlifuseConfig, splits: dict[str, Sequence[CaseRecord]], class_names: Sequence[str],
          run_dir: Path, opts: TrainOptions, device: torch.device, info: DistInfo = DistInfo(),
          resume: bool = False, provenance: dict | None = None, cache=None) -> RunResult:
    """Train on ``splits['train']``, select on ``splits['val']``; checkpoints and metrics go to ``run_dir``."""
    run_dir = Path(run_dir)
    last, best, state_file = run_dir / rf.LAST_CHECKPOINT, run_dir / rf.BEST_CHECKPOINT, run_dir / rf.TRAIN_STATE
    lr = opts.lr if opts.lr is not None else DEFAULT_LR.get(cfg.preset, 1e-4)
    train_ds = CaseDataset(splits["train"], cfg, class_names, cache, opts.exclude_parts, augment=opts.augment,
                           monotone=opts.monotone > 0, seed=opts.draw, image_augment=opts.image_augment,
                           monotone_ends=opts.monotone_ends, monotone_anywhere=opts.monotone_anywhere,
                           monotone_reach=opts.monotone_reach, monotone_pair_ends=opts.monotone_pair_ends)
    val_ds = CaseDataset(splits.get("val", []), cfg, class_names, cache, opts.exclude_parts)
    if len(train_ds) < opts.batch_size * info.world:
        raise AlifuseInputError(f"--batch-size {opts.batch_size}: larger than the {len(train_ds)} training cases "
                                f"(per process)")

    torch.manual_seed(opts.draw)
    model = AlifuseModel(cfg)
    if opts.init_from and not resume:
        _init_parts(model, opts.init_from, opts.init_parts)
    for name in opts.freeze:
        try:  # a top-level part (image_encoder) or one inside it (image_encoder.patch_embed)
            module = model.get_submodule(name) if name else None
        except AttributeError:
            module = None
        if not isinstance(module, torch.nn.Module):
            raise AlifuseInputError(f"--freeze {name}: the model has no such part")
        module.requires_grad_(False)
    model = model.to(device)
    path_fit = _fit_score_path(model, train_ds, opts, run_dir, device, resume, info.main)
    start_epoch, best_key, best_val = 1, (-math.inf,), {}
    seconds_before = 0.0  # training time of the sessions before a resume: the done event gives the run's total
    steps_per_epoch = len(_order(len(train_ds), opts.draw, 1, info, opts.batch_size)) // opts.batch_size
    total = steps_per_epoch * opts.epochs
    params = [p for p in model.parameters() if p.requires_grad]
    numbers = {id(p) for p in model.score_path.parameters()} if model.score_path is not None else set()
    decay = [p for p in params if p.ndim >= 2 and id(p) not in numbers]
    no_decay = [p for p in params if p.ndim < 2 and id(p) not in numbers]
    groups = [{"params": decay, "weight_decay": opts.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    score_params = [p for p in params if id(p) in numbers]
    if score_params:  # a group of its own only where there is one: older runs' optimizer states keep their shape
        groups.append({"params": score_params, "weight_decay": 0.0, "lr": lr * SCORE_PATH_LR_SCALE})
    optim = torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), fused=device.type == "cuda")
    sched = torch.optim.lr_scheduler.LambdaLR(optim, _lr_lambda(total, max(1, int(total * opts.warmup_frac))))

    if info.main:
        for stale in run_dir.glob("*" + rf.PARTIAL_SUFFIX):  # left by a run killed while writing; never a finished file
            stale.unlink(missing_ok=True)
    if resume and state_file.is_file():
        # train_state.pt alone holds everything resume needs, written in one atomic step: a kill between
        # writing last.safetensors and the optimizer state can never pair weights and moments of two epochs.
        st = load_train_state(state_file)
        try:  # a state of another model or optimizer (shapes, groups) is bad input, not an internal error
            model.load_state_dict(st["model"])
            optim.load_state_dict(st["optimizer"])
            sched.load_state_dict(st["scheduler"])
        except (RuntimeError, KeyError, ValueError, TypeError, IndexError):
            raise AlifuseInputError(f"--resume: {state_file.name} does not fit this run's model and optimizer "
                                    f"(another config?); start a new --out") from None
        start_epoch, best_val = st["epoch"] + 1, st["best_val"]
        seconds_before = float(st.get("seconds", 0.0))  # states written before it was kept: this session's only
        # states written before the tie-breaks hold "best_auc": the AUC alone (or, briefly, the key)
        saved = st["best_key"] if "best_key" in st else st["best_auc"]
        best_key = tuple(saved) if isinstance(saved, (list, tuple)) else (saved,)
        if info.main:
            truncate_metrics(run_dir / rf.METRICS, st["epoch"])
    elif resume:
        raise AlifuseInputError(f"--resume: {run_dir} holds no {rf.TRAIN_STATE} to resume from")

    ddp_model = model
    if info.world > 1:
        ddp_model = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[info.local_rank] if device.type == "cuda" else None,
            # ablations leave whole branches (decoders, projections) out of the graph
            find_unused_parameters=not (cfg.use_image and cfg.use_text and cfg.lambda_cl > 0 and cfg.lambda_res > 0))
    # compiled after resume has loaded the plain module; validation and checkpoints keep using `model`
    step_model = maybe_compile(ddp_model, opts.compile)
    gather = gather_with_grad if info.world > 1 else None
    reporter = Reporter(run_dir, opts.progress_json, enabled=info.main)
    stop = _StopFlag()
    prov = dict(provenance or {})
    prov.update(trained=True, train_subjects_sha256=subject_hashes(splits["train"]),
                train_subjects_scheme=SUBJECT_KEY_SCHEME, lr=lr, monotone=opts.monotone,
                monotone_margin=opts.monotone_margin, monotone_ends=opts.monotone_ends, mri_margin=opts.mri_margin,
                monotone_anywhere=opts.monotone_anywhere, monotone_reach=opts.monotone_reach,
                monotone_pair_ends=opts.monotone_pair_ends, mri_margin_fixed=opts.mri_margin_fixed,
                augment=opts.augment.to_json() if opts.augment else None, freeze=list(opts.freeze),
                image_augment=({"kind": type(opts.image_augment).__name__, **asdict(opts.image_augment)}
                               if opts.image_augment else None),
                init_from=opts.init_from, **({"score_path_fit": path_fit} if path_fit else {}),
                batch_size=opts.batch_size * info.world, seed=opts.seed, epochs=opts.epochs,
                **({"draw_seed": opts.draw_seed} if opts.draw_seed is not None else {}))
    reporter.event(event=rf.START, epochs=opts.epochs, steps_per_epoch=steps_per_epoch, run_dir=str(run_dir),
                   start_epoch=start_epoch, n_train=len(train_ds), n_val=len(val_ds), device=str(device))
    t_start = time.perf_counter()
    epoch = start_epoch - 1
    try:
        for epoch in range(start_epoch, opts.epochs + 1):
            es = _epoch_seed(opts.draw, epoch)
            torch.manual_seed(es)  # dropout
            gen = torch.Generator(device=device).manual_seed(es + 1)  # masks
            order = _order(len(train_ds), opts.draw, epoch, info, opts.batch_size)
            loader = DataLoader(torch.utils.data.Subset(train_ds, order), batch_size=opts.batch_size, shuffle=False,
                                num_workers=opts.num_workers, pin_memory=device.type == "cuda", drop_last=True,
                                collate_fn=trim_collate)
            train_ds.set_epoch(epoch)
            model.train()
            sums = {k: 0.0 for k in (*rf.MODEL_LOSSES, rf.MONOTONE_LOSS, rf.MRI_LOSS, rf.TOTAL_LOSS)}
            n_steps = 0
            for step, b in enumerate(loader, 1):
                out = train_step(step_model, b, cfg, optim, params, opts.clip, device, gen, gather,
                                 monotone=opts.monotone, monotone_margin=opts.monotone_margin,
                                 mri_margin=opts.mri_margin, mri_margin_fixed=opts.mri_margin_fixed)
                sched.step()
                n_steps += 1
                for k in sums:
                    if k in out:
                        sums[k] += float(all_reduce_mean(out[k].detach().float(), info))
                done = (epoch - start_epoch) * steps_per_epoch + step
                remaining = (opts.epochs - start_epoch + 1) * steps_per_epoch - done
                elapsed = time.perf_counter() - t_start
                reporter.event(event=rf.STEP, epoch=epoch, step=step, steps_per_epoch=steps_per_epoch,
                               fraction=((epoch - 1) * steps_per_epoch + step) / max(1, total),
                               eta_s=round(elapsed / done * remaining, 1), lr=sched.get_last_lr()[0],
                               loss={k: round(v / n_steps, 5) for k, v in sums.items() if k in out})
                if stop.stop:
                    break
            if stop.stop:
                break
            train_loss = {k: v / max(1, n_steps) for k, v in sums.items() if v}
            val = _validate(model, val_ds, class_names, device, opts.batch_size) if info.main else {}
            is_best = False
            if info.main:
                key = selection_key(val)
                is_best = key > best_key or not best.is_file()
                prov_epoch = dict(prov, epoch=epoch, val=val)
                save_checkpoint(model, last, class_names, prov_epoch)
                if is_best:
                    best_key, best_val = key, val
                    save_checkpoint(model, best, class_names, prov_epoch)
                # metrics line before the state: a kill in between makes resume redo this epoch, and the
                # redone epoch's line replaces this one (see truncate_metrics)
                reporter.epoch(epoch=epoch, train=train_loss, val=val, checkpoint=str(last), best=is_best)
                save_train_state(state_file, {"model": model.state_dict(), "optimizer": optim.state_dict(),
                                              "scheduler": sched.state_dict(), "epoch": epoch,
                                              "best_key": best_key, "best_val": best_val,
                                              "seconds": seconds_before + time.perf_counter() - t_start})
    except OSError as exc:
        raise AlifuseInputError(f"{run_dir}: cannot write the run ({exc.strerror or exc}); "
                                f"earlier checkpoints are intact") from None
    finally:
        stop.restore()
        reporter.close()  # end the progress-bar line, so an error message starts on a line of its own
    result = RunResult(best, last, epoch if not stop.stop else epoch - 1, best_val, stop.stop)
    if info.main:
        reporter.event(event=rf.STOPPED if stop.stop else rf.DONE, best_checkpoint=str(best),
                       last_checkpoint=str(last),
                       seconds=round(seconds_before + time.perf_counter() - t_start, 2),
                       epochs_done=result.epochs_done, best_val=best_val)
        reporter.close()
    return result


def selection_key(val: dict) -> tuple[float, ...]:
    """Which epoch is best: validation AUC, then balanced accuracy, then lower loss.

    Small validation sets often reach the same AUC (even 1.0) in several epochs that differ in where the
    decision threshold sits; AUC alone keeps the first of them, whose accuracy can be far lower (seen on an
    OASIS-2 fold: AUC 1.0 with 61% accuracy). Without AUC (one class only) accuracy decides.
    """
    auc = val.get("auc", math.nan)
    first = val.get("acc", -1.0) if math.isnan(auc) else auc
    return (first, val.get("balanced_acc", -1.0), -val.get("loss", math.inf))


def _validate(model: AlifuseModel, ds: CaseDataset, class_names: Sequence[str], device: torch.device,
              batch: int) -> dict:
    if len(ds) == 0:
        return {}
    probs = predict_dataset(model, ds, device, batch)
    y = np.asarray(ds.labels)
    s = scores(y, probs, class_names)
    loss = float(-np.log(np.clip(probs[np.arange(len(y)), y], 1e-12, 1)).mean())
    return {"acc": round(s["acc"], 4), "auc": round(s["auc"], 4) if not math.isnan(s["auc"]) else math.nan,
            "balanced_acc": round(s["balanced_acc"], 4), "loss": round(loss, 4), "n": s["n"]}
