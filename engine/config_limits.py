"""What a model config may ask for: every field's type and range, and the memory of the model it describes.

A checkpoint's config is untrusted input (a 1 KB header could ask for a 40 M-token text, zero heads, a NaN
epsilon or an 80 GB model). :mod:`engine.config` runs these checks before anything is built; each refusal is
``config field '<name>': <what>``. No torch here: the viewer checks a checkpoint before torch loads.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

from engine.ehr_text import TEXT_FORMATS
from engine.errors import AlifuseInputError, quote

#: WordPiece vocabulary of the packaged MiniLM tokenizer, the one every model reads its text with
TOKENIZER_VOCAB_SIZE = 30522
#: the text encoder's table of positions (BERT's 512): a longer text has no position to read
MAX_TEXT_POSITIONS = 512
#: the text shape of all-MiniLM-L6-v2, whose weights ``text_backbone="minilm"`` loads
MINILM_SHAPE = {"text_dim": 384, "text_depth": 6, "text_heads": 12, "text_intermediate": 1536,
                "vocab_size": TOKENIZER_VOCAB_SIZE}
#: the largest model a config may describe: 1e9 parameters, 4 GB of float32 (the paper's model has 0.57e9)
MAX_PARAMETERS = 1_000_000_000
#: the largest attention map (or CNN-stem feature map) of one sample in one layer, bytes of float32; an
#: explanation holds them in memory (the paper's image attention: 12 heads x 513^2 = 12.6 MB)
MAX_ACTIVATION_BYTES = 1 << 30

# (minimum, maximum) of the integer fields; None: no bound there (checked elsewhere)
_INT_RANGES: dict[str, tuple[int | None, int | None]] = {
    "image_size": (2, 512), "patch_size": (1, 512),
    "img_dim": (1, 16384), "img_depth": (1, 256), "img_heads": (1, 1024),
    "dec_dim": (1, 16384), "dec_depth": (0, 256), "dec_heads": (1, 1024),
    "text_dim": (1, 16384), "text_depth": (1, 256), "text_heads": (1, 1024), "text_intermediate": (1, 65536),
    "vocab_size": (TOKENIZER_VOCAB_SIZE, 1_000_000), "max_tokens": (8, MAX_TEXT_POSITIONS),
    "summary_max_words": (0, 10_000), "text_format": (min(TEXT_FORMATS), max(TEXT_FORMATS)),
    "score_knots": (0, 64), "score_sum": (0, 1),
    "text_trainable_layers": (-1, None),
    "pad_token_id": (0, None), "cls_token_id": (0, None), "sep_token_id": (0, None), "mask_token_id": (0, None),
    "text_dec_depth": (0, 256), "embed_dim": (1, 16384), "fusion_hidden": (1, 65536), "num_classes": (2, 1000),
}
_CHOICES = {"patch_stem": ("linear", "conv", "cnn"), "image_pool": ("cls", "mean"),
            "text_backbone": ("bert", "minilm")}
_MAX_STRING = {"preset": 100, "text_pretrained_path": 4096}


def _bad(name: str, why: str) -> None:
    raise AlifuseInputError(f"config field '{name}': {why}")


def _what(v: Any) -> str:
    if isinstance(v, bool):
        return f"the boolean {str(v).lower()}"
    if isinstance(v, str):
        return f"the string '{quote(v)}'"
    if isinstance(v, (list, tuple)):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    if v is None:
        return "null"
    return f"{type(v).__name__} {quote(v)}"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_types(cfg: Any) -> None:
    """Every field holds its declared type: a whole number (never a boolean or "16"), a finite number, a string,
    or a list of those. Floats that are NaN or infinite are refused here too."""
    for f in dataclasses.fields(cfg):
        v, kind = getattr(cfg, f.name), str(f.type).replace(" ", "")
        if kind == "int":
            if not _is_int(v):
                _bad(f.name, f"expected a whole number, got {_what(v)}")
        elif kind == "float":
            if not _is_real(v):
                _bad(f.name, f"expected a number, got {_what(v)}")
            try:
                x = float(v)
            except OverflowError:
                _bad(f.name, "the number is far too large")
            if not math.isfinite(x):
                _bad(f.name, f"{x} is not a finite number")
        elif kind == "str":
            if not isinstance(v, str):
                _bad(f.name, f"expected a string, got {_what(v)}")
            if len(v) > _MAX_STRING.get(f.name, 64) or "\x00" in v:
                _bad(f.name, f"'{quote(v)}' is not a valid value")
        elif kind in ("tuple[int,...]", "tuple[str,...]"):
            want_int = kind == "tuple[int,...]"
            if not isinstance(v, (list, tuple)) or len(v) > 16:
                _bad(f.name, f"expected a list of at most 16 {'whole numbers' if want_int else 'strings'}, "
                             f"got {_what(v)}" + (f" of {len(v)}" if isinstance(v, (list, tuple)) else ""))
            for x in v:
                if not (_is_int(x) if want_int else isinstance(x, str)):
                    _bad(f.name, f"expected {'whole numbers' if want_int else 'strings'}, got {_what(x)} in the list")
        else:  # pragma: no cover - a new field whose type this module does not know yet
            raise TypeError(f"config field {f.name}: no check for type {kind}")


def check_ranges(cfg: Any) -> None:
    """Ranges of single fields, then the fields that must agree with each other."""
    for name, (lo, hi) in _INT_RANGES.items():
        v = getattr(cfg, name)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            rng = f"{lo} to {hi}" if hi is not None else f"at least {lo}"
            _bad(name, f"{v} is out of range ({rng})")
    for name, allowed in _CHOICES.items():
        if getattr(cfg, name) not in allowed:
            names = [f"'{a}'" for a in allowed]
            _bad(name, f"'{quote(getattr(cfg, name))}': use {', '.join(names[:-1])} or {names[-1]}")
    if cfg.patch_size > cfg.image_size or cfg.image_size % cfg.patch_size:
        _bad("patch_size", f"{cfg.patch_size} does not divide image_size {cfg.image_size}")
    for name, dim, heads in (("img_heads", cfg.img_dim, cfg.img_heads), ("dec_heads", cfg.dec_dim, cfg.dec_heads),
                             ("text_heads", cfg.text_dim, cfg.text_heads)):
        if dim % heads:
            _bad(name, f"{dim // 1} ({name.replace('heads', 'dim')}) is not divisible by its {heads} heads")
    if cfg.patch_stem != "linear":
        w = cfg.stem_widths
        if not w or cfg.patch_size % 2 ** len(w) or min(w) < 1 or max(w) > 4096 \
                or any(x % min(4, x) for x in w):
            _bad("stem_widths", f"{list(w)[:16]}: need 1 to log2(patch_size) widths of 1 to 4096 (a multiple of 4 "
                                f"above 4) whose halvings divide patch_size {cfg.patch_size}")
    if cfg.score_knots and not cfg.use_text:
        _bad("score_knots", f"{cfg.score_knots}: the scores are part of the record, and this model reads no record "
                            "(modalities has no 'text'); use 0")
    if cfg.score_sum and not cfg.score_knots:
        _bad("score_sum", f"{cfg.score_sum}: a term of each score's own is part of the score path; "
                          "needs score_knots > 0")
    if cfg.image_std <= 0:
        _bad("image_std", f"{cfg.image_std}: need a finite sd > 0")
    if not 0.0 < cfg.mask_ratio < 1.0:
        _bad("mask_ratio", f"{cfg.mask_ratio} is not in (0, 1)")
    if not 0.0 <= cfg.dropout < 1.0:
        _bad("dropout", f"{cfg.dropout} is not in [0, 1)")
    if not 0.0 < cfg.layer_norm_eps < 1.0:
        _bad("layer_norm_eps", f"{cfg.layer_norm_eps} is not in (0, 1)")
    if not 0.0 < cfg.temp_init <= 100.0:
        _bad("temp_init", f"{cfg.temp_init} is not in (0, 100]")
    if not 0.0 < cfg.mlp_ratio <= 64.0 or int(min(cfg.img_dim, cfg.dec_dim) * cfg.mlp_ratio) < 1:
        _bad("mlp_ratio", f"{cfg.mlp_ratio} is not in (0, 64] (with at least one hidden unit)")
    for name in ("lambda_cl", "lambda_res", "lambda_cls"):
        if not 0.0 <= getattr(cfg, name) <= 1e6:
            _bad(name, f"{getattr(cfg, name)} is not in [0, 1e6]")
    mods = list(cfg.modalities)
    if not mods or set(mods) - {"image", "text"} or len(set(mods)) != len(mods):
        _bad("modalities", f"{[quote(m, 12) for m in mods[:4]]}: use 'image', 'text' or both, each once")
    if cfg.text_trainable_layers > cfg.text_depth:
        _bad("text_trainable_layers", f"{cfg.text_trainable_layers} is more than text_depth {cfg.text_depth}")
    for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
        if getattr(cfg, name) >= cfg.vocab_size:
            _bad(name, f"{getattr(cfg, name)} is not in the vocabulary of {cfg.vocab_size}")
    if cfg.text_backbone == "minilm":
        for name, want in MINILM_SHAPE.items():
            if getattr(cfg, name) != want:
                _bad(name, f"{getattr(cfg, name)}: the 'minilm' text backbone (all-MiniLM-L6-v2) has {want}")


def _vit_block(d: int, hidden: int, ctx: int) -> int:
    """Parameters of one transformer block (ViT or BERT): attention, MLP, norms, optional cross-attention."""
    n = 4 * d * d + 4 * d + 2 * d * hidden + hidden + d + 4 * d
    if ctx:
        n += 2 * d * d + 2 * d * ctx + 6 * d
    return n


def model_size(cfg: Any) -> dict[str, tuple[str, int]]:
    """The parameter count of each part of the model ``cfg`` describes, from the config alone (within 1 % of the
    built model's count): part -> (the fields that size it, parameters)."""
    both = cfg.use_image and cfg.use_text
    parts: dict[str, tuple[str, int]] = {}
    if cfg.use_image:
        d, h = cfg.img_dim, int(cfg.img_dim * cfg.mlp_ratio)
        if cfg.patch_stem == "linear":
            stem = cfg.patch_size ** 3 * d + d
        else:
            chans = (1, *cfg.stem_widths)
            rest = cfg.patch_size // 2 ** len(cfg.stem_widths)
            stem = sum(27 * a * b + 2 * b for a, b in zip(chans, chans[1:])) + chans[-1] * rest ** 3 * d + d
        parts["patch embedding"] = ("patch_size, img_dim, stem_widths", stem)
        parts["image encoder"] = ("img_dim, img_depth, mlp_ratio",
                                  cfg.img_depth * _vit_block(d, h, cfg.text_dim if both else 0) + 3 * d)
        hd = int(cfg.dec_dim * cfg.mlp_ratio)
        parts["image decoder"] = ("dec_dim, dec_depth, patch_size",
                                  d * cfg.dec_dim + cfg.dec_depth * _vit_block(cfg.dec_dim, hd, 0)
                                  + cfg.dec_dim * (cfg.patch_size ** 3 + 4))
    if cfg.use_text:
        d = cfg.text_dim
        parts["text embeddings"] = ("vocab_size, text_dim", (cfg.vocab_size + MAX_TEXT_POSITIONS + 2) * d + 2 * d)
        parts["text encoder"] = ("text_dim, text_depth, text_intermediate",
                                 cfg.text_depth * _vit_block(d, cfg.text_intermediate, cfg.img_dim if both else 0))
        parts["text decoder"] = ("text_dim, text_dec_depth, text_intermediate",
                                 cfg.text_dec_depth * _vit_block(d, cfg.text_intermediate, 0) + d * d + 3 * d
                                 + cfg.vocab_size)
    fused = (cfg.img_dim if cfg.use_image else 0) + (cfg.text_dim if cfg.use_text else 0)
    heads = (fused + 1) * cfg.fusion_hidden + (cfg.fusion_hidden + 1) * cfg.num_classes
    if both:
        heads += (cfg.img_dim + cfg.text_dim + 2) * cfg.embed_dim + 1
    parts["heads"] = ("fusion_hidden, embed_dim, num_classes", heads)
    return parts


def activation_bytes(cfg: Any) -> tuple[str, int]:
    """The largest per-sample, per-layer tensor of a forward pass (float32 bytes) and the fields that size it."""
    tokens = cfg.num_patches + 1
    candidates = [("max_tokens, text_heads", cfg.max_tokens ** 2 * cfg.text_heads * 4)]
    if cfg.use_image:
        candidates += [("image_size, patch_size, img_heads", tokens ** 2 * cfg.img_heads * 4),
                       ("image_size, patch_size, dec_heads", tokens ** 2 * cfg.dec_heads * 4),
                       ("image_size, patch_size, img_dim", tokens * max(cfg.img_dim * 4, cfg.patch_size ** 3) * 4)]
        if cfg.patch_stem != "linear":  # the stem's first feature map: full resolution (cnn) or half (conv)
            scale = 1 if cfg.patch_stem == "cnn" else 8
            candidates.append(("image_size, stem_widths", cfg.image_size ** 3 // scale * max(cfg.stem_widths) * 4))
    return max(candidates, key=lambda c: c[1])


def check_size(cfg: Any) -> None:
    """Refuse a config whose model would not fit in memory, naming the fields that make it large."""
    parts = model_size(cfg)
    total = sum(n for _, n in parts.values())
    if total > MAX_PARAMETERS:
        part, (fields, n) = max(parts.items(), key=lambda kv: kv[1][1])
        _bad(fields.split(",")[0], f"the model this config describes has about {total / 1e9:.3g} billion "
                                   f"parameters ({4 * total / 1e9:.3g} GB of float32; at most "
                                   f"{4 * MAX_PARAMETERS / 1e9:.3g} GB), {n / 1e9:.3g} billion of them in its {part} "
                                   f"({', '.join(f'{f.strip()} {getattr(cfg, f.strip())}' for f in fields.split(','))})")
    fields, nbytes = activation_bytes(cfg)
    if nbytes > MAX_ACTIVATION_BYTES:
        _bad(fields.split(",")[0], f"one sample's attention (or feature) map would take {nbytes / 1e9:.3g} GB "
                                   f"(at most {MAX_ACTIVATION_BYTES / 1e9:.3g} GB): "
                                   f"{', '.join(f'{f.strip()} {getattr(cfg, f.strip())}' for f in fields.split(','))}")
