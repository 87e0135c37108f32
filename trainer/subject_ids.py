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
numbering, "001" for "sub-001") of re-exported images (new bytes) in another table cannot be matched.

Checkpoints written before these keys existed (schemes ``sha256(subject_id)[:16]`` and
``sha256(dataset/subject_id)[:16]``) hold hashes of the ids exactly as their table spelt them, and a hash cannot be
normalised. Their check goes the other way (:func:`legacy_keys`): each evaluated id is tried in the spellings that
normalise to the same id and that a table could have held -- as written; NFKC with invisible characters and
surrounding white space dropped; upper, lower, title and swapped case; full-width; and, for an id of at most
``MAX_CASE_MIX_LETTERS`` letters, every mix of cases ("sub-OAS1" from "SUB-oas1"). So a lower-cased, full-width or
invisible-character copy of a training id is refused by an old checkpoint too. What it cannot catch: a training id
that itself held invisible characters, or odd white space, or a case mix of a longer id.
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


def _clean(text: str) -> str:
    """NFKC, format and control characters dropped, white space collapsed and trimmed; case kept."""
    t = unicodedata.normalize("NFKC", str(text))
    t = "".join(c for c in t if c not in _INVISIBLE and unicodedata.category(c) not in _DROP_CATEGORIES)
    return " ".join(t.split())


#: an id with at most this many letters is tried in every mix of cases against a legacy checkpoint (2^8 spellings)
MAX_CASE_MIX_LETTERS = 8


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def spellings(text: str, case_mixes: bool = True) -> set[str]:
    """The spellings of ``text`` a table could have held for the same id: every one normalises to
    ``normalise_id(text)``, and ``text`` itself is one (see the module's note on legacy checkpoints)."""
    norm = normalise_id(text)
    simple = {text, _clean(text), norm}
    for base in (_clean(text), norm):
        simple |= {base.upper(), base.lower(), base.title(), base.capitalize(), base.swapcase()}
    out = simple | {_full_width(s) for s in simple}
    letters = [i for i, c in enumerate(norm) if c.upper() != c.lower()]
    if case_mixes and len(letters) <= MAX_CASE_MIX_LETTERS:
        for mask in range(1 << len(letters)):
            chars = list(norm)
            for bit, i in enumerate(letters):
                if mask >> bit & 1:
                    chars[i] = chars[i].upper()
            out.add("".join(chars))
    return {s for s in out if s == text or normalise_id(s) == norm}


def legacy_keys(dataset: str, subject_id: str, scheme: str) -> set[str]:
    """Hashed keys, under a legacy ``scheme``, of every spelling of (``dataset``, ``subject_id``) that a legacy
    checkpoint's table could have used for the same subject (:func:`spellings`; the data set in its plain
    spellings only, or the mixes would multiply)."""
    ids = spellings(subject_id)
    if scheme == LEGACY_SCHEMES[1]:
        return {_h(s) for s in ids}
    if scheme == LEGACY_SCHEMES[0]:
        return {_h(f"{d}/{s}") for d in spellings(dataset, case_mixes=False) for s in ids}
    raise ValueError(f"not a legacy subject key scheme {scheme!r}")


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


def table_path(spec: str) -> Path:
    """The table a ``--data`` argument reads: a folder -> its manifest.csv; KIND:TABLE[:IMAGE_ROOT] -> TABLE."""
    path = Path(spec)
    if not path.exists() and ":" in spec:
        path = Path(spec.split(":", 1)[1].partition(":")[0])
    return path / "manifest.csv" if path.is_dir() else path


def data_identity(spec: str | None) -> str | None:
    """Hashed resolved path of the table a ``--data`` argument reads (:func:`table_path`), or None. Hashed: a
    checkpoint never carries a folder name."""
    if not spec:
        return None
    path = table_path(spec)
    try:
        return _h(str(path.resolve()))
    except (OSError, RuntimeError):
        return None
