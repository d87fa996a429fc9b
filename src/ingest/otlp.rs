//! OTLP/HTTP metrics receiver: an `ExportMetricsServiceRequest` in protobuf
//! or OTLP/JSON, translated to Prometheus series the way Prometheus 3's OTLP
//! endpoint does by default (UnderscoreEscapingWithSuffixes):
//!
//! - names: split on anything but letters and digits, the unit appended as a
//!   word (`s` → `seconds`, `By` → `bytes`, `1/s` → `per_second`), `_total`
//!   for monotonic sums, `_ratio` for gauges of unit `1`;
//! - attribute keys sanitized to label names (`http.method` → `http_method`);
//! - `service.namespace`/`service.name` → `job`, `service.instance.id` →
//!   `instance`, the other resource attributes on a `target_info` series;
//! - sums and gauges as samples, explicit-bucket histograms as `_bucket{le}`,
//!   `_sum`, `_count`, summaries as `{quantile}`, `_sum`, `_count`; a point
//!   flagged "no recorded value" as a staleness marker.
//!
//! Delta temporality and exponential histograms are refused per data point
//! (Prometheus stores neither without feature flags) and reported back as a
//! partial success. The structs below serve both encodings: prost for
//! protobuf, serde (with proto3's JSON mapping) for JSON.

