"""The Alifuse model: shapes, shared weights, masking, losses, determinism, the two attention paths."""
from __future__ import annotations

import math

import pytest
import torch

from engine.config import preset
from engine.layers import explaining
from engine.losses import itc_loss
from engine.masking import random_patch_mask, random_token_mask
from engine.model import AlifuseModel
from tests.conftest import make_batch


@pytest.mark.parametrize("name", ["tiny", "demo"])
def test_training_forward_shapes_and_losses(name):
    cfg = preset(name)
    torch.manual_seed(0)
    model = AlifuseModel(cfg)
    img, ids, mask, labels = make_batch(cfg, b=2)
    out = model.training_losses(img, ids, mask, labels)
    assert set(out) == {"itc", "img_rec", "txt_rec", "cls", "total", "logits", "z_img", "z_txt"}
    assert out["logits"].shape == (2, 3)
    assert out["z_img"].shape == (2, 1 + cfg.num_patches, cfg.img_dim)
    for k in ("itc", "img_rec", "txt_rec", "cls"):
        assert out[k].ndim == 0 and torch.isfinite(out[k]) and out[k] > 0
    expected = out["itc"] + out["img_rec"] + out["txt_rec"] + out["cls"]  # all lambdas are 1
    assert torch.allclose(out["total"], expected)
    z = model.encode(img, ids, mask)
    assert z.img.shape == (2, 1 + cfg.num_patches, cfg.img_dim)
    torch.testing.assert_close(out["z_img"], z.img)
    assert z.txt.shape == (2, cfg.max_tokens, cfg.text_dim)
    torch.testing.assert_close(out["z_txt"], z.txt)


def test_paper_preset_is_the_papers_numbers_and_builds_on_meta():
    cfg = preset("paper")
    assert (cfg.image_size, cfg.patch_size, cfg.num_patches) == (128, 16, 512)
    assert (cfg.img_dim, cfg.text_dim, cfg.img_heads, cfg.text_heads) == (768, 768, 12, 12)
    assert (cfg.img_depth, cfg.text_depth, cfg.dec_depth, cfg.text_dec_depth) == (24, 24, 8, 8)
    assert (cfg.mask_ratio, cfg.max_tokens, cfg.summary_max_words) == (0.5, 70, 40)
    assert (cfg.lambda_cl, cfg.lambda_res, cfg.lambda_cls) == (1.0, 1.0, 1.0)
    with torch.device("meta"):
        model = AlifuseModel(cfg, load_pretrained=False)
        img = torch.empty(2, 128, 128, 128)
        ids = torch.zeros(2, 70, dtype=torch.long)
        z = model.encode(img, ids, torch.ones(2, 70, dtype=torch.long))
        logits = model.classify(z)
    assert z.img.shape == (2, 513, 768) and z.txt.shape == (2, 70, 768) and logits.shape == (2, 3)
    n = sum(p.numel() for p in model.parameters())
    assert 4e8 < n < 8e8  # two 24-layer 768-wide encoders plus decoders


def _cross_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for n, p in module.named_parameters() if ".cross_" in n)


def test_grounded_encoders_add_only_cross_attention(tiny_cfg):
    both = AlifuseModel(tiny_cfg)
    img_only = AlifuseModel(tiny_cfg.replace(modalities=("image",)))
    txt_only = AlifuseModel(tiny_cfg.replace(modalities=("text",)))
    n = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert _cross_params(img_only.image_encoder) == 0 and _cross_params(txt_only.text_encoder) == 0
    assert n(both.image_encoder) - n(img_only.image_encoder) == _cross_params(both.image_encoder) > 0
    assert n(both.text_encoder) - n(txt_only.text_encoder) == _cross_params(both.text_encoder) > 0
    # one cross-attention layer per block
    assert all(b.cross_attn is not None for b in both.image_encoder.blocks)
    assert all(b.cross_attn is not None for b in both.text_encoder.blocks)


