//! `sockstat`: socket counts from /proc/net/sockstat and sockstat6 as
//! `node_sockstat_<PROTO>_<state>` gauges (`mem` also as `mem_bytes`).

use std::path::Path;

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct SockstatCollector;

fn page_size() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as f64
    } else {
        4096.0
    }
}

fn parse(text: &str, path: &Path, page: f64, out: &mut Vec<Family>) -> Result<(), CollectError> {
    for line in text.lines() {
        let Some((proto, rest)) = line.split_once(':') else { continue };
        let f: Vec<&str> = rest.split_whitespace().collect();
        if !f.len().is_multiple_of(2) {
            return Err(CollectError::parse(path, format!("odd number of fields in line {line:?}")));
        }
        for kv in f.chunks(2) {
            let (state, v) = (kv[0], kv[1]);
            let v: f64 =
                v.parse().map_err(|_| CollectError::parse(path, format!("bad value {v:?} in line {line:?}")))?;
            if proto == "sockets" {
                // "sockets: used N" is the only non-protocol line.
                out.push(Family::single(
                    "node_sockstat_sockets_used",
                    "Number of IPv4 sockets in use.",
                    FamilyKind::Gauge,
                    v,
                ));
                continue;
            }
            let mut push = |state: &str, v: f64| {
                out.push(Family::single(
                    format!("node_sockstat_{proto}_{state}"),
                    format!("Number of {proto} sockets in state {state}."),
                    FamilyKind::Gauge,
                    v,
                ))
            };
            push(state, v);
            if state == "mem" {
                push("mem_bytes", v * page);
            }
        }
    }
    Ok(())
}

impl Collector for SockstatCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let page = page_size();
        let path = paths.proc("net/sockstat");
        parse(&super::read(&path)?, &path, page, out)?;
        let path = paths.proc("net/sockstat6");
        match std::fs::read_to_string(&path) {
            Ok(t) => parse(&t, &path, page, out)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {} // IPv6 disabled
            Err(e) => return Err(CollectError::io(&path, e)),
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
        SockstatCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_sockstat_sockets_used", &[]), Some(229.0));
        assert_eq!(value(&out, "node_sockstat_TCP_tw", &[]), Some(4.0));
        assert_eq!(value(&out, "node_sockstat_TCP_mem", &[]), Some(1.0));
        assert_eq!(value(&out, "node_sockstat_TCP_mem_bytes", &[]), Some(page_size()));
        assert_eq!(value(&out, "node_sockstat_FRAG_memory", &[]), Some(0.0));
        assert_eq!(value(&out, "node_sockstat_TCP6_inuse", &[]), Some(17.0));
        assert_eq!(value(&out, "node_sockstat_RAW6_inuse", &[]), Some(1.0));
        assert_eq!(family(&out, "node_sockstat_UDP_inuse").help, "Number of UDP sockets in state inuse.");
    }

    #[test]
    fn odd_fields_are_errors() {
        let mut out = Vec::new();
        assert!(parse("TCP: inuse\n", Path::new("sockstat"), 4096.0, &mut out).is_err());
    }
}
