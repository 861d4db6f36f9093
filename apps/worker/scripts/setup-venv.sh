#!/usr/bin/env bash
# Creates apps/worker/.venv from the lock files. Idempotent: when the locks and this script are
# unchanged (stamp file) and the venv imports, it is reused as is.
#
#   T2V_PYTHON   interpreter to build the venv with (default: python3; 3.10 to 3.12). When set,
#                a venv built by another interpreter version is rebuilt; when unset, any
#                working venv built from the same locks is kept.
#   T2V_VENV     venv location (default: apps/worker/.venv)
#   T2V_SETUP_PROGRESS=1  show pip's download progress (npm start sets it: the first build is GBs)
set -euo pipefail

worker_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${T2V_VENV:-$worker_dir/.venv}"
python="${T2V_PYTHON:-python3}"
stamp="$venv/.t2v-lock-stamp"
version() { "$1" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))'; }

want="$(cat "$worker_dir/requirements.lock" "$worker_dir/requirements-dev.lock" "${BASH_SOURCE[0]}" |
  sha256sum | cut -d' ' -f1)"

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]] &&
  "$venv/bin/python" -c 'import torch, diffusers, transformers, pytest' 2>/dev/null; then
  if [[ -z "${T2V_PYTHON:-}" || "$(version "$venv/bin/python")" == "$(version "$python")" ]]; then
    echo "setup-venv: $venv is up to date (Python $(version "$venv/bin/python"))"
    exit 0
  fi
fi

if ! "$python" -c 'import sys; sys.exit(0 if (3, 10) <= sys.version_info[:2] < (3, 13) else 1)'; then
  echo "setup-venv: $python is $("$python" --version 2>&1); the worker needs Python 3.10 to 3.12" >&2
  exit 1
fi

echo "setup-venv: building $venv with $("$python" --version 2>&1)"
started=$SECONDS
rm -rf "$venv"
"$python" -m venv "$venv"
# PyPI's Linux torch wheel is the CUDA build; it runs on CPU as is (docs/adr/0010).
quiet=(--quiet)
[[ "${T2V_SETUP_PROGRESS:-}" == 1 ]] && quiet=()
"$venv/bin/python" -m pip install "${quiet[@]}" --disable-pip-version-check --no-input \
  -r "$worker_dir/requirements.lock" -r "$worker_dir/requirements-dev.lock"
"$venv/bin/python" -m pip check
echo "$want" >"$stamp"
echo "setup-venv: done in $((SECONDS - started))s"
