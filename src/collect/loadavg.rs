//! `loadavg`: node_load1, node_load5, node_load15 from /proc/loadavg.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct LoadavgCollector;

impl Collector for LoadavgCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let path = paths.proc("loadavg");
        let text = read(&path)?;
        let mut fields = text.split_whitespace();
        for (name, help) in [
            ("node_load1", "1m load average."),
            ("node_load5", "5m load average."),
            ("node_load15", "15m load average."),
        ] {
            let f = fields.next().ok_or_else(|| CollectError::parse(&path, "fewer than 3 fields"))?;
            let v: f64 = f.parse().map_err(|_| CollectError::parse(&path, format!("bad load average {f:?}")))?;
            out.push(Family::single(name, help, FamilyKind::Gauge, v));
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
        LoadavgCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_load1", &[]), Some(0.21));
        assert_eq!(value(&out, "node_load5", &[]), Some(0.37));
        assert_eq!(value(&out, "node_load15", &[]), Some(0.39));
        assert_eq!(family(&out, "node_load15").help, "15m load average.");
    }
}
