"""Who a subject is, for splits and for the leakage refusal: normalised ids and the keys a checkpoint stores.

Rule (what alifuse-eval refuses, :func:`leaked`): a case is one the model trained on if

1. its (data set, subject id) pair, both normalised, is a training subject's; or
2. its image file has the content (SHA-256) of a training image, whatever ids and data set name it carries
   now: a copy of the cohort with the data set column renamed or left blank (it then becomes the file's name),
   or moved to another folder, is still the same scans of the same people; or
3. its normalised subject id alone is a training subject's *and* the data is the checkpoint's own cohort: the
   same table file (by its resolved path) that the run was trained on, whatever the data set column now says.
   This covers text-only data whose images are not read.

Normalised (:func:`normalise_id`): Unicode NFKC (full-width "ＳＵＢ" is "SUB", a ligature its letters), every
format or control character dropped (zero-width space U+200B, BOM U+FEFF, joiners, soft hyphen, bidi marks,
variation selectors), runs of white space as one space, no white space around, case-folded: "Sub-01 ", "SUB-01",
"sub\u200b-01" are one subject.

Limits: an id another data set reuses for other people (two cohorts both numbering "sub-001") is not refused
when its data set name differs and neither its table nor its image files are the training ones -- by design,
or no zero-shot set could share a numbering scheme. Ids re-spelled beyond the normalisation (another
numbering, "001" for "sub-001") of re-exported images (new bytes) in another table cannot be matched; nor can
checkpoints written before these keys existed (schemes ``sha256(subject_id)[:16]`` and
``sha256(dataset/subject_id)[:16]``, read as they were written: exact, un-normalised ids).
"""
from __future__ import annotations

import hashlib
import unicodedata
from pathlib import Path
from typing import Iterable

#: characters that show nothing but are not of a format/control category (Hangul fillers, braille blank,
#: combining grapheme joiner, variation selectors)
_INVISIBLE = frozenset("\u115f\u1160\u3164\uffa0\u2800\u034f") | frozenset(chr(c) for c in range(0xFE00, 0xFE10))
_DROP_CATEGORIES = {"Cf", "Cc", "Cs", "Co"}

#: the keying of checkpoints written by this code: (normalised data set, normalised id)
SCHEME = "sha256(norm(dataset)/norm(subject_id))[:16]"
#: the normalised id alone, for rule 3
ID_SCHEME = "sha256(norm(subject_id))[:16]"
#: older checkpoints
LEGACY_SCHEMES = ("sha256(dataset/subject_id)[:16]", "sha256(subject_id)[:16]")


def normalise_id(text: str) -> str:
    """``text`` as an identity: NFKC, format and control characters dropped, white space collapsed, case-folded."""
    out = str(text)
    for _ in range(4):  # case folding can leave text that NFKC changes again; reach the fixed point
        t = unicodedata.normalize("NFKC", out)
        t = "".join(c for c in t if c not in _INVISIBLE and unicodedata.category(c) not in _DROP_CATEGORIES)
        t = " ".join(t.split()).casefold()
        if t == out:
            break
        out = t
    return out


def _h(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


def subject_keys(pairs: Iterable[tuple[str, str]], scheme: str = SCHEME) -> list[str]:
    """Hashed keys of (data set, subject id) pairs under ``scheme`` (the current one or a legacy one)."""
    if scheme == SCHEME:
        keys = {f"{normalise_id(d)}/{normalise_id(s)}" for d, s in pairs}
    elif scheme == ID_SCHEME:
        keys = {normalise_id(s) for _, s in pairs}
    elif scheme == LEGACY_SCHEMES[0]:
        keys = {f"{d}/{s}" for d, s in pairs}
    elif scheme == LEGACY_SCHEMES[1]:
        keys = {s for _, s in pairs}
    else:
        raise ValueError(f"unknown subject key scheme {scheme!r}")
    return sorted({_h(k) for k in keys})


def data_identity(spec: str | None) -> str | None:
    """Hashed resolved path of the table a ``--data`` argument reads (folder -> its manifest.csv; KIND:TABLE ->
    TABLE), or None. Hashed: a checkpoint never carries a folder name."""
    if not spec:
        return None
    path = Path(spec)
    if not path.exists() and ":" in spec:
        path = Path(spec.split(":", 1)[1].partition(":")[0])
    if path.is_dir():
        path = path / "manifest.csv"
    try:
        return _h(str(path.resolve()))
    except (OSError, RuntimeError):
        return None
