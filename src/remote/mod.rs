//! The remote-write sender: forwards every sample Sightline commits (scrapes,
//! rules, the remote-write and OTLP receivers) to other stores (VictoriaMetrics,
//! Mimir, Prometheus) in Prometheus remote write 1.0.
//!
//! Path of a sample: [`Forwarder`] wraps the store's [`Appendable`]; a
//! committed batch is pushed into an in-memory buffer (cheap, on the append
//! path). About once a second a background task takes the buffer, adds the
//! external labels, applies each remote's `write_relabel_configs`, cuts
//! requests of at most `max_samples_per_send` samples and writes them to the
//! durable [`queue::Queue`]. One sender task per remote sends the queue in
//! order and deletes a row only after a 2xx, so an outage of the remote (or a
//! restart of Sightline) loses nothing as long as the queue fits in
//! `queue_max_bytes`; beyond that the oldest requests are dropped and counted.

pub mod queue;
mod sender;

pub use queue::{Queue, QueueSize, Row, QUEUE_FILE};
pub use sender::{classify, encode_metrics, Backoff, SendAction};

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::RemoteWriteConfig;
use crate::ingest::remote_write::{encode, Label, Sample, TimeSeries, WriteRequest};
use crate::tsdb::{
    Appendable, Appender, Labels, Matcher, Querier, SelectHints, Series, SeriesRef, StepValues, TsdbError,
};

/// Why the sender could not start or keep its queue.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// The queue database failed.
    #[error("remote write queue: {what}: {source}")]
    Queue {
        /// What was being done.
        what: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// A file or folder could not be used.
    #[error("remote write queue: {0}")]
    Io(String),
    /// The HTTP client of a remote could not be built (TLS files, headers).
    #[error("remote_write {name:?}: {why}")]
    Client {
        /// The remote's name.
        name: String,
        /// What is wrong.
        why: String,
    },
}

/// Counters and gauges of one remote, shown on /metrics.
#[derive(Debug, Default)]
pub struct RemoteStats {
    /// The remote's name (`remote_name` label).
    pub name: String,
    /// Its URL (`url` label).
    pub url: String,
    /// Samples the remote accepted.
    pub samples_sent: AtomicU64,
    /// Requests that failed (retried or dropped).
    pub failed_sends: AtomicU64,
    /// Samples dropped: refused by the remote with a 4xx, or pushed out of a full queue.
    pub samples_dropped: AtomicU64,
    /// Rows waiting in the durable queue.
    pub queue_rows: AtomicU64,
    /// Bytes waiting in the durable queue.
    pub queue_bytes: AtomicU64,
    /// Timestamp (ms) of the oldest waiting sample; `i64::MIN` when the queue is empty.
    pub oldest_ts: AtomicI64,
    /// The last send error and when (unix seconds) it happened.
    pub last_error: Mutex<Option<(String, f64)>>,
}

impl RemoteStats {
    fn set_size(&self, s: QueueSize) {
        self.queue_rows.store(s.rows, Ordering::Relaxed);
        self.queue_bytes.store(s.bytes, Ordering::Relaxed);
        self.oldest_ts.store(s.oldest_ts.unwrap_or(i64::MIN), Ordering::Relaxed);
    }

    fn set_error(&self, msg: String) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_secs_f64();
        *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some((msg, now));
    }
}

/// One configured remote.
struct Remote {
    cfg: RemoteWriteConfig,
    stats: Arc<RemoteStats>,
    wake: tokio::sync::Notify,
}

/// A committed sample waiting to be batched.
#[derive(Debug, Clone)]
struct Pending {
    labels: Labels,
    t: i64,
    v: f64,
}

struct Shared {
    buffer: Mutex<Vec<Pending>>,
    remotes: Vec<Arc<Remote>>,
    queue: Arc<Queue>,
    external_labels: Labels,
}

/// The store's [`Appendable`] that also forwards every committed sample to
/// the configured remotes. Cheap to clone.
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<dyn Appendable>,
    shared: Arc<Shared>,
}

