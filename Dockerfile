# One image for every part of the mesh and the demo: the `mesh` command (proxy, identity,
# destination, injector) and the demo apps, all run as `node bin/mesh.js ...` or `node bin/run.js ...`.
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
# Dependencies first, so editing the sources does not reinstall them.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# Build the `mesh` bundle once, in the image, rather than in every container at start.
RUN node bin/mesh.js version
# The state folder (trust anchor, issuer, tokens) lives in a volume shared by the demo's services.
VOLUME ["/state"]
ENTRYPOINT []
CMD ["node", "bin/mesh.js", "--help"]
