"""The cohort on disk: layout, real table columns, byte-identical reruns, masks on the image grid."""
from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from engine.errors import AlifuseInputError
from trainer.records import read_manifest
from trainer.synth import make_cohort, make_subject, plan_cohort
from trainer.synth.tables import ADNIMERGE_COLUMNS, OASIS2_COLUMNS

pytestmark = pytest.mark.slow  # renders a few small subjects on the MNI template

N = 5


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "cohort"
    records = make_cohort(out, N, seed=5, size="small", class_balance=(1, 1, 1))
    return out, records


def test_layout_and_records(cohort):
    out, records = cohort
    assert [r.subject_id for r in records] == [f"sub-{i:04d}" for i in range(1, N + 1)]
    for r in records:
        assert r.image.is_file() and r.image.parent == out / "images" and r.image.name.endswith((".nii", ".nii.gz"))
        assert r.mask == out / "masks" / f"{r.subject_id}_atrophy.nii.gz" and r.mask.is_file()
        assert json.loads((out / "ehr" / f"{r.subject_id}.json").read_text()) == r.ehr
        assert r.dataset.startswith("synthetic-seed") and r.label in ("NC", "MCI", "AD")
    back = read_manifest(out / "manifest.csv")
    assert back.skipped == []
    assert [(b.subject_id, b.label, b.image, b.mask) for b in back.records] == \
        [(r.subject_id, r.label, r.image, r.mask) for r in records]
    assert [b.ehr.get("mmse") for b in back.records] == [r.ehr.get("mmse") for r in records]


def test_tables_use_the_real_column_names(cohort):
    out, records = cohort
    adni = pd.read_csv(out / "ADNIMERGE.csv")
    oasis = pd.read_csv(out / "oasis2.csv")
    assert tuple(adni.columns) == ADNIMERGE_COLUMNS and len(adni) == N
    assert tuple(oasis.columns) == OASIS2_COLUMNS and len(oasis) == N
    dx = {"NC": "CN", "MCI": "MCI", "AD": "Dementia"}
    assert list(adni["DX"]) == [dx[r.label] for r in records]
    assert set(adni["DX_bl"]) <= {"CN", "EMCI", "LMCI", "AD"} and set(adni["VISCODE"]) == {"bl"}
    assert adni["PTID"].str.fullmatch(r"\d{3}_S_\d{4}").all()
    assert set(adni["PTGENDER"]) <= {"Male", "Female"}
    assert set(oasis["Group"]) <= {"Nondemented", "Demented", "Converted"}
    assert (oasis.loc[[r.label == "NC" for r in records], "Group"] == "Nondemented").all()
    assert np.allclose(oasis["ASF"], 1755 / oasis["eTIV"], atol=1e-3)
    for table, col in ((adni, "IMAGEPATH"), (oasis, "Image Path")):
        assert [out / p for p in table[col]] == [r.image for r in records]
    mmse = [r.ehr.get("mmse", np.nan) for r in records]
    assert np.allclose(adni["MMSE"].to_numpy(float), mmse, equal_nan=True)


def test_cohort_json_keeps_the_hidden_truth(cohort):
    out, records = cohort
    meta = json.loads((out / "cohort.json").read_text())
    assert meta["seed"] == 5 and meta["n_subjects"] == N and meta["acquisition"] == "standard"
    specs = plan_cohort(N, seed=5, size="small", class_balance=(1, 1, 1))
    for s, m in zip(specs, meta["subjects"]):
        assert m["severity"] == s.latents.severity and m["label"] == s.latents.label
        assert m["acquisition"]["orientation"] == s.acquisition.orientation


def test_images_are_int16_with_slope_on_the_stated_grid_and_mask_shares_it(cohort):
    out, records = cohort
    meta = {m["subject_id"]: m for m in json.loads((out / "cohort.json").read_text())["subjects"]}
    for r in records:
        img, mask = nib.load(r.image), nib.load(r.mask)
        acq = meta[r.subject_id]["acquisition"]
        assert img.get_data_dtype() == np.int16 and img.dataobj.slope != 1.0
        assert "".join(nib.aff2axcodes(img.affine)) == acq["orientation"]
        assert img.shape == tuple(acq["matrix"]) == mask.shape
        assert np.allclose(img.affine, mask.affine)
        assert np.allclose(img.header.get_zooms(), acq["voxel_mm"], atol=1e-4)
        assert set(np.unique(np.asarray(mask.dataobj))) <= {0, 1}


def test_atrophy_mask_volume_follows_severity(cohort):
    out, records = cohort
    meta = {m["subject_id"]: m for m in json.loads((out / "cohort.json").read_text())["subjects"]}
    vols = {r.subject_id: float(np.asarray(nib.load(r.mask).dataobj).sum() * np.prod(nib.load(r.mask).header.get_zooms()))
            for r in records}
    ranked = sorted(vols, key=lambda s: meta[s]["severity"])
    assert vols[ranked[-1]] > 100_000.0  # > 100 ml for the most severe (an MCI/AD at s ~ 0.8)
    controls = [s for s in vols if meta[s]["label"] == "NC"]
    assert controls and all(vols[s] < 0.1 * vols[ranked[-1]] for s in controls)
    assert sorted(vols.values()) == [vols[s] for s in ranked]  # volume increases with severity


def test_same_seed_same_bytes_other_seed_other_bytes(cohort, tmp_path):
    out, _ = cohort
    again = tmp_path / "again"
    make_cohort(again, N, seed=5, size="small", class_balance=(1, 1, 1), workers=2)
    assert _files(out) == _files(again)
    other = tmp_path / "other"
    make_cohort(other, N, seed=6, size="small", class_balance=(1, 1, 1))
    a, b = _files(out), _files(other)
    assert a["manifest.csv"] != b["manifest.csv"] and a["cohort.json"] != b["cohort.json"]
    assert a.get("images/sub-0001.nii.gz", a.get("images/sub-0001.nii")) != \
        b.get("images/sub-0001.nii.gz", b.get("images/sub-0001.nii"))


def test_rerun_into_a_cohort_folder_replaces_it(tmp_path):
    out = tmp_path / "c"
    make_cohort(out, 3, seed=1, size="small")
    make_cohort(out, 2, seed=1, size="small")
    assert sorted(p.name.split(".")[0] for p in (out / "images").iterdir()) == ["sub-0001", "sub-0002"]
    assert len(list((out / "ehr").iterdir())) == 2 and len(pd.read_csv(out / "manifest.csv")) == 2


def test_refuses_a_file_or_a_foreign_folder(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(AlifuseInputError, match="not empty"):
        make_cohort(tmp_path, 2, size="small")
    with pytest.raises(AlifuseInputError, match="not a folder"):
        make_cohort(tmp_path / "notes.txt", 2, size="small")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_make_subject_writes_one_case(tmp_path):
    spec = plan_cohort(3, seed=2, acquisition="shifted", size="small")[2]
    rec = make_subject(tmp_path, spec)
    assert rec.subject_id == "sub-0003" and rec.image.is_file() and rec.mask.is_file()
    assert "".join(nib.aff2axcodes(nib.load(rec.image).affine)) == spec.acquisition.orientation
    assert spec.acquisition.orientation not in ("RAS", "LAS", "LPS")
