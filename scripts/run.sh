#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the main job on the bundled demo case.
# Until the viewer lands this is a prediction from the command line; afterwards it opens the viewer.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/alifuse-predict resources/demo/demo_case.nii.gz --ehr resources/demo/demo_case.json "$@"
