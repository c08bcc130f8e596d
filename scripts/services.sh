#!/usr/bin/env bash
# Local PostgreSQL (with pgvector) and Redis for Concierge, without Docker.
#
#   scripts/services.sh up      install what is missing, start both servers (idempotent)
#   scripts/services.sh down    stop both servers (data stays in .local/)
#   scripts/services.sh status  say what runs where
#
# Data lives under the repository in .local/ (git-ignored). Ports are not the defaults so that
# nothing else on the machine collides with us: Postgres on $CONCIERGE_PG_PORT (55432), Redis on
# $CONCIERGE_REDIS_PORT (56379). The cluster gets three roles:
#   postgres        superuser, local socket only (peer/trust for the OS user running the server)
#   concierge       owns the database and runs migrations; CREATEDB (tests clone a template)
#                   and CREATEROLE (the bootstrap migration creates the concierge_app group role)
#   concierge_app   what the application logs in as: not an owner, no BYPASSRLS, so row-level
#                   security always applies to it
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LOCAL="$ROOT/.local"
PG_PORT=${CONCIERGE_PG_PORT:-55432}
REDIS_PORT=${CONCIERGE_REDIS_PORT:-56379}
PG_MAJOR=15
PG_BIN=/usr/lib/postgresql/$PG_MAJOR/bin
PG_DATA="$LOCAL/pg/data"
PG_SOCK="$LOCAL/pg/run"
PG_LOG="$LOCAL/pg/postgres.log"
REDIS_DIR="$LOCAL/redis"
# The oldest pgvector with iterative index scans (hnsw.iterative_scan).
PGVECTOR_MIN=0.8.0

log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root (or sudo) to run: $*"
  fi
}

# The OS user that owns and runs the Postgres server: initdb refuses to run as root.
pg_user() { if [ "$(id -u)" = 0 ]; then echo postgres; else id -un; fi; }
as_pg() {
  local u; u=$(pg_user)
  if [ "$(id -un)" = "$u" ]; then "$@"; else runuser -u "$u" -- "$@"; fi
}

APT_UPDATED=0
apt_install() {
  local missing=()
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $APT_UPDATED = 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
    APT_UPDATED=1
  fi
  log "installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pgvector_installed_version() {
  local control=/usr/share/postgresql/$PG_MAJOR/extension/vector.control
  [ -f "$control" ] || return 1
  sed -n "s/^default_version = '\(.*\)'/\1/p" "$control"
}

