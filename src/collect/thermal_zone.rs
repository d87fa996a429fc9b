//! `thermal_zone`: temperatures and cooling devices from /sys/class/thermal.

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct ThermalZoneCollector;

impl Collector for ThermalZoneCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let dir = paths.sys("class/thermal");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // No thermal drivers (most VMs): nothing to report, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(&dir, e)),
        };
        let mut names: Vec<String> = entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
        names.sort();
        let read = |entry: &str, file: &str| {
            std::fs::read_to_string(dir.join(entry).join(file)).ok().map(|s| s.trim().to_string())
        };
        let mut temp = Family::new("node_thermal_zone_temp", "Zone temperature in Celsius", FamilyKind::Gauge);
        let mut cur = Family::new(
            "node_cooling_device_cur_state",
            "Current throttle state of the cooling device",
            FamilyKind::Gauge,
        );
        let mut max = Family::new(
            "node_cooling_device_max_state",
            "Maximum throttle state of the cooling device",
            FamilyKind::Gauge,
        );
        for name in &names {
            if let Some(zone) = name.strip_prefix("thermal_zone") {
                let kind = read(name, "type").unwrap_or_default();
                // A zone whose sensor cannot be read right now is left out.
                if let Some(t) = read(name, "temp").and_then(|t| t.parse::<f64>().ok()) {
                    temp.push([("zone", zone), ("type", kind.as_str())], t / 1000.0);
                }
            } else if let Some(dev) = name.strip_prefix("cooling_device") {
                let kind = read(name, "type").unwrap_or_default();
                let labels = [("name", dev), ("type", kind.as_str())];
                // cur_state may be -1 (e.g. intel_powerclamp when idle).
                if let Some(v) = read(name, "cur_state").and_then(|v| v.parse::<f64>().ok()) {
                    cur.push(labels, v);
                }
                if let Some(v) = read(name, "max_state").and_then(|v| v.parse::<f64>().ok()) {
                    max.push(labels, v);
                }
            }
        }
        out.push(temp);
        out.push(cur);
        out.push(max);
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
        ThermalZoneCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_thermal_zone_temp", &[("zone", "0"), ("type", "x86_pkg_temp")]), Some(45.0));
        assert_eq!(value(&out, "node_thermal_zone_temp", &[("zone", "1"), ("type", "acpitz")]), Some(-2.5));
        assert_eq!(value(&out, "node_cooling_device_cur_state", &[("name", "0"), ("type", "Processor")]), Some(1.0));
        assert_eq!(value(&out, "node_cooling_device_max_state", &[("name", "0")]), Some(10.0));
    }

    #[test]
    fn no_thermal_class_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths { proc: dir.path().into(), sys: dir.path().into(), rootfs: dir.path().into() };
        let mut out = Vec::new();
        ThermalZoneCollector.update(&paths, &mut out).unwrap();
        assert!(out.iter().all(|f| f.samples.is_empty()));
    }
}
