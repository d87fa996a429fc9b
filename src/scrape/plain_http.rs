//! The scrape client for plain `http://` targets without credentials: one
//! kept-alive connection per target, a GET, the body read into one buffer.
//!
//! Why not reqwest here: hyper keeps ~18 KB per idle pooled connection (its
//! request channel and buffers), which at a few hundred series per target is
//! more than the store spends on those series. Between scrapes this client
//! holds only the socket. Whatever it does not handle (TLS, redirects,
//! credentials) goes through reqwest, as [`Fetch::Unsupported`] says.

use reqwest::{StatusCode, Url};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Response headers larger than this are refused (Go's default is 1 MB; exporters send a few lines).
const MAX_HEAD_BYTES: usize = 64 * 1024;
const MAX_HEADERS: usize = 64;
/// A Content-Length reserves at most this much up front; the rest grows as it arrives.
const MAX_PRESIZE: usize = 16 << 20;

/// One target's connection, kept between scrapes.
pub struct PlainHttp {
    url: String,
    /// `host:port` to connect to.
    addr: String,
    /// The request head without the final empty line.
    request: Vec<u8>,
    stream: Option<TcpStream>,
}

/// What a fetch gave.
#[derive(Debug)]
pub enum Fetch {
    /// A 2xx answer: its body and Content-Type.
    Body(bytes::Bytes, Option<String>),
    /// Something for the general client (a redirect).
    Unsupported,
}

impl PlainHttp {
    /// A client for `url` if it is one this module handles: `http://` with
    /// no user info (credentials go through the general client).
    pub fn for_url(url: &str, headers: &[(&str, &str)]) -> Option<PlainHttp> {
        let url = Url::parse(url).ok()?;
        if url.scheme() != "http" || !url.username().is_empty() || url.password().is_some() {
            return None;
        }
        let host = url.host_str()?;
        let port = url.port_or_known_default()?;
        let host_header = match url.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        };
        let path = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut request = format!("GET {path} HTTP/1.1\r\nHost: {host_header}\r\n");
        for (name, value) in headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        Some(PlainHttp {
            url: url.to_string(),
            addr: format!("{host}:{port}"),
            request: request.into_bytes(),
            stream: None,
        })
    }

    /// GETs the URL; a body longer than `limit` bytes (0: no limit) is an
    /// error. The caller bounds the time.
    pub async fn get(&mut self, limit: u64) -> Result<Fetch, String> {
        let head = &self.request;
        // A kept connection the target has closed meanwhile fails before any
        // answer arrives; then one fresh connection is tried.
        if let Some(mut stream) = self.stream.take() {
            match exchange(&mut stream, head, limit).await {
                Ok((fetch, keep)) => {
                    if keep {
                        self.stream = Some(stream);
                    }
                    return fetch;
                }
                Err(Failure::Before(_)) => {}
                Err(Failure::After(e)) => return Err(format!("Get {:?}: {e}", self.url)),
            }
        }
        // Worded as Prometheus words it: Get "URL": dial tcp ADDR: ...
        let mut stream = TcpStream::connect(&self.addr)
            .await
            .map_err(|e| format!("Get {:?}: dial tcp {}: connect: {e}", self.url, self.addr))?;
        let _ = stream.set_nodelay(true);
        match exchange(&mut stream, head, limit).await {
            Ok((fetch, keep)) => {
                if keep {
                    self.stream = Some(stream);
                }
                fetch
            }
            Err(Failure::Before(e) | Failure::After(e)) => Err(format!("Get {:?}: {e}", self.url)),
        }
    }
}

/// Why an exchange failed: before any byte of the answer (worth one retry on
/// a fresh connection) or after.
enum Failure {
    Before(String),
    After(String),
}

