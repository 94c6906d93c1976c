# A stand-in for prom/prometheus:v2.42.0, for machines that cannot reach Docker Hub: Debian's
# prometheus package is the same version, at the path the image has (/bin/prometheus, bookworm's
# /bin is /usr/bin), with busybox's role played by wget for the compose file's healthcheck.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends prometheus wget \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus
