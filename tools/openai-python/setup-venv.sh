#!/usr/bin/env bash
# Builds tools/openai-python/.venv (the official `openai` package and pytest) from requirements.lock;
# reused while the lock is unchanged.
set -euo pipefail
dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$dir/.venv"
want="$(sha256sum "$dir/requirements.lock" | cut -d' ' -f1)"
if [[ -f "$venv/.stamp" && "$(cat "$venv/.stamp")" == "$want" ]] && "$venv/bin/python" -c 'import openai' 2>/dev/null; then
  exit 0
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$dir/requirements.lock"
echo "$want" >"$venv/.stamp"
