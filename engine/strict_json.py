"""Strict JSON for everything the tools print or write: NaN and infinities become ``null``, never ``NaN``.

Python's ``json`` writes ``NaN``/``Infinity`` by default, which is not JSON: strict readers (JavaScript, jq, most
languages) reject the whole document. A metric that cannot be computed (the AUC of a one-class set) is ``null``.
"""
from __future__ import annotations

import json
import math
from typing import Any, TextIO


def finite(x: Any) -> Any:
    """A copy of ``x`` (dicts, lists, tuples, numbers, numpy scalars and arrays) with non-finite floats as None."""
    if isinstance(x, bool) or x is None or isinstance(x, (str, int)):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: finite(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [finite(v) for v in x]
    if hasattr(x, "tolist"):  # numpy scalar or array
        return finite(x.tolist())
    return x


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that always gives strict JSON (``allow_nan=False`` after mapping NaN/inf to null)."""
    return json.dumps(finite(obj), allow_nan=False, **kwargs)


def dump(obj: Any, fh: TextIO, **kwargs: Any) -> None:
    fh.write(dumps(obj, **kwargs))
