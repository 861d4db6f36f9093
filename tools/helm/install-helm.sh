#!/usr/bin/env bash
# Installs the pinned helm into <repo>/.tools/bin, built from helm's Go module so it works
# wherever the Go module proxy answers (no release tarball download). Idempotent: does
# nothing when the pinned build is already there.
set -euo pipefail

HELM_VERSION="${HELM_VERSION:-v3.22.0}"
# helm's release build stamps the Kubernetes version it defaults to (helm template, lint)
# from its client-go module (v0.37 -> 1.37); a plain `go install` would leave 1.20.
K8S_MAJOR="${HELM_K8S_MAJOR:-1}"
K8S_MINOR="${HELM_K8S_MINOR:-37}"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN_DIR="${ROOT}/.tools/bin"
HELM="${BIN_DIR}/helm"
STAMP="${BIN_DIR}/.helm-build"
WANT="helm ${HELM_VERSION} kubernetes ${K8S_MAJOR}.${K8S_MINOR}"

if [[ -x "${HELM}" && -f "${STAMP}" && "$(cat "${STAMP}")" == "${WANT}" ]] \
  && "${HELM}" version --template '{{.Version}}' 2>/dev/null | grep -qx "${HELM_VERSION}"; then
  echo "${WANT} already installed at ${HELM}"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build helm ${HELM_VERSION}" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
start=$(date +%s)
GOBIN="${BIN_DIR}" CGO_ENABLED=0 go install -trimpath \
  -ldflags "-s -w \
    -X helm.sh/helm/v3/internal/version.version=${HELM_VERSION} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${K8S_MAJOR} \
    -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${K8S_MINOR} \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${K8S_MAJOR} \
    -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${K8S_MINOR}" \
  "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
echo "${WANT}" > "${STAMP}"
echo "installed $("${HELM}" version --short) (${WANT}) into ${BIN_DIR} in $(( $(date +%s) - start ))s"
