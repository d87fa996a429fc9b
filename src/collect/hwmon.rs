//! `hwmon`: hardware sensors from /sys/class/hwmon (temperatures, fans,
//! voltages, power, …) as node_hwmon_*{chip,sensor}, following node_exporter's
//! naming rules, including its quirks (e.g. `node_hwmon_temp_crit_alarm_celsius`).

use std::collections::BTreeMap;
use std::path::Path;

use super::{CollectError, Collector, Family, FamilyKind, Paths};

/// Sensor types node_exporter reports; other files are ignored.
const SENSOR_TYPES: &[&str] = &[
    "vrm",
    "beep_enable",
    "update_interval",
    "in",
    "cpu",
    "fan",
    "pwm",
    "temp",
    "curr",
    "power",
    "energy",
    "humidity",
    "intrusion",
];

pub(crate) struct HwmonCollector;

/// Lower-case, anything but `[a-z0-9:_]` to `_`, `_` trimmed at both ends.
fn clean(name: &str) -> String {
    let s: String = name
        .trim()
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_lowercase() || c.is_ascii_digit() || c == ':' || c == '_' { c } else { '_' })
        .collect();
    s.trim_matches('_').to_string()
}

/// Splits `temp1_crit_alarm` into ("temp", 1, "crit_alarm") like node_exporter's
/// `^(?P<type>[^0-9]+)(?P<id>[0-9]*)?(_(?P<property>.+))?$`.
fn explode(file: &str) -> Option<(&str, u64, &str)> {
    let type_end = file.find(|c: char| c.is_ascii_digit()).unwrap_or(file.len());
    if type_end == 0 {
        return None;
    }
    let rest = &file[type_end..];
    let id_end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
    let id = if id_end == 0 { 0 } else { rest[..id_end].parse().ok()? };
    let prop = match &rest[id_end..] {
        "" => "",
        p => p.strip_prefix('_').filter(|p| !p.is_empty())?,
    };
    Some((&file[..type_end], id, prop))
}

/// sensor ("temp1") → property ("input", "" for a bare file) → raw value.
type SensorData = BTreeMap<String, BTreeMap<String, String>>;

fn collect_sensor_data(dir: &Path, data: &mut SensorData) -> Result<(), CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| CollectError::io(dir, e))?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some((kind, id, prop)) = explode(&name) else { continue };
        if !SENSOR_TYPES.contains(&kind) {
            continue;
        }
        // Unreadable files (broken drivers answer EAGAIN or EIO) are skipped.
        if let Ok(v) = std::fs::read_to_string(e.path()) {
            data.entry(format!("{kind}{id}"))
                .or_default()
                .insert(prop.to_string(), v.trim_end_matches('\n').to_string());
        }
    }
    Ok(())
}

/// The stable chip label: from the device path (`platform_coretemp_0`), else the
/// `name` file, else the hwmonN directory name.
fn chip_name(dir: &Path) -> Option<String> {
    if let Ok(dev) = std::fs::canonicalize(dir.join("device")) {
        let dev_name = dev.file_name().map(|n| clean(&n.to_string_lossy())).unwrap_or_default();
        let dev_type =
            dev.parent().and_then(|p| p.file_name()).map(|n| clean(&n.to_string_lossy())).unwrap_or_default();
        if !dev_type.is_empty() && !dev_name.is_empty() {
            return Some(format!("{dev_type}_{dev_name}"));
        }
        if !dev_name.is_empty() {
            return Some(dev_name);
        }
    }
    if let Some(n) = std::fs::read_to_string(dir.join("name")).ok().map(|n| clean(&n)).filter(|n| !n.is_empty()) {
        return Some(n);
    }
    let real = std::fs::canonicalize(dir).ok()?;
    Some(clean(&real.file_name()?.to_string_lossy())).filter(|n| !n.is_empty())
}

/// Families by name, created on first use (names depend on the files present).
#[derive(Default)]
struct Out {
    fams: BTreeMap<String, Family>,
}

impl Out {
    fn push(&mut self, name: &str, help: &str, kind: FamilyKind, labels: &[(&str, &str)], v: f64) {
        self.fams
            .entry(name.to_string())
            .or_insert_with(|| Family::new(name, help, kind))
            .push(labels.iter().copied(), v);
    }
}

