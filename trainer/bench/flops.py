"""Analytic FLOP count of one Alifuse training sample, from the config alone (no model is built).

Convention: a multiply-add is 2 FLOPs, so a (m x k) @ (k x n) product costs 2*m*k*n. Counted: every linear
layer, attention's QK^T and AV, the 3-D patch-embedding convolution (a linear map of p^3 voxels per patch),
the MLM vocabulary projection. Not counted (each < 1% of the total): layer norms, softmax, GELU, biases,
residual adds, embedding look-ups, the loss functions and the B x B ITC similarity matrix.
Backward costs twice the forward (gradients of inputs and of weights), hence x3 for a training step; with
frozen layers (the demo preset's text encoder) that overstates the backward, see :func:`training_flops`.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from engine.config import AlifuseConfig


def linear(tokens: int, d_in: int, d_out: int) -> int:
    """One ``nn.Linear(d_in, d_out)`` applied to ``tokens`` vectors."""
    return 2 * tokens * d_in * d_out


def attention_core(q_tokens: int, k_tokens: int, dim: int) -> int:
    """QK^T and AV over all heads: each 2 * Lq * Lk * dim (heads split ``dim``, so they cancel out)."""
    return 2 * (2 * q_tokens * k_tokens * dim)


def block(tokens: int, dim: int, hidden: int, context_tokens: int = 0, context_dim: int = 0) -> int:
    """One transformer block (ViT or BERT: same matmuls): self-attention, optional cross-attention, MLP."""
    f = linear(tokens, dim, 3 * dim) + attention_core(tokens, tokens, dim) + linear(tokens, dim, dim)
    if context_tokens:
        f += (linear(tokens, dim, dim)                          # q
              + linear(context_tokens, context_dim, 2 * dim)    # k, v from the other modality
              + attention_core(tokens, context_tokens, dim)
              + linear(tokens, dim, dim))                       # output projection
    return f + linear(tokens, dim, hidden) + linear(tokens, hidden, dim)


def patch_embed(cfg: AlifuseConfig) -> int:
    """The stride-p Conv3d over the whole cube: each of N patches maps p^3 voxels to img_dim.

    With the conv stem: each stride-2 3x3x3 layer maps 27 x C_in values to C_out at every output voxel (the cnn
    stem: at every input voxel, before its max-pool), then the last projection maps (p / 2^k)^3 x C_last values
    of each patch to img_dim.
    """
    if cfg.patch_stem == "linear":
        return linear(cfg.num_patches, cfg.patch_voxels, cfg.img_dim)
    total, c_in, side = 0, 1, cfg.image_size
    for w in cfg.stem_widths:
        # conv: a stride-2 convolution, computed at the halved size; cnn: a stride-1 one, then a 2x max-pool
        total += linear((side // 2 if cfg.patch_stem == "conv" else side) ** 3, 27 * c_in, w)
        side //= 2
        c_in = w
    rest = cfg.patch_size // 2 ** len(cfg.stem_widths)
    return total + linear(cfg.num_patches, rest ** 3 * c_in, cfg.img_dim)


@dataclass
class FlopCount:
    """Forward FLOPs per sample by part (name -> FLOPs), and the assumptions behind them."""

    parts: dict[str, int] = field(default_factory=dict)
    text_tokens: int = 0
    masked_text_tokens: int = 0
    kept_patches: int = 0

    @property
    def forward(self) -> int:
        return sum(self.parts.values())


def text_lengths(cfg: AlifuseConfig, real_tokens: int | None = None) -> tuple[int, int]:
    """(tokens every text block processes, masked word-pieces the MLM head scores).

    Batches are padded to ``max_tokens`` and attention runs over the padding too, so blocks see L = max_tokens.
    ``real_tokens`` (default: a full record, L) sets how many are words + [CLS] + [SEP]; half the words are masked.
    """
    L = cfg.max_tokens
    real = L if real_tokens is None else min(int(real_tokens), L)
    words = max(0, real - 2)
    masked = min(words, max(1, round(words * cfg.mask_ratio))) if words else 0
    return L, masked


def forward_flops(cfg: AlifuseConfig, real_tokens: int | None = None) -> FlopCount:
    """Forward FLOPs of one training sample (all four objectives) by part; see the module docstring."""
    L, masked = text_lengths(cfg, real_tokens)
    n_img = cfg.num_patches + 1                                # patches + [CLS]
    kept = max(1, int(round(cfg.num_patches * (1 - cfg.mask_ratio))))
    h_img, h_dec = int(cfg.img_dim * cfg.mlp_ratio), int(cfg.dec_dim * cfg.mlp_ratio)
    both = cfg.use_image and cfg.use_text
    c = FlopCount(text_tokens=L, masked_text_tokens=masked, kept_patches=kept)
    p = c.parts
    if cfg.use_image:
        p["image_encoder"] = patch_embed(cfg) + cfg.img_depth * block(n_img, cfg.img_dim, h_img)
    if cfg.use_text:
        p["text_encoder"] = cfg.text_depth * block(L, cfg.text_dim, cfg.text_intermediate)
    if both and cfg.lambda_cl > 0:
        p["itc_projections"] = linear(1, cfg.img_dim, cfg.embed_dim) + linear(1, cfg.text_dim, cfg.embed_dim)
    if cfg.lambda_res > 0 and cfg.use_image:
        # the encoder embeds all patches, then keeps half; cross-attends to the text when there is text
        ctx_t, ctx_d = (L, cfg.text_dim) if both else (0, 0)
        p["grounded_image_encoder"] = patch_embed(cfg) + cfg.img_depth * block(kept + 1, cfg.img_dim, h_img,
                                                                                 ctx_t, ctx_d)
        p["image_decoder"] = (linear(kept + 1, cfg.img_dim, cfg.dec_dim)
                              + cfg.dec_depth * block(n_img, cfg.dec_dim, h_dec)
                              + linear(n_img, cfg.dec_dim, cfg.patch_voxels))
    if cfg.lambda_res > 0 and cfg.use_text:
        ctx_t, ctx_d = (n_img, cfg.img_dim) if both else (0, 0)
        p["grounded_text_encoder"] = cfg.text_depth * block(L, cfg.text_dim, cfg.text_intermediate, ctx_t, ctx_d)
        p["text_decoder"] = (cfg.text_dec_depth * block(L, cfg.text_dim, cfg.text_intermediate)
                             + linear(masked, cfg.text_dim, cfg.text_dim)          # MLM transform
                             + linear(masked, cfg.text_dim, cfg.vocab_size))       # tied vocabulary projection
    fused = (cfg.img_dim if cfg.use_image else 0) + (cfg.text_dim if cfg.use_text else 0)
    p["fusion_head"] = linear(1, fused, cfg.fusion_hidden) + linear(1, cfg.fusion_hidden, cfg.num_classes)
    return c


def training_flops(cfg: AlifuseConfig, real_tokens: int | None = None) -> int:
    """FLOPs of one sample's training step: 3 x forward (forward + backward at twice the forward)."""
    return 3 * forward_flops(cfg, real_tokens).forward


def prediction_flops(cfg: AlifuseConfig, real_tokens: int | None = None) -> int:
    """FLOPs of one prediction: the unimodal encoders on full inputs and the fusion head."""
    parts = forward_flops(cfg, real_tokens).parts
    return sum(parts.get(k, 0) for k in ("image_encoder", "text_encoder", "fusion_head"))
