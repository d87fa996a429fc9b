//! One target's scrape loop: fetch on a fixed grid, parse, relabel, append,
//! write the `up` and `scrape_*` series, and mark vanished series stale.

use super::exposition::{self, Exposition, Format};
use super::relabel::relabel;
use super::target::Target;
use crate::collect::{Family, HostCollector};
use crate::config::ScrapeConfig;
use crate::selfmon::{JobLabels, Metrics};
use crate::tsdb::{Appendable, Appender, Labels, STALE_NAN};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// What the targets page and `/api/v1/targets` show about one target.
#[derive(Clone, Debug, Default)]
pub struct TargetHealth {
    pub health: Health,
    pub last_scrape: Option<SystemTime>,
    pub last_duration: Duration,
    pub last_error: String,
    pub last_samples: usize,
    /// The HELP/TYPE/UNIT of the target's last successful scrape, for
    /// `/api/v1/metadata`; shared, so cloning a status stays cheap.
    pub metadata: Arc<Vec<exposition::Metadata>>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Health {
    #[default]
    Unknown,
    Up,
    Down,
}

impl Health {
    pub fn as_str(&self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Up => "up",
            Health::Down => "down",
        }
    }
}

/// Prometheus 3's preference order: OpenMetrics first, then the text format.
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

/// Timestamps within this distance of the scheduled grid point are snapped
/// to it, so sample intervals stay constant and cheap to store.
const TIMESTAMP_TOLERANCE_MS: i64 = 2;

/// Where a loop's samples come from. HTTP targets, the built-in host
/// collector and probes share the loop, so all get `up`, `scrape_*` and staleness.
#[derive(Clone)]
pub enum Source {
    Http(reqwest::Client),
    Host(Arc<Mutex<HostCollector>>),
    /// A blackbox-style probe: the loop's "URL" is the target to probe (a
    /// URL, `host:port` or DNS server, as discovered and relabeled). A failed
    /// probe is a successful scrape with `probe_success 0`, as with
    /// blackbox_exporter; the scrape fails only if the probe could not run.
    Probe(Arc<crate::collect::probe::Probe>),
}

/// What a source hands over: an HTTP body still to parse, or a host
/// collection still to run, or a probe's result. Parsing and collecting
/// happen on the same blocking thread that appends, so a scrape costs one
/// hop off the async workers, not two.
enum Raw {
    Body(bytes::Bytes, Format),
    Host(Arc<Mutex<HostCollector>>),
    Parsed(Exposition),
}

impl Raw {
    /// CPU work: call on a blocking thread.
    fn into_exposition(self) -> Fetched {
        match self {
            Raw::Body(body, format) => exposition::parse_bytes(&body, format).map_err(|e| e.to_string()),
            Raw::Host(collector) => Ok(host_exposition(collector.lock().unwrap_or_else(|e| e.into_inner()).collect())),
            Raw::Parsed(exp) => Ok(exp),
        }
    }
}

impl Source {
    async fn fetch(&self, cfg: &ScrapeConfig, url: &str) -> Result<Raw, String> {
        match self {
            Source::Http(client) => fetch_body(client, cfg, url).await.map(|(body, format)| Raw::Body(body, format)),
            Source::Host(collector) => Ok(Raw::Host(collector.clone())),
            Source::Probe(probe) => Ok(Raw::Parsed(host_exposition(probe.run(url).await))),
        }
    }
}

/// The host collector's families as if scraped from node_exporter.
fn host_exposition(families: Vec<Family>) -> Exposition {
    let mut exp = Exposition::default();
    for f in families {
        let kind = match f.kind {
            crate::collect::FamilyKind::Counter => exposition::MetricType::Counter,
            crate::collect::FamilyKind::Gauge => exposition::MetricType::Gauge,
            crate::collect::FamilyKind::Untyped => exposition::MetricType::Unknown,
        };
        exp.metadata.push(exposition::Metadata { family: f.name.clone(), kind, help: f.help, unit: String::new() });
        for (mut labels, value) in f.samples {
            labels.set(crate::tsdb::METRIC_NAME, &f.name);
            exp.samples.push(exposition::ParsedSample { labels, value, timestamp_ms: None });
        }
    }
    exp
}