/// Sends `head` and reads one response. Returns the fetch result and
/// whether the connection can be used again.
async fn exchange(stream: &mut TcpStream, head: &[u8], limit: u64) -> Result<(Result<Fetch, String>, bool), Failure> {
    stream.write_all(head).await.map_err(|e| Failure::Before(format!("writing the request: {e}")))?;
    let mut buf: Vec<u8> = Vec::with_capacity(16 * 1024);
    // Read until the head is complete.
    let (status, head_len, framing, content_type, close) = loop {
        let n = read_some(stream, &mut buf).await.map_err(|e| {
            if buf.is_empty() {
                Failure::Before(e)
            } else {
                Failure::After(e)
            }
        })?;
        if n == 0 {
            let e = "server closed the connection before answering".to_string();
            return Err(if buf.is_empty() { Failure::Before(e) } else { Failure::After(e) });
        }
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut resp = httparse::Response::new(&mut headers);
        match resp.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let status = resp.code.unwrap_or(0);
                let mut framing = Framing::UntilClose;
                let mut content_type = None;
                let mut close = resp.version == Some(0);
                for h in resp.headers.iter() {
                    let value = std::str::from_utf8(h.value).unwrap_or("").trim();
                    if h.name.eq_ignore_ascii_case("content-length") {
                        let n = value
                            .parse::<u64>()
                            .map_err(|_| Failure::After(format!("bad Content-Length {value:?}")))?;
                        framing = Framing::Length(n);
                    } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
                        if value.eq_ignore_ascii_case("chunked") {
                            framing = Framing::Chunked;
                        } else {
                            return Err(Failure::After(format!("unsupported Transfer-Encoding {value:?}")));
                        }
                    } else if h.name.eq_ignore_ascii_case("content-type") {
                        content_type = Some(value.to_string());
                    } else if h.name.eq_ignore_ascii_case("connection") {
                        close = value.eq_ignore_ascii_case("close");
                    }
                }
                break (status, len, framing, content_type, close);
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => {}
            Ok(httparse::Status::Partial) => return Err(Failure::After("response head too large".into())),
            Err(e) => return Err(Failure::After(format!("malformed HTTP response: {e}"))),
        }
    };
    let mut body = buf.split_off(head_len);
    let keep = match framing {
        Framing::Length(n) => {
            if limit > 0 && n > limit {
                return Err(Failure::After(body_too_large(n, limit)));
            }
            // Presized from the header, but not beyond what is sane to trust before the bytes arrive.
            body.reserve((n as usize).saturating_sub(body.len()).min(MAX_PRESIZE));
            while (body.len() as u64) < n {
                if read_some(stream, &mut body).await.map_err(Failure::After)? == 0 {
                    return Err(Failure::After("server closed the connection in the body".into()));
                }
            }
            if body.len() as u64 > n {
                // Bytes beyond the body: the stream is out of step, so don't reuse it.
                body.truncate(n as usize);
                false
            } else {
                !close
            }
        }
        Framing::Chunked => {
            body = read_chunked(stream, body, limit).await.map_err(Failure::After)?;
            !close
        }
        Framing::UntilClose => {
            while read_some(stream, &mut body).await.map_err(Failure::After)? > 0 {
                if limit > 0 && body.len() as u64 > limit {
                    break;
                }
            }
            false
        }
    };
    if limit > 0 && body.len() as u64 > limit {
        return Err(Failure::After(body_too_large(body.len() as u64, limit)));
    }
    let fetch = match StatusCode::from_u16(status) {
        Ok(s) if s.is_success() => Ok(Fetch::Body(body.into(), content_type)),
        Ok(s) if s.is_redirection() => Ok(Fetch::Unsupported),
        Ok(s) => Err(format!("server returned HTTP status {s}")),
        Err(_) => Err(format!("server returned HTTP status {status}")),
    };
    Ok((fetch, keep))
}

