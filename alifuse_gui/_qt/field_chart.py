"""Per-field relevance as a horizontal bar chart (matplotlib inside Qt)."""
from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from engine.ehr import FIELD_SPECS

#: pixels per field's bar: a label (8 pt) needs about 13, so labels never run into each other
ROW_PX = 20
#: the axis, its label and the margins
FRAME_PX = 70


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
        # as tall as its rows need: squeezed into a fixed height, ten labels overlapped
        self.setMinimumHeight(max(120, FRAME_PX + ROW_PX * len(values)))
        ax = self.axes
        ax.clear()
        names = list(values)[::-1]
        ax.barh([FIELD_SPECS[n].label if n in FIELD_SPECS else n for n in names],
                [values[n] for n in names], color="#1e5adc")
        ax.set_xlabel("share of the record's relevance", fontsize=8)
        ax.tick_params(labelsize=8)
        if not values:
            ax.set_yticks([])
            ax.text(0.5, 0.5, "no explanation yet", ha="center", va="center", transform=ax.transAxes)
        self.draw_idle()
