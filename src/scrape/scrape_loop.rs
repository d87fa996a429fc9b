//! One target's scrape loop: fetch on a fixed grid, parse, relabel, append,
//! write the `up` and `scrape_*` series, and mark vanished series stale.

use super::exposition::{self, Exposition, Format, ParsedSample, SampleSink, SeriesKey};
use super::plain_http::{Fetch, PlainHttp};
use super::relabel::relabel;
use super::target::Target;
use crate::collect::{Family, HostCollector};
use crate::config::ScrapeConfig;
use crate::selfmon::{JobLabels, Metrics};
use crate::tsdb::{Appendable, Appender, IntSet, Labels, SeriesRef, STALE_NAN};
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

const USER_AGENT: &str = concat!("Sightline/", env!("CARGO_PKG_VERSION"));
const SCRAPE_TIMEOUT: &str = "context deadline exceeded (scrape timeout)";

/// Bodies up to this size (some hundred series) are parsed and stored on
/// the async worker that fetched them; larger ones on the blocking pool.
const INLINE_BODY_BYTES: usize = 64 * 1024;

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
    /// What [`process`] reads; a host collection runs here (CPU work: call on a blocking thread).
    fn into_input(self) -> Input {
        match self {
            Raw::Body(body, format) => Input::Body(body, format),
            Raw::Host(collector) => {
                Input::Parsed(host_exposition(collector.lock().unwrap_or_else(|e| e.into_inner()).collect()))
            }
            Raw::Parsed(exp) => Input::Parsed(exp),
        }
    }
}

/// One scrape's outcome as [`process`] reads it.
pub enum Input {
    /// A body still to parse.
    Body(bytes::Bytes, Format),
    /// Samples with their labels (host collector, probes).
    Parsed(Exposition),
    /// Why the scrape failed.
    Failed(String),
}

