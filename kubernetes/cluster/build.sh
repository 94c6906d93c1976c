#!/bin/bash
# Builds a real kube-apiserver + kube-controller-manager (Kubernetes v1.20.2) offline, from Debian's
# kubernetes source package (the only complete Kubernetes source these machines reach), into
# $K8S_DIR/bin (default ~/.cache/mesh-k8s). Cached: a second run with the binaries present returns
# at once. Cold: about 3 min on 2 cores, with progress lines. Any failure exits non-zero with the step.
# Adapted from ../shared/k8s/build.sh; one build at a time per cache dir (flock).
set -euo pipefail
K=${K8S_DIR:-$HOME/.cache/mesh-k8s}; SRC=$K/src; VER=1.20.5+really1.20.2-1.1+deb12u1
COMPONENTS=${COMPONENTS:-kube-apiserver kube-controller-manager}
step() { echo "[k8s-build $(date -u +%H:%M:%S)] $*" >&2; }
trap 'echo "[k8s-build] FAILED at line $LINENO (exit $?): see the output above" >&2' ERR
mkdir -p "$K/bin"
exec 9>"$K/build.lock"
flock -n 9 || { step "another build holds $K/build.lock; waiting for it"; flock 9; }
have_all() { for c in $COMPONENTS; do [ -x "$K/bin/$c" ] || return 1; done; }
if have_all && command -v etcd >/dev/null && command -v kubectl >/dev/null; then
  step "cached: $K/bin has $COMPONENTS"; exit 0
fi
step "cold build into $K (about 3 minutes on 2 cores; 1.3 GB of Go build cache)"
export PATH=/usr/lib/go-1.19/bin:$PATH GO111MODULE=off GOPROXY=off GOTOOLCHAIN=local GOFLAGS= \
       CGO_ENABLED=0 GOCACHE=$K/gocache GOPATH=$K/gopath
export DEBIAN_FRONTEND=noninteractive
if [ ! -f /etc/apt/sources.list.d/mesh-k8s-src.sources ] && ! grep -rqs deb-src /etc/apt/sources.list.d/; then
  mirror=$( { grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } | head -1 | tr -d ' ')
  [ -n "$mirror" ] || { step "no Debian mirror found in the apt sources: cannot fetch the kubernetes source package"; exit 1; }
  step "adding a bookworm deb-src line ($mirror)"
  printf "Types: deb-src\nURIs: $mirror\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n" \
    > /etc/apt/sources.list.d/mesh-k8s-src.sources
  apt-get update -qq
fi
# A half-installed package (an earlier apt run that stopped) blocks every later install.
dpkg --configure -a >/dev/null 2>&1 || true
pkgs=""
[ -x /usr/lib/go-1.19/bin/go ] || pkgs="$pkgs golang-1.19-go"
[ -d /usr/share/gocode/src/github.com/modern-go/reflect2 ] || pkgs="$pkgs golang-github-modern-go-reflect2-dev"
command -v etcd >/dev/null || pkgs="$pkgs etcd-server etcd-client"
# Debian's kubernetes-client owns /usr/bin/kubectl: install it only where no kubectl is (a machine
# may carry another vendor's kubectl package, and dpkg refuses to overwrite its file).
command -v kubectl >/dev/null || pkgs="$pkgs kubernetes-client"
command -v openssl >/dev/null || pkgs="$pkgs openssl"
command -v curl >/dev/null || pkgs="$pkgs curl"
if [ -n "$pkgs" ]; then
  step "apt-get install$pkgs"
  apt-get update -qq; apt-get install -y -qq $pkgs >/dev/null
fi
mkdir -p "$SRC"; cd "$SRC"
[ -f kubernetes_1.20.5+really1.20.2.orig.tar.gz ] || { step "apt-get source kubernetes=$VER (34 MB)"; apt-get source --download-only kubernetes=$VER 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true; }
[ -f kubernetes_1.20.5+really1.20.2.orig.tar.gz ] || { step "the kubernetes source package did not download"; exit 1; }
[ -d kubernetes-1.20.2 ] || { step "unpacking"; tar xzf kubernetes_1.20.5+really1.20.2.orig.tar.gz; }
cd kubernetes-1.20.2
mkdir -p "$GOPATH/src/k8s.io"; ln -sfn "$SRC/kubernetes-1.20.2" "$GOPATH/src/k8s.io/kubernetes"
# reflect2 v1.0.1 (vendored) crashes json-iterator on Go >= 1.18: swap in Debian's v1.0.2 source.
if [ ! -f vendor/github.com/modern-go/reflect2/go_above_118.go ]; then
  rm -rf vendor/github.com/modern-go/reflect2
  cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
  rm -f vendor/github.com/modern-go/reflect2/go.mod
fi
# pkg/generated/openapi/zz_generated.openapi.go is generated at build time (Makefile.generated_files); do the same.
cd "$GOPATH/src/k8s.io/kubernetes"
if [ ! -f pkg/generated/openapi/zz_generated.openapi.go ]; then
  step "generating the OpenAPI definitions"
  go build -o "$K/bin/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  DIRS=$(find -H . -not \( \( -path './_*' -o -path './.*' -o -path ./vendor \) -prune \) -type f -name '*.go' -print0 \
    | xargs -0 grep -l '^// *+k8s:' | xargs grep -l '+k8s:openapi-gen=' | xargs -n1 dirname \
    | sed 's|^./staging/src|vendor|; s|^\./||' | grep -v -E '^vendor/k8s.io/(code-generator|sample-apiserver)/' \
    | LC_ALL=C sort -u | sed 's|^|k8s.io/kubernetes/|' | paste -sd,)
  "$K/bin/openapi-gen" --logtostderr -i "$DIRS" -p k8s.io/kubernetes/pkg/generated/openapi -O zz_generated.openapi \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt -r "$K/openapi-violations.report"
fi
V=k8s.io/kubernetes/vendor/k8s.io/component-base/version
LDF="-s -w -X $V.gitVersion=v1.20.2 -X $V.gitMajor=1 -X $V.gitMinor=20 -X $V.gitTreeState=clean -X $V.buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
LDF="$LDF -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitVersion=v1.20.2 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version.gitMinor=20"
for c in $COMPONENTS; do
  [ -x "$K/bin/$c" ] && continue
  step "go build $c (a minute or two each)"
  s=$(date +%s)
  go build -ldflags "$LDF" -o "$K/bin/$c.tmp" "k8s.io/kubernetes/cmd/$c"
  mv "$K/bin/$c.tmp" "$K/bin/$c"
  step "built $c in $(( $(date +%s)-s ))s: $(du -h "$K/bin/$c" | cut -f1)"
done
have_all || { step "binaries missing after the build"; exit 1; }
step "done: $K/bin"
