"""Shared fixtures: tiny configs and models, small synthetic images and records."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

# One thread: tests share two cores with each other and with background jobs; oversubscription costs 10x.
torch.set_num_threads(1)


@pytest.fixture
def tiny_cfg():
    from engine.config import preset

    return preset("tiny")


@pytest.fixture
def tiny_model(tiny_cfg):
    from engine.model import AlifuseModel

    torch.manual_seed(0)
    return AlifuseModel(tiny_cfg)


def make_batch(cfg, b: int = 4, seed: int = 0):
    """A deterministic batch: images (B,S,S,S), ids/mask (B,L) with [CLS] ... [SEP] [PAD]..., labels (B,)."""
    g = torch.Generator().manual_seed(seed)
    s, L = cfg.image_size, cfg.max_tokens
    img = torch.rand(b, s, s, s, generator=g)
    ids = torch.zeros(b, L, dtype=torch.long)
    mask = torch.zeros(b, L, dtype=torch.long)
    for i in range(b):
        n = 10 + 3 * i
        ids[i, 0], ids[i, n - 1] = cfg.cls_token_id, cfg.sep_token_id
        ids[i, 1:n - 1] = torch.randint(1000, 3000, (n - 2,), generator=g)
        mask[i, :n] = 1
    labels = torch.arange(b) % cfg.num_classes
    return img, ids, mask, labels
