#!/usr/bin/env bash
# Make sure promtool (and the Prometheus server the live rules test starts) is installed:
# Debian's `prometheus` package ships both. It does not start the server here (no systemd);
# if a service manager did start one, this script leaves it alone.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then exit 0; fi
echo "promtool not found: installing Debian's prometheus package with apt-get" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
command -v promtool >/dev/null 2>&1 || { echo "promtool is still missing after apt-get install prometheus" >&2; exit 1; }
