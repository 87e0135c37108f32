"""Per-field relevance as a horizontal bar chart (matplotlib inside Qt)."""
from __future__ import annotations

import textwrap

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from alifuse_gui.record_model import form_label

#: pixels per field's bar: a label (8 pt) needs about 13, so labels never run into each other
ROW_PX = 20
#: what each further line of a wrapped label adds to every row: half a line (8 pt), as its neighbours have one line
LINE_PX = 6
#: a label longer than this goes on two lines: one long label beside the bars would squeeze all of them
LABEL_CHARS = 26
#: the axis, its label and the margins
FRAME_PX = 70


def chart_label(name: str) -> str:
    """A field as the record form names it, units included (``form_label``), wrapped at ``LABEL_CHARS``."""
    return "\n".join(textwrap.wrap(form_label(name), LABEL_CHARS)) or name


class FieldChart(FigureCanvasQTAgg):
    def __init__(self) -> None:
        self.figure = Figure(figsize=(3.2, 2.2), layout="constrained")
        super().__init__(self.figure)
        self.axes = self.figure.add_subplot(111)
        self.values: dict[str, float] = {}
        self.set_values({})

    def set_values(self, values: dict[str, float]) -> None:
        """``values``: field name -> relevance (any sign), drawn top-down in the given order."""
        self.values = dict(values)
        names = list(values)[::-1]
        labels = [chart_label(n) for n in names]
        lines = max((label.count("\n") + 1 for label in labels), default=1)
        # as tall as its rows need: squeezed into a fixed height, ten labels overlapped
        self.setMinimumHeight(max(120, FRAME_PX + (ROW_PX + LINE_PX * (lines - 1)) * len(values)))
        ax = self.axes
        ax.clear()
        ax.barh(labels, [values[n] for n in names], color="#1e5adc")
        ax.set_xlabel("share of the record's relevance", fontsize=8)
        ax.tick_params(labelsize=8)
        if not values:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "no explanation yet", ha="center", va="center", transform=ax.transAxes)
        self.draw_idle()
