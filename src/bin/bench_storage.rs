//! Storage benchmark: ingests a deterministic synthetic fleet (counters,
//! gauges, histograms; see `tsdb::testdata`) into a fresh store and prints
//! bytes per sample on disk after compaction, ingest CPU seconds per million
//! samples, RSS per series, and the time to open a crash image of the head.
//!
//! Usage: `bench_storage [--series N] [--hours H] [--interval-s S]
//!   [--node-fixture bench/node_exporter.payloads.zst --node-hosts N]
//!   [--chunk-min M] [--block-hours H] [--page-size B] [--dir DIR] [--codecs]
//!   [--emit-openmetrics FILE]`
//! Build with `--release` for figures that mean something.
//! `--emit-openmetrics FILE` writes the same data as OpenMetrics text with
//! timestamps (for peers' importers) and exits.

use sightline::scrape::exposition::{self, Format, MetricType};
use sightline::tsdb::testdata::Synthetic;
use sightline::tsdb::{self, codec, Appendable, Db, Options, Querier};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

fn cpu_secs() -> f64 {
    // SAFETY: rusage is plain data and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
        return 0.0;
    }
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

/// (current RSS, peak RSS) in bytes, from /proc/self/status.
fn rss() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok()).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Scrapes recorded from Debian's prometheus-node-exporter (bench/, zstd),
/// replayed for `hosts` hosts: counters grow by the per-interval deltas
/// observed in the recording (as exact decimals), gauges follow the recorded
/// values back and forth; each host starts at its own point of the recording.
struct NodeReplay {
    labels: Vec<tsdb::Labels>,
    /// Per series: counter (integer steps at `scale`) or gauge (recorded values).
    series: Vec<Recorded>,
    hosts: usize,
    per_host: usize,
    /// Per host and series: the counter's current integer value.
    state: Vec<i64>,
    k: usize,
}

enum Recorded {
    Counter { scale: f64, deltas: Vec<i64> },
    Gauge(Vec<f64>),
}

/// Decimal places (≤ 6) that make every value an exact integer, if any.
fn decimal_scale(values: &[f64]) -> Option<u32> {
    (0..=6).find(|&k| {
        let m = 10f64.powi(k as i32);
        values.iter().all(|v| v.is_finite() && ((v * m).round() / m).to_bits() == v.to_bits() && (v * m).abs() < 9e15)
    })
}

/// The recorded label set behind the `i`-th replayed series.
fn labels_at(labels: &[tsdb::Labels], i: usize, per_host: usize) -> &tsdb::Labels {
    &labels[i % per_host.max(1)]
}

