#!/usr/bin/env bash
# Live scrape CPU, side by side: Sightline and Prometheus scrape the same
# synthetic targets (bench_storage --serve: 100 series each, counters, gauges
# and histograms, never random floats) at the same interval, at the same
# time; after a warm-up, their CPU time over the same window is compared.
#
# Usage: scripts/bench-scrape.sh   (env: SERIES=20000 INTERVAL=5 MEASURE=120 seconds)
set -euo pipefail

SERIES=${SERIES:-20000}
INTERVAL=${INTERVAL:-5}
MEASURE=${MEASURE:-120}
cd "$(dirname "$0")/.."

scripts/install-peers.sh
command -v prometheus >/dev/null 2>&1 || { echo "bench-scrape: prometheus is missing (apt-get install prometheus)" >&2; exit 1; }
cargo build --release --bin sightline --bin bench_storage >&2
TARGET=${CARGO_TARGET_DIR:-target}/release
WORK=$(mktemp -d /tmp/bench-scrape.XXXXXX)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

"$TARGET/bench_storage" --serve 127.0.0.1:23000 --series "$SERIES" >/dev/null &
PIDS+=("$!")
NT=$(( (SERIES + 99) / 100 ))
targets=$(seq 23000 $((23000 + NT - 1)) | sed "s/^/'127.0.0.1:/; s/$/'/" | paste -sd, -)
jobs="scrape_configs:\n  - job_name: synthetic\n    static_configs:\n      - targets: [$targets]\n"
global="global:\n  scrape_interval: ${INTERVAL}s\n  scrape_timeout: $((INTERVAL * 4 / 5))s\n"
printf "$global$jobs" >"$WORK/p.yml"
# Sightline without its host collector, default rules and login, so both do the same work.
printf "${global}host:\n  enabled: false\ndefault_rules: false\nweb:\n  anonymous_role: admin\n$jobs" >"$WORK/s.yml"
sleep 1
"$TARGET/sightline" --config "$WORK/s.yml" --data "$WORK/s" --listen 127.0.0.1:19941 --log-level warn &
SPID=$!; PIDS+=("$SPID")
prometheus --config.file "$WORK/p.yml" --storage.tsdb.path "$WORK/p" --web.listen-address 127.0.0.1:19942 \
  --log.level=error >/dev/null 2>&1 &
PPID2=$!; PIDS+=("$PPID2")

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sleep $((INTERVAL * 4))
s1=$(ticks "$SPID"); p1=$(ticks "$PPID2")
sleep "$MEASURE"
s2=$(ticks "$SPID"); p2=$(ticks "$PPID2")
samples=$(( SERIES * MEASURE / INTERVAL ))
hwm() { awk '/VmHWM/ {print $2 * 1024}' "/proc/$1/status"; }
echo
echo "Live scrape: $SERIES series every ${INTERVAL}s, CPU over ${MEASURE}s (~$samples samples each)"
printf '%-12s %12s %18s %18s\n' scraper "CPU s" "CPU s / M samples" "peak RSS B/series"
printf '%-12s %12.2f %18.2f %18.0f\n' sightline "$(echo "($s2 - $s1) / 100" | bc -l)" \
  "$(echo "($s2 - $s1) / 100 * 1000000 / $samples" | bc -l)" "$(echo "$(hwm "$SPID") / $SERIES" | bc -l)"
printf '%-12s %12.2f %18.2f %18.0f\n' prometheus "$(echo "($p2 - $p1) / 100" | bc -l)" \
  "$(echo "($p2 - $p1) / 100 * 1000000 / $samples" | bc -l)" "$(echo "$(hwm "$PPID2") / $SERIES" | bc -l)"
printf 'Sightline / Prometheus CPU: %.2fx (goal <= 0.5x)\n' "$(echo "($s2 - $s1) / ($p2 - $p1)" | bc -l)"
