"""BERT text encoder built from our own bidirectional blocks, loading Hugging Face BERT weights.

Hugging Face's BertModel makes self-attention causal once cross-attention is added; Alifuse's
image-grounded text encoder must stay bidirectional, so the blocks are ours and only the weights are BERT's.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file
from torch import nn

from engine.config import AlifuseConfig
from engine.errors import AlifuseInputError
from engine.layers import BertBlock


class TextEmbeddings(nn.Module):
    """ids (B, L) -> (B, L, D): word + absolute position + token type 0, then LayerNorm."""

    def __init__(self, cfg: AlifuseConfig, max_positions: int = 512) -> None:
        super().__init__()
        self.word = nn.Embedding(cfg.vocab_size, cfg.text_dim, padding_idx=0)
        self.position = nn.Embedding(max_positions, cfg.text_dim)
        self.token_type = nn.Embedding(2, cfg.text_dim)
        self.norm = nn.LayerNorm(cfg.text_dim, eps=cfg.layer_norm_eps)
        self.drop = nn.Dropout(cfg.dropout)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(ids.shape[1], device=ids.device)
        x = self.word(ids) + self.position(pos)[None] + self.token_type.weight[0]
        return self.drop(self.norm(x))


class TextEncoder(nn.Module):
    """forward(ids (B,L), mask (B,L), context (B,Lc,Dc) | None) -> (B, L, D). Grounded when context is given."""

    def __init__(self, cfg: AlifuseConfig, context_dim: int | None) -> None:
        super().__init__()
        self.embeddings = TextEmbeddings(cfg)
        self.blocks = nn.ModuleList(
            BertBlock(cfg.text_dim, cfg.text_heads, cfg.text_intermediate, context_dim, cfg.dropout, cfg.layer_norm_eps)
            for _ in range(cfg.text_depth)
        )

    def forward(self, ids: torch.Tensor, mask: torch.Tensor, context: torch.Tensor | None = None,
                context_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.embeddings(ids)
        key_mask = mask.bool()
        for blk in self.blocks:
            x = blk(x, key_mask, context, context_mask)
        return x


def hf_bert_to_ours(sd: dict[str, torch.Tensor], depth: int) -> dict[str, torch.Tensor]:
    """Rename a Hugging Face BertModel state dict to :class:`TextEncoder` names (q, k, v fused into qkv)."""
    sd = {k.removeprefix("bert."): v for k, v in sd.items()}
    out = {
        "embeddings.word.weight": sd["embeddings.word_embeddings.weight"],
        "embeddings.position.weight": sd["embeddings.position_embeddings.weight"],
        "embeddings.token_type.weight": sd["embeddings.token_type_embeddings.weight"],
        "embeddings.norm.weight": sd["embeddings.LayerNorm.weight"],
        "embeddings.norm.bias": sd["embeddings.LayerNorm.bias"],
    }
    for i in range(depth):
        h, o = f"encoder.layer.{i}.", f"blocks.{i}."
        for kind in ("weight", "bias"):
            out[o + f"attn.qkv.{kind}"] = torch.cat(
                [sd[h + f"attention.self.{n}.{kind}"] for n in ("query", "key", "value")], dim=0)
            out[o + f"attn.proj.{kind}"] = sd[h + f"attention.output.dense.{kind}"]
            out[o + f"attn_norm.{kind}"] = sd[h + f"attention.output.LayerNorm.{kind}"]
            out[o + f"mlp.fc1.{kind}"] = sd[h + f"intermediate.dense.{kind}"]
            out[o + f"mlp.fc2.{kind}"] = sd[h + f"output.dense.{kind}"]
            out[o + f"mlp_norm.{kind}"] = sd[h + f"output.LayerNorm.{kind}"]
    return out


def read_hf_bert(folder: Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(config.json dict, state dict) of a local Hugging Face BERT folder; safetensors preferred, never unpickled
    except through ``torch.load(weights_only=True)``."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise AlifuseInputError(f"{folder}: no config.json (expected a Hugging Face BERT folder)")
    hf_cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    if (folder / "model.safetensors").is_file():
        return hf_cfg, load_file(str(folder / "model.safetensors"))
    if (folder / "pytorch_model.bin").is_file():
        return hf_cfg, torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise AlifuseInputError(f"{folder}: no model.safetensors or pytorch_model.bin")


def load_pretrained_text(enc: TextEncoder, cfg: AlifuseConfig, folder: Path) -> list[str]:
    """Load BERT weights from ``folder`` into ``enc``; returns the loaded parameter names.

    Sizes must match the config (hidden, layers, heads, FFN, vocabulary): a mismatch names the field.
    """
    hf_cfg, sd = read_hf_bert(folder)
    expect = {"hidden_size": cfg.text_dim, "num_hidden_layers": cfg.text_depth, "num_attention_heads": cfg.text_heads,
              "intermediate_size": cfg.text_intermediate, "vocab_size": cfg.vocab_size}
    for key, want in expect.items():
        if hf_cfg.get(key) != want:
            raise AlifuseInputError(f"{folder}/config.json: {key} is {hf_cfg.get(key)}, the model config needs {want}")
    ours = hf_bert_to_ours(sd, cfg.text_depth)
    missing, unexpected = enc.load_state_dict(ours, strict=False)
    bad = [k for k in missing if ".cross_" not in k]
    if bad or unexpected:
        raise AlifuseInputError(f"{folder}: weights do not fit the text encoder (missing {bad[:3]}, unexpected {unexpected[:3]})")
    return sorted(ours)
