#!/usr/bin/env bash
# Remote-write ingest benchmark, side by side: the same pre-encoded requests
# (src/bin/bench_ingest.rs) pushed into Sightline, Prometheus (with its
# remote-write receiver on) and VictoriaMetrics, one after the other, each
# round in a rotated order so machine load drifts hit all three alike.
# Prints samples/s and receiver CPU microseconds per sample, and the ratios.
#
# Usage: scripts/bench-ingest.sh   (env: SERIES=10000 SCRAPES=100 ROUNDS=3)
set -euo pipefail

SERIES=${SERIES:-10000}
SCRAPES=${SCRAPES:-100}
ROUNDS=${ROUNDS:-3}
cd "$(dirname "$0")/.."

# The peers come from Debian's packages, installed by the same script the tests use.
scripts/install-peers.sh
for cmd in prometheus promtool victoria-metrics; do
  command -v "$cmd" >/dev/null 2>&1 || { echo "bench-ingest: $cmd is missing (apt-get install prometheus victoria-metrics)" >&2; exit 1; }
done

cargo build --release --bin sightline --bin bench_ingest >&2
TARGET=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d /tmp/bench-ingest.XXXXXX)
PID=""
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_http() { for _ in $(seq 200); do curl -sf "$1" >/dev/null && return 0; sleep 0.05; done; echo "bench-ingest: $1 never answered" >&2; exit 1; }

# start_NAME: starts the receiver in a fresh data folder, sets PID and URL.
start_sightline() {
  # Auth and rate limits off: the benchmark measures ingest, not the guard.
  printf 'scrape_configs: []\nhost:\n  enabled: false\ndefault_rules: false\nweb:\n  anonymous_role: admin\n  api_rate_limit: 100000000\n' >"$WORK/s.yml"
  "$TARGET/sightline" --config "$WORK/s.yml" --listen 127.0.0.1:19911 --data "$WORK/s-$1" --log-level warn &
  PID=$!; URL=http://127.0.0.1:19911/api/v1/write
  wait_http http://127.0.0.1:19911/-/ready
}
start_prometheus() {
  printf 'global: {}\n' >"$WORK/p.yml"
  prometheus --config.file "$WORK/p.yml" --storage.tsdb.path "$WORK/p-$1" --web.listen-address 127.0.0.1:19912 \
    --web.enable-remote-write-receiver --log.level=warn 2>/dev/null &
  PID=$!; URL=http://127.0.0.1:19912/api/v1/write
  wait_http http://127.0.0.1:19912/-/ready
}
start_victoria() {
  victoria-metrics -storageDataPath "$WORK/v-$1" -httpListenAddr 127.0.0.1:19913 -retentionPeriod 100y \
    -loggerLevel ERROR >/dev/null 2>&1 &
  PID=$!; URL=http://127.0.0.1:19913/api/v1/write
  wait_http http://127.0.0.1:19913/health
}

declare -A CPU WALL
ENGINES=(sightline prometheus victoria)
for round in $(seq "$ROUNDS"); do
  for k in 0 1 2; do
    e=${ENGINES[$(( (k + round) % 3 ))]}
    "start_$e" "$round"
    line=$("$TARGET/bench_ingest" --url "$URL" --pid "$PID" --series "$SERIES" --scrapes "$SCRAPES")
    kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
    echo "round $round $e: $line" >&2
    case "$line" in *"failed_requests=0 "*) ;; *) echo "bench-ingest: $e refused requests" >&2; exit 1 ;; esac
    cpu=$(sed -E 's/.*cpu_s=([0-9.]+).*/\1/' <<<"$line"); wall=$(sed -E 's/.*wall_s=([0-9.]+).*/\1/' <<<"$line")
    CPU[$e]="${CPU[$e]:-} $cpu"; WALL[$e]="${WALL[$e]:-} $wall"
  done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
SAMPLES=$((SERIES * SCRAPES))
echo
echo "Remote-write ingest: $SAMPLES samples ($SERIES series x $SCRAPES scrapes), 2 clients, median of $ROUNDS rounds"
printf '%-16s %14s %18s\n' receiver samples/s "CPU us/sample"
for e in "${ENGINES[@]}"; do
  c=$(median <<<"${CPU[$e]}"); w=$(median <<<"${WALL[$e]}")
  printf '%-16s %14.0f %18.3f\n' "$e" "$(echo "$SAMPLES / $w" | bc -l)" "$(echo "$c * 1000000 / $SAMPLES" | bc -l)"
  eval "C_$e=$c"
done
printf 'samples per CPU-second, Sightline / Prometheus: %.2fx (goal >= 1), Sightline / VictoriaMetrics: %.2fx\n' \
  "$(echo "$C_prometheus / $C_sightline" | bc -l)" "$(echo "$C_victoria / $C_sightline" | bc -l)"
