"""Per-field relevance as a horizontal bar chart (matplotlib inside Qt)."""
from __future__ import annotations

from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
from matplotlib.figure import Figure

from engine.ehr import FIELD_SPECS


class FieldChart(FigureCanvasQTAgg):
    def __init__(self) -> None:
        self.figure = Figure(figsize=(3.2, 2.2), tight_layout=True)
        super().__init__(self.figure)
        self.axes = self.figure.add_subplot(111)
        self.values: dict[str, float] = {}
        self.set_values({})

    def set_values(self, values: dict[str, float]) -> None:
        """``values``: field name -> relevance (any sign), drawn top-down in the given order."""
        self.values = dict(values)
        ax = self.axes
        ax.clear()
        names = list(values)[::-1]
        ax.barh([FIELD_SPECS[n].label if n in FIELD_SPECS else n for n in names],
                [values[n] for n in names], color="#1e5adc")
        ax.set_xlabel("relevance")
        ax.tick_params(labelsize=7)
        if not values:
            ax.text(0.5, 0.5, "no explanation yet", ha="center", va="center", transform=ax.transAxes)
        self.draw_idle()
