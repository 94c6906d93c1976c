#!/bin/bash
# Starts etcd + kube-apiserver (+ kube-controller-manager) in a network namespace of their own
# (loopback only: nothing can leave it). Everything is a parameter, so several clusters run at once:
#   NETNS (default mesh-k8s)   RUN_DIR (default $K8S_DIR/run-$NETNS)   WITH_KCM (1)
#   ETCD_PORT (2379) ETCD_PEER_PORT (2380) APISERVER_PORT (6443) KCM_PORT (10257)
# Writes RUN_DIR/admin.kubeconfig (server https://127.0.0.1:APISERVER_PORT, valid inside NETNS),
# RUN_DIR/<component>.pid, logs in RUN_DIR/log/. Prints "ready" on the last line when /readyz is ok.
# Stop: NETNS=... RUN_DIR=... stop.sh (by recorded PID only).
set -euo pipefail
K=${K8S_DIR:-$HOME/.cache/mesh-k8s}; B=${K8S_BIN:-$K/bin}
NS=${NETNS:-mesh-k8s}; R=${RUN_DIR:-$K/run-$NS}
ETCD_PORT=${ETCD_PORT:-2379}; ETCD_PEER_PORT=${ETCD_PEER_PORT:-2380}
APISERVER_PORT=${APISERVER_PORT:-6443}; KCM_PORT=${KCM_PORT:-10257}; WITH_KCM=${WITH_KCM:-1}
fail() { echo "run.sh: $*" >&2; exit 1; }
for c in kube-apiserver $([ "$WITH_KCM" = 1 ] && echo kube-controller-manager); do [ -x "$B/$c" ] || fail "$B/$c is missing: run $(dirname "$0")/build.sh first"; done
command -v etcd >/dev/null || fail "etcd is not installed: run $(dirname "$0")/build.sh first"
mkdir -p "$R/pki" "$R/log"
ip netns list | grep -qw "$NS" || { ip netns add "$NS"; ip netns exec "$NS" ip link set lo up; }
P=$R/pki
if [ ! -f "$P/ca.crt" ]; then
  ( cd "$P"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=mesh-k8s-test-ca 2>/dev/null
  cat > san.ext <<E2
subjectAltName=IP:127.0.0.1,IP:198.18.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
extendedKeyUsage=serverAuth
E2
  echo 'extendedKeyUsage=clientAuth' > client.ext
  mk() { openssl req -newkey rsa:2048 -nodes -keyout $1.key -out $1.csr -subj "$2" 2>/dev/null
         openssl x509 -req -in $1.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -out $1.crt -extfile $3 2>/dev/null; }
  mk apiserver /CN=kube-apiserver san.ext
  mk admin "/O=system:masters/CN=admin" client.ext
  openssl genrsa -out sa.key 2048 2>/dev/null; openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
  echo 'admin-token,admin,uid-admin,"system:masters"' > tokens.csv ) || fail "certificate generation failed (openssl)"
fi
cat > "$R/admin.kubeconfig" <<E3
apiVersion: v1
kind: Config
clusters: [{name: local, cluster: {server: "https://127.0.0.1:$APISERVER_PORT", certificate-authority: $P/ca.crt}}]
users: [{name: admin, user: {client-certificate: $P/admin.crt, client-key: $P/admin.key}}]
contexts: [{name: local, context: {cluster: local, user: admin}}]
current-context: local
E3
start=$(date +%s)
if [ ! -f "$R/etcd.pid" ] || ! kill -0 "$(cat "$R/etcd.pid")" 2>/dev/null; then
  ip netns exec "$NS" etcd --name default --data-dir "$R/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "default=http://127.0.0.1:$ETCD_PEER_PORT" >> "$R/log/etcd.log" 2>&1 &
  echo $! > "$R/etcd.pid"
fi
# The apiserver's command line is kept in a file: a test restarts the apiserver alone (a watch cut) with it.
cat > "$R/kube-apiserver.cmd" <<E5
$B/kube-apiserver --etcd-servers=http://127.0.0.1:$ETCD_PORT --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port=$APISERVER_PORT --insecure-port=0 --cert-dir=$R/apiserver-certs --tls-cert-file=$P/apiserver.crt --tls-private-key-file=$P/apiserver.key --client-ca-file=$P/ca.crt --token-auth-file=$P/tokens.csv --authorization-mode=Node,RBAC --service-account-issuer=https://kubernetes.default.svc.cluster.local --service-account-key-file=$P/sa.pub --service-account-signing-key-file=$P/sa.key --api-audiences=https://kubernetes.default.svc.cluster.local --service-cluster-ip-range=198.18.0.0/24 --endpoint-reconciler-type=none --allow-privileged=true --profiling=false
E5
ip netns exec "$NS" $(cat "$R/kube-apiserver.cmd") >> "$R/log/kube-apiserver.log" 2>&1 &
echo $! > "$R/kube-apiserver.pid"
until ip netns exec "$NS" curl -sk --max-time 2 --cacert "$P/ca.crt" -H 'Authorization: Bearer admin-token' \
      "https://127.0.0.1:$APISERVER_PORT/readyz" 2>/dev/null | grep -qx ok; do
  sleep 0.2
  kill -0 "$(cat "$R/etcd.pid")" 2>/dev/null || { tail -20 "$R/log/etcd.log" >&2; fail "etcd died (port $ETCD_PORT/$ETCD_PEER_PORT in use in $NS?); log $R/log/etcd.log"; }
  kill -0 "$(cat "$R/kube-apiserver.pid")" 2>/dev/null || { tail -20 "$R/log/kube-apiserver.log" >&2; fail "kube-apiserver died; log $R/log/kube-apiserver.log"; }
  [ $(( $(date +%s) - start )) -lt 120 ] || fail "kube-apiserver not ready after 120 s; log $R/log/kube-apiserver.log"
done
if [ "$WITH_KCM" = 1 ] && { [ ! -f "$R/kube-controller-manager.pid" ] || ! kill -0 "$(cat "$R/kube-controller-manager.pid")" 2>/dev/null; }; then
  ip netns exec "$NS" "$B/kube-controller-manager" --kubeconfig="$R/admin.kubeconfig" \
    --authentication-kubeconfig="$R/admin.kubeconfig" --authorization-kubeconfig="$R/admin.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --port=0 --leader-elect=false \
    --service-account-private-key-file="$P/sa.key" --root-ca-file="$P/ca.crt" \
    --cluster-signing-cert-file="$P/ca.crt" --cluster-signing-key-file="$P/ca.key" \
    --controllers='*,-nodelifecycle,-nodeipam,-cloud-node-lifecycle,-route,-service' \
    --use-service-account-credentials=false >> "$R/log/kube-controller-manager.log" 2>&1 &
  echo $! > "$R/kube-controller-manager.pid"
fi
echo "netns=$NS runDir=$R apiserver=https://127.0.0.1:$APISERVER_PORT kubeconfig=$R/admin.kubeconfig after $(( $(date +%s) - start ))s"
echo "PIDs: $(for f in "$R"/*.pid; do echo -n "$(basename "$f" .pid)=$(cat "$f") "; done)"
echo ready
