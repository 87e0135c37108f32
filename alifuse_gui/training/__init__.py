"""Training from the viewer without Qt: the run-folder reader, the progress model and the command builder.

The GUI starts ``alifuse-train`` as a separate process and follows it through these pieces, so they are
testable (and usable from scripts) without a display.
"""
from alifuse_gui.training.launcher import PRESETS, TrainLauncher, TrainSettings, parse_settings
from alifuse_gui.training.progress import RunMonitor
from alifuse_gui.training.run_folder import RunFolder, open_run, parse_event_line, read_events

__all__ = ["PRESETS", "RunFolder", "RunMonitor", "TrainLauncher", "TrainSettings", "open_run",
           "parse_event_line", "parse_settings", "read_events"]
