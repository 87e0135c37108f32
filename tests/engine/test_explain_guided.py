"""Guided relevance (engine.explain.guided): relevance per patch refined by integrated gradients per voxel."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from engine.explain import explain
from engine.explain.guided import SIGMA_VOXELS, gaussian_blur, guided_map
from tests.engine.test_explain import FAST, setup, one_thread  # noqa: F401 - the shared fixtures


def test_the_blur_is_scipys_gaussian_with_edges_replicated():
    x = torch.from_numpy(np.random.default_rng(1).random((12, 10, 9)).astype(np.float32))
    x[0, 0, 0] = 5.0  # a corner spike: the edge handling shows
    want = ndimage.gaussian_filter(x.numpy().astype(np.float64), SIGMA_VOXELS, mode="nearest", truncate=3.0)
    np.testing.assert_allclose(gaussian_blur(x, SIGMA_VOXELS).numpy(), want, atol=1e-5)


def test_the_guided_map_is_zero_where_either_map_is_and_varies_inside_a_patch():
    rel = torch.zeros(2, 2, 2)
    rel[1, 1, 1] = 1.0                       # one relevant patch of 8 voxels a side
    ig = torch.zeros(16, 16, 16)
    ig[12, 12, 12] = 1.0                     # one voxel inside it
    ig[0, 0, 0] = 1.0                        # and one far from it, in a patch relevance gives nothing
    m = guided_map(rel, ig)
    assert m.shape == (16, 16, 16) and float(m.min()) == 0.0
    # the corner is beyond the half patch that trilinear upsampling spreads relevance over, and beyond the blur
    assert float(m[:8, :8, :8].max()) == 0.0, "IG alone does not light a patch relevance gives nothing"
    inside = m[8:, 8:, 8:]
    assert int(inside.argmax()) == np.ravel_multi_index((4, 4, 4), (8, 8, 8)), "the peak is IG's voxel"
    assert float(inside[0, 0, 0]) == 0.0 < float(inside[4, 4, 4]), "finer than the patch: it varies inside it"
    assert 0.0 < float(inside[4, 4, 5]) < float(inside[4, 4, 4]), "IG is blurred: its voxel's neighbour gets a share"


def test_guided_explanations_keep_relevances_words_and_map_the_voxels(setup):  # noqa: F811
    predictor, _, case = setup
    g = explain(predictor.model, case, "guided", **FAST)
    r = explain(predictor.model, case, "relevance", **FAST)
    assert g.target_class == r.target_class and g.word_relevance == r.word_relevance
    assert g.field_relevance == r.field_relevance
    s, p = predictor.model.cfg.image_size, predictor.model.cfg.patch_size
    blocks = g.image_model.reshape(s // p, p, s // p, p, s // p, p)
    inside = blocks.std(axis=(1, 3, 5))
    assert g.image_model.max() == pytest.approx(1.0) and (inside > 0.01).any(), "one value per voxel, not per patch"
    assert not np.allclose(g.image_model, r.image_model, atol=0.05)
