"""The viewer's fast start (issue 6): what waits until the first image is drawn, and that it then arrives."""
from __future__ import annotations

import gc
import subprocess
import sys

import nibabel as nib
import numpy as np
import pytest

from engine.errors import AlifuseInputError
from alifuse_gui.layers import MRI_LAYER


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


def _python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.strip()


def test_device_cpu_and_the_window_modules_import_no_torch_or_matplotlib():
    out = _python(
        "import sys\n"
        "from engine.cli_common import resolve_device_name\n"
        "assert resolve_device_name('cpu') == 'cpu'\n"
        "import alifuse_gui.app, alifuse_gui._qt.session, alifuse_gui._qt.menus, alifuse_gui._qt.dropping\n"
        "import alifuse_gui._qt.explain_panel, alifuse_gui._qt.predict_panel, alifuse_gui._qt.record_form\n"
        "from alifuse_gui.record_model import RecordModel\n"
        "m = RecordModel(); m.set_dict({'age': 70, 'mmse': 26})\n"
        "assert m.preview() == [('age', 'The age is 70 years.'), ('mmse', 'The MMSE score is 26.')], m.preview()\n"
        "print(sorted(x for x in ('torch', 'matplotlib', 'transformers') if x in sys.modules))\n")
    assert out == "[]"


def test_a_checkpoint_and_device_auto_are_checked_without_torch(tiny_checkpoint, tmp_path):
    """--checkpoint (its metadata) and --device auto wait for nothing heavy: torch comes after the first image."""
    out = _python(
        "import sys\n"
        "from alifuse_gui.app import plan_from_args\n"
        f"plan = plan_from_args(['--checkpoint', {str(tiny_checkpoint)!r}, '--device', 'auto'])\n"
        "print(plan.device, plan.checkpoint.name, 'torch' in sys.modules)\n")
    assert out == "auto tiny.safetensors False"
    # a damaged checkpoint is still refused before the window, with the file named
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x80\x04pickle")
    proc = subprocess.run([sys.executable, "-m", "alifuse_gui.app", "--checkpoint", str(bad)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 2 and "bad.safetensors" in proc.stderr and "pickled" in proc.stderr


def test_the_model_resolves_device_auto():
    import torch

    from engine.predict import Predictor

    predictor = Predictor(None, "auto")
    assert predictor.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    with pytest.raises(AlifuseInputError, match="--device tpu"):
        Predictor(None, "tpu")


def test_device_errors_stay_early_and_name_the_option():
    from engine.cli_common import resolve_device_name
    from engine.errors import AlifuseInputError

    with pytest.raises(AlifuseInputError, match="--device tpu"):
        resolve_device_name("tpu")
    assert resolve_device_name("auto") in ("cpu", "cuda")
    import torch

    if not torch.cuda.is_available():
        with pytest.raises(AlifuseInputError, match="--device cuda: no CUDA GPU"):
            resolve_device_name("cuda")


def test_menu_feature_check_finds_modules_without_importing_them():
    out = _python(
        "import sys\n"
        "from alifuse_gui._qt.menus import feature_available\n"
        "print(feature_available('alifuse_gui.report', 'write_report'), 'alifuse_gui.report' in sys.modules,\n"
        "      feature_available('alifuse_gui.not_installed', 'Dialog'), feature_available('no_such_pkg.mod', 'x'))\n")
    assert out == "True False False False"
    # once imported, the named function is checked too
    from alifuse_gui._qt.menus import feature_available

    __import__("alifuse_gui.report")
    assert feature_available("alifuse_gui.report", "write_report")
    assert not feature_available("alifuse_gui.report", "no_such_function")


def test_launch_shows_the_case_first_then_builds_the_linked_views(make_napari_viewer, qtbot, tiny_checkpoint,
                                                                   tmp_path):
    from alifuse_gui.app import launch, plan_from_args

    x, y, z = np.mgrid[0:20, 0:24, 0:18]
    data = np.where(((x - 10) / 8) ** 2 + ((y - 12) / 10) ** 2 + ((z - 9) / 7) ** 2 < 1, 150.0, 0).astype(np.float32)
    image = tmp_path / "case.nii.gz"
    nib.save(nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0])), str(image))
    viewer = make_napari_viewer(show=True)
    session = launch(plan_from_args([str(image), "--checkpoint", str(tiny_checkpoint)]), viewer)
    views = session.views
    # before the window has drawn: the case is in the main view; the linked views and the chart wait
    assert MRI_LAYER in viewer.layers and not views.built and views.models == {}
    assert session.explain_panel._chart is None
    assert views.widget.count() == 2 and views.dock is not None
    qtbot.waitUntil(lambda: views.built and session.explain_panel._chart is not None, timeout=60_000)
    assert list(views.qt_viewers) == ["coronal", "sagittal"]
    assert [views.widget.widget(i) for i in range(2)] == list(views.qt_viewers.values())
    for model in views.models.values():
        assert MRI_LAYER in model.layers
        assert tuple(model.dims.current_step) == tuple(viewer.dims.current_step)
    step = list(viewer.dims.current_step)
    step[2] = 3
    viewer.dims.current_step = tuple(step)
    assert views.models["coronal"].dims.current_step[2] == 3
    viewer.layers[MRI_LAYER].contrast_limits = (100.0, 140.0)
    assert tuple(views.models["sagittal"].layers[MRI_LAYER].contrast_limits) == (100.0, 140.0)
    assert session.explain_panel.chart.values == {}
    session.finish_startup()  # a second call changes nothing
    assert len(views.models["coronal"].layers) == 1
    # the model loads in the background once the image is up; Predict then uses that model, not a new one
    qtbot.waitUntil(lambda: session.predictor is not None, timeout=60_000)
    warmed = session.predictor
    assert warmed.info.path == str(tiny_checkpoint)
    assert session.warm_up_model() is None
    session.predict_panel.run_now()
    assert session.predictor is warmed and session.last_prediction is not None


