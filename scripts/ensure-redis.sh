#!/usr/bin/env bash
# Make sure a Redis server answers on 127.0.0.1:6379; install and start one if not.
set -euo pipefail
ping() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && timeout 2 head -c 5 <&3 | grep -q PONG) 2>/dev/null; }
if ping; then exit 0; fi
if ! command -v redis-server >/dev/null 2>&1; then
  echo "redis-server not found: installing it with apt-get" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
fi
echo "starting redis-server on 127.0.0.1:6379" >&2
mkdir -p /tmp/rlexec-redis
redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
  --dir /tmp/rlexec-redis --logfile /tmp/rlexec-redis/redis.log
for _ in $(seq 1 50); do ping && exit 0; sleep 0.1; done
echo "redis-server did not answer on 127.0.0.1:6379" >&2
exit 1
