"""A small, fast cohort for training tests: blob images whose size follows the class, plus records."""
from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from trainer.records import CaseRecord, write_manifest

ROOT = Path(__file__).resolve().parents[2]

LABELS = ("NC", "MCI", "AD")


def write_toy_cohort(folder: Path, n: int = 12, seed: int = 0) -> Path:
    """n subjects; the dark 'ventricle' grows NC < MCI < AD; MMSE falls. Returns the manifest path."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    records = []
    x, y, z = np.meshgrid(*[np.linspace(-1, 1, 20)] * 3, indexing="ij")
    r = np.sqrt(x ** 2 + y ** 2 + z ** 2)
    for i in range(n):
        c = i % 3
        vol = np.where(r < 0.85, 100.0, 0.0) - np.where(r < 0.2 + 0.12 * c, 80.0, 0.0)
        vol = (vol + rng.normal(0, 3, vol.shape)).astype(np.float32)
        path = folder / "images" / f"sub-{i:03d}.nii.gz"
        nib.save(nib.Nifti1Image(vol, np.diag([1.1, 1.0, 1.0, 1.0])), path)
        ehr = {"subject_id": f"sub-{i:03d}", "age": int(70 + c * 3 + rng.integers(0, 5)), "sex": "female",
               "mmse": int(29 - 3 * c), "summary": ["no complaints", "some forgetfulness", "gets lost"][c]}
        records.append(CaseRecord(f"sub-{i:03d}", "bl", path, LABELS[c], "toy", ehr))
    write_manifest(records, folder / "manifest.csv")
    return folder / "manifest.csv"


@pytest.fixture(scope="session")
def toy_cohort(tmp_path_factory) -> Path:
    return write_toy_cohort(tmp_path_factory.mktemp("toy"), 12).parent


def run_command(fn, argv, capsys):
    """(exit code, captured output) of a CLI entry point; SystemExit (exit 2 on bad input) is a code, not a crash."""
    try:
        code = fn([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    return code, capsys.readouterr()


def load_script(name: str):  # noqa: ANN201
    """The module of scripts/NAME.py (the scripts folder is not a package), loaded afresh."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
