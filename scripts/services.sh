#!/usr/bin/env bash
# Makes sure the services Bulwark's tests need are up on loopback: PostgreSQL (5432), Redis (6379)
# and a Mosquitto binary (plus the plaintext broker on 1883), and that the pgbouncer and chromium
# binaries are there (the tests start their own PgBouncers and headless browsers). Starts stopped
# ones with the standard commands and, on Debian/Ubuntu, installs missing ones with apt. Quiet
# when everything is up.
set -euo pipefail

say() { printf 'services: %s\n' "$*"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && exec 3>&- 3<&-; }
wait_port() {
  for _ in $(seq 1 50); do port_open "$1" && return 0; sleep 0.2; done
  return 1
}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_updated=0
apt_install() {
  if ! command -v apt-get >/dev/null; then
    say "cannot install $* here (no apt-get): install it with your package manager"; return 1
  fi
  if [ "$apt_updated" -eq 0 ]; then as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  say "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

ensure_postgres() {
  port_open 5432 && return 0
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  say "starting PostgreSQL"
  local version
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  wait_port 5432 || { say "PostgreSQL did not come up on 127.0.0.1:5432"; return 1; }
  # The tests connect as postgres without a password over loopback.
  if ! psql -h 127.0.0.1 -U postgres -c 'select 1' >/dev/null 2>&1; then
    say "PostgreSQL is up but 'postgres' cannot log in over 127.0.0.1 without a password:"
    say "set TEST_DATABASE_URL, or allow trust auth for 127.0.0.1 in pg_hba.conf"
    return 1
  fi
}

ensure_redis() {
  port_open 6379 && return 0
  command -v redis-server >/dev/null || apt_install redis-server
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_port 6379 || { say "Redis did not come up on 127.0.0.1:6379"; return 1; }
}

ensure_mosquitto() {
  command -v mosquitto >/dev/null || apt_install mosquitto mosquitto-clients
  port_open 1883 && return 0
  say "starting Mosquitto"
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  wait_port 1883 || { say "Mosquitto did not come up on 127.0.0.1:1883"; return 1; }
}

# Only the binary: each suite that needs PgBouncer starts its own on a free port, in the pool mode
# it tests. Debian's package enables a system-wide PgBouncer on 6432, which nothing here uses.
ensure_pgbouncer() {
  command -v pgbouncer >/dev/null && return 0
  [ -x /usr/sbin/pgbouncer ] && return 0
  apt_install pgbouncer
  if command -v systemctl >/dev/null && systemctl is-active --quiet pgbouncer 2>/dev/null; then
    as_root systemctl disable --now pgbouncer >/dev/null 2>&1 || true
  fi
}

# Debian's chromium, which the browser suite drives headless through playwright-core.
ensure_chromium() {
  [ -n "${CHROMIUM_BIN:-}" ] && return 0
  command -v chromium >/dev/null && return 0
  apt_install chromium
}

command -v openssl >/dev/null || apt_install openssl
ensure_postgres
ensure_redis
ensure_mosquitto
ensure_pgbouncer
ensure_chromium
