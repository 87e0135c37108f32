"""What every reader shares: the dispatcher, image search rules, text-only reading, table errors,
and the manifest wrapper."""
from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import AlifuseInputError
from trainer.readers import DATASET_CLASSES, DATASET_KINDS, read_dataset
from trainer.records import CaseRecord, write_manifest

FIX = Path(__file__).parent / "fixtures"
TABLES = {"adni": "adnimerge.csv", "nacc": "nacc_uds.csv", "oasis2": "oasis2_original.csv",
          "aibl": "aibl_merged.csv", "miriad": "miriad.csv"}


def test_kinds_and_classes():
    assert DATASET_KINDS == ("adni", "nacc", "oasis2", "aibl", "miriad", "manifest")
    assert DATASET_CLASSES["adni"] == DATASET_CLASSES["nacc"] == DATASET_CLASSES["aibl"] == ("NC", "MCI", "AD")
    assert DATASET_CLASSES["oasis2"] == DATASET_CLASSES["miriad"] == ("NC", "impaired")


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_labels_come_from_the_kind_classes_and_text_only_skips_no_images(kind):
    rep = read_dataset(kind, FIX / TABLES[kind], None)
    assert rep.records and {r.label for r in rep.records} <= set(DATASET_CLASSES[kind])
    assert all(r.image == Path("") and r.dataset == kind for r in rep.records)
    assert not any("image" in s for s in rep.skipped)
    assert all(r.ehr["subject_id"] == r.subject_id for r in rep.records)


@pytest.mark.parametrize("kind", sorted(TABLES))
def test_every_row_is_a_record_or_a_skip_line(kind, tmp_path):
    import pandas as pd
    table = FIX / TABLES[kind]
    rows = len(pd.read_csv(table))
    rep = read_dataset(kind, table, tmp_path)  # an empty image folder: every row skipped, none lost
    assert rep.records == [] and len(rep.skipped) == rows


def test_unknown_kind_and_unknown_option_are_errors():
    with pytest.raises(AlifuseInputError, match=r"dataset kind 'oasis3': unknown; choose one of adni, nacc"):
        read_dataset("oasis3", FIX / "miriad.csv", None)
    with pytest.raises(AlifuseInputError, match=r"dataset kind 'adni': does not take option\(s\) ad_only"):
        read_dataset("adni", FIX / "adnimerge.csv", None, ad_only=True)


def test_table_not_found_and_unreadable_table(tmp_path):
    with pytest.raises(AlifuseInputError, match=r"nope\.csv: table not found"):
        read_dataset("adni", tmp_path / "nope.csv", None)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(AlifuseInputError, match=r"empty\.csv: not a readable CSV table"):
        read_dataset("nacc", empty, None)


def test_ambiguous_images_skip_the_row_and_say_why(tmp_path):
    d = tmp_path / "OAS2_9004" / "MR1"
    d.mkdir(parents=True)
    (d / "t1.nii.gz").write_bytes(b"")
    (d / "brain_mask.nii.gz").write_bytes(b"")
    rep = read_dataset("oasis2", FIX / "oasis2_original.csv", tmp_path)
    msg = [s for s in rep.skipped if "OAS2_9004" in s][0]
    assert "2 images match" in msg and "brain_mask.nii.gz" in msg and "pattern" in msg


def test_pattern_errors_name_the_pattern(tmp_path):
    table = FIX / "oasis2_original.csv"
    with pytest.raises(AlifuseInputError, match=r"image pattern '\{rid\}\.nii': unknown key \{rid\}; known keys: "
                                                r"\{subject\}, \{visit\}, \{mri_id\}"):
        read_dataset("oasis2", table, tmp_path, "{rid}.nii")
    with pytest.raises(AlifuseInputError, match=r"must be a non-empty path relative"):
        read_dataset("oasis2", table, tmp_path, str(tmp_path / "{subject}.nii"))
    with pytest.raises(AlifuseInputError, match=r"given without an image folder"):
        read_dataset("oasis2", table, None, "{subject}.nii")
    with pytest.raises(AlifuseInputError, match=r"missing_dir: image folder not found"):
        read_dataset("oasis2", table, tmp_path / "missing_dir")


def test_duplicate_visit_is_reported_not_merged(tmp_path):
    text = (FIX / "oasis2_original.csv").read_text().splitlines()
    dup = tmp_path / "oasis.csv"
    dup.write_text("\n".join(text + [text[1]]) + "\n")
    rep = read_dataset("oasis2", dup, None)
    assert rep.skipped[-1] == "oasis.csv line 10 (subject OAS2_9001, MR1): duplicate of line 2"
    assert len(rep.records) == 6


def test_column_spelled_twice_is_an_error(tmp_path):
    bad = tmp_path / "oasis.csv"
    bad.write_text("Subject ID,Subject.ID,Group\nOAS2_1,OAS2_1,Demented\n")
    with pytest.raises(AlifuseInputError, match=r"columns 'Subject ID' and 'Subject.ID' are the same column twice"):
        read_dataset("oasis2", bad, None)


def _manifest(tmp_path: Path) -> Path:
    recs = [CaseRecord("s1", "bl", tmp_path / "img" / "s1.nii.gz", "AD", "demo", {"subject_id": "s1", "mmse": 20}),
            CaseRecord("s2", "bl", tmp_path / "img" / "s2.nii.gz", "NC", "demo", {"subject_id": "s2", "mmse": 29})]
    path = tmp_path / "manifest.csv"
    write_manifest(recs, path)
    return path


def test_manifest_text_only_keeps_every_row_without_images(tmp_path):
    rep = read_dataset("manifest", _manifest(tmp_path), None)
    assert [(r.subject_id, r.label, r.ehr.get("mmse"), r.image) for r in rep.records] == \
           [("s1", "AD", 20, Path("")), ("s2", "NC", 29, Path(""))]
    assert rep.skipped == []


def test_manifest_images_relative_to_image_root_and_missing_reported(tmp_path):
    path = _manifest(tmp_path)
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "s1.nii.gz").write_bytes(b"")
    rep = read_dataset("manifest", path, tmp_path)
    assert [(r.subject_id, r.image) for r in rep.records] == [("s1", tmp_path / "img" / "s1.nii.gz")]
    assert rep.skipped == ["manifest.csv line 3 (visit bl): image not found"]  # no subject id in logs
    with pytest.raises(AlifuseInputError, match=r"a manifest names each image itself"):
        read_dataset("manifest", path, tmp_path, "{subject}.nii")


def test_blank_lines_keep_line_numbers_true(tmp_path):
    lines = (FIX / "oasis2_original.csv").read_text().splitlines()
    gappy = tmp_path / "oasis.csv"
    gappy.write_text("\n".join(lines[:3] + [""] + lines[3:]) + "\n\n")
    rep = read_dataset("oasis2", gappy, None)
    assert len(rep.records) == 6
    assert rep.skipped[0].startswith("oasis.csv line 9 (subject OAS2_9005, MR1)")