impl NodeReplay {
    fn load(file: &Path, hosts: usize) -> Result<NodeReplay, String> {
        let raw = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
        let text = zstd::decode_all(&raw[..]).map_err(|e| format!("{}: not zstd: {e}", file.display()))?;
        let text = String::from_utf8(text).map_err(|e| format!("{}: {e}", file.display()))?;
        let mut order: Vec<tsdb::Labels> = Vec::new();
        let mut values: std::collections::HashMap<tsdb::Labels, Vec<f64>> = Default::default();
        let mut counters: std::collections::HashSet<String> = Default::default();
        let mut payloads = 0;
        for (i, body) in text.split("# ---- scrape").skip(1).enumerate() {
            let body = body.split_once('\n').map_or("", |(_, rest)| rest);
            let exp = exposition::parse(body, Format::Text).map_err(|e| format!("payload {}: {e}", i + 1))?;
            for m in &exp.metadata {
                if matches!(m.kind, MetricType::Counter | MetricType::Histogram | MetricType::Summary) {
                    counters.insert(m.family.clone());
                }
            }
            for s in exp.samples {
                let v = values.entry(s.labels.clone()).or_default();
                if v.is_empty() {
                    order.push(s.labels);
                }
                v.push(s.value);
            }
            payloads += 1;
        }
        if payloads < 2 {
            return Err(format!("{}: needs at least 2 recorded scrapes", file.display()));
        }
        let mut labels = Vec::new();
        let mut series = Vec::new();
        for l in order {
            let vals = &values[&l];
            // Series present in every payload only: a replay cannot invent the missing ones.
            if vals.len() != payloads {
                continue;
            }
            let name = l.metric_name().unwrap_or("");
            let family = ["_bucket", "_count", "_sum", "_total"]
                .iter()
                .find_map(|suf| name.strip_suffix(suf).filter(|f| counters.contains(*f)))
                .unwrap_or(name);
            let is_counter = counters.contains(family) && l.get("quantile").is_none();
            let rec = match (is_counter, decimal_scale(vals)) {
                (true, Some(k)) => {
                    let m = 10f64.powi(k as i32);
                    let ints: Vec<i64> = vals.iter().map(|v| (v * m).round() as i64).collect();
                    Recorded::Counter { scale: m, deltas: ints.windows(2).map(|w| (w[1] - w[0]).max(0)).collect() }
                }
                _ => Recorded::Gauge(vals.clone()),
            };
            labels.push(l);
            series.push(rec);
        }
        let per_host = labels.len();
        let mut all_labels = Vec::with_capacity(per_host * hosts);
        let mut state = Vec::with_capacity(per_host * hosts);
        for h in 0..hosts {
            for (l, rec) in labels.iter().zip(&series) {
                let mut l = l.clone();
                l.set("instance", &format!("node-{h:03}:9100"));
                l.set("job", "node");
                all_labels.push(l);
                state.push(match rec {
                    // The recorded first value, plus for each further host as much
                    // again as the whole recording grew (hosts up for different times).
                    Recorded::Counter { scale, deltas } => {
                        let first =
                            values.get(labels_at(&labels, all_labels.len() - 1, per_host)).map_or(0.0, |v| v[0]);
                        (first * scale).round() as i64 + h as i64 * deltas.iter().sum::<i64>()
                    }
                    Recorded::Gauge(_) => 0,
                });
            }
        }
        Ok(NodeReplay { labels: all_labels, series, hosts, per_host, state, k: 0 })
    }

    /// Appends one scrape's values (one per label set, in order) to `out`.
    fn scrape(&mut self, out: &mut Vec<f64>) {
        for h in 0..self.hosts {
            let pos = self.k + h * 7;
            for (j, rec) in self.series.iter().enumerate() {
                let v = match rec {
                    Recorded::Counter { scale, deltas } => {
                        let st = &mut self.state[h * self.per_host + j];
                        if self.k > 0 {
                            *st += deltas[pos % deltas.len()];
                        }
                        *st as f64 / scale
                    }
                    Recorded::Gauge(vals) => {
                        // Back and forth through the recording: no jump at the wrap.
                        let n = vals.len();
                        let p = pos % (2 * n - 2).max(1);
                        vals[if p < n { p } else { 2 * n - 2 - p }]
                    }
                };
                out.push(v);
            }
        }
        self.k += 1;
    }
}

/// The benchmark's data: the synthetic fleet plus replayed node_exporter hosts.
struct Fleet {
    labels: Vec<tsdb::Labels>,
    syn: Synthetic,
    node: Option<NodeReplay>,
    tmp: Vec<f64>,
}

impl Fleet {
    fn new(a: &Args) -> Result<Fleet, String> {
        let syn = Synthetic::new(42, a.series);
        let node = match (&a.node_fixture, a.node_hosts) {
            (Some(f), h) if h > 0 => Some(NodeReplay::load(f, h)?),
            _ => None,
        };
        let mut labels = syn.labels.clone();
        if let Some(n) = &node {
            labels.extend(n.labels.iter().cloned());
        }
        Ok(Fleet { labels, syn, node, tmp: Vec::new() })
    }

    fn scrape(&mut self, out: &mut Vec<f64>) {
        self.syn.scrape(out);
        if let Some(n) = &mut self.node {
            self.tmp.clear();
            n.scrape(&mut self.tmp);
            out.extend_from_slice(&self.tmp);
        }
    }
}