impl Forwarder {
    /// Opens the durable queue in `data_dir` and starts one batching task and
    /// one sender task per remote on the current tokio runtime.
    pub fn start(
        inner: Arc<dyn Appendable>,
        remotes: &[RemoteWriteConfig],
        external_labels: &Labels,
        data_dir: &Path,
    ) -> Result<Forwarder, RemoteError> {
        let queue = Arc::new(Queue::open(data_dir)?);
        let names: Vec<&str> = remotes.iter().map(|r| r.name.as_str()).collect();
        let forgotten = queue.forget_others(&names)?;
        if forgotten > 0 {
            tracing::warn!(rows = forgotten, "remote write: dropped queued requests of remotes no longer configured");
        }
        let fwd = Self::new(inner, remotes, external_labels, queue);
        for remote in &fwd.shared.remotes {
            let client = sender::client(&remote.cfg)?;
            tokio::spawn(sender::run(remote.clone(), fwd.shared.queue.clone(), client));
        }
        let shared = fwd.shared.clone();
        let every = remotes
            .iter()
            .map(|r| r.queue.batch_send_deadline)
            .min()
            .unwrap_or(Duration::from_secs(1))
            .min(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let s = shared.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || s.flush()).await {
                    tracing::error!("{e}");
                }
            }
        });
        Ok(fwd)
    }

    /// The forwarder without background tasks (tests drive [`Forwarder::flush`] themselves).
    fn new(
        inner: Arc<dyn Appendable>,
        remotes: &[RemoteWriteConfig],
        external_labels: &Labels,
        queue: Arc<Queue>,
    ) -> Forwarder {
        let remotes = remotes
            .iter()
            .map(|cfg| {
                let stats =
                    Arc::new(RemoteStats { name: cfg.name.clone(), url: cfg.url.clone(), ..Default::default() });
                if let Ok(size) = queue.size(&cfg.name) {
                    stats.set_size(size);
                }
                sender::register(stats.clone());
                Arc::new(Remote { cfg: cfg.clone(), stats, wake: tokio::sync::Notify::new() })
            })
            .collect();
        let shared =
            Shared { buffer: Mutex::new(Vec::new()), remotes, queue, external_labels: external_labels.clone() };
        Forwarder { inner, shared: Arc::new(shared) }
    }

    /// Moves buffered samples into the durable queue now (also done about
    /// once a second); call it on shutdown so nothing committed is lost.
    pub fn flush(&self) -> Result<(), RemoteError> {
        self.shared.flush()
    }
}

impl Appendable for Forwarder {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(ForwardingAppender { inner: self.inner.appender(), pending: Vec::new(), shared: self.shared.clone() })
    }
}

/// The store for readers and writers that both query and append (the rule
/// manager): queries go to the store, appends through the [`Forwarder`].
pub struct ForwardingStorage {
    /// Where appends go.
    pub forwarder: Forwarder,
    /// Where queries go.
    pub querier: Arc<dyn Querier>,
}

impl Appendable for ForwardingStorage {
    fn appender(&self) -> Box<dyn Appender> {
        self.forwarder.appender()
    }
}

impl Querier for ForwardingStorage {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError> {
        self.querier.select(matchers, mint, maxt)
    }
    fn select_hinted(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<Series>, TsdbError> {
        // Delegated so rules still read rollups where raw samples are gone.
        self.querier.select_hinted(matchers, mint, maxt, hints)
    }
    fn select_reduce(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        reduce: &(dyn Fn(&mut Vec<crate::tsdb::Sample>) -> Option<StepValues> + Sync),
        f: &mut dyn FnMut(Labels, usize, Option<StepValues>) -> bool,
    ) -> Result<(), TsdbError> {
        // Delegated so rule queries stream from the store as the API's do.
        self.querier.select_reduce(matchers, mint, maxt, hints, reduce, f)
    }
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError> {
        self.querier.series(matchers, mint, maxt)
    }
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        self.querier.label_names(matchers, mint, maxt)
    }
    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        self.querier.label_values(name, matchers, mint, maxt)
    }
}

struct ForwardingAppender {
    inner: Box<dyn Appender>,
    pending: Vec<Pending>,
    shared: Arc<Shared>,
}

impl Appender for ForwardingAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        self.inner.append(labels, t, v)?;
        // Only what the store accepted is forwarded (stale markers included).
        self.pending.push(Pending { labels: labels.clone(), t, v });
        Ok(())
    }

    fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, TsdbError> {
        self.inner.series_ref(labels)
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), TsdbError> {
        self.inner.append_ref(series, t, v)?;
        let labels = self.inner.series_labels(series).ok_or(TsdbError::UnknownRef(series.0))?;
        self.pending.push(Pending { labels, t, v });
        Ok(())
    }

    fn series_labels(&self, series: SeriesRef) -> Option<Labels> {
        self.inner.series_labels(series)
    }

    fn commit(self: Box<Self>) -> Result<(), TsdbError> {
        let ForwardingAppender { inner, pending, shared } = *self;
        inner.commit()?;
        if !pending.is_empty() {
            shared.buffer.lock().unwrap_or_else(|p| p.into_inner()).extend(pending);
        }
        Ok(())
    }
}

