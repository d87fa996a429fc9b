//! Blackbox-style probes: HTTP(S), TCP (with optional TLS and a
//! query/response dialogue) and DNS, emitting blackbox_exporter's metric names
//! (`probe_success`, `probe_duration_seconds`, `probe_http_*`, `probe_dns_*`,
//! `probe_ssl_earliest_cert_expiry`, …) as [`Family`]s.
//!
//! A [`ProbeModule`] is the raw configuration (field names as in
//! blackbox_exporter's `blackbox.yml`, so its modules deserialize unchanged);
//! [`Probe::new`] validates it (regexes, CA files) into something runnable, and
//! [`Probe::run`] probes one target. A probe never fails as a call: every
//! problem ends as `probe_success 0`, with the reason from [`Probe::run_detailed`].

mod dns;
mod http;
#[cfg(test)]
mod loopback_tests;
mod tcp;
mod tls;

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use serde::Deserialize;

use super::{Family, FamilyKind};
use crate::tsdb::Labels;

pub use dns::{DnsProbeConfig, RrValidator};
pub use http::{BasicAuth, HeaderMatch, HttpProbeConfig, Secret};
pub use tcp::{QueryResponse, TcpProbeConfig};
pub use tls::TlsConfig;

/// Why a probe failed (or could not be built). The text names the step.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The target is not something this prober can probe.
    #[error("invalid target {target:?}: {why}")]
    Target {
        /// The target, credentials removed.
        target: String,
        /// What is wrong with it.
        why: String,
    },
    /// Name resolution failed or gave no usable address.
    #[error("resolving {host:?}: {why}")]
    Resolve {
        /// The host name.
        host: String,
        /// The resolver's answer.
        why: String,
    },
    /// The TCP connection (or UDP association) failed.
    #[error("connecting to {addr}: {source}")]
    Connect {
        /// The address tried.
        addr: SocketAddr,
        /// The OS error.
        source: std::io::Error,
    },
    /// The TLS handshake failed (including certificate verification).
    #[error("TLS handshake with {host:?}: {source}")]
    Tls {
        /// The server name verified.
        host: String,
        /// rustls's error.
        source: std::io::Error,
    },
    /// The TLS settings are unusable (CA file, server name).
    #[error("TLS configuration: {0}")]
    TlsConfig(String),
    /// Reading or writing failed mid-probe.
    #[error("{step}: {source}")]
    Io {
        /// What the probe was doing.
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server's answer is not valid HTTP or DNS.
    #[error("bad response: {0}")]
    Protocol(String),
    /// The answer was valid but a configured check failed (status, regex, rcode…).
    #[error("{0}")]
    Check(String),
    /// A configured regular expression does not compile.
    #[error("{field}: invalid regular expression {pattern:?}: {source}")]
    Regex {
        /// The setting.
        field: String,
        /// The pattern as given.
        pattern: String,
        /// The regex crate's explanation.
        source: regex::Error,
    },
    /// Any other invalid setting.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The whole probe took longer than the module's timeout.
    #[error("probe timed out after {0:?}")]
    Timeout(Duration),
}

pub(crate) fn io_err(step: &'static str) -> impl FnOnce(std::io::Error) -> ProbeError {
    move |source| ProbeError::Io { step, source }
}

/// The target with any `user:password@` replaced by `<redacted>@`, for logs and errors.
pub fn redact_target(target: &str) -> String {
    let start = target.find("://").map(|i| i + 3).unwrap_or(0);
    let end = target[start..].find(['/', '?', '#']).map(|i| start + i).unwrap_or(target.len());
    match target[start..end].rfind('@') {
        Some(at) => format!("{}<redacted>{}", &target[..start], &target[start + at..]),
        None => target.to_string(),
    }
}

/// Which IP family to try first when a name resolves to both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
pub enum IpProtocol {
    /// IPv6 first (blackbox_exporter's default).
    #[default]
    #[serde(rename = "ip6")]
    Ip6,
    /// IPv4 first.
    #[serde(rename = "ip4")]
    Ip4,
}

/// One probe module, as in blackbox_exporter's configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProbeModule {
    /// `http`, `tcp` or `dns`.
    pub prober: String,
    /// Whole-probe deadline (blackbox: the scrape timeout); 10 s when absent.
    #[serde(default, with = "opt_duration")]
    pub timeout: Option<Duration>,
    /// Settings of the `http` prober.
    #[serde(default)]
    pub http: HttpProbeConfig,
    /// Settings of the `tcp` prober.
    #[serde(default)]
    pub tcp: TcpProbeConfig,
    /// Settings of the `dns` prober.
    #[serde(default)]
    pub dns: DnsProbeConfig,
}