def test_patch_masking_ratio():
    noise = torch.rand(3, 512, generator=torch.Generator().manual_seed(1))
    keep, restore, mask = random_patch_mask(3, 512, 0.5, noise)
    assert keep.shape == (3, 256) and mask.shape == (3, 512)
    assert torch.all(mask.sum(dim=1) == 256)
    # kept ids are exactly the unmasked positions
    for b in range(3):
        assert torch.all(mask[b, keep[b]] == 0)
    assert torch.all(restore.sort(dim=1).values == torch.arange(512))


def test_token_masking_ratio_spares_special_and_padding(tiny_cfg):
    _, ids, mask, _ = make_batch(tiny_cfg, b=4)
    special = (ids == 0) | (ids == 101) | (ids == 102)
    masked, m = random_token_mask(ids, mask, special, 0.5, 103,
                                  torch.rand(ids.shape, generator=torch.Generator().manual_seed(0)))
    for b in range(4):
        words = int((mask[b].bool() & ~special[b]).sum())
        assert int(m[b].sum()) == round(words * 0.5)
    assert not (m & special).any()
    assert torch.all(masked[m] == 103) and torch.equal(masked[~m], ids[~m])


def test_noise_drawn_before_the_forward_gives_the_forwards_own_masks_and_losses(tiny_cfg):
    """train_step draws the masks' random numbers outside the model (for torch.compile): same masks, same losses."""
    from engine.masking import draw_mask_noise

    img, ids, mask, labels = make_batch(tiny_cfg, b=2, seed=3)
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg).eval()  # eval: no dropout, so only the masks could differ
    inside = model.training_losses(img, ids, mask, labels, generator=torch.Generator().manual_seed(5))
    noise = draw_mask_noise(tiny_cfg, 2, ids.shape[1], "cpu", torch.Generator().manual_seed(5))
    assert noise.image.shape == (2, tiny_cfg.num_patches) and noise.text.shape == ids.shape
    # the numbers the forward drew before (image's, then text's, from the same generator): runs stay reproducible
    old = torch.Generator().manual_seed(5)
    assert torch.equal(noise.image, torch.rand(2, tiny_cfg.num_patches, generator=old))
    assert torch.equal(noise.text, torch.rand(ids.shape, generator=old))
    outside = model.training_losses(img, ids, mask, labels, noise=noise)
    assert set(inside) == set(outside)
    for k in inside:
        assert torch.equal(inside[k], outside[k]), k
    other = model.training_losses(img, ids, mask, labels, generator=torch.Generator().manual_seed(6))
    assert not torch.equal(other["img_rec"], inside["img_rec"])  # the noise does decide the masks
    with pytest.raises(ValueError, match="noise has shape"):  # one row would broadcast to the whole batch
        model.training_losses(img, ids, mask, labels, noise=noise._replace(image=noise.image[:1]))
    # nothing is drawn for terms that are off
    assert draw_mask_noise(tiny_cfg.replace(lambda_res=0.0), 2, 8, "cpu") == (None, None)
    assert draw_mask_noise(tiny_cfg.replace(modalities=("text",)), 2, 8, "cpu").image is None


def test_masked_token_ce_is_the_mean_and_zero_without_masked_tokens():
    from engine.losses import masked_token_ce

    logits = torch.randn(5, 11, generator=torch.Generator().manual_seed(0), requires_grad=True)
    target = torch.tensor([1, 0, 10, 3, 3])
    assert torch.allclose(masked_token_ce(logits, target), torch.nn.functional.cross_entropy(logits, target))
    empty = masked_token_ce(logits[:0], target[:0])
    assert empty.item() == 0.0
    empty.backward()  # still in the graph (DDP expects every step to reach the decoder)


