"""The model's text with each word shaded by its relevance (blue), the value shown on hover."""
from __future__ import annotations

import html
import math

from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QTextBrowser, QToolTip, QWidget

from alifuse_gui.record_model import form_label

#: the box grows with its words up to this height (px), then scrolls: a long summary must not push the field
#: chart out of the dock
MAX_HEIGHT = 260
#: an empty box keeps room for about two lines, so the panel does not jump when the words arrive
MIN_HEIGHT = 56


def word_html(words: list[str], relevance: list[float]) -> str:
    """HTML spans shaded by |relevance| / max |relevance|; each word an anchor ``w<i>`` for hover lookup."""
    top = max((abs(r) for r in relevance), default=0.0) or 1.0
    spans = []
    for i, (w, r) in enumerate(zip(words, relevance)):
        a = abs(r) / top
        fg = "#ffffff" if a > 0.6 else "#000000"
        spans.append(f'<a href="w{i}" style="text-decoration:none; color:{fg}; '
                     f'background-color: rgba(30, 90, 220, {a:.3f});">{html.escape(w)}</a>')
    return '<p style="line-height: 150%;">' + " ".join(spans) + "</p>"


class WordView(QTextBrowser):
    """Read-only shaded text; hovering a word shows its relevance and the EHR field it came from."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setOpenLinks(False)
        # shading is defined against white paper: napari's dark theme would hide unshaded (black) words
        self.setStyleSheet("QTextBrowser { background-color: #ffffff; color: #000000; }")
        self.setMouseTracking(True)
        self.words: list[str] = []
        self.relevance: list[float] = []
        self.fields: list[str] = []

    def fit_height(self) -> int:
        """Make the box as tall as its words at its present width (between MIN_HEIGHT and MAX_HEIGHT); returns
        that height. A fixed cap cut the last line in half and hid the rest behind a scroll bar."""
        document = self.document()
        document.setTextWidth(self.viewport().width())  # the wrap the box will show
        chrome = self.height() - self.viewport().height()  # frame, padding, a horizontal scroll bar
        height = max(MIN_HEIGHT, min(MAX_HEIGHT, math.ceil(document.size().height()) + chrome))
        if height != self.height() or self.minimumHeight() != height:
            self.setFixedHeight(height)
        return height

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # the words wrap anew: more or fewer lines
            self.fit_height()

    def set_words(self, words: list[str], relevance: list[float], fields: list[str] | None = None) -> None:
        self.words, self.relevance = list(words), [float(r) for r in relevance]
        self.fields = list(fields) if fields else [""] * len(self.words)
        self.setHtml(word_html(self.words, self.relevance))
        self.fit_height()

    def tooltip_for(self, index: int) -> str:
        field = f" ({form_label(self.fields[index])})" if self.fields[index] else ""  # as the form names it
        return f"{self.words[index]}{field}: relevance {self.relevance[index]:.3f}"

    def viewportEvent(self, event) -> bool:  # noqa: N802 - Qt override
        if event.type() == QEvent.Type.ToolTip:
            anchor = self.anchorAt(event.pos())
            if anchor.startswith("w") and anchor[1:].isdigit() and int(anchor[1:]) < len(self.words):
                QToolTip.showText(event.globalPos(), self.tooltip_for(int(anchor[1:])), self)
            else:
                QToolTip.hideText()
            return True
        return super().viewportEvent(event)
