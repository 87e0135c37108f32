"""The project's generic manifest CSV, read through :func:`trainer.records.read_manifest`.

Same contract as the cohort readers: ``image_root=None`` reads text only (image ``Path("")``, no
mask, nothing skipped for images); with a folder, relative image and mask paths are taken relative
to that folder (pass the manifest's own folder for the manifest's usual meaning) and a row whose
image is missing is reported in ``skipped``. A manifest names every image, so no pattern is used.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.errors import AlifuseInputError
from trainer.records import ReadReport, image_problem, read_manifest, skip_line

CLASSES: tuple[str, ...] = ()  # a manifest carries its own class names


def read_manifest_table(table: Path, image_root: Path | None, image_pattern: str | None = None) -> ReadReport:
    """Read a generic manifest; see the module docstring for how ``image_root`` is used."""
    table = Path(table)
    if image_pattern is not None:
        raise AlifuseInputError(f"image pattern {image_pattern!r}: a manifest names each image itself; "
                                "leave the pattern out")
    report = read_manifest(table, check_images=False)
    if image_root is None:
        for r in report.records:
            r.image, r.mask = Path(""), None
        return report
    root = Path(image_root)
    if not root.is_dir():
        raise AlifuseInputError(f"{root}: image folder not found")
    raw = pd.read_csv(table, dtype=str, keep_default_na=False)
    masks = raw["mask"] if "mask" in raw.columns else pd.Series([""] * len(raw))
    kept = ReadReport(records=[])
    # check_images=False keeps every row, so records and raw rows line up one to one.
    for i, (r, image, mask) in enumerate(zip(report.records, raw["image"], masks)):
        r.image = _under(root, image)
        r.mask = _under(root, mask) if mask.strip() else None
        problem = image_problem(r.image)
        if problem:  # never the subject's id, nor the image's path (which often holds it)
            kept.skipped.append(skip_line(table.name, i + 2, r.visit, problem))
            continue
        kept.records.append(r)
    return kept


def _under(root: Path, text: str) -> Path:
    p = Path(text.strip())
    return p if p.is_absolute() else root / p
