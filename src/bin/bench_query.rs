//! Query benchmark driver for `scripts/bench-query.sh`: Sightline, Prometheus
//! and VictoriaMetrics answer the same dashboard-like range queries over the
//! same data; this prints the median latency per query and engine, the ratios,
//! and whether Sightline's answers agree with Prometheus's.
//!
//! Two subcommands:
//!
//! - `bench_query gen --series N --hours H --end-ms T --om FILE --text FILE --sightline DIR`
//!   writes the synthetic fleet (`tsdb::testdata::Synthetic`, seed 42) as
//!   OpenMetrics with second timestamps (for promtool) and as Prometheus text
//!   with millisecond timestamps (for VictoriaMetrics), and ingests the same
//!   samples into a Sightline store in `DIR` (in-process, then compacted, as
//!   `bench_storage` does). Samples are every 15 s at 7.125 s past the grid:
//!   never on a 1 m step or window boundary (Prometheus 2.x closes windows on
//!   the left, Prometheus 3 and Sightline do not), and exact in binary so
//!   promtool's float seconds turn back into the same milliseconds.
//! - `bench_query run --sightline URL --prometheus URL --vm URL --end-ms T [--runs N]`
//!   runs the fixed query list, interleaved round-robin over the three engines,
//!   checks Sightline's matrices against Prometheus's, prints the table and
//!   exits 1 on any mismatch.

use std::collections::BTreeMap;
use std::io::{BufWriter, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use sightline::tsdb::testdata::Synthetic;
use sightline::tsdb::{Appendable, Db};

/// Seconds between samples of one series.
const INTERVAL_MS: i64 = 15_000;
/// Offset of every sample from the 15 s grid: off every minute boundary and a
/// multiple of 1/8 s, so `x.125` seconds is exact as a float.
const PHASE_MS: i64 = 7_125;

/// One benchmark query: name, PromQL, range in hours before the end, step in seconds.
struct Query {
    name: &'static str,
    expr: &'static str,
    hours: i64,
    step_s: i64,
}

/// Dashboard-like range queries. All windows are multiples of the step grid,
/// so no sample sits on a window boundary.
const QUERIES: &[Query] = &[
    Query {
        name: "sum by job of rate",
        expr: "sum by (job) (rate(http_requests_total[5m]))",
        hours: 6,
        step_s: 60,
    },
    Query {
        name: "regex selector, sum by instance",
        expr: r#"sum by (instance) (rate(http_requests_total{job=~"api|db", instance=~"host-00[0-9].*"}[5m]))"#,
        hours: 6,
        step_s: 60,
    },
    Query {
        name: "histogram_quantile of summed rates",
        expr: "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket[5m])))",
        hours: 6,
        step_s: 60,
    },
    Query {
        name: "histogram_quantile per series",
        expr: r#"histogram_quantile(0.9, rate(http_request_duration_seconds_bucket{job="api"}[5m]))"#,
        hours: 6,
        step_s: 60,
    },
    Query {
        name: "mean latency (sum / count rates)",
        expr: "sum by (job) (rate(http_request_duration_seconds_sum[5m])) / sum by (job) (rate(http_request_duration_seconds_count[5m]))",
        hours: 6,
        step_s: 60,
    },
    Query { name: "avg_over_time of a gauge", expr: "avg_over_time(node_hwmon_temp_celsius[10m])", hours: 6, step_s: 60 },
    Query {
        name: "max_over_time, regex",
        expr: r#"max_over_time(process_resident_memory_bytes{instance=~"host-00.*"}[30m])"#,
        hours: 6,
        step_s: 60,
    },
    Query { name: "topk of CPU rates", expr: "topk(5, rate(node_cpu_seconds_total[5m]))", hours: 6, step_s: 60 },
    Query { name: "count by of a filter", expr: "count by (job) (open_connections > 5)", hours: 6, step_s: 60 },
    Query {
        name: "increase over 1 h by job",
        expr: "sum by (job) (increase(http_requests_total[1h]))",
        hours: 6,
        step_s: 60,
    },
    Query { name: "1 d window rate, 1 d at 1 m", expr: "sum by (job) (rate(http_requests_total[1d]))", hours: 24, step_s: 60 },
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("gen") => gen(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => Err("usage: bench_query gen ... | bench_query run ... (see the file's doc comment)".to_string()),
    };
    match result {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("bench_query: {e}");
            std::process::exit(2);
        }
    }
}

/// `--name value` pairs into a map; every flag takes a value.
fn flags(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut it = args.iter();
    while let Some(f) = it.next() {
        let name = f.strip_prefix("--").ok_or_else(|| format!("unexpected argument {f:?}"))?;
        let v = it.next().ok_or_else(|| format!("{f} needs a value"))?;
        out.insert(name.to_string(), v.clone());
    }
    Ok(out)
}

