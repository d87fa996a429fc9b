//! The time-series store: labels and series, samples on disk, and the two
//! traits that are its whole surface, [`Appender`] (write) and [`Querier`] (read).
//!
//! Timestamps are milliseconds since the Unix epoch. Intervals are inclusive
//! at both ends: `[mint, maxt]`. Stale markers are stored as the special NaN
//! [`STALE_NAN`]; readers decide what they mean.

pub mod backup;
pub mod codec;
mod db;
mod headlog;
mod index;
mod labels;
mod matcher;
mod mem;
mod paged;
pub mod rollup;
pub mod testdata;

pub use db::{blob_bytes, table_rows, Db, DbStats, Options, DB_FILE};
pub use labels::{Label, Labels, METRIC_NAME};
pub use matcher::{matches_all, MatchKind, Matcher};
pub use mem::MemStore;

use std::sync::Arc;

/// Hasher for keys that are integers already (series ids, references, label-set
/// hashes): one multiply spreads dense ids and keeps hashes uniform; SipHash
/// would cost more than the lookup it serves.
#[derive(Default, Clone, Copy)]
pub struct IntHasher(u64);

impl std::hash::Hasher for IntHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64);
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    fn write_u128(&mut self, n: u128) {
        self.write_u64(n as u64 ^ (n >> 64) as u64);
    }
}

/// A map keyed by integers, hashed with [`IntHasher`].
pub type IntMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<IntHasher>>;
/// A set of integers, hashed with [`IntHasher`].
pub type IntSet<K> = std::collections::HashSet<K, std::hash::BuildHasherDefault<IntHasher>>;

/// The bit pattern Prometheus writes to mark a series stale.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The stale marker as a float.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True for the stale marker (and only for it: other NaNs are ordinary values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sample {
    pub t: i64,
    pub v: f64,
}

/// A series with its samples in time order.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub labels: Labels,
    pub samples: Vec<Sample>,
}

#[derive(Debug, thiserror::Error)]
pub enum TsdbError {
    #[error("sample for {labels} at {t} is out of order (last sample at {last})")]
    OutOfOrder { labels: Labels, t: i64, last: i64 },
    #[error("duplicate sample for {labels} at {t} with a different value")]
    Duplicate { labels: Labels, t: i64 },
    #[error("series without a metric name: {0}")]
    NoMetricName(Labels),
    #[error("database {path}: {source}")]
    Sqlite { path: String, source: rusqlite::Error },
    #[error("{path} is not a Sightline database: {why}")]
    Foreign { path: String, why: String },
    #[error("io error on {path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("database {path} cannot be written ({why}); appends stop until it can, queries keep working")]
    Unwritable { path: String, why: String },
    #[error("backup to {dest} failed: {why}")]
    Backup { dest: String, why: String },
    #[error("storage is shut down")]
    Closed,
    #[error("no series with reference {0}")]
    UnknownRef(u64),
}

impl TsdbError {
    /// Whether the error concerns one sample only (the rest of a batch is fine).
    pub fn is_sample_error(&self) -> bool {
        matches!(self, TsdbError::OutOfOrder { .. } | TsdbError::Duplicate { .. } | TsdbError::NoMetricName(_))
    }
}

/// A store's handle for one series, valid as long as the store is open.
/// Appending by reference skips hashing and looking up the label set, which
/// is most of the cost of a sample a scrape loop has seen before.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SeriesRef(pub u64);

/// A batch of writes that becomes visible to queriers all at once on `commit`.
/// A sample error (out of order, duplicate) rejects that sample only.
pub trait Appender: Send {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError>;
    /// The reference of a label set's series, created if new (it stays
    /// empty unless a sample is appended).
    fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, TsdbError>;
    /// Appends a sample to a series by its reference.
    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), TsdbError>;
    /// The label set behind a reference.
    fn series_labels(&self, series: SeriesRef) -> Option<Labels>;
    /// Makes the batch durable within the store's flush interval and visible to queries.
    fn commit(self: Box<Self>) -> Result<(), TsdbError>;
}

/// Something that hands out appenders (the store, or a test double).
pub trait Appendable: Send + Sync {
    fn appender(&self) -> Box<dyn Appender>;
}

/// What the query engine will do with a selection, so the store can answer
/// from downsampled rollups where raw samples are gone (Prometheus's
/// `storage.SelectHints`, reduced to what Sightline uses).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SelectHints {
    /// Range query step in ms (0 for an instant query).
    pub step: i64,
    /// Range of the matrix selector (or the lookback) in ms.
    pub range: i64,
    /// The function applied to a matrix selector (`rate`, `max_over_time`, ...).
    pub func: Option<String>,
    /// Only each series' newest sample in the range counts (an instant
    /// vector selector at one time, as rules ask): a store may skip older data.
    pub latest: bool,
}

/// One optional value per evaluation step: what [`Querier::select_reduce`]
/// makes of a series.
pub type StepValues = Vec<Option<f64>>;

/// Read access. All intervals are inclusive `[mint, maxt]`; results are sorted
/// by label set.
pub trait Querier: Send + Sync {
    /// Series matching every matcher, with their samples in `[mint, maxt]`.
    /// Series with no sample in the interval are left out.
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError>;
    /// [`Querier::select`] told what the query does with the samples. A store
    /// with rollups answers a range query of step ≥ 5 m from them where raw
    /// samples are gone; the default ignores the hints.
    fn select_hinted(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<Series>, TsdbError> {
        let _ = hints;
        self.select(matchers, mint, maxt)
    }
    /// [`Querier::select_hinted`] reduced series by series, in label order:
    /// `reduce` turns each series' samples (a buffer it may modify) into a
    /// value per step, or None to leave the series out; `f` gets the labels,
    /// the number of samples read and that result, and returns false to stop.
    /// A store can then decode into reused buffers, and reduce on several
    /// threads, instead of holding every series' samples at once.
    fn select_reduce(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        reduce: &(dyn Fn(&mut Vec<Sample>) -> Option<StepValues> + Sync),
        f: &mut dyn FnMut(Labels, usize, Option<StepValues>) -> bool,
    ) -> Result<(), TsdbError> {
        reduce_each(self.select_hinted(matchers, mint, maxt, hints)?, reduce, f);
        Ok(())
    }
    /// Label sets of the series matching every matcher that have samples in `[mint, maxt]`.
    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError>;
    /// Label names used by matching series (all series when `matchers` is empty).
    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        let mut names: Vec<String> =
            self.series(matchers, mint, maxt)?.iter().flat_map(|l| l.iter().map(|l| l.name.clone())).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }
    /// Values of `name` among matching series.
    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        let mut values: Vec<String> =
            self.series(matchers, mint, maxt)?.iter().filter_map(|l| l.get(name).map(str::to_string)).collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

/// [`Querier::select_reduce`] over series already collected.
pub(crate) fn reduce_each(
    series: Vec<Series>,
    reduce: &(dyn Fn(&mut Vec<Sample>) -> Option<StepValues> + Sync),
    f: &mut dyn FnMut(Labels, usize, Option<StepValues>) -> bool,
) {
    for mut s in series {
        let n = s.samples.len();
        let r = reduce(&mut s.samples);
        if !f(s.labels, n, r) {
            break;
        }
    }
}

/// The whole store as the rest of the program sees it.
pub trait Storage: Appendable + Querier {}
impl<T: Appendable + Querier> Storage for T {}

pub type SharedStorage = Arc<dyn Storage>;

/// Milliseconds since the epoch, now.
pub fn now_millis() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}
