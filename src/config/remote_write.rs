//! `remote_write:`: Prometheus's format (url, credentials, TLS,
//! write_relabel_configs, queue_config) plus Sightline's `queue_max_bytes`,
//! the bound of the durable on-disk queue.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::raw::RawRemoteWrite;
use super::validate::{build_auth, build_relabels, build_tls, duration, text, AuthFields, Ctx};
use super::{parse_size, Auth, RelabelConfig, TlsConfig};

/// Default bound of one remote's on-disk queue: 1 GiB.
pub const DEFAULT_QUEUE_MAX_BYTES: u64 = 1 << 30;

/// One `remote_write` entry, validated, with secrets read.
#[derive(Debug, Clone)]
pub struct RemoteWriteConfig {
    /// Where to POST (`http://vm:8428/api/v1/write`).
    pub url: String,
    /// Unique name; the `remote_name` label of the sender's metrics and the key of its queue rows.
    /// Default: a short hash of the URL (stable across restarts, like Prometheus's).
    pub name: String,
    /// Timeout of one request; default 30s.
    pub remote_timeout: Duration,
    /// Extra request headers.
    pub headers: BTreeMap<String, String>,
    /// basic_auth, authorization or bearer_token.
    pub auth: Option<Auth>,
    /// TLS settings (same type as scrape jobs).
    pub tls: TlsConfig,
    /// Applied to every series before it is queued; `drop` keeps it from being sent.
    pub write_relabel_configs: Vec<RelabelConfig>,
    /// `queue_config`.
    pub queue: RemoteQueueConfig,
    /// Sightline-only `queue_max_bytes`: when the durable queue grows past this, the oldest batches are dropped.
    pub queue_max_bytes: u64,
    /// Line of the entry.
    pub line: Option<usize>,
}

/// `remote_write[].queue_config`, with Prometheus's defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteQueueConfig {
    /// Accepted for compatibility (default 10000): committed samples wait in memory at most about a
    /// second before they reach the durable queue, which `queue_max_bytes` bounds instead.
    pub capacity: usize,
    /// Accepted for compatibility; Sightline sends one batch at a time per remote so that the
    /// durable queue is delivered in order (default 50).
    pub max_shards: usize,
    /// Most samples per request (default 2000).
    pub max_samples_per_send: usize,
    /// How long samples may wait before they are batched (default 5s; batches are written at least every second).
    pub batch_send_deadline: Duration,
    /// First retry delay (default 30ms); doubles on each failure.
    pub min_backoff: Duration,
    /// Longest retry delay (default 5s).
    pub max_backoff: Duration,
    /// Retry on 429 Too Many Requests (default true); when false a 429 drops the batch.
    pub retry_on_http_429: bool,
}

impl Default for RemoteQueueConfig {
    fn default() -> Self {
        RemoteQueueConfig {
            capacity: 10_000,
            max_shards: 50,
            max_samples_per_send: 2000,
            batch_send_deadline: Duration::from_secs(5),
            min_backoff: Duration::from_millis(30),
            max_backoff: Duration::from_secs(5),
            retry_on_http_429: true,
        }
    }
}

/// The default name of a remote: 6 hex digits of a hash of its URL.
pub fn default_remote_name(url: &str) -> String {
    format!("{:06x}", xxhash_rust::xxh3::xxh3_64(url.as_bytes()) & 0xff_ffff)
}