fn num<T: std::str::FromStr>(f: &BTreeMap<String, String>, name: &str, default: Option<T>) -> Result<T, String> {
    match f.get(name) {
        Some(v) => v.parse().map_err(|_| format!("--{name}: {v:?} is not a number")),
        None => default.ok_or_else(|| format!("--{name} is required")),
    }
}

fn fmt_series(l: &sightline::tsdb::Labels) -> String {
    let name = l.metric_name().unwrap_or("");
    let rest: Vec<String> =
        l.iter().filter(|x| x.name != "__name__").map(|x| format!("{}=\"{}\"", x.name, x.value)).collect();
    format!("{name}{{{}}}", rest.join(","))
}

/// Generates the data into the three destinations. Returns Ok(true) when done.
fn gen(args: &[String]) -> Result<bool, String> {
    let f = flags(args)?;
    let series: usize = num(&f, "series", Some(2000))?;
    let hours: i64 = num(&f, "hours", Some(49))?;
    let end_ms: i64 = num(&f, "end-ms", None)?;
    let om = PathBuf::from(f.get("om").ok_or("--om is required")?);
    let text = PathBuf::from(f.get("text").ok_or("--text is required")?);
    let dir = PathBuf::from(f.get("sightline").ok_or("--sightline is required")?);
    let scrapes = (hours * 3_600_000 / INTERVAL_MS) as usize;
    // Samples at start + PHASE + k·15 s, the last one before `end_ms`.
    let start = end_ms - scrapes as i64 * INTERVAL_MS;

    let open = |p: &PathBuf| {
        std::fs::File::create(p)
            .map(|f| BufWriter::with_capacity(1 << 20, f))
            .map_err(|e| format!("{}: {e}", p.display()))
    };
    let (mut om_out, mut text_out) = (open(&om)?, open(&text)?);
    let db = Db::open(&dir).map_err(|e| e.to_string())?;
    let mut syn = Synthetic::new(42, series);
    let prefixes: Vec<String> = syn.labels.iter().map(fmt_series).collect();
    // Per series, a run of lines: each series' samples stay contiguous and in
    // time order within a flush, and flushes follow each other in time.
    let mut om_buf: Vec<String> = vec![String::new(); series];
    let mut text_buf: Vec<String> = vec![String::new(); series];
    let mut vals = Vec::new();
    let targets = series.div_ceil(100);
    let w0 = Instant::now();
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let t = start + PHASE_MS + k as i64 * INTERVAL_MS;
        // Exact decimal seconds without going through a float.
        let secs = format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000));
        for (i, v) in vals.iter().enumerate() {
            use std::fmt::Write as _;
            let _ = writeln!(om_buf[i], "{} {v} {secs}", prefixes[i]);
            let _ = writeln!(text_buf[i], "{} {v} {t}", prefixes[i]);
        }
        for tg in 0..targets {
            let mut app = db.appender();
            let range = tg * 100..((tg + 1) * 100).min(series);
            for (labels, &v) in syn.labels[range.clone()].iter().zip(&vals[range]) {
                app.append(labels, t, v).map_err(|e| format!("append: {e}"))?;
            }
            app.commit().map_err(|e| format!("commit: {e}"))?;
        }
        if om_buf[0].len() > 1 << 15 || k + 1 == scrapes {
            for (b, out) in [(&mut om_buf, &mut om_out), (&mut text_buf, &mut text_out)] {
                for s in b.iter_mut() {
                    out.write_all(s.as_bytes()).map_err(|e| e.to_string())?;
                    s.clear();
                }
            }
        }
    }
    om_out.write_all(b"# EOF\n").map_err(|e| e.to_string())?;
    om_out.flush().map_err(|e| e.to_string())?;
    text_out.flush().map_err(|e| e.to_string())?;
    db.flush().map_err(|e| e.to_string())?;
    let ingest = w0.elapsed();
    db.compact_all().map_err(|e| e.to_string())?;
    db.close();
    println!(
        "generated {} series × {} samples ({} samples) from {} to {} in {:.1} s (+ compaction {:.1} s)",
        series,
        scrapes,
        series * scrapes,
        start + PHASE_MS,
        start + PHASE_MS + (scrapes as i64 - 1) * INTERVAL_MS,
        ingest.as_secs_f64(),
        (w0.elapsed() - ingest).as_secs_f64()
    );
    Ok(true)
}

