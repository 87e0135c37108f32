"""Plan and write a synthetic cohort: images, atrophy masks, EHR files, manifest and tables.

Every subject draws from its own random streams (seed, subject index), so a cohort is byte-identical
for a seed whatever the number of workers, and subject k is the same in any cohort of >= k subjects
with the same class balance.
"""
from __future__ import annotations

import json
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import nibabel as nib
import numpy as np

from engine.errors import AlifuseInputError
from trainer.records import CaseRecord, write_manifest
from trainer.synth import atrophy
from trainer.synth.acquisition import Acquisition, sample_acquisition
from trainer.synth.ehr_gen import CLASSES, Latents, sample_ehr, sample_latents
from trainer.synth.render import Rendered, render
from trainer.synth.tables import sample_extras, write_tables
from trainer.synth.variety import TEMPLATE_ANATOMY, Anatomy, sample_anatomy

DATASET = "synthetic"


def dataset_name(seed: int, acquisition: str = "standard") -> str:
    """Each cohort is its own data set: subject ids repeat across cohorts (sub-0001 ...), the people do not."""
    return f"{DATASET}-seed{int(seed)}" + ("" if acquisition == "standard" else f"-{acquisition}")


DEFAULT_BALANCE: tuple[float, float, float] = (0.35, 0.40, 0.25)  # NC, MCI, AD, about ADNI's baseline mix
#: cohort.json's layout version
FORMAT_VERSION = 2
#: the largest cohort.json read back: about 1.3 kB a subject, alifuse-synth's 100,000 subjects at most
MAX_COHORT_JSON_BYTES = 160 << 20
_STREAM_EHR, _STREAM_SCAN, _STREAM_ANATOMY = 0, 1, 2  # a stream of its own: adding anatomy changed no other draw


@dataclass(frozen=True)
class SubjectSpec:
    """Everything that decides one subject's files; rendering it twice gives the same bytes."""

    index: int                 # 1-based
    latents: Latents
    ehr: dict[str, Any]
    acquisition: Acquisition
    extras: dict[str, Any] = field(default_factory=dict)  # table-only facts (site, eTIV, ...)
    dataset: str = DATASET     # the cohort's name, see dataset_name()
    anatomy: Anatomy = TEMPLATE_ANATOMY  # the subject's own healthy brain (trainer.synth.variety)

    @property
    def subject_id(self) -> str:
        return f"sub-{self.index:04d}"

    @property
    def image_name(self) -> str:
        return f"images/{self.subject_id}.nii{'.gz' if self.acquisition.compressed else ''}"

    @property
    def mask_name(self) -> str:
        return f"masks/{self.subject_id}_atrophy.nii.gz"


def _rng(seed: int, index: int, stream: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, stream)))


def class_counts(n: int, balance: Sequence[float]) -> list[int]:
    """Exact class counts for ``n`` subjects (largest remainder), NC/MCI/AD order."""
    w = np.asarray(balance, float) / float(np.sum(balance))
    raw = w * n
    counts = np.floor(raw).astype(int)
    for i in np.argsort(-(raw - counts), kind="stable")[: n - counts.sum()]:
        counts[i] += 1
    return [int(c) for c in counts]


