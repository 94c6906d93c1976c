#!/bin/bash
# A Docker engine for the compose suite on a machine that cannot reach Docker Hub (after the
# recipe in /work/shared/compose-netns): `engine.sh up` installs what is missing, builds the base
# image node:20-bookworm-slim from debootstrap and this machine's node (cached), and starts two
# dockerds; `engine.sh down` stops them by PID and deletes the namespace. Loud on any failure.
#   run dockerd:   inside network namespace $NS (only lo, no route out); every container, the
#                  compose network and the published 127.0.0.1 ports exist only there.
#   build dockerd: host namespace, no bridge, no iptables; only for `build.network: host`, so the
#                  Dockerfile's `apt-get` and `npm ci` reach the package registries.
set -euo pipefail
DC=${MESH_COMPOSE_DIR:-$HOME/.cache/mesh-compose}   # data roots and the base rootfs: kept, a cache
NS=${MESH_COMPOSE_NETNS:-mesh-compose}
mkdir -p "$DC"
say() { echo "engine.sh: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }

install_packages() {
  local missing=()
  command -v dockerd >/dev/null || missing+=(docker.io)
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v ip >/dev/null || missing+=(iproute2)
  command -v findmnt >/dev/null || missing+=(util-linux)
  [ ${#missing[@]} -eq 0 ] && return
  say "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The base rootfs: a debootstrap minbase of bookworm, this machine's node 20 and npm 10.8.2 (what the
# official node:20 images bundle). Rebuilt only when the node binary changes.
base_rootfs() {
  local R=$DC/rootfs NODE stamp
  NODE=$(command -v node)
  "$NODE" -e 'const [a,b]=process.versions.node.split(".").map(Number); if(a!==20||b<10) process.exit(1)' || die "need node 20.10+ on this machine"
  stamp="$("$NODE" -v) $(sha256sum "$NODE" | cut -c1-16)"
  if [ -f "$DC/rootfs.stamp" ] && [ "$(cat "$DC/rootfs.stamp")" = "$stamp" ] && [ -x "$R/usr/local/bin/node" ]; then return; fi
  local t0=$SECONDS
  if [ ! -x "$R/bin/bash" ]; then
    local mirror
    mirror=$( { grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null || true; } | head -1 | tr -d ' ')
    rm -rf "$R"
    debootstrap --variant=minbase bookworm "$R" ${mirror:+"$mirror"} >"$DC/debootstrap.log" 2>&1 || die "debootstrap (log: $DC/debootstrap.log)"
  fi
  install -D -m755 "$NODE" "$R/usr/local/bin/node"
  [ -f "$DC/npm-10.8.2.tgz" ] || (cd "$DC" && npm pack npm@10.8.2 >/dev/null 2>&1)
  rm -rf "$R/usr/local/lib/node_modules/npm"; mkdir -p "$R/usr/local/lib/node_modules/npm"
  tar -xzf "$DC/npm-10.8.2.tgz" -C "$R/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$R/usr/local/bin/npx"
  # The machine's CA bundle, for npm alone (a registry mirror may use a private CA).
  install -D -m644 /etc/ssl/certs/ca-certificates.crt "$R/usr/local/share/host-ca-bundle.crt"
  mkdir -p "$R/usr/local/etc"
  printf 'cafile=/usr/local/share/host-ca-bundle.crt\nupdate-notifier=false\nfund=false\naudit=false\n' > "$R/usr/local/etc/npmrc"
  # apt in a docker build has no TLS CA bundle of its own either: the same bundle, for apt alone.
  printf 'Acquire::https::CaInfo "/usr/local/share/host-ca-bundle.crt";\n' > "$R/etc/apt/apt.conf.d/90host-ca"
  chroot "$R" sh -c 'getent group node >/dev/null || groupadd -g 1000 node; id node >/dev/null 2>&1 || useradd -u 1000 -g node -s /bin/bash -m node'
  rm -rf "$R"/var/cache/apt/archives/*.deb "$R"/usr/share/doc/* "$R"/usr/share/man/*
  env -u NODE_EXTRA_CA_CERTS chroot "$R" /usr/local/bin/node -v >/dev/null || die "node does not run in the rootfs"
  echo "$stamp" > "$DC/rootfs.stamp"
  rm -f "$DC"/*-base.imported
  say "base rootfs built in $((SECONDS - t0)) s"
}

start_dockerd() { # name socket command...
  local name=$1 sock=$2; shift 2
  mkdir -p "$DC/$name-data" "$DC/$name-exec"
  if [ -S "$sock" ] && docker -H "unix://$sock" info >/dev/null 2>&1; then die "a $name dockerd already answers on $sock (another run? engine.sh down stops it)"; fi
  rm -f "$sock" "$DC/$name-dockerd.pid"
  "$@" --data-root "$DC/$name-data" --exec-root "$DC/$name-exec" --pidfile "$DC/$name-dockerd.pid" \
    -H "unix://$sock" --storage-driver overlay2 >"$DC/$name-dockerd.log" 2>&1 &
  for _ in $(seq 60); do docker -H "unix://$sock" info >/dev/null 2>&1 && break; sleep 1; done
  docker -H "unix://$sock" info >/dev/null 2>&1 || { tail -20 "$DC/$name-dockerd.log" >&2; die "the $name dockerd did not answer in 60 s (log: $DC/$name-dockerd.log)"; }
  say "$name dockerd pid $(cat "$DC/$name-dockerd.pid")"
}

import_base() { # socket name
  local sock=$1 name=$2
  if [ -f "$DC/$name-base.imported" ] && docker -H "unix://$sock" image inspect node:20-bookworm-slim >/dev/null 2>&1; then return; fi
  tar -C "$DC/rootfs" -c . | docker -H "unix://$sock" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$(node -p process.versions.node)" \
    --change 'CMD ["node"]' - node:20-bookworm-slim >/dev/null
  touch "$DC/$name-base.imported"
}

up() {
  install_packages
  base_rootfs
  ip netns list | grep -qw "$NS" && die "network namespace $NS exists (a run still up? engine.sh down)"
  ip netns add "$NS"
  ip netns exec "$NS" ip link set lo up
  # `ip netns exec` gives dockerd a mount namespace with a fresh /sys, which hides the host's cgroup
  # mounts: mount the same hierarchies again there before starting it.
  local cg
  cg=$(findmnt -rn -t tmpfs,cgroup,cgroup2 -o TARGET,FSTYPE,OPTIONS | awk '$1 ~ "^/sys/fs/cgroup"')
  cat > "$DC/netns-dockerd.sh" <<EOS
#!/bin/sh
set -e
echo "$cg" | while read -r target fstype opts; do
  mkdir -p "\$target"
  mount -t "\$fstype" -o "\$opts" "\$fstype" "\$target"
done
exec dockerd "\$@"
EOS
  chmod +x "$DC/netns-dockerd.sh"
  start_dockerd run "$DC/run.sock" ip netns exec "$NS" "$DC/netns-dockerd.sh"
  start_dockerd build "$DC/build.sock" dockerd --bridge=none --iptables=false --ip-forward=false --ip-masq=false
  import_base "$DC/run.sock" run
  import_base "$DC/build.sock" build
}

stop_pid() { # pidfile
  local f=$1 pid kids
  [ -f "$f" ] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    kids=$(pgrep -P "$pid" || true)   # its managed containerd, which exits with it
    kill -TERM "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -0 "$pid" 2>/dev/null && { say "dockerd $pid still alive after 30 s: KILL"; kill -KILL "$pid"; }
    for k in $kids; do
      for _ in $(seq 15); do kill -0 "$k" 2>/dev/null || break; sleep 1; done
      kill -0 "$k" 2>/dev/null && { say "child $k still alive: TERM"; kill -TERM "$k"; }
    done
    say "stopped $(basename "$f" .pid) ($pid; children: ${kids:-none})"
  fi
  rm -f "$f"
}

down() {
  stop_pid "$DC/run-dockerd.pid"
  stop_pid "$DC/build-dockerd.pid"
  # The build dockerd shares the host's mount namespace and leaves libnetwork's nsfs mounts behind.
  local m
  for m in $(findmnt -rn -o TARGET | grep "^$DC/" | sort -r); do umount "$m" && say "unmounted $m"; done
  if ip netns list | grep -qw "$NS"; then ip netns delete "$NS"; fi
  rm -f "$DC/run.sock" "$DC/build.sock"
}

# What must be gone after `down`: no dockerd of ours, no namespace, no mount under $DC.
check_clean() {
  local left=0
  for f in run build; do [ -f "$DC/$f-dockerd.pid" ] && { say "left: $f dockerd pid file"; left=1; }; done
  ip netns list | grep -qw "$NS" && { say "left: network namespace $NS"; left=1; }
  findmnt -rn -o TARGET | grep -q "^$DC/" && { say "left: mounts under $DC"; left=1; }
  pgrep -f "data-root $DC/" >/dev/null && { say "left: a dockerd with data root under $DC"; left=1; }
  return $left
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  check-clean) check_clean ;;
  env) echo "DC=$DC NS=$NS RUN=unix://$DC/run.sock BUILD=unix://$DC/build.sock" ;;
  *) echo "usage: engine.sh up|down|check-clean|env" >&2; exit 2 ;;
esac