struct Args {
    node_fixture: Option<PathBuf>,
    node_hosts: usize,
    series: usize,
    hours: f64,
    interval_s: i64,
    opts: Options,
    dir: Option<PathBuf>,
    codecs: bool,
    emit: Option<PathBuf>,
    emit_text: Option<PathBuf>,
    serve: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        node_fixture: None,
        node_hosts: 0,
        series: 10_000,
        hours: 24.0,
        interval_s: 15,
        opts: Options::default(),
        dir: None,
        codecs: false,
        emit: None,
        emit_text: None,
        serve: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or_else(|| format!("{flag} needs a value"));
        let num = |s: String| s.parse::<f64>().map_err(|_| format!("{flag}: {s:?} is not a number"));
        match flag.as_str() {
            "--series" => a.series = num(val()?)? as usize,
            "--hours" => a.hours = num(val()?)?,
            "--interval-s" => a.interval_s = (num(val()?)? as i64).max(1),
            "--chunk-min" => a.opts.chunk_span = Duration::from_secs_f64(num(val()?)? * 60.0),
            "--block-hours" => a.opts.block_span = Duration::from_secs_f64(num(val()?)? * 3600.0),
            "--page-size" => a.opts.page_size = num(val()?)? as u32,
            "--dir" => a.dir = Some(PathBuf::from(val()?)),
            "--codecs" => a.codecs = true,
            "--emit-openmetrics" => a.emit = Some(PathBuf::from(val()?)),
            "--emit-text-ms" => a.emit_text = Some(PathBuf::from(val()?)),
            "--serve" => a.serve = Some(val()?),
            "--node-fixture" => a.node_fixture = Some(PathBuf::from(val()?)),
            "--node-hosts" => a.node_hosts = num(val()?)? as usize,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Writes the data as exposition text; timestamps in seconds with `# EOF`
/// (OpenMetrics, for promtool and `sightline import`) or in milliseconds
/// (Prometheus text, for VictoriaMetrics' /api/v1/import/prometheus).
fn emit_openmetrics(a: &Args, file: &Path, start: i64, scrapes: usize, millis: bool) -> std::io::Result<()> {
    let mut fleet = Fleet::new(a).map_err(std::io::Error::other)?;
    let n = fleet.labels.len();
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut vals = Vec::new();
    // OpenMetrics wants samples grouped per metric family; one scrape per
    // block of lines is accepted by promtool and VictoriaMetrics alike.
    // Families contiguous (the replayed hosts repeat the same families).
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&x, &y| fleet.labels[x].cmp(&fleet.labels[y]));
    let mut by_series: Vec<String> = vec![String::new(); n];
    for k in 0..scrapes {
        fleet.scrape(&mut vals);
        let t_ms = start + k as i64 * a.interval_s * 1000;
        let t = if millis { t_ms.to_string() } else { format!("{:.3}", t_ms as f64 / 1000.0) };
        for (i, v) in vals.iter().enumerate() {
            by_series[i].push_str(&format!("{} {v} {t}\n", fmt_series(&fleet.labels[i])));
        }
        if by_series[0].len() > 1 << 16 || k + 1 == scrapes {
            // Flushing per series keeps each series' samples contiguous per chunk of time.
            for &i in &order {
                out.write_all(by_series[i].as_bytes())?;
                by_series[i].clear();
            }
        }
    }
    if !millis {
        out.write_all(b"# EOF\n")?;
    }
    out.flush()
}

/// Serves the fleet as scrape targets: 100 series per target on consecutive
/// ports from `addr`'s; each request advances that target by one scrape.
fn serve(addr: &str, series: usize) {
    let Some((host, port)) = addr.rsplit_once(':').and_then(|(h, p)| p.parse::<u16>().ok().map(|p| (h.to_string(), p)))
    else {
        eprintln!("bench_storage: --serve wants HOST:PORT");
        std::process::exit(2);
    };
    let targets = series.div_ceil(100);
    let mut handles = Vec::new();
    for tg in 0..targets {
        let listener = match std::net::TcpListener::bind((host.as_str(), port + tg as u16)) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bench_storage: binding {host}:{}: {e}", port + tg as u16);
                std::process::exit(1);
            }
        };
        handles.push(std::thread::spawn(move || {
            let syn = std::sync::Arc::new(std::sync::Mutex::new(Synthetic::new(1000 + tg as u64, 100)));
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let syn = syn.clone();
                // Keep-alive, as real exporters serve: one thread per scraper's connection.
                std::thread::spawn(move || serve_connection(conn, &syn));
            }
        }));
    }
    println!("serving {targets} targets on {host}:{port}..{}", port + targets as u16 - 1);
    for h in handles {
        let _ = h.join();
    }
}

