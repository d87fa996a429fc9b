//! Sightline's own metrics, kept with prometheus-client and served at
//! `/metrics`; the default config scrapes them into Sightline's own store.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

mod process;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub job: String,
}

/// One scrape target (not `job`/`instance`: those would clash with the
/// labels Sightline's own scrape attaches).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    pub scrape_job: String,
    pub target: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct QueryLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    pub handler: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HandlerLabels {
    pub handler: String,
}

/// Every metric Sightline exposes about itself.
pub struct Metrics {
    registry: Registry,
    pub scrapes: Family<JobLabels, Counter>,
    pub scrape_failures: Family<JobLabels, Counter>,
    pub samples_appended: Counter,
    pub samples_rejected: Family<JobLabels, Counter>,
    pub query_duration: Family<QueryLabels, Histogram>,
    pub http_requests: Family<HttpLabels, Counter>,
    pub http_duration: Family<HandlerLabels, Histogram>,
    pub tsdb_series: Gauge,
    pub tsdb_size_bytes: Gauge,
    pub tsdb_active_series: Gauge,
    pub tsdb_memory_bytes: Gauge,
    pub tsdb_unwritable: Gauge,
    pub tsdb_out_of_order: Counter,
    pub tsdb_duplicates: Counter,
    pub tsdb_write_errors: Counter,
    /// Retention figures: [used bytes, limit], [time rows, size rows, size steps].
    pub tsdb_retention_gauges: [Gauge; 2],
    pub tsdb_retention_counters: [Counter; 3],
    pub tsdb_head_series: Gauge,
    /// Series each target exposed in its last scrape (its active series).
    pub target_series: Family<TargetLabels, Gauge>,
    pub targets: Family<JobLabels, Gauge>,
    process: process::ProcessCollector,
}