/// State carried from one scrape of a target to the next.
pub struct ScrapeLoop {
    pub cfg: Arc<ScrapeConfig>,
    pub target: Target,
    pub source: Source,
    pub store: Arc<dyn Appendable>,
    pub metrics: Arc<Metrics>,
    pub health: Arc<Mutex<TargetHealth>>,
    /// Series written by the previous successful scrape (for staleness).
    previous: HashSet<Labels>,
}

/// The outcome of processing one scrape.
#[derive(Debug, Default, PartialEq)]
pub struct ScrapeReport {
    pub samples_scraped: usize,
    /// Samples the store accepted, report series included.
    pub appended: usize,
    pub samples_post_relabel: usize,
    pub series_added: usize,
    pub rejected: usize,
    pub error: Option<String>,
}

impl ScrapeLoop {
    pub fn new(
        cfg: Arc<ScrapeConfig>,
        target: Target,
        source: Source,
        store: Arc<dyn Appendable>,
        metrics: Arc<Metrics>,
    ) -> Self {
        ScrapeLoop { cfg, target, source, store, metrics, health: Arc::default(), previous: HashSet::new() }
    }

    /// Scrapes on the target's grid until `stop` fires, then marks its series stale.
    pub async fn run(mut self, mut stop: tokio::sync::watch::Receiver<bool>) {
        let interval_ms = self.cfg.scrape_interval.as_millis().max(1) as i64;
        // A stable per-target offset spreads targets over the interval (Prometheus does the same).
        let offset = (self.target.labels.stable_hash() ^ xxhash_rust::xxh3::xxh3_64(self.target.url.as_bytes()))
            % interval_ms as u64;
        let now = crate::tsdb::now_millis();
        let mut next = now - now.rem_euclid(interval_ms) + offset as i64;
        if next < now {
            next += interval_ms;
        }
        loop {
            let wait = Duration::from_millis((next - crate::tsdb::now_millis()).max(0) as u64);
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = stop.changed() => break,
            }
            let actual = crate::tsdb::now_millis();
            let t = if (actual - next).abs() <= TIMESTAMP_TOLERANCE_MS { next } else { actual };
            self.scrape_once(t).await;
            next += interval_ms;
            let now = crate::tsdb::now_millis();
            if next <= now {
                // Missed grid points (a slow scrape or a suspended machine) are skipped, not caught up.
                next += ((now - next) / interval_ms + 1) * interval_ms;
            }
        }
        self.mark_all_stale(crate::tsdb::now_millis()).await;
    }

    /// Fetches and stores one scrape taken at `t` (ms).
    pub async fn scrape_once(&mut self, t: i64) {
        let started = std::time::Instant::now();
        let raw = self.source.fetch(&self.cfg, &self.target.url).await;
        let duration = started.elapsed();
        let job = JobLabels { job: self.cfg.job_name.clone() };
        self.metrics.scrapes.get_or_create(&job).inc();

        let store = self.store.clone();
        let cfg = self.cfg.clone();
        let target_labels = self.target.labels.clone();
        let previous = std::mem::take(&mut self.previous);
        let joined = tokio::task::spawn_blocking(move || {
            // A host collection is the scrape itself: its time counts, as node_exporter's would.
            let collects = matches!(raw, Ok(Raw::Host(_)));
            let mut fetched = raw.and_then(Raw::into_exposition);
            let duration = if collects { started.elapsed() } else { duration };
            let metadata = fetched.as_mut().ok().map(|exp| std::mem::take(&mut exp.metadata));
            let mut previous = previous;
            let mut app = store.appender();
            let report = process(&cfg, &target_labels, fetched, t, duration, &mut previous, app.as_mut());
            let commit = app.commit();
            (report, commit, previous, metadata)
        })
        .await;
        let (mut report, commit, previous, metadata) = match joined {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(job = %self.cfg.job_name, error = %e, "scrape processing task failed");
                return;
            }
        };
        self.previous = previous;
        self.metrics.target_series.get_or_create(&self.target_key()).set(self.previous.len() as i64);
        match commit {
            Ok(()) => {
                self.metrics.samples_appended.inc_by(report.appended as u64);
            }
            Err(e) => {
                report.error.get_or_insert(format!("storing samples: {e}"));
            }
        }
        if report.error.is_some() {
            self.metrics.scrape_failures.get_or_create(&job).inc();
        }
        if report.rejected > 0 {
            self.metrics.samples_rejected.get_or_create(&job).inc_by(report.rejected as u64);
        }
        let mut h = self.health.lock().unwrap_or_else(|e| e.into_inner());
        h.last_scrape = Some(SystemTime::UNIX_EPOCH + Duration::from_millis(t.max(0) as u64));
        h.last_duration = duration;
        h.last_samples = report.samples_scraped;
        if let Some(md) = metadata {
            // Metadata rarely changes: keep the shared copy unless it did.
            if report.error.is_none() && *h.metadata != md {
                h.metadata = Arc::new(md);
            }
        }
        match report.error {
            Some(e) => {
                h.health = Health::Down;
                h.last_error = e;
            }
            None => {
                h.health = Health::Up;
                h.last_error.clear();
            }
        }
    }

    fn target_key(&self) -> crate::selfmon::TargetLabels {
        crate::selfmon::TargetLabels { scrape_job: self.cfg.job_name.clone(), target: self.target.url.clone() }
    }

    /// Writes stale markers for every series of the last scrape and the
    /// report series: the target is gone.
    async fn mark_all_stale(&mut self, t: i64) {
        self.metrics.target_series.remove(&self.target_key());
        let store = self.store.clone();
        let mut series: Vec<Labels> = self.previous.drain().collect();
        for name in REPORT_SERIES {
            let mut l = self.target.labels.clone();
            l.set(crate::tsdb::METRIC_NAME, name);
            series.push(l);
        }
        let _ = tokio::task::spawn_blocking(move || {
            let mut app = store.appender();
            for l in &series {
                let _ = app.append(l, t, STALE_NAN);
            }
            app.commit()
        })
        .await;
    }
}