impl Source {
    /// `plain` is the target's own connection when [`PlainHttp`] handles its URL.
    async fn fetch(&self, cfg: &ScrapeConfig, url: &str, plain: Option<&mut PlainHttp>) -> Result<Raw, String> {
        match self {
            Source::Http(client) => {
                if let Some(plain) = plain {
                    match tokio::time::timeout(cfg.scrape_timeout, plain.get(cfg.body_size_limit)).await {
                        Err(_) => return Err(SCRAPE_TIMEOUT.to_string()),
                        Ok(Ok(Fetch::Body(body, content_type))) => {
                            return Ok(Raw::Body(body, exposition::format_from_content_type(content_type.as_deref())))
                        }
                        Ok(Ok(Fetch::Unsupported)) => {}
                        Ok(Err(e)) => return Err(e),
                    }
                }
                fetch_body(client, cfg, url).await.map(|(body, format)| Raw::Body(body, format))
            }
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
    cache: ScrapeCache,
    /// The kept-alive connection of a plain-HTTP target.
    plain: Option<PlainHttp>,
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
    /// The body's HELP/TYPE/UNIT lines, when it parsed.
    pub metadata: Option<Vec<exposition::Metadata>>,
}

impl ScrapeLoop {
    pub fn new(
        cfg: Arc<ScrapeConfig>,
        target: Target,
        source: Source,
        store: Arc<dyn Appendable>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let plain = match &source {
            Source::Http(_) if cfg.auth.is_none() => {
                let timeout = format!("{}", cfg.scrape_timeout.as_secs_f64());
                PlainHttp::for_url(
                    &target.url,
                    &[
                        ("Accept", ACCEPT),
                        ("User-Agent", USER_AGENT),
                        ("X-Prometheus-Scrape-Timeout-Seconds", &timeout),
                    ],
                )
            }
            _ => None,
        };
        ScrapeLoop { cfg, target, source, store, metrics, health: Arc::default(), cache: ScrapeCache::default(), plain }
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
        // Boxed: reqwest's and the probes' futures are large, and every loop's
        // task would otherwise keep room for them between scrapes.
        let raw = Box::pin(self.source.fetch(&self.cfg, &self.target.url, self.plain.as_mut())).await;
        let duration = started.elapsed();
        let job = JobLabels { job: self.cfg.job_name.clone() };
        self.metrics.scrapes.get_or_create(&job).inc();

        let store = self.store.clone();
        let cfg = self.cfg.clone();
        let target_labels = self.target.labels.clone();
        let mut cache = std::mem::take(&mut self.cache);
        // A small body is processed right here: handing it to the blocking
        // pool (a thread wake-up) would cost more than parsing it.
        let inline = match &raw {
            Ok(Raw::Body(body, _)) => body.len() <= INLINE_BODY_BYTES,
            Ok(Raw::Host(_)) => false,
            Ok(Raw::Parsed(_)) | Err(_) => true,
        };
        let work = move || {
            // A host collection is the scrape itself: its time counts, as node_exporter's would.
            let collects = matches!(raw, Ok(Raw::Host(_)));
            let input = raw.map_or_else(Input::Failed, Raw::into_input);
            let duration = if collects { started.elapsed() } else { duration };
            let mut app = store.appender();
            let report = process(&cfg, &target_labels, input, t, duration, &mut cache, app.as_mut());
            let commit = app.commit();
            (report, commit, cache)
        };
        let (mut report, commit, cache) = if inline {
            work()
        } else {
            match tokio::task::spawn_blocking(work).await {
                Ok(v) => v,
                Err(e) => {
                    tracing::error!(job = %self.cfg.job_name, error = %e, "scrape processing task failed");
                    return;
                }
            }
        };
        self.cache = cache;
        self.metrics.target_series.get_or_create(&self.target_key()).set(self.cache.series() as i64);
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
        if let Some(md) = report.metadata {
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
        let cache = std::mem::take(&mut self.cache);
        let target_labels = self.target.labels.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let mut app = store.appender();
            for r in cache.last_written() {
                let _ = app.append_ref(r, t, STALE_NAN);
            }
            for name in REPORT_SERIES {
                let mut l = target_labels.clone();
                l.set(crate::tsdb::METRIC_NAME, name);
                let _ = app.append(&l, t, STALE_NAN);
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

async fn fetch_body(client: &reqwest::Client, cfg: &ScrapeConfig, url: &str) -> Result<(bytes::Bytes, Format), String> {
    let mut req = client
        .get(url)
        .header("Accept", ACCEPT)
        .header("User-Agent", USER_AGENT)
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
        return SCRAPE_TIMEOUT.to_string();
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

/// What a scrape loop remembers about its target's series between scrapes,
/// like Prometheus's scrape cache: a series seen before is appended by its
/// store reference, found by the hash of its text, with no label parsing,
/// relabeling or index lookup.
#[derive(Default)]
pub struct ScrapeCache {
    /// Positions in `slots`, found by series key: a bucket is 4 bytes
    /// where a key-to-entry map's is 32, and the entries sit in `slots`
    /// exactly sized (100 series: ~3.9 KB instead of ~5.6 KB with the set
    /// of the last scrape's series this replaces).
    index: hashbrown::HashTable<u32>,
    slots: Vec<CacheEntry>,
    /// Series the last scrape wrote (the figure for `target_series`).
    written: usize,
    /// References of the report series, in [`REPORT_SERIES`] order.
    report: [Option<SeriesRef>; 5],
    /// Scrapes so far.
    epoch: u32,
}

/// One series key: the stored series ([`DROPPED`] if relabeling drops it),
/// the scrape that last saw the key and the one that last wrote its series
/// (those the last scrape wrote and this one did not get stale markers).
struct CacheEntry {
    key: SeriesKey,
    series: SeriesRef,
    seen: u32,
    written: u32,
}

impl ScrapeCache {
    /// Series the last scrape wrote.
    pub fn series(&self) -> usize {
        self.written
    }

    fn find(&self, key: SeriesKey) -> Option<u32> {
        let slots = &self.slots;
        self.index.find(key as u64, |&i| slots.get(i as usize).is_some_and(|e| e.key == key)).copied()
    }

    /// Adds a key seen (not yet written) in scrape `epoch`; returns its slot.
    fn insert(&mut self, key: SeriesKey, series: SeriesRef, epoch: u32) -> u32 {
        let slot = self.slots.len() as u32;
        // Neither this scrape nor the one before: never written.
        self.slots.push(CacheEntry { key, series, seen: epoch, written: epoch.wrapping_sub(2) });
        let slots = &self.slots;
        self.index.insert_unique(key as u64, slot, |&i| slots.get(i as usize).map_or(0, |e| e.key as u64));
        slot
    }

    /// Forgets the entries `keep` rejects (swapping the last into each hole).
    fn retain(&mut self, keep: impl Fn(&CacheEntry) -> bool) {
        let mut i = 0;
        while i < self.slots.len() {
            if keep(&self.slots[i]) {
                i += 1;
                continue;
            }
            let key = self.slots[i].key;
            if let Ok(entry) = self.index.find_entry(key as u64, |&s| s as usize == i) {
                entry.remove();
            }
            let last = self.slots.len() - 1;
            self.slots.swap_remove(i);
            if let Some(moved) = self.slots.get(i) {
                if let Some(s) = self.index.find_mut(moved.key as u64, |&s| s as usize == last) {
                    *s = i as u32;
                }
            }
        }
    }

    /// The series the last scrape wrote, each once.
    fn last_written(&self) -> IntSet<SeriesRef> {
        self.written_in(self.epoch)
    }

    fn written_in(&self, epoch: u32) -> IntSet<SeriesRef> {
        self.slots.iter().filter(|e| e.written == epoch).map(|e| e.series).collect()
    }
}

/// The cache's mark for a series that metric relabeling drops.
const DROPPED: SeriesRef = SeriesRef(u64::MAX);
/// Entries unseen for this many scrapes are forgotten (their series went stale long ago).
const FORGET_AFTER_SCRAPES: u32 = 10;

/// A sample waiting for the scrape to be accepted as a whole.
enum Pending {
    /// A cached series (its slot).
    Known(u32),
    /// A series not in the cache: its labels after relabeling, and its key.
    New(SeriesKey, Labels),
}

/// Collects one scrape's samples from the parser, resolving what it can
/// through the cache; nothing is appended until the whole body is read.
struct Batch<'a> {
    cfg: &'a ScrapeConfig,
    target_labels: &'a Labels,
    cache: &'a mut ScrapeCache,
    /// The scrape's time, for samples without (or with ignored) timestamps.
    t: i64,
    scraped: usize,
    samples: Vec<(Pending, i64, f64)>,
    /// The first label limit a new series broke.
    error: Option<String>,
}

impl Batch<'_> {
    fn timestamp(&self, timestamp_ms: Option<i64>) -> i64 {
        match timestamp_ms {
            Some(ts) if self.cfg.honor_timestamps => ts,
            _ => self.t,
        }
    }
}

impl SampleSink for Batch<'_> {
    fn known(&mut self, key: SeriesKey, value: f64, timestamp_ms: Option<i64>) -> bool {
        self.scraped += 1;
        let Some(slot) = self.cache.find(key) else { return false };
        let epoch = self.cache.epoch;
        let Some(entry) = self.cache.slots.get_mut(slot as usize) else { return false };
        entry.seen = epoch;
        if entry.series != DROPPED {
            self.samples.push((Pending::Known(slot), self.timestamp(timestamp_ms), value));
        }
        true
    }

    fn sample(&mut self, key: SeriesKey, s: ParsedSample) {
        let labels = merge_target_labels(s.labels, self.target_labels, self.cfg.honor_labels);
        // Most jobs have no metric relabeling: skip the copy it makes.
        let labels = if self.cfg.metric_relabel_configs.is_empty() {
            Some(labels)
        } else {
            relabel(&labels, &self.cfg.metric_relabel_configs)
        };
        let Some(labels) = labels.filter(|l| l.metric_name().is_some()) else {
            self.cache.insert(key, DROPPED, self.cache.epoch);
            return;
        };
        if self.error.is_none() {
            self.error = check_label_limits(self.cfg, &labels);
        }
        let ts = self.timestamp(s.timestamp_ms);
        self.samples.push((Pending::New(key, labels), ts, s.value));
    }
}

/// Turns one scrape into appends. Pure apart from the appender and the
/// cache, so the rules (honor_labels, limits, staleness) are unit-tested without HTTP.
pub fn process(
    cfg: &ScrapeConfig,
    target_labels: &Labels,
    input: Input,
    t: i64,
    duration: Duration,
    cache: &mut ScrapeCache,
    app: &mut dyn Appender,
) -> ScrapeReport {
    cache.epoch = cache.epoch.wrapping_add(1);
    let (epoch, last) = (cache.epoch, cache.epoch.wrapping_sub(1));
    let mut report = ScrapeReport::default();
    let mut batch =
        Batch { cfg, target_labels, samples: Vec::with_capacity(cache.written), cache, t, scraped: 0, error: None };
    let parsed = match input {
        Input::Body(body, format) => exposition::parse_into(&body, format, &mut batch).map_err(|e| e.to_string()),
        Input::Parsed(exp) => {
            for s in exp.samples {
                let key = exposition::labels_key(&s.labels);
                if !batch.known(key, s.value, s.timestamp_ms) {
                    batch.sample(key, s);
                }
            }
            Ok(exp.metadata)
        }
        Input::Failed(e) => Err(e),
    };
    let Batch { scraped, samples, error, cache, .. } = batch;
    report.samples_scraped = scraped;
    match parsed {
        Ok(metadata) => {
            report.metadata = Some(metadata);
            report.error = error;
        }
        Err(e) => report.error = Some(e),
    }
    if report.error.is_none() && cfg.sample_limit > 0 && samples.len() > cfg.sample_limit {
        crate::auth::stats::count_scrape(crate::auth::stats::ScrapeLimit::Samples);
        report.error = Some(format!("sample limit exceeded: {} samples > limit {}", samples.len(), cfg.sample_limit));
    }

    let mut written = 0;
    if report.error.is_none() {
        report.samples_post_relabel = samples.len();
        let new = samples.iter().filter(|s| matches!(s.0, Pending::New(..))).count();
        // Exactly: after the first scrape most targets add nothing.
        cache.slots.reserve_exact(new);
        // The last scrape's series, needed only when a new key may be a
        // series written before under other text (other spacing, relabeling).
        let mut last_series: Option<IntSet<SeriesRef>> = None;
        for (pending, ts, v) in samples {
            let (slot, fresh) = match pending {
                Pending::Known(slot) => (slot, false),
                Pending::New(key, labels) => match app.series_ref(&labels) {
                    Ok(series) => (cache.insert(key, series, epoch), true),
                    Err(e) => {
                        report.error = Some(format!("storing samples: {e}"));
                        break;
                    }
                },
            };
            let Some(series) = cache.slots.get(slot as usize).map(|e| e.series) else { continue };
            let result = app.append_ref(series, ts, v);
            let first = cache.slots.get(slot as usize).is_some_and(|e| e.written != epoch);
            let was_written = |cache: &ScrapeCache, last_series: &mut Option<IntSet<SeriesRef>>| {
                let e = &cache.slots[slot as usize];
                e.written == last
                    || (fresh
                        && last_series
                            .get_or_insert_with(|| {
                                let mut s = cache.written_in(last);
                                // Written now under other text: not new either.
                                s.extend(cache.written_in(epoch));
                                s
                            })
                            .contains(&series))
            };
            match result {
                Ok(()) => {
                    report.appended += 1;
                    if first && !was_written(cache, &mut last_series) {
                        report.series_added += 1;
                    }
                }
                // The series is still exposed; don't mark it stale.
                Err(e) if e.is_sample_error() => report.rejected += 1,
                Err(e) => {
                    report.error = Some(format!("storing samples: {e}"));
                    break;
                }
            }
            if first {
                cache.slots[slot as usize].written = epoch;
                written += 1;
            }
        }
    }
    // Series that were exposed last time but not now end with a stale
    // marker; a failed scrape ends all of them, as in Prometheus. A series
    // written now under another key (other text, same labels) is not gone.
    if cache.slots.iter().any(|e| e.written == last) {
        let now = cache.written_in(epoch);
        for gone in cache.written_in(last).into_iter().filter(|r| !now.contains(r)) {
            let _ = app.append_ref(gone, t, STALE_NAN);
        }
    }
    cache.written = written;
    if epoch.is_multiple_of(FORGET_AFTER_SCRAPES) {
        let oldest = epoch.wrapping_sub(FORGET_AFTER_SCRAPES);
        cache.retain(|e| e.seen.wrapping_sub(oldest) <= FORGET_AFTER_SCRAPES);
    }

    let up = if report.error.is_none() { 1.0 } else { 0.0 };
    let values = [
        up,
        duration.as_secs_f64(),
        report.samples_scraped as f64,
        report.samples_post_relabel as f64,
        report.series_added as f64,
    ];
    for ((name, v), known) in REPORT_SERIES.iter().zip(values).zip(cache.report.iter_mut()) {
        let series = match *known {
            Some(series) => series,
            None => {
                let mut l = target_labels.clone();
                l.set(crate::tsdb::METRIC_NAME, name);
                match app.series_ref(&l) {
                    Ok(series) => *known.insert(series),
                    Err(_) => continue,
                }
            }
        };
        if app.append_ref(series, t, v).is_ok() {
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

/// The first of the job's label limits a series breaks, as Prometheus words it.
fn check_label_limits(cfg: &ScrapeConfig, labels: &Labels) -> Option<String> {
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

    fn scrape(cfg: &ScrapeConfig, body: &str, t: i64, cache: &mut ScrapeCache, store: &MemStore) -> ScrapeReport {
        let input = Input::Body(bytes::Bytes::copy_from_slice(body.as_bytes()), Format::Text);
        let mut app = store.appender();
        let r = process(cfg, &target(), input, t, Duration::from_millis(3), cache, app.as_mut());
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
        let mut prev = ScrapeCache::default();
        let r = scrape(&cfg(), "m{job=\"other\"} 1\n", 1000, &mut prev, &store);
        assert_eq!((r.samples_scraped, r.samples_post_relabel, r.series_added), (1, 1, 1));
        let got = last(&store, "m");
        assert_eq!(got[0].0.get("job"), Some("app"));
        assert_eq!(got[0].0.get("exported_job"), Some("other"));

        let store = MemStore::new();
        let mut honor = cfg();
        honor.honor_labels = true;
        scrape(&honor, "m{job=\"other\"} 1\n", 1000, &mut ScrapeCache::default(), &store);
        let got = last(&store, "m");
        assert_eq!(got[0].0.get("job"), Some("other"));
        assert_eq!(got[0].0.get("instance"), Some("h:1"));
    }

    #[test]
    fn report_series_and_staleness() {
        let store = MemStore::new();
        let mut prev = ScrapeCache::default();
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
        assert_eq!(prev.series(), 0);
    }

    #[test]
    fn cached_series_keep_their_identity_and_relabeling() {
        let store = MemStore::new();
        let mut c = cfg();
        c.metric_relabel_configs = vec![crate::config::RelabelConfig {
            source_labels: vec!["__name__".into()],
            regex: crate::config::AnchoredRegex::new("drop_me").expect("regex"),
            action: crate::config::RelabelAction::Drop,
            ..Default::default()
        }];
        let mut cache = ScrapeCache::default();
        let body = "a{x=\"1\"} 1\ndrop_me 5\n";
        let r = scrape(&c, body, 1000, &mut cache, &store);
        assert_eq!((r.samples_scraped, r.samples_post_relabel, r.series_added), (2, 1, 1));
        assert_eq!(cache.slots.len(), 2, "the kept and the dropped series are both remembered");

        // Same text: every line is found in the cache; dropped stays dropped.
        let r = scrape(&c, "a{x=\"1\"} 2\ndrop_me 6\n", 2000, &mut cache, &store);
        assert_eq!((r.samples_scraped, r.samples_post_relabel, r.series_added), (2, 1, 0));
        assert!(last(&store, "drop_me").is_empty());
        // Other spacing, same series: a new cache entry, the same stored series, no stale marker.
        let r = scrape(&c, "a { x=\"1\" } 3\n", 3000, &mut cache, &store);
        assert_eq!((r.series_added, r.appended), (0, 6));
        let a = store.select(&[Matcher::equal("__name__", "a")], 0, i64::MAX).unwrap();
        let values: Vec<f64> = a[0].samples.iter().map(|s| s.v).collect();
        assert_eq!(values, [1.0, 2.0, 3.0]);
    }

    #[test]
    fn the_family_type_is_part_of_a_series_key() {
        // `le` is normalised only under a histogram TYPE, so the same text is another series without it.
        let store = MemStore::new();
        let mut cache = ScrapeCache::default();
        scrape(&cfg(), "# TYPE h histogram\nh_bucket{le=\"1\"} 1\n", 1000, &mut cache, &store);
        let r = scrape(&cfg(), "h_bucket{le=\"1\"} 2\n", 2000, &mut cache, &store);
        assert_eq!(r.series_added, 1);
        let mut got: Vec<(String, f64)> =
            last(&store, "h_bucket").into_iter().map(|(l, v)| (l.get("le").unwrap().to_string(), v)).collect();
        got.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(got[0], ("1".to_string(), 2.0));
        assert_eq!(got[1].0, "1.0");
        assert!(is_stale_nan(got[1].1), "the histogram's bucket went stale");
    }

    #[test]
    fn the_cache_forgets_series_gone_for_many_scrapes() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::default();
        scrape(&cfg(), "a 1\nb 1\n", 1000, &mut cache, &store);
        for i in 0..FORGET_AFTER_SCRAPES as i64 * 2 {
            scrape(&cfg(), "a 1\n", 2000 + i, &mut cache, &store);
        }
        assert_eq!(cache.slots.len(), 1);
        let r = scrape(&cfg(), "a 1\nb 2\n", 9000, &mut cache, &store);
        assert_eq!(r.series_added, 1);
        assert_eq!(last(&store, "b")[0].1, 2.0);
    }

    #[test]
    fn forgetting_moves_entries_without_losing_them() {
        let store = MemStore::new();
        let mut cache = ScrapeCache::default();
        // "gone" takes slot 0; forgetting it moves the last slot into its place.
        scrape(&cfg(), "gone 1\nx 1\ny 1\n", 1000, &mut cache, &store);
        for i in 0..FORGET_AFTER_SCRAPES as i64 * 2 {
            let r = scrape(&cfg(), "x 1\ny 1\n", 2000 + i * 1000, &mut cache, &store);
            assert_eq!((r.series_added, cache.series()), (0, 2));
        }
        assert_eq!(cache.slots.len(), 2);
        for (i, e) in cache.slots.iter().enumerate() {
            assert_eq!(cache.find(e.key), Some(i as u32));
        }
        let r = scrape(&cfg(), "y 2\nx 2\n", 90_000, &mut cache, &store);
        assert_eq!((r.series_added, r.appended), (0, 7));
        assert_eq!(last(&store, "y")[0].1, 2.0);
        // One entry stays 32 bytes: key, reference and two scrape numbers.
        assert_eq!(std::mem::size_of::<CacheEntry>(), 32);
    }

    #[test]
    fn sample_limit_fails_the_whole_scrape() {
        let store = MemStore::new();
        let mut c = cfg();
        c.sample_limit = 1;
        let r = scrape(&c, "a 1\nb 2\n", 1000, &mut ScrapeCache::default(), &store);
        assert!(r.error.unwrap().contains("sample limit exceeded"));
        assert!(last(&store, "a").is_empty());
        assert_eq!(last(&store, "up")[0].1, 0.0);
    }

    #[test]
    fn honors_timestamps_only_when_asked() {
        let store = MemStore::new();
        scrape(&cfg(), "a 1 500\n", 1000, &mut ScrapeCache::default(), &store);
        let s = store.select(&[Matcher::equal("__name__", "a")], 0, 10_000).unwrap();
        assert_eq!(s[0].samples[0].t, 500);
        let store = MemStore::new();
        let mut c = cfg();
        c.honor_timestamps = false;
        scrape(&c, "a 1 500\n", 1000, &mut ScrapeCache::default(), &store);
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