def test_itc_matches_hand_computation():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    t = torch.tensor(0.5)
    # S = a b^T / t = [[1.2, 0], [1.6, 2.0]]
    row = (-math.log(math.exp(1.2) / (math.exp(1.2) + 1)) - math.log(math.exp(2.0) / (math.exp(1.6) + math.exp(2.0))))
    col = (-math.log(math.exp(1.2) / (math.exp(1.2) + math.exp(1.6))) - math.log(math.exp(2.0) / (1 + math.exp(2.0))))
    expected = (row / 2 + col / 2) / 2
    assert itc_loss(a, b, t).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_each_loss_falls_when_overfitting_a_batch(tiny_cfg):
    torch.manual_seed(0)
    model = AlifuseModel(tiny_cfg)
    img, ids, mask, labels = make_batch(tiny_cfg, b=4)
    opt = torch.optim.AdamW(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(0)
    hist: dict[str, list[float]] = {k: [] for k in ("itc", "img_rec", "txt_rec", "cls")}
    for _ in range(120):
        out = model.training_losses(img, ids, mask, labels, generator=g)
        opt.zero_grad()
        out["total"].backward()
        opt.step()
        for k in hist:
            hist[k].append(out[k].item())
    for k, v in hist.items():
        first, last = sum(v[:5]) / 5, sum(v[-5:]) / 5
        assert last < 0.7 * first, f"{k} did not fall: {first:.3f} -> {last:.3f}"


def test_same_seed_same_output(tiny_cfg):
    outs = []
    for _ in range(2):
        torch.manual_seed(123)
        model = AlifuseModel(tiny_cfg).eval()
        img, ids, mask, labels = make_batch(tiny_cfg)
        outs.append(model(img, ids, mask))
    assert torch.equal(outs[0], outs[1])
    torch.manual_seed(124)
    other = AlifuseModel(tiny_cfg).eval()(img, ids, mask)
    assert not torch.allclose(outs[0], other)


def test_eval_mode_is_deterministic_with_dropout(tiny_cfg):
    model = AlifuseModel(tiny_cfg.replace(dropout=0.3)).eval()
    img, ids, mask, _ = make_batch(tiny_cfg)
    assert torch.equal(model(img, ids, mask), model(img, ids, mask))
    model.train()
    assert not torch.equal(model(img, ids, mask), model(img, ids, mask))


def test_fused_and_explicit_attention_paths_agree(tiny_model, tiny_cfg):
    model = tiny_model.eval()
    img, ids, mask, _ = make_batch(tiny_cfg)
    fast = model(img, ids, mask)
    z_fast = model.text_encoder(ids, mask, model.image_encoder(img))
    with explaining(model):
        slow = model(img, ids, mask)
        z_slow = model.text_encoder(ids, mask, model.image_encoder(img))
        attn = model.image_encoder.blocks[-1].attn.attn_map
    assert torch.allclose(fast, slow, atol=1e-5)
    assert torch.allclose(z_fast, z_slow, atol=1e-5)
    assert attn is not None and attn.shape == (4, tiny_cfg.img_heads, 65, 65)
    assert torch.allclose(attn.sum(-1), torch.ones(()), atol=1e-5)


@pytest.mark.parametrize("grounded", [False, True])
def test_text_self_attention_is_bidirectional(tiny_model, tiny_cfg, grounded):
    model = tiny_model.eval()
    img, ids, mask, _ = make_batch(tiny_cfg, b=1)
    ctx = model.image_encoder(img) if grounded else None
    base = model.text_encoder(ids, mask, ctx)
    late = int(mask[0].sum()) - 2  # the last word before [SEP]
    ids2 = ids.clone()
    ids2[0, late] += 1
    changed = model.text_encoder(ids2, mask, ctx)
    assert not torch.allclose(base[0, 0], changed[0, 0], atol=1e-6), "token 0 must see a late token"


def test_padding_does_not_change_real_tokens(tiny_model, tiny_cfg):
    model = tiny_model.eval()
    img, ids, mask, _ = make_batch(tiny_cfg, b=1)
    ids2 = ids.clone()
    ids2[0, mask[0] == 0] = 2000  # garbage under the padding mask
    a, b = model.text_encoder(ids, mask), model.text_encoder(ids2, mask)
    real = mask[0].bool()
    assert torch.allclose(a[0, real], b[0, real], atol=1e-5)
    # and the fused prediction ignores it too
    assert torch.allclose(model(img, ids, mask), model(img, ids2, mask), atol=1e-5)


def test_minilm_weights_reproduce_hugging_face_bert():
    from transformers import BertModel

    from engine.minilm import load_tokenizer, minilm_dir

    cfg = preset("demo")
    model = AlifuseModel(cfg).eval()
    hf = BertModel.from_pretrained(str(minilm_dir()), local_files_only=True, add_pooling_layer=False).eval()
    enc = load_tokenizer()("The MMSE score is 29. The CDR score is 0.5.")
    ids, mask = torch.tensor([enc["input_ids"]]), torch.tensor([enc["attention_mask"]])
    with torch.no_grad():
        ours = model.text_encoder(ids, mask)
        ref = hf(input_ids=ids, attention_mask=mask).last_hidden_state
    assert torch.allclose(ours, ref, atol=1e-4)
    assert "MiniLM" in model.text_init
    # the demo preset trains only the top text block; the rest comes from the package
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert "text_encoder.blocks.0.attn.qkv.weight" in frozen
    assert "text_encoder.blocks.5.attn.qkv.weight" not in frozen
    assert "text_encoder.blocks.0.cross_attn.q.weight" not in frozen


# -- the image encoder's input scale --

def test_the_encoder_reads_the_image_centred_and_scaled(tiny_cfg):
    """image_mean/image_std: a model with them on x is the same model without them on (x - mean) / sd."""
    from engine.config import IMAGE_MEAN, IMAGE_STD

    torch.manual_seed(0)
    scaled = AlifuseModel(tiny_cfg.replace(image_mean=IMAGE_MEAN, image_std=IMAGE_STD)).eval()
    plain = AlifuseModel(tiny_cfg).eval()
    plain.load_state_dict(scaled.state_dict())
    x = torch.rand(2, *(tiny_cfg.image_size,) * 3)
    with torch.no_grad():
        torch.testing.assert_close(scaled.image_encoder(x), plain.image_encoder((x - IMAGE_MEAN) / IMAGE_STD))
        assert not torch.allclose(scaled.image_encoder(x), plain.image_encoder(x), atol=1e-3)


def test_presets_scale_the_image_and_older_configs_read_it_unchanged():
    from engine.checkpoint import read_info
    from engine.config import IMAGE_MEAN, IMAGE_STD, AlifuseConfig
    from engine.resources import DEMO_CHECKPOINT

    for name in ("demo", "paper"):
        cfg = preset(name)
        assert (cfg.image_mean, cfg.image_std) == (IMAGE_MEAN, IMAGE_STD)
    older = {k: v for k, v in preset("demo").to_dict().items() if k not in ("image_mean", "image_std")}
    cfg = AlifuseConfig.from_dict(older)
    assert (cfg.image_mean, cfg.image_std) == (0.0, 1.0)
    if DEMO_CHECKPOINT.is_file():  # the shipped model was trained with the presets' centring and scaling
        shipped = read_info(DEMO_CHECKPOINT).config
        assert (shipped.image_mean, shipped.image_std) == (IMAGE_MEAN, IMAGE_STD)


@pytest.mark.parametrize("field, value", [("image_std", 0.0), ("image_std", -1.0), ("image_std", float("nan")),
                                          ("image_mean", float("inf"))])
def test_a_bad_image_scale_is_named(field, value):
    from engine.errors import AlifuseInputError

    with pytest.raises(AlifuseInputError, match=f"config field '{field}'"):
        preset("tiny", **{field: value})


def test_the_linear_patch_projection_starts_as_maes(tiny_cfg):
    """Xavier on the (D, p^3) matrix, zero bias: its spread is that of Xavier's uniform bound."""
    torch.manual_seed(0)
    proj = AlifuseModel(preset("demo", modalities=("image",))).image_encoder.patch_embed.proj
    fan_in, fan_out = proj.weight[0].numel(), proj.weight.shape[0]
    bound = math.sqrt(6.0 / (fan_in + fan_out))
    assert proj.weight.abs().max() <= bound and proj.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)
    assert not proj.bias.any()