/// Answers every request on one connection with the target's next scrape.
fn serve_connection(mut conn: std::net::TcpStream, syn: &std::sync::Mutex<Synthetic>) {
    let mut request = Vec::new();
    let mut buf = [0u8; 4096];
    let mut vals = Vec::new();
    loop {
        // A request ends with an empty line (scrapes are GETs without a body).
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match std::io::Read::read(&mut conn, &mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        request.clear();
        let mut body = String::with_capacity(100 * 80);
        {
            let mut syn = syn.lock().unwrap_or_else(|e| e.into_inner());
            syn.scrape(&mut vals);
            for (i, v) in vals.iter().enumerate() {
                let l = syn.labels[i].drop_names(&["instance", "job"]);
                body.push_str(&format!("{} {v}\n", fmt_series(&l)));
            }
        }
        let head = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        if conn.write_all(head.as_bytes()).and_then(|_| conn.write_all(body.as_bytes())).is_err() {
            return;
        }
    }
}

fn fmt_series(l: &tsdb::Labels) -> String {
    let name = l.metric_name().unwrap_or("");
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let rest: Vec<String> =
        l.iter().filter(|x| x.name != "__name__").map(|x| format!("{}=\"{}\"", x.name, esc(&x.value))).collect();
    format!("{name}{{{}}}", rest.join(","))
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_storage: {e}");
            std::process::exit(2);
        }
    };
    let scrapes = ((a.hours * 3600.0) as i64 / a.interval_s).max(1) as usize;
    // The data ends at the last UTC midnight, so compacted blocks hold whole
    // days as in a store that has run for a while; a window straddling
    // midnight would make every series two part-day blocks, and the figure
    // would depend on the time of day the benchmark runs.
    let step_ms = a.interval_s * 1000;
    let end = tsdb::now_millis().div_euclid(86_400_000) * 86_400_000;
    let start = (end - scrapes as i64 * step_ms) / step_ms * step_ms;
    for (file, millis) in [(&a.emit, false), (&a.emit_text, true)] {
        if let Some(file) = file {
            if let Err(e) = emit_openmetrics(&a, file, start, scrapes, millis) {
                eprintln!("bench_storage: writing {}: {e}", file.display());
                std::process::exit(1);
            }
            println!("wrote {} scrapes to {}", scrapes, file.display());
        }
    }
    if a.emit.is_some() || a.emit_text.is_some() {
        return;
    }
    if let Some(addr) = &a.serve {
        serve(addr, a.series);
        return;
    }
    let tmp;
    let dir = match &a.dir {
        Some(d) => d.clone(),
        None => {
            tmp = std::env::temp_dir().join(format!("bench_storage.{}", std::process::id()));
            tmp.clone()
        }
    };
    let _ = std::fs::remove_dir_all(&dir);

    // The generator's own cost, measured alone and subtracted below.
    let fleet = || {
        Fleet::new(&a).unwrap_or_else(|e| {
            eprintln!("bench_storage: {e}");
            std::process::exit(1);
        })
    };
    let (gen_cpu, mut vals) = {
        let mut syn = fleet();
        let c0 = cpu_secs();
        let mut vals = Vec::new();
        for _ in 0..scrapes {
            syn.scrape(&mut vals);
        }
        (cpu_secs() - c0, vals)
    };
    let mut syn = fleet();
    let n_series = syn.labels.len();
    let (rss0, _) = rss();
    let db = match Db::open_with(&dir, a.opts.clone()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("bench_storage: {e}");
            std::process::exit(1);
        }
    };
    let (c0, w0) = (cpu_secs(), Instant::now());
    let targets = n_series.div_ceil(100);
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let t = start + k as i64 * step_ms;
        // One appender per target of 100 series, as the scrape loop does.
        for tg in 0..targets {
            let mut app = db.appender();
            let (lo, hi) = (tg * 100, ((tg + 1) * 100).min(n_series));
            for (labels, v) in syn.labels[lo..hi].iter().zip(&vals[lo..hi]) {
                if let Err(e) = app.append(labels, t, *v) {
                    eprintln!("append: {e}");
                }
            }
            if let Err(e) = app.commit() {
                eprintln!("commit: {e}");
                std::process::exit(1);
            }
        }
    }
    if let Err(e) = db.flush() {
        eprintln!("flush: {e}");
    }
    let ingest_wall = w0.elapsed();
    let ingest_cpu = cpu_secs() - c0;
    let (rss1, peak_ingest) = rss();
    let stats = db.stats();

    // Crash image of the running store: open time is the restart time after kill -9.
    let crash = dir.with_extension("crash");
    let _ = std::fs::remove_dir_all(&crash);
    let _ = std::fs::create_dir_all(&crash);
    for f in [tsdb::DB_FILE.to_string(), format!("{}-wal", tsdb::DB_FILE)] {
        let _ = std::fs::copy(dir.join(&f), crash.join(&f));
    }

    let (cc0, cw0) = (cpu_secs(), Instant::now());
    if let Err(e) = db.compact_all() {
        eprintln!("compact: {e}");
    }
    let compact_cpu = cpu_secs() - cc0;
    let compact_wall = cw0.elapsed();
    let rows = tsdb::table_rows(&db).unwrap_or_default();
    let blobs = tsdb::blob_bytes(&db).unwrap_or_default();
    let samples = stats.samples_appended;

    // Query: one series, whole range; and a 1 h range over 1 % of series.
    let qw = Instant::now();
    let got = db.select(&[tsdb::Matcher::equal("series", "0")], i64::MIN, i64::MAX).unwrap_or_default();
    let q1 = qw.elapsed();
    let sel =
        tsdb::Matcher::new(tsdb::MatchKind::Regex, "series", ".*00").unwrap_or_else(|_| tsdb::Matcher::equal("x", "y"));
    let qw = Instant::now();
    let got2 = db.select(&[sel], start + scrapes as i64 * step_ms - 3_600_000, i64::MAX).unwrap_or_default();
    let q2 = qw.elapsed();

    let codec_report = if a.codecs { codec_report(&db) } else { String::new() };
    db.close();
    drop(db);
    // VACUUM-free: what the directory holds after compaction and a clean close.
    let disk = dir_bytes(&dir);

    let ow = Instant::now();
    let reopened = Db::open_with(&crash, a.opts.clone());
    let open_time = ow.elapsed();
    let replayed_ok = reopened.as_ref().map(|d| d.stats().series == stats.series).unwrap_or(false);
    drop(reopened);

    println!(
        "storage benchmark: {} series × {} scrapes every {} s = {} samples",
        n_series, scrapes, a.interval_s, samples
    );
    println!(
        "options: chunk span {} min, block span {} h, page size {}",
        a.opts.chunk_span.as_secs() / 60,
        a.opts.block_span.as_secs() / 3600,
        a.opts.page_size
    );
    println!("bytes/sample on disk (whole directory, after compaction): {:.3}", disk as f64 / samples as f64);
    println!(
        "  encoded blocks only: {:.3} bytes/sample; rows: {:?}",
        blobs.get("blocks").copied().unwrap_or(0) as f64 / samples as f64,
        rows
    );
    println!(
        "ingest CPU s per million samples: {:.3} (generator's {:.3} s subtracted; wall {:.1} s, {:.0} samples/s)",
        (ingest_cpu - gen_cpu).max(0.0) / (samples as f64 / 1e6),
        gen_cpu,
        ingest_wall.as_secs_f64(),
        samples as f64 / ingest_wall.as_secs_f64()
    );
    println!(
        "compaction CPU s per million samples: {:.3} (wall {:.1} s)",
        compact_cpu / (samples as f64 / 1e6),
        compact_wall.as_secs_f64()
    );
    println!(
        "RSS per series: {:.0} bytes (RSS {:.1} MiB after ingest, {:.1} MiB before; peak {:.1} MiB); store's own estimate {:.0} bytes/series",
        rss1.saturating_sub(rss0) as f64 / n_series as f64,
        rss1 as f64 / 1048576.0,
        rss0 as f64 / 1048576.0,
        peak_ingest as f64 / 1048576.0,
        stats.memory_bytes as f64 / n_series as f64
    );
    println!(
        "time to open a crash image with {} active series: {:.2} s ({})",
        stats.active_series,
        open_time.as_secs_f64(),
        if replayed_ok { "all series back" } else { "SERIES MISSING" }
    );
    println!(
        "query: 1 series whole range {} samples in {:.1} ms; last 1 h of {} series in {:.1} ms",
        got.first().map_or(0, |s| s.samples.len()),
        q1.as_secs_f64() * 1e3,
        got2.len(),
        q2.as_secs_f64() * 1e3
    );
    print!("{codec_report}");
    println!("{}", size_retention_report(&dir, &a.opts, disk));
    if a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&crash);
}

