#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the web app's browser tests (idempotent).
#
#   scripts/chromium.sh    installs /usr/bin/chromium when it is missing, then prints its version
#
# The end-to-end tests drive it through playwright-core (frontend/e2e/), because Playwright's own
# browser download (`npx playwright install`) needs hosts that CI machines cannot reach. CHROMIUM
# overrides the path (the tests read the same variable).
set -euo pipefail

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

log() { printf '[chromium] %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; exit 1
  fi
}

if [ ! -x "$CHROMIUM" ]; then
  log "apt-get update"
  as_root apt-get update -qq || log "apt-get update reported errors; trying the install anyway"
  log "installing chromium (a few minutes the first time)"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium fonts-dejavu-core >/dev/null
fi
[ -x "$CHROMIUM" ] || { log "error: $CHROMIUM is still missing after the install"; exit 1; }
"$CHROMIUM" --version 2>/dev/null
