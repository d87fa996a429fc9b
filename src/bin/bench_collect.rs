//! Prints the CPU time (user + system, all threads) and wall time of one host
//! collection: the median, minimum and maximum of N runs.
//!
//! Usage: `bench_collect [RUNS]` (default 200). Build with `--release` for
//! figures that mean something.

use std::time::Instant;

use sightline::collect::{HostCollector, HostConfig};

/// CPU time this process has used so far, in microseconds.
fn cpu_micros() -> Result<i64, std::io::Error> {
    // SAFETY: rusage is plain data and getrusage fills it.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: ru is a valid, writable rusage.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) } != 0 {
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
}
