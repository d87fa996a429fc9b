//! `netclass`: network interface properties from `/sys/class/net/<iface>`
//! (node_network_up, _info, _mtu_bytes, _speed_bytes, _carrier, …).

use super::{compile, CollectError, Collector, Family, FamilyKind, Paths};

/// (sysfs file, metric suffix, kind). A file that cannot be read or parsed
/// (e.g. `carrier` of a down interface) leaves its metric out, as in node_exporter.
const PROPS: &[(&str, &str, FamilyKind)] = &[
    ("addr_assign_type", "address_assign_type", FamilyKind::Gauge),
    ("carrier", "carrier", FamilyKind::Gauge),
    ("carrier_changes", "carrier_changes_total", FamilyKind::Counter),
    ("carrier_up_count", "carrier_up_changes_total", FamilyKind::Counter),
    ("carrier_down_count", "carrier_down_changes_total", FamilyKind::Counter),
    ("dev_id", "device_id", FamilyKind::Gauge),
    ("dormant", "dormant", FamilyKind::Gauge),
    ("flags", "flags", FamilyKind::Gauge),
    ("ifindex", "iface_id", FamilyKind::Gauge),
    ("iflink", "iface_link", FamilyKind::Gauge),
    ("link_mode", "iface_link_mode", FamilyKind::Gauge),
    ("mtu", "mtu_bytes", FamilyKind::Gauge),
    ("name_assign_type", "name_assign_type", FamilyKind::Gauge),
    ("netdev_group", "net_dev_group", FamilyKind::Gauge),
    ("type", "protocol_type", FamilyKind::Gauge),
    ("speed", "speed_bytes", FamilyKind::Gauge),
    ("tx_queue_len", "transmit_queue_length", FamilyKind::Gauge),
];

pub(crate) struct NetclassCollector {
    ignored: Result<Option<regex::Regex>, String>,
}

impl NetclassCollector {
    pub fn new(ignored: Option<&str>) -> Self {
        let ignored = match ignored {
            None => Ok(None),
            Some(p) => compile("netclass ignored_devices", p).map(Some).map_err(|e| e.to_string()),
        };
        NetclassCollector { ignored }
    }
}

/// Decimal or 0x-prefixed hexadecimal.
fn parse_num(s: &str) -> Option<f64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => i64::from_str_radix(hex, 16).ok().map(|v| v as f64),
        None => s.parse::<i64>().ok().map(|v| v as f64),
    }
}

impl Collector for NetclassCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let ignored = self.ignored.as_ref().map_err(|e| CollectError::parse(std::path::Path::new("config"), e))?;
        let dir = paths.sys("class/net");
        let entries = std::fs::read_dir(&dir).map_err(|e| CollectError::io(&dir, e))?;
        let mut ifaces: Vec<(String, std::path::PathBuf)> = entries
            .flatten()
            .filter(|e| e.path().is_dir()) // skips bonding_masters and other plain files
            .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
            .filter(|(name, _)| !ignored.as_ref().is_some_and(|re| re.is_match(name)))
            .collect();
        ifaces.sort();

        let mut fams: Vec<Family> = PROPS
            .iter()
            .map(|(_, suffix, kind)| {
                Family::new(format!("node_network_{suffix}"), format!("Network device property: {suffix}"), *kind)
            })
            .collect();
        let mut up = Family::new("node_network_up", "Value is 1 if operstate is 'up', 0 otherwise.", FamilyKind::Gauge);
        let mut info = Family::new(
            "node_network_info",
            "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
            FamilyKind::Gauge,
        );
        for (name, path) in &ifaces {
            let read = |f: &str| std::fs::read_to_string(path.join(f)).ok().map(|s| s.trim().to_string());
            for ((file, suffix, _), fam) in PROPS.iter().zip(fams.iter_mut()) {
                let Some(mut v) = read(file).as_deref().and_then(parse_num) else { continue };
                if *suffix == "speed_bytes" {
                    if v < 0.0 {
                        continue; // -1: speed unknown (virtual devices)
                    }
                    v = v * 1000.0 * 1000.0 / 8.0; // Mbit/s to bytes/s
                }
                fam.push([("device", name.as_str())], v);
            }
            let operstate = read("operstate").unwrap_or_default();
            up.push([("device", name.as_str())], if operstate == "up" { 1.0 } else { 0.0 });
            let (address, broadcast) = (read("address").unwrap_or_default(), read("broadcast").unwrap_or_default());
            let (duplex, ifalias) = (read("duplex").unwrap_or_default(), read("ifalias").unwrap_or_default());
            info.push(
                [
                    ("device", name.as_str()),
                    ("address", address.as_str()),
                    ("broadcast", broadcast.as_str()),
                    ("duplex", duplex.as_str()),
                    ("ifalias", ifalias.as_str()),
                    ("operstate", operstate.as_str()),
                ],
                1.0,
            );
        }
        out.append(&mut fams);
        out.push(up);
        out.push(info);
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
        NetclassCollector::new(None).update(&fixture_paths(), &mut out).unwrap();
        let eth0 = [("device", "eth0")];
        let lo = [("device", "lo")];
        assert_eq!(value(&out, "node_network_up", &eth0), Some(1.0));
        assert_eq!(value(&out, "node_network_up", &lo), Some(0.0));
        assert_eq!(value(&out, "node_network_speed_bytes", &eth0), Some(125_000_000.0));
        assert_eq!(value(&out, "node_network_speed_bytes", &lo), None);
        assert_eq!(value(&out, "node_network_flags", &eth0), Some(4099.0));
        assert_eq!(value(&out, "node_network_mtu_bytes", &lo), Some(65536.0));
        assert_eq!(value(&out, "node_network_protocol_type", &lo), Some(772.0));
        assert_eq!(value(&out, "node_network_carrier_changes_total", &eth0), Some(2.0));
        assert_eq!(value(&out, "node_network_dormant", &lo), None, "lo has no dormant file in the fixture");
        assert_eq!(
            value(
                &out,
                "node_network_info",
                &[("device", "eth0"), ("address", "02:fc:00:00:00:01"), ("duplex", "full")]
            ),
            Some(1.0)
        );
        assert_eq!(family(&out, "node_network_carrier_up_changes_total").kind, FamilyKind::Counter);
        // bonding_masters is a file, not an interface.
        assert_eq!(family(&out, "node_network_up").samples.len(), 2);
    }

    #[test]
    fn ignored_devices() {
        let mut out = Vec::new();
        NetclassCollector::new(Some("^lo$")).update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(family(&out, "node_network_up").samples.len(), 1);
    }
}