/// Counts the refusal and says it as Prometheus does.
fn body_too_large(n: u64, limit: u64) -> String {
    crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::BodySize);
    format!("body size limit exceeded: {n} bytes > {limit} bytes")
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// Reads whatever arrives into the spare capacity of `buf` (grown if full).
async fn read_some(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<usize, String> {
    if buf.capacity() - buf.len() < 4096 {
        buf.reserve(buf.capacity().max(8192));
    }
    stream.read_buf(buf).await.map_err(|e| format!("reading the response: {e}"))
}

/// Decodes a chunked body; `raw` holds what was read after the head.
async fn read_chunked(stream: &mut TcpStream, mut raw: Vec<u8>, limit: u64) -> Result<Vec<u8>, String> {
    let mut body = Vec::with_capacity(raw.len());
    let mut pos = 0;
    loop {
        // The chunk-size line.
        let line_end = loop {
            if let Some(i) = raw[pos..].windows(2).position(|w| w == b"\r\n") {
                break pos + i;
            }
            if read_some(stream, &mut raw).await? == 0 {
                return Err("server closed the connection in a chunked body".into());
            }
        };
        let line = std::str::from_utf8(&raw[pos..line_end]).map_err(|_| "malformed chunk size".to_string())?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| format!("malformed chunk size {size_hex:?}"))?;
        pos = line_end + 2;
        let total = body.len().saturating_add(size);
        if limit > 0 && total as u64 > limit {
            return Err(body_too_large(total as u64, limit));
        }
        // The chunk and its CRLF (after the last, empty chunk: trailers end with an empty line).
        let need = if size == 0 { 2 } else { size.saturating_add(2) };
        while raw.len() < pos.saturating_add(need) {
            if read_some(stream, &mut raw).await? == 0 {
                return Err("server closed the connection in a chunked body".into());
            }
        }
        if size == 0 {
            // Skip trailer lines until the empty one.
            while !raw[pos..].starts_with(b"\r\n") {
                match raw[pos..].windows(2).position(|w| w == b"\r\n") {
                    Some(i) => pos += i + 2,
                    None => {
                        if read_some(stream, &mut raw).await? == 0 {
                            return Err("server closed the connection in chunk trailers".into());
                        }
                    }
                }
            }
            return Ok(body);
        }
        body.extend_from_slice(&raw[pos..pos + size]);
        pos += size + 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    /// A server that answers each request on a connection with the next of
    /// `answers`, and closes the connection after the ones marked so. Returns
    /// its address and a log of (connection number, request line).
    async fn server(
        answers: Vec<(&'static str, bool)>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<(usize, String)>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let seen = log.clone();
        tokio::spawn(async move {
            let mut answers = answers.into_iter();
            let mut conn_no = 0;
            while let Ok((mut s, _)) = listener.accept().await {
                conn_no += 1;
                loop {
                    let mut req = Vec::new();
                    let mut b = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => req.extend_from_slice(&b[..n]),
                        }
                    }
                    if req.is_empty() {
                        break;
                    }
                    let line = String::from_utf8_lossy(&req).lines().next().unwrap_or("").to_string();
                    seen.lock().unwrap().push((conn_no, line));
                    let Some((answer, close)) = answers.next() else { return };
                    s.write_all(answer.as_bytes()).await.unwrap();
                    if close {
                        break;
                    }
                }
            }
        });
        (addr, log)
    }

    fn client(addr: &str, path: &str) -> PlainHttp {
        PlainHttp::for_url(&format!("http://{addr}{path}"), &[("Accept", "text/plain")]).unwrap()
    }

    fn body(f: Fetch) -> String {
        match f {
            Fetch::Body(b, _) => String::from_utf8(b.to_vec()).unwrap(),
            other => panic!("expected a body, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn keeps_the_connection_and_reads_both_framings() {
        let (addr, log) = server(vec![
            ("HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: 4\r\n\r\na 1\n", false),
            (
                "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;ext=1\r\na \r\n2\r\n2\n\r\n0\r\nX-T: 1\r\n\r\n",
                false,
            ),
        ])
        .await;
        let mut c = client(&addr, "/metrics?x=1");
        match c.get(0).await.unwrap() {
            Fetch::Body(b, ct) => {
                assert_eq!(&b[..], b"a 1\n");
                assert_eq!(ct.as_deref(), Some("text/plain; version=0.0.4"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(body(c.get(0).await.unwrap()), "a 2\n");
        let log = log.lock().unwrap().clone();
        assert_eq!(log, [(1, "GET /metrics?x=1 HTTP/1.1".to_string()), (1, "GET /metrics?x=1 HTTP/1.1".to_string())]);
    }

    #[tokio::test]
    async fn a_closed_connection_is_replaced() {
        // The first answer closes the connection (said or not): the next GET dials again.
        let (addr, log) = server(vec![
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", true),
            ("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", true),
            ("HTTP/1.0 200 OK\r\n\r\nuntil close", true),
        ])
        .await;
        let mut c = client(&addr, "/m");
        for want in ["ok", "ok", "until close"] {
            assert_eq!(body(c.get(0).await.unwrap()), want);
        }
        let conns: Vec<usize> = log.lock().unwrap().iter().map(|(n, _)| *n).collect();
        assert_eq!(conns, [1, 2, 3]);
    }

    #[tokio::test]
    async fn errors_redirects_and_limits() {
        let (addr, _) = server(vec![
            ("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: 0\r\n\r\n", false),
            ("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n", true),
            ("garbage\r\n\r\n", true),
            // Absurd sizes with no limit set: an error when the bytes do not come, never a huge allocation.
            ("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999\r\n\r\nabc", true),
            ("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nabc", true),
        ])
        .await;
        let mut c = client(&addr, "/m");
        assert_eq!(c.get(0).await.unwrap_err(), "server returned HTTP status 404 Not Found");
        assert!(matches!(c.get(0).await.unwrap(), Fetch::Unsupported));
        let e = c.get(10).await.unwrap_err();
        assert!(e.ends_with("body size limit exceeded: 100 bytes > 10 bytes"), "{e}");
        let e = c.get(10).await.unwrap_err();
        assert!(e.ends_with("body size limit exceeded: 32 bytes > 10 bytes"), "{e}");
        let e = c.get(0).await.unwrap_err();
        assert!(e.contains("malformed HTTP response"), "{e}");
        let e = c.get(0).await.unwrap_err();
        assert!(e.ends_with("server closed the connection in the body"), "{e}");
        let e = c.get(0).await.unwrap_err();
        assert!(e.ends_with("server closed the connection in a chunked body"), "{e}");
    }

    #[tokio::test]
    async fn a_dead_target_is_worded_as_prometheus_does() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut c = client(&format!("127.0.0.1:{port}"), "/metrics");
        let e = c.get(0).await.unwrap_err();
        assert!(
            e.starts_with(&format!("Get \"http://127.0.0.1:{port}/metrics\": dial tcp 127.0.0.1:{port}: connect: ")),
            "{e}"
        );
    }

    #[test]
    fn only_plain_http_without_credentials() {
        assert!(PlainHttp::for_url("https://h:1/m", &[]).is_none());
        assert!(PlainHttp::for_url("http://u:p@h:1/m", &[]).is_none());
        let c = PlainHttp::for_url("http://[::1]:9100/metrics", &[("A", "b")]).unwrap();
        assert_eq!(c.addr, "[::1]:9100");
        assert_eq!(String::from_utf8(c.request).unwrap(), "GET /metrics HTTP/1.1\r\nHost: [::1]:9100\r\nA: b\r\n\r\n");
    }
}