use crate::tsdb::{Appendable, Labels, TsdbError, METRIC_NAME, STALE_NAN};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Largest decompressed request accepted.
pub const MAX_DECODED_BYTES: usize = 32 << 20;

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExportMetricsServiceRequest {
    #[prost(message, repeated, tag = "1")]
    pub resource_metrics: Vec<ResourceMetrics>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ResourceMetrics {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<Resource>,
    #[prost(message, repeated, tag = "2")]
    pub scope_metrics: Vec<ScopeMetrics>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    #[prost(message, repeated, tag = "1")]
    pub attributes: Vec<KeyValue>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ScopeMetrics {
    #[prost(message, repeated, tag = "2")]
    pub metrics: Vec<Metric>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Metric {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub description: String,
    #[prost(string, tag = "3")]
    pub unit: String,
    #[prost(oneof = "Data", tags = "5, 7, 9, 10, 11")]
    #[serde(flatten)]
    pub data: Option<Data>,
}

/// `Metric.data`.
#[derive(Clone, PartialEq, prost::Oneof, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Data {
    #[prost(message, tag = "5")]
    Gauge(Gauge),
    #[prost(message, tag = "7")]
    Sum(Sum),
    #[prost(message, tag = "9")]
    Histogram(Histogram),
    #[prost(message, tag = "10")]
    ExponentialHistogram(ExponentialHistogram),
    #[prost(message, tag = "11")]
    Summary(Summary),
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Gauge {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Sum {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<NumberDataPoint>,
    #[prost(int32, tag = "2")]
    #[serde(deserialize_with = "json::temporality")]
    pub aggregation_temporality: i32,
    #[prost(bool, tag = "3")]
    pub is_monotonic: bool,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Histogram {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<HistogramDataPoint>,
    #[prost(int32, tag = "2")]
    #[serde(deserialize_with = "json::temporality")]
    pub aggregation_temporality: i32,
}

/// Only counted: exponential histograms become native histograms in
/// Prometheus, which this float-only store does not keep.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ExponentialHistogram {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<Ignored>,
}

/// A message whose content is not needed.
#[derive(Clone, PartialEq, prost::Message, Deserialize)]
pub struct Ignored {}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Summary {
    #[prost(message, repeated, tag = "1")]
    pub data_points: Vec<SummaryDataPoint>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NumberDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    #[prost(oneof = "NumberValue", tags = "4, 6")]
    #[serde(flatten)]
    pub value: Option<NumberValue>,
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

/// `NumberDataPoint.value`.
#[derive(Clone, Copy, PartialEq, prost::Oneof, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NumberValue {
    #[prost(double, tag = "4")]
    AsDouble(#[serde(deserialize_with = "json::f64")] f64),
    #[prost(sfixed64, tag = "6")]
    AsInt(#[serde(deserialize_with = "json::i64")] i64),
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HistogramDataPoint {
    #[prost(message, repeated, tag = "9")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "json::u64")]
    pub count: u64,
    #[prost(double, optional, tag = "5")]
    #[serde(deserialize_with = "json::opt_f64")]
    pub sum: Option<f64>,
    #[prost(fixed64, repeated, tag = "6")]
    #[serde(deserialize_with = "json::u64s")]
    pub bucket_counts: Vec<u64>,
    #[prost(double, repeated, tag = "7")]
    #[serde(deserialize_with = "json::f64s")]
    pub explicit_bounds: Vec<f64>,
    #[prost(uint32, tag = "10")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct SummaryDataPoint {
    #[prost(message, repeated, tag = "7")]
    pub attributes: Vec<KeyValue>,
    #[prost(fixed64, tag = "3")]
    #[serde(deserialize_with = "json::u64")]
    pub time_unix_nano: u64,
    #[prost(fixed64, tag = "4")]
    #[serde(deserialize_with = "json::u64")]
    pub count: u64,
    #[prost(double, tag = "5")]
    #[serde(deserialize_with = "json::f64")]
    pub sum: f64,
    #[prost(message, repeated, tag = "6")]
    pub quantile_values: Vec<ValueAtQuantile>,
    #[prost(uint32, tag = "8")]
    pub flags: u32,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ValueAtQuantile {
    #[prost(double, tag = "1")]
    #[serde(deserialize_with = "json::f64")]
    pub quantile: f64,
    #[prost(double, tag = "2")]
    #[serde(deserialize_with = "json::f64")]
    pub value: f64,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValue {
    #[prost(string, tag = "1")]
    pub key: String,
    #[prost(message, optional, tag = "2")]
    pub value: Option<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AnyValue {
    #[prost(oneof = "Any", tags = "1, 2, 3, 4, 5, 6, 7")]
    #[serde(flatten)]
    pub value: Option<Any>,
}

/// `AnyValue.value`.
#[derive(Clone, PartialEq, prost::Oneof, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Any {
    #[prost(string, tag = "1")]
    StringValue(String),
    #[prost(bool, tag = "2")]
    BoolValue(bool),
    #[prost(int64, tag = "3")]
    IntValue(#[serde(deserialize_with = "json::i64")] i64),
    #[prost(double, tag = "4")]
    DoubleValue(#[serde(deserialize_with = "json::f64")] f64),
    #[prost(message, tag = "5")]
    ArrayValue(ArrayValue),
    #[prost(message, tag = "6")]
    KvlistValue(KeyValueList),
    #[prost(bytes, tag = "7")]
    BytesValue(#[serde(deserialize_with = "json::bytes")] Vec<u8>),
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ArrayValue {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<AnyValue>,
}

#[derive(Clone, PartialEq, prost::Message, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct KeyValueList {
    #[prost(message, repeated, tag = "1")]
    pub values: Vec<KeyValue>,
}

/// The answer: empty on full success, else how many points were refused and why.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ExportMetricsServiceResponse {
    #[prost(message, optional, tag = "1")]
    pub partial_success: Option<PartialSuccess>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PartialSuccess {
    #[prost(int64, tag = "1")]
    pub rejected_data_points: i64,
    #[prost(string, tag = "2")]
    pub error_message: String,
}

/// `google.rpc.Status`, the body of an OTLP error answer.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Status {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

const DELTA: i32 = 1;
const NO_RECORDED_VALUE: u32 = 1;

/// How a request body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Protobuf,
    Json,
}

/// Why a request was refused.
#[derive(Debug, thiserror::Error)]
pub enum OtlpError {
    #[error("otlp: body is not valid gzip: {0}")]
    Gzip(String),
    #[error("otlp: decompressed body exceeds the limit of {MAX_DECODED_BYTES} bytes")]
    TooLarge,
    #[error("otlp: body is not a protobuf ExportMetricsServiceRequest: {0}")]
    Protobuf(String),
    #[error("otlp: body is not OTLP/JSON: {0}")]
    Json(String),
    #[error("otlp: storage: {0}")]
    Storage(TsdbError),
}

impl OtlpError {
    /// Whether the sender is at fault (400: do not retry) rather than the server (500/503).
    pub fn is_client_error(&self) -> bool {
        !matches!(self, OtlpError::Storage(_))
    }
}

/// Decompresses (`gzip`: the Content-Encoding) and decodes a request body.
pub fn decode(body: &[u8], encoding: Encoding, gzip: bool) -> Result<ExportMetricsServiceRequest, OtlpError> {
    let inflated;
    let raw = if gzip {
        use std::io::Read;
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_DECODED_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|e| OtlpError::Gzip(e.to_string()))?;
        inflated = out;
        &inflated[..]
    } else {
        body
    };
    if raw.len() > MAX_DECODED_BYTES {
        return Err(OtlpError::TooLarge);
    }
    match encoding {
        Encoding::Protobuf => {
            <ExportMetricsServiceRequest as prost::Message>::decode(raw).map_err(|e| OtlpError::Protobuf(e.to_string()))
        }
        Encoding::Json => serde_json::from_slice(raw).map_err(|e| OtlpError::Json(e.to_string())),
    }
}

/// What one request stored and refused.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct WriteOutcome {
    pub samples_appended: u64,
    /// Samples the store refused (out of order or duplicate).
    pub samples_rejected: u64,
    /// Data points not translated (delta temporality, exponential histograms, no value).
    pub points_rejected: u64,
    /// Why, for the first refused point of each kind.
    pub messages: Vec<String>,
}

/// Translates every data point and appends the samples in one batch.
pub fn write(store: &dyn Appendable, req: &ExportMetricsServiceRequest) -> Result<WriteOutcome, OtlpError> {
    let mut out = WriteOutcome::default();
    let mut samples: Vec<(Labels, i64, f64)> = Vec::new();
    for rm in &req.resource_metrics {
        translate_resource(rm, &mut samples, &mut out);
    }
    let mut app = store.appender();
    for (labels, t, v) in &samples {
        if labels.len() > super::MAX_LABELS_PER_SERIES {
            let limit = super::MAX_LABELS_PER_SERIES;
            out.refuse(
                1,
                format!(
                    "a series of {} has {} labels, more than the limit of {limit}",
                    labels.metric_name().unwrap_or(""),
                    labels.len()
                ),
            );
            continue;
        }
        match app.append(labels, *t, *v) {
            Ok(()) => out.samples_appended += 1,
            Err(e) if e.is_sample_error() => {
                if out.samples_rejected == 0 {
                    out.messages.push(e.to_string());
                }
                out.samples_rejected += 1;
            }
            Err(e) => return Err(OtlpError::Storage(e)),
        }
    }
    app.commit().map_err(OtlpError::Storage)?;
    Ok(out)
}

impl WriteOutcome {
    fn refuse(&mut self, points: usize, why: String) {
        if points == 0 {
            return;
        }
        self.points_rejected += points as u64;
        if !self.messages.contains(&why) {
            self.messages.push(why);
        }
    }
}

/// The labels every series of a resource gets, and its `target_info` series.
fn resource_labels(resource: Option<&Resource>) -> (Labels, Labels) {
    let attrs = resource.map(|r| r.attributes.as_slice()).unwrap_or_default();
    let get = |k: &str| attrs.iter().find(|a| a.key == k).map(|a| any_string(a.value.as_ref()));
    let mut base = Labels::new();
    if let Some(name) = get("service.name") {
        let job = match get("service.namespace") {
            Some(ns) if !ns.is_empty() => format!("{ns}/{name}"),
            _ => name,
        };
        base.set("job", &job);
    }
    if let Some(id) = get("service.instance.id") {
        base.set("instance", &id);
    }
    let mut info = attribute_labels(
        attrs
            .iter()
            .filter(|a| !matches!(a.key.as_str(), "service.name" | "service.namespace" | "service.instance.id")),
    );
    if info.is_empty() {
        return (base, info);
    }
    for l in base.iter() {
        info.set(&l.name, &l.value);
    }
    info.set(METRIC_NAME, "target_info");
    (base, info)
}

fn translate_resource(rm: &ResourceMetrics, samples: &mut Vec<(Labels, i64, f64)>, out: &mut WriteOutcome) {
    let (base, info) = resource_labels(rm.resource.as_ref());
    let first = samples.len();
    for sm in &rm.scope_metrics {
        for m in &sm.metrics {
            translate_metric(m, &base, samples, out);
        }
    }
    // target_info at the newest timestamp of the resource's samples, as Prometheus writes it.
    if !info.is_empty() {
        if let Some(t) = samples[first..].iter().map(|s| s.1).max() {
            samples.push((info, t, 1.0));
        }
    }
}

fn translate_metric(m: &Metric, base: &Labels, samples: &mut Vec<(Labels, i64, f64)>, out: &mut WriteOutcome) {
    let series = |point_attrs: &[KeyValue], name: &str, extra: Option<(&str, String)>| {
        let mut l = attribute_labels(point_attrs.iter());
        for b in base.iter() {
            l.set(&b.name, &b.value);
        }
        if let Some((k, v)) = extra {
            l.set(k, &v);
        }
        l.set(METRIC_NAME, name);
        l
    };
    let Some(data) = &m.data else {
        out.refuse(1, format!("metric {:?} has no data", m.name));
        return;
    };
    match data {
        Data::Gauge(g) => {
            let name = metric_name(&m.name, &m.unit, Kind::Gauge);
            push_numbers(&g.data_points, &name, &m.name, &series, samples, out);
        }
        Data::Sum(s) if s.aggregation_temporality == DELTA => out.refuse(
            s.data_points.len(),
            format!("metric {:?}: delta temporality is not supported; send cumulative sums", m.name),
        ),
        Data::Sum(s) => {
            let kind = if s.is_monotonic { Kind::Counter } else { Kind::Gauge };
            let name = metric_name(&m.name, &m.unit, kind);
            push_numbers(&s.data_points, &name, &m.name, &series, samples, out);
        }
        Data::Histogram(h) if h.aggregation_temporality == DELTA => out.refuse(
            h.data_points.len(),
            format!("metric {:?}: delta temporality is not supported; send cumulative histograms", m.name),
        ),
        Data::Histogram(h) => {
            let name = metric_name(&m.name, &m.unit, Kind::Histogram);
            for p in &h.data_points {
                let (t, val) = point_time_value(p.time_unix_nano, p.flags);
                if p.bucket_counts.len() != p.explicit_bounds.len() + 1 && !p.bucket_counts.is_empty() {
                    out.refuse(
                        1,
                        format!(
                            "metric {:?}: {} bucket counts for {} bounds",
                            m.name,
                            p.bucket_counts.len(),
                            p.explicit_bounds.len()
                        ),
                    );
                    continue;
                }
                let mut cumulative = 0u64;
                for (bound, n) in p.explicit_bounds.iter().zip(&p.bucket_counts) {
                    cumulative += n;
                    let le = Some(("le", crate::promql::format_float(*bound)));
                    samples.push((series(&p.attributes, &format!("{name}_bucket"), le), t, val(cumulative as f64)));
                }
                let inf = Some(("le", "+Inf".to_string()));
                samples.push((series(&p.attributes, &format!("{name}_bucket"), inf), t, val(p.count as f64)));
                push_sum_count(&series, &p.attributes, &name, p.sum, p.count, t, &val, samples);
            }
        }
        Data::ExponentialHistogram(h) => out.refuse(
            h.data_points.len(),
            format!("metric {:?}: exponential histograms (native histograms) are not stored", m.name),
        ),
        Data::Summary(s) => {
            let name = metric_name(&m.name, &m.unit, Kind::Summary);
            for p in &s.data_points {
                let (t, val) = point_time_value(p.time_unix_nano, p.flags);
                for q in &p.quantile_values {
                    let quantile = Some(("quantile", crate::promql::format_float(q.quantile)));
                    samples.push((series(&p.attributes, &name, quantile), t, val(q.value)));
                }
                push_sum_count(&series, &p.attributes, &name, Some(p.sum), p.count, t, &val, samples);
            }
        }
    }
}

/// A histogram or summary point's time, and how its values are stored: as
/// stale markers when the point says it has no recorded value.
fn point_time_value(time_unix_nano: u64, flags: u32) -> (i64, impl Fn(f64) -> f64) {
    let stale = flags & NO_RECORDED_VALUE != 0;
    (millis(time_unix_nano), move |v| if stale { STALE_NAN } else { v })
}

/// The `_sum` (when there is one) and `_count` series of a histogram or summary point.
#[allow(clippy::too_many_arguments)]
fn push_sum_count(
    series: &SeriesLabels,
    attributes: &[KeyValue],
    name: &str,
    sum: Option<f64>,
    count: u64,
    t: i64,
    val: &dyn Fn(f64) -> f64,
    samples: &mut Vec<(Labels, i64, f64)>,
) {
    if let Some(sum) = sum {
        samples.push((series(attributes, &format!("{name}_sum"), None), t, val(sum)));
    }
    samples.push((series(attributes, &format!("{name}_count"), None), t, val(count as f64)));
}

/// Builds a series' labels from point attributes, a name and one extra label (`le`, `quantile`).
type SeriesLabels<'a> = dyn Fn(&[KeyValue], &str, Option<(&str, String)>) -> Labels + 'a;

/// Gauge and sum points: one sample each under `name`.
fn push_numbers(
    points: &[NumberDataPoint],
    name: &str,
    metric: &str,
    series: &SeriesLabels,
    samples: &mut Vec<(Labels, i64, f64)>,
    out: &mut WriteOutcome,
) {
    for p in points {
        if let Some(v) = number_value(p, out, metric) {
            samples.push((series(&p.attributes, name, None), millis(p.time_unix_nano), v));
        }
    }
}

fn number_value(p: &NumberDataPoint, out: &mut WriteOutcome, metric: &str) -> Option<f64> {
    if p.flags & NO_RECORDED_VALUE != 0 {
        return Some(STALE_NAN);
    }
    match p.value {
        Some(NumberValue::AsDouble(v)) => Some(v),
        Some(NumberValue::AsInt(v)) => Some(v as f64),
        None => {
            out.refuse(1, format!("metric {metric:?}: a data point has no value"));
            None
        }
    }
}

fn millis(nanos: u64) -> i64 {
    (nanos / 1_000_000) as i64
}

/// Attribute values as label values: strings as they are, the rest as JSON would show them.
fn any_string(v: Option<&AnyValue>) -> String {
    match v.and_then(|v| v.value.as_ref()) {
        None => String::new(),
        Some(Any::StringValue(s)) => s.clone(),
        Some(Any::BoolValue(b)) => b.to_string(),
        Some(Any::IntValue(i)) => i.to_string(),
        Some(Any::DoubleValue(d)) => crate::promql::format_float(*d),
        Some(Any::BytesValue(b)) => b.iter().map(|x| format!("{x:02x}")).collect(),
        Some(Any::ArrayValue(a)) => {
            let items: Vec<String> =
                a.values.iter().map(|v| serde_json::to_string(&any_string(Some(v))).unwrap_or_default()).collect();
            format!("[{}]", items.join(","))
        }
        Some(Any::KvlistValue(kv)) => {
            let items: Vec<String> =
                kv.values.iter().map(|e| format!("{:?}:{:?}", e.key, any_string(e.value.as_ref()))).collect();
            format!("{{{}}}", items.join(","))
        }
    }
}

/// Attributes as labels; keys that sanitize to the same name get their values joined with `;`.
fn attribute_labels<'a>(attrs: impl Iterator<Item = &'a KeyValue>) -> Labels {
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for a in attrs {
        let value = any_string(a.value.as_ref());
        if value.is_empty() {
            continue;
        }
        by_name.entry(label_name(&a.key)).or_default().push(value);
    }
    Labels::from_pairs(by_name.into_iter().map(|(k, mut v)| {
        v.sort();
        (k, v.join(";"))
    }))
}

/// An attribute key as a Prometheus label name.
pub fn label_name(key: &str) -> String {
    let mut s: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '_' }).collect();
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        s.insert_str(0, "key_");
    } else if s.starts_with('_') && !s.starts_with("__") {
        s.insert_str(0, "key");
    }
    s
}

/// What a metric becomes, for its name's suffixes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Gauge,
    Counter,
    Histogram,
    Summary,
}

/// The Prometheus name of an OTLP metric with its unit and type suffixes.
fn metric_name(name: &str, unit: &str, kind: Kind) -> String {
    let mut tokens: Vec<String> =
        name.split(|c: char| !c.is_ascii_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_string).collect();
    let (main, per) = unit_suffixes(unit);
    if !main.is_empty() && !tokens.contains(&main) {
        tokens.push(main);
    }
    if !per.is_empty() && !tokens.contains(&per) {
        tokens.push("per".into());
        tokens.push(per);
    }
    if kind == Kind::Counter {
        tokens.retain(|t| t != "total");
        tokens.push("total".into());
    }
    if unit == "1" && kind == Kind::Gauge {
        tokens.retain(|t| t != "ratio");
        tokens.push("ratio".into());
    }
    let mut out = tokens.join("_");
    if out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// `ms` → ("milliseconds", ""), `By/s` → ("bytes", "second"); `{...}` annotations dropped.
fn unit_suffixes(unit: &str) -> (String, String) {
    let (main, per) = unit.split_once('/').unwrap_or((unit, ""));
    let clean = |u: &str, map: fn(&str) -> Option<&'static str>| -> String {
        let u = u.trim();
        if u.is_empty() || u.contains('{') {
            return String::new();
        }
        match map(u) {
            Some(word) => word.to_string(),
            None => u.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect(),
        }
    };
    (clean(main, main_unit), clean(per, per_unit))
}

fn main_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" => "kilobytes",
        "MBy" => "megabytes",
        "GBy" => "gigabytes",
        "TBy" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "%" => "percent",
        "1" => "",
        _ => return None,
    })
}

fn per_unit(u: &str) -> Option<&'static str> {
    Some(match u {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => return None,
    })
}