/// Validates the `remote_write` list, recording every problem with its line.
pub(crate) fn build_remote_writes(
    list: Option<Vec<Option<RawRemoteWrite>>>,
    base_dir: &Path,
    ctx: &mut Ctx,
) -> Vec<RemoteWriteConfig> {
    let mut out: Vec<RemoteWriteConfig> = Vec::new();
    for (i, rw) in list.unwrap_or_default().into_iter().enumerate() {
        let path = format!("remote_write[{i}]");
        let key = |k: &str| format!("{path}.{k}");
        let Some(rw) = rw else {
            ctx.error(&path, "empty or null remote write config section");
            continue;
        };
        let line = ctx.line_of(&path);
        let url = text(rw.url.clone()).unwrap_or_default();
        if url.is_empty() {
            ctx.error(&path, "url for remote_write is empty");
            continue;
        }
        match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" || u.scheme() == "https" => {}
            Ok(u) => ctx.error(&key("url"), format!("url {url:?}: scheme must be http or https, not {:?}", u.scheme())),
            Err(e) => ctx.error(&key("url"), format!("invalid url {url:?}: {e}")),
        }
        let name = text(rw.name.clone()).filter(|n| !n.is_empty()).unwrap_or_else(|| default_remote_name(&url));
        if let Some(other) = out.iter().find(|o| o.name == name) {
            let what = if rw.name.is_some() { "name" } else { "url" };
            let at = other.line.map(|l| format!(" (first on line {l})")).unwrap_or_default();
            ctx.error(&key(what), format!("found multiple remote write configs with name {name:?}{at}"));
        }
        let remote_timeout =
            duration(ctx, &key("remote_timeout"), rw.remote_timeout.clone()).unwrap_or(Duration::from_secs(30));
        let mut headers = BTreeMap::new();
        for (h, v) in rw.headers.clone().unwrap_or_default() {
            let bad_name = reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err();
            if bad_name || reqwest::header::HeaderValue::from_str(&v.0).is_err() {
                ctx.error(&format!("{}.{h}", key("headers")), format!("invalid HTTP header {h:?}"));
                continue;
            }
            // Prometheus refuses headers it sets itself.
            const RESERVED: [&str; 7] = [
                "authorization",
                "host",
                "content-encoding",
                "content-type",
                "content-length",
                "x-prometheus-remote-write-version",
                "user-agent",
            ];
            if RESERVED.iter().any(|r| r.eq_ignore_ascii_case(&h)) {
                ctx.error(
                    &format!("{}.{h}", key("headers")),
                    format!("{h} is a reserved header. It must not be changed"),
                );
                continue;
            }
            headers.insert(h, v.0);
        }
        let auth = build_auth(
            AuthFields {
                basic: &rw.basic_auth,
                authz: &rw.authorization,
                bearer: &rw.bearer_token,
                bearer_file: &rw.bearer_token_file,
            },
            &path,
            base_dir,
            ctx,
        );
        let tls = build_tls(rw.tls_config, &key("tls_config"), base_dir, ctx);
        let write_relabel_configs =
            build_relabels(rw.write_relabel_configs, &key("write_relabel_configs"), "write", ctx);
        let queue = build_queue(rw.queue_config, &key("queue_config"), ctx);
        let queue_max_bytes = match rw.queue_max_bytes {
            Some(s) => match parse_size(&s.0) {
                Ok(0) => {
                    ctx.error(&key("queue_max_bytes"), "must be more than 0 (e.g. 1GB)");
                    DEFAULT_QUEUE_MAX_BYTES
                }
                Ok(n) => n,
                Err(e) => {
                    ctx.error(&key("queue_max_bytes"), e);
                    DEFAULT_QUEUE_MAX_BYTES
                }
            },
            None => DEFAULT_QUEUE_MAX_BYTES,
        };
        out.push(RemoteWriteConfig {
            url,
            name,
            remote_timeout,
            headers,
            auth,
            tls,
            write_relabel_configs,
            queue,
            queue_max_bytes,
            line,
        });
    }
    out
}

fn build_queue(raw: Option<super::raw::RawQueueConfig>, path: &str, ctx: &mut Ctx) -> RemoteQueueConfig {
    let d = RemoteQueueConfig::default();
    let Some(q) = raw else {
        return d;
    };
    let key = |k: &str| format!("{path}.{k}");
    let positive = |ctx: &mut Ctx, k: &str, v: Option<u64>, default: usize| match v {
        Some(0) => {
            ctx.error(&key(k), "must be at least 1");
            default
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
        None => default,
    };
    let out = RemoteQueueConfig {
        capacity: positive(ctx, "capacity", q.capacity, d.capacity),
        max_shards: positive(ctx, "max_shards", q.max_shards, d.max_shards),
        max_samples_per_send: positive(ctx, "max_samples_per_send", q.max_samples_per_send, d.max_samples_per_send),
        batch_send_deadline: duration(ctx, &key("batch_send_deadline"), q.batch_send_deadline)
            .unwrap_or(d.batch_send_deadline),
        min_backoff: duration(ctx, &key("min_backoff"), q.min_backoff).unwrap_or(d.min_backoff),
        max_backoff: duration(ctx, &key("max_backoff"), q.max_backoff).unwrap_or(d.max_backoff),
        retry_on_http_429: q.retry_on_http_429.unwrap_or(true),
    };
    if out.min_backoff > out.max_backoff {
        ctx.error(&key("max_backoff"), "max_backoff must not be less than min_backoff");
    }
    out
}
