# mesh-demo:local: one image for every part of the mesh and the demo. `mesh` is on its PATH
# (proxy, proxy-init, identity, destination, injector, viz), and the demo apps run as
# `node bin/run.js ...`. docker-compose.yml builds it; `mesh install` names it for Kubernetes.
FROM node:20-bookworm-slim
# iptables for `mesh proxy-init` (an init step with NET_ADMIN in each pod's network namespace);
# curl for the healthchecks (a node per check, every 2 s in every container, is too dear).
RUN apt-get update && apt-get install -y --no-install-recommends iptables curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# The proxy's own user (Linkerd's UID 2102): proxy-init tells the proxy's dials from the app's by it.
RUN groupadd -g 2102 mesh-proxy && useradd -u 2102 -g mesh-proxy -M -d /nonexistent -s /usr/sbin/nologin mesh-proxy
WORKDIR /app
ENV NODE_ENV=production
# Dependencies first, so editing the sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# Build the `mesh` bundle once, in the image, rather than in every container at start; and fail
# the build here if npm left node_modules empty (npm can exit 0 when the registry is unreachable).
RUN node bin/mesh.js version && ln -s /app/bin/mesh.js /usr/local/bin/mesh && mesh version
# The state folder (trust anchor, issuer, tokens) lives in a volume shared by the demo's services.
VOLUME ["/state"]
ENTRYPOINT []
CMD ["mesh", "--help"]
