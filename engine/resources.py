"""Files the application ships with (demo case, demo checkpoint), found next to the packages."""
from __future__ import annotations

from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"
DEMO_CHECKPOINT = RESOURCES / "alifuse-demo.safetensors"
DEMO_IMAGE = RESOURCES / "demo" / "demo_case.nii.gz"
DEMO_EHR = RESOURCES / "demo" / "demo_case.json"
