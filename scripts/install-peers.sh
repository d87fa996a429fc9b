#!/usr/bin/env bash
# Installs the real Prometheus-ecosystem programs that tests compare
# Sightline against, from Debian's packages, when they are missing.
set -euo pipefail

need=()
command -v prometheus-node-exporter >/dev/null 2>&1 || [ -x /usr/bin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-peers: missing ${need[*]} and cannot apt-get here; the tests that need them will say so" >&2
  exit 0
fi
echo "install-peers: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts the service on install; tests start their own instance.
systemctl stop prometheus-node-exporter >/dev/null 2>&1 || pkill -x prometheus-node-exporter >/dev/null 2>&1 || true