def _check(n_subjects: int, seed: int, balance: Sequence[float]) -> None:
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, (int, np.integer)) or n_subjects < 1:
        raise AlifuseInputError(f"--subjects: must be a whole number >= 1, got {n_subjects!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise AlifuseInputError(f"--seed: must be a whole number >= 0, got {seed!r}")
    if len(balance) != len(CLASSES) or any(not np.isfinite(b) or b < 0 for b in balance) or sum(balance) <= 0:
        raise AlifuseInputError(
            f"--class-balance: expected three weights >= 0 for NC,MCI,AD with a positive sum, got {list(balance)}")


def plan_cohort(n_subjects: int, seed: int = 0, acquisition: str = "standard",
                class_balance: Sequence[float] = DEFAULT_BALANCE, size: str = "standard") -> list[SubjectSpec]:
    """Draw every subject's latents, EHR and scan settings; no image work (2000 subjects in ~1 s)."""
    _check(n_subjects, seed, class_balance)
    labels = [c for c, k in zip(CLASSES, class_counts(n_subjects, class_balance)) for _ in range(k)]
    order = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(0,))).permutation(n_subjects)
    specs = []
    for pos, index in enumerate(range(1, n_subjects + 1)):
        label = labels[int(order[pos])]
        rng = _rng(seed, index, _STREAM_EHR)
        lat = sample_latents(rng, label)
        spec_id = f"sub-{index:04d}"
        ehr = sample_ehr(rng, lat, spec_id)
        scan_rng = _rng(seed, index, _STREAM_SCAN)
        acq = sample_acquisition(scan_rng, acquisition, size)
        extras = sample_extras(scan_rng, lat.severity, lat.age, acq.head_scale)
        anatomy = sample_anatomy(_rng(seed, index, _STREAM_ANATOMY))
        specs.append(SubjectSpec(index=index, latents=lat, ehr=ehr, acquisition=acq, extras=extras,
                                 dataset=dataset_name(seed, acquisition), anatomy=anatomy))
    return specs


def _nifti(data: np.ndarray, rendered: Rendered, slope: float | None) -> nib.Nifti1Image:
    img = nib.Nifti1Image(data, rendered.affine)
    img.header.set_xyzt_units("mm")
    img.set_qform(rendered.affine, code=1)
    img.set_sform(rendered.affine, code=1)
    if slope is not None:
        img.header.set_slope_inter(slope, 0.0)
    img.header["descrip"] = b"alifuse synthetic cohort"
    return img


def make_subject(out_dir: Path, spec: SubjectSpec) -> CaseRecord:
    """Render one subject and write its scan, atrophy mask and EHR under ``out_dir``."""
    out_dir = Path(out_dir)
    for sub in ("images", "masks", "ehr"):
        (out_dir / sub).mkdir(parents=True, exist_ok=True)
    rendered = render(spec.acquisition, spec.latents.severity, spec.latents.age, anatomy=spec.anatomy)
    image, mask = out_dir / spec.image_name, out_dir / spec.mask_name
    nib.save(_nifti(rendered.data, rendered, rendered.slope), image)
    nib.save(_nifti(rendered.mask, rendered, None), mask)
    (out_dir / "ehr" / f"{spec.subject_id}.json").write_text(record_text(spec))
    return record_of(out_dir, spec)


def record_text(spec: SubjectSpec) -> str:
    """The subject's ``ehr/<id>.json``, as the cohort holds it."""
    return json.dumps(spec.ehr, indent=2, sort_keys=True) + "\n"


def record_of(out_dir: Path, spec: SubjectSpec) -> CaseRecord:
    return CaseRecord(subject_id=spec.subject_id, visit="bl", image=Path(out_dir) / spec.image_name,
                      label=spec.latents.label, dataset=spec.dataset, ehr=dict(spec.ehr),
                      mask=Path(out_dir) / spec.mask_name)


#: written before the first subject and removed after cohort.json: a folder holding it is a cohort that was stopped
#: midway (its cohort.json, if any, is an earlier cohort's), which a new call may write over
PARTIAL_MARKER = ".alifuse-synth-partial"


