//! The HTTP(S) prober: a small HTTP/1.1 client that times each phase
//! (resolve, connect, tls, processing, transfer; summed over redirects) the way
//! blackbox_exporter reports them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use serde::Deserialize;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::tls::{self, TlsConfig};
use super::{compile_all, io_err, resolve, IpProtocol, ProbeError, Recorder};

const PHASE_HELP: &str = "Duration of http request by phase, summed over all redirects";
const MAX_REDIRECTS: u32 = 10;
const MAX_HEAD_BYTES: usize = 64 * 1024;
const DEFAULT_BODY_LIMIT: u64 = 32 * 1024 * 1024;

/// A password or token from configuration: never shown by `Debug`.
#[derive(Clone, Default, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The secret itself, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<secret>")
    }
}

/// HTTP basic authentication (Prometheus's `basic_auth` block).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BasicAuth {
    /// User name.
    pub username: String,
    /// Password given inline.
    pub password: Option<Secret>,
    /// Read once when the probe is built.
    pub password_file: Option<std::path::PathBuf>,
}

/// A header check (blackbox_exporter's `fail_if_header_matches` entries).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HeaderMatch {
    /// Header name (any case).
    pub header: String,
    /// Regular expression matched against each value of the header.
    pub regexp: String,
    /// For `fail_if_header_not_matches`: a missing header passes.
    #[serde(default)]
    pub allow_missing: bool,
}

/// The `http` section of a module; field names as in blackbox_exporter.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpProbeConfig {
    /// Accepted status codes; any 2xx when empty.
    pub valid_status_codes: Vec<u16>,
    /// Request method (GET by default).
    pub method: String,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// Request body.
    pub body: Option<String>,
    /// Follow up to 10 redirects (default true).
    pub follow_redirects: bool,
    /// Fail when the final response came over TLS.
    pub fail_if_ssl: bool,
    /// Fail when the final response did not come over TLS.
    pub fail_if_not_ssl: bool,
    /// Fail when the body matches any of these.
    pub fail_if_body_matches_regexp: Vec<String>,
    /// Fail when the body does not match one of these.
    pub fail_if_body_not_matches_regexp: Vec<String>,
    /// Fail when a header value matches.
    pub fail_if_header_matches: Vec<HeaderMatch>,
    /// Fail when a header is missing or no value matches.
    pub fail_if_header_not_matches: Vec<HeaderMatch>,
    /// TLS settings for https targets.
    pub tls_config: TlsConfig,
    /// Accepted versions such as `HTTP/1.1`; any when empty.
    pub valid_http_versions: Vec<String>,
    /// HTTP basic authentication.
    pub basic_auth: Option<BasicAuth>,
    /// Sent as `Authorization: Bearer …`.
    pub bearer_token: Option<Secret>,
    /// Read once when the probe is built.
    pub bearer_token_file: Option<std::path::PathBuf>,
    /// Address family tried first (ip6 by default, as in blackbox_exporter).
    pub preferred_ip_protocol: IpProtocol,
    /// Use the other family when the preferred one has no address (default true).
    pub ip_protocol_fallback: bool,
    /// Largest body read, in bytes (32 MiB when absent); a larger one fails the probe.
    pub body_size_limit: Option<u64>,
}

impl Default for HttpProbeConfig {
    fn default() -> Self {
        HttpProbeConfig {
            valid_status_codes: Vec::new(),
            method: "GET".into(),
            headers: BTreeMap::new(),
            body: None,
            follow_redirects: true,
            fail_if_ssl: false,
            fail_if_not_ssl: false,
            fail_if_body_matches_regexp: Vec::new(),
            fail_if_body_not_matches_regexp: Vec::new(),
            fail_if_header_matches: Vec::new(),
            fail_if_header_not_matches: Vec::new(),
            tls_config: TlsConfig::default(),
            valid_http_versions: Vec::new(),
            basic_auth: None,
            bearer_token: None,
            bearer_token_file: None,
            preferred_ip_protocol: IpProtocol::default(),
            ip_protocol_fallback: true,
            body_size_limit: None,
        }
    }
}

