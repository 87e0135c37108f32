#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and opens the viewer on the bundled demo case with the demo model.
# Extra arguments go to alifuse-gui (e.g. an image, --ehr, --checkpoint, --screenshot FILE).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
if [ -z "${DISPLAY:-}" ] && [ -z "${WAYLAND_DISPLAY:-}" ]; then
    # No screen (a server, CI): run the viewer on a virtual one; with --screenshot it saves the window and exits.
    exec xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/alifuse-gui "$@"
fi
exec .venv/bin/alifuse-gui "$@"
