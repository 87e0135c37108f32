#!/usr/bin/env bash
# Every GPU figure of issue 6 in one run on a lent H100/H200, as the device tool runs it (repo root, $OUT for what
# comes back). Prepare the kit here first: bash scripts/gpu_kit.sh; then
#   run(command="bash scripts/gpu_bench.sh", carry=[".gpu"], timeout_s=600)
# About 6-9 minutes: the GPU preprocessing's equivalence tests, the paper model's figures, its training with
# and without torch.compile, the loader.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/alifuse-gpu-out}
mkdir -p "$OUT"
KIT=.gpu
[ -d "$KIT/wheels" ] || { echo "no $KIT/: run scripts/gpu_kit.sh here first and carry $KIT" >&2; exit 2; }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$KIT"/wheels/*.whl || exit 2
export PYTHONPATH="$PWD:/tmp/site${PYTHONPATH:+:$PYTHONPATH}" ALIFUSE_TOKENIZER_DIR="$PWD/$KIT/tokenizer" \
       PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
{ nvidia-smi; python3 -c "import torch; print(torch.__version__, torch.cuda.get_device_name(0))"; nproc; free -g
  df -h /dev/shm; } > "$OUT/machine.txt" 2>&1  # /dev/shm: the loader's workers hand their batches over through it
cat "$OUT/machine.txt"

bench() {  # name, seconds, bench arguments...
    local name=$1 limit=$2; shift 2
    echo "== alifuse-bench $* (at most ${limit}s)"
    timeout "$limit" python3 -m trainer.cli_bench --json "$@" > "$OUT/$name.json" 2> "$OUT/$name.err"
    echo "exit $?"; tail -3 "$OUT/$name.err"
    python3 - "$OUT/$name.json" <<'EOF'
import json, sys
try:
    report = json.load(open(sys.argv[1]))
except (OSError, ValueError) as exc:
    sys.exit(f"no report: {exc}")
for name, value in sorted(report["figures"].items()):
    print(f"  {name} = {value:.4g}")
for name, why in sorted(report.get("skipped", {}).items()):
    print(f"  {name} skipped: {why}")
EOF
}

echo "== the GPU preprocessing gives the CPU path's numbers (tests/engine/test_preprocess_torch.py on cuda)"
timeout 90 python3 -m pytest -q -p no:cacheprovider tests/engine/test_preprocess_torch.py 2>&1 | tee "$OUT/preprocess_cuda_tests.txt" | tail -3

# the limits add up to 550 s, under the device tool's 600 s, so the last report still comes back whole
bench plain 200 --repeats 3 --only flops paper train loader
# the compiled run starts at the batch the plain run fitted: finding it again would compile once per halving
BATCH=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['details']['paper.cuda.train_samples_per_s']['batch'])" "$OUT/plain.json" 2>/dev/null || echo 32)
bench compiled 260 --repeats 3 --only train --compile --train-batch "$BATCH"
