#!/usr/bin/env bash
# The one command on a lent GPU machine (from the repository root, with .whl carried):
#   bash tools/bench/gpu/device-run.sh            # all cases, within 450 s, results in $OUT
#   bash tools/bench/gpu/device-run.sh --dry-run  # on a CPU: tiny configs, CUDA-only parts skipped
# Installs the carried wheels (.whl/, see wheels.txt) into /tmp/t2v-site, then runs device_run.py
# with the machine's own python3 (T2V_PYTHON overrides it: CI runs the worker's venv).
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
out="${OUT:-device-out}"
mkdir -p "$out"
python="${T2V_PYTHON:-python3}"
if compgen -G ".whl/*.whl" > /dev/null; then
  "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/t2v-site .whl/*.whl || { echo "device-run: installing .whl/ failed" >&2; exit 1; }
  export PYTHONPATH="/tmp/t2v-site${PYTHONPATH:+:$PYTHONPATH}"
fi
export PYTHONUNBUFFERED=1
exec "$python" tools/bench/gpu/device_run.py --out "$out" "$@"
