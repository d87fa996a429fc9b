//! The DNS prober: one query over UDP or TCP to the target server, checking the
//! response code and, optionally, the answer/authority/additional records
//! against regexes (records rendered as `name TTL class type data`, tab
//! separated, like the dig-style text blackbox_exporter matches against).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Instant;

use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::{compile_all, io_err, resolve, IpProtocol, ProbeError, Recorder};

const PHASE_HELP: &str = "Duration of DNS request by phase";

/// Regex checks on one section (blackbox_exporter's `validate_*_rrs`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RrValidator {
    /// Fail if any record matches any of these.
    pub fail_if_matches_regexp: Vec<String>,
    /// Fail if some record does not match one of these (or there are no records).
    pub fail_if_not_matches_regexp: Vec<String>,
    /// Fail if every record matches one of these.
    pub fail_if_all_match_regexp: Vec<String>,
    /// Fail if no record matches one of these.
    pub fail_if_none_matches_regexp: Vec<String>,
}

/// The `dns` section of a module; field names as in blackbox_exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsProbeConfig {
    /// The name to look up (required).
    pub query_name: String,
    /// A, AAAA, MX, … or ANY (the default).
    pub query_type: String,
    /// IN (the default), CH, HS or ANY.
    pub query_class: String,
    /// `udp` (default) or `tcp`.
    pub transport_protocol: String,
    /// Accepted response codes; only NOERROR when empty.
    pub valid_rcodes: Vec<String>,
    /// Set the RD flag (default true).
    pub recursion_desired: bool,
    /// Checks on the answer section.
    pub validate_answer_rrs: RrValidator,
    /// Checks on the authority section.
    pub validate_authority_rrs: RrValidator,
    /// Checks on the additional section.
    pub validate_additional_rrs: RrValidator,
    /// Address family tried first (ip6 by default, as in blackbox_exporter).
    pub preferred_ip_protocol: IpProtocol,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
}

impl Default for DnsProbeConfig {
    fn default() -> Self {
        DnsProbeConfig {
            query_name: String::new(),
            query_type: "ANY".into(),
            query_class: "IN".into(),
            transport_protocol: "udp".into(),
            valid_rcodes: Vec::new(),
            recursion_desired: true,
            validate_answer_rrs: RrValidator::default(),
            validate_authority_rrs: RrValidator::default(),
            validate_additional_rrs: RrValidator::default(),
            preferred_ip_protocol: IpProtocol::default(),
            ip_protocol_fallback: true,
        }
    }
}

const TYPES: &[(&str, u16)] = &[
    ("A", 1),
    ("NS", 2),
    ("CNAME", 5),
    ("SOA", 6),
    ("PTR", 12),
    ("MX", 15),
    ("TXT", 16),
    ("AAAA", 28),
    ("SRV", 33),
    ("OPT", 41),
    ("DS", 43),
    ("RRSIG", 46),
    ("DNSKEY", 48),
    ("CAA", 257),
    ("ANY", 255),
];
const CLASSES: &[(&str, u16)] = &[("IN", 1), ("CH", 3), ("HS", 4), ("ANY", 255)];
const RCODES: &[&str] = &[
    "NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED", "YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH",
    "NOTZONE",
];

fn type_name(t: u16) -> String {
    TYPES.iter().find(|(_, v)| *v == t).map(|(n, _)| n.to_string()).unwrap_or_else(|| format!("TYPE{t}"))
}
fn class_name(c: u16) -> String {
    CLASSES.iter().find(|(_, v)| *v == c).map(|(n, _)| n.to_string()).unwrap_or_else(|| format!("CLASS{c}"))
}

struct Validator {
    matches: Vec<regex::Regex>,
    not_matches: Vec<regex::Regex>,
    all_match: Vec<regex::Regex>,
    none_matches: Vec<regex::Regex>,
}

impl Validator {
    fn new(section: &str, v: &RrValidator) -> Result<Self, ProbeError> {
        let f = |name: &str, list: &[String]| compile_all(&format!("{section}.{name}"), list);
        Ok(Validator {
            matches: f("fail_if_matches_regexp", &v.fail_if_matches_regexp)?,
            not_matches: f("fail_if_not_matches_regexp", &v.fail_if_not_matches_regexp)?,
            all_match: f("fail_if_all_match_regexp", &v.fail_if_all_match_regexp)?,
            none_matches: f("fail_if_none_matches_regexp", &v.fail_if_none_matches_regexp)?,
        })
    }