version_ge() { [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n1)" = "$2" ]; }

install_pgvector() {
  local have
  if have=$(pgvector_installed_version) && version_ge "$have" "$PGVECTOR_MIN"; then return 0; fi
  # A binary package first, where the distribution has one.
  if apt-cache show "postgresql-$PG_MAJOR-pgvector" >/dev/null 2>&1; then
    apt_install "postgresql-$PG_MAJOR-pgvector"
    if have=$(pgvector_installed_version) && version_ge "$have" "$PGVECTOR_MIN"; then return 0; fi
  fi
  # Otherwise the newest Debian source package that downloads, built against our server.
  apt_install "postgresql-server-dev-$PG_MAJOR" build-essential dpkg-dev
  local src=/etc/apt/sources.list.d/concierge-pgvector-src.sources
  if [ ! -f "$src" ]; then
    log "adding deb-src entries for trixie and sid (pgvector sources only)"
    as_root tee "$src" >/dev/null <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
    as_root apt-get update -qq || true
  fi
  local build; build=$(mktemp -d)
  local versions; versions=$(apt-cache showsrc pgvector 2>/dev/null | sed -n 's/^Version: //p' | sort -rV | uniq)
  [ -n "$versions" ] || die "no pgvector source package found in the configured deb-src suites"
  local v got=""
  for v in $versions; do
    version_ge "${v%%-*}" "$PGVECTOR_MIN" || continue
    if (cd "$build" && apt-get source --download-only "pgvector=$v" >/dev/null 2>&1); then got=$v; break; fi
    log "pgvector $v is listed but does not download; trying an older one"
  done
  [ -n "$got" ] || die "no pgvector >= $PGVECTOR_MIN source package could be downloaded"
  log "building pgvector $got from source"
  (cd "$build" && tar xzf pgvector_*.orig.tar.gz && cd pgvector-*/ &&
     make -s -j"$(nproc)" PG_CONFIG="$PG_BIN/pg_config" >/dev/null &&
     as_root make -s install PG_CONFIG="$PG_BIN/pg_config" >/dev/null)
  rm -rf "$build"
  have=$(pgvector_installed_version) || die "pgvector did not install"
  log "pgvector $have installed"
}

install() {
  [ -x "$PG_BIN/postgres" ] || apt_install "postgresql-$PG_MAJOR" "postgresql-contrib"
  command -v redis-server >/dev/null || apt_install redis-server
  install_pgvector
  # Postgres from apt starts a cluster of its own on 5432; we neither need nor touch it.
}

# Every directory above the data folder must be traversable by the server's OS user.
ensure_reachable() {
  local d=$1 u; u=$(pg_user)
  [ "$(id -un)" = "$u" ] && return 0
  while [ "$d" != "/" ]; do
    if ! runuser -u "$u" -- test -x "$d"; then
      log "granting traverse permission on $d to $u"
      chmod o+x "$d"
    fi
    d=$(dirname "$d")
  done
}

psql_super() { as_pg "$PG_BIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

pg_up() {
  # Another checkout's cluster (a git worktree of this repo) may already serve the port.
  if [ ! -s "$PG_DATA/PG_VERSION" ] && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
    log "a Postgres already listens on 127.0.0.1:$PG_PORT; using it"; return 0
  fi
  mkdir -p "$LOCAL/pg"
  ensure_reachable "$LOCAL/pg"
  if [ ! -s "$PG_DATA/PG_VERSION" ]; then
    log "initialising the Postgres cluster in $PG_DATA"
    mkdir -p "$PG_DATA" "$PG_SOCK"
    [ "$(id -u)" = 0 ] && chown -R "$(pg_user)" "$LOCAL/pg"
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --auth-local=trust --auth-host=scram-sha-256 \
      -E UTF8 --locale=C.UTF-8 >/dev/null
    cat >>"$PG_DATA/postgresql.conf" <<EOF
# Concierge local development cluster
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 400
shared_buffers = 256MB
fsync = on
synchronous_commit = on
EOF
  fi
  mkdir -p "$PG_SOCK"; [ "$(id -u)" = 0 ] && chown "$(pg_user)" "$PG_SOCK"
  if as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "postgres already running on 127.0.0.1:$PG_PORT"
  else
    log "starting postgres on 127.0.0.1:$PG_PORT"
    as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null ||
      { tail -20 "$PG_LOG" >&2; die "postgres did not start"; }
  fi
  psql_super <<'SQL'
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'concierge') THEN
    CREATE ROLE concierge LOGIN CREATEDB CREATEROLE PASSWORD 'concierge';
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'concierge_app') THEN
    CREATE ROLE concierge_app LOGIN NOBYPASSRLS PASSWORD 'concierge_app';
  END IF;
END $$;
GRANT concierge_app TO concierge WITH ADMIN OPTION;
SQL
  if [ -z "$(psql_super -c "SELECT 1 FROM pg_database WHERE datname = 'concierge'")" ]; then
    psql_super -c "CREATE DATABASE concierge OWNER concierge"
  fi
  # pgvector is not a trusted extension: the superuser creates it in template1 so every
  # database (also the tests' clones) has it, and the bootstrap migration's
  # CREATE EXTENSION IF NOT EXISTS finds it there.
  psql_super -d template1 -c "CREATE EXTENSION IF NOT EXISTS vector"
  psql_super -d concierge -c "CREATE EXTENSION IF NOT EXISTS vector"
  psql_super -d concierge -c "ALTER EXTENSION vector UPDATE" >/dev/null 2>&1
}

redis_up() {
  mkdir -p "$REDIS_DIR"
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "redis already running on 127.0.0.1:$REDIS_PORT"; return 0
  fi
  log "starting redis on 127.0.0.1:$REDIS_PORT"
  # appendonly: queued stream entries survive a Redis restart (Postgres stays the source of truth).
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --daemonize yes \
    --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log" \
    --appendonly yes --appendfsync everysec --save "" --maxclients 20000 >/dev/null
  for _ in $(seq 1 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  die "redis did not start (see $REDIS_DIR/redis.log)"
}

up() {
  install
  pg_up
  redis_up
  log "ready: postgres 127.0.0.1:$PG_PORT, redis 127.0.0.1:$REDIS_PORT"
}

down() {
  if [ -s "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    log "stopping postgres"; as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null
  fi
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    log "stopping redis"; redis-cli -p "$REDIS_PORT" shutdown >/dev/null 2>&1 || true
  fi
}

status() {
  if [ -s "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
    echo "postgres: running on 127.0.0.1:$PG_PORT ($PG_DATA)"; else echo "postgres: stopped"; fi
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    echo "redis: running on 127.0.0.1:$REDIS_PORT ($REDIS_DIR)"; else echo "redis: stopped"; fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  install) install ;;
  *) die "usage: $0 up|down|status|install" ;;
esac
