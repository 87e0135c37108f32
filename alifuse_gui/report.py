"""The case report: a three-page PDF a clinician or researcher can file or send (Qt-free).

Page 1 the scan, the record (the summary's unread words marked), the prediction with its certainty and what it
rests on, and the model; page 2 orthogonal MRI slices with the relevance heatmap, as the viewer shows them;
page 3 the clinical text shaded by word relevance and the relevance per EHR field. Every page carries the
statement "Research tool, not a medical device." Text stays text in the PDF (searchable, copyable).
"""
from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure
from matplotlib.text import Text

from alifuse_gui.overlay_style import OverlayStyle
from alifuse_gui.report_pages import DISCLAIMER, new_page, page_record, page_slices, page_text
from engine.checkpoint import CheckpointInfo
from engine.errors import AlifuseInputError
from engine.imageio import Volume

if TYPE_CHECKING:
    from engine.explain.api import Explanation
    from engine.predict import Prediction

PAGES = 3

__all__ = ["DISCLAIMER", "PAGES", "report_pages", "write_report"]


def report_pages(volume: Volume, ehr: dict[str, Any], prediction: "Prediction",
                 explanation: "Explanation | None", info: CheckpointInfo, stamp: str, *,
                 radiological: bool = False, style: OverlayStyle | None = None,
                 reliance: Any | None = None) -> list[Figure]:
    """The report's pages as A4 figures (for the PDF, or a PNG preview); ``stamp`` is the date line.

    ``radiological`` and ``style`` are the viewer's convention and overlay settings (the screen on paper);
    ``reliance`` what the prediction rests on, measured at Predict (the explanation's, when it has one).
    """
    method = getattr(explanation, "method", None) if explanation is not None else None
    fig1 = new_page("Alifuse case report", 1, PAGES, stamp)
    reliance = getattr(explanation, "reliance", None) or reliance
    page_record(fig1, volume, ehr, prediction, info, method, stamp, reliance)
    fig2 = new_page("MRI and relevance", 2, PAGES, stamp)
    page_slices(fig2, volume, explanation, radiological, style)
    fig3 = new_page("Clinical text and relevance", 3, PAGES, stamp)
    page_text(fig3, prediction, explanation)
    for fig in (fig1, fig2, fig3):
        _no_ligatures(fig)
    return [fig1, fig2, fig3]


def _no_ligatures(fig: Figure) -> None:
    """Draw 'fi' as two letters: a ligature glyph would break search and copy-paste of the PDF's text."""
    for t in fig.findobj(Text):
        if hasattr(t, "set_fontfeatures"):   # matplotlib >= 3.11 shapes text with HarfBuzz
            t.set_fontfeatures(["-liga", "-clig"])


def write_report(path: str | Path, volume: Volume, ehr: dict[str, Any], prediction: "Prediction",
                 explanation: "Explanation | None", info: CheckpointInfo, *, radiological: bool = False,
                 style: OverlayStyle | None = None, reliance: Any | None = None) -> Path:
    """Write the PDF report of one case to ``path`` (``.pdf`` added if missing) and return its path.

    ``radiological``, ``style`` and ``reliance`` as for :func:`report_pages`.

    ``volume.data`` is the (X, Y, Z) canonical image; ``explanation.image_original`` (on the original file grid,
    in [0, 1]) is brought onto it for page 2. Written to a temporary file first, so a failure never leaves a
    half-written report behind.
    """
    path = Path(path).expanduser()
    if path.suffix.lower() != ".pdf":
        path = path.with_name(path.name + ".pdf")
    if not path.parent.is_dir():
        raise AlifuseInputError(f"{path}: the folder {path.parent} does not exist")
    now = datetime.now().astimezone()
    stamp = now.strftime("%Y-%m-%d %H:%M %Z").strip()
    label = getattr(prediction, "label", "?")
    if getattr(prediction, "verdict", "") == "uncertain":
        label = f"uncertain (most likely {label})"
    meta = {"Title": f"Alifuse case report: {label}", "Author": "Alifuse Viewer",
            "Subject": DISCLAIMER, "Keywords": f"Alifuse; {info.checkpoint_id}", "CreationDate": now}

    fd, tmp = tempfile.mkstemp(prefix=path.stem + ".", suffix=".pdf.tmp", dir=path.parent)
    os.close(fd)
    try:
        # Type 3 fonts keep every string as text in the content stream; the result does not depend on rcParams.
        with matplotlib.rc_context({"pdf.fonttype": 3, "font.family": "DejaVu Sans"}), \
                PdfPages(tmp, metadata=meta) as pdf:
            for fig in report_pages(volume, ehr, prediction, explanation, info, stamp, radiological=radiological,
                                    style=style, reliance=reliance):
                pdf.savefig(fig)
        os.chmod(tmp, 0o644)   # mkstemp makes it private; a report is meant to be shared
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise AlifuseInputError(f"{path}: cannot write the report ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