const REPORT_SERIES: [&str; 5] = [
    "up",
    "scrape_duration_seconds",
    "scrape_samples_scraped",
    "scrape_samples_post_metric_relabeling",
    "scrape_series_added",
];

/// The parsed exposition, or why the scrape failed.
pub type Fetched = Result<Exposition, String>;

async fn fetch_body(client: &reqwest::Client, cfg: &ScrapeConfig, url: &str) -> Result<(bytes::Bytes, Format), String> {
    let mut req = client
        .get(url)
        .header("Accept", ACCEPT)
        .header("User-Agent", concat!("Sightline/", env!("CARGO_PKG_VERSION")))
        .header("X-Prometheus-Scrape-Timeout-Seconds", format!("{}", cfg.scrape_timeout.as_secs_f64()))
        .timeout(cfg.scrape_timeout);
    if let Some(auth) = &cfg.auth {
        req = auth.apply(req);
    }
    let resp = req.send().await.map_err(describe_reqwest_error)?;
    if !resp.status().is_success() {
        return Err(format!("server returned HTTP status {}", resp.status()));
    }
    let format = exposition::format_from_content_type(resp.headers().get("content-type").and_then(|v| v.to_str().ok()));
    let limit = cfg.body_size_limit;
    if limit > 0 && resp.content_length().is_some_and(|n| n > limit) {
        crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::BodySize);
        return Err(format!("body size limit exceeded: {} bytes > {limit} bytes", resp.content_length().unwrap_or(0)));
    }
    let body = resp.bytes().await.map_err(describe_reqwest_error)?;
    if limit > 0 && body.len() as u64 > limit {
        crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::BodySize);
        return Err(format!("body size limit exceeded: {} bytes > {limit} bytes", body.len()));
    }
    Ok((body, format))
}

