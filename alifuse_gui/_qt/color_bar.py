"""The heatmap's colour bar: the relevance scale from 0 to 1 (the map's maximum), what the threshold hides, and
the colours the overlay paints above it, as dimmed by the overlay's opacity."""
from __future__ import annotations

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
            h = self.fontMetrics().height()
            painter.drawText(QRect(bar.left(), text_top, bar.width(), h), Qt.AlignmentFlag.AlignLeft, "0")
            painter.drawText(QRect(bar.left(), text_top, bar.width(), h), Qt.AlignmentFlag.AlignRight,
                             "1 = max")
            label = f"threshold {self.threshold:.2f}"
            w = self.fontMetrics().horizontalAdvance(label)
            left = min(max(x - w // 2, bar.left() + 14), bar.right() - w - 44)
            painter.drawText(QRect(left, text_top, w + 2, h), Qt.AlignmentFlag.AlignLeft, label)
        finally:
            painter.end()
