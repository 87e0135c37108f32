"""Viewer figures: ``alifuse-gui`` started in a subprocess under the current X display.

Time to the first image and to the first prediction come from the viewer itself
(``ALIFUSE_GUI_EXIT_AFTER=first-prediction`` prints both, counted from the process's start, and exits);
``alifuse-gui --screenshot`` end to end (start, demo case, predict, explain, PNG, exit) is timed as well.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from trainer.bench.machine import load_average
from trainer.bench.results import Results

#: the keys of the viewer's timing line (ALIFUSE_GUI_EXIT_AFTER=first-prediction), each a figure viewer.<key>
LAUNCH_KEYS = ("first_image_s", "model_ready_s", "first_prediction_s")


def bench_viewer(res: Results, workdir: Path, repeats: int, timeout_s: float = 300.0) -> None:
    if not os.environ.get("DISPLAY"):
        for name in (*(f"viewer.{k}" for k in LAUNCH_KEYS), "viewer.screenshot_s"):
            res.skip(name, "no DISPLAY: run under an X server (e.g. xvfb-run -a alifuse-bench)")
        return
    _bench_first_image(res, repeats, timeout_s)
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


def _bench_first_image(res: Results, repeats: int, timeout_s: float) -> None:
    """Medians of the viewer's own launch timings (demo case, demo model)."""
    env = dict(os.environ, ALIFUSE_GUI_EXIT_AFTER="first-prediction")
    runs: list[dict] = []
    loads = [load_average()]
    for _ in range(max(1, repeats)):
        try:
            proc = subprocess.run([sys.executable, "-m", "alifuse_gui.app"], capture_output=True, text=True,
                                  timeout=timeout_s, env=env)
        except subprocess.TimeoutExpired:
            res.skip("viewer.first_image_s", f"alifuse-gui did not show the demo case in {timeout_s:.0f} s")
            return
        lines = [x for x in proc.stdout.splitlines() if x.startswith("{")]
        if proc.returncode != 0 or not lines:
            last = (proc.stderr.strip().splitlines() or ["no message"])[-1]
            for key in LAUNCH_KEYS:
                res.skip(f"viewer.{key}", f"alifuse-gui failed (exit {proc.returncode}): {last}")
            return
        runs.append(json.loads(lines[-1]))
    loads.append(load_average())
    for key in LAUNCH_KEYS:
        values = sorted(r[key] for r in runs)
        res.add(f"viewer.{key}", values[len(values) // 2], repeats=len(values), all_s=values,
                load_average_before_after=loads, what=f"seconds from process start to the {key[:-2].replace('_', ' ')}")
