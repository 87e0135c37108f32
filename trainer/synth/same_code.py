"""Is a finished cohort what this code writes? ``alifuse-synth --skip-if-done`` keeps a cohort made with the same
options, but the options say nothing of the generator's code: a cohort rendered before a change of the atrophy model
or of the records would be trained on as if it were today's. Two checks, seconds against a cohort's minutes: every
subject's draws (latents, scan settings, anatomy: cohort.json; its record: ehr/) are drawn again and compared, and
the first subject of each class is rendered again into a scratch folder and compared, file by file, with the
cohort's. The render also differs where another processor made the cohort (about one subject in nine, between
machines with and without AVX-512: docs/RESULTS.md); the cohort is then written again too, as this machine renders
it."""
from __future__ import annotations

import filecmp
import json
import tempfile
from pathlib import Path
from typing import Sequence

from engine.errors import AlifuseInputError
from engine.safe_files import read_regular
from trainer.synth import cohort


def _same_bytes(a: Path, b: Path) -> bool:
    return a.is_file() and b.is_file() and filecmp.cmp(a, b, shallow=False)


def generator_differs(out_dir: Path, n_subjects: int, seed: int, acquisition: str,
                      class_balance: Sequence[float], size: str) -> str | None:
    """What of the finished cohort in ``out_dir`` this code would write otherwise, in a few words; None when the
    draws and the rendered probes agree. ``out_dir`` must hold a finished cohort (:func:`cohort.finished_cohort`)."""
    out_dir = Path(out_dir)
    specs = cohort.plan_cohort(n_subjects, seed, acquisition, class_balance, size)
    try:
        stored = json.loads(read_regular(out_dir / "cohort.json", cohort.MAX_COHORT_JSON_BYTES,
                                         "cohort.json").decode("utf-8"))
    except (AlifuseInputError, UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        return "its cohort.json cannot be read"
    drawn = json.loads(json.dumps(cohort.cohort_summary(specs, seed, acquisition, class_balance, size)))
    if stored != drawn:
        return "the subjects' draws in cohort.json are not this code's"
    for spec in specs:  # the records are not in cohort.json: each one's file, as make_subject writes it
        rel = f"ehr/{spec.subject_id}.json"
        ehr = out_dir / rel
        if not ehr.is_file() or ehr.read_text() != cohort.record_text(spec):
            return f"{spec.subject_id}'s record is not this code's ({rel})"
    probes = {s.latents.label: s for s in reversed(specs)}  # the first subject of each class
    with tempfile.TemporaryDirectory(prefix="alifuse-synth-check-") as scratch:
        for label in cohort.CLASSES:
            spec = probes.get(label)
            if spec is None:
                continue
            cohort.make_subject(Path(scratch), spec)
            for rel in (spec.image_name, spec.mask_name):  # its record: compared above
                if not _same_bytes(out_dir / rel, Path(scratch) / rel):
                    return f"{spec.subject_id} ({label}) renders otherwise now ({rel})"
    return None

