#!/usr/bin/env bash
# MESH_CMD_SETUP for ../shared/peer-bench/run.sh: this mesh as a peer, every feature on:
#   wrk -> proxy A (ingress mode, outbound on the entry port) ==mTLS, CA-issued SPIFFE certs==> proxy B (inbound) -> backend
# Discovery is development mode: the Pod and Service below, in the Kubernetes YAML the destination reads.
# run.sh sets PB_*; MESH_REPO is this checkout. Prints the PIDs of the two proxies (the CA is stopped once both
# have their certificates, so the RSS and CPU figures are the two sidecars' alone).
set -euo pipefail
: "${MESH_REPO:?set MESH_REPO to the project checkout}"
entry=$1; base=$((entry + 1)); W=$PB_WORKDIR
ca=$base; b_in=$((base + 1)); b_admin=$((base + 2)); b_out=$((base + 3)); a_in=$((base + 4)); a_admin=$((base + 5)); b_tap=$((base + 6)); a_tap=$((base + 7))
cd "$MESH_REPO"
node bin/mesh.js identity init --dir "$W/ca" --force >/dev/null
node bin/mesh.js identity token --dir "$W/ca" --namespace default --service-account a --ttl 24h > "$W/a.jwt"
node bin/mesh.js identity token --dir "$W/ca" --namespace default --service-account b --ttl 24h > "$W/b.jwt"
auth="bench.default.svc.cluster.local:$PB_APP_PORT"
cat > "$W/resources.yaml" <<YAML
apiVersion: v1
kind: Pod
metadata: { name: b-0, namespace: default, labels: { app: bench } }
spec:
  serviceAccountName: b
  containers:
    - { name: app, ports: [ { name: http, containerPort: $PB_APP_PORT } ] }
    - { name: mesh-proxy, ports: [ { name: mesh-inbound, containerPort: $b_in } ] }
status: { podIP: $PB_APP_HOST }
---
apiVersion: v1
kind: Service
metadata: { name: bench, namespace: default }
spec: { selector: { app: bench }, ports: [ { port: $PB_APP_PORT, targetPort: http } ] }
YAML
setsid node bin/mesh.js identity serve --dir "$W/ca" --addr "127.0.0.1:$ca" > "$W/ca.log" 2>&1 < /dev/null & ca_pid=$!
for i in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$ca) 2>/dev/null && break; sleep 0.1; done
common=(--pod-ip 127.0.0.1 --endpoints-file "$W/resources.yaml" --identity-addr "127.0.0.1:$ca" --trust-anchors "$W/ca/ca.crt" --pod-namespace default)
MALLOC_ARENA_MAX=2 MESH_LOG_LEVEL=warn setsid node bin/mesh.js proxy "${common[@]}" --pod-name b-0 --service-account b --token-file "$W/b.jwt" \
  --inbound-port $b_in --admin-port $b_admin --outbound-port $b_out --tap-port $b_tap --app-port "$PB_APP_PORT" > "$W/b.log" 2>&1 < /dev/null & echo $!
MALLOC_ARENA_MAX=2 MESH_LOG_LEVEL=warn setsid node bin/mesh.js proxy "${common[@]}" --pod-name a-0 --service-account a --token-file "$W/a.jwt" \
  --outbound-port "$entry" --inbound-port $a_in --admin-port $a_admin --tap-port $a_tap --ingress --ingress-default-dst "$auth" > "$W/a.log" 2>&1 < /dev/null & echo $!
for port in $b_admin $a_admin; do
  for i in $(seq 150); do [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/ready") == 200 ]] && break; sleep 0.1; done
done
kill "$ca_pid"
