"""The PDF case report: pages, searchable text, the heatmap's slice, and a PNG preview to look at."""
from __future__ import annotations

import re
import zlib
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from scipy import ndimage

from alifuse_gui.report import DISCLAIMER, PAGES, report_pages, write_report
from alifuse_gui.report_maps import heatmap_on_canonical, slice_point
from engine.checkpoint import CheckpointInfo
from engine.config import preset
from engine.errors import AlifuseInputError
from engine.explain.api import Explanation
from engine.explain.reliance import ModalityReliance
from engine.imageio import load_volume
from engine.predict import Prediction

SHAPE = (30, 36, 28)
HOT = (5, 20, 14)            # voxel of the relevance maximum on the ORIGINAL file grid
PREVIEW_DIR = Path("/tmp/alifuse-report-preview")


def pdf_pages(data: bytes) -> int:
    try:
        import io

        import pypdf

        return len(pypdf.PdfReader(io.BytesIO(data)).pages)
    except ImportError:
        return len(re.findall(rb"/Type\s*/Page\b(?!s)", data))


def _unescape(s: bytes) -> str:
    s = re.sub(rb"\\([0-7]{1,3})", lambda m: bytes([int(m.group(1), 8)]), s)
    s = re.sub(rb"\\(.)", lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t"}.get(m.group(1), m.group(1)), s)
    return s.decode("latin-1")


def pdf_text(data: bytes) -> str:
    """The shown strings of every content stream, one text operation (TJ/Tj line, pieces joined) per line."""
    out = []
    # the end of line before "endstream" stays in ``raw``: cutting it with the pattern once cut a compressed stream
    # that itself ended in b"\r" (1 in 256 runs, the date on page 1 changes it), and that page's text was lost
    for raw in re.findall(rb"stream\r?\n(.*?)endstream", data, re.S):
        try:
            content = zlib.decompressobj().decompress(raw)  # ignores what follows the compressed data
        except zlib.error:
            continue
        pieces: list[bytes] = []
        for m in re.finditer(rb"\(((?:[^\\()]|\\.)*)\)|\[|T[Jj]\b", content):
            tok = m.group(0)
            if tok == b"[":
                pieces = []
            elif tok in (b"TJ", b"Tj"):
                out.append("".join(_unescape(p) for p in pieces))
                pieces = []
            else:
                pieces.append(m.group(1))
    return "\n".join(out)


def test_pdf_text_reads_a_stream_whose_compressed_bytes_end_in_a_carriage_return():
    for n in range(10_000):  # the last byte is the low byte of the Adler-32 sum: found within a few hundred texts
        pad = bytes([48 + n % 75]) * (1 + n // 75)
        text = b"BT (MCI  \\(65.0%\\)) Tj (" + pad + b") Tj ET"
        if zlib.compress(text).endswith(b"\r"):
            break
    assert zlib.compress(text).endswith(b"\r")
    pdf = b"<< /Filter /FlateDecode >>\nstream\n" + zlib.compress(text) + b"\nendstream\nendobj\n"  # as matplotlib
    assert pdf_text(pdf).splitlines() == ["MCI  (65.0%)", pad.decode()]


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    i, j, k = np.meshgrid(*[np.linspace(-1, 1, n) for n in SHAPE], indexing="ij")
    brain = np.exp(-(i ** 2 + j ** 2 + k ** 2) * 2) * 100 + 5 * (np.sin(8 * i) > 0)
    aff = np.diag([-2.0, 2.0, 2.5, 1.0])       # stored left-to-right flipped (LAS): reorientation matters
    aff[:3, 3] = [30, -36, -35]
    nib.save(nib.Nifti1Image(brain.astype(np.float32), aff), d / "case.nii.gz")
    vol = load_volume(d / "case.nii.gz")
    heat = np.zeros(SHAPE, np.float32)
    heat[HOT] = 1.0
    heat = ndimage.gaussian_filter(heat, 3)
    heat /= heat.max()
    ehr = {"subject_id": "sub-0007", "age": 74.0, "sex": "female", "mmse": 23, "cdr": 0.5,
           "summary": "Patient reports forgetting recent conversations for two years; daughter confirms."}
    text = ("The patient is 74 years old. The patient is female. The MMSE score is 23. The CDR is 0.5. "
            "Patient reports forgetting recent conversations for two years; daughter confirms.")
    words = text.split()
    pred = Prediction(label="MCI", probabilities={"NC": 0.2, "MCI": 0.65, "AD": 0.15}, text=text, tokens=[],
                      text_truncated=False, checkpoint_id="abc123def456", checkpoint="/models/best.safetensors",
                      trained=True, device="cpu", timings={}, notes=[])
    rel = list(np.linspace(1, 0, len(words)))
    word_field = (["age"] * 6 + ["sex"] * 4 + ["mmse"] * 5 + ["cdr"] * 4)
    word_field += ["summary"] * (len(words) - len(word_field))
    expl = Explanation(method="relevance", target_class=1, target_name="MCI",
                       image_model=np.zeros((16,) * 3, np.float32), image_original=heat, token_relevance=[],
                       word_relevance=rel, field_relevance={"age": 0.1, "sex": 0.05, "mmse": 0.5, "cdr": 0.15,
                                                            "summary": 0.2},
                       words=words, word_field=word_field, seconds=1.0,
                       reliance=ModalityReliance(("NC", "MCI", "AD"), 1, (0.2, 0.65, 0.15), (0.2, 0.649, 0.151),
                                                 (0.5, 0.3, 0.2)))
    info = CheckpointInfo(preset("tiny"), ["NC", "MCI", "AD"], "1", {"trained": True}, "abc123def456",
                          "/models/best.safetensors")
    return {"dir": d, "vol": vol, "ehr": ehr, "pred": pred, "expl": expl, "info": info, "heat": heat}


def test_report_with_explanation_has_three_pages_of_searchable_text(case):
    path = write_report(case["dir"] / "case-report", case["vol"], case["ehr"], case["pred"], case["expl"],
                        case["info"])
    assert path == case["dir"] / "case-report.pdf" and path.is_file()
    assert not list(case["dir"].glob("*.tmp"))
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    assert pdf_pages(data) == PAGES == 3
    text = pdf_text(data)
    assert DISCLAIMER in text
    assert "MCI  (65.0%)" in text                     # the label with its probability
    assert "65.0%" in text and "20.0%" in text         # probability bars are labelled
    assert "74 years" in text and "female" in text     # field values of the record
    assert "abc123def456" in text                      # model identity
    assert "Relevance for MCI (relevance)" in text
    assert "forgetting" in text                        # a shaded word on page 3
    assert "Relevance per record field" in text and "MMSE" in text
    assert "no explanation computed" not in text
    assert "What the prediction rests on" in text      # page 1: the hide-one-modality figures
    assert "Without the MRI: MCI 65.0%" in text and "the prediction moves by 0.1%" in text
    assert "Without the record: MCI 65.0%" in text and "(NC instead)" in text
    assert "This prediction hardly depends on the MRI" in text
    assert "hardly depends on the record" not in text


def test_report_without_explanation_says_so(case, tmp_path):
    pred = case["pred"]
    untrained = Prediction(**{**pred.to_dict(), "trained": False, "notes": ["the model is UNTRAINED"]})
    path = write_report(tmp_path / "r.pdf", case["vol"], case["ehr"], untrained, None, case["info"])
    data = path.read_bytes()
    assert pdf_pages(data) == 3
    text = pdf_text(data)
    assert text.count("no explanation computed") >= 3  # model identity, heatmap page and text page
    assert "UNTRAINED MODEL" in text and "NO (random weights)" in text
    assert DISCLAIMER in text
    assert "What the prediction rests on" not in text  # measured with an explanation only
    assert "not measured for this prediction" in text


def test_heatmap_is_put_on_the_canonical_grid_and_slices_go_through_its_maximum(case):
    vol = case["vol"]
    canon, notes = heatmap_on_canonical(vol, case["heat"])
    assert notes == [] and canon.shape == vol.data.shape
    ijk, why = slice_point(vol.data, canon)
    # the file is stored with x flipped (LAS), so voxel i of the file is SHAPE[0]-1-i in RAS order
    assert ijk == (SHAPE[0] - 1 - HOT[0], HOT[1], HOT[2]) and why == "through the relevance maximum"
    # same world point in both grids
    orig_world = np.array(nib.load(vol.path).affine) @ np.array([*HOT, 1.0])
    np.testing.assert_allclose(vol.affine @ np.array([*ijk, 1.0]), orig_world)
    assert slice_point(vol.data, None) == (tuple(n // 2 for n in vol.data.shape), "through the centre of the volume")


def test_report_refuses_a_missing_folder(case, tmp_path):
    with pytest.raises(AlifuseInputError, match=r"r\.pdf: the folder .*nope does not exist"):
        write_report(tmp_path / "nope" / "r.pdf", case["vol"], case["ehr"], case["pred"], None, case["info"])


def test_png_preview_of_the_pages(case):
    PREVIEW_DIR.mkdir(parents=True, exist_ok=True)
    figs = report_pages(case["vol"], case["ehr"], case["pred"], case["expl"], case["info"], "2025-01-01 10:00")
    for n, fig in enumerate(figs, 1):
        out = PREVIEW_DIR / f"page{n}.png"
        fig.savefig(out, dpi=60)
        img = __import__("matplotlib.image", fromlist=["imread"]).imread(out)
        assert img.shape[0] > img.shape[1] > 400              # A4 portrait
        assert img[..., :3].std() > 0.05                       # something was drawn
    # page 2 shows the jet heatmap: strongly red pixels exist near the relevance maximum
    rgb = __import__("matplotlib.image", fromlist=["imread"]).imread(PREVIEW_DIR / "page2.png")[..., :3]
    red = (rgb[..., 0] > 0.7) & (rgb[..., 1] < 0.3) & (rgb[..., 2] < 0.3)
    assert red.sum() > 20


# -- the screen on paper --

def _axes(fig, name: str):
    return next(a for a in fig.axes if a.get_label() == name)


def page_panel(fig, name: str, dpi: int = 50) -> np.ndarray:
    """The rendered pixels (RGB, 0-1) of the picture in the page's axes ``name`` ('sagittal', 'coronal', 'axial')."""
    import io

    import matplotlib.image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=dpi, format="png")
    img = matplotlib.image.imread(io.BytesIO(buf.getvalue()))[..., :3]
    h, w = img.shape[:2]
    box = _axes(fig, name).get_position()
    panel = img[int((1 - box.y1) * h):int((1 - box.y0) * h), int(box.x0 * w):int(box.x1 * w)]
    return crop_to_content(panel, 0.02)


def crop_to_content(picture: np.ndarray, floor: float) -> np.ndarray:
    """``picture`` cut to the rows and columns holding something brighter than ``floor`` (the background)."""
    lit = picture[..., :3].mean(axis=2) > floor
    rows, cols = np.flatnonzero(lit.any(axis=1)), np.flatnonzero(lit.any(axis=0))
    return picture[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]


def bright_sides(picture: np.ndarray) -> tuple[str, str]:
    """('left' or 'right', 'top' or 'bottom'): the brighter half of a picture across and down."""
    g = picture[..., :3].astype(float).mean(axis=2)
    h, w = g.shape
    across = "left" if g[:, : w // 2].mean() > g[:, w - w // 2:].mean() else "right"
    down = "top" if g[: h // 2].mean() > g[h - h // 2:].mean() else "bottom"
    return across, down


def side_letter(fig, name: str, side: str) -> str:
    """The orientation letter the page prints at the ``side`` ('left'/'right') edge of view ``name``."""
    x = 0.01 if side == "left" else 0.99
    return next(t.get_text() for t in _axes(fig, name).texts if tuple(t.get_position()) == (x, 0.5))


def marker_case(path: Path, tilt_deg: float = 0.0) -> Path:
    """A head whose right-anterior-superior corner is bright, stored LAS (x flipped): orientation matters.
    ``tilt_deg``: the slices tilted about the left-right axis (an oblique scan)."""
    shape = (40, 48, 36)
    x, y, z = np.mgrid[0:shape[0], 0:shape[1], 0:shape[2]]
    c = [(n - 1) / 2 for n in shape]
    r2 = ((x - c[0]) / 18) ** 2 + ((y - c[1]) / 22) ** 2 + ((z - c[2]) / 16) ** 2
    head = r2 < 1
    # canonical +x (R), +y (A), +z (S) from just before the centre outwards
    ras = (x >= c[0] - 2) & (x < c[0] + 12) & (y >= c[1] - 2) & (y < c[1] + 14) & (z >= c[2] - 2) & (z < c[2] + 10)
    data = np.where(head, 250.0 - 100.0 * r2, 0.0) + np.where(head & ras, 250.0, 0.0)  # symmetric but the corner
    aff = np.diag([-2.0, 2.0, 2.0, 1.0])   # in the file x runs right to left: its array is the mirror image
    aff[:3, 3] = [40, -48, -36]
    c_, s_ = np.cos(np.radians(tilt_deg)), np.sin(np.radians(tilt_deg))
    aff = np.array([[1, 0, 0, 0], [0, c_, -s_, 0], [0, s_, c_, 0], [0, 0, 0, 1]]) @ aff
    nib.save(nib.Nifti1Image(data[::-1].astype(np.float32), aff), str(path))
    return path


#: the side the bright right-anterior-superior corner is on, across each view
BRIGHT_ACROSS = {(False, "sagittal"): "left", (False, "coronal"): "right", (False, "axial"): "right",
                 (True, "sagittal"): "left", (True, "coronal"): "left", (True, "axial"): "left"}


@pytest.mark.parametrize("radiological", [False, True])
def test_report_slices_put_anatomy_where_the_viewer_does(case, tmp_path, radiological):
    """Sagittal anterior left in both conventions; patient right on the right (neurological) or left."""
    vol = load_volume(marker_case(tmp_path / "marker.nii.gz"))
    fig = report_pages(vol, case["ehr"], case["pred"], None, case["info"], "2025-01-01 10:00",
                       radiological=radiological)[1]
    PREVIEW_DIR.mkdir(parents=True, exist_ok=True)
    fig.savefig(PREVIEW_DIR / f"marker-{'radiological' if radiological else 'neurological'}.png", dpi=60)
    for name in ("sagittal", "coronal", "axial"):
        across, down = bright_sides(page_panel(fig, name))
        assert across == BRIGHT_ACROSS[radiological, name], name
        assert down == "top", name                              # superior (axial: anterior) at the top
        assert side_letter(fig, name, across) == ("A" if name == "sagittal" else "R")
    words = " ".join(t.get_text() for t in fig.texts)
    assert ("radiological (patient's right on screen left)" if radiological else "neurological") in words


def test_report_names_the_scan_and_its_dicom_patient_and_flags_another_subject(case, tmp_path):
    from dataclasses import replace

    vol = replace(case["vol"], metadata={"patient_id": "ADNI-002", "patient_name": "DOE JANE",
                                         "series_uid": "1.2.840.99.7", "series_description": "T1 MPRAGE"})
    long_summary = " ".join(f"word{n}" for n in range(1, 51))          # 50 words: 10 never read
    text = pdf_text(write_report(tmp_path / "r.pdf", vol, {**case["ehr"], "summary": long_summary}, case["pred"],
                                 None, case["info"]).read_bytes())
    assert "case.nii.gz" in text and "DICOM patient DOE JANE (ID ADNI-002)" in text
    assert "DICOM series UID\n1.2.840.99.7" in text and "DICOM series\nT1 MPRAGE" in text
    assert "The record is of subject sub-0007, the scan of DICOM patient ID ADNI-002" in text
    assert "the 10 after them (grey) were not read" in text
    read = text[:text.index("[not read by the model:]")]
    assert "word40" in read and "word41" not in read                 # the read words come before the mark
    assert "[not read by the model:] word41 word42" in text
    assert "65.0% (not calibrated)" in text


@pytest.mark.parametrize("radiological", [False, True])
def test_report_letters_are_the_viewer_overlay_letters(radiological):
    """The report's sides come from the viewer's own view specs; the viewer's overlay text says the same."""
    from alifuse_gui.display import view_spec
    from alifuse_gui.screen_slices import VIEWS, screen_axes

    for name in VIEWS:
        spec = view_spec(name, radiological)
        left, right = re.search(r"(\w) ◂▸ (\w)", spec.screen).groups()
        top = re.search(r"(\w) top", spec.screen).group(1)
        assert screen_axes(spec).sides == {"left": left, "right": right, "top": top,
                                           "bottom": {"S": "I", "A": "P"}[top]}, spec.screen


def test_report_of_a_dicom_series_names_its_patient_and_series(case, tmp_path):
    from tests.engine.test_dicom import _affine, _stored, write_series

    write_series(tmp_path / "series", _stored(), _affine("axial"), series_uid="1.2.826.0.1.3680043.8.498.42",
                 patient_id="ADNI-002_S_0413", patient_name="DOE^JANE")
    vol = load_volume(tmp_path / "series")
    text = pdf_text(write_report(tmp_path / "r.pdf", vol, case["ehr"], case["pred"], None, case["info"]).read_bytes())
    assert "DICOM patient DOE JANE (ID ADNI-002_S_0413)" in text
    assert "DICOM series UID\n1.2.826.0.1.3680043.8.498.42" in text


def test_a_report_made_without_a_window_starts_at_the_explain_panels_threshold_for_this_map(case, tmp_path):
    from alifuse_gui.map_threshold import default_threshold

    canon, _ = heatmap_on_canonical(case["vol"], case["heat"])
    start = default_threshold(canon, case["vol"].data)     # what the Explain panel's slider starts at
    assert 0.0 < start < 0.5
    text = pdf_text(write_report(tmp_path / "r.pdf", case["vol"], case["ehr"], case["pred"], case["expl"],
                                 case["info"]).read_bytes())
    assert f"turbo colour map, threshold {start:.0%}, opacity 60%" in text
