#!/usr/bin/env bash
# Installs the pinned CNCF distribution registry (an OCI image registry, for the image release
# test on loopback) into <repo>/.tools/bin/registry, built from its Go module through the Go
# module proxy. Idempotent: its own stamp file (.tools/bin/.registry-build) names the pin, and a
# matching stamp with a working binary skips the build.
set -euo pipefail

REGISTRY_VERSION="${REGISTRY_VERSION:-v3.1.2}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${ROOT}/.tools/bin"
REGISTRY="${BIN_DIR}/registry"
STAMP="${BIN_DIR}/.registry-build"
MODULE="github.com/distribution/distribution/v3"
WANT="distribution ${REGISTRY_VERSION}"

if [[ -x "${REGISTRY}" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]] \
  && "${REGISTRY}" --version 2>/dev/null | grep -q "${REGISTRY_VERSION}"; then
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the registry ${REGISTRY_VERSION}" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
start=$(date +%s)
GOBIN="${BIN_DIR}" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w -X ${MODULE}/version.version=${REGISTRY_VERSION}" \
  "${MODULE}/cmd/registry@${REGISTRY_VERSION}"
echo "${WANT}" > "${STAMP}"
echo "installed $("${REGISTRY}" --version) into ${BIN_DIR} in $(( $(date +%s) - start ))s"