    /// blackbox_exporter's rules, in its order.
    fn check(&self, section: &str, rrs: &[String]) -> Result<(), ProbeError> {
        let fail = |why: String| Err(ProbeError::Check(format!("{section}: {why}")));
        if rrs.is_empty() && (!self.not_matches.is_empty() || !self.none_matches.is_empty()) {
            return fail("no records, but a match is required".into());
        }
        let mut all = true;
        let mut any = false;
        for rr in rrs {
            if let Some(re) = self.matches.iter().find(|re| re.is_match(rr)) {
                return fail(format!("record {rr:?} matched {:?}", re.as_str()));
            }
            if self.all_match.iter().any(|re| !re.is_match(rr)) {
                all = false;
            }
            if let Some(re) = self.not_matches.iter().find(|re| !re.is_match(rr)) {
                return fail(format!("record {rr:?} did not match {:?}", re.as_str()));
            }
            if self.none_matches.iter().any(|re| re.is_match(rr)) {
                any = true;
            }
        }
        if !self.all_match.is_empty() && all && !rrs.is_empty() {
            return fail("every record matched fail_if_all_match_regexp".into());
        }
        if !self.none_matches.is_empty() && !any {
            return fail("no record matched fail_if_none_matches_regexp".into());
        }
        Ok(())
    }
}

pub(crate) struct DnsProber {
    cfg: DnsProbeConfig,
    qname: Vec<u8>,
    qtype: u16,
    qclass: u16,
    tcp: bool,
    rcodes: Vec<u16>,
    validators: [Validator; 3],
}