def _prepare(out_dir: Path) -> None:
    """Refuse a file or a foreign non-empty folder; clear the subject files of an earlier cohort, finished or
    stopped midway."""
    if out_dir.exists() and not out_dir.is_dir():
        raise AlifuseInputError(f"{out_dir}: OUT_DIR exists and is not a folder")
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not ((out_dir / "cohort.json").is_file() or (out_dir / PARTIAL_MARKER).is_file()):
            raise AlifuseInputError(f"{out_dir}: OUT_DIR is not empty and holds no earlier synthetic cohort")
        for sub, pattern in (("images", "sub-*.nii*"), ("masks", "sub-*_atrophy.nii.gz"), ("ehr", "sub-*.json")):
            for stale in sorted((out_dir / sub).glob(pattern)):
                stale.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def cohort_summary(specs: list[SubjectSpec], seed: int, acquisition: str, class_balance: Sequence[float],
                   size: str) -> dict[str, Any]:
    """cohort.json: the parameters and each subject's hidden truth (severity, acquisition)."""
    return {
        "generator": "alifuse-synth", "format_version": FORMAT_VERSION, "dataset": dataset_name(seed, acquisition),
        "seed": int(seed),
        "n_subjects": len(specs), "acquisition": acquisition, "preset_size": size,
        "class_balance": dict(zip(CLASSES, (float(b) for b in class_balance))),
        "template": "MNI152 ICBM 2009c nonlinear symmetric, 1 mm (shipped with nilearn)",
        "atrophy": {
            "ventricle_scale_disease": atrophy.VENTRICLE_DISEASE, "ventricle_scale_ageing": atrophy.VENTRICLE_AGEING,
            "hippocampus_scale_disease": atrophy.HIPPOCAMPUS_DISEASE,
            "hippocampus_scale_ageing": atrophy.HIPPOCAMPUS_AGEING,
            "mask_volume_change": atrophy.MASK_VOLUME_CHANGE, "mask_gm_loss": atrophy.MASK_GM_LOSS,
        },
        "subjects": [{
            "subject_id": s.subject_id, "label": s.latents.label, "severity": s.latents.severity,
            "age": s.latents.age, "sex": s.latents.sex, "image": s.image_name, "mask": s.mask_name,
            "acquisition": s.acquisition.to_json(), "anatomy": s.anatomy.to_json(), "extras": s.extras,
        } for s in specs],
    }


def _render_job(args: tuple[Path, SubjectSpec]) -> None:
    make_subject(*args)


def make_cohort(out_dir: Path, n_subjects: int, seed: int = 0, acquisition: str = "standard",
                class_balance: Sequence[float] = DEFAULT_BALANCE, workers: int = 1,
                size: str = "standard") -> list[CaseRecord]:
    """Write a whole cohort under ``out_dir`` (layout in docs/SYNTHETIC_COHORT.md); records in subject order."""
    out_dir = Path(out_dir)
    if isinstance(workers, bool) or not isinstance(workers, (int, np.integer)) or workers < 1:
        raise AlifuseInputError(f"--workers: must be a whole number >= 1, got {workers!r}")
    specs = plan_cohort(n_subjects, seed, acquisition, class_balance, size)
    _prepare(out_dir)
    (out_dir / PARTIAL_MARKER).write_text("alifuse-synth is writing this cohort; stopped midway if it stays\n")
    (out_dir / "cohort.json").unlink(missing_ok=True)  # an earlier cohort's, no longer what the folder holds
    jobs = [(out_dir, s) for s in specs]
    if workers == 1 or len(specs) == 1:
        for job in jobs:
            _render_job(job)
    else:
        with ProcessPoolExecutor(max_workers=min(workers, len(specs))) as pool:
            list(pool.map(_render_job, jobs))
    records = [record_of(out_dir, s) for s in specs]
    write_manifest(records, out_dir / "manifest.csv")
    write_tables(specs, out_dir)
    summary = cohort_summary(specs, seed, acquisition, class_balance, size)
    (out_dir / "cohort.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    (out_dir / PARTIAL_MARKER).unlink()
    return records


def finished_cohort(out_dir: Path) -> dict[str, Any] | None:
    """The parameters of the finished cohort in ``out_dir`` (cohort.json without its subjects), or None where the
    folder holds none, or one stopped midway."""
    from engine.safe_files import read_regular

    meta = Path(out_dir) / "cohort.json"
    stopped = (Path(out_dir) / PARTIAL_MARKER).exists()
    if stopped or not meta.is_file() or not (Path(out_dir) / "manifest.csv").is_file():
        return None
    try:
        summary = json.loads(read_regular(meta, MAX_COHORT_JSON_BYTES, "cohort.json").decode("utf-8"))
    except (AlifuseInputError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return None
    return {k: v for k, v in summary.items() if k != "subjects"} if isinstance(summary, dict) else None
