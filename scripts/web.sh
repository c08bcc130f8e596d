#!/usr/bin/env bash
# The web app's tasks (frontend/), called by the justfile.
#
#   scripts/web.sh deps    npm ci, when package-lock.json changed since the last install
#   scripts/web.sh build   deps, then the production build into frontend/dist (served by `concierge serve`)
#   scripts/web.sh test    deps, then type-check, lint and the component tests (Vitest)
#   scripts/web.sh e2e     Chromium (scripts/chromium.sh), the concierge binary, the build, then the
#                          browser tests against a real server; screenshots in artifacts/e2e/
#
# The e2e task needs the local Postgres and Redis running (`just services`). CONCIERGE_BIN points
# it at a binary that is already built (then cargo is not run).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WEB="$ROOT/frontend"

log() { printf '[web] %s\n' "$*" >&2; }

deps() {
  command -v npm >/dev/null || { log "error: Node.js 20.19+ and npm are needed"; exit 1; }
  local stamp="$WEB/node_modules/.package-lock.sha256" want have=""
  want=$(sha256sum "$WEB/package-lock.json" | cut -d' ' -f1)
  [ -f "$stamp" ] && have=$(cat "$stamp")
  if [ "$want" != "$have" ]; then
    log "npm ci"
    (cd "$WEB" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" > "$stamp"
  fi
}

build() {
  deps
  (cd "$WEB" && npm run --silent build)
}

check() {
  deps
  (cd "$WEB" && npm run --silent check)
}

e2e() {
  "$ROOT/scripts/chromium.sh" >/dev/null
  if [ -z "${CONCIERGE_BIN:-}" ]; then
    (cd "$ROOT" && cargo build --quiet --bin concierge)
  fi
  build
  (cd "$WEB" && npm run --silent e2e)
}

case "${1:-}" in
  deps) deps ;;
  build) build ;;
  test) check ;;
  e2e) e2e ;;
  *) echo "usage: $0 deps|build|test|e2e" >&2; exit 2 ;;
esac
