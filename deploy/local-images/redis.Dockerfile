# Test-only stand-in for the official redis image, from Debian's redis-server package (no
# registry is reachable on the build machine). Used through docker-compose.local.yml.
ARG BASE=rlexec-local/python:3.11-bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends redis-server \
    && rm -rf /var/lib/apt/lists/* \
    && mkdir -p /data \
    && chown redis:redis /data
# hadolint ignore=DL3066
USER redis
WORKDIR /data
VOLUME ["/data"]
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
