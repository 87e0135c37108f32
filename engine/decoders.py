"""Reconstruction decoders (N_d blocks each): masked image patches and masked word-pieces."""
from __future__ import annotations

import torch
from torch import nn

from engine.config import AlifuseConfig
from engine.layers import BertBlock, ViTBlock
from engine.pos_embed import sincos_3d


class ImageDecoder(nn.Module):
    """MAE-style decoder with position information (which the reference code lacked).

    forward(z (B, 1+K, D_img), ids_restore (B, N)) -> predicted patches (B, N, p^3).
    """

    def __init__(self, cfg: AlifuseConfig) -> None:
        super().__init__()
        self.embed = nn.Linear(cfg.img_dim, cfg.dec_dim)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, cfg.dec_dim))
        self.register_buffer("pos_embed", sincos_3d(cfg.dec_dim, cfg.grid)[None], persistent=False)
        self.blocks = nn.ModuleList(ViTBlock(cfg.dec_dim, cfg.dec_heads, cfg.mlp_ratio) for _ in range(cfg.dec_depth))
        self.norm = nn.LayerNorm(cfg.dec_dim, eps=1e-6)
        self.pred = nn.Linear(cfg.dec_dim, cfg.patch_voxels)
        nn.init.normal_(self.mask_token, std=0.02)

    def forward(self, z: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        x = self.embed(z)
        b, n = ids_restore.shape
        masks = self.mask_token.expand(b, n + 1 - x.shape[1], -1)
        patches = torch.cat([x[:, 1:], masks], dim=1)
        patches = torch.gather(patches, 1, ids_restore[..., None].expand(-1, -1, x.shape[-1]))  # back to grid order
        x = torch.cat([x[:, :1], patches], dim=1) + self.pos_embed
        for blk in self.blocks:
            x = blk(x)
        return self.pred(self.norm(x))[:, 1:]


class TextDecoder(nn.Module):
    """Bidirectional BERT blocks + MLM head tied to the word embeddings.

    forward(z (B, L, D_txt), mask (B, L), targets (B, L) bool | None) -> logits (B, L, vocab), or (M, vocab) for
    the M positions where ``targets`` is True (the vocabulary projection is most of the cost: skip the rest).
    """

    def __init__(self, cfg: AlifuseConfig, word_embeddings: nn.Embedding) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            BertBlock(cfg.text_dim, cfg.text_heads, cfg.text_intermediate, None, cfg.dropout, cfg.layer_norm_eps)
            for _ in range(cfg.text_dec_depth)
        )
        self.transform = nn.Sequential(nn.Linear(cfg.text_dim, cfg.text_dim), nn.GELU(),
                                       nn.LayerNorm(cfg.text_dim, eps=cfg.layer_norm_eps))
        self.word_embeddings = [word_embeddings]  # a list: tied weight, not registered twice
        self.bias = nn.Parameter(torch.zeros(cfg.vocab_size))

    def forward(self, z: torch.Tensor, mask: torch.Tensor, targets: torch.Tensor | None = None) -> torch.Tensor:
        x = z
        for blk in self.blocks:
            x = blk(x, mask.bool())
        if targets is not None:
            x = x[targets]
        return self.transform(x) @ self.word_embeddings[0].weight.t() + self.bias
