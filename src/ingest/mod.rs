//! Ingest paths other than scraping: backfill from OpenMetrics files (and,
//! later, remote_write and OTLP). Everything enters the store through `Appender`.

mod import;

pub use import::{import_openmetrics, ImportError, ImportStats};
