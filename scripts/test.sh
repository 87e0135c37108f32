#!/usr/bin/env bash
# Sets everything up (scripts/setup.sh) and runs the whole test suite under a virtual X server, in one pytest
# worker per core, at most 4 (pytest-xdist; each test runs torch on one thread, tests/conftest.py; each worker loads
# its own models). ALIFUSE_TEST_WORKERS=N sets the number, 0 runs it in one process; extra arguments go
# to pytest.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
cores=$(nproc 2>/dev/null || echo 1)
workers=${ALIFUSE_TEST_WORKERS:-$(( cores < 4 ? cores : 4 ))}
xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python -m pytest -q -n "$workers" "$@"