/// A blackbox_exporter configuration file (`blackbox.yml`): named modules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlackboxConfig {
    /// Modules by name, as referenced by `module` in probe targets.
    pub modules: std::collections::BTreeMap<String, ProbeModule>,
}

impl BlackboxConfig {
    /// Parses and validates a blackbox.yml, reporting every bad module at once.
    /// Unknown keys are errors, so an unsupported option is never silently ignored.
    pub fn parse(yaml: &str) -> Result<(Self, std::collections::BTreeMap<String, Probe>), Vec<String>> {
        let cfg: BlackboxConfig = serde_yaml_ng::from_str(yaml).map_err(|e| vec![e.to_string()])?;
        let mut probes = std::collections::BTreeMap::new();
        let mut errs = Vec::new();
        for (name, m) in &cfg.modules {
            match Probe::new(m) {
                Ok(p) => {
                    probes.insert(name.clone(), p);
                }
                Err(e) => errs.push(format!("module {name:?}: {e}")),
            }
        }
        if errs.is_empty() {
            Ok((cfg, probes))
        } else {
            Err(errs)
        }
    }
}

/// Durations written as Prometheus does (`5s`, `1m30s`, `250ms`).
mod opt_duration {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        let s: Option<String> = Option::deserialize(d)?;
        s.map(|s| super::parse_duration(&s).map_err(serde::de::Error::custom)).transpose()
    }
}

/// Parses a Prometheus duration such as `10s`, `1m30s` or `500ms`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let mut total = Duration::ZERO;
    let mut rest = s.trim();
    if rest.is_empty() {
        return Err("empty duration".into());
    }
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("invalid duration {s:?}"));
        }
        let n: u64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let ms = match &rest[..unit_len] {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 604_800_000,
            "y" => 31_536_000_000,
            u => return Err(format!("invalid unit {u:?} in duration {s:?}")),
        };
        total += Duration::from_millis(n.saturating_mul(ms));
        rest = &rest[unit_len..];
    }
    Ok(total)
}

/// A validated, runnable probe.
pub struct Probe {
    kind: Kind,
    timeout: Duration,
}

/// Shows the prober kind and timeout only (the settings may hold secrets).
impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.kind {
            Kind::Http(_) => "http",
            Kind::Tcp(_) => "tcp",
            Kind::Dns(_) => "dns",
        };
        f.debug_struct("Probe").field("prober", &kind).field("timeout", &self.timeout).finish()
    }
}

enum Kind {
    Http(Box<http::HttpProber>),
    Tcp(tcp::TcpProber),
    Dns(Box<dns::DnsProber>),
}

impl Probe {
    /// Validates a module: known prober, regexes that compile, readable CA files.
    pub fn new(module: &ProbeModule) -> Result<Self, ProbeError> {
        let kind = match module.prober.as_str() {
            "http" => Kind::Http(Box::new(http::HttpProber::new(&module.http)?)),
            "tcp" => Kind::Tcp(tcp::TcpProber::new(&module.tcp)?),
            "dns" => Kind::Dns(Box::new(dns::DnsProber::new(&module.dns)?)),
            other => return Err(ProbeError::Config(format!("unknown prober {other:?} (expected http, tcp or dns)"))),
        };
        Ok(Probe { kind, timeout: module.timeout.unwrap_or(Duration::from_secs(10)) })
    }

    /// Replaces the whole-probe deadline (the scheduler passes the scrape
    /// timeout here, as blackbox_exporter takes it from Prometheus's header).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The whole-probe deadline.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Probes `target` and returns the metric families (always including
    /// `probe_success` and `probe_duration_seconds`).
    pub async fn run(&self, target: &str) -> Vec<Family> {
        self.run_detailed(target).await.0
    }

