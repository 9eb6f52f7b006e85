#!/usr/bin/env bash
# Local stand-ins for the official images, built from Debian's package mirror because no
# container registry is reachable here: a python3.11 base (debootstrap + docker import), and
# Redis and Prometheus images on top of it (Debian's redis-server and prometheus packages).
# Each image is built once and reused while it exists; `--rebuild` builds them again.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE_IMAGE=${BASE_IMAGE:-rlexec-local/python:3.11-bookworm}
REDIS_IMAGE=${REDIS_IMAGE:-rlexec-local/redis:bookworm}
PROM_IMAGE=${PROM_IMAGE:-rlexec-local/prometheus:bookworm}
rebuild=0
[[ ${1:-} == --rebuild ]] && rebuild=1

# The host's Debian mirror (deb822 sources or the classic list), so the images use what apt here uses.
mirror() {
  local uri
  uri=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  [[ -n $uri ]] || uri=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  echo "${uri:-http://deb.debian.org/debian}"
}

have() { docker image inspect "$1" >/dev/null 2>&1; }

build_base() {
  if ((!rebuild)) && have "$BASE_IMAGE"; then echo "base image $BASE_IMAGE: reused" >&2; return; fi
  command -v debootstrap >/dev/null || {
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 debootstrap
  }
  local root mirror_uri start=$SECONDS
  root=$(mktemp -d /tmp/rlexec-rootfs.XXXXXX)
  trap 'rm -rf "$root"' RETURN
  mirror_uri=$(mirror)
  echo "base image $BASE_IMAGE: debootstrap bookworm from $mirror_uri" >&2
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "$mirror_uri" > /tmp/rlexec-debootstrap.log 2>&1 || {
    tail -20 /tmp/rlexec-debootstrap.log >&2; echo "debootstrap failed (log: /tmp/rlexec-debootstrap.log)" >&2; exit 1; }
  echo "deb $mirror_uri bookworm main" > "$root/etc/apt/sources.list"
  # Keep the image small: no package lists, caches, docs or man pages.
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/*.log
  tar -C "$root" -c . | docker import \
    -c 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'CMD ["python3"]' - "$BASE_IMAGE" >/dev/null
  echo "base image $BASE_IMAGE: built in $((SECONDS - start)) s" >&2
}

# One Debian package on the base, run as that package's own user. Apt runs on the host network
# so the build needs nothing but the mirror apt already uses here.
build_pkg_image() {
  local image=$1 dockerfile=$2
  if ((!rebuild)) && have "$image"; then echo "image $image: reused" >&2; return; fi
  local start=$SECONDS
  docker build -q --network host --build-arg "BASE=$BASE_IMAGE" -t "$image" \
    -f "$dockerfile" deploy/local-images >/dev/null
  echo "image $image: built in $((SECONDS - start)) s" >&2
}

build_base
build_pkg_image "$REDIS_IMAGE" deploy/local-images/redis.Dockerfile
build_pkg_image "$PROM_IMAGE" deploy/local-images/prometheus.Dockerfile
