#!/usr/bin/env bash
# Query latency, side by side with Prometheus and VictoriaMetrics from Debian's
# packages (installed with apt-get when missing).
#
# The same generated data (src/bin/bench_query.rs: counters, gauges, classic
# histograms every 15 s, never random floats) goes into all three: Sightline
# in-process (then compacted), Prometheus through `promtool tsdb
# create-blocks-from openmetrics`, VictoriaMetrics through
# /api/v1/import/prometheus. Then a fixed list of dashboard-like range queries
# runs RUNS times per engine, interleaved; Sightline's answers are checked
# against Prometheus's (exit 1 on a mismatch) and one table of median latencies
# and ratios is printed.
#
# Usage: scripts/bench-query.sh   (env: SERIES=2000 HOURS=49 RUNS=7 KEEP=DIR to keep the data)
set -euo pipefail

SERIES=${SERIES:-2000}
HOURS=${HOURS:-49}
RUNS=${RUNS:-7}
cd "$(dirname "$0")/.."

# The peers come from Debian's packages, installed by the same script the tests use.
scripts/install-peers.sh
for cmd in prometheus promtool victoria-metrics; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "bench-query: $cmd is missing (apt-get install prometheus victoria-metrics)" >&2; exit 1; }
done

cargo build --release --bin sightline --bin bench_query >&2
TARGET=${CARGO_TARGET_DIR:-target}/release
WORK=${KEEP:-$(mktemp -d /tmp/bench-query.XXXXXX)}
mkdir -p "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_ready() { # URL NAME
  for _ in $(seq 600); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "bench-query: $2 did not become ready ($1)" >&2
  exit 1
}

if [ -n "${KEEP:-}" ] && [ -f "$WORK/end_ms" ]; then
  END_MS=$(cat "$WORK/end_ms")
  echo "== reusing the data in $WORK" >&2
else
  rm -rf "$WORK"/*
  # Data ends on a whole minute a few minutes ago.
  END_MS=$(( ($(date +%s) / 60 - 5) * 60000 ))
  echo "== $SERIES series × $HOURS h every 15 s, same data into all three" >&2
  T0=$(date +%s)
  "$TARGET/bench_query" gen --series "$SERIES" --hours "$HOURS" --end-ms "$END_MS" \
    --om "$WORK/data.om" --text "$WORK/data.txt" --sightline "$WORK/s" >&2
  promtool tsdb create-blocks-from openmetrics --max-block-duration=24h "$WORK/data.om" "$WORK/p" >/dev/null
  rm -f "$WORK/data.om"
  VPORT=$(port)
  victoria-metrics -storageDataPath "$WORK/v" -httpListenAddr "127.0.0.1:$VPORT" -retentionPeriod 100y \
    -loggerLevel ERROR >/dev/null 2>&1 &
  VMPID=$!
  wait_ready "http://127.0.0.1:$VPORT/health" VictoriaMetrics
  curl -sf -X POST -T "$WORK/data.txt" "http://127.0.0.1:$VPORT/api/v1/import/prometheus"
  curl -sf "http://127.0.0.1:$VPORT/internal/force_flush" >/dev/null
  for m in $(date -u -d "@$(( END_MS / 1000 ))" +%Y_%m) $(date -u -d "@$(( END_MS / 1000 - HOURS * 3600 ))" +%Y_%m); do
    curl -sf "http://127.0.0.1:$VPORT/internal/force_merge?partition_prefix=$m" >/dev/null || true
  done
  sleep 10
  kill "$VMPID"; wait "$VMPID" 2>/dev/null || true
  rm -f "$WORK/data.txt"
  echo "$END_MS" > "$WORK/end_ms"
  echo "== loaded in $(( $(date +%s) - T0 )) s" >&2
fi

SPORT=$(port); PPORT=$(port); VPORT=$(port)
# Anonymous read access (the API refuses requests until a user exists otherwise) and no rate limit in the way.
printf 'scrape_configs: []\nhost:\n  enabled: false\nweb:\n  anonymous_role: viewer\n  api_rate_limit: 1000000\n' \
  > "$WORK/sightline.yml"
printf 'global:\n  scrape_interval: 15s\nscrape_configs: []\n' > "$WORK/prometheus.yml"
"$TARGET/sightline" --config "$WORK/sightline.yml" --data "$WORK/s" --listen "127.0.0.1:$SPORT" --log-level warn &
PIDS+=("$!")
prometheus --config.file "$WORK/prometheus.yml" --storage.tsdb.path "$WORK/p" \
  --web.listen-address "127.0.0.1:$PPORT" --log.level=error >/dev/null 2>&1 &
PIDS+=("$!")
# No rollup cache and no latency offset, so every query is computed and sees the newest data.
victoria-metrics -storageDataPath "$WORK/v" -httpListenAddr "127.0.0.1:$VPORT" -retentionPeriod 100y \
  -search.disableCache -search.latencyOffset=0s -loggerLevel ERROR >/dev/null 2>&1 &
PIDS+=("$!")
wait_ready "http://127.0.0.1:$SPORT/-/ready" Sightline
wait_ready "http://127.0.0.1:$PPORT/-/ready" Prometheus
wait_ready "http://127.0.0.1:$VPORT/health" VictoriaMetrics
sleep 2

echo "== $RUNS runs per query and engine, interleaved (Sightline $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(prometheus --version 2>&1 | head -1 | cut -d' ' -f1-3), VictoriaMetrics $(dpkg-query -W -f '${Version}' victoria-metrics 2>/dev/null || echo '?'))"
"$TARGET/bench_query" run --sightline "127.0.0.1:$SPORT" --prometheus "127.0.0.1:$PPORT" \
  --vm "127.0.0.1:$VPORT" --end-ms "$END_MS" --runs "$RUNS"
