"""Model and preprocessing configuration: one dataclass, three presets (nanoGPT style).

``paper`` is the paper's numbers exactly; ``demo`` trains on two CPU cores; ``tiny`` is for tests.
A checkpoint stores its config as JSON, so every model can be rebuilt from the file alone.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any

from engine.config_limits import check_ranges, check_size, check_types
from engine.errors import AlifuseInputError, quote
from engine.run_format import PRESET_DEMO, PRESET_PAPER, PRESET_TINY

#: Bumped whenever preprocessing changes numerically; stored in checkpoints and cache keys.
PREPROCESSING_VERSION = "1"

CLASS_NAMES_3WAY: tuple[str, ...] = ("NC", "MCI", "AD")


@dataclass
class AlifuseConfig:
    """Everything needed to rebuild an Alifuse model and its inputs."""

    preset: str = "custom"
    # -- image (3D ViT) --
    image_size: int = 128          # cube side after pad + resize, voxels
    patch_size: int = 16           # 128/16 = 8 -> 512 patches
    img_dim: int = 768
    img_depth: int = 24            # N_e
    img_heads: int = 12
    patch_stem: str = "linear"     # "linear": the paper's patch projection; "conv": stride-2 convolutions first;
                                   # "cnn": CNN stages (3x3x3 conv, GroupNorm, GELU, 2x max-pool) first
    stem_widths: tuple[int, ...] = (16, 32)  # channels of the stem's halving stages (conv and cnn)
    image_pool: str = "cls"        # image feature for the heads: "cls" token (paper) or "mean" of the patch tokens
    # The encoder reads (image - image_mean) / image_std. Preprocessed volumes lie in [0, 1], three quarters
    # background: uncentred and small beside the fixed sine-cosine positions, the ViT sat on the class prior
    # (docs/RESULTS.md). Identity by default, so checkpoints saved before these fields read their inputs unchanged.
    image_mean: float = 0.0
    image_std: float = 1.0
    # -- image decoder (MAE style) --
    dec_dim: int = 512
    dec_depth: int = 8             # N_d
    dec_heads: int = 16
    # -- text (BERT) --
    text_backbone: str = "bert"    # "minilm": the packaged all-MiniLM-L6-v2; "bert": built from the fields below
    text_pretrained_path: str = "" # local folder with BERT weights for text_backbone="bert" ('' = random init)
    text_dim: int = 768
    text_depth: int = 24           # N_e
    text_heads: int = 12
    text_intermediate: int = 3072
    vocab_size: int = 30522
    max_tokens: int = 70
    summary_max_words: int = 40
    # How a record is written as text (engine.ehr_text.TEXT_FORMATS). 1: half points as decimals ("10.5", read
    # as "10", ".", "5"); 2: CDR-SB's half points as "10½" ("10", "##½"), so its integer part is read first and
    # alone; 3: CDR-SB always with one decimal ("11.0"). 1 by default: checkpoints saved before this field were
    # trained on format 1.
    text_format: int = 1
    # The four cognitive scores (MMSE, CDR, CDR-SB, delayed recall) read as numbers, not text: 0 = as text (the
    # paper; checkpoints saved before this field); k > 0 = they leave the text and go through a path monotone by
    # construction, k linear pieces per score (engine.score_path): a worse score never makes a case look healthier.
    score_knots: int = 0
    # 1 = beside the weighted mean of the scores' estimates, each known score also adds a non-decreasing term of its
    # own (engine.score_path): a score that disagrees with the others still counts. 0 = the mean alone (checkpoints
    # saved before this field).
    score_sum: int = 0
    text_trainable_layers: int = -1  # top-k text blocks trained; -1 = all, 0 = frozen encoder (heads still train)
    pad_token_id: int = 0          # BERT uncased WordPiece ids (MiniLM shares them)
    cls_token_id: int = 101
    sep_token_id: int = 102
    mask_token_id: int = 103
    # -- text decoder --
    text_dec_depth: int = 8        # N_d
    # -- heads --
    embed_dim: int = 256           # ITC projection width
    fusion_hidden: int = 512
    num_classes: int = 3
    # -- training objective --
    mask_ratio: float = 0.5
    lambda_cl: float = 1.0
    lambda_res: float = 1.0
    lambda_cls: float = 1.0
    modalities: tuple[str, ...] = ("image", "text")
    temp_init: float = 0.07
    dropout: float = 0.0
    mlp_ratio: float = 4.0
    layer_norm_eps: float = 1e-12  # BERT's

    def __post_init__(self) -> None:
        check_types(self)  # before any conversion: int("16") or int(16.7) would hide a wrong type
        for f in dataclasses.fields(self):  # JSON's 1 for 1.0: torch.tensor(1) is an integer tensor, not a weight
            if f.type == "float":
                setattr(self, f.name, float(getattr(self, f.name)))
        self.modalities = tuple(self.modalities)
        self.stem_widths = tuple(self.stem_widths)
        self.validate()

    # -- derived --
    @property
    def grid(self) -> int:
        """Patches per side of the image cube."""
        return self.image_size // self.patch_size

    @property
    def num_patches(self) -> int:
        return self.grid ** 3

    @property
    def patch_voxels(self) -> int:
        return self.patch_size ** 3

    @property
    def use_image(self) -> bool:
        return "image" in self.modalities

    @property
    def use_text(self) -> bool:
        return "text" in self.modalities

    def validate(self) -> None:
        """Raise :class:`AlifuseInputError` naming the first field of a wrong type, out of range or inconsistent.

        A checkpoint's config is untrusted input: every field is checked here, before anything is built, and
        the model it describes must fit in memory (:func:`model_size`).
        """
        check_types(self)
        check_ranges(self)
        check_size(self)

    # -- serialisation --
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["modalities"] = list(self.modalities)
        d["stem_widths"] = list(self.stem_widths)
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "AlifuseConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known, key=str)
        if unknown:
            shown = ", ".join(f"'{quote(k)}'" for k in unknown[:5]) + (f" and {len(unknown) - 5} more"
                                                                      if len(unknown) > 5 else "")
            raise AlifuseInputError(f"config: unknown field(s) {shown}")
        return cls(**d)

    @classmethod
    def from_json(cls, text: str) -> "AlifuseConfig":
        try:
            d = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise AlifuseInputError(f"config: not valid JSON ({quote(exc, 80)})") from None
        if not isinstance(d, dict):
            raise AlifuseInputError("config: expected a JSON object")
        return cls.from_dict(d)

    def replace(self, **changes: Any) -> "AlifuseConfig":
        return dataclasses.replace(self, **changes)


#: mean and sd of preprocessed volumes (all voxels of the 840 training volumes of a 1,200-subject synthetic cohort,
#: 0.153 and 0.287; 300 subjects gave the same): what the presets centre and scale the image by
IMAGE_MEAN, IMAGE_STD = 0.15, 0.29


def _paper() -> AlifuseConfig:
    """The paper's configuration (Chen & Hong): 128^3, patch 16, 768 wide, 12 heads, N_e=24, N_d=8; the image
    centred and scaled (the paper gives no input normalisation; MAE, its image branch, normalises)."""
    return AlifuseConfig(preset=PRESET_PAPER, image_mean=IMAGE_MEAN, image_std=IMAGE_STD)


def _demo() -> AlifuseConfig:
    """Small enough to train on 2 CPU cores in under an hour; text is the packaged MiniLM (384 wide)."""
    return AlifuseConfig(
        preset=PRESET_DEMO,
        image_size=64, patch_size=8,            # 8^3 = 512 patches, as in the paper
        img_dim=192, img_depth=4, img_heads=3,
        dec_dim=128, dec_depth=2, dec_heads=4,
        text_backbone="minilm", text_dim=384, text_depth=6, text_heads=12, text_intermediate=1536,
        max_tokens=128,                         # room for the summary beside a full record (70 in the paper)
        text_trainable_layers=1, text_dec_depth=1,
        embed_dim=128, fusion_hidden=128,
        image_mean=IMAGE_MEAN, image_std=IMAGE_STD,
    )


def _tiny() -> AlifuseConfig:
    """For tests: a few thousand parameters per block, random text weights, the MiniLM vocabulary."""
    return AlifuseConfig(
        preset=PRESET_TINY,
        image_size=16, patch_size=4,             # 4^3 = 64 patches
        img_dim=32, img_depth=2, img_heads=2,
        dec_dim=32, dec_depth=1, dec_heads=2,
        text_backbone="bert", text_dim=32, text_depth=2, text_heads=2, text_intermediate=64,
        max_tokens=48, text_dec_depth=1,
        embed_dim=16, fusion_hidden=32,
    )


PRESETS = {PRESET_PAPER: _paper, PRESET_DEMO: _demo, PRESET_TINY: _tiny}

_TUPLE_FIELDS = {"modalities": str, "stem_widths": int}


def parse_field(text: str, option: str = "--set") -> tuple[str, Any]:
    """'FIELD=VALUE' -> (field, value typed like the field's default); an unknown field or a bad value is an
    error naming the option and the field. Tuples are comma-separated ("modalities=image,text")."""
    key, sep, value = text.partition("=")
    key = key.strip()
    fields = {f.name: f for f in dataclasses.fields(AlifuseConfig)}
    if not sep or key not in fields or key == "preset":
        raise AlifuseInputError(f"{option} {text[:60]!r}: expected FIELD=VALUE with a config field "
                                f"(e.g. image_size=32)")
    if key in _TUPLE_FIELDS:
        try:
            return key, tuple(_TUPLE_FIELDS[key](v) for v in value.split(",") if v)
        except ValueError:
            raise AlifuseInputError(f"{option} {key}: {value[:40]!r} is not a list of whole numbers") from None
    default = getattr(AlifuseConfig(), key)
    try:
        if isinstance(default, bool):
            raise ValueError
        return key, type(default)(value) if not isinstance(default, str) else value
    except ValueError:
        raise AlifuseInputError(f"{option} {key}: {value[:40]!r} is not a {type(default).__name__}") from None


def preset(name: str, **overrides: Any) -> AlifuseConfig:
    """Return a fresh config for preset ``name`` (paper | demo | tiny), with optional overrides."""
    if name not in PRESETS:
        raise AlifuseInputError(f"--preset: unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]()
    return cfg.replace(**overrides) if overrides else cfg