/// proto3's JSON mapping: 64-bit integers may come as strings, floats as
/// "NaN"/"Infinity", enums as numbers or names, bytes as base64.
mod json {
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Uint(u64),
        Float(f64),
        Text(String),
    }

    fn parse<T: std::str::FromStr>(n: Num, what: &str) -> Result<T, String> {
        let text = match n {
            Num::Int(i) => i.to_string(),
            Num::Uint(u) => u.to_string(),
            Num::Float(f) => f.to_string(),
            Num::Text(s) => s,
        };
        text.parse().map_err(|_| format!("{text:?} is not a valid {what}"))
    }

    pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        parse(Num::deserialize(d)?, "unsigned integer").map_err(serde::de::Error::custom)
    }

    pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        parse(Num::deserialize(d)?, "integer").map_err(serde::de::Error::custom)
    }

    pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Num::deserialize(d)? {
            Num::Text(s) => match s.as_str() {
                "NaN" => Ok(f64::NAN),
                "Infinity" => Ok(f64::INFINITY),
                "-Infinity" => Ok(f64::NEG_INFINITY),
                other => other.parse().map_err(|_| serde::de::Error::custom(format!("{other:?} is not a number"))),
            },
            n => parse(n, "number").map_err(serde::de::Error::custom),
        }
    }

    pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        f64(d).map(Some)
    }

    pub fn u64s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u64>, D::Error> {
        Vec::<Num>::deserialize(d)?
            .into_iter()
            .map(|n| parse(n, "unsigned integer").map_err(serde::de::Error::custom))
            .collect()
    }

    pub fn f64s<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        #[derive(Deserialize)]
        struct F(#[serde(deserialize_with = "f64")] f64);
        Ok(Vec::<F>::deserialize(d)?.into_iter().map(|F(v)| v).collect())
    }

    pub fn temporality<'de, D: Deserializer<'de>>(d: D) -> Result<i32, D::Error> {
        match Num::deserialize(d)? {
            Num::Text(s) => match s.as_str() {
                "AGGREGATION_TEMPORALITY_UNSPECIFIED" => Ok(0),
                "AGGREGATION_TEMPORALITY_DELTA" => Ok(1),
                "AGGREGATION_TEMPORALITY_CUMULATIVE" => Ok(2),
                other => other.parse().map_err(|_| serde::de::Error::custom(format!("unknown temporality {other:?}"))),
            },
            n => parse(n, "temporality").map_err(serde::de::Error::custom),
        }
    }

    /// Bytes values are only shown as labels; keep the base64 text's bytes.
    pub fn bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        String::deserialize(d).map(String::into_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Matcher, MemStore, Querier};

    fn kv(k: &str, v: &str) -> KeyValue {
        KeyValue { key: k.into(), value: Some(AnyValue { value: Some(Any::StringValue(v.into())) }) }
    }

    fn point(attrs: Vec<KeyValue>, t_ms: u64, v: f64) -> NumberDataPoint {
        NumberDataPoint {
            attributes: attrs,
            time_unix_nano: t_ms * 1_000_000,
            value: Some(NumberValue::AsDouble(v)),
            flags: 0,
        }
    }

    fn request(metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: vec![
                        kv("service.name", "checkout"),
                        kv("service.namespace", "shop"),
                        kv("service.instance.id", "pod-1"),
                        kv("host.name", "node-a"),
                    ],
                }),
                scope_metrics: vec![ScopeMetrics { metrics }],
            }],
        }
    }

    fn all(store: &MemStore) -> Vec<(String, f64)> {
        let every = Matcher::new(crate::tsdb::MatchKind::Regex, METRIC_NAME, ".+").unwrap();
        let mut out: Vec<(String, f64)> = store
            .select(&[every], 0, i64::MAX)
            .unwrap()
            .into_iter()
            .map(|s| (s.labels.to_string(), s.samples.last().unwrap().v))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    #[test]
    fn names_follow_prometheus_suffix_rules() {
        assert_eq!(
            metric_name("http.server.request.duration", "s", Kind::Histogram),
            "http_server_request_duration_seconds"
        );
        assert_eq!(metric_name("http.server.requests", "{request}", Kind::Counter), "http_server_requests_total");
        assert_eq!(metric_name("requests_total", "1", Kind::Counter), "requests_total");
        assert_eq!(metric_name("system.memory.utilization", "1", Kind::Gauge), "system_memory_utilization_ratio");
        assert_eq!(metric_name("net.io", "By/s", Kind::Gauge), "net_io_bytes_per_second");
        assert_eq!(metric_name("latency_seconds", "s", Kind::Gauge), "latency_seconds");
        assert_eq!(metric_name("3xx.count", "", Kind::Gauge), "_3xx_count");
        assert_eq!(label_name("http.method"), "http_method");
        assert_eq!(label_name("0zone"), "key_0zone");
        assert_eq!(label_name("_private"), "key_private");
        assert_eq!(label_name("__reserved"), "__reserved");
    }

    #[test]
    fn sums_gauges_histograms_and_summaries_become_series() {
        let metrics = vec![
            Metric {
                name: "http.server.requests".into(),
                unit: "{request}".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point(vec![kv("http.method", "GET")], 1000, 7.0)],
                    aggregation_temporality: 2,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "queue.depth".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point(vec![], 1000, 3.0)],
                    aggregation_temporality: 2,
                    is_monotonic: false,
                })),
                ..Default::default()
            },
            Metric {
                name: "temperature".into(),
                unit: "Cel".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        value: Some(NumberValue::AsInt(21)),
                        ..point(vec![], 1000, 0.0)
                    }],
                })),
                ..Default::default()
            },
            Metric {
                name: "rpc.duration".into(),
                unit: "ms".into(),
                data: Some(Data::Histogram(Histogram {
                    data_points: vec![HistogramDataPoint {
                        time_unix_nano: 1_000_000_000,
                        count: 6,
                        sum: Some(42.5),
                        bucket_counts: vec![1, 2, 3],
                        explicit_bounds: vec![10.0, 100.0],
                        ..Default::default()
                    }],
                    aggregation_temporality: 2,
                })),
                ..Default::default()
            },
            Metric {
                name: "gc.pause".into(),
                unit: "s".into(),
                data: Some(Data::Summary(Summary {
                    data_points: vec![SummaryDataPoint {
                        time_unix_nano: 1_000_000_000,
                        count: 4,
                        sum: 0.5,
                        quantile_values: vec![ValueAtQuantile { quantile: 0.99, value: 0.2 }],
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
        ];
        let store = MemStore::new();
        let out = write(&store, &request(metrics)).unwrap();
        assert_eq!(out.points_rejected, 0);
        let job = "instance=\"pod-1\", job=\"shop/checkout\"";
        let mut want = vec![
            (format!("gc_pause_seconds{{{job}, quantile=\"0.99\"}}"), 0.2),
            (format!("gc_pause_seconds_count{{{job}}}"), 4.0),
            (format!("gc_pause_seconds_sum{{{job}}}"), 0.5),
            (format!("http_server_requests_total{{http_method=\"GET\", {job}}}"), 7.0),
            (format!("queue_depth{{{job}}}"), 3.0),
            (format!("rpc_duration_milliseconds_bucket{{{job}, le=\"+Inf\"}}"), 6.0),
            (format!("rpc_duration_milliseconds_bucket{{{job}, le=\"10\"}}"), 1.0),
            (format!("rpc_duration_milliseconds_bucket{{{job}, le=\"100\"}}"), 3.0),
            (format!("rpc_duration_milliseconds_count{{{job}}}"), 6.0),
            (format!("rpc_duration_milliseconds_sum{{{job}}}"), 42.5),
            (format!("target_info{{host_name=\"node-a\", {job}}}"), 1.0),
            (format!("temperature_celsius{{{job}}}"), 21.0),
        ];
        want.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(all(&store), want);
        assert_eq!(out.samples_appended, want.len() as u64);
    }

    #[test]
    fn delta_and_exponential_points_are_refused_and_counted() {
        let metrics = vec![
            Metric {
                name: "d".into(),
                data: Some(Data::Sum(Sum {
                    data_points: vec![point(vec![], 1, 1.0); 3],
                    aggregation_temporality: DELTA,
                    is_monotonic: true,
                })),
                ..Default::default()
            },
            Metric {
                name: "e".into(),
                data: Some(Data::ExponentialHistogram(ExponentialHistogram { data_points: vec![Ignored {}] })),
                ..Default::default()
            },
            Metric {
                name: "ok".into(),
                data: Some(Data::Gauge(Gauge { data_points: vec![point(vec![], 5, 1.0)] })),
                ..Default::default()
            },
        ];
        let store = MemStore::new();
        let out = write(&store, &request(metrics)).unwrap();
        assert_eq!(out.points_rejected, 4);
        assert!(out.messages.iter().any(|m| m.contains("delta")), "{:?}", out.messages);
        assert!(out.messages.iter().any(|m| m.contains("exponential")), "{:?}", out.messages);
        assert_eq!(all(&store).len(), 2, "ok and target_info");
    }

    #[test]
    fn series_with_too_many_labels_are_refused_and_counted() {
        let attrs: Vec<KeyValue> =
            (0..super::super::MAX_LABELS_PER_SERIES).map(|i| kv(&format!("a{i}"), "v")).collect();
        let wide = Metric {
            name: "wide".into(),
            data: Some(Data::Gauge(Gauge { data_points: vec![point(attrs, 5, 1.0)] })),
            ..Default::default()
        };
        let store = MemStore::new();
        let out = write(&store, &request(vec![wide])).unwrap();
        assert_eq!(out.points_rejected, 1);
        assert!(out.messages.iter().any(|m| m.contains("more than the limit of 128")), "{:?}", out.messages);
        assert!(store.select(&[Matcher::equal(METRIC_NAME, "wide")], 0, 10).unwrap().is_empty());
    }

    #[test]
    fn no_recorded_value_is_a_staleness_marker() {
        let mut p = point(vec![], 2000, 0.0);
        p.flags = NO_RECORDED_VALUE;
        let m = Metric {
            name: "g".into(),
            data: Some(Data::Gauge(Gauge { data_points: vec![point(vec![], 1000, 5.0), p] })),
            ..Default::default()
        };
        let store = MemStore::new();
        write(&store, &request(vec![m])).unwrap();
        let got = store.select(&[Matcher::equal(METRIC_NAME, "g")], 0, 3000).unwrap();
        assert!(crate::tsdb::is_stale_nan(got[0].samples[1].v));
    }

    #[test]
    fn protobuf_and_json_decode_to_the_same_request() {
        let req = request(vec![Metric {
            name: "rpc.duration".into(),
            unit: "ms".into(),
            data: Some(Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: vec![kv("code", "200")],
                    time_unix_nano: 1_700_000_000_000_000_000,
                    count: 3,
                    sum: Some(1.5),
                    bucket_counts: vec![1, 2],
                    explicit_bounds: vec![5.0],
                    flags: 0,
                }],
                aggregation_temporality: 2,
            })),
            ..Default::default()
        }]);
        let pb = prost::Message::encode_to_vec(&req);
        assert_eq!(decode(&pb, Encoding::Protobuf, false).unwrap(), req);
        let json = r#"{"resourceMetrics":[{"resource":{"attributes":[
            {"key":"service.name","value":{"stringValue":"checkout"}},
            {"key":"service.namespace","value":{"stringValue":"shop"}},
            {"key":"service.instance.id","value":{"stringValue":"pod-1"}},
            {"key":"host.name","value":{"stringValue":"node-a"}}]},
          "scopeMetrics":[{"scope":{"name":"x"},"metrics":[{"name":"rpc.duration","unit":"ms","histogram":{
            "aggregationTemporality":"AGGREGATION_TEMPORALITY_CUMULATIVE",
            "dataPoints":[{"attributes":[{"key":"code","value":{"stringValue":"200"}}],
              "timeUnixNano":"1700000000000000000","count":"3","sum":1.5,"bucketCounts":["1","2"],"explicitBounds":[5]}]}}]}]}]}"#;
        assert_eq!(decode(json.as_bytes(), Encoding::Json, false).unwrap(), req);

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &pb).unwrap();
        assert_eq!(decode(&gz.finish().unwrap(), Encoding::Protobuf, true).unwrap(), req);
    }

    #[test]
    fn bad_bodies_are_client_errors() {
        for (body, enc, gzip) in [
            (&b"\xff\xff\xff"[..], Encoding::Protobuf, false),
            (&b"{\"resourceMetrics\": 5}"[..], Encoding::Json, false),
            (&b"not gzip"[..], Encoding::Protobuf, true),
        ] {
            let err = decode(body, enc, gzip).unwrap_err();
            assert!(err.is_client_error(), "{err}");
        }
    }
}
