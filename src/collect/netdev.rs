//! `netdev`: node_network_{receive,transmit}_*_total{device} from /proc/net/dev.

use super::{compile, read, CollectError, Collector, Family, FamilyKind, Paths};

/// Column names of /proc/net/dev in order, as node_exporter names them.
const FIELDS: [&str; 16] = [
    "receive_bytes",
    "receive_packets",
    "receive_errs",
    "receive_drop",
    "receive_fifo",
    "receive_frame",
    "receive_compressed",
    "receive_multicast",
    "transmit_bytes",
    "transmit_packets",
    "transmit_errs",
    "transmit_drop",
    "transmit_fifo",
    "transmit_colls",
    "transmit_carrier",
    "transmit_compressed",
];

pub(crate) struct NetdevCollector {
    exclude: Result<Option<regex::Regex>, String>,
}

impl NetdevCollector {
    pub fn new(exclude: Option<&str>) -> Self {
        let exclude = match exclude {
            None => Ok(None),
            Some(p) => compile("netdev device_exclude", p).map(Some).map_err(|e| e.to_string()),
        };
        NetdevCollector { exclude }
    }
}

/// Parses /proc/net/dev into (device, 16 counters).
pub(crate) fn parse_net_dev(text: &str, path: &std::path::Path) -> Result<Vec<(String, [f64; 16])>, CollectError> {
    let mut out = Vec::new();
    // Two header lines, then "  name: v v v …".
    for line in text.lines().skip(2) {
        let Some((dev, rest)) = line.split_once(':') else { continue };
        let dev = dev.trim();
        let mut vals = [0.0; 16];
        let mut n = 0;
        for (slot, f) in vals.iter_mut().zip(rest.split_whitespace()) {
            *slot =
                f.parse::<u64>().map_err(|_| CollectError::parse(path, format!("bad value {f:?} for {dev}")))? as f64;
            n += 1;
        }
        if n != 16 {
            return Err(CollectError::parse(path, format!("{dev} has {n} columns, expected 16")));
        }
        out.push((dev.to_string(), vals));
    }
    Ok(out)
}

impl Collector for NetdevCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let exclude = self.exclude.as_ref().map_err(|e| CollectError::parse(std::path::Path::new("config"), e))?;
        let path = paths.proc("net/dev");
        let devs = parse_net_dev(&read(&path)?, &path)?;
        let mut fams: Vec<Family> = FIELDS
            .iter()
            .map(|f| {
                Family::new(
                    format!("node_network_{f}_total"),
                    format!("Network device statistic {f}."),
                    FamilyKind::Counter,
                )
            })
            .collect();
        for (dev, vals) in &devs {
            if exclude.as_ref().is_some_and(|re| re.is_match(dev)) {
                continue;
            }
            for (fam, v) in fams.iter_mut().zip(vals) {
                fam.push([("device", dev.as_str())], *v);
            }
        }
        out.append(&mut fams);
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
        NetdevCollector::new(None).update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(out.len(), 16);
        assert_eq!(value(&out, "node_network_receive_bytes_total", &[("device", "eth0")]), Some(68210035552.0));
        assert_eq!(value(&out, "node_network_receive_multicast_total", &[("device", "eth0")]), Some(6.0));
        assert_eq!(value(&out, "node_network_transmit_colls_total", &[("device", "eth0")]), Some(10.0));
        assert_eq!(value(&out, "node_network_transmit_compressed_total", &[("device", "eth0")]), Some(12.0));
        assert_eq!(value(&out, "node_network_transmit_packets_total", &[("device", "lo")]), Some(1832522.0));
        let f = family(&out, "node_network_receive_drop_total");
        assert_eq!(f.help, "Network device statistic receive_drop.");
    }

    #[test]
    fn exclude_regex_drops_devices() {
        let mut out = Vec::new();
        NetdevCollector::new(Some("^lo$")).update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(family(&out, "node_network_receive_bytes_total").samples.len(), 1);
        assert_eq!(value(&out, "node_network_receive_bytes_total", &[("device", "lo")]), None);
    }

    #[test]
    fn short_row_is_an_error() {
        let err = parse_net_dev("h\nh\n eth0: 1 2 3\n", std::path::Path::new("net/dev")).unwrap_err();
        assert!(err.to_string().contains("eth0 has 3 columns"), "{err}");
    }
}
