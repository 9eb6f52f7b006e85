# Test-only stand-in for the official prom/prometheus image, from Debian's prometheus package.
# Same entrypoint shape (the binary; flags from the compose command), same paths, wget for the
# healthcheck as the official image has. Used through docker-compose.local.yml.
ARG BASE=rlexec-local/python:3.11-bookworm
FROM ${BASE}
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends prometheus wget \
    && rm -rf /var/lib/apt/lists/* /usr/share/doc/* \
    && mkdir -p /prometheus /etc/prometheus \
    && chown nobody:nogroup /prometheus
# hadolint ignore=DL3066
USER nobody
WORKDIR /prometheus
VOLUME ["/prometheus"]
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
