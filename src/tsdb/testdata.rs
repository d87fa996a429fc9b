//! Deterministic, realistic synthetic metrics for tests and the storage
//! benchmark: counters (integer requests, float CPU seconds), gauges (bytes,
//! one-decimal temperatures, small integers) and classic histograms
//! (cumulative buckets, sum, count). Never random floats: every value is what
//! an exporter would plausibly expose.

use super::Labels;

/// SplitMix64: tiny, seedable, the same on every platform.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

const BUCKETS: [&str; 8] = ["0.005", "0.01", "0.05", "0.1", "0.5", "1", "5", "+Inf"];
const BUCKET_BOUNDS_MS: [u64; 7] = [5, 10, 50, 100, 500, 1000, 5000];

#[derive(Clone, Debug)]
enum Gen {
    /// Requests: integer increments, now and then a reset (process restart).
    Requests { v: f64, rate: u64 },
    /// CPU seconds: accumulated in float steps of 0.01 s, as /proc ticks are.
    CpuSeconds { v: f64, busy: u64 },
    /// Memory bytes: a large integer wandering in page-sized steps.
    Bytes { v: i64 },
    /// A temperature with one decimal.
    Tenths { n: i64 },
    /// A small integer that rarely changes (e.g. open connections, up).
    Small { v: i64 },
    /// A histogram: cumulative buckets, then `_sum`, then `_count`.
    Histogram { counts: [u64; 8], sum_ms: u64, rate: u64 },
}

impl Gen {
    fn width(&self) -> usize {
        match self {
            Gen::Histogram { .. } => BUCKETS.len() + 2,
            _ => 1,
        }
    }
}

/// A fleet of synthetic series advanced one scrape at a time.
pub struct Synthetic {
    /// Label sets, in the order `scrape` fills values.
    pub labels: Vec<Labels>,
    gens: Vec<Gen>,
    rng: Rng,
}

impl Synthetic {
    /// About `series` series over targets of ~100 series each.
    pub fn new(seed: u64, series: usize) -> Self {
        let mut rng = Rng::new(seed);
        let (mut labels, mut gens) = (Vec::new(), Vec::new());
        let mut k = 0usize;
        while labels.len() < series {
            let instance = format!("host-{:04}:9100", k / 100);
            let job = ["node", "api", "db"][(k / 100) % 3];
            let i = k.to_string();
            let base = |name: &str, extra: &[(&str, &str)]| {
                let mut pairs: Vec<(&str, &str)> = vec![("__name__", name), ("instance", &instance), ("job", job)];
                pairs.extend_from_slice(extra);
                Labels::from_pairs(pairs)
            };
            let gen = match k % 10 {
                0..=2 => Gen::Requests { v: rng.below(100_000) as f64, rate: 1 + rng.below(200) },
                3 | 4 => Gen::CpuSeconds { v: rng.below(1_000_000) as f64 / 100.0, busy: 1 + rng.below(100) },
                5 => Gen::Bytes { v: (rng.below(1 << 20) as i64 + 1000) * 4096 },
                6 => Gen::Tenths { n: 300 + rng.below(400) as i64 },
                7 | 8 => Gen::Small { v: rng.below(20) as i64 },
                _ => Gen::Histogram { counts: [0; 8], sum_ms: 0, rate: 1 + rng.below(50) },
            };
            match &gen {
                Gen::Requests { .. } => labels.push(base("http_requests_total", &[("code", "200"), ("series", &i)])),
                Gen::CpuSeconds { .. } => labels.push(base("node_cpu_seconds_total", &[("cpu", &i), ("mode", "user")])),
                Gen::Bytes { .. } => labels.push(base("process_resident_memory_bytes", &[("series", &i)])),
                Gen::Tenths { .. } => labels.push(base("node_hwmon_temp_celsius", &[("sensor", &i)])),
                Gen::Small { .. } => labels.push(base("open_connections", &[("series", &i)])),
                Gen::Histogram { .. } => {
                    for le in BUCKETS {
                        labels.push(base("http_request_duration_seconds_bucket", &[("le", le), ("handler", &i)]));
                    }
                    labels.push(base("http_request_duration_seconds_sum", &[("handler", &i)]));
                    labels.push(base("http_request_duration_seconds_count", &[("handler", &i)]));
                }
            }
            gens.push(gen);
            k += 1;
        }
        labels.truncate(series);
        Synthetic { labels, gens, rng }
    }

    /// Advances one scrape and writes one value per series into `out`.
    pub fn scrape(&mut self, out: &mut Vec<f64>) {
        out.clear();
        let rng = &mut self.rng;
        for g in &mut self.gens {
            match g {
                Gen::Requests { v, rate } => {
                    if rng.below(5000) == 0 {
                        *v = 0.0;
                    } else {
                        *v += rng.below(*rate * 2) as f64;
                    }
                    out.push(*v);
                }
                Gen::CpuSeconds { v, busy } => {
                    for _ in 0..rng.below(*busy) {
                        *v += 0.01;
                    }
                    out.push(*v);
                }
                Gen::Bytes { v } => {
                    if rng.below(4) == 0 {
                        *v = (*v + (rng.below(65) as i64 - 32) * 4096).max(4096);
                    }
                    out.push(*v as f64);
                }
                Gen::Tenths { n } => {
                    *n += rng.below(3) as i64 - 1;
                    out.push(*n as f64 / 10.0);
                }
                Gen::Small { v } => {
                    if rng.below(20) == 0 {
                        *v = (*v + rng.below(3) as i64 - 1).max(0);
                    }
                    out.push(*v as f64);
                }
                Gen::Histogram { counts, sum_ms, rate } => {
                    for _ in 0..rng.below(*rate * 2) {
                        let ms = 1 + rng.below(20) * rng.below(100);
                        *sum_ms += ms;
                        let first = BUCKET_BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(BUCKET_BOUNDS_MS.len());
                        for c in counts.iter_mut().skip(first) {
                            *c += 1;
                        }
                    }
                    out.extend(counts.iter().map(|&c| c as f64));
                    out.push(*sum_ms as f64 / 1000.0);
                    out.push(counts[BUCKETS.len() - 1] as f64);
                }
            }
        }
        out.truncate(self.labels.len());
        debug_assert!(self.gens.iter().map(Gen::width).sum::<usize>() >= self.labels.len());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_plausible() {
        let (mut a, mut b) = (Synthetic::new(7, 500), Synthetic::new(7, 500));
        assert_eq!(a.labels.len(), 500);
        let (mut va, mut vb) = (Vec::new(), Vec::new());
        for _ in 0..50 {
            a.scrape(&mut va);
            b.scrape(&mut vb);
            assert_eq!(va.len(), 500);
            assert!(va.iter().zip(&vb).all(|(x, y)| x.to_bits() == y.to_bits()));
            assert!(va.iter().all(|v| v.is_finite() && *v >= 0.0));
        }
        let mut sorted = a.labels.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 500, "label sets are distinct");
    }
}
