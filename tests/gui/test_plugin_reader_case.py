"""Plain napari with the Alifuse docks: an MRI opened with the plugin's reader becomes the docks' case (it used to
stay a plain layer, and Predict said that no case was open)."""
from __future__ import annotations

from pathlib import Path

from alifuse_gui.layers import MRI_LAYER
from alifuse_gui.plugin import READER_MARK
from engine.resources import DEMO_IMAGE


def _case_opened(qtbot, session) -> None:
    qtbot.waitUntil(lambda: session.volume is not None, timeout=20_000)
    assert Path(session.volume.path).resolve() == Path(DEMO_IMAGE).resolve()
    layers = session.viewer.layers
    assert not [layer.name for layer in layers if layer.metadata.get(READER_MARK)], "the reader's layer gave way"
    assert [layer.name for layer in layers].count(MRI_LAYER) == 1


def test_an_mri_opened_after_the_docks_becomes_the_case(make_napari_viewer, qtbot):
    from alifuse_gui._qt.session import session_for

    viewer = make_napari_viewer()
    viewer.window.add_plugin_dock_widget("alifuse-viewer", "Predict")
    session = session_for(viewer)
    assert session.volume is None
    viewer.open(str(DEMO_IMAGE), plugin="alifuse-viewer")
    _case_opened(qtbot, session)
    assert session.predict_panel.predict_button.isEnabled()


def test_an_mri_opened_before_the_docks_becomes_the_case_when_they_open(make_napari_viewer, qtbot):
    from alifuse_gui._qt.session import session_for

    viewer = make_napari_viewer()
    viewer.open(str(DEMO_IMAGE), plugin="alifuse-viewer")
    assert [layer.metadata.get(READER_MARK) for layer in viewer.layers] == [True]
    viewer.window.add_plugin_dock_widget("alifuse-viewer", "Record")
    _case_opened(qtbot, session_for(viewer))


def test_a_reader_layer_the_case_cannot_take_stays_as_it_was(make_napari_viewer, qtbot, monkeypatch):
    """If opening the case fails (it says why), the user keeps the plain layer, and it is not tried again."""
    from alifuse_gui._qt.session import session_for

    viewer = make_napari_viewer()
    viewer.window.add_plugin_dock_widget("alifuse-viewer", "Predict")
    session = session_for(viewer)
    tries = []
    monkeypatch.setattr(session, "open_image", lambda path, same_patient=False: tries.append(path) or False)
    viewer.open(str(DEMO_IMAGE), plugin="alifuse-viewer")
    qtbot.waitUntil(lambda: len(tries) == 1, timeout=20_000)
    qtbot.wait(200)  # the layer was put back: had it kept its mark, this would have started a second try
    assert len(tries) == 1 and session.volume is None
    assert [layer.name for layer in viewer.layers] == [MRI_LAYER]
    assert not viewer.layers[0].metadata.get(READER_MARK)


def _copies(tmp_path: Path) -> list[str]:
    paths = [tmp_path / f"{name}.nii.gz" for name in ("first", "second", "last")]
    for p in paths:
        p.write_bytes(Path(DEMO_IMAGE).read_bytes())
    return [str(p) for p in paths]


def _one_case_from_the_last(qtbot, session, paths: list[str]) -> None:
    qtbot.waitUntil(lambda: session.volume is not None and Path(session.volume.path).name == "last.nii.gz",
                    timeout=20_000)
    qtbot.wait(200)  # had an earlier layer been taken after the last one, another case would be opening now
    assert Path(session.volume.path).name == "last.nii.gz"
    assert not any(layer.metadata.get(READER_MARK) for layer in session.viewer.layers), \
        "no layer keeps the mark: a copy of one (Duplicate Layer) would become a new case"


def test_of_several_mris_opened_at_once_the_last_is_the_case(make_napari_viewer, qtbot, tmp_path):
    """napari reads the files in turns of the event loop, so each may open in turn: what is checked is where it ends
    (the last file is the case, no layer keeps the mark). The batching is checked by the test after this one."""
    from alifuse_gui._qt.session import session_for

    viewer = make_napari_viewer()
    viewer.window.add_plugin_dock_widget("alifuse-viewer", "Predict")
    session = session_for(viewer)
    paths = _copies(tmp_path)
    viewer.open(paths, plugin="alifuse-viewer", stack=False)
    _one_case_from_the_last(qtbot, session, paths)


def test_mris_waiting_for_the_first_dock_are_one_case_the_last(make_napari_viewer, qtbot, tmp_path):
    from alifuse_gui._qt.session import session_for

    viewer = make_napari_viewer()
    paths = _copies(tmp_path)
    for p in paths:
        viewer.open(p, plugin="alifuse-viewer")
    viewer.window.add_plugin_dock_widget("alifuse-viewer", "Record")
    _one_case_from_the_last(qtbot, session_for(viewer), paths)
