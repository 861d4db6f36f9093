#!/usr/bin/env bash
# Builds the pinned throwaway Kubernetes control plane the chart's cluster tests run against into
# <repo>/.tools: one multi-call binary for etcd, kube-apiserver, kube-controller-manager and
# kube-scheduler (from the wrapper module in tools/helm/cluster, version stamped at link time so
# the chart's kubeVersion check sees a real version), the kwok controller that simulates nodes,
# kwok's stage definitions (it has no behaviour without them) and the CRDs the chart can use
# (prometheus-operator and KEDA, from their released Go modules). Everything comes through the
# Go module proxy. Idempotent: does nothing when the stamped build is already there.
#
# Cold on 2 shared cores this takes minutes (see docs/deploy.md); the Go build and module
# caches (GOCACHE, GOMODCACHE) are the user's defaults, so a rebuild after a pin change reuses
# every package that did not change.
set -euo pipefail

K8S_VERSION="v1.37.2"     # k8s.io/kubernetes; staging modules are pinned to v0.37.2 in go.mod
ETCD_VERSION="v3.7.3"     # go.etcd.io/etcd/server/v3, pinned in go.mod
KWOK_VERSION="v0.8.0"     # sigs.k8s.io/kwok, pinned in go.mod
PROM_OPERATOR_VERSION="v0.85.0" # github.com/prometheus-operator/prometheus-operator (CRDs only)
KEDA_VERSION="v2.21.0"    # github.com/kedacore/keda/v2 (CRDs only)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
MODULE="${ROOT}/tools/helm/cluster"
BIN_DIR="${ROOT}/.tools/bin"
SHARE="${ROOT}/.tools/share/k8s"
STAMP="${BIN_DIR}/.cluster-build"
SUM="$(cat "${MODULE}/go.mod" "${MODULE}/go.sum" "${MODULE}/main.go" | sha256sum | cut -c1-16)"
WANT="kubernetes ${K8S_VERSION} etcd ${ETCD_VERSION} kwok ${KWOK_VERSION} prometheus-operator ${PROM_OPERATOR_VERSION} keda ${KEDA_VERSION} module ${SUM}"

if [[ -x "${BIN_DIR}/k8s-control-plane" && -x "${BIN_DIR}/kwok" && -f "${STAMP}" \
  && "$(cat "${STAMP}")" == "${WANT}" && -d "${SHARE}/crds" && -d "${SHARE}/kwok-stages" ]]; then
  echo "cluster tools already installed (${WANT})"
  exit 0
fi

command -v go >/dev/null || { echo "go is required to build the cluster test tools" >&2; exit 1; }

mkdir -p "${BIN_DIR}"
start=$(date +%s)
rm -f "${STAMP}"

major="${K8S_VERSION#v}"; major="${major%%.*}"
minor="${K8S_VERSION#v*.}"; minor="${minor%%.*}"
# -mod=readonly: the build uses exactly the committed go.mod/go.sum.
(cd "${MODULE}" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w \
    -X k8s.io/component-base/version.gitVersion=${K8S_VERSION} \
    -X k8s.io/component-base/version.gitMajor=${major} \
    -X k8s.io/component-base/version.gitMinor=${minor} \
    -X k8s.io/component-base/version.gitTreeState=clean" \
  -o "${BIN_DIR}/k8s-control-plane" .)
echo "built k8s-control-plane in $(( $(date +%s) - start ))s"

# kwok's controller from the same module graph (a `tool` of tools/helm/cluster/go.mod): it links
# against the k8s.io packages the control plane already compiled instead of its own older set.
(cd "${MODULE}" && CGO_ENABLED=0 go build -mod=readonly -trimpath \
  -ldflags "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=${KWOK_VERSION#v}" \
  -o "${BIN_DIR}/kwok" sigs.k8s.io/kwok/cmd/kwok)
echo "built kwok in $(( $(date +%s) - start ))s"

module_dir() { # module@version -> its extracted directory in the module cache (outside any go.mod)
  local tmp; tmp="$(mktemp -d)"
  (cd "${tmp}" && go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  rmdir "${tmp}"
}
rm -rf "${SHARE}"
mkdir -p "${SHARE}/crds" "${SHARE}/kwok-stages"
kwok_dir="$(module_dir "sigs.k8s.io/kwok@${KWOK_VERSION}")"
# Node initialise + heartbeat, and the general pod lifecycle (create, ready, complete, delete).
cp "${kwok_dir}/kustomize/stage/node/fast/node-initialize.yaml" \
  "${kwok_dir}/kustomize/stage/node/heartbeat/node-heartbeat.yaml" \
  "${kwok_dir}"/kustomize/stage/pod/general/pod-*.yaml "${SHARE}/kwok-stages/"
prom_dir="$(module_dir "github.com/prometheus-operator/prometheus-operator@${PROM_OPERATOR_VERSION}")"
keda_dir="$(module_dir "github.com/kedacore/keda/v2@${KEDA_VERSION}")"
cp "${prom_dir}/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml" \
  "${prom_dir}/example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml" \
  "${prom_dir}/example/prometheus-operator-crd/monitoring.coreos.com_podmonitors.yaml" \
  "${keda_dir}/config/crd/bases/keda.sh_scaledobjects.yaml" \
  "${keda_dir}/config/crd/bases/keda.sh_triggerauthentications.yaml" "${SHARE}/crds/"
chmod -R u+w "${SHARE}"

echo "${WANT}" > "${STAMP}"
echo "installed cluster tools (${WANT}) into ${ROOT}/.tools in $(( $(date +%s) - start ))s"