/// Encodes a domain name as DNS labels.
fn encode_name(name: &str) -> Result<Vec<u8>, ProbeError> {
    let mut out = Vec::new();
    for label in name.trim_end_matches('.').split('.').filter(|l| !l.is_empty()) {
        if label.len() > 63 {
            return Err(ProbeError::Config(format!("query_name label {label:?} is longer than 63 bytes")));
        }
        out.push(label.len() as u8);
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    if out.len() > 255 {
        return Err(ProbeError::Config("query_name is longer than 255 bytes".into()));
    }
    Ok(out)
}

impl DnsProber {
    pub fn new(cfg: &DnsProbeConfig) -> Result<Self, ProbeError> {
        if cfg.query_name.is_empty() {
            return Err(ProbeError::Config("dns.query_name is required".into()));
        }
        let lookup = |what: &str, table: &[(&str, u16)], v: &str| {
            table.iter().find(|(n, _)| n.eq_ignore_ascii_case(v)).map(|(_, n)| *n).ok_or_else(|| {
                ProbeError::Config(format!(
                    "unknown {what} {v:?} (known: {})",
                    table.iter().map(|t| t.0).collect::<Vec<_>>().join(", ")
                ))
            })
        };
        let tcp = match cfg.transport_protocol.as_str() {
            "udp" | "" => false,
            "tcp" => true,
            other => return Err(ProbeError::Config(format!("transport_protocol {other:?} must be udp or tcp"))),
        };
        let rcodes = if cfg.valid_rcodes.is_empty() {
            vec![0]
        } else {
            cfg.valid_rcodes
                .iter()
                .map(|r| {
                    RCODES
                        .iter()
                        .position(|n| n.eq_ignore_ascii_case(r))
                        .map(|i| i as u16)
                        .ok_or_else(|| ProbeError::Config(format!("unknown rcode {r:?} in valid_rcodes")))
                })
                .collect::<Result<_, _>>()?
        };
        Ok(DnsProber {
            qname: encode_name(&cfg.query_name)?,
            qtype: lookup("query_type", TYPES, &cfg.query_type)?,
            qclass: lookup("query_class", CLASSES, &cfg.query_class)?,
            tcp,
            rcodes,
            validators: [
                Validator::new("validate_answer_rrs", &cfg.validate_answer_rrs)?,
                Validator::new("validate_authority_rrs", &cfg.validate_authority_rrs)?,
                Validator::new("validate_additional_rrs", &cfg.validate_additional_rrs)?,
            ],
            cfg: cfg.clone(),
        })
    }

    fn query(&self, id: u16) -> Vec<u8> {
        let flags: u16 = if self.cfg.recursion_desired { 0x0100 } else { 0 };
        let mut q = Vec::with_capacity(18 + self.qname.len());
        for v in [id, flags, 1, 0, 0, 0] {
            q.extend_from_slice(&v.to_be_bytes());
        }
        q.extend_from_slice(&self.qname);
        q.extend_from_slice(&self.qtype.to_be_bytes());
        q.extend_from_slice(&self.qclass.to_be_bytes());
        q
    }

    pub async fn probe(&self, target: &str, rec: &mut Recorder) -> Result<(), ProbeError> {
        for phase in ["resolve", "connect", "request"] {
            rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", phase)], 0.0);
        }
        for (name, help) in SECTION_METRICS {
            rec.set(name, help, 0.0);
        }
        rec.set("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully", 0.0);

        let (host, port) = match super::tcp::split_host_port(target) {
            Ok(hp) => hp,
            Err(_) if !target.contains(':') || target.starts_with('[') && target.ends_with(']') => (target, 53),
            Err(e) => return Err(e),
        };
        let t = Instant::now();
        let ip = resolve(host, self.cfg.preferred_ip_protocol, self.cfg.ip_protocol_fallback, rec).await?;
        rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", "resolve")], t.elapsed().as_secs_f64());
        let addr = SocketAddr::new(ip, port);
        let id: u16 = rand::random();
        let query = self.query(id);

        let response = if self.tcp {
            let t = Instant::now();
            let mut s = TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
            rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", "connect")], t.elapsed().as_secs_f64());
            let t = Instant::now();
            let mut framed = (query.len() as u16).to_be_bytes().to_vec();
            framed.extend_from_slice(&query);
            s.write_all(&framed).await.map_err(io_err("sending DNS query"))?;
            let mut len = [0u8; 2];
            s.read_exact(&mut len).await.map_err(io_err("reading DNS response"))?;
            let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
            s.read_exact(&mut buf).await.map_err(io_err("reading DNS response"))?;
            rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", "request")], t.elapsed().as_secs_f64());
            buf
        } else {
            let t = Instant::now();
            let bind: SocketAddr = if ip.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }
                .parse()
                .map_err(|_| ProbeError::Config("internal: bad bind address".into()))?;
            let sock = UdpSocket::bind(bind).await.map_err(io_err("opening UDP socket"))?;
            sock.connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
            rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", "connect")], t.elapsed().as_secs_f64());
            let t = Instant::now();
            sock.send(&query).await.map_err(io_err("sending DNS query"))?;
            let mut buf = vec![0u8; 65_535];
            // Ignore stray datagrams that do not answer our query id.
            let buf = loop {
                let n = sock.recv(&mut buf).await.map_err(io_err("reading DNS response"))?;
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    break buf[..n].to_vec();
                }
            };
            rec.set_with("probe_dns_duration_seconds", PHASE_HELP, &[("phase", "request")], t.elapsed().as_secs_f64());
            buf
        };

        let msg = parse_message(&response)?;
        if msg.id != id {
            return Err(ProbeError::Protocol(format!("response id {} does not match query id {id}", msg.id)));
        }
        rec.set("probe_dns_query_succeeded", "Displays whether or not the query was executed successfully", 1.0);
        for ((name, help), section) in SECTION_METRICS.iter().zip(&msg.sections) {
            rec.set(name, help, section.len() as f64);
        }
        if !self.rcodes.contains(&msg.rcode) {
            let name = RCODES.get(msg.rcode as usize).copied().unwrap_or("unknown");
            return Err(ProbeError::Check(format!("rcode {name} ({}) is not one of valid_rcodes", msg.rcode)));
        }
        let names = ["validate_answer_rrs", "validate_authority_rrs", "validate_additional_rrs"];
        for ((v, section), name) in self.validators.iter().zip(&msg.sections).zip(names) {
            v.check(name, section)?;
        }
        Ok(())
    }
}

const SECTION_METRICS: [(&str, &str); 3] = [
    ("probe_dns_answer_rrs", "Returns number of entries in the answer resource record list"),
    ("probe_dns_authority_rrs", "Returns number of entries in the authority resource record list"),
    ("probe_dns_additional_rrs", "Returns number of entries in the additional resource record list"),
];

/// A parsed response: id, rcode, and the three record sections as text.
#[derive(Debug)]
pub(crate) struct Message {
    pub id: u16,
    pub rcode: u16,
    pub sections: [Vec<String>; 3],
}

fn short(what: &str) -> ProbeError {
    ProbeError::Protocol(format!("DNS response truncated in {what}"))
}

fn u16_at(m: &[u8], i: usize) -> Result<u16, ProbeError> {
    m.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]])).ok_or_else(|| short("a 16-bit field"))
}

