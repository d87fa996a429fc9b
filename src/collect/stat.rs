//! `stat`: boot time, context switches, interrupts, forks and process counts from /proc/stat.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct StatCollector;

impl Collector for StatCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let path = paths.proc("stat");
        let text = read(&path)?;
        let found = |key: &str| -> Result<f64, CollectError> {
            let line = text
                .lines()
                .find(|l| l.split_whitespace().next() == Some(key))
                .ok_or_else(|| CollectError::parse(&path, format!("no {key:?} line")))?;
            // For "intr" the first number is the total; the rest are per-IRQ.
            let v = line.split_whitespace().nth(1).unwrap_or("");
            v.parse::<f64>().map_err(|_| CollectError::parse(&path, format!("bad value {v:?} for {key}")))
        };
        let (intr, ctxt, btime, forks) = (found("intr")?, found("ctxt")?, found("btime")?, found("processes")?);
        let (running, blocked) = (found("procs_running")?, found("procs_blocked")?);
        out.push(Family::single("node_intr_total", "Total number of interrupts serviced.", FamilyKind::Counter, intr));
        out.push(Family::single(
            "node_context_switches_total",
            "Total number of context switches.",
            FamilyKind::Counter,
            ctxt,
        ));
        out.push(Family::single("node_forks_total", "Total number of forks.", FamilyKind::Counter, forks));
        out.push(Family::single("node_boot_time_seconds", "Node boot time, in unixtime.", FamilyKind::Gauge, btime));
        out.push(Family::single(
            "node_procs_running",
            "Number of processes in runnable state.",
            FamilyKind::Gauge,
            running,
        ));
        out.push(Family::single(
            "node_procs_blocked",
            "Number of processes blocked waiting for I/O to complete.",
            FamilyKind::Gauge,
            blocked,
        ));
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
        StatCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_intr_total", &[]), Some(8885917.0));
        assert_eq!(value(&out, "node_context_switches_total", &[]), Some(38014093.0));
        assert_eq!(value(&out, "node_boot_time_seconds", &[]), Some(1418183276.0));
        assert_eq!(value(&out, "node_forks_total", &[]), Some(26442.0));
        assert_eq!(value(&out, "node_procs_running", &[]), Some(2.0));
        assert_eq!(value(&out, "node_procs_blocked", &[]), Some(1.0));
        assert_eq!(family(&out, "node_boot_time_seconds").kind, FamilyKind::Gauge);
    }

    #[test]
    fn missing_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("stat"), "cpu0 1 2 3\nintr 5\n").unwrap();
        let paths =
            Paths { proc: dir.path().to_path_buf(), sys: dir.path().to_path_buf(), rootfs: dir.path().to_path_buf() };
        let err = StatCollector.update(&paths, &mut Vec::new()).unwrap_err();
        assert!(err.to_string().contains("no \"ctxt\" line"), "{err}");
    }
}
