#!/bin/bash
# Stops what run.sh started (same NETNS / RUN_DIR), by recorded PID only; deletes the netns.
# WIPE=1 also deletes the run dir (etcd's data, certificates, logs).
K=${K8S_DIR:-$HOME/.cache/mesh-k8s}; NS=${NETNS:-mesh-k8s}; R=${RUN_DIR:-$K/run-$NS}
for c in kube-controller-manager kube-apiserver etcd; do
  f=$R/$c.pid; [ -f "$f" ] || continue; p=$(cat "$f")
  if kill -0 "$p" 2>/dev/null; then kill "$p"; for i in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
     kill -0 "$p" 2>/dev/null && kill -9 "$p"; echo "stopped $c ($p)"; fi
  rm -f "$f"
done
ip netns list | grep -qw "$NS" && ip netns delete "$NS"
[ "${WIPE:-0}" = 1 ] && rm -rf "$R"
true