/// A minimal HTTP/1.1 GET: returns (status, body). Handles Content-Length,
/// chunked and read-to-close bodies.
fn http_get(base: &str, path_query: &str) -> Result<(u16, Vec<u8>), String> {
    let hostport = base.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(hostport).map_err(|e| format!("{hostport}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(300))).map_err(|e| e.to_string())?;
    write!(s, "GET {path_query} HTTP/1.1\r\nHost: {hostport}\r\nConnection: close\r\nAccept: application/json\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).map_err(|e| format!("{hostport}: {e}"))?;
    let head_end = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or("response without a header end")?;
    let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
    let status = head.split_whitespace().nth(1).and_then(|c| c.parse().ok()).ok_or("response without a status")?;
    let mut body = raw[head_end + 4..].to_vec();
    if head.contains("transfer-encoding: chunked") {
        body = dechunk(&body)?;
    }
    Ok((status, body))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(b.len());
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n").ok_or("bad chunked body")?;
        let size_txt = String::from_utf8_lossy(&b[..eol]);
        let size = usize::from_str_radix(size_txt.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_txt:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("truncated chunked body".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

/// A matrix answer: label set → points (ms, value).
type Matrix = BTreeMap<BTreeMap<String, String>, Vec<(i64, f64)>>;

fn parse_matrix(body: &[u8]) -> Result<Matrix, String> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| format!("not JSON ({e}): {}", String::from_utf8_lossy(&body[..body.len().min(300)])))?;
    if v["status"] != "success" {
        return Err(format!("query failed: {}", String::from_utf8_lossy(&body[..body.len().min(500)])));
    }
    if v["data"]["resultType"] != "matrix" {
        return Err(format!("result type {} instead of matrix", v["data"]["resultType"]));
    }
    let mut out = Matrix::new();
    for (labels, pts) in sightline::web::datasource::parse_result(&v["data"])? {
        let labels: BTreeMap<String, String> = labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        if out.insert(labels.clone(), pts).is_some() {
            return Err(format!("series {labels:?} twice in the answer"));
        }
    }
    Ok(out)
}

fn same(a: f64, b: f64) -> bool {
    if a.is_nan() || b.is_nan() {
        return a.is_nan() && b.is_nan();
    }
    if a == b {
        return true;
    }
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn fmt_labels(l: &BTreeMap<String, String>) -> String {
    let inner: Vec<String> = l.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// None when the answers agree, else the first difference.
fn compare(s: &Matrix, p: &Matrix) -> Option<String> {
    for (a, b, who) in [(p, s, "Prometheus's"), (s, p, "Sightline's")] {
        if let Some(l) = a.keys().find(|l| !b.contains_key(*l)) {
            return Some(format!("series {} only in {who} answer ({} series vs {})", fmt_labels(l), a.len(), b.len()));
        }
    }
    for (l, sp) in s {
        let pp = &p[l];
        let (mut i, mut j) = (0, 0);
        while i < sp.len() || j < pp.len() {
            match (sp.get(i), pp.get(j)) {
                (Some(a), Some(b)) if a.0 == b.0 => {
                    if !same(a.1, b.1) {
                        return Some(format!(
                            "{} at {}: Sightline {} vs Prometheus {} (relative difference {:.3e})",
                            fmt_labels(l),
                            a.0,
                            a.1,
                            b.1,
                            (a.1 - b.1).abs() / a.1.abs().max(b.1.abs())
                        ));
                    }
                    i += 1;
                    j += 1;
                }
                (Some(a), b) if b.is_none_or(|b| a.0 < b.0) => {
                    return Some(format!("{} at {}: Sightline has {} , Prometheus nothing", fmt_labels(l), a.0, a.1));
                }
                (_, Some(b)) => {
                    return Some(format!("{} at {}: Prometheus has {}, Sightline nothing", fmt_labels(l), b.0, b.1));
                }
                _ => break,
            }
        }
    }
    None
}

fn median(xs: &mut [f64]) -> f64 {
    xs.sort_by(|a, b| a.total_cmp(b));
    let n = xs.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    }
}

fn geomean(xs: &[f64]) -> f64 {
    (xs.iter().map(|x| x.ln()).sum::<f64>() / xs.len().max(1) as f64).exp()
}

/// Runs the queries; Ok(false) when an answer disagrees with Prometheus's.
fn run(args: &[String]) -> Result<bool, String> {
    let f = flags(args)?;
    let engines = [
        ("Sightline", f.get("sightline").ok_or("--sightline is required")?.clone()),
        ("Prometheus", f.get("prometheus").ok_or("--prometheus is required")?.clone()),
        ("VictoriaMetrics", f.get("vm").ok_or("--vm is required")?.clone()),
    ];
    let end_ms: i64 = num(&f, "end-ms", None)?;
    let runs: usize = num(&f, "runs", Some(7))?;
    // Query end: the last whole minute at least a minute before the data ends.
    let end_s = (end_ms / 60_000 - 1) * 60;
    let paths: Vec<String> = QUERIES
        .iter()
        .map(|q| {
            let qs: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", q.expr)
                .append_pair("start", &(end_s - q.hours * 3600).to_string())
                .append_pair("end", &end_s.to_string())
                .append_pair("step", &q.step_s.to_string())
                .finish();
            format!("/api/v1/query_range?{qs}")
        })
        .collect();

    // Warm-up round: the answers, checked; not timed.
    let mut all_ok = true;
    println!("== answers (Sightline against Prometheus 2.42; VictoriaMetrics's point count for reference)");
    for (qi, q) in QUERIES.iter().enumerate() {
        let mut mats = Vec::new();
        for (name, base) in &engines {
            let (status, body) = http_get(base, &paths[qi])?;
            let m = if status == 200 {
                parse_matrix(&body)
            } else {
                Err(format!("HTTP {status}: {}", String::from_utf8_lossy(&body[..body.len().min(300)])))
            };
            mats.push(m.map_err(|e| format!("{name}, query {:?}: {e}", q.expr))?);
        }
        let points = |m: &Matrix| m.values().map(Vec::len).sum::<usize>();
        let verdict = match compare(&mats[0], &mats[1]) {
            None => "OK".to_string(),
            Some(d) => {
                all_ok = false;
                format!("MISMATCH: {d}")
            }
        };
        println!(
            "{:<36} {} series / {} points; VictoriaMetrics {} series / {} points; {verdict}",
            q.name,
            mats[0].len(),
            points(&mats[0]),
            mats[2].len(),
            points(&mats[2])
        );
    }

    // Timed rounds, interleaved so load drift hits all engines alike; the
    // engine that goes first rotates, and a short pause lets the previous
    // engine's after-work (Go's GC) settle before the next request.
    let mut times = vec![vec![Vec::with_capacity(runs); engines.len()]; QUERIES.len()];
    for r in 0..runs {
        for (qi, path) in paths.iter().enumerate() {
            for o in 0..engines.len() {
                let ei = (r + qi + o) % engines.len();
                let (name, base) = &engines[ei];
                std::thread::sleep(Duration::from_millis(50));
                let t0 = Instant::now();
                let (status, _) = http_get(base, path)?;
                let ms = t0.elapsed().as_secs_f64() * 1000.0;
                if status != 200 {
                    return Err(format!("{name}: HTTP {status} for {:?}", QUERIES[qi].expr));
                }
                times[qi][ei].push(ms);
            }
        }
    }

    println!("\n| query | Sightline ms | Prometheus ms | VictoriaMetrics ms | S/P | S/VM |");
    println!("|---|---|---|---|---|---|");
    let mut med = vec![Vec::new(); engines.len()];
    let mut slower_than_p = Vec::new();
    for (qi, q) in QUERIES.iter().enumerate() {
        let m: Vec<f64> = times[qi].iter_mut().map(|t| median(t)).collect();
        for (ei, v) in m.iter().enumerate() {
            med[ei].push(*v);
        }
        if m[0] > m[1] {
            slower_than_p.push(q.name);
        }
        println!(
            "| `{}` ({} h, {} s step) | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
            q.expr.replace('|', "\\|"),
            q.hours,
            q.step_s,
            m[0],
            m[1],
            m[2],
            m[0] / m[1],
            m[0] / m[2]
        );
    }
    let g: Vec<f64> = med.iter().map(|m| geomean(m)).collect();
    println!(
        "| **geometric mean** | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |",
        g[0],
        g[1],
        g[2],
        g[0] / g[1],
        g[0] / g[2]
    );
    let met = |b: bool| if b { "MET" } else { "NOT MET" };
    println!("\nmedian of {runs} runs per query and engine; answers {}", if all_ok { "agree" } else { "DISAGREE" });
    println!("goal S/P ≤ 0.5 on the geometric mean: {} ({:.2})", met(g[0] <= 0.5 * g[1]), g[0] / g[1]);
    println!("goal S/VM ≤ 1 on the geometric mean: {} ({:.2})", met(g[0] <= g[2]), g[0] / g[2]);
    println!(
        "goal no query slower than Prometheus: {}{}",
        met(slower_than_p.is_empty()),
        if slower_than_p.is_empty() { String::new() } else { format!(" ({})", slower_than_p.join(", ")) }
    );
    Ok(all_ok)
}
