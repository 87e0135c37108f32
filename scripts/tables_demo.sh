#!/usr/bin/env bash
# The paper's Tables II and III in form, on the shipped model's cohorts (docs/RESULTS.md, "Tables II and III on
# the shipped model's data"): run after scripts/train_demo.sh WORK_DIR, which made the cohorts.
#
#   bash scripts/tables_demo.sh WORK_DIR [STEP ...]   (steps: modalities losses ehr res; default: modalities losses)
#
# Every variant is trained by one short recipe (3 epochs), on the same 3,000-subject training cohort and the same
# seed-0 subject-wise split as the shipped model, from the shipped image encoder (frozen: it was trained on the MRI
# alone, step 2 of train_demo.sh), with missing data as training input: only the named part differs. The full
# recipe's model (13 epochs) is not one of the rows: it had more training. Finished steps are skipped; a stopped
# step resumes exactly. scripts/tables_demo_report.py then scores every model on the held-out cohorts (seeds 23
# and 24) and writes the tables.
set -euo pipefail
{  # one block, read before it runs: an edit in place during the run cannot derail it (scripts/train_demo.sh)
root=$(cd "$(dirname "$0")/.." && pwd)
work=${1:?usage: tables_demo.sh WORK_DIR [STEP ...]}
shift
steps=${*:-modalities losses}
has() { [[ " $steps " == *" $1 "* ]]; }
bin="$root/.venv/bin"
source "$root/scripts/kernels.sh"  # threads and torch's kernel set (AVX2), whatever the machine offers
shipped=${SHIPPED:-$root/resources/alifuse-demo.safetensors}
out="$work/tables"
mkdir -p "$out/runs"

common=(--data "$work/train3000.csv" --preset demo --set image_size=32 --set patch_size=8 --set patch_stem=cnn
        --set stem_widths=16,32,64 --set image_pool=mean --set text_trainable_layers=2
        --seed 0 --cache "$work/cache" --batch-size 8 --epochs 3 --lr 3e-4)
missing=(--augment-records --field-drop 0.5 --record-drop 0.15 --monotone 1 --record-only 1000)
frozen_mri=(--init-from "$shipped" --init-parts image_encoder --freeze image_encoder)

train() {  # NAME ARGS...
    local run="$out/runs/$1"; shift
    if [ -f "$run/train_state.pt" ] && grep -q '"event": "done"' "$run/progress.json" 2>/dev/null; then
        return 0
    fi
    local resume=()
    [ -f "$run/train_state.pt" ] && resume=(--resume)
    "$bin/alifuse-train" --out "$run" "${common[@]}" "$@" "${resume[@]}"
}

# Table II: the modalities. Image only: the shipped MRI encoder with its own classification head.
if has modalities; then
    train image-only --modalities image --loss cls "${frozen_mri[@]}"
    train text-only --modalities text --loss cls "${missing[@]}"
fi
# Table III: the loss terms (both modalities; cls + cl is also Table II's "both" row), then the record's parts.
if has losses || has modalities; then train loss-cls-cl --loss cls+cl "${missing[@]}" "${frozen_mri[@]}"; fi
if has losses; then train loss-cls --loss cls "${missing[@]}" "${frozen_mri[@]}"; fi
if has ehr; then
    for part in summary lab_results demographics; do
        train "without-$part" --loss cls+cl --without-ehr "$part" "${missing[@]}" "${frozen_mri[@]}"
    done
fi
# The paper's full objective: four times the cost per step on a CPU (the 2-core machine could not give it the time).
if has res; then train loss-cls-cl-res --loss cls+cl+res "${missing[@]}" "${frozen_mri[@]}"; fi
"$bin/python" "$root/scripts/tables_demo_report.py" "$work" --shipped "$shipped" --out "$out/tables_demo.json"
exit
}
