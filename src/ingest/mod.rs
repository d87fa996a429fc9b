//! Ingest paths other than scraping: backfill from OpenMetrics
//! files, the remote-write receiver and /federate (OTLP later). Everything enters the store through `Appender`.

mod federate;
mod import;
pub mod remote_write;

pub use federate::{federate, format_value, LOOKBACK_MS};
pub use import::{detect_format, import, ImportError, ImportStats};
pub use remote_write::{RemoteWriteError, RemoteWriteStats, WriteOutcome};
