"""The convolutional patch stems and mean-token read-out: token layout, config checks, training, checkpoints,
explanations."""
from __future__ import annotations

import pytest
import torch

from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import AlifuseConfig, preset
from engine.errors import AlifuseInputError
from engine.image_encoder import CnnStem3D, ConvStem3D, PatchEmbed3D
from engine.model import AlifuseModel
from tests.conftest import make_batch


@pytest.mark.parametrize("stem_class", [ConvStem3D, CnnStem3D])
def test_stem_gives_one_token_per_patch_in_the_patch_order(stem_class):
    """A bright cube filling exactly one patch must light up that patch's token more than any other."""
    torch.manual_seed(0)
    stem = stem_class(patch=4, dim=8, widths=(4,))
    img = torch.zeros(1, 16, 16, 16)
    img[0, 8:12, 4:8, 12:16] = 1.0   # patch (2, 1, 3) -> index 2*16 + 1*4 + 3 = 39 (z fastest)
    tokens = stem(img) - stem(torch.zeros_like(img))
    assert tokens.shape == (1, 64, 8)
    energy = tokens.norm(dim=-1)[0]
    assert int(energy.argmax()) == 39
    # the linear projection agrees on the layout
    lin = PatchEmbed3D(4, 8)
    assert int((lin(img) - lin(torch.zeros_like(img))).norm(dim=-1)[0].argmax()) == 39


@pytest.mark.parametrize("fields, needle", [
    ({"patch_stem": "resnet"}, "patch_stem"),
    ({"patch_stem": "conv", "stem_widths": (8, 8, 8)}, "stem_widths"),   # 3 halvings do not divide patch 4
    ({"patch_stem": "conv", "stem_widths": ()}, "stem_widths"),
    ({"patch_stem": "cnn", "stem_widths": (8, 8, 8)}, "stem_widths"),
    ({"image_pool": "max"}, "image_pool"),
])
def test_bad_stem_settings_name_the_field(tiny_cfg, fields, needle):
    with pytest.raises(AlifuseInputError, match=needle):
        tiny_cfg.replace(**fields)


@pytest.mark.parametrize("stem, pool", [("conv", "cls"), ("cnn", "mean")])
def test_stem_model_trains_and_round_trips(tiny_cfg, tmp_path, stem, pool):
    cfg = tiny_cfg.replace(patch_stem=stem, stem_widths=(8,), image_pool=pool)
    torch.manual_seed(0)
    model = AlifuseModel(cfg)
    img, ids, mask, labels = make_batch(cfg, b=4)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    first = None
    for _ in range(15):
        loss = model.training_losses(img, ids, mask, labels, torch.Generator().manual_seed(0))["cls"]
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < first
    assert model.image_encoder.patch_embed.net[0].weight.grad.abs().sum() > 0, "the stem is trained"
    path = tmp_path / "conv.safetensors"
    save_checkpoint(model, path, ["NC", "MCI", "AD"], {"trained": True})
    loaded, info = load_checkpoint(path)
    assert (info.config.patch_stem, info.config.stem_widths, info.config.image_pool) == (stem, (8,), pool)
    model.eval()
    assert torch.equal(model(img, ids, mask), loaded(img, ids, mask))


def test_old_configs_without_the_field_get_the_papers_linear_projection():
    d = preset("demo").to_dict()
    del d["patch_stem"], d["stem_widths"]
    assert AlifuseConfig.from_dict(d).patch_stem == "linear"
    assert preset("paper").patch_stem == "linear"


def test_mean_read_out_uses_the_patch_tokens_not_cls(tiny_cfg):
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg.replace(image_pool="mean")).eval()
    img, ids, mask, _ = make_batch(model.cfg, b=2)
    enc = model.encode(img, ids, mask)
    torch.testing.assert_close(model.image_feature(enc.img), enc.img[:, 1:].mean(dim=1))
    changed = enc.img.clone()
    changed[:, 0] += 5.0  # the [CLS] token no longer matters
    assert torch.equal(model.classify(type(enc)(changed, enc.txt)), model.classify(enc))


def test_relevance_reads_the_mean_patch_row_for_a_mean_read_out(tiny_cfg):
    from engine.explain.base import readout_row

    model = AlifuseModel(tiny_cfg.replace(image_pool="mean"))
    r = torch.arange(16.0).reshape(4, 4)
    torch.testing.assert_close(readout_row(r, "image", model), r[1:].mean(dim=0))
    torch.testing.assert_close(readout_row(r, "text", model), r[0])   # text is always read at [CLS]
    assert torch.equal(readout_row(r, "image", AlifuseModel(tiny_cfg)), r[0])