fn update_chip(dir: &Path, out: &mut Out) -> Result<(), CollectError> {
    let chip = chip_name(dir).ok_or_else(|| CollectError::parse(dir, "cannot derive a chip name"))?;
    let mut data = SensorData::new();
    collect_sensor_data(dir, &mut data)?;
    if dir.join("device").is_dir() {
        collect_sensor_data(&dir.join("device"), &mut data)?;
    }
    if let Some(n) = std::fs::read_to_string(dir.join("name")).ok().map(|n| clean(&n)).filter(|n| !n.is_empty()) {
        let labels = [("chip", chip.as_str()), ("chip_name", n.as_str())];
        out.push(
            "node_hwmon_chip_names",
            "Annotation metric for human-readable chip names",
            FamilyKind::Gauge,
            &labels,
            1.0,
        );
    }
    let g = FamilyKind::Gauge;
    for (sensor, props) in &data {
        let Some((kind, _, _)) = explode(sensor) else { continue };
        let labels = [("chip", chip.as_str()), ("sensor", sensor.as_str())];
        if let Some(label) = props.get("label").map(|l| clean(l)).filter(|l| !l.is_empty()) {
            let l = [("chip", chip.as_str()), ("sensor", sensor.as_str()), ("label", label.as_str())];
            out.push("node_hwmon_sensor_label", "Label for given chip and sensor", g, &l, 1.0);
        }
        let bare = props.get("").map(String::as_str).unwrap_or("");
        match kind {
            "beep_enable" => {
                let v = if bare == "1" { 1.0 } else { 0.0 };
                out.push("node_hwmon_beep_enabled", "Hardware beep enabled", g, &labels, v);
                continue;
            }
            "vrm" => {
                if let Ok(v) = bare.parse::<f64>() {
                    out.push("node_hwmon_voltage_regulator_version", "Hardware voltage regulator", g, &labels, v);
                }
                continue;
            }
            "update_interval" => {
                if let Ok(v) = bare.parse::<f64>() {
                    let help = "Hardware monitor update interval";
                    out.push("node_hwmon_update_interval_seconds", help, g, &labels, v * 0.001);
                }
                continue;
            }
            _ => {}
        }
        let prefix = format!("node_hwmon_{kind}");
        for (element, value) in props {
            if element == "label" {
                continue;
            }
            let Ok(v) = value.trim().parse::<f64>() else { continue };
            // "input" is the reading itself, unless a bare file holds it.
            let name = if element == "input" {
                if props.contains_key("") {
                    format!("{prefix}_input")
                } else {
                    prefix.clone()
                }
            } else if element.is_empty() {
                prefix.clone()
            } else {
                format!("{prefix}_{}", clean(element))
            };
            let el = element.as_str();
            if el == "fault" || el == "alarm" {
                out.push(&name, &format!("Hardware sensor {el} status ({kind})"), g, &labels, v);
            } else if el == "beep" {
                out.push(&format!("{name}_enabled"), "Hardware monitor sensor has beeping enabled", g, &labels, v);
            } else if kind == "in" || kind == "cpu" {
                out.push(
                    &format!("{name}_volts"),
                    &format!("Hardware monitor for voltage ({el})"),
                    g,
                    &labels,
                    v * 0.001,
                );
            } else if kind == "temp" && el != "type" {
                let el = if el.is_empty() { "input" } else { el };
                let help = format!("Hardware monitor for temperature ({el})");
                out.push(&format!("{name}_celsius"), &help, g, &labels, v * 0.001);
            } else if kind == "curr" {
                out.push(
                    &format!("{name}_amps"),
                    &format!("Hardware monitor for current ({el})"),
                    g,
                    &labels,
                    v * 0.001,
                );
            } else if kind == "energy" {
                let help = format!("Hardware monitor for joules used so far ({el})");
                out.push(&format!("{name}_joule_total"), &help, FamilyKind::Counter, &labels, v / 1e6);
            } else if kind == "power" && el == "accuracy" {
                out.push(&name, "Hardware monitor power meter accuracy, as a ratio", g, &labels, v / 1e6);
            } else if kind == "power"
                && matches!(el, "average_interval" | "average_interval_min" | "average_interval_max")
            {
                let help = format!("Hardware monitor power usage update interval ({el})");
                out.push(&format!("{name}_seconds"), &help, g, &labels, v * 0.001);
            } else if kind == "power" {
                let help = format!("Hardware monitor for power usage in watts ({el})");
                out.push(&format!("{name}_watt"), &help, g, &labels, v / 1e6);
            } else if kind == "humidity" {
                let help = format!(
                    "Hardware monitor for humidity, as a ratio (multiply with 100.0 to get the humidity as a percentage) ({el})"
                );
                out.push(&name, &help, g, &labels, v / 1e6);
            } else if kind == "fan" && matches!(el, "input" | "min" | "max" | "target") {
                let help = format!("Hardware monitor for fan revolutions per minute ({el})");
                out.push(&format!("{name}_rpm"), &help, g, &labels, v);
            } else {
                out.push(&name, &format!("Hardware monitor {kind} element {el}"), g, &labels, v);
            }
        }
    }
    Ok(())
}