impl Shared {
    fn flush(&self) -> Result<(), RemoteError> {
        let batch = std::mem::take(&mut *self.buffer.lock().unwrap_or_else(|p| p.into_inner()));
        if batch.is_empty() {
            return Ok(());
        }
        for remote in &self.remotes {
            let rows = build_requests(&batch, &self.external_labels, &remote.cfg);
            if !rows.is_empty() {
                if let Err(e) = self.queue.push(&remote.cfg.name, &rows) {
                    // The batch is gone; say how much, and let the other remotes still get theirs.
                    let lost: u64 = rows.iter().map(|r| r.1).sum();
                    remote.stats.samples_dropped.fetch_add(lost, Ordering::Relaxed);
                    tracing::error!(remote = %remote.cfg.name, lost, "{e}");
                    continue;
                }
            }
            let dropped = self.queue.enforce_limit(&remote.cfg.name, remote.cfg.queue_max_bytes)?;
            if dropped > 0 {
                remote.stats.samples_dropped.fetch_add(dropped, Ordering::Relaxed);
                tracing::warn!(remote = %remote.cfg.name, dropped, "remote write queue is full: oldest samples dropped");
            }
            remote.stats.set_size(self.queue.size(&remote.cfg.name)?);
            remote.wake.notify_one();
        }
        Ok(())
    }
}

