"""What the last review of the viewer found a user would trip over: status lines that go stale, a crosshair that
can be deleted, labels cut off on a small screen, what-if lines without units, napari's coordinates in the status
bar and a 3-D view that kept the 2-D zoom."""
from __future__ import annotations

import re

import pytest

from tests.gui.test_explain_display import explain_with, fake_explanation, skewed_map
from tests.gui.test_predict_panel import RECORD, write_case

pytestmark = pytest.mark.usefixtures("collect_qt_garbage")


@pytest.fixture
def session(open_case):
    return open_case(write_case, RECORD)


def test_the_explain_status_states_no_threshold_the_slider_has_left(session):
    explain_with(session, fake_explanation(skewed_map(session.volume.data.shape)))
    panel = session.explain_panel
    panel.threshold.setValue(panel.threshold.value() + 17)
    current = f"{panel.threshold.value() / 100:.2f}"
    stated = re.findall(r"\b\d\.\d\d\b", panel.status.text())
    assert all(v == current for v in stated), panel.status.text()
    assert current in panel.color_bar.caption()  # the bar beside the slider says where it is now