pub(crate) struct HttpProber {
    cfg: HttpProbeConfig,
    /// The Authorization header value, from basic_auth or a bearer token.
    authorization: Option<Secret>,
    tls: Arc<rustls::ClientConfig>,
    body_match: Vec<regex::Regex>,
    body_not_match: Vec<regex::Regex>,
    header_match: Vec<(HeaderMatch, regex::Regex)>,
    header_not_match: Vec<(HeaderMatch, regex::Regex)>,
}

/// A parsed response.
struct Response {
    version: f64,
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
    fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers.iter().filter(move |(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl HttpProber {
    pub fn new(cfg: &HttpProbeConfig) -> Result<Self, ProbeError> {
        let method = cfg.method.trim();
        if method.is_empty() || !method.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(ProbeError::Config(format!("http method {:?} is not a valid method", cfg.method)));
        }
        for (k, v) in &cfg.headers {
            if k.is_empty() || k.contains([':', '\r', '\n', ' ']) || v.contains(['\r', '\n']) {
                return Err(ProbeError::Config(format!("http header {k:?} is not a valid header")));
            }
        }
        let headers = |field: &str, list: &[HeaderMatch]| -> Result<Vec<(HeaderMatch, regex::Regex)>, ProbeError> {
            list.iter()
                .map(|h| Ok((h.clone(), compile_all(field, std::slice::from_ref(&h.regexp))?.remove(0))))
                .collect()
        };
        for v in &cfg.valid_http_versions {
            if !["HTTP/1.0", "HTTP/1.1"].contains(&v.as_str()) {
                return Err(ProbeError::Config(format!(
                    "valid_http_versions: {v:?} is not supported (HTTP/1.0 and HTTP/1.1 are)"
                )));
            }
        }
        let read_secret = |what: &str, path: &std::path::Path| {
            std::fs::read_to_string(path)
                .map(|s| s.trim().to_string())
                .map_err(|e| ProbeError::Config(format!("reading {what} {}: {e}", path.display())))
        };
        let authorization = match (&cfg.basic_auth, &cfg.bearer_token, &cfg.bearer_token_file) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
                return Err(ProbeError::Config(
                    "at most one of basic_auth, bearer_token and bearer_token_file may be set".into(),
                ))
            }
            (Some(b), None, None) => {
                use base64::Engine;
                let password = match (&b.password, &b.password_file) {
                    (Some(_), Some(_)) => {
                        return Err(ProbeError::Config("basic_auth: set password or password_file, not both".into()))
                    }
                    (Some(p), None) => p.expose().to_string(),
                    (None, Some(f)) => read_secret("basic_auth.password_file", f)?,
                    (None, None) => String::new(),
                };
                let raw = format!("{}:{password}", b.username);
                Some(Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))))
            }
            (None, Some(t), None) => Some(Secret::new(format!("Bearer {}", t.expose()))),
            (None, None, Some(f)) => Some(Secret::new(format!("Bearer {}", read_secret("bearer_token_file", f)?))),
            (None, None, None) => None,
        };
        if authorization.as_ref().is_some_and(|a| a.expose().contains(['\r', '\n'])) {
            return Err(ProbeError::Config("credentials must not contain line breaks".into()));
        }
        Ok(HttpProber {
            authorization,
            tls: tls::client_config(&cfg.tls_config)?,
            body_match: compile_all("fail_if_body_matches_regexp", &cfg.fail_if_body_matches_regexp)?,
            body_not_match: compile_all("fail_if_body_not_matches_regexp", &cfg.fail_if_body_not_matches_regexp)?,
            header_match: headers("fail_if_header_matches", &cfg.fail_if_header_matches)?,
            header_not_match: headers("fail_if_header_not_matches", &cfg.fail_if_header_not_matches)?,
            cfg: cfg.clone(),
        })
    }

    pub async fn probe(&self, target: &str, rec: &mut Recorder) -> Result<(), ProbeError> {
        // Registered up front in blackbox_exporter, so present (as 0) even on failure.
        for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
            rec.set_with("probe_http_duration_seconds", PHASE_HELP, &[("phase", phase)], 0.0);
        }
        rec.set("probe_http_content_length", "Length of http content response", 0.0);
        rec.set("probe_http_uncompressed_body_length", "Length of uncompressed response body", 0.0);
        rec.set("probe_http_redirects", "The number of redirects", 0.0);
        rec.set("probe_http_ssl", "Indicates if SSL was used for the final redirect", 0.0);
        rec.set("probe_http_status_code", "Response HTTP status code", 0.0);
        rec.set("probe_http_version", "Returns the version of HTTP of the probe response", 0.0);
        rec.set("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 0.0);

        let with_scheme = if target.contains("://") { target.to_string() } else { format!("http://{target}") };
        let mut url = reqwest::Url::parse(&with_scheme)
            .map_err(|e| ProbeError::Target { target: super::redact_target(target), why: e.to_string() })?;
        // Credentials in the URL become basic auth (as in Go's client) and leave the URL.
        let url_auth = if url.username().is_empty() {
            None
        } else {
            use base64::Engine;
            let raw = format!("{}:{}", url.username(), url.password().unwrap_or(""));
            let _ = url.set_username("");
            let _ = url.set_password(None);
            Some(Secret::new(format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(raw))))
        };
        let auth = self.authorization.as_ref().or(url_auth.as_ref());
        let first_host = url.host_str().map(str::to_string);
        let mut method = self.cfg.method.trim().to_ascii_uppercase();
        let mut body = self.cfg.body.clone();
        let mut redirects = 0;
        let resp = loop {
            // Like Go's client: credentials follow redirects only to the same host.
            let auth = auth.filter(|_| url.host_str() == first_host.as_deref());
            let (resp, https) = self.one_request(&url, &method, body.as_deref(), auth, rec).await?;
            rec.set(
                "probe_http_ssl",
                "Indicates if SSL was used for the final redirect",
                if https { 1.0 } else { 0.0 },
            );
            let location = resp.header("location").map(str::to_string);
            match (resp.status, location) {
                (301 | 302 | 303 | 307 | 308, Some(loc)) if self.cfg.follow_redirects => {
                    if redirects >= MAX_REDIRECTS {
                        return Err(ProbeError::Protocol(format!("stopped after {MAX_REDIRECTS} redirects")));
                    }
                    redirects += 1;
                    rec.set("probe_http_redirects", "The number of redirects", redirects as f64);
                    url = url
                        .join(&loc)
                        .map_err(|e| ProbeError::Protocol(format!("bad redirect location {loc:?}: {e}")))?;
                    // Browsers (and Go) turn these into GETs without a body.
                    if resp.status == 303 || (matches!(resp.status, 301 | 302) && method == "POST") {
                        method = "GET".into();
                        body = None;
                    }
                }
                _ => break resp,
            }
        };

        rec.set("probe_http_status_code", "Response HTTP status code", resp.status as f64);
        rec.set("probe_http_version", "Returns the version of HTTP of the probe response", resp.version);
        let version = if resp.version == 1.0 { "HTTP/1.0" } else { "HTTP/1.1" };
        if !self.cfg.valid_http_versions.is_empty() && !self.cfg.valid_http_versions.iter().any(|v| v == version) {
            return Err(ProbeError::Check(format!("{version} is not one of valid_http_versions")));
        }
        let content_length = resp.header("content-length").and_then(|v| v.trim().parse::<f64>().ok()).unwrap_or(-1.0);
        rec.set("probe_http_content_length", "Length of http content response", content_length);
        rec.set("probe_http_uncompressed_body_length", "Length of uncompressed response body", resp.body.len() as f64);
        if let Some(t) = resp.header("last-modified").and_then(parse_http_date) {
            rec.set(
                "probe_http_last_modified_timestamp_seconds",
                "Returns the Last-Modified HTTP response header in unixtime",
                t as f64,
            );
        }

        let valid = if self.cfg.valid_status_codes.is_empty() {
            (200..300).contains(&resp.status)
        } else {
            self.cfg.valid_status_codes.contains(&resp.status)
        };
        if !valid {
            return Err(ProbeError::Check(format!("status code {} is not valid", resp.status)));
        }
        let https = url.scheme() == "https";
        if self.cfg.fail_if_ssl && https {
            return Err(ProbeError::Check("final response used TLS and fail_if_ssl is set".into()));
        }
        if self.cfg.fail_if_not_ssl && !https {
            return Err(ProbeError::Check("final response did not use TLS and fail_if_not_ssl is set".into()));
        }
        if let Err(e) = self.check_regexes(&resp) {
            rec.set("probe_failed_due_to_regex", "Indicates if probe failed due to regex", 1.0);
            return Err(e);
        }
        Ok(())
    }

    fn check_regexes(&self, resp: &Response) -> Result<(), ProbeError> {
        let body = String::from_utf8_lossy(&resp.body);
        if let Some(re) = self.body_match.iter().find(|re| re.is_match(&body)) {
            return Err(ProbeError::Check(format!("body matched regular expression {:?}", re.as_str())));
        }
        if let Some(re) = self.body_not_match.iter().find(|re| !re.is_match(&body)) {
            return Err(ProbeError::Check(format!("body did not match regular expression {:?}", re.as_str())));
        }
        for (h, re) in &self.header_match {
            if resp.headers_named(&h.header).any(|v| re.is_match(v)) {
                return Err(ProbeError::Check(format!("header {:?} matched {:?}", h.header, h.regexp)));
            }
        }
        for (h, re) in &self.header_not_match {
            let mut values = resp.headers_named(&h.header).peekable();
            if values.peek().is_none() {
                if h.allow_missing {
                    continue;
                }
                return Err(ProbeError::Check(format!("header {:?} is missing", h.header)));
            }
            if !values.any(|v| re.is_match(v)) {
                return Err(ProbeError::Check(format!("header {:?} did not match {:?}", h.header, h.regexp)));
            }
        }
        Ok(())
    }

    /// One request/response on a fresh connection, adding to the phase durations.
    async fn one_request(
        &self,
        url: &reqwest::Url,
        method: &str,
        body: Option<&str>,
        auth: Option<&Secret>,
        rec: &mut Recorder,
    ) -> Result<(Response, bool), ProbeError> {
        let https = match url.scheme() {
            "http" => false,
            "https" => true,
            s => return Err(ProbeError::Target { target: url.to_string(), why: format!("unsupported scheme {s:?}") }),
        };
        let host = url
            .host_str()
            .ok_or_else(|| ProbeError::Target { target: url.to_string(), why: "no host".into() })?
            .to_string();
        let port = url.port_or_known_default().unwrap_or(if https { 443 } else { 80 });
        let phase = |rec: &mut Recorder, p: &str, since: Instant| {
            rec.add_with("probe_http_duration_seconds", PHASE_HELP, &[("phase", p)], since.elapsed().as_secs_f64());
        };

        let t = Instant::now();
        let ip = resolve(&host, self.cfg.preferred_ip_protocol, self.cfg.ip_protocol_fallback, rec).await?;
        phase(rec, "resolve", t);

        let t = Instant::now();
        let addr = SocketAddr::new(ip, port);
        let tcp = TcpStream::connect(addr).await.map_err(|source| ProbeError::Connect { addr, source })?;
        phase(rec, "connect", t);

        let request = self.build_request(url, method, body, auth);
        let limit = self.cfg.body_size_limit.unwrap_or(DEFAULT_BODY_LIMIT);
        let head_only = method == "HEAD";
        if https {
            let t = Instant::now();
            let stream = tls::handshake(&self.tls, &self.cfg.tls_config, &host, tcp, rec).await?;
            phase(rec, "tls", t);
            exchange(stream, &request, head_only, limit, rec).await.map(|r| (r, true))
        } else {
            exchange(tcp, &request, head_only, limit, rec).await.map(|r| (r, false))
        }
    }

    fn build_request(&self, url: &reqwest::Url, method: &str, body: Option<&str>, auth: Option<&Secret>) -> Vec<u8> {
        let mut path = url.path().to_string();
        if let Some(q) = url.query() {
            path.push('?');
            path.push_str(q);
        }
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut req = format!("{method} {path} HTTP/1.1\r\n");
        let has = |name: &str| self.cfg.headers.keys().any(|k| k.eq_ignore_ascii_case(name));
        if !has("host") {
            req.push_str(&format!("Host: {host}\r\n"));
        }
        if !has("user-agent") {
            req.push_str(concat!("User-Agent: Sightline/", env!("CARGO_PKG_VERSION"), "\r\n"));
        }
        if let Some(auth) = auth {
            if !has("authorization") {
                req.push_str(&format!("Authorization: {}\r\n", auth.expose()));
            }
        }
        if !has("accept") {
            req.push_str("Accept: */*\r\n");
        }
        for (k, v) in &self.cfg.headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        if let Some(b) = body {
            req.push_str(&format!("Content-Length: {}\r\n", b.len()));
        }
        req.push_str("Connection: close\r\n\r\n");
        let mut bytes = req.into_bytes();
        if let Some(b) = body {
            bytes.extend_from_slice(b.as_bytes());
        }
        bytes
    }
}

