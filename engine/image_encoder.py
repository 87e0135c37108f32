"""3-D ViT image encoder (patch embedding, fixed 3-D position embeddings, [CLS]).

One module serves as both the unimodal encoder and the text-grounded encoder: when a text context is
given, each block's cross-attention layer is used; every other weight is shared.
"""
from __future__ import annotations

import torch
from torch import nn

from engine.config import AlifuseConfig
from engine.layers import ViTBlock
from engine.pos_embed import sincos_3d


class PatchEmbed3D(nn.Module):
    """img (B, S, S, S) -> tokens (B, N, D) with N = (S/p)^3, order (x, y, z) z fastest."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv3d(1, dim, kernel_size=patch, stride=patch)
        # MAE's initialisation: Xavier on the projection as the linear map it is (torch's Conv3d default is ~2x
        # smaller), so patch content is not drowned by the fixed sine-cosine positions it is added to
        nn.init.xavier_uniform_(self.proj.weight.view(dim, -1))
        nn.init.zeros_(self.proj.bias)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.proj(img.unsqueeze(1)).flatten(2).transpose(1, 2)


class ConvStem3D(nn.Module):
    """img (B, S, S, S) -> tokens (B, N, D), N = (S/p)^3, same order as :class:`PatchEmbed3D`.

    Stride-2 3x3x3 convolutions (GroupNorm, GELU) halve the cube ``len(widths)`` times, then a
    stride-(p / 2^k) projection makes one token per patch. Early convolutions make a ViT far easier to
    optimise on small data sets (Xiao et al., "Early convolutions help transformers see better", 2021);
    a single linear patch projection has to learn edges and blobs from a few hundred volumes.
    GroupNorm, not BatchNorm: a case's features must not depend on the other cases in its batch.
    The stem sees the whole cube before the MAE branch keeps half of the tokens, so a kept token's 3x3x3
    neighbourhood reaches a few voxels into masked patches next to it: a small leak the linear projection has not.
    """

    name = "conv"

    def __init__(self, patch: int, dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        if patch % 2 ** len(widths):
            raise ValueError(f"patch {patch} is not divisible by 2^{len(widths)} ({self.name} stem widths {widths})")
        layers: list[nn.Module] = []
        c_in = 1
        for w in widths:
            layers += self.stage(c_in, w)
            c_in = w
        rest = patch // 2 ** len(widths)
        layers.append(nn.Conv3d(c_in, dim, kernel_size=rest, stride=rest))
        self.net = nn.Sequential(*layers)

    @staticmethod
    def stage(c_in: int, c_out: int) -> list[nn.Module]:
        """One halving stage: (B, c_in, s, s, s) -> (B, c_out, s/2, s/2, s/2)."""
        return [nn.Conv3d(c_in, c_out, kernel_size=3, stride=2, padding=1, bias=False),
                nn.GroupNorm(min(4, c_out), c_out), nn.GELU()]

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.net(img.unsqueeze(1)).flatten(2).transpose(1, 2)


class CnnStem3D(ConvStem3D):
    """:class:`ConvStem3D` with CNN stages: 3x3x3 convolution at full resolution, GroupNorm, GELU, 2x max-pool.

    The tokens of a small CNN, a hybrid ViT. The only transformer that learned the synthetic cohort's atrophy in
    the image probes (docs/RESULTS.md) read out such tokens by their mean. Its receptive field reaches further
    into masked neighbours than the conv stem's: the MAE branch leaks more.
    """

    name = "cnn"

    @staticmethod
    def stage(c_in: int, c_out: int) -> list[nn.Module]:
        return [nn.Conv3d(c_in, c_out, kernel_size=3, padding=1, bias=False), nn.GroupNorm(min(4, c_out), c_out),
                nn.GELU(), nn.MaxPool3d(2)]


def make_patch_embed(cfg: AlifuseConfig) -> nn.Module:
    """The paper's linear patch projection, or a convolutional stem (``cfg.patch_stem``)."""
    if cfg.patch_stem == "linear":
        return PatchEmbed3D(cfg.patch_size, cfg.img_dim)
    stem = {"conv": ConvStem3D, "cnn": CnnStem3D}[cfg.patch_stem]
    return stem(cfg.patch_size, cfg.img_dim, cfg.stem_widths)


class ImageEncoder(nn.Module):
    """forward(img (B,S,S,S), ids_keep (B,K) | None, context (B,Lc,Dc) | None) -> (B, 1+K, D)."""

    def __init__(self, cfg: AlifuseConfig, context_dim: int | None) -> None:
        super().__init__()
        self.patch_embed = make_patch_embed(cfg)
        self.image_mean, self.image_std = float(cfg.image_mean), float(cfg.image_std)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.img_dim))
        self.register_buffer("pos_embed", sincos_3d(cfg.img_dim, cfg.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(
            ViTBlock(cfg.img_dim, cfg.img_heads, cfg.mlp_ratio, context_dim, cfg.dropout) for _ in range(cfg.img_depth)
        )
        self.norm = nn.LayerNorm(cfg.img_dim, eps=1e-6)
        nn.init.normal_(self.cls_token, std=0.02)

    def embed(self, img: torch.Tensor, ids_keep: torch.Tensor | None = None) -> torch.Tensor:
        """Patch tokens + position, kept subset only, [CLS] prepended -> (B, 1+K, D). ``img`` in [0, 1]."""
        if self.image_mean != 0.0 or self.image_std != 1.0:
            img = (img - self.image_mean) / self.image_std
        x = self.patch_embed(img) + self.pos_embed[:, 1:]
        if ids_keep is not None:
            x = torch.gather(x, 1, ids_keep[..., None].expand(-1, -1, x.shape[-1]))
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)

    def forward(self, img: torch.Tensor, ids_keep: torch.Tensor | None = None, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embed(img, ids_keep)
        for blk in self.blocks:
            x = blk(x, None, context, context_mask)
        return self.norm(x)
