#!/usr/bin/env bash
# Installs the real Prometheus-ecosystem programs that tests compare
# Sightline against, from Debian's packages, when they are missing.
set -euo pipefail

# binary -> Debian package
need=()
[ -x /usr/bin/prometheus-node-exporter ] || need+=(prometheus-node-exporter)
[ -x /usr/bin/promtool ] || need+=(prometheus)                # promtool: rule checks and rule unit tests
[ -x /usr/bin/amtool ] || need+=(prometheus-alertmanager)     # amtool: Alertmanager API v2 compatibility

# The OpenTelemetry Python SDK (from PyPI), a real OTLP/HTTP client for tests/ingest_otlp.rs.
OTEL_PY=target/otel-python
if [ ! -d "$OTEL_PY/opentelemetry/exporter/otlp/proto/http" ]; then
  echo "install-peers: installing the OpenTelemetry Python SDK into $OTEL_PY"
  python3 -m pip install --quiet --disable-pip-version-check --target "$OTEL_PY" \
    'opentelemetry-sdk>=1.20' 'opentelemetry-exporter-otlp-proto-http>=1.20' >/dev/null 2>&1 \
    || echo "install-peers: could not install the OpenTelemetry SDK; tests/ingest_otlp.rs will say so" >&2
fi

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
# Debian may start the services on install; tests start their own instances.
for svc in prometheus-node-exporter prometheus prometheus-alertmanager; do
  systemctl stop "$svc" >/dev/null 2>&1 || true
done
pkill -x prometheus-node-exporter >/dev/null 2>&1 || true
pkill -x prometheus >/dev/null 2>&1 || true
pkill -x prometheus-alertmanager >/dev/null 2>&1 || true