/// Sends the request and reads the response, timing processing (request sent
/// to first response byte) and transfer (first byte to end of body).
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    mut stream: S,
    request: &[u8],
    head_only: bool,
    limit: u64,
    rec: &mut Recorder,
) -> Result<Response, ProbeError> {
    let sent = Instant::now();
    stream.write_all(request).await.map_err(io_err("sending request"))?;
    stream.flush().await.map_err(io_err("sending request"))?;
    let mut r = BufReader::new(stream);
    let first = r.fill_buf().await.map_err(io_err("reading response"))?;
    if first.is_empty() {
        return Err(ProbeError::Protocol("connection closed before any response".into()));
    }
    rec.add_with("probe_http_duration_seconds", PHASE_HELP, &[("phase", "processing")], sent.elapsed().as_secs_f64());
    let first_byte = Instant::now();

    let (version, status, headers) = read_head(&mut r).await?;
    let no_body = head_only || status == 204 || status == 304 || (100..200).contains(&status);
    let header = |n: &str| headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(n)).map(|(_, v)| v.trim().to_string());
    let body = if no_body {
        Vec::new()
    } else if header("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        read_chunked(&mut r, limit).await?
    } else if let Some(len) = header("content-length") {
        let len: u64 = len.parse().map_err(|_| ProbeError::Protocol(format!("bad Content-Length {len:?}")))?;
        if len > limit {
            return Err(ProbeError::Protocol(format!("body of {len} bytes exceeds the limit of {limit}")));
        }
        // Read rather than pre-allocate: the length is the server's claim.
        let mut body = Vec::new();
        (&mut r).take(len).read_to_end(&mut body).await.map_err(io_err("reading body"))?;
        if body.len() as u64 != len {
            return Err(ProbeError::Protocol(format!("body ended after {} of {len} bytes", body.len())));
        }
        body
    } else {
        let mut body = Vec::new();
        (&mut r).take(limit + 1).read_to_end(&mut body).await.map_err(io_err("reading body"))?;
        if body.len() as u64 > limit {
            return Err(ProbeError::Protocol(format!("body exceeds the limit of {limit} bytes")));
        }
        body
    };
    rec.add_with(
        "probe_http_duration_seconds",
        PHASE_HELP,
        &[("phase", "transfer")],
        first_byte.elapsed().as_secs_f64(),
    );
    Ok(Response { version, status, headers, body })
}

