"""Turn a ``--data`` argument into records: a cohort folder, a manifest CSV, or ``KIND:TABLE[:IMAGE_ROOT]``."""
from __future__ import annotations

import sys
from pathlib import Path

from engine.errors import AlifuseInputError
from trainer.records import CaseRecord, read_manifest


def load_records(spec: str, need_images: bool = True, warn=None) -> tuple[list[CaseRecord], list[str]]:
    """Records and the reasons for every skipped row. ``warn`` receives one line per skipped row count."""
    from trainer.readers import DATASET_KINDS, read_dataset

    path = Path(spec)
    if path.is_dir():
        manifest = path / "manifest.csv"
        if not manifest.is_file():
            raise AlifuseInputError(f"--data {spec}: folder has no manifest.csv (make one with alifuse-synth, "
                                    f"or pass KIND:TABLE[:IMAGE_ROOT])")
        report = read_manifest(manifest, check_images=need_images)
    elif path.is_file():
        report = read_manifest(path, check_images=need_images)
    elif ":" in spec and spec.split(":", 1)[0].lower() in DATASET_KINDS:
        kind, rest = spec.split(":", 1)
        table, _, root = rest.partition(":")
        if not Path(table).exists():
            raise AlifuseInputError(f"--data {spec}: table {table} not found")
        report = read_dataset(kind, Path(table), Path(root) if root else None)
    else:
        raise AlifuseInputError(f"--data {spec}: not a cohort folder, a manifest CSV, or KIND:TABLE[:IMAGE_ROOT]")
    if report.skipped and warn is not None:
        warn(f"{len(report.skipped)} row(s) skipped, e.g. {report.skipped[0]}")
    if not report.records:
        raise AlifuseInputError(f"--data {spec}: no usable cases")
    return report.records, report.skipped


def class_names_for(records: list[CaseRecord]) -> list[str]:
    """NC/MCI/AD for three-class data, NC/impaired for two-class data sets."""
    labels = {r.label for r in records}
    if labels <= {"NC", "MCI", "AD"}:
        return ["NC", "MCI", "AD"]
    if labels <= {"NC", "impaired"}:
        return ["NC", "impaired"]
    raise AlifuseInputError(f"labels {sorted(labels)}: mix NC/MCI/AD with other classes")


def stderr_warn(msg: str) -> None:
    print(f"alifuse: warning: {msg}", file=sys.stderr)
