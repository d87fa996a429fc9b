//! Prints the CPU time (user + system) and wall time of one host collection
//! and of one probe round (an http and a tcp probe of a loopback server): the
//! median, minimum and maximum of N runs.
//!
//! Usage: `bench_collect [RUNS]` (default 200). Build with `--release` for
//! figures that mean something.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Instant;

use sightline::collect::probe::{BlackboxConfig, Probe};
use sightline::collect::{HostCollector, HostConfig};

/// CPU time this process has used so far, in microseconds.
fn cpu_micros() -> Result<i64, std::io::Error> {
    rusage_micros(libc::RUSAGE_SELF)
}

/// CPU time the calling thread has used so far, in microseconds.
fn thread_cpu_micros() -> Result<i64, std::io::Error> {
    rusage_micros(libc::RUSAGE_THREAD)
}

fn rusage_micros(who: libc::c_int) -> Result<i64, std::io::Error> {
    // SAFETY: rusage is plain data and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage.
    if unsafe { libc::getrusage(who, &mut ru) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // time_t and suseconds_t are narrower than i64 on some targets.
    #[allow(clippy::unnecessary_cast)]
    let tv = |t: libc::timeval| t.tv_sec as i64 * 1_000_000 + t.tv_usec as i64;
    Ok(tv(ru.ru_utime) + tv(ru.ru_stime))
}

fn stats(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    let median = if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 };
    (median, v[0], v[v.len() - 1])
}

fn main() {
    let runs: usize = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 200,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: bench_collect [RUNS]  (RUNS is a positive integer)");
            std::process::exit(2);
        }
    };
    let mut c = HostCollector::new(HostConfig::default());
    // Warm-up: first run spawns the statfs worker and faults pages in.
    let fams = c.collect();
    let series: usize = fams.iter().map(|f| f.samples.len()).sum();

    let (mut cpu, mut wall) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let (c0, w0) = (cpu_micros(), Instant::now());
        let fams = c.collect();
        let (c1, w1) = (cpu_micros(), w0.elapsed());
        std::hint::black_box(&fams);
        match (c0, c1) {
            (Ok(a), Ok(b)) => cpu.push((b - a) as f64),
            (Err(e), _) | (_, Err(e)) => {
                eprintln!("getrusage failed: {e}");
                std::process::exit(1);
            }
        }
        wall.push(w1.as_secs_f64() * 1e6);
    }
    let (cm, cmin, cmax) = stats(cpu);
    let (wm, wmin, wmax) = stats(wall);
    println!("host collection: {} families, {series} series, {runs} runs", fams.len());
    println!("cpu time  per collection: median {cm:.0} us  (min {cmin:.0}, max {cmax:.0})");
    println!("wall time per collection: median {wm:.0} us  (min {wmin:.0}, max {wmax:.0})");

    if let Err(e) = bench_probes(runs) {
        eprintln!("probe round: {e}");
        std::process::exit(1);
    }
}

/// A loopback HTTP server on its own thread (its CPU time is not counted:
/// the probes run on the main thread and only that thread is measured).
fn loopback_server() -> Result<String, std::io::Error> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\nConnection: close\r\n\r\nok\n",
            );
        }
    });
    Ok(addr)
}

/// One probe round: an http probe and a tcp probe of a loopback server, run
/// on a single-threaded runtime so the main thread's CPU time is the probes'.
fn bench_probes(runs: usize) -> Result<(), String> {
    let (_, probes) = BlackboxConfig::parse(
        "modules:\n  http_2xx: {prober: http, http: {preferred_ip_protocol: ip4}}\n  tcp_connect: {prober: tcp}\n",
    )
    .map_err(|e| e.join("; "))?;
    let addr = loopback_server().map_err(|e| format!("starting the loopback server: {e}"))?;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let round: [(&str, &Probe, String); 2] =
        [("http", &probes["http_2xx"], format!("http://{addr}/")), ("tcp", &probes["tcp_connect"], addr.clone())];
    for (kind, probe, target) in &round {
        // Warm-up, and a check that the figures are of successful probes.
        let (fams, err) = rt.block_on(probe.run_detailed(target));
        if let Some(e) = err {
            return Err(format!("{kind} probe of {target} failed: {e}"));
        }
        std::hint::black_box(fams);
    }
    let mut per_kind: Vec<(Vec<f64>, Vec<f64>)> =
        vec![(Vec::with_capacity(runs), Vec::with_capacity(runs)); round.len()];
    let (mut total_cpu, mut total_wall) = (Vec::with_capacity(runs), Vec::with_capacity(runs));
    for _ in 0..runs {
        let (mut round_cpu, mut round_wall) = (0.0, 0.0);
        for (i, (kind, probe, target)) in round.iter().enumerate() {
            let c0 = thread_cpu_micros().map_err(|e| format!("getrusage failed: {e}"))?;
            let w0 = Instant::now();
            let (fams, err) = rt.block_on(probe.run_detailed(target));
            let w = w0.elapsed().as_secs_f64() * 1e6;
            let c = (thread_cpu_micros().map_err(|e| format!("getrusage failed: {e}"))? - c0) as f64;
            if let Some(e) = err {
                return Err(format!("{kind} probe of {target} failed: {e}"));
            }
            std::hint::black_box(fams);
            per_kind[i].0.push(c);
            per_kind[i].1.push(w);
            round_cpu += c;
            round_wall += w;
        }
        total_cpu.push(round_cpu);
        total_wall.push(round_wall);
    }
    println!("probe round: http + tcp probe of a loopback server, {runs} runs (thread CPU time)");
    for ((kind, _, _), (cpu, wall)) in round.iter().zip(per_kind) {
        let (cm, cmin, cmax) = stats(cpu);
        let (wm, wmin, wmax) = stats(wall);
        println!("  {kind:<4} probe  cpu: median {cm:.0} us  (min {cmin:.0}, max {cmax:.0})  wall: median {wm:.0} us  (min {wmin:.0}, max {wmax:.0})");
    }
    let (cm, cmin, cmax) = stats(total_cpu);
    let (wm, wmin, wmax) = stats(total_wall);
    println!("cpu time  per probe round: median {cm:.0} us  (min {cmin:.0}, max {cmax:.0})");
    println!("wall time per probe round: median {wm:.0} us  (min {wmin:.0}, max {wmax:.0})");
    Ok(())
}