/// Reads one CRLF-terminated line (without the line end), bounded in size.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R, budget: &mut usize) -> Result<String, ProbeError> {
    let mut line = Vec::new();
    let n =
        (&mut *r).take(*budget as u64 + 1).read_until(b'\n', &mut line).await.map_err(io_err("reading response"))?;
    if n > *budget {
        return Err(ProbeError::Protocol(format!("response head longer than {MAX_HEAD_BYTES} bytes")));
    }
    *budget -= n;
    if !line.ends_with(b"\n") {
        return Err(ProbeError::Protocol("connection closed in the middle of a line".into()));
    }
    while line.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        line.pop();
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

async fn read_head<R: AsyncBufRead + Unpin>(r: &mut R) -> Result<(f64, u16, Vec<(String, String)>), ProbeError> {
    let mut budget = MAX_HEAD_BYTES;
    let status_line = read_line(r, &mut budget).await?;
    let mut parts = status_line.splitn(3, ' ');
    let version = match parts.next() {
        Some("HTTP/1.1") => 1.1,
        Some("HTTP/1.0") => 1.0,
        other => return Err(ProbeError::Protocol(format!("unexpected status line start {other:?}"))),
    };
    let status = parts
        .next()
        .and_then(|s| s.parse::<u16>().ok())
        .filter(|s| (100..1000).contains(s))
        .ok_or_else(|| ProbeError::Protocol(format!("bad status line {status_line:?}")))?;
    let mut headers = Vec::new();
    loop {
        let line = read_line(r, &mut budget).await?;
        if line.is_empty() {
            break;
        }
        let (k, v) = line.split_once(':').ok_or_else(|| ProbeError::Protocol(format!("bad header line {line:?}")))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((version, status, headers))
}

async fn read_chunked<R: AsyncBufRead + Unpin>(r: &mut R, limit: u64) -> Result<Vec<u8>, ProbeError> {
    let mut body = Vec::new();
    loop {
        let mut budget = MAX_HEAD_BYTES;
        let line = read_line(r, &mut budget).await?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(size_hex, 16)
            .map_err(|_| ProbeError::Protocol(format!("bad chunk size {size_hex:?}")))?;
        if size == 0 {
            // Trailers until the empty line.
            while !read_line(r, &mut budget).await?.is_empty() {}
            return Ok(body);
        }
        if (body.len() as u64).checked_add(size).is_none_or(|total| total > limit) {
            return Err(ProbeError::Protocol(format!("body exceeds the limit of {limit} bytes")));
        }
        // Read rather than pre-allocate: the size is the server's claim.
        let n = (&mut *r).take(size).read_to_end(&mut body).await.map_err(io_err("reading body"))?;
        if n as u64 != size {
            return Err(ProbeError::Protocol("connection closed in the middle of a chunk".into()));
        }
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).await.map_err(io_err("reading body"))?;
        if &crlf != b"\r\n" {
            return Err(ProbeError::Protocol("chunk not followed by CRLF".into()));
        }
    }
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`) to Unix seconds.
fn parse_http_date(s: &str) -> Option<i64> {
    let f: Vec<&str> = s.split_whitespace().collect();
    if f.len() != 6 || f[5] != "GMT" {
        return None;
    }
    let day: i64 = f[1].parse().ok()?;
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| *m == f[2])? as i64 + 1;
    let year: i64 = f[3].parse().ok()?;
    let hms: Vec<i64> = f[4].split(':').map(|x| x.parse().ok()).collect::<Option<Vec<_>>>()?;
    if hms.len() != 3 || !(1..=31).contains(&day) {
        return None;
    }
    Some(tls::days_from_civil(year, month, day) * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates() {
        assert_eq!(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), Some(784_111_777));
        assert_eq!(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT"), None);
    }

    #[tokio::test]
    async fn chunked_bodies_and_limits() {
        let mut r = BufReader::new(&b"5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Trailer: 1\r\n\r\n"[..]);
        assert_eq!(read_chunked(&mut r, 100).await.unwrap(), b"hello, world");
        let mut r = BufReader::new(&b"5\r\nhello\r\n0\r\n\r\n"[..]);
        assert!(read_chunked(&mut r, 4).await.is_err());
        let mut r = BufReader::new(&b"zz\r\n"[..]);
        assert!(read_chunked(&mut r, 100).await.is_err());
        // A huge claimed size neither overflows nor allocates.
        let mut r = BufReader::new(&b"ffffffffffffffff\r\nabc"[..]);
        assert!(read_chunked(&mut r, u64::MAX).await.is_err());
        let mut r = BufReader::new(&b"10\r\nabc"[..]);
        assert!(read_chunked(&mut r, 100).await.unwrap_err().to_string().contains("middle of a chunk"));
    }

    #[tokio::test]
    async fn heads() {
        let mut r = BufReader::new(&b"HTTP/1.0 404 Not Found\r\nA: b\r\nC:d e\r\n\r\nrest"[..]);
        let (v, s, h) = read_head(&mut r).await.unwrap();
        assert_eq!((v, s), (1.0, 404));
        assert_eq!(h, vec![("A".to_string(), "b".to_string()), ("C".to_string(), "d e".to_string())]);
        let mut r = BufReader::new(&b"SSH-2.0-x\r\n\r\n"[..]);
        assert!(read_head(&mut r).await.is_err());
        let long = format!("HTTP/1.1 200 OK\r\nX: {}\r\n\r\n", "a".repeat(70_000));
        let mut r = BufReader::new(long.as_bytes());
        assert!(read_head(&mut r).await.unwrap_err().to_string().contains("longer than"));
    }

    #[test]
    fn invalid_method_or_header_rejected() {
        let cfg = HttpProbeConfig { method: "GE T".into(), ..HttpProbeConfig::default() };
        assert!(HttpProber::new(&cfg).is_err());
        let mut cfg = HttpProbeConfig::default();
        cfg.headers.insert("X-A".into(), "b\r\nInjected: 1".into());
        assert!(HttpProber::new(&cfg).is_err());
    }
}
