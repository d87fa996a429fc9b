#!/usr/bin/env bash
# Storage benchmark, side by side with Prometheus and VictoriaMetrics from
# Debian's packages (installed with apt-get when missing).
#
#  1. disk: the same generated data (counters, gauges, histograms; never random
#     floats) backfilled into all three, bytes per sample of the whole data dir;
#  2. live: all three scrape the same synthetic targets for the same minutes;
#     CPU seconds per million samples and peak RSS per active series.
#
# The disk part's data: the synthetic fleet plus NODE_HOSTS hosts replaying
# bench/node_exporter.payloads.zst, 30 scrapes recorded (2 s apart) from
# Debian's prometheus-node-exporter: counters grow by the recorded per-interval
# deltas, gauges follow the recorded values. Re-record with RECORD=1.
#
# Usage: scripts/bench-storage.sh   (env: SERIES=10000 MINUTES=5 BACKFILL_SERIES=2000 NODE_HOSTS=10 HOURS=24
#        PARTS="disk live": which parts to run)
set -euo pipefail

SERIES=${SERIES:-10000}
MINUTES=${MINUTES:-5}
BACKFILL_SERIES=${BACKFILL_SERIES:-2000}
HOURS=${HOURS:-24}
NODE_HOSTS=${NODE_HOSTS:-10}
PARTS=${PARTS:-disk live}
FIXTURE=bench/node_exporter.payloads.zst
INTERVAL=15
cd "$(dirname "$0")/.."

# The peers come from Debian's packages, installed by the same script the tests use.
scripts/install-peers.sh
for cmd in prometheus promtool victoria-metrics; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "bench-storage: $cmd is missing (apt-get install prometheus victoria-metrics)" >&2; exit 1; }
done

if [ "${RECORD:-0}" = 1 ]; then
  PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  prometheus-node-exporter --web.listen-address="127.0.0.1:$PORT" >/dev/null 2>&1 &
  NE=$!
  sleep 1
  OUT=$(mktemp)
  for i in $(seq 30); do
    echo "# ---- scrape $i ----" >>"$OUT"
    curl -sf "http://127.0.0.1:$PORT/metrics" >>"$OUT"
    sleep 2
  done
  kill "$NE"
  zstd -19 --long=27 -q -f "$OUT" -o "$FIXTURE"
  rm -f "$OUT"
  echo "bench-storage: recorded $FIXTURE ($(stat -c %s "$FIXTURE") bytes)" >&2
fi

cargo build --release --bin sightline --bin bench_storage >&2
TARGET=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d /tmp/bench-storage.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

S_BPS=-; P_BPS=-; V_BPS=-; S_CPU=-; P_CPU=-; V_CPU=-; S_RSS=-; P_RSS=-; V_RSS=-; READY=-
# ---------------------------------------------------------------- 1. disk
if [[ " $PARTS " == *" disk "* ]]; then
echo "== disk: $BACKFILL_SERIES synthetic series + $NODE_HOSTS node_exporter hosts × ${HOURS} h every ${INTERVAL} s, same data into all three" >&2
DATA_ARGS=(--series "$BACKFILL_SERIES" --hours "$HOURS" --interval-s "$INTERVAL" --node-fixture "$FIXTURE" --node-hosts "$NODE_HOSTS")
"$TARGET/bench_storage" "${DATA_ARGS[@]}" --emit-openmetrics "$WORK/data.om" --emit-text-ms "$WORK/data.txt" >&2

# Sightline: the benchmark ingests the same data in-process and compacts.
S_OUT=$("$TARGET/bench_storage" "${DATA_ARGS[@]}")
echo "$S_OUT" >&2
SAMPLES=$(echo "$S_OUT" | awk '/^storage benchmark:/ {print $(NF-1)}')
S_BPS=$(echo "$S_OUT" | awk -F': ' '/^bytes\/sample on disk/ {print $2}')

promtool tsdb create-blocks-from openmetrics "$WORK/data.om" "$WORK/prom-backfill" >/dev/null
P_BYTES=$(du -sb "$WORK/prom-backfill" | cut -f1)
P_BPS=$(awk -v b="$P_BYTES" -v n="$SAMPLES" 'BEGIN {printf "%.3f", b/n}')

victoria-metrics -storageDataPath "$WORK/vm-backfill" -httpListenAddr 127.0.0.1:18428 -retentionPeriod 100y \
  -search.disableCache -search.latencyOffset=0s -loggerLevel ERROR >/dev/null 2>&1 &
VMPID=$!
PIDS+=("$VMPID")
for _ in $(seq 100); do curl -sf http://127.0.0.1:18428/health >/dev/null && break; sleep 0.1; done
# In parts: curl holds a --data-binary file in memory and gives up on ~2 GB.
split -l 1000000 "$WORK/data.txt" "$WORK/part."
for f in "$WORK"/part.*; do
  curl -sf --data-binary "@$f" http://127.0.0.1:18428/api/v1/import/prometheus
  rm -f "$f"
done
curl -sf http://127.0.0.1:18428/internal/force_flush >/dev/null
for m in $(date -u +%Y_%m) $(date -u -d "-${HOURS} hours" +%Y_%m); do
  curl -sf "http://127.0.0.1:18428/internal/force_merge?partition_prefix=$m" >/dev/null || true