impl Collector for HwmonCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let dir = paths.sys("class/hwmon");
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            // No sensors exposed (most VMs): nothing to report, not a failure.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(CollectError::io(&dir, e)),
        };
        let mut dirs: Vec<_> = entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect();
        dirs.sort();
        let mut fams = Out::default();
        // Like node_exporter: one bad chip fails the collector but the others are still reported.
        let mut last_err = None;
        for d in dirs {
            if let Err(e) = update_chip(&d, &mut fams) {
                last_err = Some(e);
            }
        }
        out.extend(fams.fams.into_values());
        last_err.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn file_names_split_like_node_exporter() {
        assert_eq!(explode("temp1_crit_alarm"), Some(("temp", 1, "crit_alarm")));
        assert_eq!(explode("in0_input"), Some(("in", 0, "input")));
        assert_eq!(explode("pwm1"), Some(("pwm", 1, "")));
        assert_eq!(explode("update_interval"), Some(("update_interval", 0, "")));
        assert_eq!(explode("temp1x"), None);
        assert_eq!(explode("temp1_"), None);
        assert_eq!(explode("1temp"), None);
        assert_eq!(clean(" Package id 0\n"), "package_id_0");
        assert_eq!(clean("coretemp.0"), "coretemp_0");
    }

    #[test]
    fn golden_values_from_fixture() {
        let mut out = Vec::new();
        HwmonCollector.update(&fixture_paths(), &mut out).unwrap();
        let core = "platform_coretemp_0";
        let t = |s: &str| value(&out, "node_hwmon_temp_celsius", &[("chip", core), ("sensor", s)]);
        assert_eq!(t("temp1"), Some(45.0));
        assert_eq!(t("temp2"), Some(43.0));
        assert_eq!(value(&out, "node_hwmon_temp_crit_celsius", &[("sensor", "temp1")]), Some(100.0));
        assert_eq!(value(&out, "node_hwmon_temp_max_celsius", &[("sensor", "temp1")]), Some(84.0));
        // node_exporter's quirk, kept for compatibility.
        assert_eq!(value(&out, "node_hwmon_temp_crit_alarm_celsius", &[("sensor", "temp1")]), Some(0.0));
        assert_eq!(
            value(&out, "node_hwmon_sensor_label", &[("chip", core), ("sensor", "temp1"), ("label", "package_id_0")]),
            Some(1.0)
        );
        assert_eq!(value(&out, "node_hwmon_chip_names", &[("chip", core), ("chip_name", "coretemp")]), Some(1.0));
        // hwmon1 has no device link: the name file names the chip.
        let nct = [("chip", "nct6775"), ("sensor", "fan1")];
        assert_eq!(value(&out, "node_hwmon_fan_rpm", &nct), Some(1500.0));
        assert_eq!(value(&out, "node_hwmon_fan_min_rpm", &nct), Some(200.0));
        assert_eq!(value(&out, "node_hwmon_in_volts", &[("chip", "nct6775"), ("sensor", "in0")]), Some(1.032));
        assert_eq!(value(&out, "node_hwmon_in_alarm", &[("sensor", "in0")]), Some(0.0));
        assert_eq!(value(&out, "node_hwmon_pwm", &[("sensor", "pwm1")]), Some(128.0));
        assert_eq!(value(&out, "node_hwmon_update_interval_seconds", &[("sensor", "update_interval0")]), Some(2.0));
        assert_eq!(value(&out, "node_hwmon_beep_enabled", &[("sensor", "beep_enable0")]), Some(1.0));
        assert_eq!(value(&out, "node_hwmon_power_average_watt", &[("sensor", "power1")]), Some(12.0));
        // An unparsable reading is left out.
        assert_eq!(value(&out, "node_hwmon_temp_celsius", &[("sensor", "temp3")]), None);
        assert_eq!(family(&out, "node_hwmon_temp_celsius").help, "Hardware monitor for temperature (input)");
    }

    #[test]
    fn no_hwmon_class_is_not_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let paths = Paths { proc: dir.path().into(), sys: dir.path().into(), rootfs: dir.path().into() };
        let mut out = Vec::new();
        HwmonCollector.update(&paths, &mut out).unwrap();
        assert!(out.is_empty());
    }
}
