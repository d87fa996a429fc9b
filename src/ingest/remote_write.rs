//! Prometheus remote write 1.0 receiver: a snappy block-compressed protobuf
//! `WriteRequest`, decoded with hand-written prost structs (no protoc), and
//! appended through [`Appendable`]. HTTP lives in `web::ingest_api`; this file
//! only turns bytes into samples so it can be tested without a server.

use super::ReceiverStats;
use crate::tsdb::{Appendable, Labels, TsdbError, METRIC_NAME};
use std::sync::atomic::Ordering;

/// Largest decompressed request accepted (Prometheus sends ~2000 samples per request).
pub const MAX_DECODED_BYTES: usize = 32 << 20;

/// `prometheus.WriteRequest` (fields 1 and 3; 2 is reserved upstream).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
    #[prost(message, repeated, tag = "3")]
    pub metadata: Vec<MetricMetadata>,
}

/// `prometheus.TimeSeries`; exemplars (3) and native histograms (4) are skipped by prost as unknown fields.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`: value and timestamp in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prometheus.MetricMetadata` (decoded so it is accepted; not stored).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricMetadata {
    #[prost(int32, tag = "1")]
    pub r#type: i32,
    #[prost(string, tag = "2")]
    pub metric_family_name: String,
    #[prost(string, tag = "4")]
    pub help: String,
    #[prost(string, tag = "5")]
    pub unit: String,
}

/// Why a remote-write request was refused or only partly stored.
#[derive(Debug, thiserror::Error)]
pub enum RemoteWriteError {
    #[error("remote write: body is not snappy block-compressed: {0}")]
    Snappy(String),
    #[error("remote write: decompressed body of {0} bytes exceeds the limit of {MAX_DECODED_BYTES}")]
    TooLarge(usize),
    #[error("remote write: body is not a protobuf WriteRequest: {0}")]
    Protobuf(String),
    #[error("remote write: series {index}: {why}")]
    InvalidSeries { index: usize, why: String },
    #[error("remote write: {rejected} of {total} samples rejected (out of order or duplicate); first: {first}")]
    SamplesRejected { rejected: u64, total: u64, first: String },
    #[error("remote write: storage: {0}")]
    Storage(TsdbError),
}

impl RemoteWriteError {
    /// Whether the client is at fault (Prometheus answers 400 so senders do not retry) or the server (500).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, RemoteWriteError::Storage(_))
    }
}

/// What one request stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOutcome {
    /// Samples stored.
    pub appended: u64,
    /// Samples rejected (out of order or duplicate); the rest were still stored.
    pub rejected: u64,
}

/// Decompresses and decodes a remote-write body.
pub fn decode(body: &[u8]) -> Result<WriteRequest, RemoteWriteError> {
    let len = snap::raw::decompress_len(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    if len > MAX_DECODED_BYTES {
        return Err(RemoteWriteError::TooLarge(len));
    }
    let raw = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| RemoteWriteError::Snappy(e.to_string()))?;
    <WriteRequest as prost::Message>::decode(raw.as_slice()).map_err(|e| RemoteWriteError::Protobuf(e.to_string()))
}

/// Encodes a request as a sender would (protobuf, then snappy block); used by tests and tools.
pub fn encode(req: &WriteRequest) -> Vec<u8> {
    let raw = prost::Message::encode_to_vec(req);
    // Compressing an in-memory buffer only fails for inputs over ~4 GiB.
    snap::raw::Encoder::new().compress_vec(&raw).unwrap_or_default()
}

/// Checks one series' labels the way Prometheus does and builds the label set.
fn series_labels(index: usize, ts: &TimeSeries) -> Result<Labels, RemoteWriteError> {
    let bad = |why: String| RemoteWriteError::InvalidSeries { index, why };
    if ts.labels.len() > super::MAX_LABELS_PER_SERIES {
        return Err(bad(format!(
            "{} labels, more than the limit of {}",
            ts.labels.len(),
            super::MAX_LABELS_PER_SERIES
        )));
    }
    let mut names: Vec<&str> = Vec::with_capacity(ts.labels.len());
    for l in &ts.labels {
        if !valid_label_name(&l.name) {
            return Err(bad(format!("invalid label name {:?}", l.name)));
        }
        if names.contains(&l.name.as_str()) {
            return Err(bad(format!("duplicate label name {:?}", l.name)));
        }
        names.push(&l.name);
    }
    let labels =
        Labels::from_pairs(ts.labels.iter().filter(|l| !l.value.is_empty()).map(|l| (l.name.clone(), l.value.clone())));
    match labels.get(METRIC_NAME) {
        None => Err(bad(format!("label set without {METRIC_NAME}: {labels}"))),
        Some(name) if !valid_metric_name(name) => Err(bad(format!("invalid metric name {name:?}"))),
        Some(_) => Ok(labels),
    }
}

