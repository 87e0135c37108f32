"""A checkpoint's config is untrusted: any field of the wrong type or range, any model too large to build, is one
AlifuseInputError naming the field, raised before anything is built; the presets still validate."""
from __future__ import annotations

import json
import math

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from engine.config import PRESETS, AlifuseConfig, preset
from engine.config_limits import MAX_PARAMETERS, MINILM_SHAPE, TOKENIZER_VOCAB_SIZE, model_size
from engine.errors import AlifuseInputError
from engine.model import AlifuseModel

FIELDS = list(AlifuseConfig.__dataclass_fields__)
BASE = preset("tiny").to_dict()


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_validate_and_round_trip(name):
    cfg = preset(name)
    assert AlifuseConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize("change", [
    {"tiny": {}}, {"tiny": {"patch_stem": "conv", "stem_widths": (8,)}},
    {"tiny": {"patch_stem": "cnn", "stem_widths": (4, 8)}}, {"tiny": {"modalities": ("image",)}},
    {"tiny": {"modalities": ("text",)}}, {"demo": {}}, {"paper": {}},
])
def test_the_size_estimate_is_the_built_models_parameter_count(change):
    (name, kw), = change.items()
    cfg = preset(name, **kw)
    with torch.device("meta"):
        model = AlifuseModel(cfg, load_pretrained=False)
    real = sum(p.numel() for p in model.parameters())
    est = sum(n for _, n in model_size(cfg).values())
    assert abs(est - real) <= 0.01 * real, (est, real)


def test_minilm_shape_and_vocabulary_are_the_packaged_ones():
    from engine.minilm import load_tokenizer, minilm_dir

    hf = json.loads((minilm_dir() / "config.json").read_text())
    assert {k: hf[v] for k, v in (("text_dim", "hidden_size"), ("text_depth", "num_hidden_layers"),
                                  ("text_heads", "num_attention_heads"), ("text_intermediate", "intermediate_size"),
                                  ("vocab_size", "vocab_size"))} == MINILM_SHAPE
    assert load_tokenizer().vocab_size == TOKENIZER_VOCAB_SIZE


# (field, bad value, what the message must say)
BAD = [
    ("img_heads", 0, "out of range"), ("patch_size", 0, "out of range"), ("img_dim", -32, "out of range"),
    ("dec_heads", 3, "not divisible"), ("patch_size", 3, "does not divide"), ("dropout", 5.0, r"not in \[0, 1\)"),
    ("dropout", 1.0, r"not in \[0, 1\)"), ("img_dim", "32", "expected a whole number, got the string"),
    ("img_depth", True, "got the boolean true"), ("img_depth", 2.0, "expected a whole number"),
    ("layer_norm_eps", float("nan"), "not a finite number"), ("temp_init", float("inf"), "not a finite number"),
    ("lambda_cl", float("nan"), "not a finite number"), ("mask_ratio", float("nan"), "not a finite number"),
    ("mask_ratio", 1.0, "not in"), ("temp_init", 0.0, "not in"), ("layer_norm_eps", 0.0, "not in"),
    ("max_tokens", 40_000_000, "out of range"), ("max_tokens", 513, "out of range"),
    ("vocab_size", 1000, "out of range"), ("mask_token_id", 40_000, "not in the vocabulary"),
    ("num_classes", 0, "out of range"), ("num_classes", 1, "out of range"), ("image_mean", "0", "expected a number"),
    ("stem_widths", ["16"], "expected whole numbers"), ("modalities", "image", "expected a list"),
    ("modalities", ["image", "image"], "each once"), ("patch_stem", 3, "expected a string"),
    ("text_backbone", "gpt", "use 'bert' or 'minilm'"), ("text_trainable_layers", 3, "more than text_depth"),
    ("mlp_ratio", 1e9, "not in"), ("lambda_res", -1.0, "not in"), ("preset", None, "expected a string"),
    ("summary_max_words", -1, "out of range"), ("text_depth", 10 ** 30, "out of range"),
]


@pytest.mark.parametrize("name,value,why", BAD)
def test_a_bad_field_is_named(name, value, why):
    with pytest.raises(AlifuseInputError, match=rf"^config field '{name}': .*{why}"):
        AlifuseConfig.from_dict({**BASE, name: value})


def test_minilm_backbone_needs_minilm_shapes():
    demo = preset("demo").to_dict()
    for name in MINILM_SHAPE:
        with pytest.raises(AlifuseInputError, match=f"config field '{name}'.*minilm"):
            AlifuseConfig.from_dict({**demo, name: MINILM_SHAPE[name] * 2})


@pytest.mark.parametrize("change,field", [
    ({"img_dim": 16384, "img_depth": 200, "img_heads": 16}, "img_dim"),
    ({"text_dim": 8192, "text_depth": 100, "text_heads": 8, "text_intermediate": 32768}, "text_dim"),
    ({"vocab_size": 1_000_000, "text_dim": 4096, "text_heads": 8}, "vocab_size"),
    ({"image_size": 512, "patch_size": 512, "img_dim": 4096, "img_heads": 8}, "patch_size"),
    ({"image_size": 256, "patch_size": 2}, "image_size"),
])
@pytest.mark.timeout(120)  # a hang guard, not a speed test: a hang would never end
def test_a_model_too_large_for_memory_is_refused_naming_fields(change, field):
    with pytest.raises(AlifuseInputError, match=rf"^config field '{field}': .*(GB)") as exc:
        AlifuseConfig.from_dict({**BASE, **change})
    assert len(str(exc.value)) < 400


_values = (st.none() | st.booleans() | st.integers(-10 ** 12, 10 ** 12) | st.integers(-3, 600)
           | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=20)
           | st.lists(st.integers(-5, 70) | st.text(max_size=6), max_size=4))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(FIELDS), _values, min_size=1, max_size=4))
@example(changes={"temp_init": 1})  # a whole number where a float is declared: once a crash building the model
def test_any_config_is_valid_and_buildable_or_a_named_error(changes):
    """Random field values: either one AlifuseInputError naming a field, or a config whose model is small enough
    to build -- and building it on the meta device raises nothing."""
    try:
        cfg = AlifuseConfig.from_dict({**BASE, **changes})
    except AlifuseInputError as exc:
        msg = str(exc)
        assert msg.startswith("config field '") and msg.split("'")[1] in FIELDS, msg
        assert "\n" not in msg and len(msg) < 500
        return
    assert sum(n for _, n in model_size(cfg).values()) <= MAX_PARAMETERS
    for name in ("layer_norm_eps", "temp_init", "dropout", "mask_ratio", "lambda_cl", "mlp_ratio"):
        assert math.isfinite(getattr(cfg, name))
    with torch.device("meta"):
        AlifuseModel(cfg, load_pretrained=False)
