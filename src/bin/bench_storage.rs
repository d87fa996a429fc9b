//! Storage benchmark: ingests a deterministic synthetic fleet (counters,
//! gauges, histograms; see `tsdb::testdata`) into a fresh store and prints
//! bytes per sample on disk after compaction, ingest CPU seconds per million
//! samples, RSS per series, and the time to open a crash image of the head.
//!
//! Usage: `bench_storage [--series N] [--hours H] [--interval-s S]
//!   [--chunk-min M] [--block-hours H] [--page-size B] [--dir DIR] [--codecs]
//!   [--emit-openmetrics FILE]`
//! Build with `--release` for figures that mean something.
//! `--emit-openmetrics FILE` writes the same data as OpenMetrics text with
//! timestamps (for peers' importers) and exits.

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

struct Args {
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
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(a)
}

/// Writes the data as exposition text; timestamps in seconds with `# EOF`
/// (OpenMetrics, for promtool and `sightline import`) or in milliseconds
/// (Prometheus text, for VictoriaMetrics' /api/v1/import/prometheus).
fn emit_openmetrics(a: &Args, file: &Path, start: i64, scrapes: usize, millis: bool) -> std::io::Result<()> {
    let mut syn = Synthetic::new(42, a.series);
    let mut out = std::io::BufWriter::new(std::fs::File::create(file)?);
    let mut vals = Vec::new();
    // OpenMetrics wants samples grouped per metric family; one scrape per
    // block of lines is accepted by promtool and VictoriaMetrics alike.
    let mut by_series: Vec<String> = vec![String::new(); a.series];
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let t_ms = start + k as i64 * a.interval_s * 1000;
        let t = if millis { t_ms.to_string() } else { format!("{:.3}", t_ms as f64 / 1000.0) };
        for (i, v) in vals.iter().enumerate() {
            by_series[i].push_str(&format!("{} {v} {t}\n", fmt_series(&syn.labels[i])));
        }
        if by_series[0].len() > 1 << 16 || k + 1 == scrapes {
            // Flushing per series keeps each series' samples contiguous per chunk of time.
            for s in by_series.iter_mut() {
                out.write_all(s.as_bytes())?;
                s.clear();
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
            let mut syn = Synthetic::new(1000 + tg as u64, 100);
            let mut vals = Vec::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut buf = [0u8; 4096];
                let _ = std::io::Read::read(&mut conn, &mut buf);
                syn.scrape(&mut vals);
                let mut body = String::with_capacity(100 * 80);
                for (i, v) in vals.iter().enumerate() {
                    let l = syn.labels[i].drop_names(&["instance", "job"]);
                    body.push_str(&format!("{} {v}\n", fmt_series(&l)));
                }
                let _ = write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        }));
    }
    println!("serving {targets} targets on {host}:{port}..{}", port + targets as u16 - 1);
    for h in handles {
        let _ = h.join();
    }
}

fn fmt_series(l: &tsdb::Labels) -> String {
    let name = l.metric_name().unwrap_or("");
    let rest: Vec<String> =
        l.iter().filter(|x| x.name != "__name__").map(|x| format!("{}=\"{}\"", x.name, x.value)).collect();
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
    // Scrapes end one chunk span before now so compaction sees closed windows.
    let step_ms = a.interval_s * 1000;
    let start = (tsdb::now_millis() - scrapes as i64 * step_ms) / step_ms * step_ms;
    for (file, millis) in [(&a.emit, false), (&a.emit_text, true)] {
        if let Some(file) = file {
            if let Err(e) = emit_openmetrics(&a, file, start, scrapes, millis) {
                eprintln!("bench_storage: writing {}: {e}", file.display());
                std::process::exit(1);
            }
            println!("wrote {} samples of {} series to {}", scrapes * a.series, a.series, file.display());
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
    let (gen_cpu, mut vals) = {
        let mut syn = Synthetic::new(42, a.series);
        let c0 = cpu_secs();
        let mut vals = Vec::new();
        for _ in 0..scrapes {
            syn.scrape(&mut vals);
        }
        (cpu_secs() - c0, vals)
    };
    let mut syn = Synthetic::new(42, a.series);
    let (rss0, _) = rss();
    let db = match Db::open_with(&dir, a.opts.clone()) {
        Ok(db) => db,
        Err(e) => {
            eprintln!("bench_storage: {e}");
            std::process::exit(1);
        }
    };
    let (c0, w0) = (cpu_secs(), Instant::now());
    let targets = a.series.div_ceil(100);
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let t = start + k as i64 * step_ms;
        // One appender per target of 100 series, as the scrape loop does.
        for tg in 0..targets {
            let mut app = db.appender();
            for i in tg * 100..((tg + 1) * 100).min(a.series) {
                if let Err(e) = app.append(&syn.labels[i], t, vals[i]) {
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
        a.series, scrapes, a.interval_s, samples
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
        rss1.saturating_sub(rss0) as f64 / a.series as f64,
        rss1 as f64 / 1048576.0,
        rss0 as f64 / 1048576.0,
        peak_ingest as f64 / 1048576.0,
        stats.memory_bytes as f64 / a.series as f64
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
    if a.dir.is_none() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let _ = std::fs::remove_dir_all(&crash);
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
