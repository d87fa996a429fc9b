//! `sightline import`: backfill OpenMetrics text with timestamps — the input
//! `promtool tsdb create-blocks-from openmetrics` reads.

use crate::scrape::exposition::{self, Format};
use crate::tsdb::{Appendable, Labels, TsdbError};
use std::collections::HashSet;

/// Samples per transaction while importing.
const BATCH: usize = 50_000;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportStats {
    pub series: usize,
    pub samples: usize,
    /// Samples refused by the store (out of order or duplicate).
    pub rejected: usize,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: {source}")]
    Parse { file: String, source: exposition::ParseError },
    #[error("{file}: sample {labels} has no timestamp; backfilled data needs one on every sample")]
    NoTimestamp { file: String, labels: Labels },
    #[error("{file}: storing samples: {source}")]
    Store { file: String, source: TsdbError },
}

/// Parses `body` (OpenMetrics; the text format is accepted too) and appends
/// every sample. Nothing is written when the file does not parse.
pub fn import_openmetrics(body: &str, file: &str, store: &dyn Appendable) -> Result<ImportStats, ImportError> {
    let format = if body.trim_end().ends_with("# EOF") { Format::OpenMetrics } else { Format::Text };
    let parsed = exposition::parse(body, format).map_err(|source| ImportError::Parse { file: file.into(), source })?;
    if let Some(s) = parsed.samples.iter().find(|s| s.timestamp_ms.is_none()) {
        return Err(ImportError::NoTimestamp { file: file.into(), labels: s.labels.clone() });
    }
    // Series may be interleaved in the file; ordering by series then time
    // lets the store accept all in-order samples.
    let mut samples = parsed.samples;
    samples.sort_by(|a, b| a.labels.cmp(&b.labels).then(a.timestamp_ms.cmp(&b.timestamp_ms)));

    let mut stats = ImportStats::default();
    let mut series = HashSet::new();
    for chunk in samples.chunks(BATCH) {
        let mut app = store.appender();
        for s in chunk {
            let t = s.timestamp_ms.unwrap_or_default();
            match app.append(&s.labels, t, s.value) {
                Ok(()) => {
                    stats.samples += 1;
                    stats.min_time = Some(stats.min_time.map_or(t, |m| m.min(t)));
                    stats.max_time = Some(stats.max_time.map_or(t, |m| m.max(t)));
                    series.insert(&s.labels);
                }
                Err(e) if e.is_sample_error() => stats.rejected += 1,
                Err(source) => return Err(ImportError::Store { file: file.into(), source }),
            }
        }
        app.commit().map_err(|source| ImportError::Store { file: file.into(), source })?;
    }
    stats.series = series.len();
    Ok(stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Matcher, MemStore, Querier};

    #[test]
    fn imports_with_timestamps_and_rejects_missing_ones() {
        let store = MemStore::new();
        let body = "# TYPE m gauge\nm{a=\"1\"} 1 10\nm{a=\"2\"} 5 10\nm{a=\"1\"} 2 20\n# EOF\n";
        let stats = import_openmetrics(body, "x.om", &store).unwrap();
        assert_eq!((stats.series, stats.samples, stats.rejected), (2, 3, 0));
        assert_eq!((stats.min_time, stats.max_time), (Some(10_000), Some(20_000)));
        let got = store.select(&[Matcher::equal("a", "1")], 0, 30_000).unwrap();
        assert_eq!(got[0].samples.len(), 2);

        let err = import_openmetrics("m 1\n# EOF\n", "y.om", &store).unwrap_err();
        assert!(err.to_string().contains("no timestamp"), "{err}");
    }
}
