"""Explanations of one prediction: relevance maps over the MRI and relevance of words and EHR fields.

Methods: "guided" (relevance refined per voxel by integrated gradients, the default: docs/EXPLANATIONS.md),
"relevance" (Chefer et al. 2021, the paper's), "integrated_gradients" (captum), "occlusion" (captum on the image,
words and fields on the text), "attention" (raw last-block attention).

The heavy parts (captum, the model) load on first use, so a command line can list the methods cheaply.
"""
from __future__ import annotations

import importlib
from typing import Any

#: the first is the default (DEFAULT_METHOD), the one the viewer's Explain dock shows first
METHODS: tuple[str, ...] = ("guided", "relevance", "integrated_gradients", "occlusion", "attention")
DEFAULT_METHOD = METHODS[0]

_LAZY = {
    "Explanation": "engine.explain.api",
    "explain": "engine.explain.api",
    "save_explanation": "engine.explain.api",
    "ExplanationCancelled": "engine.explain.base",
}

__all__ = ["DEFAULT_METHOD", "METHODS", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.explain' has no attribute {name!r}")
