#!/usr/bin/env bash
# Make sure `pip install` can build the compiled FIX receive loops (rlexec/gateway/receive_loops.c)
# for the tests, which check that they are built: a C compiler, and the headers of the Python
# given as $1. `make demo` does not call this: without a compiler it runs the Python loops.
set -euo pipefail
python=${1:-python3}
has_headers() {
  "$python" -c "import pathlib, sys, sysconfig; sys.exit(not (pathlib.Path(sysconfig.get_paths()['include']) / 'Python.h').exists())"
}
if command -v cc >/dev/null 2>&1 && has_headers; then exit 0; fi
packages=(gcc libc6-dev)
has_headers || packages+=(python3-dev)
echo "no C compiler or Python headers: installing ${packages[*]} with apt-get" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
command -v cc >/dev/null 2>&1 || { echo "still no C compiler after apt-get install ${packages[*]}" >&2; exit 1; }
has_headers || { echo "still no Python.h for $python after apt-get install ${packages[*]}" >&2; exit 1; }
