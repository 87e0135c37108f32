"""Files of a run folder: atomic text writes, the optimizer state, hashed subject lists, environment."""
from __future__ import annotations

import hashlib
import os
import platform
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterable

import torch

from engine.atomic import publish
from trainer.records import CaseRecord


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file and rename: readers never see half a file, a crash never leaves one."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_train_state(path: Path, state: dict[str, Any]) -> None:
    """Optimizer + scheduler state (tensors and numbers only), atomically."""
    fd, tmp = tempfile.mkstemp(dir=Path(path).parent, prefix=Path(path).name + ".", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_train_state(path: Path) -> dict[str, Any]:
    # weights_only: the file holds tensors and plain numbers; nothing is unpickled beyond those.
    return torch.load(path, map_location="cpu", weights_only=True)


#: How a training subject is identified in a checkpoint's provenance: one person is (data set, subject id).
SUBJECT_KEY_SCHEME = "sha256(dataset/subject_id)[:16]"


def subject_hashes(records: Iterable[CaseRecord], scheme: str = SUBJECT_KEY_SCHEME) -> list[str]:
    """Hashed subject keys: evaluation detects leakage without the model file storing subject ids.

    ``scheme`` "sha256(subject_id)[:16]" reads checkpoints written before the data set was part of the key.
    """
    if scheme == SUBJECT_KEY_SCHEME:
        keys = {f"{r.dataset}/{r.subject_id}" for r in records}
    else:
        keys = {r.subject_id for r in records}
    return sorted({hashlib.sha256(k.encode()).hexdigest()[:16] for k in keys})


def environment() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy

    def installed(name: str) -> str:  # read from the package's metadata: no import (transformers' takes a second)
        try:
            return version(name)
        except PackageNotFoundError:
            return "none"

    return {"python": sys.version.split()[0], "platform": platform.platform(), "torch": torch.__version__,
            "tokenizers": installed("tokenizers"), "transformers": installed("transformers"),
            "numpy": numpy.__version__,
            "cuda": torch.version.cuda or "none",
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"}
