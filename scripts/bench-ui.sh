#!/usr/bin/env bash
# Server render time of the Host dashboard over 6 h with 20 000 stored series.
# Generates node_exporter-like series for many hosts (one sample a minute, the
# last 6 h), loads them with `sightline import`, starts the server with no
# scrapes, and renders /d/host RUNS times, printing the median of the server's
# own render time (Server-Timing) and of the full HTTP round trip.
# Env: RUNS (default 20), HOSTS (default 158, about 20 000 series),
#      INTERVAL seconds between samples (default 60), BIN (default: release
#      binary if built, else debug), KEEP=DIR to keep (or reuse) the data in DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
RUNS=${RUNS:-20}
HOSTS=${HOSTS:-158}
INTERVAL=${INTERVAL:-60}
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
# Benchmarks measure an optimised build of this tree (BIN overrides).
if [ -z "${BIN:-}" ]; then
  cargo build --quiet --release --bin sightline
  BIN="$TARGET_DIR/release/sightline"
fi
WORK=${KEEP:-$(mktemp -d)}
mkdir -p "$WORK"
PID=""
cleanup() {
  if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  [ -n "${KEEP:-}" ] || rm -rf "$WORK"
}
trap cleanup EXIT
echo "bench-ui: binary $BIN"

# One file per hour so each import stays small; within a file every family
# is contiguous and every series in time order.
if [ -n "${KEEP:-}" ] && [ -f "$WORK/data/sightline.db" ]; then
  echo "bench-ui: reusing the data in $WORK (its newest samples must be recent)"
else
NOW=$(date +%s)
python3 - "$WORK" "$HOSTS" "$INTERVAL" "$NOW" <<'PY'
import random, sys
work, hosts, interval, now = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
start = now - 6 * 3600
random.seed(7)
cpus, modes = range(8), ["idle", "user", "system", "iowait", "irq", "softirq", "nice", "steal"]
disks, mounts = ["sda", "sdb", "nvme0n1", "dm-0"], [("/", "ext4"), ("/home", "ext4"), ("/boot", "vfat"), ("/run", "tmpfs")]
nets = ["lo", "eth0", "eth1", "docker0"]
def series():
    for h in range(hosts):
        inst = f'host-{h}:9100'
        base = f'instance="{inst}",job="node"'
        yield "node_uname_info", f'{base},nodename="host-{h}",sysname="Linux"', "gauge", 1.0, 0
        yield "node_boot_time_seconds", base, "gauge", float(now - 86400 * (1 + h % 30)), 0
        for c in cpus:
            for m in modes:
                yield "node_cpu_seconds_total", f'cpu="{c}",{base},mode="{m}"', "counter", 1000.0, {"idle": 0.7, "user": 0.15, "system": 0.08}.get(m, 0.01)
        for f, v in [("MemTotal", 16e9), ("MemAvailable", 9e9), ("Buffers", 3e8), ("Cached", 4e9), ("SwapTotal", 2e9), ("SwapFree", 1.8e9)]:
            yield f"node_memory_{f}_bytes", base, "gauge", v, 0
        for l in ["1", "5", "15"]:
            yield f"node_load{l}", base, "gauge", 1.5, 0
        for d in disks:
            for m, r in [("read_bytes", 2e5), ("written_bytes", 8e5), ("reads_completed", 20), ("writes_completed", 60), ("io_time_seconds", 0.05)]:
                yield f"node_disk_{m}_total", f'device="{d}",{base}', "counter", 1e6, r
        for mp, fs in mounts:
            for m, v in [("size", 1e11), ("avail", 4e10)]:
                yield f"node_filesystem_{m}_bytes", f'device="/dev/x",fstype="{fs}",{base},mountpoint="{mp}"', "gauge", v, 0
        for n in nets:
            for m, r in [("receive_bytes", 5e4), ("transmit_bytes", 3e4), ("receive_errs", 0), ("transmit_errs", 0), ("receive_drop", 0), ("transmit_drop", 0)]:
                yield f"node_network_{m}_total", f'device="{n}",{base}', "counter", 1e6, r
all_series = list(series())
print(f"bench-ui: {len(all_series)} series, {len(all_series) * (6 * 3600 // interval)} samples", flush=True)
times = list(range(start + interval, now + 1, interval))
for hour in range(6):
    ts = [t for t in times if start + hour * 3600 < t <= start + (hour + 1) * 3600]
    with open(f"{work}/h{hour}.prom", "w") as out:
        last = None
        for name, labels, kind, v0, rate in sorted(all_series, key=lambda s: s[0]):
            if name != last:
                out.write(f"# TYPE {name} {kind}\n")
                last = name
            lines = []
            for t in ts:
                if kind == "counter":
                    v = v0 + rate * (t - start) * (1 + 0.1 * random.random())
                else:
                    v = v0 * (1 + 0.05 * random.random())
                lines.append(f"{name}{{{labels}}} {v:.6g} {t * 1000}\n")
            out.write("".join(lines))
PY
for f in "$WORK"/h*.prom; do
  "$BIN" --log-level warn import "$f" --data "$WORK/data"
  rm -f "$f"
done
fi

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'scrape_configs: []\nhost:\n  enabled: false\n' > "$WORK/sightline.yml"
"$BIN" --config "$WORK/sightline.yml" --listen "127.0.0.1:$PORT" --data "$WORK/data" --log-level warn &
PID=$!
for _ in $(seq 1 200); do curl -fsS "http://127.0.0.1:$PORT/-/ready" >/dev/null 2>&1 && break; sleep 0.1; done
URL="http://127.0.0.1:$PORT/d/host?from=now-6h&to=now&var-instance=host-1:9100"
# One warm-up render, which must show data.
curl -fsS "$URL" -o "$WORK/page.html"
PANELS=$(grep -o '<figure class="panel ' "$WORK/page.html" | wc -l)
EMPTY=$(grep -o 'class="no-data"' "$WORK/page.html" | wc -l || true)
ERRORS=$(grep -o 'class="panel-error"' "$WORK/page.html" | wc -l || true)
echo "bench-ui: Host dashboard, $PANELS panels ($EMPTY without data, $ERRORS with errors), 6 h range, $RUNS runs"
: > "$WORK/times"
for _ in $(seq 1 "$RUNS"); do
  curl -sS -D - -o /dev/null -w 'total %{time_total}\n' "$URL" | tr -d '\r' \
    | awk '/^server-timing:/ { n = split($0, f, /dur=/); split(f[3], q, ","); split(f[4], d, ","); r = f[n]; qd = q[1] " " d[1] }
           /^total / { printf "%s %.1f %s\n", r, $2 * 1000, qd }' >> "$WORK/times"
done
python3 - "$WORK/times" <<'PY'
import statistics, sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
render, total = [r[0] for r in rows], [r[1] for r in rows]
print(f"render (server): median {statistics.median(render):.1f} ms  min {min(render):.1f}  max {max(render):.1f}")
print(f"HTTP round trip: median {statistics.median(total):.1f} ms  min {min(total):.1f}  max {max(total):.1f}")
query, draw = [r[2] for r in rows], [r[3] for r in rows]
print(f"of which, summed over panels: queries median {statistics.median(query):.1f} ms, drawing median {statistics.median(draw):.1f} ms")
print("goal: median render under 100 ms:", "MET" if statistics.median(render) < 100 else "NOT MET")
PY
