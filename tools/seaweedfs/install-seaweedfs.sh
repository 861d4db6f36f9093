#!/usr/bin/env bash
# Builds the pinned SeaweedFS server (`weed`: master, volume, filer and S3 gateway in one binary)
# that the object-storage tests start on 127.0.0.1, from its Go module through the module proxy,
# into <repo>/.tools/bin/weed. Idempotent: does nothing when the stamped build is already there.
# Only ./weed is built; the module and build caches are the user's defaults (GOMODCACHE, GOCACHE),
# so a pin change rebuilds only what changed.
set -euo pipefail

SEAWEEDFS_VERSION="v0.0.0-20261109003541-7506e5f91cd6" # github.com/seaweedfs/seaweedfs (Apache-2.0)

ROOT="${T2V_TOOLS_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
BIN_DIR="${ROOT}/.tools/bin"
STAMP="${BIN_DIR}/.seaweedfs-build"
WANT="seaweedfs ${SEAWEEDFS_VERSION}"

if [[ -x "${BIN_DIR}/weed" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]]; then
  echo "seaweedfs already installed (${WANT})"
  exit 0
fi
command -v go >/dev/null || { echo "go is required to build SeaweedFS for the storage tests" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
start=$(date +%s)
rm -f "${STAMP}"
tmp="$(mktemp -d)"
trap 'rm -rf "${tmp}"' EXIT
# The module's own go.mod/go.sum (and its replace directive) drive the build, so it is built from
# inside its extracted copy in the module cache rather than from a wrapper module.
dir="$(cd "${tmp}" && go mod download -json "github.com/seaweedfs/seaweedfs@${SEAWEEDFS_VERSION}" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
[[ -d "${dir}" ]] || { echo "could not download github.com/seaweedfs/seaweedfs@${SEAWEEDFS_VERSION}" >&2; exit 1; }
(cd "${dir}" && GOFLAGS=-mod=mod go mod download)
echo "downloaded seaweedfs and its modules in $(( $(date +%s) - start ))s"
(cd "${dir}" && CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -ldflags "-s -w" \
  -o "${tmp}/weed" ./weed)
mv "${tmp}/weed" "${BIN_DIR}/weed"
echo "${WANT}" > "${STAMP}"
echo "installed seaweedfs (${WANT}) into ${BIN_DIR} in $(( $(date +%s) - start ))s"