/// reqwest hides the cause in the source chain; show it as Prometheus does
/// ("Get \"http://...\": dial tcp ...: connection refused").
fn describe_reqwest_error(e: reqwest::Error) -> String {
    if e.is_timeout() {
        return "context deadline exceeded (scrape timeout)".to_string();
    }
    let mut msg = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        msg.push_str(": ");
        msg.push_str(&s.to_string());
        source = s.source();
    }
    msg
}

/// Turns one fetched scrape into appends. Pure apart from the appender, so
/// the rules (honor_labels, limits, staleness) are unit-tested without HTTP.
pub fn process(
    cfg: &ScrapeConfig,
    target_labels: &Labels,
    fetched: Fetched,
    t: i64,
    duration: Duration,
    previous: &mut HashSet<Labels>,
    app: &mut dyn Appender,
) -> ScrapeReport {
    let mut report = ScrapeReport::default();
    let mut current: HashSet<Labels> = HashSet::new();
    let mut samples = Vec::new();

    match fetched {
        Ok(exp) => {
            report.samples_scraped = exp.samples.len();
            for s in exp.samples {
                let labels = merge_target_labels(s.labels, target_labels, cfg.honor_labels);
                // Most jobs have no metric relabeling: skip the copy it makes.
                let labels = if cfg.metric_relabel_configs.is_empty() {
                    labels
                } else {
                    let Some(l) = relabel(&labels, &cfg.metric_relabel_configs) else { continue };
                    l
                };
                if labels.metric_name().is_none() {
                    continue;
                }
                let ts = match s.timestamp_ms {
                    Some(ts) if cfg.honor_timestamps => ts,
                    _ => t,
                };
                samples.push((labels, ts, s.value));
            }
            report.samples_post_relabel = samples.len();
            report.error = check_limits(cfg, &samples);
        }
        Err(e) => report.error = Some(e),
    }

    if report.error.is_none() {
        for (labels, ts, v) in samples {
            // Series seen last time move over to this scrape's set without a copy.
            let seen = previous.take(&labels);
            match app.append(&labels, ts, v) {
                Ok(()) => {
                    report.appended += 1;
                    if seen.is_none() && !current.contains(&labels) {
                        report.series_added += 1;
                    }
                    current.insert(seen.unwrap_or(labels));
                }
                Err(e) if e.is_sample_error() => {
                    report.rejected += 1;
                    // The series is still exposed; don't mark it stale.
                    current.insert(seen.unwrap_or(labels));
                }
                Err(e) => {
                    report.error = Some(format!("storing samples: {e}"));
                    break;
                }
            }
        }
    } else {
        report.samples_post_relabel = 0;
    }
    // Series that were exposed last time but not now (what is left in
    // `previous`) end with a stale marker; a failed scrape ends all of them, as in Prometheus.
    for gone in previous.iter().filter(|l| !current.contains(*l)) {
        let _ = app.append(gone, t, STALE_NAN);
    }
    *previous = current;

    let up = if report.error.is_none() { 1.0 } else { 0.0 };
    let values = [
        up,
        duration.as_secs_f64(),
        report.samples_scraped as f64,
        report.samples_post_relabel as f64,
        report.series_added as f64,
    ];
    for (name, v) in REPORT_SERIES.iter().zip(values) {
        let mut l = target_labels.clone();
        l.set(crate::tsdb::METRIC_NAME, name);
        if app.append(&l, t, v).is_ok() {
            report.appended += 1;
        }
    }
    report
}