    /// Like [`Probe::run`], also returning why the probe failed.
    pub async fn run_detailed(&self, target: &str) -> (Vec<Family>, Option<ProbeError>) {
        let start = Instant::now();
        let mut rec = Recorder::default();
        let fut = async {
            match &self.kind {
                Kind::Http(p) => p.probe(target, &mut rec).await,
                Kind::Tcp(p) => p.probe(target, &mut rec).await,
                Kind::Dns(p) => p.probe(target, &mut rec).await,
            }
        };
        let result = match tokio::time::timeout(self.timeout, fut).await {
            Ok(r) => r,
            Err(_) => Err(ProbeError::Timeout(self.timeout)),
        };
        let mut fams = rec.finish();
        fams.push(Family::single(
            "probe_success",
            "Displays whether or not the probe was a success",
            FamilyKind::Gauge,
            if result.is_ok() { 1.0 } else { 0.0 },
        ));
        fams.push(Family::single(
            "probe_duration_seconds",
            "Returns how long the probe took to complete in seconds",
            FamilyKind::Gauge,
            start.elapsed().as_secs_f64(),
        ));
        fams.sort_by(|a, b| a.name.cmp(&b.name));
        if let Err(e) = &result {
            tracing::debug!(target = %redact_target(target), error = %e, "probe failed");
        }
        (fams, result.err())
    }
}

/// Collects gauges while a probe runs, so whatever was measured before a
/// failure or timeout is still reported.
#[derive(Default)]
pub(crate) struct Recorder {
    fams: Vec<Family>,
}

impl Recorder {
    fn family(&mut self, name: &str, help: &str) -> &mut Family {
        if let Some(i) = self.fams.iter().position(|f| f.name == name) {
            return &mut self.fams[i];
        }
        self.fams.push(Family::new(name, help, FamilyKind::Gauge));
        let last = self.fams.len() - 1;
        &mut self.fams[last]
    }

    /// Sets an unlabelled gauge.
    pub fn set(&mut self, name: &str, help: &str, v: f64) {
        self.set_with(name, help, &[], v);
    }

    /// Sets a gauge with labels, replacing an earlier value for the same labels.
    pub fn set_with(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let labels = Labels::from_pairs(labels.iter().copied());
        let f = self.family(name, help);
        match f.samples.iter_mut().find(|(l, _)| *l == labels) {
            Some(s) => s.1 = v,
            None => f.samples.push((labels, v)),
        }
    }

    /// Adds to a gauge with labels (phases summed over redirects).
    pub fn add_with(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let labels = Labels::from_pairs(labels.iter().copied());
        let f = self.family(name, help);
        match f.samples.iter_mut().find(|(l, _)| *l == labels) {
            Some(s) => s.1 += v,
            None => f.samples.push((labels, v)),
        }
    }

    fn finish(self) -> Vec<Family> {
        self.fams
    }
}

/// blackbox_exporter's hash of an address: FNV-1a (32 bit) over its bytes.
pub(crate) fn ip_hash(ip: IpAddr) -> f64 {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let mut h: u32 = 0x811c_9dc5;
    for b in bytes {
        h ^= b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h as f64
}

/// Resolves `host` preferring `proto`, falling back to the other family, and
/// records probe_dns_lookup_time_seconds, probe_ip_protocol and probe_ip_addr_hash.
pub(crate) async fn resolve(
    host: &str,
    proto: IpProtocol,
    fallback: bool,
    rec: &mut Recorder,
) -> Result<IpAddr, ProbeError> {
    let start = Instant::now();
    let result = resolve_inner(host, proto, fallback).await;
    rec.set(
        "probe_dns_lookup_time_seconds",
        "Returns the time taken for probe dns lookup in seconds",
        start.elapsed().as_secs_f64(),
    );
    let ip = result?;
    rec.set(
        "probe_ip_protocol",
        "Specifies whether probe ip protocol is IP4 or IP6",
        if ip.is_ipv4() { 4.0 } else { 6.0 },
    );
    rec.set(
        "probe_ip_addr_hash",
        "Specifies the hash of IP address. It's useful to detect if the IP address changes.",
        ip_hash(ip),
    );
    Ok(ip)
}

async fn resolve_inner(host: &str, proto: IpProtocol, fallback: bool) -> Result<IpAddr, ProbeError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ip);
    }
    let addrs: Vec<IpAddr> = tokio::net::lookup_host((bare, 0))
        .await
        .map_err(|e| ProbeError::Resolve { host: host.to_string(), why: e.to_string() })?
        .map(|a| a.ip())
        .collect();
    let want_v4 = proto == IpProtocol::Ip4;
    if let Some(ip) = addrs.iter().find(|a| a.is_ipv4() == want_v4) {
        return Ok(*ip);
    }
    if fallback {
        if let Some(ip) = addrs.first() {
            return Ok(*ip);
        }
    }
    let fam = if want_v4 { "IPv4" } else { "IPv6" };
    Err(ProbeError::Resolve { host: host.to_string(), why: format!("no {fam} address") })
}

