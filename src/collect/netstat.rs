//! `netstat`: selected protocol counters from /proc/net/{netstat,snmp,snmp6}
//! as untyped `node_netstat_<Protocol>_<Field>` metrics.

use std::path::Path;

use super::{CollectError, Collector, Family, FamilyKind, FieldFilter, Paths};

/// node_exporter's default `--collector.netstat.fields`.
pub const DEFAULT_NETSTAT_FIELDS: &str = r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts|TCPOFOQueue|TCPRcvQDrop)|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$";

pub(crate) struct NetstatCollector {
    fields: FieldFilter,
}

impl NetstatCollector {
    pub fn new(fields: &str) -> Self {
        NetstatCollector { fields: FieldFilter::new("netstat fields", fields) }
    }
}

/// Parses the header/value line pairs of /proc/net/netstat and /proc/net/snmp
/// into (protocol, field, value).
fn parse_pairs(text: &str, path: &Path) -> Result<Vec<(String, String, f64)>, CollectError> {
    let mut out = Vec::new();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    for pair in lines.chunks(2) {
        let [names, values] = pair else {
            return Err(CollectError::parse(path, "odd number of lines"));
        };
        let mut n = names.split_whitespace();
        let mut v = values.split_whitespace();
        let (Some(proto), Some(proto2)) = (n.next(), v.next()) else { continue };
        if proto != proto2 {
            return Err(CollectError::parse(path, format!("header {proto} followed by values for {proto2}")));
        }
        let proto = proto.trim_end_matches(':');
        for (field, val) in n.zip(v) {
            let val: f64 =
                val.parse().map_err(|_| CollectError::parse(path, format!("bad value {val:?} for {proto}{field}")))?;
            out.push((proto.to_string(), field.to_string(), val));
        }
    }
    Ok(out)
}

/// Parses /proc/net/snmp6 ("Udp6InDatagrams  7"): the protocol ends at the first '6'.
fn parse_snmp6(text: &str, path: &Path) -> Result<Vec<(String, String, f64)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split_whitespace();
        let (Some(key), Some(val)) = (f.next(), f.next()) else { continue };
        let Some(i) = key.find('6') else { continue };
        let val: f64 = val.parse().map_err(|_| CollectError::parse(path, format!("bad value {val:?} for {key}")))?;
        out.push((key[..=i].to_string(), key[i + 1..].to_string(), val));
    }
    Ok(out)
}

impl Collector for NetstatCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        self.fields.check()?;
        let mut stats = Vec::new();
        for file in ["net/netstat", "net/snmp"] {
            let path = paths.proc(file);
            stats.extend(parse_pairs(&super::read(&path)?, &path)?);
        }
        // IPv6 may be disabled; node_exporter skips a missing snmp6 too.
        let path = paths.proc("net/snmp6");
        match std::fs::read_to_string(&path) {
            Ok(t) => stats.extend(parse_snmp6(&t, &path)?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(CollectError::io(&path, e)),
        }
        for (proto, field, v) in stats {
            let key = format!("{proto}_{field}");
            if !self.fields.matches(&key)? {
                continue;
            }
            out.push(Family::single(
                format!("node_netstat_{key}"),
                format!("Statistic {proto}{field}."),
                FamilyKind::Untyped,
                v,
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
        NetstatCollector::new(DEFAULT_NETSTAT_FIELDS).update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_netstat_TcpExt_ListenDrops", &[]), Some(6.0));
        assert_eq!(value(&out, "node_netstat_TcpExt_TCPRcvQDrop", &[]), Some(10.0));
        assert_eq!(value(&out, "node_netstat_IpExt_InOctets", &[]), Some(6286396970.0));
        assert_eq!(value(&out, "node_netstat_Ip_Forwarding", &[]), Some(1.0));
        assert_eq!(value(&out, "node_netstat_Tcp_CurrEstab", &[]), Some(11.0));
        assert_eq!(value(&out, "node_netstat_Udp_NoPorts", &[]), Some(50.0));
        assert_eq!(value(&out, "node_netstat_Ip6_InOctets", &[]), Some(112233.0));
        assert_eq!(value(&out, "node_netstat_UdpLite6_InErrors", &[]), Some(0.0));
        assert_eq!(value(&out, "node_netstat_Icmp6_OutMsgs", &[]), Some(34.0));
        // Not selected by the default fields.
        assert_eq!(value(&out, "node_netstat_Tcp_MaxConn", &[]), None);
        assert_eq!(value(&out, "node_netstat_TcpExt_EmbryonicRsts", &[]), None);
        let f = family(&out, "node_netstat_Tcp_InSegs");
        assert_eq!((f.help.as_str(), f.kind), ("Statistic TcpInSegs.", FamilyKind::Untyped));
    }

    #[test]
    fn mismatched_lines_are_errors() {
        let p = Path::new("snmp");
        assert!(parse_pairs("Tcp: A B\nUdp: 1 2\n", p).is_err());
        assert!(parse_pairs("Tcp: A B\n", p).is_err());
        assert!(parse_pairs("Tcp: A\nTcp: x\n", p).is_err());
    }
}