/// Attaches the target's labels to a scraped series. With honor_labels the
/// scraped value wins; otherwise a clash keeps the scraped value as `exported_<name>`.
fn merge_target_labels(mut labels: Labels, target: &Labels, honor_labels: bool) -> Labels {
    for l in target.iter() {
        match labels.get(&l.name).map(str::to_string) {
            Some(_) if honor_labels => {}
            Some(existing) => {
                let mut name = format!("exported_{}", l.name);
                while labels.get(&name).is_some() {
                    name = format!("exported_{name}");
                }
                labels.set(&name, &existing);
                labels.set(&l.name, &l.value);
            }
            None => labels.set(&l.name, &l.value),
        }
    }
    labels
}

fn check_limits(cfg: &ScrapeConfig, samples: &[(Labels, i64, f64)]) -> Option<String> {
    if cfg.sample_limit > 0 && samples.len() > cfg.sample_limit {
        crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::Samples);
        return Some(format!("sample limit exceeded: {} samples > limit {}", samples.len(), cfg.sample_limit));
    }
    for (labels, _, _) in samples {
        if cfg.label_limit > 0 && labels.len() > cfg.label_limit {
            crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::LabelCount);
            return Some(format!(
                "label limit exceeded (metric: {labels}, number of labels: {}, limit: {})",
                labels.len(),
                cfg.label_limit
            ));
        }
        for l in labels.iter() {
            if cfg.label_name_length_limit > 0 && l.name.len() > cfg.label_name_length_limit {
                crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::LabelNameLength);
                return Some(format!("label name length limit exceeded (metric: {labels}, label name: {})", l.name));
            }
            if cfg.label_value_length_limit > 0 && l.value.len() > cfg.label_value_length_limit {
                crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::LabelValueLength);
                return Some(format!("label value length limit exceeded (metric: {labels}, label name: {})", l.name));
            }
        }
    }
    None
}

