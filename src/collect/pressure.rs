//! `pressure`: pressure stall information from /proc/pressure/{cpu,io,memory,irq}.
//!
//! The kernel reports totals in microseconds; node_exporter exposes seconds.

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct PressureCollector;

/// (resource, line "some"/"full", metric name, help) in node_exporter's wording.
const METRICS: &[(&str, &str, &str, &str)] = &[
    (
        "cpu",
        "some",
        "node_pressure_cpu_waiting_seconds_total",
        "Total time in seconds that processes have waited for CPU time",
    ),
    (
        "io",
        "some",
        "node_pressure_io_waiting_seconds_total",
        "Total time in seconds that processes have waited due to IO congestion",
    ),
    (
        "io",
        "full",
        "node_pressure_io_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IO congestion",
    ),
    (
        "memory",
        "some",
        "node_pressure_memory_waiting_seconds_total",
        "Total time in seconds that processes have waited for memory",
    ),
    (
        "memory",
        "full",
        "node_pressure_memory_stalled_seconds_total",
        "Total time in seconds no process could make progress due to memory congestion",
    ),
    (
        "irq",
        "full",
        "node_pressure_irq_stalled_seconds_total",
        "Total time in seconds no process could make progress due to IRQ congestion",
    ),
];

/// The `total=` of the `some` or `full` line, in microseconds.
fn total(text: &str, which: &str, path: &std::path::Path) -> Result<Option<f64>, CollectError> {
    let Some(line) = text.lines().find(|l| l.split_whitespace().next() == Some(which)) else {
        return Ok(None);
    };
    let t = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("total="))
        .ok_or_else(|| CollectError::parse(path, format!("no total= in {line:?}")))?;
    t.parse::<f64>().map(Some).map_err(|_| CollectError::parse(path, format!("bad total {t:?}")))
}

impl Collector for PressureCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let mut found = 0;
        for res in ["cpu", "io", "memory", "irq"] {
            let path = paths.proc(&format!("pressure/{res}"));
            let text = match std::fs::read_to_string(&path) {
                Ok(t) => t,
                // Like node_exporter: a missing resource (irq needs Linux 6.1) is skipped;
                // only no PSI at all fails the collector.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(CollectError::io(&path, e)),
            };
            found += 1;
            for (_, which, name, help) in METRICS.iter().filter(|m| m.0 == res) {
                if let Some(us) = total(&text, which, &path)? {
                    out.push(Family::single(*name, *help, FamilyKind::Counter, us / 1e6));
                }
            }
        }
        if found == 0 {
            return Err(CollectError::io(
                &paths.proc("pressure/cpu"),
                std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "no pressure information (needs Linux >= 4.20 with PSI)",
                ),
            ));
        }
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
        PressureCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_pressure_cpu_waiting_seconds_total", &[]), Some(14.036781));
        assert!(!out.iter().any(|f| f.name == "node_pressure_cpu_stalled_seconds_total"));
        assert_eq!(value(&out, "node_pressure_io_waiting_seconds_total", &[]), Some(159.886802));
        assert_eq!(value(&out, "node_pressure_io_stalled_seconds_total", &[]), Some(159.229614));
        assert_eq!(value(&out, "node_pressure_memory_stalled_seconds_total", &[]), Some(0.0));
        // The fixture has no irq file.
        assert!(!out.iter().any(|f| f.name == "node_pressure_irq_stalled_seconds_total"));
        assert!(out.iter().all(|f| f.kind == FamilyKind::Counter));
    }

    #[test]
    fn missing_psi_fails() {
        let dir = tempfile::tempdir().unwrap();
        let paths =
            Paths { proc: dir.path().to_path_buf(), sys: dir.path().to_path_buf(), rootfs: dir.path().to_path_buf() };
        let err = PressureCollector.update(&paths, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("pressure/cpu"), "{err}");
    }
}
