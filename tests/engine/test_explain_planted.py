"""Do the maps find a signal we planted, and do they depend on what the model learned?

A tiny image-only model learns a toy task on 16^3 images: two bright patch-sized blobs in every image, and the
class is 1 exactly when one of them lies inside the octant [0:8]^3 (so brightness alone decides nothing: class-0
images have as many blobs, all outside). For class-1 images the evidence lies in the octant, 1/8 of the volume.
- planted signal: relevance, occlusion and IG put clearly more than 1/8 of their mass inside the octant;
- sanity check (Adebayo et al., NeurIPS 2018, model randomisation): the trained model's maps and those of the same
  architecture with re-randomised weights have a low Spearman rank correlation.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from engine.config import preset
from engine.explain import explain
from engine.imageio import Volume
from engine.model import AlifuseModel
from engine.predict import CaseInputs
from engine.preprocess import GridMapping

S = 16
OCTANT = np.zeros((S, S, S), dtype=bool)
OCTANT[:8, :8, :8] = True
SHARE = OCTANT.mean()  # 0.125
METHODS = ("relevance", "occlusion", "integrated_gradients")

pytestmark = pytest.mark.slow


def make(n: int, g: torch.Generator, label: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """n toy images (n, 16, 16, 16) in [0, 1] and their labels (n,)."""
    y = torch.randint(0, 2, (n,), generator=g) if label is None else torch.full((n,), label)
    x = 0.1 * torch.rand(n, S, S, S, generator=g)
    for i in range(n):
        corners = [torch.randint(0, 2, (3,), generator=g) * 4] if y[i] == 1 else []
        while len(corners) < 2:  # the other blob(s): anywhere outside the octant, never on top of another
            c = torch.randint(0, 4, (3,), generator=g) * 4
            if not (c < 8).all() and not any((c == d).all() for d in corners):
                corners.append(c)
        for a, b, c in corners:
            x[i, a:a + 4, b:b + 4, c:c + 4] += 0.6
    return x.clamp(0, 1), y


def toy_case(x: torch.Tensor) -> CaseInputs:
    """A case on a 1 mm identity grid: the model grid is the file grid."""
    eye = np.eye(4)
    vol = Volume(x.numpy(), eye, eye, (S, S, S), "toy")
    mapping = GridMapping(S, 1.0, (S, S, S), eye, (S, S, S), eye, 0.0, 1.0)
    return CaseInputs(vol, x.numpy(), mapping, None, {})  # an image-only model reads no text


@pytest.fixture(scope="module")
def models():
    """(trained, re-randomised) tiny image-only models and a held-out generator. ~10 s on one core."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    cfg = preset("tiny", modalities=("image",), num_classes=2)
    model = AlifuseModel(cfg)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    warmup = torch.optim.lr_scheduler.LambdaLR(opt, lambda k: min(1.0, (k + 1) / 20))
    g = torch.Generator().manual_seed(1000)
    ema = 1.0
    for _ in range(400):  # stops once learned (about 200 steps): an over-saturated model is not the point
        x, y = make(32, g)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        warmup.step()
        ema = 0.9 * ema + 0.1 * loss.item()
        if ema < 0.02:
            break
    model.eval()
    torch.manual_seed(1)
    random = AlifuseModel(cfg).eval()
    yield model, random, g
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def maps(models):
    """{method: [(trained map, random map)]} for four held-out class-1 images, target class 1."""
    model, random, g = models
    x, y = make(200, g)
    with torch.no_grad():
        acc = (model(x).argmax(1) == y).float().mean().item()
    assert acc >= 0.95, f"the toy model did not learn its task (accuracy {acc:.2f}): the checks would mean nothing"
    xs, _ = make(4, g, label=1)
    out = {m: [] for m in METHODS}
    for x1 in xs:
        case = toy_case(x1)
        for m in METHODS:
            e = explain(model, case, m)
            assert e.target_class == 1, "the model should predict the planted class"
            out[m].append((e.image_model, explain(random, case, m, target=1).image_model))
    return out


def _octant_share(m: np.ndarray) -> float:
    return float(m[OCTANT].sum() / m.sum()) if m.sum() > 0 else 0.0


@pytest.mark.parametrize("method", METHODS)
def test_maps_find_the_planted_region(maps, method):
    trained = [_octant_share(t) for t, _ in maps[method]]
    random = [_octant_share(r) for _, r in maps[method]]
    assert np.mean(trained) > 2 * SHARE, f"{method}: octant holds {np.round(trained, 2)} of the relevance"
    assert np.mean(trained) > np.mean(random) + 0.1, "a random model finds the region as well: no evidence"


@pytest.mark.parametrize("method", METHODS)
def test_maps_depend_on_the_learned_weights(maps, method):
    def rho(a: np.ndarray, b: np.ndarray) -> float:
        if a.std() == 0 or b.std() == 0:  # a flat map shares no ranking with anything
            return 0.0
        return float(spearmanr(a.ravel(), b.ravel())[0])

    rhos = [rho(t, r) for t, r in maps[method]]
    assert abs(np.mean(rhos)) < 0.5, f"{method}: trained and random maps rank voxels alike (rho {np.round(rhos, 2)})"