/// Reads a possibly compressed name at `pos`; returns it (with a trailing dot)
/// and the position after it.
fn read_name(m: &[u8], mut pos: usize) -> Result<(String, usize), ProbeError> {
    let mut name = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *m.get(pos).ok_or_else(|| short("a name"))? as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = (u16_at(m, pos)? & 0x3fff) as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        if len == 0 {
            if name.is_empty() {
                name.push('.');
            }
            return Ok((name, end.unwrap_or(pos + 1)));
        }
        let label = m.get(pos + 1..pos + 1 + len).ok_or_else(|| short("a label"))?;
        name.push_str(&String::from_utf8_lossy(label));
        name.push('.');
        pos += 1 + len;
    }
    Err(ProbeError::Protocol("DNS name has too many labels or a compression loop".into()))
}

fn rdata_text(m: &[u8], rtype: u16, start: usize, rd: &[u8]) -> Result<String, ProbeError> {
    Ok(match (rtype, rd.len()) {
        (1, 4) => Ipv4Addr::new(rd[0], rd[1], rd[2], rd[3]).to_string(),
        (28, 16) => {
            let mut b = [0u8; 16];
            b.copy_from_slice(rd);
            Ipv6Addr::from(b).to_string()
        }
        (2 | 5 | 12, _) => read_name(m, start)?.0,
        (15, n) if n >= 3 => format!("{} {}", u16_at(m, start)?, read_name(m, start + 2)?.0),
        (16, _) => {
            let mut parts = Vec::new();
            let mut i = 0;
            while i < rd.len() {
                let l = rd[i] as usize;
                let s = rd.get(i + 1..i + 1 + l).ok_or_else(|| short("TXT data"))?;
                parts.push(format!("\"{}\"", String::from_utf8_lossy(s).replace('"', "\\\"")));
                i += 1 + l;
            }
            parts.join(" ")
        }
        (6, _) => {
            let (mname, p) = read_name(m, start)?;
            let (rname, p) = read_name(m, p)?;
            let nums = m.get(p..p + 20).ok_or_else(|| short("SOA data"))?;
            let n: Vec<String> =
                nums.chunks(4).map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]).to_string()).collect();
            format!("{mname} {rname} {}", n.join(" "))
        }
        (33, n) if n >= 7 => format!(
            "{} {} {} {}",
            u16_at(m, start)?,
            u16_at(m, start + 2)?,
            u16_at(m, start + 4)?,
            read_name(m, start + 6)?.0
        ),
        _ => {
            let hex: String = rd.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\# {} {hex}", rd.len())
        }
    })
}

