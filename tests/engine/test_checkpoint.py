"""Checkpoint files: bit-exact round trip, metadata, and refusal of anything unsafe or inconsistent."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from engine.checkpoint import load_checkpoint, read_info, save_checkpoint
from engine.config import PREPROCESSING_VERSION, preset
from engine.errors import AlifuseInputError
from engine.model import AlifuseModel
from tests.conftest import make_batch

CLASSES = ["NC", "MCI", "AD"]


def test_round_trip_is_bit_exact(tiny_model, tiny_cfg, tmp_path):
    path = tmp_path / "m.safetensors"
    prov = {"trained": True, "seed": 7, "data": "synthetic"}
    ckpt_id = save_checkpoint(tiny_model, path, CLASSES, prov)
    model, info = load_checkpoint(path)
    for (k, a), (k2, b) in zip(tiny_model.state_dict().items(), model.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    assert info.config == tiny_cfg and info.class_names == CLASSES
    assert info.provenance == prov and info.trained and info.checkpoint_id == ckpt_id
    assert info.preprocessing_version == PREPROCESSING_VERSION
    img, ids, mask, _ = make_batch(tiny_cfg)
    assert torch.equal(tiny_model.eval()(img, ids, mask), model(img, ids, mask))
    assert not list(tmp_path.glob("*.tmp")), "atomic write leaves no temporary file"


def test_demo_checkpoint_stores_only_what_the_package_lacks(tmp_path):
    torch.manual_seed(0)
    model = AlifuseModel(preset("demo"))
    path = tmp_path / "demo.safetensors"
    save_checkpoint(model, path, CLASSES)
    with safe_open(str(path), framework="pt") as f:
        stored = set(f.keys())
        meta = f.metadata()
    assert "text_encoder.embeddings.word.weight" not in stored  # frozen MiniLM weight: from the package
    assert "text_encoder.blocks.5.attn.qkv.weight" in stored      # trained top block: stored
    assert len(json.loads(meta["packaged_weights"])["sha256"]) == 64
    loaded, info = load_checkpoint(path)
    assert not info.trained
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k]), k


def test_pickled_file_is_refused(tiny_model, tmp_path):
    for name in ("model.safetensors", "model.pt"):
        path = tmp_path / name
        torch.save(tiny_model.state_dict(), path)
        with pytest.raises(AlifuseInputError, match="pickled"):
            load_checkpoint(path)


def test_tensors_that_do_not_match_the_config_are_refused(tiny_model, tiny_cfg, tmp_path):
    path = tmp_path / "m.safetensors"
    save_checkpoint(tiny_model, path, CLASSES)
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    # config says 48 wide, tensors are 32 wide
    bad_meta = dict(meta, config=tiny_cfg.replace(img_dim=48).to_json())
    save_file(tensors, str(tmp_path / "wide.safetensors"), metadata=bad_meta)
    with pytest.raises(AlifuseInputError, match="shape"):
        load_checkpoint(tmp_path / "wide.safetensors")
    # a tensor missing
    del tensors["fusion.0.weight"]
    save_file(tensors, str(tmp_path / "missing.safetensors"), metadata=meta)
    with pytest.raises(AlifuseInputError, match="fusion.0.weight"):
        load_checkpoint(tmp_path / "missing.safetensors")


@pytest.mark.parametrize("content", [b"", b"hello world, not a checkpoint", b"\x10\x00\x00\x00\x00\x00\x00\x00{bad"])
def test_garbage_is_refused_with_the_path(tmp_path, content):
    path = tmp_path / "x.safetensors"
    path.write_bytes(content)
    with pytest.raises(AlifuseInputError, match="x.safetensors"):
        read_info(path)


def test_plain_safetensors_without_alifuse_metadata_is_refused(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(AlifuseInputError, match="not an Alifuse checkpoint"):
        read_info(path)


def test_checkpoint_files_get_ordinary_permissions(tiny_model, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        save_checkpoint(tiny_model, tmp_path / "m.safetensors", CLASSES)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o644  # not mkstemp's private 0600
