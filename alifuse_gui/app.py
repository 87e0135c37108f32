"""``alifuse-gui [IMAGE] [--ehr FILE] [--checkpoint FILE]``: the desktop viewer (napari + PySide6)."""
from __future__ import annotations

import gc
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from engine.cli_common import ArgumentParser, fail, prefer_sleeping_threads, resolve_device_name
from engine.errors import AlifuseInputError
from engine.explain import DEFAULT_METHOD


def build_parser() -> ArgumentParser:
    p = ArgumentParser(prog="alifuse-gui",
                       description="Open a brain MRI and a health record, predict NC / MCI / AD with Alifuse and "
                                   "see why. With no arguments it opens the bundled demo case with the demo model. "
                                   "A research tool, not a medical device.")
    p.add_argument("image", metavar="IMAGE", nargs="?",
                   help="the MRI: NIfTI (.nii, .nii.gz), MGZ, Analyze, or a folder holding one DICOM series "
                        "(default: the demo case)")
    p.add_argument("--ehr", metavar="FILE", help="the health record as a JSON object (default: the demo record "
                                                 "when the demo image is opened)")
    p.add_argument("--checkpoint", metavar="FILE", help="an Alifuse .safetensors checkpoint (default: the demo model)")
    p.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto (default: cpu)")
    p.add_argument("--radiological", action="store_true",
                   help="show the patient's right on the screen's left (radiological convention)")
    p.add_argument("--screenshot", metavar="FILE",
                   help="open the case, predict, explain, save the window as a PNG to FILE and exit")
    p.add_argument("--method", default=DEFAULT_METHOD,
                   help=f"explanation method for --screenshot (default: {DEFAULT_METHOD})")
    return p


@dataclass
class LaunchPlan:
    """What to open, checked before any window appears (bad input -> one line, exit 2)."""

    image: Path | None
    volume: object | None   # engine.imageio.Volume, read before the window opens
    ehr: dict | None
    checkpoint: Path | None
    device: str
    radiological: bool
    screenshot: Path | None
    method: str


def plan_from_args(argv: list[str] | None) -> LaunchPlan:
    from engine.ehr import load_ehr
    from engine.resources import DEMO_EHR, DEMO_IMAGE

    args = build_parser().parse_args(argv)
    # torch is imported once the first image is drawn, by the model's loading; "auto" cannot fail, so it is
    # resolved then too (cpu needs no torch; cuda is checked now, to say at once when there is no GPU)
    device = "auto" if args.device == "auto" else resolve_device_name(args.device)
    image = Path(args.image) if args.image else None
    ehr_path = Path(args.ehr) if args.ehr else None
    if image is None and DEMO_IMAGE.exists():
        image = DEMO_IMAGE
        if ehr_path is None and DEMO_EHR.is_file():
            ehr_path = DEMO_EHR
    if image is not None and not image.exists():
        raise AlifuseInputError(f"{image}: image not found")
    ehr = load_ehr(ehr_path) if ehr_path else None
    checkpoint = Path(args.checkpoint) if args.checkpoint else None
    if checkpoint is not None:
        from engine.checkpoint_info import read_info  # the metadata only: no torch before the window

        if checkpoint.suffix != ".safetensors":
            raise AlifuseInputError(f"--checkpoint {checkpoint}: not a .safetensors file")
        read_info(checkpoint)
    shot = Path(args.screenshot) if args.screenshot else None
    if shot is not None:
        if shot.suffix.lower() != ".png":
            raise AlifuseInputError(f"--screenshot {shot}: the file name must end in .png")
        if not shot.parent.is_dir():
            raise AlifuseInputError(f"--screenshot {shot}: folder {shot.parent} does not exist")
        if image is None:
            raise AlifuseInputError("--screenshot: no IMAGE given and the demo case is not installed "
                                    f"({DEMO_IMAGE})")
    volume = _load(image) if image is not None else None
    return LaunchPlan(image, volume, ehr, checkpoint, device, args.radiological, shot, args.method)


def launch(plan: LaunchPlan, viewer=None):
    """Open napari's window with the Alifuse docks and the planned case; returns the session.

    The coronal/sagittal views and the field chart are made just after the window first draws the
    case: the user sees the image about two seconds sooner (issue 6).
    """
    import napari

    from alifuse_gui._qt.session import AlifuseSession

    if viewer is None:
        viewer = napari.Viewer(title="Alifuse Viewer", show=True)
    session = AlifuseSession(viewer, plan.checkpoint, plan.device, plan.radiological, deferred_startup=True)
    if plan.volume is not None:
        session.show_case(plan.volume)  # a new case: the record given with it goes in after
    else:
        viewer.status = "The demo case is not installed: open an MRI with File → Open MRI image…"
    if plan.ehr is not None:
        session.record_form.set_record(plan.ehr)
    session.finish_startup_after_first_draw()
    return session


def _load(path: Path):
    from engine.imageio import load_volume

    return load_volume(path)


