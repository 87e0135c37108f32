"""The explanation-check metrics on hand-made maps, deletion on toy models, and model re-randomisation."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.config import preset
from engine.model import AlifuseModel
from engine.patches import patchify
from trainer.explain_checks.deletion import image_deletion, text_deletion
from trainer.explain_checks.metrics import (delete_patches, dilate, fraction_count, mean_sd, patch_scores,
                                            pointing_hit, rank_correlation, relevance_share)
from trainer.explain_checks.randomise import cascade_levels, randomised_copy

S, P = 16, 4


def _brain_and_mask() -> tuple[np.ndarray, np.ndarray]:
    brain = np.zeros((S, S, S), bool)
    brain[2:14, 2:14, 2:14] = True
    mask = np.zeros_like(brain)
    mask[4:7, 5:9, 6:8] = True
    return brain, mask


def test_a_map_equal_to_the_mask_puts_all_relevance_inside_and_points_into_it():
    brain, mask = _brain_and_mask()
    share, mask_share = relevance_share(mask.astype(float), mask, brain)
    assert share == pytest.approx(1.0)
    assert mask_share == pytest.approx(mask.sum() / brain.sum())
    assert pointing_hit(mask.astype(float), mask)


def test_a_uniform_map_gets_the_mask_share_so_ratio_one():
    brain, mask = _brain_and_mask()
    share, mask_share = relevance_share(np.ones((S, S, S)), mask, brain)
    assert share == pytest.approx(mask_share)
    assert share / mask_share == pytest.approx(1.0)


def test_relevance_outside_the_brain_does_not_count_and_an_empty_map_has_no_share():
    brain, mask = _brain_and_mask()
    rel = mask.astype(float)
    rel[0, 0, 0] = 100.0  # outside the brain: ignored
    assert relevance_share(rel, mask, brain)[0] == pytest.approx(1.0)
    assert np.isnan(relevance_share(np.zeros((S, S, S)), mask, brain)[0])


def test_pointing_game_misses_far_from_the_mask_and_hits_within_the_dilation():
    _, mask = _brain_and_mask()
    rel = np.zeros((S, S, S))
    rel[12, 12, 12] = 1.0
    assert not pointing_hit(rel, mask)
    near = np.zeros((S, S, S))
    near[8, 5, 6] = 1.0  # two voxels past the mask's edge (x = 6)
    assert not pointing_hit(near, mask)
    assert pointing_hit(near, dilate(mask, 2))
    assert not pointing_hit(near, dilate(mask, 1))
    assert not pointing_hit(np.zeros((S, S, S)), mask), "an empty map points nowhere"


def test_pointing_with_a_tied_maximum_follows_most_of_the_tied_voxels():
    _, mask = _brain_and_mask()
    rel = np.zeros((S, S, S))
    rel[4:7, 5:9, 6:8] = 1.0   # 24 tied voxels inside the mask
    rel[12, 12, 12] = 1.0      # one tied voxel outside
    assert pointing_hit(rel, mask)
    rel[10:14, 10:14, 10:14] = 1.0  # now most tied voxels lie outside
    assert not pointing_hit(rel, mask)


def test_rank_correlation_of_a_map_with_itself_is_one_and_with_a_shuffled_copy_about_zero():
    rng = np.random.default_rng(0)
    m = rng.random((S, S, S))
    assert rank_correlation(m, m) == pytest.approx(1.0)
    assert rank_correlation(m, -m) == pytest.approx(-1.0)
    shuffled = rng.permutation(m.ravel()).reshape(m.shape)
    assert abs(rank_correlation(m, shuffled)) < 0.05
    assert rank_correlation(np.zeros((S, S, S)), m) == 0.0, "a flat map shares no ranking"


def test_patch_scores_and_deletion_follow_the_models_patch_order():
    rng = np.random.default_rng(1)
    img = rng.random((S, S, S)).astype(np.float32)
    expected = patchify(torch.from_numpy(img)[None], P)[0].mean(-1).numpy()
    np.testing.assert_allclose(patch_scores(img, P), expected, rtol=1e-5)
    out = delete_patches(img, [5, 17], P, fill=0.25)
    patches = patchify(torch.from_numpy(out)[None], P)[0].numpy()
    assert np.all(patches[[5, 17]] == 0.25)
    untouched = np.setdiff1d(np.arange(patches.shape[0]), [5, 17])
    np.testing.assert_array_equal(patches[untouched], patchify(torch.from_numpy(img)[None], P)[0].numpy()[untouched])


def test_fraction_count_rounds_up_and_keeps_at_least_one():
    assert fraction_count(512, 0.1) == 52
    assert fraction_count(64, 0.1) == 7
    assert fraction_count(3, 0.1) == 1
    assert fraction_count(0, 0.1) == 0


def test_mean_sd_ignores_missing_values():
    s = mean_sd([1.0, 3.0, float("nan"), None])
    assert s == {"mean": 2.0, "sd": pytest.approx(np.sqrt(2.0)), "n": 2}
    assert mean_sd([])["n"] == 0


class _LinearToy(nn.Module):
    """logit(class 1) = sum(w * image) + 0.5 * (number of 'evidence' tokens); other logits 0."""

    def __init__(self, w: torch.Tensor, evidence_id: int) -> None:
        super().__init__()
        self.cfg = preset("tiny")
        self.w = nn.Parameter(w, requires_grad=False)
        self.evidence_id = evidence_id
        self.image_encoder = True

    def forward(self, img, ids, mask):
        score = (img * self.w).flatten(1).sum(1) + 0.5 * (ids == self.evidence_id).sum(1)
        z = torch.zeros_like(score)
        return torch.stack([z, score - 3.0, z], dim=1)


def _toy_inputs():
    rng = np.random.default_rng(2)
    # every patch carries a little evidence, graded; two patches carry most of it
    per_patch = rng.permutation(np.linspace(0.0002, 0.001, (S // P) ** 3)).reshape((S // P,) * 3)
    w = torch.from_numpy(np.kron(per_patch, np.ones((P, P, P)))).float()
    w[0:4, 4:8, 8:12] = 0.02
    w[8:12, 8:12, 0:4] = 0.02
    image = (0.5 + 0.5 * rng.random((S, S, S))).astype(np.float32)
    ids = torch.full((1, 24), 0, dtype=torch.long)
    ids[0, :20] = torch.tensor([101] + [2000 + k for k in range(18)] + [102])
    ids[0, [3, 7, 11]] = 4242  # the evidence tokens
    mask = (ids != 0).long()
    return _LinearToy(w, 4242), w.numpy(), image, ids, mask


def test_deleting_the_top_relevance_patches_hurts_more_than_random_and_the_least_relevant_less():
    model, w, image, ids, mask = _toy_inputs()
    maps = {"true": w, "reversed": w.max() - w}
    res = image_deletion(model, image, ids, mask, 1, maps, fraction=0.05, fill=0.0, draws=5,
                         rng=np.random.default_rng(0), brain_threshold=0.05)
    assert res["k"] == 4
    assert res["top"]["true"] > res["random"] + 0.05
    assert 0 < res["top"]["reversed"] < res["random"], "the least relevant patches matter least"
    assert res["all"] > res["top"]["true"], "hiding the whole image costs the most"


def test_deleting_the_top_relevance_tokens_hurts_more_than_random_tokens():
    model, _, image, ids, mask = _toy_inputs()
    rel = np.zeros(20)
    rel[[3, 7, 11]] = 1.0
    rel[0] = rel[19] = 5.0  # [CLS]/[SEP] must never be deleted, whatever their score
    res = text_deletion(model, image, ids, mask, 1, {"true": rel}, fraction=0.15, draws=8,
                        rng=np.random.default_rng(0))
    assert res["k"] == 3  # 15 % of the 18 real word-pieces, rounded up
    assert res["top"]["true"] > res["random"] + 0.05


def test_randomised_copy_replaces_learned_weights_and_keeps_the_rest():
    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny")).eval()
    full = randomised_copy(model, seed=7)
    a, b = model.state_dict(), full.state_dict()
    assert not torch.equal(a["fusion.0.weight"], b["fusion.0.weight"])
    assert not torch.equal(a["image_encoder.blocks.0.attn.qkv.weight"], b["image_encoder.blocks.0.attn.qkv.weight"])
    matrices = [k for k in a if a[k].ndim >= 2]  # biases and norms start at 0 / 1 in every initialisation
    assert all(not torch.equal(a[k], b[k]) for k in matrices)
    top = randomised_copy(model, seed=7, top_blocks=1).state_dict()
    lower = [k for k in a if k.startswith("image_encoder.blocks.0.")]
    upper = [k for k in a if k.startswith("image_encoder.blocks.1.") and k.endswith("weight")]
    assert lower and upper
    assert all(torch.equal(a[k], top[k]) for k in lower), "cascading: lower blocks keep their trained values"
    assert any(not torch.equal(a[k], top[k]) for k in upper)
    assert not torch.equal(a["fusion.0.weight"], top["fusion.0.weight"])
    assert torch.equal(randomised_copy(model, seed=7).state_dict()["fusion.0.weight"], b["fusion.0.weight"])


@pytest.mark.slow
def test_randomised_copy_keeps_the_packaged_minilm_weights():
    torch.manual_seed(0)
    model = AlifuseModel(preset("tiny", text_backbone="minilm", text_dim=384, text_depth=6, text_heads=12,
                                text_intermediate=1536, text_trainable_layers=1))
    assert model.packaged_keys
    a, b = model.state_dict(), randomised_copy(model, seed=3).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in model.packaged_keys)
    assert "text_encoder.blocks.5.attn.qkv.weight" not in model.packaged_keys, "the top text block is learned"
    assert not torch.equal(a["text_encoder.blocks.5.attn.qkv.weight"], b["text_encoder.blocks.5.attn.qkv.weight"])
    assert torch.equal(a["text_encoder.blocks.0.attn.qkv.weight"], b["text_encoder.blocks.0.attn.qkv.weight"])
    # one learned text block (5 frozen ones) and 2 image blocks: the cascade stops after the image's 2 blocks
    assert cascade_levels(model) == [("head", 0), ("head+top1", 1), ("head+top2", 2), ("all", None)]


def test_the_brain_only_rho_is_not_fooled_by_the_heads_outline():
    """Two unrelated maps that are both 0 outside the head rank alike over the cube (the outline), not in it."""
    from types import SimpleNamespace

    from trainer.explain_checks.runner import _rhos

    x, y, z = np.meshgrid(*[np.linspace(-1, 1, 16)] * 3, indexing="ij")
    brain = x ** 2 + y ** 2 + z ** 2 < 0.6
    rng = np.random.default_rng(0)
    trained, rand = (np.where(brain, 0.5 + rng.random(brain.shape), 0.0) for _ in range(2))
    maps = [SimpleNamespace(image_model=m, token_relevance=[0.1, 0.2, 0.3]) for m in (trained, rand)]
    model = SimpleNamespace(image_encoder=object(), text_encoder=None)
    r = _rhos(*maps, np.zeros(3, bool), model, brain)
    assert r["image_rho"] > 0.8 and abs(r["image_rho_brain"]) < 0.1, r
    assert np.isnan(_rhos(*maps, np.zeros(3, bool), model, None)["image_rho_brain"]), "no image, no figure"
