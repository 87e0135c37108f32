"""--screenshot saves what the live window shows: the window at the size it opened with, every view holding the
whole head, none zoomed in and cropped."""
from __future__ import annotations

import gc

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from qtpy.QtCore import QPoint

from alifuse_gui.app import launch, plan_from_args, take_screenshot

#: a canvas pixel this bright (mean of R, G, B) is head, not the black background
HEAD = 40
EDGE = 3   # px: the frame of each view that must be background
TEXT_ROWS = 40   # px: the top band where napari writes the view's orientation text


@pytest.fixture(autouse=True)
def _collect_qt_garbage():
    yield
    gc.collect()


def head_file(path):
    """A 2 mm head, 80 x 96 x 72 mm, bright all the way to its edge (no dark rim that could hide a crop)."""
    x, y, z = np.mgrid[0:40, 0:48, 0:36]
    inside = ((x - 19.5) / 18) ** 2 + ((y - 23.5) / 22) ** 2 + ((z - 17.5) / 16) ** 2 < 1
    data = np.where(inside, 150 + 30 * np.sin(x / 3.0) * np.cos(y / 4.0), 0).astype(np.float32)
    affine = np.diag([2.0, 2.0, 2.0, 1.0])
    affine[:3, 3] = [-40, -48, -36]
    nib.save(nib.Nifti1Image(data, affine), str(path))
    return path


def view_crops(session, shot: np.ndarray) -> dict[str, np.ndarray]:
    """Each view's canvas cut out of the saved window image, by the canvas widget's place in the window."""
    window = session.viewer.window._qt_window
    canvases = {"axial": session.viewer.window._qt_viewer.canvas.native,
                **{n: q.canvas.native for n, q in session.views.qt_viewers.items()}}
    out = {}
    for name, widget in canvases.items():
        corner = widget.mapTo(window, QPoint(0, 0))
        x, y, w, h = corner.x(), corner.y(), widget.width(), widget.height()
        out[name] = shot[y:y + h, x:x + w]
    return out


def test_screenshot_views_hold_the_whole_head(make_napari_viewer, tiny_checkpoint, tmp_path):
    shot_path = tmp_path / "window.png"
    plan = plan_from_args([str(head_file(tmp_path / "head.nii.gz")), "--checkpoint", str(tiny_checkpoint),
                           "--screenshot", str(shot_path)])
    session = launch(plan, make_napari_viewer(show=True))
    window = session.viewer.window._qt_window
    opened = (window.width(), window.height())
    take_screenshot(session, shot_path, plan.method)
    shot = np.asarray(Image.open(shot_path).convert("RGB"), dtype=float)
    assert (shot.shape[1], shot.shape[0]) == opened == (window.width(), window.height())  # the window as it opened
    # the Explain tab in front (a tab behind it keeps isVisible(); it is only covered)
    assert not session.explain_panel.visibleRegion().isEmpty() and session.predict_panel.visibleRegion().isEmpty()
    crops = view_crops(session, shot)
    assert set(crops) == {"axial", "coronal", "sagittal"}
    for name, crop in crops.items():
        h, w = crop.shape[:2]
        assert h > 100 and w > 100, (name, crop.shape)             # a real canvas, inside the saved image
        head = crop.mean(axis=2) > HEAD
        assert head.mean() > 0.08, name                             # the head is drawn ...
        frame = np.ones_like(head)
        frame[EDGE:-EDGE, EDGE:-EDGE] = False
        frame[:TEXT_ROWS, -EDGE:] = False   # a narrow view's orientation text runs off its right edge: not the head
        assert not (head & frame).any(), name                       # ... and reaches no edge of its view
        rows, cols = np.flatnonzero(head.any(axis=1)), np.flatnonzero(head.any(axis=0))
        # fitted, not shrunk: the head spans most of the view one way (napari leaves a margin)
        assert max((rows[-1] - rows[0]) / h, (cols[-1] - cols[0]) / w) > 0.6, name