def take_screenshot(session, path: Path, method: str = DEFAULT_METHOD) -> Path:
    """Predict, explain (if the engine offers ``method``), show the Explain tab, save the whole window as it opened."""
    from qtpy.QtWidgets import QApplication

    from alifuse_gui._qt.explain_panel import available_methods

    session.finish_startup()  # the shot shows the linked views, whether or not the window has drawn yet
    session.predict_panel.run_now()
    methods = available_methods()
    if methods:
        if method not in methods:
            raise AlifuseInputError(f"--method {method}: unknown method (use {', '.join(methods)})")
        session.explain_panel.method.setCurrentText(method)
        session.explain_panel.run_now(method)
    # the window keeps the size it opened with (fitted to the screen): the shot is the live window, not a bigger one
    for _ in range(5):  # the window's first layout (it brings the Predict tab to the front) comes first
        QApplication.processEvents()
    if "explain" in session.docks:
        session.docks["explain"].show()
        session.docks["explain"].raise_()
    for _ in range(5):
        QApplication.processEvents()
    session.viewer.screenshot(str(path), canvas_only=False)
    return path


#: ``ALIFUSE_GUI_EXIT_AFTER=first-image|first-prediction``: print the seconds since the process started, as one
#: JSON line, once the window shows the first image (and the first prediction), then exit. For alifuse-bench.
EXIT_AFTER_ENV = "ALIFUSE_GUI_EXIT_AFTER"


def _seconds_since_process_start() -> float:
    """Seconds since this process started (10 ms resolution on Linux).

    Linux: the process's start tick against the uptime clock, both counted from boot. psutil's
    ``create_time`` adds the ticks to a boot time that the kernel gives in whole seconds, so it is off
    by a constant of up to a second (0.15 s on the bench machine); it is the fallback elsewhere.
    """
    try:
        stat = Path("/proc/self/stat").read_text()
        start_ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime; the name may hold spaces
        uptime_s = float(Path("/proc/uptime").read_text().split()[0])
        return uptime_s - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        import psutil

        return time.time() - psutil.Process().create_time()


def _timing_run(session, what: str, timeout_s: float = 300.0) -> int:
    """Measure the launch as a user sees it: the main canvas drawn with the image, then (optionally) a prediction.

    Besides the seconds, the line says whether torch was loaded when the image appeared (it should not
    be: it loads in the background once the image is drawn) and when the model was ready.
    """
    from qtpy.QtCore import QEventLoop, QTimer
    from qtpy.QtWidgets import QApplication

    from alifuse_gui._qt.linked_views import on_next_draw

    out: dict[str, object] = {}
    loop = QEventLoop()

    def drawn() -> None:
        out["first_image_s"] = round(_seconds_since_process_start(), 3)
        out["torch_loaded_at_first_image"] = "torch" in sys.modules
        out["gc_enabled_at_first_image"] = gc.isenabled()  # paused for the start-up, back on with the image
        out["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY")
        loop.quit()

    on_next_draw(session.viewer, drawn)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)  # never hang a benchmark on a window that never draws
    loop.exec()
    if "first_image_s" not in out:
        session.viewer.close()
        fail(f"{EXIT_AFTER_ENV}: the window did not draw the image within {timeout_s:.0f} s", 1)
    if what == "first-prediction":
        # the user can press Predict once the start-up work after the first image is done: count it. The
        # model loads in the background meanwhile (model_ready_s); a Predict pressed earlier waits for it.
        session.finish_startup()
        loading = session.warm_up_model()
        while loading is not None and loading.is_alive():
            QApplication.processEvents()
            loading.join(0.02)
        out["model_ready_s"] = round(_seconds_since_process_start(), 3)
        warmed = session.predictor
        session.predict_panel.run_now()
        out["prediction_used_warm_model"] = warmed is not None and session.predictor is warmed
        QApplication.processEvents()
        out["first_prediction_s"] = round(_seconds_since_process_start(), 3)
    print(json.dumps(out), flush=True)
    session.viewer.close()
    return 0


def _resume_gc_after_first_draw(session, fallback_s: float = 30.0) -> None:
    """Turn the garbage collector back on once the window has drawn the case (or after ``fallback_s``)."""
    from qtpy.QtCore import QTimer

    from alifuse_gui._qt.linked_views import on_next_draw

    on_next_draw(session.viewer, gc.enable)
    QTimer.singleShot(int(fallback_s * 1000), gc.enable)  # a window that never draws must not keep it off


def main(argv: list[str] | None = None) -> int:
    from alifuse_gui._qt.workarounds import collector_paused

    # the collector waits for the first image (_resume_gc_after_first_draw), and is back on however main ends
    # (a bad option, a screenshot, an error)
    with collector_paused():
        return _main(argv)


def _main(argv: list[str] | None) -> int:
    prefer_sleeping_threads()  # before torch loads: the viewer shares the laptop with the user's other programs
    try:
        plan = plan_from_args(argv)
    except AlifuseInputError as exc:
        fail(str(exc))
    exit_after = os.environ.get(EXIT_AFTER_ENV)
    if exit_after and exit_after not in ("first-image", "first-prediction"):
        fail(f"{EXIT_AFTER_ENV}={exit_after}: use first-image or first-prediction")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from alifuse_gui._qt.workarounds import apply_startup_workarounds

    apply_startup_workarounds()  # before napari's and torch's thousands of modules are imported
    import napari

    try:
        session = launch(plan)
        _resume_gc_after_first_draw(session)
        if exit_after:
            return _timing_run(session, exit_after)
        if plan.screenshot is not None:
            gc.enable()  # the shot predicts and explains before the window draws
            take_screenshot(session, plan.screenshot, plan.method)
            session.viewer.close()
            print(f"alifuse-gui: window saved to {plan.screenshot}")
            return 0
    except AlifuseInputError as exc:
        fail(str(exc))
    napari.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
