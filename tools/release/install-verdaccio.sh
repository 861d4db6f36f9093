#!/usr/bin/env bash
# Installs the pinned Verdaccio (a local npm registry, for the release test) into
# <repo>/.tools/verdaccio with `npm ci` from tools/release/verdaccio's lock file. Idempotent: a
# stamp of the lock file skips the install while it is unchanged. Prints nothing else on reuse.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
SRC="${ROOT}/tools/release/verdaccio"
DEST="${ROOT}/.tools/verdaccio"
STAMP="${DEST}/.stamp"
WANT="$(cat "${SRC}/package.json" "${SRC}/package-lock.json" | sha256sum | cut -d' ' -f1)"

if [[ -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" && -x "${DEST}/node_modules/.bin/verdaccio" ]]; then
  exit 0
fi
start=$(date +%s)
rm -rf "${DEST}"
mkdir -p "${DEST}"
cp "${SRC}/package.json" "${SRC}/package-lock.json" "${DEST}/"
(cd "${DEST}" && npm ci --no-audit --no-fund --loglevel=error)
echo "${WANT}" >"${STAMP}"
echo "installed verdaccio $(node -p "require('${DEST}/node_modules/verdaccio/package.json').version") into ${DEST} in $(($(date +%s) - start))s"
