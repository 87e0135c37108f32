#!/usr/bin/env bash
# Creates .venv/ at the repo root with everything the project needs (idempotent).
# torch comes first, from the CPU build (pip install torch==2.13.0), pinned by constraints.txt
# so that no later step pulls a multi-gigabyte CUDA build.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
py=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$py" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
if ! .venv/bin/python -c "import torch, sys; sys.exit(torch.__version__.split('+')[0] != '2.13.0')" 2>/dev/null; then
    "${pip[@]}" install torch==2.13.0
fi
stamp=.venv/.alifuse-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    "${pip[@]}" install -c constraints.txt -e ".[test]"
    touch "$stamp"
fi
# The napari canvas needs a real X server: Xvfb and the xcb libraries Qt loads.
if ! command -v xvfb-run >/dev/null 2>&1 || ! ldconfig -p | grep -q libxcb-icccm.so.4; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq xvfb xauth libxcb-icccm4 libxcb-keysyms1 \
            libxcb-image0 libxcb-render-util0 libxcb-xinerama0 libxcb-xkb1 libxkbcommon-x11-0 \
            libxcb-randr0 libxcb-shape0 libxcb-cursor0 libgl1 libegl1 libfontconfig1 libdbus-1-3 >/dev/null
    else
        echo "setup: Xvfb is missing; install xvfb xauth libxcb-icccm4 libxcb-keysyms1 (Debian) for the viewer" >&2
    fi
fi
