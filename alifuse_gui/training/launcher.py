"""What the training dialog asks for, checked, and the command lines that run it.

``alifuse-train`` and ``alifuse-synth`` are started as ``sys.executable -m trainer.cli_train`` /
``-m trainer.cli_synth`` so they run in the same environment as the viewer whatever its PATH says.
Tests replace the program with a fake trainer through ``TrainLauncher.train_prefix``.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from engine import run_format as rf
from engine.errors import AlifuseInputError
from alifuse_gui.training.run_folder import RunFolder

_PRESET_HELP = {
    rf.PRESET_TINY: "a smoke test, seconds per epoch on a laptop",
    rf.PRESET_DEMO: "small model that trains on two CPU cores",
    rf.PRESET_PAPER: "the paper's full model (128³, 24 layers); needs a large GPU",
}
#: The presets the dialog offers, each with a line for a person ("tiny: a smoke test, ...").
PRESETS: dict[str, str] = {name: f"{name}: {_PRESET_HELP[name]}" for name in rf.PRESET_NAMES}
DEVICES = rf.DEVICE_NAMES
MANIFEST_NAME = "manifest.csv"
TABLE_SUFFIXES = (".csv", ".tsv")
#: Fewest synthetic subjects for which a subject-wise train/validation/test split still holds every part.
MIN_SYNTH_SUBJECTS = 6
MAX_SYNTH_SUBJECTS = 5000
#: The folder that holds the ``trainer``/``engine`` packages, for PYTHONPATH in the child process.
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class TrainSettings:
    """A checked training request. ``data`` is what the trainer reads (the synthetic cohort's folder when
    ``synthetic_subjects`` is set, which has to be made first)."""

    data: Path
    preset: str
    out: Path
    epochs: int | None = None
    batch_size: int | None = None
    device: str = rf.DEVICE_AUTO
    seed: int | None = None
    resume: bool = False
    synthetic_subjects: int | None = None


def _whole(name: str, text: str, minimum: int, maximum: int | None = None) -> int | None:
    """'' -> None (use the preset's default); otherwise an int in range, or an error naming the field."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        v = int(text)
    except ValueError:
        raise AlifuseInputError(f"{name}: {text!r} is not a whole number") from None
    if v < minimum or (maximum is not None and v > maximum):
        rng = f"{minimum}-{maximum}" if maximum is not None else f"at least {minimum}"
        raise AlifuseInputError(f"{name}: {v} is out of range ({rng})")
    return v


def synthetic_cohort_dir(out: Path) -> Path:
    """Where a synthetic cohort for the run ``out`` is written: beside it, never inside the run folder."""
    return out.parent / f"{out.name}-cohort"


def parse_settings(data: str, preset: str, out: str, epochs: str = "", batch_size: str = "",
                   device: str = rf.DEVICE_AUTO, seed: str = "", resume: bool = False,
                   synthetic_subjects: str | None = None) -> TrainSettings:
    """Check the dialog's fields; the first problem is an ``AlifuseInputError`` naming the field.

    ``synthetic_subjects`` not None means "make a synthetic cohort of that many subjects first".
    """
    if preset not in PRESETS:
        raise AlifuseInputError(f"preset: {preset!r} is not one of {', '.join(PRESETS)}")
    if device not in DEVICES:
        raise AlifuseInputError(f"device: {device!r} is not one of {', '.join(DEVICES)}")
    n_epochs = _whole("epochs", epochs, 1, 100_000)
    batch = _whole("batch size", batch_size, 1, 4096)
    seed_v = _whole("seed", seed, 0, 2**31 - 1)
    out_p = _check_out(out, resume)
    info = (RunFolder(out_p).run_info() or {}) if resume else {}
    if resume:  # a blank field takes the run's own value; one that differs would mix two trainings
        own = _options_of(info)
        if own.get("preset") not in (None, preset):
            raise AlifuseInputError(f"preset: {preset}, but the run in {out_p} was trained with {own['preset']}; "
                                    f"a resumed run keeps its own (choose {own['preset']}, or untick Resume)")
        batch = _own_value("batch size", batch, own.get("batch_size"), out_p)
        seed_v = _own_value("seed", seed_v, own.get("seed"), out_p)
        n_epochs = n_epochs if n_epochs is not None else own.get("epochs")  # more epochs: the run trains longer
    if synthetic_subjects is not None:
        n = _whole("synthetic subjects", synthetic_subjects, MIN_SYNTH_SUBJECTS, MAX_SYNTH_SUBJECTS)
        if n is None:
            raise AlifuseInputError("synthetic subjects: give the number of subjects to make")
        data_p = synthetic_cohort_dir(out_p)
        made = (data_p / MANIFEST_NAME).is_file()
        if resume and not made:
            raise AlifuseInputError(f"synthetic subjects: the run's cohort {data_p} is missing; cannot resume")
        if not resume and data_p.exists() and any(data_p.iterdir()):
            raise AlifuseInputError(f"synthetic subjects: {data_p} already exists; choose a new run folder")
    else:
        n = None
        data_p = _check_data(data)
    if resume:
        trained_on = info.get("data_resolved")
        if isinstance(trained_on, str) and trained_on != str(data_p.resolve()):
            raise AlifuseInputError(f"data: {data_p}, but the run in {out_p} was trained on {trained_on}; a resumed "
                                    f"run reads its own data (choose it, or untick Resume)")
    return TrainSettings(data_p, preset, out_p, n_epochs, batch, device, seed_v, resume, n)


def run_options(out: Path) -> dict:
    """The options the run in ``out`` was trained with (run.json "options"; a folder written before they were kept
    names its preset and seed only; {} where there is no run.json)."""
    return _options_of(RunFolder(out).run_info() or {})


def _options_of(info: dict) -> dict:
    """:func:`run_options` of a run.json already read."""
    own = info.get("options")
    own = dict(own) if isinstance(own, dict) else {k: info[k] for k in ("preset", "seed") if k in info}
    return {k: v for k, v in own.items() if k not in ("batch_size", "seed", "epochs") or
            (isinstance(v, int) and not isinstance(v, bool))}


def _own_value(label: str, given: int | None, own: int | None, out: Path) -> int | None:
    """A resumed run's field: blank takes the run's own value; another value is refused, naming the field."""
    if given is None or own is None or given == own:
        return own if given is None else given
    raise AlifuseInputError(f"{label}: {given}, but the run in {out} was trained with {own}; a resumed run keeps "
                            f"its own (clear the field, or untick Resume for a new run)")


def _check_data(text: str) -> Path:
    text = (text or "").strip()
    if not text:
        raise AlifuseInputError("data: choose a cohort folder (with manifest.csv) or a manifest table")
    p = Path(text).expanduser()
    if not p.exists():
        raise AlifuseInputError(f"data: {p} does not exist")
    if p.is_dir():
        if not (p / MANIFEST_NAME).is_file():
            raise AlifuseInputError(f"data: {p} has no {MANIFEST_NAME}; choose a cohort folder or a manifest table")
    elif p.suffix.lower() not in TABLE_SUFFIXES:
        raise AlifuseInputError(f"data: {p.name} is not a manifest table (.csv or .tsv)")
    return p


def _check_out(text: str, resume: bool) -> Path:
    text = (text or "").strip()
    if not text:
        raise AlifuseInputError("run folder: choose where the run is written")
    p = Path(text).expanduser()
    if p.exists() and not p.is_dir():
        raise AlifuseInputError(f"run folder: {p} is a file, not a folder")
    if resume:
        if not RunFolder(p).is_run():
            raise AlifuseInputError(f"run folder: {p} holds no earlier run to resume")
    elif p.is_dir() and any(p.iterdir()):
        raise AlifuseInputError(f"run folder: {p} already holds files; tick Resume to continue that run "
                                f"or choose a new folder")
    return p


@dataclass
class TrainLauncher:
    """Builds the command lines; ``*_prefix`` replaces the program part (tests run a fake trainer)."""

    python: str = sys.executable
    train_prefix: list[str] | None = None
    synth_prefix: list[str] | None = None

    def train_command(self, s: TrainSettings) -> list[str]:
        cmd = list(self.train_prefix or [self.python, "-m", "trainer.cli_train"])
        cmd += ["--data", str(s.data), "--preset", s.preset, "--out", str(s.out), "--device", s.device]
        if s.epochs is not None:
            cmd += ["--epochs", str(s.epochs)]
        if s.batch_size is not None:
            cmd += ["--batch-size", str(s.batch_size)]
        if s.seed is not None:
            cmd += ["--seed", str(s.seed)]
        if s.resume:
            cmd.append("--resume")
        cmd.append("--progress-json")
        return cmd

    @staticmethod
    def needs_synthesis(s: TrainSettings) -> bool:
        """True when a synthetic cohort has to be made before training (a resumed run reuses its cohort)."""
        return s.synthetic_subjects is not None and not (s.data / MANIFEST_NAME).is_file()

    def synth_command(self, s: TrainSettings) -> list[str]:
        """``alifuse-synth DATA --subjects N [--seed S]`` for a request with ``synthetic_subjects``."""
        if s.synthetic_subjects is None:
            raise ValueError("this request reads an existing cohort; there is nothing to synthesise")
        cmd = list(self.synth_prefix or [self.python, "-m", "trainer.cli_synth"])
        cmd += [str(s.data), "--subjects", str(s.synthetic_subjects)]
        if s.seed is not None:
            cmd += ["--seed", str(s.seed)]
        return cmd

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The child's environment: unbuffered stdout (progress lines arrive as they are printed) and the
        project on PYTHONPATH (``-m trainer...`` works even without an installed package)."""
        env = dict(os.environ if base is None else base)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        return env
