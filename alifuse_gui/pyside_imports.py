"""Make imports after PySide6 as cheap as before it (issue 6: the viewer's start-up).

Once ``PySide6.QtCore`` is imported, PySide6 checks every module imported afterwards for the text
"PySide6" (for its opt-in ``from __feature__ import snake_case``). It does so with
``inspect.getsource``, which runs each file through ``linecache`` and ``tokenize``: for napari's and
torch's thousands of modules that is about 0.2 s before the first image and more before the first
prediction. ``lighten_pyside_import_check()`` swaps in a plain byte search of the module's file: the
same answer for every module that has a source file, a fraction of the cost.
"""
from __future__ import annotations

import sys
from types import ModuleType

#: where PySide6 keeps the check (a private module: if it moves, nothing is changed)
_FEATURE_MODULE = "PySide6.support.feature"
_CHECK = "_mod_uses_pyside"


def module_mentions_pyside(module: ModuleType) -> bool:
    """True if ``module``'s source file contains "PySide6" (False without a readable ``.py`` file)."""
    spec = getattr(module, "__spec__", None)
    origin = getattr(spec, "origin", None) or getattr(module, "__file__", None)
    if not isinstance(origin, str) or not origin.endswith(".py"):
        return False  # inspect.getsource fails on these too, and PySide6 then answers False
    try:
        with open(origin, "rb") as f:
            return b"PySide6" in f.read()
    except OSError:
        return False


def lighten_pyside_import_check() -> bool:
    """Replace PySide6's per-import source check by ``module_mentions_pyside``; True if it was replaced.

    Imports the Qt binding (through qtpy) if it is not imported yet. Does nothing under PyQt, or when the
    PySide6 version keeps the check elsewhere.
    """
    import qtpy

    if qtpy.API_NAME != "PySide6":
        return False
    feature = sys.modules.get(_FEATURE_MODULE)
    if feature is None or not callable(getattr(feature, _CHECK, None)):
        return False
    setattr(feature, _CHECK, module_mentions_pyside)
    return True
