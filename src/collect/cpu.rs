//! `cpu`: node_cpu_seconds_total and node_cpu_guest_seconds_total from /proc/stat.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

/// procfs reports CPU time in USER_HZ ticks, which is 100 on every Linux ABI
/// (node_exporter's procfs library assumes the same).
const USER_HZ: f64 = 100.0;

/// A drop of the idle counter larger than this means a CPU went offline and
/// came back (node_exporter's threshold); smaller drops are kernel jitter.
const JUMP_BACK_SECONDS: f64 = 3.0;

const MODES: [&str; 8] = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"];

/// Times of one CPU in seconds: the 8 modes above, then guest and guest_nice.
type CpuTimes = [f64; 10];

/// Keeps the last values so that counters never go backwards between scrapes.
#[derive(Default)]
pub(crate) struct CpuCollector {
    last: Vec<(String, CpuTimes)>,
}

/// Parses the per-CPU lines (`cpu0 …`, not the `cpu` total) of /proc/stat.
pub(crate) fn parse_cpu_lines(text: &str, path: &std::path::Path) -> Result<Vec<(String, CpuTimes)>, CollectError> {
    let mut cpus = Vec::new();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some(head) = fields.next() else { continue };
        let Some(id) = head.strip_prefix("cpu") else { continue };
        if id.is_empty() {
            continue; // the all-CPU total line
        }
        if id.parse::<u32>().is_err() {
            return Err(CollectError::parse(path, format!("bad CPU name {head:?}")));
        }
        let mut t = [0.0; 10];
        // Older kernels have fewer columns; the missing ones stay 0.
        for (slot, f) in t.iter_mut().zip(fields) {
            let ticks: u64 = f.parse().map_err(|_| CollectError::parse(path, format!("bad value {f:?} for {head}")))?;
            *slot = ticks as f64 / USER_HZ;
        }
        cpus.push((id.to_string(), t));
    }
    Ok(cpus)
}

impl CpuCollector {
    /// Merges fresh readings into the kept ones, refusing to go backwards.
    fn merge(&mut self, fresh: Vec<(String, CpuTimes)>) {
        if self.last.len() != fresh.len() || self.last.iter().zip(&fresh).any(|(a, b)| a.0 != b.0) {
            self.last = fresh; // CPUs came or went: start over
            return;
        }
        for ((_, old), (_, new)) in self.last.iter_mut().zip(fresh) {
            if old[3] - new[3] >= JUMP_BACK_SECONDS {
                *old = new; // idle jumped back a lot: hotplug, take the new values
                continue;
            }
            for (o, n) in old.iter_mut().zip(new) {
                if n >= *o {
                    *o = n;
                }
            }
        }
    }
}

impl Collector for CpuCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let path = paths.proc("stat");
        let fresh = parse_cpu_lines(&read(&path)?, &path)?;
        if fresh.is_empty() {
            return Err(CollectError::parse(&path, "no per-CPU lines"));
        }
        self.merge(fresh);
        let mut secs =
            Family::new("node_cpu_seconds_total", "Seconds the CPUs spent in each mode.", FamilyKind::Counter);
        let mut guest = Family::new(
            "node_cpu_guest_seconds_total",
            "Seconds the CPUs spent in guests (VMs) for each mode.",
            FamilyKind::Counter,
        );
        for (cpu, t) in &self.last {
            for (mode, v) in MODES.iter().zip(t) {
                secs.push([("cpu", cpu.as_str()), ("mode", mode)], *v);
            }
            guest.push([("cpu", cpu.as_str()), ("mode", "user")], t[8]);
            guest.push([("cpu", cpu.as_str()), ("mode", "nice")], t[9]);
        }
        out.push(secs);
        out.push(guest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn golden_values_from_fixture() {
        let mut out = Vec::new();
        CpuCollector::default().update(&fixture_paths(), &mut out).unwrap();
        let secs = family(&out, "node_cpu_seconds_total");
        assert_eq!(secs.samples.len(), 16, "2 CPUs x 8 modes");
        assert_eq!(secs.kind, FamilyKind::Counter);
        assert_eq!(value(&out, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "user")]), Some(444.9));
        assert_eq!(value(&out, "node_cpu_seconds_total", &[("cpu", "1"), ("mode", "idle")]), Some(11107.87));
        assert_eq!(value(&out, "node_cpu_seconds_total", &[("cpu", "0"), ("mode", "softirq")]), Some(34.1));
        assert_eq!(value(&out, "node_cpu_guest_seconds_total", &[("cpu", "1"), ("mode", "nice")]), Some(0.35));
    }

    #[test]
    fn counters_do_not_go_backwards_unless_hotplug() {
        let p = std::path::Path::new("stat");
        let mut c = CpuCollector::default();
        c.merge(parse_cpu_lines("cpu0 100 0 0 1000 50 0 0 0 0 0\n", p).unwrap());
        // iowait dropping (a known kernel quirk) keeps the old value.
        c.merge(parse_cpu_lines("cpu0 110 0 0 1010 40 0 0 0 0 0\n", p).unwrap());
        assert_eq!(c.last[0].1[0], 1.1);
        assert_eq!(c.last[0].1[4], 0.5);
        // idle dropping by more than 3 s is a hotplug: take the new values.
        c.merge(parse_cpu_lines("cpu0 1 0 0 1 1 0 0 0 0 0\n", p).unwrap());
        assert_eq!(c.last[0].1[3], 0.01);
    }

    #[test]
    fn short_lines_and_garbage() {
        let p = std::path::Path::new("stat");
        let cpus = parse_cpu_lines("cpu  1 2 3 4\ncpu0 1 2 3 4\n", p).unwrap();
        assert_eq!(cpus.len(), 1);
        assert_eq!(cpus[0].1[8], 0.0);
        let err = parse_cpu_lines("cpu0 1 x 3\n", p).unwrap_err();
        assert!(err.to_string().contains("bad value \"x\" for cpu0"), "{err}");
    }
}
