//! One task per remote: sends the durable queue in order, with retries and
//! backoff, and keeps the counters shown on /metrics.

use std::fmt::Write as _;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{Queue, Remote, RemoteError, RemoteStats};
use crate::config::RemoteWriteConfig;

/// What to do with a request after the remote answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendAction {
    /// Accepted: delete it from the queue.
    Done,
    /// Try again after the backoff (5xx, 429, network errors).
    Retry,
    /// Refused for good (other 4xx): delete it and count its samples as dropped.
    Drop,
}

/// Prometheus's rules: 2xx done, 5xx retried, 429 retried when
/// `retry_on_http_429`, any other status dropped.
pub fn classify(status: u16, retry_on_http_429: bool) -> SendAction {
    match status {
        200..=299 => SendAction::Done,
        429 if retry_on_http_429 => SendAction::Retry,
        500..=599 => SendAction::Retry,
        _ => SendAction::Drop,
    }
}

/// Exponential backoff between `min` and `max`, doubling on each failure.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    /// Starts at `min`.
    pub fn new(min: Duration, max: Duration) -> Backoff {
        Backoff { min, max: max.max(min), next: min }
    }

    /// The delay to wait now; the following one doubles, up to `max`.
    pub fn next_delay(&mut self) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d
    }

    /// After a success: back to `min`.
    pub fn reset(&mut self) {
        self.next = self.min;
    }
}

/// A metric family: name, type, help, and how to read it from a remote's stats (given now in ms).
type Family = (&'static str, &'static str, &'static str, fn(&RemoteStats, i64) -> f64);

static REGISTRY: Mutex<Vec<Arc<RemoteStats>>> = Mutex::new(Vec::new());

/// Makes a remote's figures appear on /metrics (replacing one of the same name).
pub(super) fn register(stats: Arc<RemoteStats>) {
    let mut r = REGISTRY.lock().unwrap_or_else(|p| p.into_inner());
    r.retain(|s| s.name != stats.name);
    r.push(stats);
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// The sender's metrics in the text exposition form, for `/metrics`; empty
/// without remotes.
pub fn encode_metrics() -> String {
    let remotes = REGISTRY.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let mut out = String::new();
    if remotes.is_empty() {
        return out;
    }
    let now_ms =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis() as i64;
    let families: [Family; 6] = [
        ("samples_sent", "counter", "Samples accepted by the remote", |s, _| s.samples_sent.load(Relaxed) as f64),
        ("failed_sends", "counter", "Requests that failed (retried or dropped)", |s, _| {
            s.failed_sends.load(Relaxed) as f64
        }),
        ("samples_dropped", "counter", "Samples dropped: refused with a 4xx or pushed out of a full queue", |s, _| {
            s.samples_dropped.load(Relaxed) as f64
        }),
        ("queue_rows", "gauge", "Requests waiting in the durable queue", |s, _| s.queue_rows.load(Relaxed) as f64),
        ("queue_bytes", "gauge", "Bytes waiting in the durable queue", |s, _| s.queue_bytes.load(Relaxed) as f64),
        (
            "lag_seconds",
            "gauge",
            "Now minus the timestamp of the oldest queued sample (0 when empty)",
            |s, now| match s.oldest_ts.load(Relaxed) {
                i64::MIN => 0.0,
                t => ((now - t) as f64 / 1000.0).max(0.0),
            },
        ),
    ];
    for (name, kind, help, get) in families {
        let full = format!("sightline_remote_storage_{name}");
        let _ = writeln!(out, "# HELP {full} {help}.\n# TYPE {full} {kind}");
        let sample = if kind == "counter" { format!("{full}_total") } else { full.clone() };
        for s in &remotes {
            let _ = writeln!(
                out,
                "{sample}{{remote_name=\"{}\",url=\"{}\"}} {}",
                escape(&s.name),
                escape(&s.url),
                get(s, now_ms)
            );
        }
    }
    let full = "sightline_remote_storage_last_send_error";
    let _ = writeln!(
        out,
        "# HELP {full} Unix time of the last failed send; the error is in the label.\n# TYPE {full} gauge"
    );
    for s in &remotes {
        if let Some((msg, at)) = s.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone() {
            let _ = writeln!(
                out,
                "{full}{{remote_name=\"{}\",url=\"{}\",error=\"{}\"}} {at}",
                escape(&s.name),
                escape(&s.url),
                escape(&msg)
            );
        }
    }
    out
}

/// The HTTP client of one remote (timeout, TLS).
pub(super) fn client(cfg: &RemoteWriteConfig) -> Result<reqwest::Client, RemoteError> {
    crate::scrape::ensure_crypto_provider();
    let err = |why: String| RemoteError::Client { name: cfg.name.clone(), why };
    let mut b = reqwest::Client::builder().timeout(cfg.remote_timeout).no_proxy();
    let tls = &cfg.tls;
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| err(format!("reading ca_file {}: {e}", ca.display())))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| err(format!("ca_file: {e}")))?;
        for cert in certs {
            b = b.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = std::fs::read(cert).map_err(|e| err(format!("reading cert_file {}: {e}", cert.display())))?;
        pem.extend(std::fs::read(key).map_err(|e| err(format!("reading key_file {}: {e}", key.display())))?);
        b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| err(format!("client certificate: {e}")))?);
    }
    b.build().map_err(|e| err(e.to_string()))
}

