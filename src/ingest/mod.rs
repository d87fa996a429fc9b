//! Ingest paths other than scraping: backfill from OpenMetrics files, the
//! remote-write and OTLP receivers, and /federate. Everything enters the
//! store through `Appender`.

mod federate;
mod import;
pub mod otlp;
pub mod remote_write;

pub use federate::{federate, format_value, LOOKBACK_MS};
pub use import::{detect_format, import, ImportError, ImportStats, InputFormat};
pub use remote_write::{RemoteWriteError, WriteOutcome};

use std::sync::atomic::AtomicU64;

/// Most labels a pushed series may carry (remote write, OTLP). Real series
/// have a few dozen; the bound keeps one hostile request from costing
/// quadratic work or unbounded index memory.
pub const MAX_LABELS_PER_SERIES: usize = 128;

/// Counters of a push receiver (remote write, OTLP), shared by all requests.
#[derive(Debug, Default)]
pub struct ReceiverStats {
    /// Requests received.
    pub requests: AtomicU64,
    /// Requests refused whole (bad compression, bad encoding, invalid labels).
    pub bad_requests: AtomicU64,
    /// Samples stored.
    pub samples_appended: AtomicU64,
    /// Samples or data points refused (out of order, duplicate, untranslatable).
    pub samples_rejected: AtomicU64,
}

impl ReceiverStats {
    /// All counters at zero (for statics).
    pub const fn new() -> Self {
        ReceiverStats {
            requests: AtomicU64::new(0),
            bad_requests: AtomicU64::new(0),
            samples_appended: AtomicU64::new(0),
            samples_rejected: AtomicU64::new(0),
        }
    }
}
