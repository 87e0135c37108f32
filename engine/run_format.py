"""A training run folder (``alifuse-train --out RUN_DIR``) and its progress events, spelled once.

The trainer writes with these names and the viewer reads with them, so the two sides cannot drift apart. This
module imports no library: the viewer reads a run (and builds a training command) without loading torch.

Files: ``progress.json`` holds the latest event (rewritten atomically), ``metrics.jsonl`` one ``epoch`` event
per line (appended), the checkpoints ``last.safetensors`` (every epoch) and ``best.safetensors`` (the best by
validation), ``train_state.pt`` what ``--resume`` needs, and ``config.json``, ``splits.json``, ``run.json``.
"""
from __future__ import annotations

# -- files --
PROGRESS = "progress.json"
METRICS = "metrics.jsonl"
LAST_CHECKPOINT = "last.safetensors"
BEST_CHECKPOINT = "best.safetensors"
TRAIN_STATE = "train_state.pt"
CONFIG = "config.json"
SPLITS = "splits.json"
RUN_INFO = "run.json"
#: Any one of these marks a folder as a training run.
RUN_MARKERS = (METRICS, PROGRESS, RUN_INFO, LAST_CHECKPOINT, BEST_CHECKPOINT)
#: The ending of a file being written (renamed into place when whole); one left behind is from a killed run.
PARTIAL_SUFFIX = ".tmp"

# -- events: one JSON object each, in progress.json, metrics.jsonl and (--progress-json) on stdout --
EVENT = "event"
START, STEP, EPOCH, DONE, STOPPED, ERROR = "start", "step", "epoch", "done", "stopped", "error"
#: What each kind of event carries, at least (the viewer reads these; the trainer may add more).
EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    START: ("epochs", "steps_per_epoch", "run_dir", "start_epoch", "n_train", "n_val", "device"),
    STEP: ("epoch", "step", "steps_per_epoch", "fraction", "eta_s", "lr", "loss"),
    EPOCH: ("epoch", "train", "val", "checkpoint", "best"),
    DONE: ("best_checkpoint", "last_checkpoint", "seconds", "epochs_done", "best_val"),
    STOPPED: ("best_checkpoint", "last_checkpoint", "seconds", "epochs_done", "best_val"),
    ERROR: ("message",),
}

# -- loss terms: the keys of a step's "loss" and an epoch's "train" --
#: The model's own terms (engine.model.AlifuseModel.training_losses): image-text contrast, image and text
#: reconstruction, classification.
MODEL_LOSSES = ("itc", "img_rec", "txt_rec", "cls")
TOTAL_LOSS = "total"
#: The monotone-record penalty, with ``alifuse-train --monotone``.
MONOTONE_LOSS = "mono"
#: The MRI margin, with ``alifuse-train --mri-margin`` (trainer.mri_weight).
MRI_LOSS = "mri"
#: The terms a person is shown, in the order the viewer's plot lists them.
LOSS_TERMS = (TOTAL_LOSS, *MODEL_LOSSES)
#: Validation scores of an epoch's "val" (beside "loss", "balanced_acc" and "n").
VAL_SCORES = ("acc", "auc")
VAL_LOSS = "loss"

# -- model presets (engine.config.PRESETS) and devices (--device) --
PRESET_TINY, PRESET_DEMO, PRESET_PAPER = "tiny", "demo", "paper"
PRESET_NAMES = (PRESET_TINY, PRESET_DEMO, PRESET_PAPER)
DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA = "auto", "cpu", "cuda"
#: What --device accepts (cuda also as cuda:N).
DEVICE_NAMES = (DEVICE_AUTO, DEVICE_CPU, DEVICE_CUDA)