fn seconds_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let scrapes = Family::<JobLabels, Counter>::default();
        let scrape_failures = Family::<JobLabels, Counter>::default();
        let samples_appended = Counter::default();
        let samples_rejected = Family::<JobLabels, Counter>::default();
        let query_duration =
            Family::<QueryLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let http_requests = Family::<HttpLabels, Counter>::default();
        let http_duration =
            Family::<HandlerLabels, Histogram>::new_with_constructor(seconds_histogram as fn() -> Histogram);
        let tsdb_series = Gauge::default();
        let tsdb_size_bytes = Gauge::default();
        let targets = Family::<JobLabels, Gauge>::default();
        let (tsdb_active_series, tsdb_memory_bytes, tsdb_unwritable) =
            (Gauge::default(), Gauge::default(), Gauge::default());
        let (tsdb_out_of_order, tsdb_duplicates, tsdb_write_errors) =
            (Counter::default(), Counter::default(), Counter::default());
        registry.register("sightline_tsdb_active_series", "Series with an open head chunk", tsdb_active_series.clone());
        registry.register(
            "sightline_tsdb_memory_bytes",
            "The store's estimate of its own memory use",
            tsdb_memory_bytes.clone(),
        );
        registry.register(
            "sightline_tsdb_unwritable",
            "1 while the store refuses appends because writing failed (e.g. a full disk)",
            tsdb_unwritable.clone(),
        );
        registry.register(
            "sightline_tsdb_out_of_order_samples",
            "Samples refused as out of order",
            tsdb_out_of_order.clone(),
        );
        registry.register(
            "sightline_tsdb_duplicate_samples",
            "Samples refused as duplicates with a different value",
            tsdb_duplicates.clone(),
        );
        registry.register(
            "sightline_tsdb_write_errors",
            "Failed writes to the database file",
            tsdb_write_errors.clone(),
        );
        let tsdb_retention_gauges: [Gauge; 2] = Default::default();
        let tsdb_retention_counters: [Counter; 3] = Default::default();
        registry.register(
            "sightline_tsdb_used_bytes",
            "Bytes of the database file in use (free pages left out)",
            tsdb_retention_gauges[0].clone(),
        );
        registry.register(
            "sightline_tsdb_retention_limit_bytes",
            "storage.retention_size (0 when unset)",
            tsdb_retention_gauges[1].clone(),
        );
        registry.register(
            "sightline_tsdb_time_retention_deleted_rows",
            "Blocks, chunks and rollups deleted for being older than the retention",
            tsdb_retention_counters[0].clone(),
        );
        registry.register(
            "sightline_tsdb_size_retention_deleted_rows",
            "Blocks, chunks and rollups deleted, oldest first, because the database exceeded storage.retention_size",
            tsdb_retention_counters[1].clone(),
        );
        registry.register(
            "sightline_tsdb_size_retentions",
            "Retention steps that deleted data because the database exceeded storage.retention_size",
            tsdb_retention_counters[2].clone(),
        );
        let tsdb_head_series = Gauge::default();
        let target_series = Family::<TargetLabels, Gauge>::default();
        registry.register(
            "sightline_tsdb_head_series",
            "Series held in the head (an open chunk, or sealed chunks not yet written)",
            tsdb_head_series.clone(),
        );
        registry.register(
            "sightline_target_series",
            "Series each scrape target exposed in its last scrape, after relabeling",
            target_series.clone(),
        );
        registry.register("sightline_scrapes", "Scrapes attempted, by job", scrapes.clone());
        registry.register("sightline_scrape_failures", "Scrapes that failed, by job", scrape_failures.clone());
        registry.register("sightline_samples_appended", "Samples appended to the store", samples_appended.clone());
        registry.register(
            "sightline_samples_rejected",
            "Samples rejected by the store (out of order, duplicate), by job",
            samples_rejected.clone(),
        );
        registry.register(
            "sightline_query_duration_seconds",
            "PromQL query evaluation time, by kind (instant, range)",
            query_duration.clone(),
        );
        registry.register(
            "sightline_http_requests",
            "HTTP requests served, by handler and status code",
            http_requests.clone(),
        );
        registry.register(
            "sightline_http_request_duration_seconds",
            "HTTP request latency, by handler",
            http_duration.clone(),
        );
        registry.register("sightline_tsdb_series", "Series in the store", tsdb_series.clone());
        registry.register("sightline_tsdb_size_bytes", "Size of the database files on disk", tsdb_size_bytes.clone());
        registry.register("sightline_targets", "Scrape targets, by job", targets.clone());
        Metrics {
            registry,
            scrapes,
            scrape_failures,
            samples_appended,
            samples_rejected,
            query_duration,
            http_requests,
            http_duration,
            tsdb_series,
            tsdb_size_bytes,
            targets,
            tsdb_active_series,
            tsdb_memory_bytes,
            tsdb_unwritable,
            tsdb_out_of_order,
            tsdb_duplicates,
            tsdb_write_errors,
            tsdb_retention_gauges,
            tsdb_retention_counters,
            tsdb_head_series,
            target_series,
            process: process::ProcessCollector::new(),
        }
    }

    /// The metrics in the Prometheus text format.
    pub fn encode(&self) -> String {
        self.encode_with("")
    }

    /// The metrics followed by `extra` families (already encoded by a
    /// module that keeps its own registry), ending with `# EOF`.
    pub fn encode_with(&self, extra: &str) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        self.process.encode(&mut out);
        out.push_str(extra);
        out.push_str("# EOF\n");
        out
    }

    /// Copies the store's figures into the exported metrics (counters move
    /// forward by what the store counted since the last call).
    pub fn observe_store(&self, stats: &crate::tsdb::DbStats) {
        let advance = |c: &Counter, total: u64| {
            let seen = c.get();
            if total > seen {
                c.inc_by(total - seen);
            }
        };
        self.tsdb_series.set(stats.series as i64);
        self.tsdb_size_bytes.set(stats.size_bytes as i64);
        self.tsdb_active_series.set(stats.active_series as i64);
        self.tsdb_memory_bytes.set(stats.memory_bytes as i64);
        self.tsdb_unwritable.set(i64::from(stats.unwritable));
        advance(&self.tsdb_out_of_order, stats.out_of_order);
        advance(&self.tsdb_duplicates, stats.duplicates);
        advance(&self.tsdb_write_errors, stats.write_errors);
        self.tsdb_head_series.set(stats.head_series as i64);
        self.tsdb_retention_gauges[0].set(stats.used_bytes as i64);
        self.tsdb_retention_gauges[1].set(stats.retention_size.unwrap_or(0) as i64);
        advance(&self.tsdb_retention_counters[0], stats.time_retention_rows);
        advance(&self.tsdb_retention_counters[1], stats.size_retention_rows);
        advance(&self.tsdb_retention_counters[2], stats.size_retentions);
    }

    /// The registry, for modules that register their own metrics at start-up.
    pub fn registry_mut(&mut self) -> &mut Registry {
        &mut self.registry
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_registered_metrics() {
        let m = Metrics::new();
        m.samples_appended.inc_by(3);
        m.http_requests.get_or_create(&HttpLabels { handler: "/api/v1/query".into(), code: "200".into() }).inc();
        let text = m.encode();
        assert!(text.contains("sightline_samples_appended_total 3"), "{text}");
        assert!(text.contains(r#"sightline_http_requests_total{handler="/api/v1/query",code="200"} 1"#), "{text}");
        assert!(text.contains("process_resident_memory_bytes"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }
}