/// Starts a loop's HTTP client for one scrape config (TLS settings, no redirects beyond Prometheus's).
pub fn build_client(cfg: &ScrapeConfig) -> Result<reqwest::Client, String> {
    crate::scrape::ensure_crypto_provider();
    let mut b = reqwest::Client::builder().redirect(reqwest::redirect::Policy::limited(10)).no_proxy();
    let tls = &cfg.tls;
    if tls.insecure_skip_verify {
        b = b.tls_danger_accept_invalid_certs(true);
    }
    if let Some(ca) = &tls.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("reading ca_file {}: {e}", ca.display()))?;
        for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| format!("ca_file {}: {e}", ca.display()))? {
            b = b.add_root_certificate(cert);
        }
    }
    if let (Some(cert), Some(key)) = (&tls.cert_file, &tls.key_file) {
        let mut pem = std::fs::read(cert).map_err(|e| format!("reading cert_file {}: {e}", cert.display()))?;
        pem.extend(std::fs::read(key).map_err(|e| format!("reading key_file {}: {e}", key.display()))?);
        b = b.identity(reqwest::Identity::from_pem(&pem).map_err(|e| format!("client certificate: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{is_stale_nan, Matcher, MemStore, Querier};

    fn cfg() -> ScrapeConfig {
        let mut c = crate::scrape::host_scrape_config(&Default::default(), &Default::default());
        c.job_name = "app".into();
        c
    }

    fn target() -> Labels {
        Labels::from_pairs([("job", "app"), ("instance", "h:1")])
    }

    fn scrape(cfg: &ScrapeConfig, body: &str, t: i64, prev: &mut HashSet<Labels>, store: &MemStore) -> ScrapeReport {
        let fetched = exposition::parse(body, Format::Text).map_err(|e| e.to_string());
        let mut app = store.appender();
        let r = process(cfg, &target(), fetched, t, Duration::from_millis(3), prev, app.as_mut());
        app.commit().unwrap();
        r
    }

    fn last(store: &MemStore, name: &str) -> Vec<(Labels, f64)> {
        store
            .select(&[Matcher::equal("__name__", name)], 0, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|s| (s.labels, s.samples.last().unwrap().v))
            .collect()
    }

    #[test]
    fn target_labels_win_unless_honor_labels() {
        let store = MemStore::new();
        let mut prev = HashSet::new();
        let r = scrape(&cfg(), "m{job=\"other\"} 1\n", 1000, &mut prev, &store);
        assert_eq!((r.samples_scraped, r.samples_post_relabel, r.series_added), (1, 1, 1));
        let got = last(&store, "m");
        assert_eq!(got[0].0.get("job"), Some("app"));
        assert_eq!(got[0].0.get("exported_job"), Some("other"));

        let store = MemStore::new();
        let mut honor = cfg();
        honor.honor_labels = true;
        scrape(&honor, "m{job=\"other\"} 1\n", 1000, &mut HashSet::new(), &store);
        let got = last(&store, "m");
        assert_eq!(got[0].0.get("job"), Some("other"));
        assert_eq!(got[0].0.get("instance"), Some("h:1"));
    }

    #[test]
    fn report_series_and_staleness() {
        let store = MemStore::new();
        let mut prev = HashSet::new();
        scrape(&cfg(), "a 1\nb 2\n", 1000, &mut prev, &store);
        assert_eq!(last(&store, "up")[0].1, 1.0);
        assert_eq!(last(&store, "scrape_samples_scraped")[0].1, 2.0);
        assert_eq!(last(&store, "scrape_series_added")[0].1, 2.0);

        let r = scrape(&cfg(), "a 1\n", 2000, &mut prev, &store);
        assert_eq!(r.series_added, 0);
        assert!(is_stale_nan(last(&store, "b")[0].1), "b vanished: stale marker");
        assert_eq!(last(&store, "a")[0].1, 1.0);

        // A failed scrape (here: unparseable) ends every series and sets up=0.
        let r = scrape(&cfg(), "a{ 1\n", 3000, &mut prev, &store);
        assert!(r.error.as_deref().unwrap_or_default().contains("line 1"), "{r:?}");
        assert_eq!(last(&store, "up")[0].1, 0.0);
        assert!(is_stale_nan(last(&store, "a")[0].1));
        assert!(prev.is_empty());
    }

    #[test]
    fn sample_limit_fails_the_whole_scrape() {
        let store = MemStore::new();
        let mut c = cfg();
        c.sample_limit = 1;
        let r = scrape(&c, "a 1\nb 2\n", 1000, &mut HashSet::new(), &store);
        assert!(r.error.unwrap().contains("sample limit exceeded"));
        assert!(last(&store, "a").is_empty());
        assert_eq!(last(&store, "up")[0].1, 0.0);
    }

    #[test]
    fn honors_timestamps_only_when_asked() {
        let store = MemStore::new();
        scrape(&cfg(), "a 1 500\n", 1000, &mut HashSet::new(), &store);
        let s = store.select(&[Matcher::equal("__name__", "a")], 0, 10_000).unwrap();
        assert_eq!(s[0].samples[0].t, 500);
        let store = MemStore::new();
        let mut c = cfg();
        c.honor_timestamps = false;
        scrape(&c, "a 1 500\n", 1000, &mut HashSet::new(), &store);
        let s = store.select(&[Matcher::equal("__name__", "a")], 0, 10_000).unwrap();
        assert_eq!(s[0].samples[0].t, 1000);
    }

    #[test]
    fn host_families_become_samples() {
        let mut f = Family::new("node_load1", "1m load average.", crate::collect::FamilyKind::Gauge);
        f.push([], 0.5);
        let exp = host_exposition(vec![f]);
        assert_eq!(exp.samples.len(), 1);
        assert_eq!(exp.samples[0].labels.metric_name(), Some("node_load1"));
    }
}
