#!/usr/bin/env bash
# Makes sure what the tests talk to is here: PostgreSQL and Redis running, Debian's chromium for
# the browser tests. Installs and starts what is missing when it can (as root); otherwise says
# what is missing, and the tests that need it skip loudly (under CI=true they fail instead).
set -u

say() { printf 'services: %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else return 1; fi; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then as_root apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "$@" >/dev/null 2>&1
}

if ! command -v pg_ctlcluster >/dev/null; then
  say "installing PostgreSQL"; apt_install postgresql || say "could not install PostgreSQL"
fi
if command -v pg_ctlcluster >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  say "starting PostgreSQL $version"
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start || say "could not start PostgreSQL"
  for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.5; done
fi
if pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -U postgres -Atc 'create database test' >/dev/null 2>&1 \
      || say "database test is missing and could not be created"
  fi
fi

if ! command -v redis-server >/dev/null; then
  say "installing Redis"; apt_install redis-server || say "could not install Redis"
fi
if command -v redis-server >/dev/null && ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log >/dev/null || say "could not start Redis"
fi

if [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's chromium for the browser tests"; apt_install chromium || say "could not install chromium"
fi
exit 0
