"""The viewer's launch-timing hook that alifuse-bench reads."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from engine.resources import DEMO_IMAGE


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("DISPLAY"), reason="needs an X server (the test command runs under Xvfb)")
@pytest.mark.skipif(not DEMO_IMAGE.is_file(), reason="the demo case is not installed")
def test_exit_after_first_prediction_reports_both_times():
    env = dict(os.environ, ALIFUSE_GUI_EXIT_AFTER="first-prediction")
    proc = subprocess.run([sys.executable, "-m", "alifuse_gui.app"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads([x for x in proc.stdout.splitlines() if x.startswith("{")][-1])
    assert 0 < out["first_image_s"] < out["model_ready_s"] < out["first_prediction_s"]
    # the first image is drawn without torch: the prediction loads it (issue 6)
    assert out["torch_loaded_at_first_image"] is False
    # the garbage collector, paused for the start-up, is on again once the image is drawn
    assert out["gc_enabled_at_first_image"] is True
    # the model loaded in the background after the image was the one the prediction used
    assert out["prediction_used_warm_model"] is True
    # the viewer's torch threads sleep when idle, as nothing else asked for (OMP_WAIT_POLICY unset by the test)
    assert out["omp_wait_policy"] == (os.environ.get("OMP_WAIT_POLICY") or "PASSIVE")
    bad = subprocess.run([sys.executable, "-m", "alifuse_gui.app"], capture_output=True, text=True, timeout=600,
                         env=dict(os.environ, ALIFUSE_GUI_EXIT_AFTER="never"))
    assert bad.returncode == 2 and "ALIFUSE_GUI_EXIT_AFTER" in bad.stderr
