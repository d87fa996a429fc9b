#!/usr/bin/env bash
# End-to-end test of the UI in a real headless Chromium: starts Sightline on a
# loopback port with the host collector and a self-scrape, opens every page,
# fails on any console error, failed request or broken link, and saves
# screenshots under target/e2e/. Installs Debian's chromium and playwright-core
# (driver only, no bundled browser) when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/target/e2e"
NODE_DIR="$ROOT/target/e2e-node"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
mkdir -p "$OUT" "$NODE_DIR"

if ! command -v chromium >/dev/null 2>&1; then
  echo "e2e: installing Debian's chromium"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends chromium
fi
if ! command -v node >/dev/null 2>&1; then
  echo "e2e: node is required (apt-get install nodejs npm)" >&2
  exit 1
fi
if [ ! -d "$NODE_DIR/node_modules/playwright-core" ]; then
  echo "e2e: installing playwright-core into $NODE_DIR"
  (cd "$NODE_DIR" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-audit --no-fund --silent playwright-core@1)
fi

# Always test the binary of this tree: an incremental debug build (BIN overrides).
if [ -z "${BIN:-}" ]; then
  cargo build --quiet --bin sightline
  BIN="$TARGET_DIR/debug/sightline"
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
ADDR="127.0.0.1:$PORT"
WORK=$(mktemp -d)
mkdir -p "$WORK/dash"
# A user dashboard from a folder: the imported Grafana Node Exporter Full, when available.
NEF=""
for f in "$ROOT/../shared/conformance/grafana/node-exporter-full.json" /work/shared/conformance/grafana/node-exporter-full.json; do
  if [ -f "$f" ]; then NEF="$f"; break; fi
done
if [ -n "$NEF" ]; then
  "$BIN" import-dashboard "$NEF" --out "$WORK/dash/node-exporter-full.yml" 2>/dev/null
fi
cat > "$WORK/sightline.yml" <<YAML
global:
  scrape_interval: 2s
  scrape_timeout: 1s
scrape_configs:
  - job_name: sightline
    static_configs:
      - targets: ['$ADDR']
dashboards:
  paths: ['$WORK/dash']
YAML

# Authentication is on, as it ships: an admin signs in through the login page.
E2E_USER=e2e
E2E_PASSWORD="e2e-$(date +%s%N)"
echo "$E2E_PASSWORD" | "$BIN" user add "$E2E_USER" --role admin --data "$WORK/data" >/dev/null

"$BIN" --config "$WORK/sightline.yml" --listen "$ADDR" --data "$WORK/data" --log-level warn &
PID=$!
cleanup() { kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

for _ in $(seq 1 100); do
  if curl -fsS "http://$ADDR/-/ready" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://$ADDR/-/ready" >/dev/null
# Let a few scrapes land so rates have data.
sleep "${E2E_WARMUP:-10}"

E2E_USER="$E2E_USER" E2E_PASSWORD="$E2E_PASSWORD" NODE_PATH="$NODE_DIR/node_modules" node "$ROOT/scripts/e2e.js" "http://$ADDR" "$OUT"