/// Reopens the compacted store with `retention_size` at half its size and
/// times the background steps that bring it under the limit.
fn size_retention_report(dir: &Path, opts: &Options, disk: u64) -> String {
    let limit = disk / 2;
    let opts = Options { retention_size: Some(limit), ..opts.clone() };
    let db = match Db::open_with(dir, opts) {
        Ok(db) => db,
        Err(e) => return format!("size retention: {e}"),
    };
    let (mut steps, mut worst) = (0, Duration::ZERO);
    let w = Instant::now();
    while steps < 500 {
        let t = Instant::now();
        if let Err(e) = db.run_retention() {
            return format!("size retention: {e}");
        }
        worst = worst.max(t.elapsed());
        steps += 1;
        if db.stats().used_bytes <= limit {
            break;
        }
    }
    let st = db.stats();
    db.close();
    format!(
        "size retention to {:.1} MB: {} steps, {} rows deleted, {:.1} ms per step (slowest {:.1} ms), used {:.1} MB, file {:.1} MB",
        limit as f64 / 1e6,
        steps,
        st.size_retention_rows,
        w.elapsed().as_secs_f64() * 1e3 / steps.max(1) as f64,
        worst.as_secs_f64() * 1e3,
        st.used_bytes as f64 / 1e6,
        std::fs::metadata(dir.join(tsdb::DB_FILE)).map_or(0, |m| m.len()) as f64 / 1e6
    )
}

