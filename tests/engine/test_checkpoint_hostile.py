"""Hostile checkpoints (issue 14): metadata is untrusted, the id is a digest of what is loaded, only regular files.

Every refusal is one AlifuseInputError that starts with the file and names what is wrong; nothing is built first.
"""
from __future__ import annotations

import json
import os

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from safetensors import safe_open
from safetensors.torch import save_file

from engine.checkpoint import load_checkpoint, read_info, save_checkpoint
from engine.errors import AlifuseInputError
from engine.resources import DEMO_CHECKPOINT

CLASSES = ["NC", "MCI", "AD"]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny checkpoint: (path, its tensors, its metadata)."""
    from engine.config import preset
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "m.safetensors"
    save_checkpoint(AlifuseModel(preset("tiny")), path, CLASSES, {"trained": True, "seed": 3})
    with safe_open(str(path), framework="pt") as f:
        return path, {k: f.get_tensor(k) for k in f.keys()}, dict(f.metadata())


def _rewrite(folder, saved, name="x.safetensors", tensors=None, **meta_changes):
    path, t, meta = saved
    out = folder / name
    meta = {**meta, **meta_changes}
    save_file(dict(t if tensors is None else tensors), str(out), metadata={k: v for k, v in meta.items()
                                                                           if v is not None})
    return out


@pytest.mark.parametrize("names,why", [
    ('"ABC"', "expected a JSON list"), ('["NC", "NC", "AD"]', "given twice"), ('["NC", "nc ", "AD"]', "given twice"),
    ('["NC", "MCI"]', "2 class names for a 3-class model"), ('["NC", "", "AD"]', "is not a class name"),
    ('["NC", 1, "AD"]', "non-string"), ('{"a": 1}', "expected a JSON list"), ('["NC", "M\\nCI", "AD"]', "not a class"),
])
def test_class_names_must_be_distinct_strings_matching_the_head(tmp_path, saved, names, why):
    bad = _rewrite(tmp_path, saved, class_names=names)
    with pytest.raises(AlifuseInputError, match=rf"^{tmp_path}.*'class_names'.*{why}"):
        read_info(bad)


@pytest.mark.parametrize("prov,why", [
    ("[1, 2]", "expected a JSON object"), ('"trained"', "expected a JSON object"),
    ('{"seed": "abc"}', "'seed' holds str"), ('{"seed": true}', "'seed' holds bool"),
    ('{"without_ehr": "summary"}', "'without_ehr' holds str"), ('{"without_ehr": ["everything"]}', "unknown EHR"),
    ('{"trained": 1}', "'trained' holds int"),
    ('{"record_ranges": [55, 95]}', "'record_ranges' holds list"),
    ('{"record_ranges": {"mmse": [0, 30]}}', "'record_ranges' 'mmse' is not one of age, education_years"),
    ('{"record_ranges": {"age": [95, 55]}}', "'record_ranges' 'age': expected .lowest, highest."),
    ('{"record_ranges": {"age": [55, "old"]}}', "'record_ranges' 'age'"),
    ('{"record_ranges": {"age": [55, NaN]}}', "'record_ranges' 'age'"),
    ('{"record_ranges": {"age": [55, 1' + "0" * 400 + ']}}', "'record_ranges' 'age'"),
])
def test_provenance_must_be_an_object_of_the_types_the_tools_read(tmp_path, saved, prov, why):
    with pytest.raises(AlifuseInputError, match=rf"'provenance'.*{why}"):
        read_info(_rewrite(tmp_path, saved, provenance=prov))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(names=st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=6),
                          lambda x: st.lists(x, max_size=4) | st.dictionaries(st.text(max_size=3), x, max_size=2),
                          max_leaves=6))
@example(names=["normal", "MCI", "AD"])
def test_any_class_names_are_accepted_only_as_three_distinct_names(tmp_path, saved, names):
    bad = _rewrite(tmp_path, saved, class_names=json.dumps(names))
    try:
        info = read_info(bad)
    except AlifuseInputError as exc:
        assert str(exc).startswith(str(bad)) and "\n" not in str(exc)
        return
    assert isinstance(info.class_names, list) and len(info.class_names) == 3
    assert len({c.strip().casefold() for c in info.class_names}) == 3 and all(c.strip() for c in info.class_names)


@pytest.mark.parametrize("field,value", [("max_tokens", 40_000_000), ("img_heads", 0), ("layer_norm_eps", "NaN"),
                                         ("img_dim", 1 << 20), ("dropout", 5)])
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_a_checkpoint_asking_for_an_absurd_model_is_refused_before_building(tmp_path, saved, field, value):
    cfg = json.loads(saved[2]["config"])
    cfg[field] = float(value) if value == "NaN" else value
    bad = _rewrite(tmp_path, saved, config=json.dumps(cfg))
    with pytest.raises(AlifuseInputError, match=rf"^{bad}: config field '{field}'"):
        load_checkpoint(bad)


def test_tensors_changed_after_saving_are_refused(tmp_path, saved):
    path, tensors, meta = saved
    model, info = load_checkpoint(path)
    assert info.checkpoint_id == meta["checkpoint_id"]
    changed = dict(tensors)
    key = "fusion.2.bias"
    changed[key] = changed[key] + 1e-3
    bad = _rewrite(tmp_path, saved, tensors=changed)
    assert read_info(bad).checkpoint_id == meta["checkpoint_id"]  # the metadata still claims the original id
    with pytest.raises(AlifuseInputError, match="tensors were changed after saving"):
        load_checkpoint(bad)
    # without an id in its metadata, the id is the digest of what was loaded, not empty nor the original's
    anonymous = _rewrite(tmp_path, saved, name="anon.safetensors", tensors=changed, checkpoint_id=None)
    _, info = load_checkpoint(anonymous)
    assert info.checkpoint_id and info.checkpoint_id != meta["checkpoint_id"]


def test_nan_weights_are_refused_naming_the_tensor(tmp_path, saved):
    from engine.checkpoint import _tensor_id

    changed = dict(saved[1])
    changed["fusion.0.weight"] = changed["fusion.0.weight"].clone()
    changed["fusion.0.weight"][0, 0] = float("nan")
    bad = _rewrite(tmp_path, saved, tensors=changed, checkpoint_id=_tensor_id(changed))
    with pytest.raises(AlifuseInputError, match="tensor fusion.0.weight holds NaN"):
        load_checkpoint(bad)


def test_a_bert_checkpoint_never_reads_the_folder_its_config_names(tmp_path, saved, monkeypatch):
    import engine.text_encoder as te

    def refuse(*_a, **_k):
        raise AssertionError("read a folder named by the checkpoint's config")

    monkeypatch.setattr(te, "read_hf_bert", refuse)
    cfg = json.loads(saved[2]["config"])
    cfg["text_pretrained_path"] = "/dev"
    ok = _rewrite(tmp_path, saved, config=json.dumps(cfg))
    model, info = load_checkpoint(ok)
    assert info.config.text_pretrained_path == "/dev"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_a_fifo_or_device_checkpoint_is_refused_at_once(tmp_path):
    fifo = tmp_path / "m.safetensors"
    os.mkfifo(fifo)
    for path in (fifo, "/dev/zero"):
        with pytest.raises(AlifuseInputError, match="checkpoint is a (named pipe|character device)"):
            read_info(path)


@pytest.mark.skipif(not DEMO_CHECKPOINT.is_file(), reason="no demo checkpoint shipped")
def test_the_shipped_demo_checkpoint_validates_and_its_id_is_its_digest():
    info = read_info(DEMO_CHECKPOINT)
    _, loaded = load_checkpoint(DEMO_CHECKPOINT)
    assert loaded.checkpoint_id == info.checkpoint_id != ""
