"""napari's Plugins menu finds the Alifuse panels: the npe2 manifest is installed through the entry point."""
from __future__ import annotations

from npe2 import PluginManager


def test_napari_discovers_the_alifuse_plugin_and_its_widgets():
    pm = PluginManager()
    pm.discover()
    manifest = pm.get_manifest("alifuse-viewer")
    assert manifest.display_name == "Alifuse Viewer"
    widgets = {w.display_name for w in manifest.contributions.widgets}
    assert {"Record", "Predict", "Explain"} <= widgets
    readers = manifest.contributions.readers
    assert any("*.nii.gz" in r.filename_patterns for r in readers)
    # every command points at an importable callable
    for cmd in manifest.contributions.commands:
        module, _, name = cmd.python_name.partition(":")
        assert callable(getattr(__import__(module, fromlist=[name]), name)), cmd.python_name
