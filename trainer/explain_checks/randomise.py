"""Model randomisation for the sanity check of Adebayo et al. (NeurIPS 2018).

The learned weights are replaced by a fresh random initialisation of the same architecture (another seed); a
fine-tuned pretrained block (the top MiniLM block of the demo preset) becomes random too. The frozen weights
(the packaged MiniLM) are never touched: they were not learned from this cohort, so keeping them isolates what
training added. Cascading randomisation replaces the fusion head and the top blocks
of each encoder only, from the output downwards.
"""
from __future__ import annotations

import torch

from engine.model import AlifuseModel


def _in_top_blocks(key: str, model: AlifuseModel, top_blocks: int) -> bool:
    if key.startswith("fusion."):
        return True
    for enc_name in ("image_encoder", "text_encoder"):
        enc = getattr(model, enc_name)
        prefix = f"{enc_name}.blocks."
        if enc is not None and key.startswith(prefix):
            block = int(key[len(prefix):].split(".", 1)[0])
            return block >= len(enc.blocks) - top_blocks
    return False


def randomised_copy(model: AlifuseModel, seed: int, top_blocks: int | None = None) -> AlifuseModel:
    """A model of ``model``'s config whose learned weights are freshly initialised with ``seed``.

    ``top_blocks`` None: every learned tensor is re-initialised. An int k: only the fusion head and the top k
    blocks of each encoder (cascading randomisation); the rest keeps the trained values. Frozen (packaged)
    weights keep their values either way. Returned in eval mode on ``model``'s device.
    """
    dev = next(model.parameters()).device
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with torch.random.fork_rng(devices=[]):  # do not disturb the caller's random stream
        torch.manual_seed(int(seed))
        # no pretrained text weights: a fine-tuned pretrained block must become random too, not its starting point
        fresh = AlifuseModel(model.cfg, load_pretrained=False)
    new = fresh.state_dict()
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    keep = set(model.packaged_keys) | frozen
    for k in state:
        randomise = k not in keep and (top_blocks is None or _in_top_blocks(k, model, top_blocks))
        if not randomise:
            new[k] = state[k]
    fresh.load_state_dict(new)
    return fresh.to(dev).eval()


def _learned_blocks(enc) -> int:
    """Blocks of an encoder whose prediction-path weights are learned. Cross-attention layers do not count: the
    prediction path never uses them, so re-initialising only them would repeat the level before."""
    learned = {int(n.split(".")[1]) for n, p in enc.named_parameters()
               if p.requires_grad and n.startswith("blocks.") and not n.split(".")[2].startswith("cross_")}
    return len(learned)


def cascade_levels(model: AlifuseModel) -> list[tuple[str, int | None]]:
    """(name, top_blocks) from the output down: the fusion head alone, then one more block of each encoder at a
    time (as long as some encoder has a learned block left), then every learned tensor (embeddings included)."""
    depth = max(_learned_blocks(e) for e in (model.image_encoder, model.text_encoder) if e is not None)
    levels: list[tuple[str, int | None]] = [("head", 0)]
    levels += [(f"head+top{k}", k) for k in range(1, depth + 1)]
    return levels + [("all", None)]