/// Parses a DNS message, rendering every record as text.
pub(crate) fn parse_message(m: &[u8]) -> Result<Message, ProbeError> {
    let id = u16_at(m, 0)?;
    let flags = u16_at(m, 2)?;
    if flags & 0x8000 == 0 {
        return Err(ProbeError::Protocol("DNS message is not a response".into()));
    }
    let counts = [u16_at(m, 4)?, u16_at(m, 6)?, u16_at(m, 8)?, u16_at(m, 10)?];
    let mut pos = 12;
    for _ in 0..counts[0] {
        pos = read_name(m, pos)?.1 + 4;
    }
    let mut sections: [Vec<String>; 3] = Default::default();
    for (section, &count) in sections.iter_mut().zip(&counts[1..]) {
        for _ in 0..count {
            let (name, p) = read_name(m, pos)?;
            let rtype = u16_at(m, p)?;
            let class = u16_at(m, p + 2)?;
            let ttl = m
                .get(p + 4..p + 8)
                .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
                .ok_or_else(|| short("a TTL"))?;
            let rdlen = u16_at(m, p + 8)? as usize;
            let start = p + 10;
            let rd = m.get(start..start + rdlen).ok_or_else(|| short("record data"))?;
            let text = rdata_text(m, rtype, start, rd)?;
            section.push(format!("{name}\t{ttl}\t{}\t{}\t{text}", class_name(class), type_name(rtype)));
            pos = start + rdlen;
        }
    }
    Ok(Message { id, rcode: flags & 0x000f, sections })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A response to `query` answering `example.com. 300 IN A 192.0.2.1`
    /// (name compressed), one NS record in authority, with `rcode`.
    pub fn response_for(query: &[u8], rcode: u16) -> Vec<u8> {
        let qend = read_name(query, 12).unwrap().1 + 4;
        let mut r = query[..2].to_vec();
        r.extend_from_slice(&(0x8180u16 | rcode).to_be_bytes());
        for c in [1u16, 1, 1, 0] {
            r.extend_from_slice(&c.to_be_bytes());
        }
        r.extend_from_slice(&query[12..qend]);
        r.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 1, 44, 0, 4, 192, 0, 2, 1]);
        // NS record: name pointer, type 2, class IN, ttl 60, rdata "ns1" + pointer.
        r.extend_from_slice(&[0xc0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 6, 3, b'n', b's', b'1', 0xc0, 12]);
        r
    }

    #[test]
    fn query_and_response_round_trip() {
        let cfg = DnsProbeConfig { query_name: "example.com".into(), query_type: "A".into(), ..Default::default() };
        let p = DnsProber::new(&cfg).unwrap();
        let q = p.query(0xbeef);
        assert_eq!(&q[..4], &[0xbe, 0xef, 0x01, 0x00]);
        assert_eq!(&q[12..], b"\x07example\x03com\x00\x00\x01\x00\x01");
        let msg = parse_message(&response_for(&q, 3)).unwrap();
        assert_eq!((msg.id, msg.rcode), (0xbeef, 3));
        assert_eq!(msg.sections[0], vec!["example.com.\t300\tIN\tA\t192.0.2.1".to_string()]);
        assert_eq!(msg.sections[1], vec!["example.com.\t60\tIN\tNS\tns1.example.com.".to_string()]);
        assert!(msg.sections[2].is_empty());
    }

    #[test]
    fn malformed_messages_are_errors_not_panics() {
        let q = DnsProber::new(&DnsProbeConfig { query_name: "a.b".into(), ..Default::default() }).unwrap().query(1);
        let full = response_for(&q, 0);
        for cut in 0..full.len() {
            let _ = parse_message(&full[..cut]);
        }
        assert!(parse_message(&full[..full.len() - 3]).is_err());
        // A compression pointer to itself.
        let mut looped = full[..12].to_vec();
        looped[4..6].copy_from_slice(&[0, 1]);
        looped.extend_from_slice(&[0xc0, 12]);
        assert!(parse_message(&looped).is_err());
        assert!(parse_message(&q).unwrap_err().to_string().contains("not a response"));
    }

    #[test]
    fn validators_follow_blackbox_rules() {
        let rrs = vec!["a.\t1\tIN\tA\t192.0.2.1".to_string(), "a.\t1\tIN\tA\t192.0.2.2".to_string()];
        let v = |r: RrValidator| Validator::new("validate_answer_rrs", &r).unwrap();
        let s = |x: &str| vec![x.to_string()];
        assert!(v(RrValidator { fail_if_matches_regexp: s("192\\.0\\.2\\.2"), ..Default::default() })
            .check("x", &rrs)
            .is_err());
        assert!(v(RrValidator { fail_if_not_matches_regexp: s("192\\.0\\.2\\.1"), ..Default::default() })
            .check("x", &rrs)
            .is_err());
        assert!(v(RrValidator { fail_if_not_matches_regexp: s("IN\\tA"), ..Default::default() })
            .check("x", &rrs)
            .is_ok());
        assert!(v(RrValidator { fail_if_all_match_regexp: s("IN"), ..Default::default() }).check("x", &rrs).is_err());
        assert!(v(RrValidator { fail_if_none_matches_regexp: s("AAAA"), ..Default::default() })
            .check("x", &rrs)
            .is_err());
        assert!(v(RrValidator { fail_if_not_matches_regexp: s("x"), ..Default::default() }).check("x", &[]).is_err());
    }

    #[test]
    fn config_errors() {
        assert!(DnsProber::new(&DnsProbeConfig::default()).is_err());
        let bad = |f: fn(&mut DnsProbeConfig)| {
            let mut c = DnsProbeConfig { query_name: "x".into(), ..Default::default() };
            f(&mut c);
            DnsProber::new(&c).err().map(|e| e.to_string()).unwrap_or_default()
        };
        assert!(bad(|c| c.query_type = "BOGUS".into()).contains("unknown query_type"));
        assert!(bad(|c| c.valid_rcodes = vec!["NOPE".into()]).contains("unknown rcode"));
        assert!(bad(|c| c.transport_protocol = "quic".into()).contains("udp or tcp"));
        assert!(bad(|c| c.query_name = "a".repeat(64)).contains("longer than 63"));
    }
}
