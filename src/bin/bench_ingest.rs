//! Remote-write ingest benchmark client: pushes a fixed set of samples
//! (Prometheus remote write 1.0) to one receiver and prints samples/s and the
//! receiver's CPU time per sample, read from /proc/PID/stat.
//!
//! The data is the same for every receiver: `--series` counters and gauges
//! over `--scrapes` timestamps 15 s apart, ending now, sent as Prometheus
//! sends them (`--batch` samples per request, series spread over `--clients`
//! connections, each series strictly in time order). Never random floats:
//! counters grow by whole increments, gauges move in small decimal steps.
//!
//! Usage: bench_ingest --url http://127.0.0.1:9090/api/v1/write --pid PID
//!        [--series 10000] [--scrapes 100] [--batch 2000] [--clients 2]
//! scripts/bench-ingest.sh runs it against Sightline, Prometheus and VictoriaMetrics.

use sightline::ingest::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use std::time::{Duration, Instant};

struct Args {
    url: String,
    pid: u32,
    series: usize,
    scrapes: usize,
    batch: usize,
    clients: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { url: String::new(), pid: 0, series: 10_000, scrapes: 100, batch: 2000, clients: 2 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<usize>().map_err(|_| format!("{flag}: {v:?} is not a number"));
        match flag.as_str() {
            "--url" => a.url = value()?,
            "--pid" => a.pid = num(value()?)? as u32,
            "--series" => a.series = num(value()?)?.max(1),
            "--scrapes" => a.scrapes = num(value()?)?.max(1),
            "--batch" => a.batch = num(value()?)?.max(1),
            "--clients" => a.clients = num(value()?)?.max(1),
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.url.is_empty() || a.pid == 0 {
        return Err("--url and --pid are required".into());
    }
    Ok(a)
}

/// User + system CPU seconds of a process so far.
fn cpu_secs(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which may hold spaces) start after ") ".
    let rest = stat.rsplit_once(") ").map(|(_, r)| r).ok_or("unexpected /proc stat format")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).ok_or("unexpected /proc stat format");
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 here.
    let hz = 100.0; // USER_HZ is 100 on Linux.
    Ok((ticks(11)? + ticks(12)?) / hz)
}

/// The requests one client sends, in order: for each timestamp, its series in batches.
fn requests(a: &Args, client: usize, start_ms: i64) -> Vec<Vec<u8>> {
    let mine: Vec<usize> = (0..a.series).filter(|s| s % a.clients == client).collect();
    let labels: Vec<Vec<Label>> = mine
        .iter()
        .map(|&s| {
            let (name, kind) = if s % 4 == 3 {
                (format!("bench_gauge_{}", s % 20), "gauge")
            } else {
                (format!("bench_requests_{}_total", s % 20), "counter")
            };
            vec![
                Label { name: "__name__".into(), value: name },
                Label { name: "instance".into(), value: format!("host-{:03}:9100", s / 100) },
                Label { name: "job".into(), value: "bench".into() },
                Label { name: "kind".into(), value: kind.into() },
                Label { name: "series".into(), value: s.to_string() },
            ]
        })
        .collect();
    let value = |s: usize, i: usize| -> f64 {
        if s % 4 == 3 {
            // A gauge wandering in 0.25 steps.
            ((s * 7 + i * 3) % 400) as f64 * 0.25
        } else {
            // A counter growing by a whole number per scrape.
            (i * (1 + s % 13) + s) as f64
        }
    };
    let mut out = Vec::new();
    for i in 0..a.scrapes {
        let t = start_ms + i as i64 * 15_000;
        for chunk in (0..mine.len()).collect::<Vec<_>>().chunks(a.batch) {
            let timeseries = chunk
                .iter()
                .map(|&k| TimeSeries {
                    labels: labels[k].clone(),
                    samples: vec![Sample { value: value(mine[k], i), timestamp: t }],
                })
                .collect();
            out.push(encode(&WriteRequest { timeseries, metadata: Vec::new() }));
        }
    }
    out
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("bench_ingest: {e}");
            std::process::exit(2);
        }
    };
    let start_ms = sightline::tsdb::now_millis() / 15_000 * 15_000 - (a.scrapes as i64) * 15_000;
    let work: Vec<Vec<Vec<u8>>> = (0..a.clients).map(|c| requests(&a, c, start_ms)).collect();
    let total = a.series * a.scrapes;
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(a.clients).enable_all().build().expect("runtime");
    sightline::scrape::ensure_crypto_provider();
    let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
    let cpu_before = cpu_secs(a.pid).unwrap_or_else(|e| panic!("{e}"));
    let started = Instant::now();
    let failures: usize = rt.block_on(async {
        let tasks: Vec<_> = work
            .into_iter()
            .map(|reqs| {
                let (client, url) = (client.clone(), a.url.clone());
                tokio::spawn(async move {
                    let mut failed = 0;
                    for body in reqs {
                        let resp = client
                            .post(&url)
                            .header("Content-Encoding", "snappy")
                            .header("Content-Type", "application/x-protobuf")
                            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
                            .body(body)
                            .send()
                            .await;
                        match resp {
                            Ok(r) if r.status().is_success() => {}
                            Ok(r) => {
                                if failed == 0 {
                                    eprintln!(
                                        "bench_ingest: {url}: HTTP {}: {}",
                                        r.status(),
                                        r.text().await.unwrap_or_default()
                                    );
                                }
                                failed += 1;
                            }
                            Err(e) => {
                                eprintln!("bench_ingest: {url}: {e}");
                                failed += 1;
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        let mut failed = 0;
        for t in tasks {
            failed += t.await.unwrap_or(1);
        }
        failed
    });
    let wall = started.elapsed().as_secs_f64();
    // Let the receiver finish work it does right after answering (its own batching).
    std::thread::sleep(Duration::from_millis(500));
    let cpu = cpu_secs(a.pid).unwrap_or(cpu_before) - cpu_before;
    // One line for the script: samples, failed requests, wall s, receiver CPU s.
    println!("samples={total} failed_requests={failures} wall_s={wall:.3} cpu_s={cpu:.3}");
}