/// POSTs one request body; Ok(status) or Err(network error).
async fn post(client: &reqwest::Client, cfg: &RemoteWriteConfig, body: Vec<u8>) -> Result<(u16, String), String> {
    let mut req = client
        .post(&cfg.url)
        .header("Content-Encoding", "snappy")
        .header("Content-Type", "application/x-protobuf")
        .header("X-Prometheus-Remote-Write-Version", "0.1.0")
        .header("User-Agent", concat!("Sightline/", env!("CARGO_PKG_VERSION")));
    for (k, v) in &cfg.headers {
        req = req.header(k, v);
    }
    if let Some(auth) = &cfg.auth {
        req = auth.apply(req);
    }
    let resp = req.body(body).send().await.map_err(|e| format!("POST {}: {e}", cfg.url))?;
    let status = resp.status().as_u16();
    let text = if (200..300).contains(&status) { String::new() } else { resp.text().await.unwrap_or_default() };
    Ok((status, text.chars().take(256).collect()))
}

/// Runs a blocking queue operation off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, RemoteError> + Send + 'static,
) -> Result<T, RemoteError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| Err(RemoteError::Io(format!("queue task failed: {e}"))))
}

/// The sender loop of one remote; runs until the runtime stops.
pub(super) async fn run(remote: Arc<Remote>, queue: Arc<Queue>, client: reqwest::Client) {
    let cfg = &remote.cfg;
    let stats = &remote.stats;
    let mut backoff = Backoff::new(cfg.queue.min_backoff, cfg.queue.max_backoff);
    loop {
        let (q, name) = (queue.clone(), cfg.name.clone());
        let row = match blocking(move || q.first(&name)).await {
            Ok(Some(row)) => row,
            Ok(None) => {
                // Woken by the batching task, or look again in a second.
                let _ = tokio::time::timeout(Duration::from_secs(1), remote.wake.notified()).await;
                continue;
            }
            Err(e) => {
                tracing::error!(remote = %cfg.name, "{e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let (id, samples) = (row.id, row.samples);
        let action = match post(&client, cfg, row.body).await {
            Ok((status, text)) => {
                let action = classify(status, cfg.queue.retry_on_http_429);
                if action != SendAction::Done {
                    stats.set_error(format!("HTTP {status}: {}", text.trim()));
                }
                action
            }
            Err(e) => {
                stats.set_error(e);
                SendAction::Retry
            }
        };
        match action {
            SendAction::Done => {
                stats.samples_sent.fetch_add(samples, Relaxed);
                backoff.reset();
            }
            SendAction::Drop => {
                stats.failed_sends.fetch_add(1, Relaxed);
                stats.samples_dropped.fetch_add(samples, Relaxed);
                tracing::warn!(remote = %cfg.name, samples, "remote write: request refused for good, dropped");
            }
            SendAction::Retry => {
                stats.failed_sends.fetch_add(1, Relaxed);
                tokio::time::sleep(backoff.next_delay()).await;
                continue;
            }
        }
        let (q, name) = (queue.clone(), cfg.name.clone());
        match blocking(move || {
            q.delete(id)?;
            q.size(&name)
        })
        .await
        {
            Ok(size) => stats.set_size(size),
            Err(e) => tracing::error!(remote = %cfg.name, "{e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A loopback HTTP server answering the given statuses in turn; returns its
    /// address and the heads of the requests it got.
    fn scripted_server(statuses: Vec<u16>) -> (String, Arc<Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let heads = Arc::new(Mutex::new(Vec::new()));
        let seen = heads.clone();
        std::thread::spawn(move || {
            for status in statuses {
                let Ok((mut conn, _)) = listener.accept() else { return };
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                // Read the head, then as much body as Content-Length says.
                let head_end = loop {
                    let n = conn.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break raw.len();
                    }
                    raw.extend_from_slice(&buf[..n]);
                    if let Some(i) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                        break i + 4;
                    }
                };
                let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                while raw.len() < head_end + len {
                    let n = conn.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                }
                seen.lock().unwrap().push(head);
                let _ = write!(conn, "HTTP/1.1 {status} X\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope");
            }
        });
        (addr, heads)
    }

    #[tokio::test]
    async fn sender_retries_5xx_drops_4xx_and_sends_in_order() {
        let (addr, heads) = scripted_server(vec![500, 204, 400, 200]);
        let cfg = RemoteWriteConfig {
            url: format!("http://{addr}/api/v1/write"),
            name: "scripted".into(),
            remote_timeout: Duration::from_secs(5),
            headers: [("X-Scope-OrgID".to_string(), "team-a".to_string())].into(),
            auth: Some(crate::config::Auth::Basic { username: "u".into(), password: "p".into() }),
            tls: Default::default(),
            write_relabel_configs: vec![],
            queue: crate::config::RemoteQueueConfig {
                min_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
                ..Default::default()
            },
            queue_max_bytes: 1 << 20,
            line: None,
        };
        let queue = Arc::new(Queue::in_memory().unwrap());
        queue.push("scripted", &[(1, 10, vec![1]), (2, 20, vec![2]), (3, 30, vec![3])]).unwrap();
        let stats = Arc::new(RemoteStats { name: cfg.name.clone(), url: cfg.url.clone(), ..Default::default() });
        let remote = Arc::new(Remote { cfg: cfg.clone(), stats: stats.clone(), wake: tokio::sync::Notify::new() });
        let task = tokio::spawn(run(remote, queue.clone(), client(&cfg).unwrap()));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while queue.size("scripted").unwrap().rows > 0 {
            assert!(std::time::Instant::now() < deadline, "queue never drained");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        task.abort();
        assert_eq!(stats.samples_sent.load(Relaxed), 10 + 30, "first (after a retry) and third were sent");
        assert_eq!(stats.samples_dropped.load(Relaxed), 20, "the 400 dropped the second");
        assert_eq!(stats.failed_sends.load(Relaxed), 2);
        let last = stats.last_error.lock().unwrap().clone().unwrap().0;
        assert_eq!(last, "HTTP 400: nope");
        let heads = heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 4);
        let h = heads[0].to_ascii_lowercase();
        for want in [
            "post /api/v1/write http/1.1",
            "content-encoding: snappy",
            "content-type: application/x-protobuf",
            "x-prometheus-remote-write-version: 0.1.0",
            "user-agent: sightline/",
            "x-scope-orgid: team-a",
            "authorization: basic dtpw",
        ] {
            assert!(h.contains(want), "{want:?} missing from {h}");
        }
    }

    #[test]
    fn statuses_are_classified_like_prometheus() {
        assert_eq!(classify(204, true), SendAction::Done);
        assert_eq!(classify(200, false), SendAction::Done);
        assert_eq!(classify(500, true), SendAction::Retry);
        assert_eq!(classify(503, false), SendAction::Retry);
        assert_eq!(classify(429, true), SendAction::Retry);
        assert_eq!(classify(429, false), SendAction::Drop);
        assert_eq!(classify(400, true), SendAction::Drop);
        assert_eq!(classify(404, true), SendAction::Drop);
    }

    #[test]
    fn backoff_doubles_up_to_max_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(30), Duration::from_millis(200));
        let got: Vec<u128> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(got, vec![30, 60, 120, 200, 200, 200]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(30));
    }

    #[test]
    fn metrics_name_each_remote() {
        let s = Arc::new(RemoteStats {
            name: "vm-test-metrics".into(),
            url: "http://x/api/v1/write".into(),
            ..Default::default()
        });
        s.samples_sent.store(42, Relaxed);
        s.set_error("HTTP 500: \"boom\"".into());
        register(s);
        let text = encode_metrics();
        assert!(
            text.contains(
                "sightline_remote_storage_samples_sent_total{remote_name=\"vm-test-metrics\",url=\"http://x/api/v1/write\"} 42"
            ),
            "{text}"
        );
        assert!(text.contains("error=\"HTTP 500: \\\"boom\\\"\""), "{text}");
        assert!(text.contains("sightline_remote_storage_lag_seconds{remote_name=\"vm-test-metrics\""), "{text}");
    }
}