done
sleep 15
kill "$VMPID"; wait "$VMPID" 2>/dev/null || true
V_BYTES=$(du -sb "$WORK/vm-backfill" | cut -f1)
V_BPS=$(awk -v b="$V_BYTES" -v n="$SAMPLES" 'BEGIN {printf "%.3f", b/n}')
fi

# ---------------------------------------------------------------- 2. live
if [[ " $PARTS " == *" live "* ]]; then
echo "== live: $SERIES series scraped every ${INTERVAL} s for $MINUTES min by all three at once" >&2
"$TARGET/bench_storage" --serve 127.0.0.1:21000 --series "$SERIES" >/dev/null &
PIDS+=("$!")
NT=$(( (SERIES + 99) / 100 ))
targets=$(seq 21000 $((21000 + NT - 1)) | sed "s/^/'127.0.0.1:/; s/$/'/" | paste -sd, -)
cat >"$WORK/scrape.yml" <<EOF
global:
  scrape_interval: ${INTERVAL}s
  scrape_timeout: 10s
scrape_configs:
  - job_name: synthetic
    static_configs:
      - targets: [$targets]
EOF
sleep 1
"$TARGET/sightline" --config "$WORK/scrape.yml" --data "$WORK/s" --listen 127.0.0.1:19900 --log-level warn &
SPID=$!; PIDS+=("$SPID")
prometheus --config.file "$WORK/scrape.yml" --storage.tsdb.path "$WORK/p" --web.listen-address 127.0.0.1:19090 \
  --log.level=error >/dev/null 2>&1 &
PPID2=$!; PIDS+=("$PPID2")
victoria-metrics -promscrape.config "$WORK/scrape.yml" -storageDataPath "$WORK/v" -httpListenAddr 127.0.0.1:18429 \
  -search.disableCache -search.latencyOffset=0s -loggerLevel ERROR >/dev/null 2>&1 &
VPID=$!; PIDS+=("$VPID")

cpu_s() { awk -v t="$(getconf CLK_TCK)" '{print ($14 + $15) / t}' "/proc/$1/stat"; }
hwm() { awk '/^VmHWM:/ {print $2 * 1024}' "/proc/$1/status"; }
sleep 20 # start-up is not ingestion
S0=$(cpu_s "$SPID"); P0=$(cpu_s "$PPID2"); V0=$(cpu_s "$VPID")
sleep $(( MINUTES * 60 ))
S1=$(cpu_s "$SPID"); P1=$(cpu_s "$PPID2"); V1=$(cpu_s "$VPID")
SH=$(hwm "$SPID"); PH=$(hwm "$PPID2"); VH=$(hwm "$VPID")
# SMAPS=FILE keeps Sightline's memory map at the end of the run (where RSS is outside the heap).
if [ -n "${SMAPS:-}" ]; then
  { cat "/proc/$SPID/status"; cat "/proc/$SPID/smaps_rollup"; cat "/proc/$SPID/smaps"; } >"$SMAPS" 2>/dev/null || true
fi
LIVE=$(( SERIES * MINUTES * 60 / INTERVAL ))
per_m() { awk -v a="$1" -v b="$2" -v n="$LIVE" 'BEGIN {printf "%.3f", (b - a) / (n / 1e6)}'; }
S_CPU=$(per_m "$S0" "$S1"); P_CPU=$(per_m "$P0" "$P1"); V_CPU=$(per_m "$V0" "$V1")
per_s() { awk -v h="$1" -v n="$SERIES" 'BEGIN {printf "%.0f", h / n}'; }
S_RSS=$(per_s "$SH"); P_RSS=$(per_s "$PH"); V_RSS=$(per_s "$VH")

# Time to ready after SIGKILL while the head is full.
kill -9 "$SPID"; wait "$SPID" 2>/dev/null || true
T0=$(date +%s.%N)
"$TARGET/sightline" --config "$WORK/scrape.yml" --data "$WORK/s" --listen 127.0.0.1:19900 --log-level warn &
SPID=$!; PIDS+=("$SPID")
until curl -sf http://127.0.0.1:19900/-/ready >/dev/null; do sleep 0.05; done
READY=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.2f", b - a}')
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "-" && b > 0) printf "%.2f", a / b; else print "-" }'; }
printf '\n| figure | Sightline | Prometheus | VictoriaMetrics | S/P | S/VM |\n|---|---|---|---|---|---|\n'
printf '| bytes/sample on disk (%s synthetic series + %s node_exporter hosts × %s h) | %s | %s | %s | %s | %s |\n' "$BACKFILL_SERIES" "$NODE_HOSTS" "$HOURS" \
  "$S_BPS" "$P_BPS" "$V_BPS" "$(ratio "$S_BPS" "$P_BPS")" "$(ratio "$S_BPS" "$V_BPS")"
printf '| ingest CPU s / million samples (%s series, %s min) | %s | %s | %s | %s | %s |\n' "$SERIES" "$MINUTES" \
  "$S_CPU" "$P_CPU" "$V_CPU" "$(ratio "$S_CPU" "$P_CPU")" "$(ratio "$S_CPU" "$V_CPU")"
printf '| peak RSS bytes / active series | %s | %s | %s | %s | %s |\n' \
  "$S_RSS" "$P_RSS" "$V_RSS" "$(ratio "$S_RSS" "$P_RSS")" "$(ratio "$S_RSS" "$V_RSS")"
printf '| time to ready after SIGKILL (%s series) | %s s | | | | |\n' "$SERIES" "$READY"