/// Adds external labels (those a series does not have), applies the remote's
/// write relabeling, groups samples by series and cuts requests of at most
/// `max_samples_per_send` samples. Returns (oldest timestamp, samples, body) per request.
fn build_requests(batch: &[Pending], external: &Labels, cfg: &RemoteWriteConfig) -> Vec<(i64, u64, Vec<u8>)> {
    let mut relabeled: HashMap<&Labels, Option<Labels>> = HashMap::new();
    let mut out = Vec::new();
    let mut series: Vec<TimeSeries> = Vec::new();
    let mut index: HashMap<Labels, usize> = HashMap::new();
    let (mut count, mut oldest) = (0usize, i64::MAX);
    let max = cfg.queue.max_samples_per_send.max(1);
    let mut finish =
        |series: &mut Vec<TimeSeries>, index: &mut HashMap<Labels, usize>, count: &mut usize, oldest: &mut i64| {
            if *count == 0 {
                return;
            }
            let req = WriteRequest { timeseries: std::mem::take(series), metadata: Vec::new() };
            out.push((*oldest, *count as u64, encode(&req)));
            index.clear();
            *count = 0;
            *oldest = i64::MAX;
        };
    for p in batch {
        let target = relabeled.entry(&p.labels).or_insert_with(|| {
            let mut l = p.labels.clone();
            for e in external.iter() {
                if l.get(&e.name).is_none() {
                    l.set(&e.name, &e.value);
                }
            }
            crate::scrape::relabel::relabel(&l, &cfg.write_relabel_configs)
        });
        let Some(labels) = target else { continue };
        let i = match index.get(labels) {
            Some(&i) => i,
            None => {
                series.push(TimeSeries {
                    labels: labels.iter().map(|l| Label { name: l.name.clone(), value: l.value.clone() }).collect(),
                    samples: Vec::new(),
                });
                index.insert(labels.clone(), series.len() - 1);
                series.len() - 1
            }
        };
        series[i].samples.push(Sample { value: p.v, timestamp: p.t });
        count += 1;
        oldest = oldest.min(p.t);
        if count >= max {
            finish(&mut series, &mut index, &mut count, &mut oldest);
        }
    }
    finish(&mut series, &mut index, &mut count, &mut oldest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RelabelConfig, RemoteQueueConfig};
    use crate::ingest::remote_write::decode;
    use crate::tsdb::{is_stale_nan, Matcher, MemStore, Querier, STALE_NAN};

    fn remote(name: &str, relabel: Vec<RelabelConfig>, per_send: usize) -> RemoteWriteConfig {
        RemoteWriteConfig {
            url: "http://127.0.0.1:1/api/v1/write".into(),
            name: name.into(),
            remote_timeout: Duration::from_secs(1),
            headers: Default::default(),
            auth: None,
            tls: Default::default(),
            write_relabel_configs: relabel,
            queue: RemoteQueueConfig { max_samples_per_send: per_send, ..Default::default() },
            queue_max_bytes: 1 << 20,
            line: None,
        }
    }

    fn drop_go() -> RelabelConfig {
        RelabelConfig {
            source_labels: vec!["__name__".into()],
            regex: crate::config::AnchoredRegex::new("go_.*").unwrap(),
            action: crate::config::RelabelAction::Drop,
            ..Default::default()
        }
    }

    fn decoded(q: &Queue, name: &str) -> Vec<WriteRequest> {
        let mut out = Vec::new();
        while let Some(r) = q.first(name).unwrap() {
            out.push(decode(&r.body).unwrap());
            q.delete(r.id).unwrap();
        }
        out
    }

    #[test]
    fn committed_samples_are_stored_and_queued_after_relabeling() {
        let store = Arc::new(MemStore::new());
        let queue = Arc::new(Queue::in_memory().unwrap());
        let ext = Labels::from_pairs([("cluster", "eu"), ("job", "ignored")]);
        let fwd = Forwarder::new(
            store.clone(),
            &[remote("all", vec![], 2000), remote("nogo", vec![drop_go()], 2000)],
            &ext,
            queue.clone(),
        );
        let mut app = fwd.appender();
        let up = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let go = Labels::from_pairs([("__name__", "go_goroutines"), ("job", "a")]);
        app.append(&up, 1000, 1.0).unwrap();
        app.append(&go, 1000, 7.0).unwrap();
        app.append(&up, 2000, STALE_NAN).unwrap();
        app.commit().unwrap();
        // An uncommitted appender forwards nothing.
        let mut dropped = fwd.appender();
        dropped.append(&up, 3000, 5.0).unwrap();
        drop(dropped);
        fwd.flush().unwrap();

        let stored = store.select(&[Matcher::equal("__name__", "up")], 0, 10_000).unwrap();
        assert_eq!(stored[0].samples.len(), 2, "the store still gets every sample");

        let all = decoded(&queue, "all");
        assert_eq!(all.len(), 1);
        let up_series = &all[0].timeseries[0];
        let names: Vec<(&str, &str)> = up_series.labels.iter().map(|l| (l.name.as_str(), l.value.as_str())).collect();
        assert_eq!(
            names,
            vec![("__name__", "up"), ("cluster", "eu"), ("job", "a")],
            "external labels added, own job kept"
        );
        assert_eq!(up_series.samples.len(), 2);
        assert!(is_stale_nan(up_series.samples[1].value), "stale markers are forwarded as they are");
        assert_eq!(all[0].timeseries.len(), 2);

        let nogo = decoded(&queue, "nogo");
        let names: Vec<String> = nogo
            .iter()
            .flat_map(|r| r.timeseries.iter())
            .map(|s| s.labels.iter().find(|l| l.name == "__name__").unwrap().value.clone())
            .collect();
        assert_eq!(names, vec!["up".to_string()], "write_relabel_configs dropped go_*");
    }

    #[test]
    fn requests_hold_at_most_max_samples_per_send_in_order() {
        let store = Arc::new(MemStore::new());
        let queue = Arc::new(Queue::in_memory().unwrap());
        let fwd = Forwarder::new(store, &[remote("r", vec![], 3)], &Labels::new(), queue.clone());
        let m = Labels::from_pairs([("__name__", "m")]);
        for t in 1..=7 {
            let mut app = fwd.appender();
            app.append(&m, t * 1000, t as f64).unwrap();
            app.commit().unwrap();
        }
        fwd.flush().unwrap();
        assert_eq!(queue.size("r").unwrap().oldest_ts, Some(1000));
        let reqs = decoded(&queue, "r");
        let sizes: Vec<usize> = reqs.iter().map(|r| r.timeseries.iter().map(|s| s.samples.len()).sum()).collect();
        assert_eq!(sizes, vec![3, 3, 1]);
        let ts: Vec<i64> = reqs.iter().flat_map(|r| r.timeseries[0].samples.iter().map(|s| s.timestamp)).collect();
        assert_eq!(ts, (1..=7).map(|t| t * 1000).collect::<Vec<_>>(), "queue order is commit order");
    }

    #[test]
    fn full_queue_drops_oldest_and_counts() {
        let store = Arc::new(MemStore::new());
        let queue = Arc::new(Queue::in_memory().unwrap());
        let mut cfg = remote("small", vec![], 1);
        let m = Labels::from_pairs([("__name__", "m")]);
        // Measure one request, then allow two.
        let one = build_requests(&[Pending { labels: m.clone(), t: 1, v: 1.0 }], &Labels::new(), &cfg)[0].2.len();
        cfg.queue_max_bytes = 2 * one as u64;
        let fwd = Forwarder::new(store, &[cfg], &Labels::new(), queue.clone());
        let mut app = fwd.appender();
        for t in 1..=5 {
            app.append(&m, t, 1.0).unwrap();
        }
        app.commit().unwrap();
        fwd.flush().unwrap();
        let stats = &fwd.shared.remotes[0].stats;
        assert_eq!(stats.samples_dropped.load(Ordering::Relaxed), 3);
        assert_eq!(stats.queue_rows.load(Ordering::Relaxed), 2);
        let ts: Vec<i64> = decoded(&queue, "small").iter().map(|r| r.timeseries[0].samples[0].timestamp).collect();
        assert_eq!(ts, vec![4, 5], "the newest survive");
    }
}