def test_choosing_a_model_while_the_warm_up_loads_does_not_wait_for_it(make_napari_viewer, tiny_checkpoint):
    from alifuse_gui._qt.session import AlifuseSession

    session = AlifuseSession(make_napari_viewer(), None)
    with session._model_lock:  # as while the warm-up loads the demo model (waiting here would never end)
        assert session.load_checkpoint(tiny_checkpoint)
    assert session.predictor.info.path == str(tiny_checkpoint)
    session.adopt_model(object(), None)  # the warm-up's demo model, finished later, is not put in
    assert session.predictor.info.path == str(tiny_checkpoint)


def test_the_model_card_reads_the_demo_model_without_waiting_for_the_warm_up(make_napari_viewer):
    from alifuse_gui._qt.menus import current_info
    from alifuse_gui._qt.session import AlifuseSession
    from engine.resources import DEMO_CHECKPOINT

    if not DEMO_CHECKPOINT.is_file():
        pytest.skip("the demo model is not installed")
    session = AlifuseSession(make_napari_viewer(), None)
    with session._model_lock:  # as while the warm-up loads the demo model (waiting here would never end)
        info = current_info(session)
    assert info.path == str(DEMO_CHECKPOINT) and info.checkpoint_id
    assert session.predictor is None  # read from the file's metadata, nothing loaded


def test_background_model_load_never_replaces_a_newer_choice(make_napari_viewer, tiny_checkpoint, tmp_path):
    import weakref

    from alifuse_gui._qt.session import AlifuseSession, _load_in_background

    session = AlifuseSession(make_napari_viewer(), tiny_checkpoint)
    ref, lock = weakref.ref(session), session._model_lock
    # the user chose another model while the warm-up was loading the first one: the warm-up gives way
    session.checkpoint = tmp_path / "other.safetensors"
    _load_in_background(ref, lock, tiny_checkpoint, "cpu")
    assert session.predictor is None
    # same model, none loaded yet: the warm-up's model is the session's
    session.checkpoint = tiny_checkpoint
    _load_in_background(ref, lock, tiny_checkpoint, "cpu")
    assert session.predictor is not None and session.predictor.info.path == str(tiny_checkpoint)
    # a broken checkpoint: the warm-up says nothing, the user's Predict says what is wrong
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a checkpoint")
    session.predictor, session.checkpoint = None, broken
    _load_in_background(ref, lock, broken, "cpu")
    assert session.predictor is None
    with pytest.raises(AlifuseInputError, match="broken.safetensors"):
        session.ensure_model()
    assert not lock.locked()  # a failed load leaves the model lock free


def test_views_closed_before_they_were_built_are_never_built(make_napari_viewer):
    from alifuse_gui._qt.session import AlifuseSession

    session = AlifuseSession(make_napari_viewer(), None, deferred_startup=True)
    session.views.close()
    session.finish_startup()
    assert not session.views.built and session.views.models == {}


def test_launch_clock_counts_from_this_process_start():
    """The bench's seconds count from the process start, not from a boot time rounded to whole seconds."""
    import time

    launched = time.time()
    out = _python(
        "import time\n"
        "from alifuse_gui.app import _seconds_since_process_start as since\n"
        "s = since()\n"
        "print(time.time(), s)\n")
    printed_at, since_start = map(float, out.split())
    started = printed_at - since_start
    # the start it implies lies between this test's launch (less one 10 ms tick) and the print; psutil's
    # create_time put it up to a second before the launch
    assert launched - 0.02 <= started <= printed_at


def test_cheap_pyside_check_gives_pysides_own_answer(tmp_path, monkeypatch):
    import inspect
    import json as json_module
    import math

    import qtpy

    from alifuse_gui._qt import workarounds
    from alifuse_gui._qt.workarounds import lighten_pyside_import_check, module_mentions_pyside

    def pysides_answer(module) -> bool:  # what PySide6 computes: "PySide6" in the module's source
        try:
            return "PySide6" in inspect.getsource(module)
        except (TypeError, OSError, SyntaxError):
            return False

    for module in (qtpy, json_module, math, workarounds, inspect):
        assert module_mentions_pyside(module) == pysides_answer(module), module.__name__
    assert module_mentions_pyside(qtpy) and not module_mentions_pyside(json_module)
    assert not module_mentions_pyside(math)  # built in: no file

    if qtpy.API_NAME != "PySide6":
        assert lighten_pyside_import_check() is False
        return
    feature = sys.modules["PySide6.support.feature"]
    # PySide6's own check (or ours, if a test in this process ran main) stands in, undone after the test
    monkeypatch.setattr(feature, "_mod_uses_pyside", lambda module: False)
    assert lighten_pyside_import_check() is True
    assert lighten_pyside_import_check() is False  # once: a second call finds it replaced
    assert feature._mod_uses_pyside is module_mentions_pyside
    # modules imported from now on are still sorted the way PySide6 sorts them
    (tmp_path / "uses_qt_here.py").write_text("# built on PySide6\nX = 1\n")
    (tmp_path / "plain_here.py").write_text("X = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("uses_qt_here")  # the import statement's path: PySide6 hooks builtins.__import__
    __import__("plain_here")
    assert feature.pyside_feature_dict["uses_qt_here"] == 0   # uses PySide: feature switching applies
    assert feature.pyside_feature_dict["plain_here"] == -1    # ignored
