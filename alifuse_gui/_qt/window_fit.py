"""The window on a laptop screen: docks that scroll instead of forcing the window taller, and a window that opens
within the screen's available area (1366 x 768 included)."""
from __future__ import annotations

from qtpy.QtCore import QRect, Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QWidget

#: the height a scrolled dock asks for at least: its first rows, never its whole content
SCROLLED_MIN_HEIGHT = 120


def scrolled(widget: QWidget, min_width: int = 260, area: QScrollArea | None = None) -> QScrollArea:
    """``widget`` in a vertical scroll area (``area``, or a new one): a long panel scrolls instead of setting the
    window's minimum height.

    Horizontally the panel keeps at least ``min_width`` (narrower, the scroll bar appears) so its rows are not
    squeezed into unreadable labels.
    """
    area = area if area is not None else QScrollArea()
    area.setObjectName(f"scroll_{widget.objectName() or type(widget).__name__}")
    area.setWidgetResizable(True)  # the panel fills the dock's width and grows with it
    area.setFrameShape(QFrame.Shape.NoFrame)
    area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    area.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
    widget.setMinimumWidth(min(widget.minimumSizeHint().width(), min_width))
    area.setWidget(widget)
    area.setMinimumHeight(SCROLLED_MIN_HEIGHT)
    return area


def available_geometry(window: QWidget) -> QRect | None:
    """The screen's area for windows (without task bars), of the screen the window is on."""
    screen = window.screen()
    return screen.availableGeometry() if screen is not None else None


def fit_window(window: QWidget, width: int = 1500, height: int = 950, available: QRect | None = None) -> None:
    """Size the window to at least ``width`` x ``height`` for the canvas beside the docks, but never beyond the
    ``available`` screen area (default: the window's screen) — the frame (title bar, borders) included — and move it
    inside that area."""
    area = available if available is not None else available_geometry(window)
    w, h = max(window.width(), width), max(window.height(), height)
    if area is None:
        window.resize(w, h)
        return
    # the window manager's frame: zero before the window is shown (and without a window manager)
    frame_w = max(window.frameGeometry().width() - window.width(), 0)
    frame_h = max(window.frameGeometry().height() - window.height(), 0)
    w, h = min(w, area.width() - frame_w), min(h, area.height() - frame_h)
    window.resize(w, h)
    frame = window.frameGeometry()
    x = min(max(frame.x(), area.left()), area.right() + 1 - frame.width())
    y = min(max(frame.y(), area.top()), area.bottom() + 1 - frame.height())
    if (x, y) != (frame.x(), frame.y()):
        window.move(max(x, area.left()), max(y, area.top()))