fn valid_label_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn valid_metric_name(n: &str) -> bool {
    let mut chars = n.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// Validates every series first (a bad label set refuses the whole request, as
/// Prometheus does), then appends all samples in one batch. Out-of-order and
/// duplicate samples are counted and skipped; the others are committed, and the
/// answer is then [`RemoteWriteError::SamplesRejected`] (400, so senders do not retry).
pub fn write(
    store: &dyn Appendable,
    req: &WriteRequest,
    stats: &ReceiverStats,
) -> Result<WriteOutcome, RemoteWriteError> {
    stats.requests.fetch_add(1, Ordering::Relaxed);
    let labels: Vec<Labels> = match req.timeseries.iter().enumerate().map(|(i, ts)| series_labels(i, ts)).collect() {
        Ok(l) => l,
        Err(e) => {
            stats.bad_requests.fetch_add(1, Ordering::Relaxed);
            return Err(e);
        }
    };
    let mut app = store.appender();
    let mut out = WriteOutcome { appended: 0, rejected: 0 };
    let mut first: Option<String> = None;
    for (ts, labels) in req.timeseries.iter().zip(&labels) {
        for s in &ts.samples {
            match app.append(labels, s.timestamp, s.value) {
                Ok(()) => out.appended += 1,
                Err(e) if e.is_sample_error() => {
                    out.rejected += 1;
                    first.get_or_insert_with(|| e.to_string());
                }
                Err(e) => return Err(RemoteWriteError::Storage(e)),
            }
        }
    }
    app.commit().map_err(RemoteWriteError::Storage)?;
    stats.samples_appended.fetch_add(out.appended, Ordering::Relaxed);
    stats.samples_rejected.fetch_add(out.rejected, Ordering::Relaxed);
    match first {
        Some(first) => {
            Err(RemoteWriteError::SamplesRejected { rejected: out.rejected, total: out.appended + out.rejected, first })
        }
        None => Ok(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Matcher, MemStore, Querier};

    fn series(pairs: &[(&str, &str)], samples: &[(i64, f64)]) -> TimeSeries {
        TimeSeries {
            labels: pairs.iter().map(|(n, v)| Label { name: n.to_string(), value: v.to_string() }).collect(),
            samples: samples.iter().map(|&(t, v)| Sample { timestamp: t, value: v }).collect(),
        }
    }

    fn stored(store: &MemStore, name: &str) -> Vec<(i64, f64)> {
        let s = store.select(&[Matcher::equal(METRIC_NAME, name)], i64::MIN, i64::MAX).unwrap();
        s.iter().flat_map(|s| s.samples.iter().map(|x| (x.t, x.v))).collect()
    }

    #[test]
    fn round_trip_through_snappy_and_protobuf_stores_samples() {
        let req = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "up"), ("job", "a")], &[(1000, 1.0), (2000, 0.0)]),
                series(&[("job", "b"), ("__name__", "http_requests_total")], &[(1000, 42.5)]),
            ],
            metadata: vec![],
        };
        let body = encode(&req);
        let decoded = decode(&body).unwrap();
        assert_eq!(decoded, req);
        let store = MemStore::new();
        let stats = ReceiverStats::default();
        let out = write(&store, &decoded, &stats).unwrap();
        assert_eq!(out, WriteOutcome { appended: 3, rejected: 0 });
        assert_eq!(stored(&store, "up"), vec![(1000, 1.0), (2000, 0.0)]);
        assert_eq!(stored(&store, "http_requests_total"), vec![(1000, 42.5)]);
        let s = store.series(&[Matcher::equal(METRIC_NAME, "http_requests_total")], 0, 5000).unwrap();
        assert_eq!(s[0].get("job"), Some("b"));
        assert_eq!(stats.samples_appended.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn bad_snappy_is_a_client_error() {
        let err = decode(b"\xff\xff\xff\xff\xffnot snappy").unwrap_err();
        assert!(matches!(err, RemoteWriteError::Snappy(_)), "{err}");
        assert!(err.is_client_error());
    }

    #[test]
    fn malformed_protobuf_is_a_client_error() {
        // Valid snappy around bytes that are not a WriteRequest (field 1 claims 100 bytes, has 2).
        let body = snap::raw::Encoder::new().compress_vec(&[0x0a, 100, 1, 2]).unwrap();
        let err = decode(&body).unwrap_err();
        assert!(matches!(err, RemoteWriteError::Protobuf(_)), "{err}");
    }

    #[test]
    fn series_without_name_refuses_whole_request() {
        let req = WriteRequest {
            timeseries: vec![series(&[("__name__", "ok")], &[(1, 1.0)]), series(&[("job", "x")], &[(1, 1.0)])],
            metadata: vec![],
        };
        let store = MemStore::new();
        let stats = ReceiverStats::default();
        let err = write(&store, &req, &stats).unwrap_err();
        assert!(err.to_string().contains("series 1") && err.to_string().contains("without __name__"), "{err}");
        assert!(stored(&store, "ok").is_empty(), "nothing stored from a refused request");
        assert_eq!(stats.bad_requests.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn invalid_and_duplicate_label_names_are_refused() {
        let store = MemStore::new();
        let stats = ReceiverStats::default();
        let dup = WriteRequest {
            timeseries: vec![series(&[("__name__", "m"), ("a", "1"), ("a", "2")], &[(1, 1.0)])],
            metadata: vec![],
        };
        assert!(write(&store, &dup, &stats).unwrap_err().to_string().contains("duplicate label name \"a\""));
        let bad =
            WriteRequest { timeseries: vec![series(&[("__name__", "m"), ("1a", "1")], &[(1, 1.0)])], metadata: vec![] };
        assert!(write(&store, &bad, &stats).unwrap_err().to_string().contains("invalid label name"));
        let badname = WriteRequest { timeseries: vec![series(&[("__name__", "a-b")], &[(1, 1.0)])], metadata: vec![] };
        assert!(write(&store, &badname, &stats).unwrap_err().to_string().contains("invalid metric name"));
        let names: Vec<String> = (0..super::super::MAX_LABELS_PER_SERIES).map(|i| format!("l{i}")).collect();
        let mut many: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "v")).collect();
        many.push(("__name__", "m"));
        let wide = WriteRequest { timeseries: vec![series(&many, &[(1, 1.0)])], metadata: vec![] };
        let err = write(&store, &wide, &stats).unwrap_err();
        assert!(err.is_client_error() && err.to_string().contains("more than the limit of 128"), "{err}");
        assert_eq!(stats.bad_requests.load(Ordering::Relaxed), 4, "every refusal is counted");
    }

    #[test]
    fn out_of_order_samples_are_counted_and_the_rest_stored() {
        let store = MemStore::new();
        let stats = ReceiverStats::default();
        let first = WriteRequest { timeseries: vec![series(&[("__name__", "m")], &[(5000, 1.0)])], metadata: vec![] };
        write(&store, &first, &stats).unwrap();
        let late = WriteRequest {
            timeseries: vec![
                series(&[("__name__", "m")], &[(1000, 9.0), (6000, 2.0)]),
                series(&[("__name__", "n")], &[(1000, 3.0)]),
            ],
            metadata: vec![],
        };
        let err = write(&store, &late, &stats).unwrap_err();
        match &err {
            RemoteWriteError::SamplesRejected { rejected, total, .. } => assert_eq!((*rejected, *total), (1, 3)),
            other => panic!("unexpected {other}"),
        }
        assert!(err.is_client_error());
        assert_eq!(stored(&store, "m"), vec![(5000, 1.0), (6000, 2.0)]);
        assert_eq!(stored(&store, "n"), vec![(1000, 3.0)]);
        assert_eq!(stats.samples_rejected.load(Ordering::Relaxed), 1);
        assert_eq!(stats.samples_appended.load(Ordering::Relaxed), 3);
    }
}
