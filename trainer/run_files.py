"""Files of a run folder: atomic text writes, the optimizer state, hashed subject lists, environment."""
from __future__ import annotations

import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch

from engine import run_format as rf
from engine.atomic import publish
from trainer.bench.machine import cpu_model
from trainer.records import CaseRecord
from trainer.subject_ids import ID_SCHEME, SCHEME, data_identity, subject_keys


#: the option that asks a script to keep an output its own record vouches for; never part of the recorded command
SKIP_IF_DONE = "--skip-if-done"


def recorded_command(program: list[str], argv: Iterable[str]) -> str:
    """The command a script records beside its output (OUT.json) and --skip-if-done compares: without that option."""
    import shlex

    return shlex.join([*program, *(a for a in argv if a != SKIP_IF_DONE)])


def sidecar_records(out: Path, **expected: Any) -> bool:
    """True when the file ``out`` exists and its record OUT.json (a JSON object) holds every ``expected`` key with
    that value: a deterministic script would write the same file again. Anything unreadable is False (do it again)."""
    import json

    from engine.errors import AlifuseInputError
    from engine.safe_files import read_regular

    out = Path(out)
    sidecar = out.with_name(out.name + ".json")
    if not (out.is_file() and sidecar.is_file()):
        return False
    try:
        done = json.loads(read_regular(sidecar, 16 << 20, sidecar.name).decode("utf-8"))
    except (AlifuseInputError, OSError, UnicodeDecodeError, ValueError, RecursionError):
        return False
    return isinstance(done, dict) and all(done.get(k) == v for k, v in expected.items())


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename: readers never see half a file, a crash never leaves one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=rf.PARTIAL_SUFFIX)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    """Optimizer + scheduler state (tensors and numbers only), atomically."""
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=Path(path).name + ".", suffix=rf.PARTIAL_SUFFIX)
    os.close(fd)
    try:
        torch.save(state, tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: the largest train_state.pt a resume reads (weights and two AdamW moments of the largest model a config allows)
MAX_STATE_BYTES = 16 << 30
#: what a training state holds, and the types (the loop reads these keys)
_STATE_KEYS = {"model": dict, "optimizer": dict, "scheduler": dict, "epoch": int, "best_val": dict}


def load_train_state(path: Path) -> dict[str, Any]:
    """The optimizer/scheduler state of a run, read with ``weights_only=True`` (tensors and plain numbers only:
    nothing else is ever unpickled). A truncated, damaged or foreign file is an :class:`AlifuseInputError`
    naming it; the message never repeats torch's, which suggests unpickling the file."""
    import pickle

    from engine.errors import AlifuseInputError, quote_path
    from engine.safe_files import check_regular

    where = f"--resume: {quote_path(path)}"
    check_regular(path, MAX_STATE_BYTES, rf.TRAIN_STATE)
    try:
        st = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise AlifuseInputError(f"{where}: holds objects other than tensors and numbers, which are never "
                                f"unpickled; it is not a state alifuse-train wrote (start a new --out)") from None
    except Exception:  # noqa: BLE001 - zip, EOF, unpickling and storage errors of a damaged file alike
        raise AlifuseInputError(f"{where}: truncated or damaged, not a state alifuse-train wrote (restore it, or "
                                f"start a new --out)") from None
    bad = [k for k, t in _STATE_KEYS.items() if not isinstance(st, dict) or not isinstance(st.get(k), t)
           or isinstance(st.get(k), bool)]
    if not bad and not ("best_key" in st or "best_auc" in st):
        bad = ["best_key"]
    if bad:
        raise AlifuseInputError(f"{where}: not a state alifuse-train wrote (no valid '{bad[0]}'; start a new --out)")
    if st["epoch"] < 0 or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in st["model"].items()):
        raise AlifuseInputError(f"{where}: not a state alifuse-train wrote (its epoch or weights are not valid)")
    return st


#: How a training subject is identified in a checkpoint's provenance: one person is (data set, subject id), both
#: normalised (trainer.subject_ids: NFKC, invisible characters dropped, case-folded). Older checkpoints name
#: their own scheme (trainer.subject_ids.LEGACY_SCHEMES), read as written.
SUBJECT_KEY_SCHEME = SCHEME