/// Which codecs compaction picked, and what other zstd levels would cost.
fn codec_report(db: &Db) -> String {
    use std::collections::BTreeMap;
    let series = db.select(&[], i64::MIN, i64::MAX).unwrap_or_default();
    let mut picked: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let mut levels: BTreeMap<i32, usize> = BTreeMap::new();
    let mut gorilla = 0usize;
    let mut n = 0usize;
    for s in &series {
        n += s.samples.len();
        gorilla += codec::encode_gorilla(&s.samples).len();
        let b = codec::encode_block(&s.samples);
        let e = picked.entry(codec::describe(&b)).or_default();
        e.0 += 1;
        e.1 += b.len();
        for lvl in [0, 1, 3, 9, 19] {
            *levels.entry(lvl).or_default() += codec::encode_block_level(&s.samples, lvl).len();
        }
    }
    let mut out = String::from("codecs picked (series, bytes/sample):\n");
    for (k, (c, b)) in picked {
        out.push_str(&format!("  {k:<28} {c:>7} {:.3}\n", b as f64 / n.max(1) as f64));
    }
    out.push_str(&format!("  gorilla only: {:.3} bytes/sample\n", gorilla as f64 / n.max(1) as f64));
    for (l, b) in levels {
        out.push_str(&format!("  zstd level {l:>2}: {:.3} bytes/sample\n", b as f64 / n.max(1) as f64));
    }
    out
}
