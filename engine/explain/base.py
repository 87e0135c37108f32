"""What every explanation method shares: model inputs, progress/cancel reporting, cached unimodal features.

A method returns a :class:`RawAttribution` (signed, unnormalised scores); :mod:`engine.explain.api` turns it
into the user-facing, normalised :class:`~engine.explain.api.Explanation`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.case_inputs import ModelInputs
from engine.model import Encoded

ProgressFn = Callable[[float, str], None]
CancelFn = Callable[[], bool]


class ExplanationCancelled(Exception):
    """Raised when the ``cancel`` callback asked an explanation to stop."""


@dataclass
class RawAttribution:
    """Signed, unnormalised scores of one method for one target class.

    image: (g,g,g) patch scores or (S,S,S) voxel scores, or None for a text-only model.
    tokens: (n,) scores of the real tokens, or None for an image-only model.
    words/fields: set by methods that score words and fields directly (occlusion); otherwise derived from tokens.
    """

    target: int
    image: torch.Tensor | None
    tokens: np.ndarray | None
    words: list[float] | None = None
    fields: dict[str, float] | None = None


class Reporter:
    """Monotone progress in [0, 1] plus cooperative cancellation.

    Every report first asks ``cancel``; a True answer raises :class:`ExplanationCancelled`. Fractions never go
    backwards, so a GUI progress bar only moves forward.
    """

    def __init__(self, progress: ProgressFn | None, cancel: CancelFn | None, scale: float = 1.0) -> None:
        self._progress, self._cancel, self.last = progress, cancel, 0.0
        #: a method's own 0..1 is reported as 0..scale, leaving the rest for the steps after it
        self.scale = scale

    def __call__(self, fraction: float, message: str) -> None:
        self.check()
        self._emit(fraction * self.scale, message)

    def check(self) -> None:
        if self._cancel is not None and self._cancel():
            raise ExplanationCancelled("explanation cancelled")

    def done(self, message: str = "done") -> None:
        """Report 1.0 without asking ``cancel``: the work is finished, nothing is left to stop."""
        self._emit(1.0, message)

    def span(self, lo: float, hi: float) -> ProgressFn:
        """A reporter for a sub-task that maps its own [0, 1] onto [lo, hi] of the whole."""
        return lambda f, msg: self(lo + (hi - lo) * min(max(f, 0.0), 1.0), msg)

    def part(self, lo: float, hi: float) -> "Reporter":
        """A Reporter for one method run inside another (its 0..1 on [lo, hi] of this one), same cancel."""
        return Reporter(self.span(lo, hi), self._cancel)

    def _emit(self, fraction: float, message: str) -> None:
        self.last = max(self.last, min(max(float(fraction), 0.0), 1.0))
        if self._progress is not None:
            self._progress(self.last, message)


def unit_max(x: np.ndarray) -> np.ndarray:
    """Positive part divided by its maximum; all zeros when nothing is positive (or not finite)."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    m = x.max(initial=0.0)
    return x / m if m > 0 else np.zeros_like(x)


def unit_range(x: np.ndarray) -> np.ndarray:
    """Positive part scaled min-max to [0, 1], as Chefer et al. show their maps: attention rollout carries a
    near-uniform floor (the identity term) that would otherwise tint the whole brain; zeros if flat."""
    x = np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0.0)
    if x.size == 0:
        return x
    lo, hi = x.min(), x.max()
    return (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)


def image_map(raw: torch.Tensor | None, size: int) -> np.ndarray:
    """(g,g,g) patch scores (trilinear upsampling) or (S,S,S) voxel scores -> (S,S,S) float32 in [0, 1]."""
    if raw is None:
        return np.zeros((size,) * 3, dtype=np.float32)
    r = raw.detach().float()
    if r.shape[-1] != size:
        r = F.interpolate(r.clamp(min=0)[None, None], size=(size,) * 3, mode="trilinear", align_corners=False)[0, 0]
    return unit_range(r.cpu().numpy()).astype(np.float32)


