"""Workarounds for other libraries live in alifuse_gui/_qt/workarounds.py and are applied from main(), not at
import (issue 13, item 13)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import alifuse_gui

PACKAGE = Path(alifuse_gui.__file__).parent
WORKAROUNDS = PACKAGE / "_qt" / "workarounds.py"
#: napari's private names the viewer needs; only workarounds.py may read them
NAPARI_PRIVATE = {"_qt_window", "_qt_viewer", "_scene_canvas", "_layer_slicer"}

_PROBE = """
import json, sys
base = sys.getrefcount(None)
import alifuse_gui.app, alifuse_gui.plugin, alifuse_gui._qt.session, alifuse_gui._qt.menus
feature = sys.modules.get("PySide6.support.feature")
check = getattr(feature, "_mod_uses_pyside", None)
from alifuse_gui._qt import workarounds
out = {"imported_boost": sys.getrefcount(None) - base >= workarounds.NONE_REFCOUNT_BOOST,
       "imported_check_replaced": check is workarounds.module_mentions_pyside}
out["applied"] = workarounds.apply_startup_workarounds()
out["boost"] = sys.getrefcount(None) - base >= workarounds.NONE_REFCOUNT_BOOST
out["check_replaced"] = getattr(sys.modules.get("PySide6.support.feature"), "_mod_uses_pyside", None) \\
    is workarounds.module_mentions_pyside
out["again"] = workarounds.apply_startup_workarounds()
print(json.dumps(out))
"""


def test_importing_the_viewer_changes_nothing_and_main_applies_each_workaround_once():
    res = subprocess.run([sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["imported_boost"] is False and out["imported_check_replaced"] is False
    old_python = sys.version_info < (3, 12)
    assert ("none-refcount" in out["applied"]) is old_python and out["boost"] is old_python
    assert out["again"] == []  # applied once: a second call (the plugin's docks after main) does nothing


def _private_reads(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = [f"{path.name}:{n.lineno} .{n.attr}" for n in ast.walk(tree)
             if isinstance(n, ast.Attribute) and n.attr in NAPARI_PRIVATE]
    for n in ast.walk(tree):
        if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("napari._"):
            found.append(f"{path.name}:{n.lineno} from {n.module}")
        if isinstance(n, ast.Import):
            found += [f"{path.name}:{n.lineno} import {a.name}" for a in n.names if a.name.startswith("napari._")]
    return found


def test_only_the_workarounds_module_reads_napari_private_attributes():
    reads = [r for f in sorted(PACKAGE.rglob("*.py")) if f != WORKAROUNDS for r in _private_reads(f)]
    assert reads == []
    assert _private_reads(WORKAROUNDS)  # the check does see them where they are


def test_a_napari_without_a_private_attribute_is_named(make_napari_viewer, monkeypatch):
    from alifuse_gui._qt import workarounds

    viewer = make_napari_viewer()

    class Bare:  # a napari release that moved the attribute
        pass

    with pytest.raises(RuntimeError, match=r"no layer slicer \(Bare\._layer_slicer\).*workarounds\.py"):
        workarounds.shutdown_slicer(Bare())
    assert workarounds.qt_window(viewer) is viewer.window._qt_window
