"""Explanations of one prediction: relevance maps over the MRI and relevance of words and EHR fields.

Methods: "relevance" (Chefer et al. 2021, the default and the paper's), "integrated_gradients" (captum),
"occlusion" (captum on the image, words and fields on the text), "attention" (raw last-block attention).

The heavy parts (captum, the model) load on first use, so a command line can list the methods cheaply.
"""
from __future__ import annotations

import importlib
from typing import Any

METHODS: tuple[str, ...] = ("relevance", "integrated_gradients", "occlusion", "attention")

_LAZY = {
    "Explanation": "engine.explain.api",
    "explain": "engine.explain.api",
    "save_explanation": "engine.explain.api",
    "ExplanationCancelled": "engine.explain.base",
}

__all__ = ["METHODS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.explain' has no attribute {name!r}")
