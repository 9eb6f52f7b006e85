# rlexec: one image for `rlexec serve` (the live service) and `rlexec venue` (the FIX simulator).
# Runtime only: no `train` extra, no compiler (the build stage has one, for the FIX receive
# loops in rlexec/gateway/receive_loops.c, the policy kernel in rlexec/models/policy_kernel.c and
# the hot path's modules mypyc compiles, rlexec/native.py),
# no pip cache, a non-root user.
#
#   docker build -t rlexec .
#   docker build --build-arg BASE_IMAGE=my-registry/python:3.11 -t rlexec .   # another base
#
# BASE_IMAGE must provide python3.11 with venv at the same path in both stages.
# Extra CA certificates for the build's package downloads (a TLS-inspecting proxy, a private
# index) go in deploy/ca-certs/*.crt: git-ignored, used by the build stage only, never in the
# runtime image. PIP_INDEX_URL is a build argument for a PyPI mirror without credentials (it
# stays in the build stage; the runtime image never sees it).
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS build
ARG PIP_INDEX_URL=
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_CERT=/etc/ssl/certs/ca-certificates.crt
COPY deploy/ca-certs/ /usr/local/share/ca-certificates/
RUN update-ca-certificates >/dev/null \
    && python3 -m venv /opt/rlexec
# A C compiler, and Python's headers where the base lacks them (Debian's python3 does; the
# official python images ship them), for the compiled receive loops, policy kernel and hot-path
# modules. Without them the build still succeeds and the service runs their references (the
# Python loops, rlexec_fix_codec_compiled 0; ONNX Runtime, rlexec_service_policy_compiled 0; the
# modules' source, rlexec_service_compiled_modules 0).
# hadolint ignore=DL3008
RUN apt-get update -q \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends gcc libc6-dev \
    && if ! python3 -c "import pathlib, sys, sysconfig; sys.exit(not (pathlib.Path(sysconfig.get_paths()['include']) / 'Python.h').exists())"; then \
         DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends python3-dev; \
       fi \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml setup.py README.md ./
COPY rlexec ./rlexec
RUN if [ -n "${PIP_INDEX_URL}" ]; then export PIP_INDEX_URL; else unset PIP_INDEX_URL; fi; \
    /opt/rlexec/bin/pip install --no-compile . \
    && /opt/rlexec/bin/pip uninstall -y pip setuptools \
    && find /opt/rlexec -name '__pycache__' -prune -exec rm -rf {} + \
    && find /opt/rlexec -name 'tests' -path '*/site-packages/*/tests' -prune -exec rm -rf {} +

FROM ${BASE_IMAGE} AS runtime
LABEL org.opencontainers.image.title="rlexec" \
      org.opencontainers.image.description="Live execution service and FIX venue simulator" \
      org.opencontainers.image.licenses="Apache-2.0"
RUN groupadd --system --gid 10001 rlexec \
    && useradd --system --uid 10001 --gid 10001 --home-dir /state --no-create-home rlexec \
    && mkdir -p /state \
    && chown rlexec:rlexec /state
COPY --from=build /opt/rlexec /opt/rlexec
ENV PATH=/opt/rlexec/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    RLEXEC_HEALTH_URL=http://127.0.0.1:8080/healthz
USER 10001:10001
WORKDIR /state
VOLUME ["/state"]
EXPOSE 8080 9878 9100
# The service answers /healthz on its API; the venue sets RLEXEC_HEALTH_URL to its metrics page.
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['RLEXEC_HEALTH_URL'], timeout=2)"]
ENTRYPOINT ["rlexec"]
CMD ["serve", "--help"]
