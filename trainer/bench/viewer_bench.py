"""Viewer figures: ``alifuse-gui`` started in a subprocess under the current X display.

alifuse-gui has no switch that exits after the first image or the first prediction, so the figure is
``alifuse-gui --screenshot`` end to end (start, open the demo case, predict, explain, save a PNG, exit): an
upper bound of both the time to the first image and the time to the first prediction.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from trainer.bench.machine import load_average
from trainer.bench.results import Results

NO_HOOK = ("alifuse-gui has no option to exit after the first image / first prediction; "
           "viewer.screenshot_s times --screenshot end to end and bounds it from above")


def bench_viewer(res: Results, workdir: Path, repeats: int, timeout_s: float = 300.0) -> None:
    for name in ("viewer.first_image_s", "viewer.first_prediction_s"):
        res.skip(name, NO_HOOK)
    if not os.environ.get("DISPLAY"):
        res.skip("viewer.screenshot_s", "no DISPLAY: run under an X server (e.g. xvfb-run -a alifuse-bench)")
        return
    times, loads = [], [load_average()]
    for i in range(max(1, repeats)):
        png = workdir / f"viewer-{i}.png"
        cmd = [sys.executable, "-m", "alifuse_gui.app", "--screenshot", str(png)]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            res.skip("viewer.screenshot_s", f"alifuse-gui --screenshot did not finish in {timeout_s:.0f} s")
            return
        dt = time.perf_counter() - t0
        if proc.returncode != 0 or not png.is_file():
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            res.skip("viewer.screenshot_s", f"alifuse-gui --screenshot failed (exit {proc.returncode}): {last}")
            return
        times.append(dt)
    loads.append(load_average())
    times.sort()
    res.add("viewer.screenshot_s", times[len(times) // 2], repeats=len(times), all_s=[round(t, 3) for t in times],
            load_average_before_after=loads, display=os.environ.get("DISPLAY"),
            what="alifuse-gui --screenshot: start, demo case, predict, explain, PNG, exit")
