"""Preprocessed-volume cache: each image is decoded and resampled once.

Keyed by the file's content (SHA-256), the preprocessing version and the grid size, so an edited file or a
new preprocessing never reuses a stale entry. Entries are float16 ``.npy`` files written atomically.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

import numpy as np

from engine.config import PREPROCESSING_VERSION
from engine.imageio import load_volume
from engine.preprocess import preprocess
from engine.safe_files import MAX_IMAGE_BYTES, open_regular


def default_cache_dir() -> Path:
    base = os.environ.get("ALIFUSE_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "alifuse")
    return Path(base) / "preprocessed"


def content_hash(path: Path) -> str:
    """SHA-256 of a file, or of every file of a DICOM folder in name order."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        with open_regular(f, MAX_IMAGE_BYTES, "image file") as fh:  # a FIFO or /dev/zero: refused, not hashed forever
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()


class PreprocessCache:
    """get(path, size) -> (S, S, S) float32 in [0, 1]; memoised in memory and on disk."""

    def __init__(self, folder: Path | None = None, memory: bool = True) -> None:
        self.folder = Path(folder) if folder else default_cache_dir()
        self.memory: dict[tuple[str, int], np.ndarray] | None = {} if memory else None
        self._keys: dict[tuple[str, float, int], str] = {}
        self.hits = self.misses = 0

    def key(self, path: Path, size: int) -> str:
        st = path.stat()
        memo = (str(path.resolve()), st.st_mtime, st.st_size)
        if memo not in self._keys:
            self._keys[memo] = content_hash(path)
        return f"{self._keys[memo][:40]}-p{PREPROCESSING_VERSION}-s{size}"

    def get(self, path: str | Path, size: int) -> np.ndarray:
        path = Path(path)
        key = self.key(path, size)
        if self.memory is not None and (key, size) in self.memory:
            self.hits += 1
            return self.memory[(key, size)]
        file = self.folder / key[:2] / f"{key}.npy"
        try:
            arr = np.load(file).astype(np.float32)
            self.hits += 1
        except (OSError, ValueError):
            self.misses += 1
            arr16 = preprocess(load_volume(path), size)[0].astype(np.float16)
            self._write(file, arr16)
            # Serve what the disk holds, so a first run and a resumed run see identical inputs.
            arr = arr16.astype(np.float32)
        if self.memory is not None:
            self.memory[(key, size)] = arr
        return arr

    def _write(self, file: Path, arr: np.ndarray) -> None:
        try:
            file.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=file.parent, suffix=".tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, arr)
            os.replace(tmp, file)
        except OSError:
            pass  # a read-only or full cache only costs speed, never correctness
