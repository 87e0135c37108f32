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
from engine.errors import AlifuseInputError, quote, quote_path
from engine.safe_files import MAX_CHECKPOINT_BYTES, check_regular, open_regular

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
    with open_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint") as fh:  # no FIFO, device or 50 GB file
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


def _check_class_names(classes: Any, num_classes: int) -> None:
    """A JSON list of distinct, non-empty, printable names, one per output of the model's head."""
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes):
        raise AlifuseInputError(f"metadata 'class_names': expected a JSON list of names, got "
                                f"{'a list with a non-string' if isinstance(classes, list) else type(classes).__name__}")
    if len(classes) != num_classes:
        raise AlifuseInputError(f"metadata 'class_names': {len(classes)} class names for a {num_classes}-class model")
    seen: set[str] = set()
    for c in classes:
        key = c.strip().casefold()
        if not key or len(c) > 64 or not c.isprintable():
            raise AlifuseInputError(f"metadata 'class_names': '{quote(c)}' is not a class name (1 to 64 printable "
                                    f"characters)")
        if key in seen:
            raise AlifuseInputError(f"metadata 'class_names': '{quote(c)}' is given twice")
        seen.add(key)


#: provenance keys that the tools read, and what each must hold
_PROVENANCE_TYPES: dict[str, tuple[type, ...]] = {
    "trained": (bool,), "seed": (int,), "folds": (int, type(None)), "fold": (int, type(None)),
    "without_ehr": (list, type(None)), "train_subjects_sha256": (list,), "train_subjects_scheme": (str,),
    "train_subject_ids_sha256": (list,), "train_images_sha256": (list,), "train_data_sha256": (str,),
    "val": (dict, type(None)),
}


def _check_provenance(prov: Any) -> None:
    """A JSON object whose keys that the tools read have the types they expect."""
    if not isinstance(prov, dict):
        raise AlifuseInputError(f"metadata 'provenance': expected a JSON object, got {type(prov).__name__}")
    for key, types in _PROVENANCE_TYPES.items():
        v = prov.get(key)
        if key in prov and (not isinstance(v, types) or (isinstance(v, bool) and bool not in types)):
            raise AlifuseInputError(f"metadata 'provenance': '{key}' holds {type(v).__name__} {quote(v)}")
        if isinstance(v, list) and not all(isinstance(x, str) for x in v):
            raise AlifuseInputError(f"metadata 'provenance': '{key}' must be a list of strings")
    from engine.ehr import EHR_PARTS

    unknown = set(prov.get("without_ehr") or ()) - set(EHR_PARTS)
    if unknown:
        raise AlifuseInputError(f"metadata 'provenance': 'without_ehr' names unknown EHR parts "
                                f"{', '.join(quote(u, 20) for u in sorted(unknown)[:3])}")
    _check_record_ranges(prov.get("record_ranges"))


def _check_record_ranges(ranges: Any) -> None:
    """None, or {field of engine.training_ranges.RANGE_FIELDS: [lowest, highest]} within the field's range."""
    # imported here: engine.training_ranges reads engine.ehr, which the rest of this module never needs
    from engine.training_ranges import bounds_problem

    if ranges is None:
        return
    if not isinstance(ranges, dict):
        raise AlifuseInputError(f"metadata 'provenance': 'record_ranges' holds {type(ranges).__name__}")
    for f, bounds in ranges.items():
        why = bounds_problem(quote(f, 20), bounds)
        if why:
            raise AlifuseInputError(f"metadata 'provenance': 'record_ranges' {why}, got {quote(bounds, 40)}")


def read_info(path: str | Path) -> CheckpointInfo:
    """The metadata of a checkpoint, without building the model."""
    path = Path(path)
    check_regular(path, MAX_CHECKPOINT_BYTES, "checkpoint")
    _refuse_non_safetensors(path)
    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AlifuseInputError(f"{quote_path(path)}: unreadable .safetensors file ({quote(str(exc), 80)})") from None
    if meta.get("format") != FORMAT:
        raise AlifuseInputError(f"{path}: not an Alifuse checkpoint (metadata 'format' is '{quote(meta.get('format'))}')")
    try:
        cfg = AlifuseConfig.from_json(meta["config"])
        classes = json.loads(meta["class_names"])
        prov = json.loads(meta.get("provenance", "{}"))
        _check_class_names(classes, cfg.num_classes)
        _check_provenance(prov)
    except (KeyError, json.JSONDecodeError, TypeError, RecursionError) as exc:
        raise AlifuseInputError(f"{quote_path(path)}: damaged checkpoint metadata ({quote(str(exc), 80)})") from None
    except AlifuseInputError as exc:
        raise AlifuseInputError(f"{quote_path(path)}: {exc}") from None
    calibration = None
    if "calibration" in meta:  # optional: checkpoints written before calibration existed have none
        try:
            calibration = Calibration.from_json(meta["calibration"])
        except AlifuseInputError as exc:
            raise AlifuseInputError(f"{path}: damaged checkpoint metadata: {exc}") from None
    return CheckpointInfo(cfg, classes, meta.get("preprocessing_version", "?"), prov,
                          meta.get("checkpoint_id", ""), str(path), calibration)
