//! The TCP prober: connect (optionally over TLS), then an optional
//! expect/send dialogue, as blackbox_exporter's `tcp` module.

use std::net::SocketAddr;
use std::sync::Arc;

use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::tls::{self, TlsConfig};
use super::{io_err, resolve, IpProtocol, ProbeError, Recorder};

/// Longest line read while waiting for an `expect`.
const MAX_LINE: u64 = 64 * 1024;

/// One step of the dialogue: wait for a line matching `expect`, then `send` a line.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QueryResponse {
    /// Regular expression a received line must match before going on.
    pub expect: Option<String>,
    /// A line to send (a newline is added).
    pub send: Option<String>,
}

/// The `tcp` section of a module; field names as in blackbox_exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TcpProbeConfig {
    /// Speak TLS right after connecting.
    pub tls: bool,
    /// TLS settings when `tls` is set.
    pub tls_config: TlsConfig,
    /// The dialogue, in order.
    pub query_response: Vec<QueryResponse>,
    /// Address family tried first (ip6 by default, as in blackbox_exporter).
    pub preferred_ip_protocol: IpProtocol,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
}

impl Default for TcpProbeConfig {
    fn default() -> Self {
        TcpProbeConfig {
            tls: false,
            tls_config: TlsConfig::default(),
            query_response: Vec::new(),
            preferred_ip_protocol: IpProtocol::default(),
            ip_protocol_fallback: true,
        }
    }
}

pub(crate) struct TcpProber {
    cfg: TcpProbeConfig,
    tls: Option<Arc<rustls::ClientConfig>>,
    steps: Vec<(Option<regex::Regex>, Option<String>)>,
}

impl TcpProber {
    pub fn new(cfg: &TcpProbeConfig) -> Result<Self, ProbeError> {
        let mut steps = Vec::new();
        for (i, q) in cfg.query_response.iter().enumerate() {
            let expect = match &q.expect {
                Some(p) => Some(regex::Regex::new(p).map_err(|source| ProbeError::Regex {
                    field: format!("query_response[{i}].expect"),
                    pattern: p.clone(),
                    source,
                })?),
                None => None,
            };
            if q.send.as_ref().is_some_and(|s| s.contains('\n')) {
                return Err(ProbeError::Config(format!("query_response[{i}].send must be a single line")));
            }
            steps.push((expect, q.send.clone()));
        }
        let tls = if cfg.tls { Some(tls::client_config(&cfg.tls_config)?) } else { None };
        Ok(TcpProber { cfg: cfg.clone(), tls, steps })
    }

    pub async fn probe(&self, target: &str, rec: &mut Recorder) -> Result<(), ProbeError> {
        rec.set("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0.0);
        let (host, port) = split_host_port(target)?;
        let ip = resolve(host, self.cfg.preferred_ip_protocol, self.cfg.ip_protocol_fallback, rec).await?;
        let addr = SocketAddr::new(ip, port);
        let tcp = TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
        match &self.tls {
            Some(config) => {
                let stream = tls::handshake(config, &self.cfg.tls_config, host, tcp, rec).await?;
                self.dialogue(stream, rec).await
            }
            None => self.dialogue(tcp, rec).await,
        }
    }

    async fn dialogue<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        stream: S,
        rec: &mut Recorder,
    ) -> Result<(), ProbeError> {
        let mut r = BufReader::new(stream);
        for (i, (expect, send)) in self.steps.iter().enumerate() {
            if let Some(re) = expect {
                if let Err(e) = expect_line(&mut r, re).await {
                    if matches!(e, ProbeError::Check(_)) {
                        rec.set("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 1.0);
                    }
                    return Err(ProbeError::Check(format!("query_response[{i}]: {e}")));
                }
            }
            if let Some(line) = send {
                let w = r.get_mut();
                w.write_all(format!("{line}\n").as_bytes()).await.map_err(io_err("sending query_response line"))?;
                w.flush().await.map_err(io_err("sending query_response line"))?;
            }
        }
        Ok(())
    }
}

/// Reads lines until one matches; end of stream without a match is a regex failure.
async fn expect_line<R: AsyncBufRead + Unpin>(r: &mut R, re: &regex::Regex) -> Result<(), ProbeError> {
    loop {
        let mut line = Vec::new();
        let n = (&mut *r).take(MAX_LINE).read_until(b'\n', &mut line).await.map_err(io_err("reading"))?;
        if n == 0 {
            return Err(ProbeError::Check(format!("no line matched {:?} before the connection closed", re.as_str())));
        }
        let text = String::from_utf8_lossy(&line);
        if re.is_match(text.trim_end_matches(['\r', '\n'])) {
            return Ok(());
        }
    }
}

/// Splits `host:port` (`[v6]:port` for IPv6); a port is required.
pub(crate) fn split_host_port(target: &str) -> Result<(&str, u16), ProbeError> {
    let bad = |why: &str| ProbeError::Target { target: target.to_string(), why: why.to_string() };
    let (host, port) = target.rsplit_once(':').ok_or_else(|| bad("expected host:port"))?;
    if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
        return Err(bad("IPv6 addresses must be written [addr]:port"));
    }
    let port = port.parse::<u16>().map_err(|_| bad("port is not a number from 0 to 65535"))?;
    if host.is_empty() {
        return Err(bad("empty host"));
    }
    Ok((host, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_splitting() {
        assert_eq!(split_host_port("example.com:22").unwrap(), ("example.com", 22));
        assert_eq!(split_host_port("[::1]:53").unwrap(), ("[::1]", 53));
        assert!(split_host_port("::1:53").is_err());
        assert!(split_host_port("example.com").is_err());
        assert!(split_host_port(":80").is_err());
        assert!(split_host_port("h:99999").is_err());
    }

    #[tokio::test]
    async fn expect_reads_until_a_line_matches() {
        let re = regex::Regex::new("^OK$").unwrap();
        let mut r = BufReader::new(&b"hello\r\nOK\r\nlater"[..]);
        expect_line(&mut r, &re).await.unwrap();
        let mut rest = String::new();
        r.read_to_string(&mut rest).await.unwrap();
        assert_eq!(rest, "later");
        let mut r = BufReader::new(&b"nope\n"[..]);
        assert!(matches!(expect_line(&mut r, &re).await, Err(ProbeError::Check(_))));
    }
}
