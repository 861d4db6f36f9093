#!/usr/bin/env bash
# Downloads the wheels of wheels.txt for the lent GPU machine (Python 3.12, x86_64 Linux) into
# .whl/ at the repository root (ignored by git; a run carries it with carry: [".whl"]).
#   bash tools/bench/gpu/fetch-wheels.sh     # then: du -sh .whl
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
dest="$root/.whl"
mkdir -p "$dest"
mapfile -t wanted < <(grep -Ev '^\s*(#|$)' "$root/tools/bench/gpu/wheels.txt")
python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 -d "$dest" "${wanted[@]}"
# One version of each: a stale wheel beside a new one would stop the install there.
for spec in "${wanted[@]}"; do
  name="${spec%%==*}"
  version="${spec##*==}"
  file_name="${name//-/_}"
  for wheel in "$dest/${file_name}"-*.whl; do
    [[ -e "$wheel" ]] || continue
    [[ "$(basename "$wheel")" == "${file_name}-${version}-"* ]] || rm -f "$wheel"
  done
done
du -sh "$dest"
