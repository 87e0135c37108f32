"""The heatmap's colour bar: the relevance scale from 0 to 1 (the map's maximum), what the threshold hides, and
the colours the overlay paints above it, as dimmed by the overlay's opacity."""
from __future__ import annotations

from typing import Callable

import numpy as np
from qtpy.QtCore import QRect, QSize, Qt
from qtpy.QtGui import QColor, QImage, QPainter, QPen
from qtpy.QtWidgets import QSizePolicy, QWidget

from alifuse_gui.overlay_style import OverlayStyle

#: drawn under the colours, as the anatomy is under the overlay (mid grey: light and dark colours both read)
UNDERLAY = np.array([0.5, 0.5, 0.5])
#: below the threshold nothing is painted: the bar shows it as this dark grey
HIDDEN = QColor("#2b2b2b")


def bar_colors(colors: np.ndarray, threshold: float, opacity: float, width: int, high: float = 1.0) -> np.ndarray:
    """(width, 3) uint8: per position 0..1 the colour the overlay gives that value over :data:`UNDERLAY` (the
    colour table spread from ``threshold`` to ``high``, its alpha times ``opacity``); below the threshold,
    :data:`HIDDEN`."""
    v = np.linspace(0.0, 1.0, width)
    rgba = OverlayStyle(np.asarray(colors, dtype=float), threshold, high, opacity).rgba(v)  # as the overlay paints
    alpha = rgba[:, 3:4]
    rgb = rgba[:, :3] * alpha + UNDERLAY * (1.0 - alpha)
    rgb[v < threshold] = np.array(HIDDEN.getRgbF()[:3])
    return np.round(rgb * 255).astype(np.uint8)


#: the room (px) kept between two labels of the scale
LABEL_GAP = 10


def scale_labels(left: int, right: int, tick: int, threshold: float,
                 width_of: Callable[[str], int]) -> list[tuple[int, str]]:
    """The labels under a bar spanning ``left``..``right`` (px, right exclusive) as (left edge, text), with the
    most words that fit without touching each other: "0", "threshold 0.61", "1 = max"; then "0.61" for the
    threshold, then "1" for the end, then the threshold's value alone. The threshold's label stays over its
    ``tick`` where the end labels leave room; a narrow bar (a docked panel) had all three printed on top of each
    other."""
    value = f"{threshold:.2f}"
    for first, middle, last in (("0", f"threshold {value}", "1 = max"), ("0", value, "1 = max"), ("0", value, "1")):
        w0, wm, w1 = width_of(first), width_of(middle), width_of(last)
        lo, hi = left + w0 + LABEL_GAP, right - w1 - LABEL_GAP - wm  # where the middle label may start
        start = min(max(tick - wm // 2, lo), hi)
        # over its tick; or as near as "0" lets it (a tick at the very left); or as near as the shortest end lets it
        near = start <= tick <= start + wm or tick < lo or last == "1"
        if lo <= hi and near:
            return [(left, first), (start, middle), (right - w1, last)]
    wm = width_of(value)
    return [(max(min(tick - wm // 2, right - wm), left), value)]


class ColorBar(QWidget):
    """The bar with its scale: "0", the threshold's tick and value, "1 = the map's maximum"."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("relevance_color_bar")
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.colors = np.zeros((2, 4))
        self.threshold = 0.5
        self.opacity = 0.6
        self.high = 1.0
        self.bar_height = 14

    def set_style(self, colors: np.ndarray, threshold: float, opacity: float, high: float = 1.0) -> None:
        """The overlay's colour table ((N, 4) RGBA in [0, 1]), threshold, opacity and top of the colour range
        (``high``: the value that gets the table's last colour), as its layer has them."""
        self.colors = np.asarray(colors, dtype=np.float64)
        self.threshold, self.opacity, self.high = float(threshold), float(opacity), float(high)
        self.setToolTip(self.caption())
        self.update()

    def caption(self) -> str:
        return (f"Relevance 0 to 1 (1 = the map's maximum); shown above the threshold {self.threshold:.2f}, "
                "darker below it: not painted")

    def bar_rect(self) -> QRect:
        return QRect(4, 2, max(self.width() - 8, 1), self.bar_height)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(240, self.bar_height + 6 + self.fontMetrics().height())

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(120, self.sizeHint().height())

    def paintEvent(self, _event) -> None:  # noqa: N802 - Qt override
        bar = self.bar_rect()
        rgb = np.ascontiguousarray(bar_colors(self.colors, self.threshold, self.opacity, bar.width(), self.high))
        image = QImage(rgb.data, bar.width(), 1, 3 * bar.width(), QImage.Format.Format_RGB888)
        painter = QPainter(self)
        try:
            painter.drawImage(bar, image)
            painter.setPen(QPen(self.palette().color(self.foregroundRole())))
            x = bar.left() + round(self.threshold * (bar.width() - 1))
            painter.drawLine(x, bar.top() - 2, x, bar.bottom() + 3)
            text_top = bar.bottom() + 3
            metrics = self.fontMetrics()
            for left, text in scale_labels(bar.left(), bar.right() + 1, x, self.threshold,
                                           metrics.horizontalAdvance):
                painter.drawText(QRect(left, text_top, metrics.horizontalAdvance(text) + 1, metrics.height()),
                                 Qt.AlignmentFlag.AlignLeft, text)
        finally:
            painter.end()