def image_features(model: nn.Module, img: torch.Tensor | None) -> torch.Tensor | None:
    """Unimodal image features (B, 1+N, D), or None when the model or the case has no image."""
    return None if img is None or model.image_encoder is None else model.image_encoder(img)


def text_features(model: nn.Module, ids: torch.Tensor | None, mask: torch.Tensor | None) -> torch.Tensor | None:
    """Unimodal text features (B, L, D), or None when the model reads no text."""
    return None if ids is None or model.text_encoder is None else model.text_encoder(ids, mask)


def classify_with(model: nn.Module, img_feats: torch.Tensor | None, txt_feats: torch.Tensor | None,
                  scores: torch.Tensor | None = None) -> torch.Tensor:
    """Logits (B, C) from features (and the record's scores (1|B, F) as numbers); a batch-1 input is broadcast to
    the others' batch size."""
    b = max(f.shape[0] for f in (img_feats, txt_feats, scores) if f is not None)

    def expand(f: torch.Tensor | None) -> torch.Tensor | None:
        return f if f is None or f.shape[0] == b else f.expand(b, *f.shape[1:])

    return model.classify(Encoded(expand(img_feats), expand(txt_feats), expand(scores)))


def log_probs(logits: torch.Tensor) -> torch.Tensor:
    """(B, C) logits -> (B, C) float64 log-probabilities.

    IG and occlusion score log p(class), not the raw logit: a logit can rise while its class's probability
    falls (only differences of logits matter), and float64 keeps log p resolvable when the model is confident.
    """
    return torch.log_softmax(logits.double(), dim=-1)


def encoders_of(model: nn.Module, x: ModelInputs) -> list[tuple[str, nn.Module]]:
    """(name, encoder) for each modality the model reads and the case has: "image", "text"."""
    out = []
    if x.img is not None and model.image_encoder is not None:
        out.append(("image", model.image_encoder))
    if x.ids is not None and model.text_encoder is not None:
        out.append(("text", model.text_encoder))
    return out


def readout_row(r: torch.Tensor, name: str, model: nn.Module) -> torch.Tensor:
    """The row of a (L, L) token-to-token matrix that the heads read: [CLS]'s, or for an image encoder read out
    by the mean of its patch tokens (``image_pool="mean"``) the mean of the patch rows -> (L,)."""
    if name == "image" and model.cfg.image_pool == "mean":
        return r[1:].mean(dim=0)
    return r[0]


def cls_rows_to_raw(model: nn.Module, x: ModelInputs, cls_rows: dict[str, torch.Tensor],
                    target: int) -> RawAttribution:
    """[CLS] rows (1+N,) / (L,) -> patch grid (g,g,g) and real-token scores (n,), [CLS] itself set to 0."""
    image = tokens = None
    if "image" in cls_rows:
        g = model.cfg.grid
        image = cls_rows["image"][1:].reshape(g, g, g)
    if "text" in cls_rows:
        tokens = cls_rows["text"][: x.n_tokens].detach().cpu().double().numpy().copy()
        tokens[0] = 0.0
    return RawAttribution(target=target, image=image, tokens=tokens)


def resolve_target(logits: torch.Tensor, target: int | None) -> int:
    """The class to explain: ``target``, or the predicted class of logits (1, C) when None."""
    return int(logits[0].argmax()) if target is None else int(target)


def counting(fn: Callable[..., torch.Tensor], report: ProgressFn, total: int,
             message: str) -> Callable[..., torch.Tensor]:
    """Wrap a forward function so that each call reports progress (call k of ``total``) and can be cancelled.

    Captum owns the loops of IG and occlusion; their forward calls are the only place to look in from.
    """
    calls = [0]

    def wrapped(*args, **kwargs):
        report(calls[0] / max(total, 1), message)
        out = fn(*args, **kwargs)
        calls[0] += 1
        return out

    return wrapped