/// Compiles a list of regexes, naming the field in errors.
pub(crate) fn compile_all(field: &str, patterns: &[String]) -> Result<Vec<regex::Regex>, ProbeError> {
    patterns
        .iter()
        .map(|p| {
            regex::Regex::new(p).map_err(|source| ProbeError::Regex {
                field: field.to_string(),
                pattern: p.clone(),
                source,
            })
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub fn value(fams: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let f = fams.iter().find(|f| f.name == name)?;
        f.samples.iter().find(|(l, _)| want.iter().all(|(k, v)| l.get(k) == Some(*v))).map(|(_, v)| *v)
    }

    pub fn module(yaml: &str) -> ProbeModule {
        serde_yaml_ng::from_str(yaml).expect("test module parses")
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("5x").is_err());
    }

    #[test]
    fn blackbox_yml_parses() {
        let yaml = r#"
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      valid_status_codes: []
      method: GET
      preferred_ip_protocol: ip4
      fail_if_not_ssl: true
      tls_config:
        insecure_skip_verify: false
  tcp_connect:
    prober: tcp
  ssh_banner:
    prober: tcp
    tcp:
      query_response:
        - expect: "^SSH-2.0-"
        - send: "SSH-2.0-blackbox-ssh-check"
  dns_example:
    prober: dns
    dns:
      query_name: example.com
      query_type: A
      valid_rcodes: [NOERROR]
      validate_answer_rrs:
        fail_if_not_matches_regexp: ["example.com.\t.*\tIN\tA\t.*"]
"#;
        let (cfg, probes) = BlackboxConfig::parse(yaml).unwrap();
        assert_eq!(cfg.modules.len(), 4);
        assert_eq!(probes["http_2xx"].timeout(), Duration::from_secs(5));
        assert_eq!(cfg.modules["http_2xx"].http.preferred_ip_protocol, IpProtocol::Ip4);
        assert_eq!(cfg.modules["ssh_banner"].tcp.query_response.len(), 2);

        // A typo is an error naming the key, not a silently ignored check.
        let e = BlackboxConfig::parse(
            "modules:\n  m:\n    prober: http\n    http:\n      fail_if_body_not_match_regexp: [x]\n",
        )
        .unwrap_err();
        assert!(e[0].contains("fail_if_body_not_match_regexp"), "{e:?}");
        // Every bad module is reported.
        let e = BlackboxConfig::parse("modules:\n  a:\n    prober: icmp\n  b:\n    prober: dns\n").unwrap_err();
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].starts_with("module \"a\"") && e[1].contains("query_name is required"), "{e:?}");
        assert!(BlackboxConfig::parse("modules:\n  a:\n    prober: http\n    timeout: 5 s\n").is_err());
    }

    #[test]
    fn targets_are_redacted() {
        assert_eq!(redact_target("https://u:p@host:1/x@y"), "https://<redacted>@host:1/x@y");
        assert_eq!(redact_target("u:p@host"), "<redacted>@host");
        assert_eq!(redact_target("http://host/a@b"), "http://host/a@b");
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "<secret>");
    }

    #[test]
    fn ip_hash_is_fnv1a() {
        // FNV-1a/32 of the bytes 7f 00 00 01, computed independently.
        assert_eq!(ip_hash("127.0.0.1".parse().unwrap()), 3_668_918_509.0);
        assert_ne!(ip_hash("127.0.0.1".parse().unwrap()), ip_hash("127.0.0.2".parse().unwrap()));
    }

    #[test]
    fn unknown_prober_and_bad_regex_are_rejected() {
        let m = module("prober: icmp\n");
        assert!(Probe::new(&m).err().unwrap().to_string().contains("unknown prober \"icmp\""));
        let m = module("prober: http\nhttp:\n  fail_if_body_matches_regexp: ['(']\n");
        let e = Probe::new(&m).err().unwrap().to_string();
        assert!(e.contains("fail_if_body_matches_regexp"), "{e}");
    }

    #[tokio::test]
    async fn resolve_prefers_the_requested_family() {
        let mut rec = Recorder::default();
        let ip = resolve("127.0.0.1", IpProtocol::Ip6, true, &mut rec).await.unwrap();
        assert_eq!(ip, "127.0.0.1".parse::<IpAddr>().unwrap());
        let fams = rec.finish();
        assert_eq!(value(&fams, "probe_ip_protocol", &[]), Some(4.0));
        assert!(value(&fams, "probe_dns_lookup_time_seconds", &[]).is_some());
        let mut rec = Recorder::default();
        let ip = resolve("localhost", IpProtocol::Ip4, false, &mut rec).await.unwrap();
        assert!(ip.is_ipv4());
    }
}
