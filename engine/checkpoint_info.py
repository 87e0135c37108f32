"""What a checkpoint says about itself, read without torch (the viewer checks ``--checkpoint`` before its window).

Only the safetensors header is read: the metadata (format, config, class names, provenance and, when the
checkpoint has been calibrated, its calibration). Building the
model and loading the tensors is ``engine.checkpoint.load_checkpoint``.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError, safe_open

from engine.calibration import Calibration
from engine.config import AlifuseConfig
from engine.errors import AlifuseInputError

FORMAT = "alifuse-checkpoint-1"


@dataclass
class CheckpointInfo:
    """What a checkpoint says about itself (its "model card")."""

    config: AlifuseConfig
    class_names: list[str]
    preprocessing_version: str
    provenance: dict[str, Any] = field(default_factory=dict)   # trained?, data, command, seed, metrics, time, ...
    checkpoint_id: str = ""                                     # short content hash of the stored tensors
    path: str = ""
    #: temperature and "uncertain" threshold fitted on the validation split; None: not calibrated (older files)
    calibration: Calibration | None = None

    @property
    def trained(self) -> bool:
        return bool(self.provenance.get("trained", False))


def _refuse_non_safetensors(path: Path) -> None:
    """A safetensors file starts with a little-endian u64 header length and then '{'; anything else is refused."""
    with open(path, "rb") as fh:
        head = fh.read(16)
        size = path.stat().st_size
    if not head:
        raise AlifuseInputError(f"{path}: empty file, not a checkpoint")
    n = int.from_bytes(head[:8], "little")
    if len(head) >= 9 and 0 < n <= size - 8 and head[8:9] == b"{":
        return
    if head[:2] == b"PK" or head[:1] == b"\x80":
        raise AlifuseInputError(f"{path}: this is a pickled PyTorch file; Alifuse never unpickles files "
                                f"(code could run): convert it to .safetensors")
    raise AlifuseInputError(f"{path}: not a .safetensors checkpoint")


def read_info(path: str | Path) -> CheckpointInfo:
    """The metadata of a checkpoint, without building the model."""
    path = Path(path)
    if not path.is_file():
        raise AlifuseInputError(f"{path}: checkpoint not found")
    _refuse_non_safetensors(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AlifuseInputError(f"{path}: unreadable .safetensors file ({exc})") from None
    if meta.get("format") != FORMAT:
        raise AlifuseInputError(f"{path}: not an Alifuse checkpoint (metadata 'format' is {meta.get('format')!r})")
    try:
        cfg = AlifuseConfig.from_json(meta["config"])
        classes = json.loads(meta["class_names"])
        prov = json.loads(meta.get("provenance", "{}"))
    except (KeyError, json.JSONDecodeError, TypeError) as exc:
        raise AlifuseInputError(f"{path}: damaged checkpoint metadata ({exc})") from None
    except AlifuseInputError as exc:
        raise AlifuseInputError(f"{path}: {exc}") from None
    if len(classes) != cfg.num_classes:
        raise AlifuseInputError(f"{path}: {len(classes)} class names for a {cfg.num_classes}-class model")
    calibration = None
    if "calibration" in meta:  # optional: checkpoints written before calibration existed have none
        try:
            calibration = Calibration.from_json(meta["calibration"])
        except AlifuseInputError as exc:
            raise AlifuseInputError(f"{path}: damaged checkpoint metadata: {exc}") from None
    return CheckpointInfo(cfg, classes, meta.get("preprocessing_version", "?"), prov,
                          meta.get("checkpoint_id", ""), str(path), calibration)