def subject_hashes(records: Iterable[CaseRecord], scheme: str = SUBJECT_KEY_SCHEME) -> list[str]:
    """Hashed subject keys: evaluation detects leakage without the model file storing subject ids.

    ``scheme`` "sha256(subject_id)[:16]" reads checkpoints written before the data set was part of the key,
    "sha256(dataset/subject_id)[:16]" those written before ids were normalised.
    """
    return subject_keys(((r.dataset, r.subject_id) for r in records), scheme)


def image_digest(path: Path | None, cache=None) -> str | None:  # noqa: ANN001
    """The first 16 hex digits of the SHA-256 of an image's content (a DICOM folder: of its files), or None for
    a case without a readable image. With a :class:`trainer.cache.PreprocessCache` its memo is used (and
    filled), so training reads each file once for both."""
    from trainer.cache import content_hash

    if path is None:
        return None
    try:
        if cache is not None and hasattr(cache, "key"):
            return cache.key(Path(path), 0)[:16]
        return content_hash(Path(path))[:16]
    except (OSError, ValueError):  # missing, a FIFO, too large: the data set reports it when it reads the case
        return None


def trained_cases(train_split: Iterable[CaseRecord], provenance: dict[str, Any],
                  class_names: list[str]) -> list[CaseRecord]:
    """The cases a run trained on, rebuilt: its table's training split, then the records without a scan that
    alifuse-train --record-only drew for it (as its stored subject hashes count them)."""
    from trainer.synth.records_only import record_only_cases

    n, seed = int(provenance.get("record_only") or 0), int(provenance.get("seed", 0))
    return list(train_split) + (record_only_cases(n, seed, class_names) if n else [])


def is_training_split(cases: Iterable[CaseRecord], provenance: dict[str, Any]) -> bool:
    """Whether ``cases`` are exactly the subjects the checkpoint's provenance stores as its training split."""
    stored = provenance.get("train_subjects_sha256") or []
    scheme = provenance.get("train_subjects_scheme") or SUBJECT_KEY_SCHEME
    return bool(stored) and subject_hashes(cases, scheme) == sorted(stored)


def training_keys(records: Iterable[CaseRecord], data_spec: str | None = None, cache=None) -> dict[str, Any]:  # noqa: ANN001
    """What a checkpoint stores of its training subjects for the leakage refusal (trainer.subject_ids, rules 1-3):
    hashed (data set, id) pairs, hashed ids alone, hashed image contents, the hashed path of the training table."""
    records = list(records)
    images = {image_digest(r.image, cache) for r in records if r.image is not None}
    out: dict[str, Any] = {"train_subjects_sha256": subject_hashes(records), "train_subjects_scheme": SCHEME,
                           "train_subject_ids_sha256": subject_keys(((r.dataset, r.subject_id) for r in records),
                                                                    ID_SCHEME),
                           "train_images_sha256": sorted(d for d in images if d)}
    ident = data_identity(data_spec)
    if ident:
        out["train_data_sha256"] = ident
    return out


#: the variables that choose the kernel set of torch, oneDNN and MKL (scripts/kernels.sh): recorded when set
KERNEL_VARIABLES = ("ATEN_CPU_CAPABILITY", "ONEDNN_MAX_CPU_ISA", "MKL_ENABLE_INSTRUCTIONS", "MKL_CBWR")


def environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    def installed(name: str) -> str:  # read from the package's metadata: no import (transformers' takes a second)
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    # the processor and the instruction set torch chose its kernels for (AVX2, AVX-512, ...), and the libraries that
    # render and resample the scans (scipy, nibabel; only torch is pinned): a rerun elsewhere that does not match
    # can be checked against what ran it
    return {"python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
            "tokenizers": installed("tokenizers"), "transformers": installed("transformers"),
            "numpy": numpy.__version__, "scipy": installed("scipy"), "nibabel": installed("nibabel"),
            "cpu": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            # oneDNN's and MKL's caps (scripts/kernels.sh sets them) are read from the environment only
            **{k.lower(): os.environ[k] for k in KERNEL_VARIABLES if os.environ.get(k)},
            "threads": str(torch.get_num_threads()),
            "cuda": torch.version.cuda or "none",
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}
