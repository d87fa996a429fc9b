//! The Prometheus HTTP API v1 (the subset Grafana, promtool and scripts use),
//! with Prometheus's JSON shapes and error format.

use super::params::{parse_duration_ms, parse_time, rfc3339, Params};
use super::AppState;
use crate::promql::{self, QueryError};
use crate::scrape::format_duration;
use crate::selfmon::QueryLabels;
use crate::tsdb::{Labels, Matcher};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Map, Value};

/// Prometheus refuses range queries with more points than this per series.
const MAX_POINTS: i64 = 11_000;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/query", get(query).post(query))
        .route("/api/v1/query_range", get(query_range).post(query_range))
        .route("/api/v1/series", get(series).post(series))
        .route("/api/v1/labels", get(labels).post(labels))
        .route("/api/v1/label/{name}/values", get(label_values))
        .route("/api/v1/targets", get(targets))
        .route("/api/v1/targets/metadata", get(targets_metadata))
        .route("/api/v1/metadata", get(metadata))
        .route("/api/v1/query_exemplars", get(query_exemplars).post(query_exemplars))
        .route("/api/v1/format_query", get(format_query).post(format_query))
        .route("/api/v1/parse_query", get(parse_query).post(parse_query))
        .route("/api/v1/status/tsdb", get(status_tsdb))
        .route("/api/v1/status/buildinfo", get(buildinfo))
        .route("/api/v1/status/config", get(status_config))
        .route("/api/v1/status/runtimeinfo", get(runtimeinfo))
        .route("/api/v1/status/flags", get(flags))
}

/// An API error: Prometheus's `{"status":"error","errorType":..,"error":..}`.
#[derive(Debug)]
pub struct ApiError {
    kind: &'static str,
    message: String,
}

impl ApiError {
    fn bad_data(message: impl Into<String>) -> Self {
        ApiError { kind: "bad_data", message: message.into() }
    }

    fn internal(message: impl Into<String>) -> Self {
        ApiError { kind: "internal", message: message.into() }
    }

    fn param(name: &str, why: impl std::fmt::Display) -> Self {
        Self::bad_data(format!("invalid parameter {name:?}: {why}"))
    }
}

impl From<QueryError> for ApiError {
    fn from(e: QueryError) -> Self {
        let kind = e.error_type();
        match &e {
            QueryError::Timeout(_) => crate::auth::stats::count(crate::auth::stats::Refused::QueryTimeout),
            QueryError::TooManySamples => crate::auth::stats::count(crate::auth::stats::Refused::QueryTooManySamples),
            _ => {}
        }
        let message = match &e {
            QueryError::Parse(p) => format!("invalid parameter \"query\": {}", parse_message(p)),
            other => other.to_string(),
        };
        ApiError { kind, message }
    }
}

/// `1:5: parse error: ...` as Prometheus words it, from the typed parse error.
fn parse_message(p: &promql::ParseError) -> String {
    match p.position {
        Some(pos) if !p.message.starts_with(|c: char| c.is_ascii_digit()) => {
            format!("1:{}: parse error: {}", pos + 1, p.message)
        }
        _ if p.message.contains("parse error") => p.message.clone(),
        _ => format!("parse error: {}", p.message),
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match self.kind {
            "bad_data" => StatusCode::BAD_REQUEST,
            "execution" => StatusCode::UNPROCESSABLE_ENTITY,
            "timeout" | "canceled" => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, Json(json!({"status": "error", "errorType": self.kind, "error": self.message}))).into_response()
    }
}

fn success(data: Value) -> Json<Value> {
    Json(json!({"status": "success", "data": data}))
}

type ApiResult = Result<Json<Value>, ApiError>;

fn time_param(p: &Params, name: &str, default: i64) -> Result<i64, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(default),
        Some(s) => parse_time(s).map_err(|e| ApiError::param(name, e)),
    }
}

async fn query(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let q = p.get("query").unwrap_or_default().to_string();
    let t = time_param(&p, "time", crate::tsdb::now_millis())?;
    let _slot = st.query_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    let started = std::time::Instant::now();
    let (engine, querier) = (st.engine.clone(), st.querier.clone());
    let result = tokio::task::spawn_blocking(move || engine.instant_query(querier.as_ref(), &q, t))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    st.metrics
        .query_duration
        .get_or_create(&QueryLabels { kind: "instant".into() })
        .observe(started.elapsed().as_secs_f64());
    Ok(query_response(&result))
}

async fn query_range(State(st): State<AppState>, p: Params) -> Result<Response, ApiError> {
    let q = p.get("query").unwrap_or_default().to_string();
    let start = parse_time(p.get("start").unwrap_or_default()).map_err(|e| ApiError::param("start", e))?;
    let end = parse_time(p.get("end").unwrap_or_default()).map_err(|e| ApiError::param("end", e))?;
    if end < start {
        return Err(ApiError::param("end", "end timestamp must not be before start time"));
    }
    let step = parse_duration_ms(p.get("step").unwrap_or_default()).map_err(|e| ApiError::param("step", e))?;
    if step <= 0 {
        return Err(ApiError::param(
            "step",
            "zero or negative query resolution step widths are not accepted. Try a positive integer",
        ));
    }
    if (end - start) / step > MAX_POINTS {
        return Err(ApiError::bad_data(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)",
        ));
    }
    let _slot = st.query_slots.acquire().await.map_err(|e| ApiError::internal(e.to_string()))?;
    let started = std::time::Instant::now();
    let (engine, querier) = (st.engine.clone(), st.querier.clone());
    let result = tokio::task::spawn_blocking(move || engine.range_query(querier.as_ref(), &q, start, end, step))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    st.metrics
        .query_duration
        .get_or_create(&QueryLabels { kind: "range".into() })
        .observe(started.elapsed().as_secs_f64());
    Ok(query_response(&result))
}

/// The body is written directly (`promql::response_body`): a `Value` tree per point was slower than most queries.
fn query_response(r: &promql::QueryResult) -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], promql::response_body(r)).into_response()
}

pub fn labels_json(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect::<Map<_, _>>())
}

/// Sample values are strings in Prometheus's API, in Go's shortest 'f' form.
pub use crate::promql::format_float as float;

/// Turns each `match[]` selector into matcher sets (a selector with `or` gives several).
fn match_params(p: &Params) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let mut sets = Vec::new();
    for m in p.all("match[]") {
        sets.extend(promql::series_selector(&m).map_err(|e| match e {
            promql::SelectorError::Parse(pe) => ApiError::param("match[]", parse_message(&pe)),
            other => ApiError::param("match[]", other),
        })?);
    }
    Ok(sets)
}

fn limit_param(p: &Params) -> Result<usize, ApiError> {
    match p.get("limit") {
        None | Some("") => Ok(0),
        Some(s) => s.parse().map_err(|_| ApiError::param("limit", format!("cannot parse {s:?} to a valid limit"))),
    }
}

/// Runs `f` for each matcher set (or once with none) and merges the sorted, deduplicated results.
async fn union<T: Ord + Send + 'static>(
    st: &AppState,
    p: &Params,
    f: impl Fn(&dyn crate::tsdb::Querier, &[Matcher], i64, i64) -> Result<Vec<T>, crate::tsdb::TsdbError> + Send + 'static,
) -> Result<Vec<T>, ApiError> {
    let sets = match_params(p)?;
    let sets = if sets.is_empty() { vec![vec![]] } else { sets };
    let start = time_param(p, "start", i64::MIN)?;
    let end = time_param(p, "end", i64::MAX)?;
    let limit = limit_param(p)?;
    let querier = st.querier.clone();
    let mut out = tokio::task::spawn_blocking(move || {
        let mut out = Vec::new();
        for set in &sets {
            out.extend(f(querier.as_ref(), set, start, end)?);
        }
        Ok::<_, crate::tsdb::TsdbError>(out)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?
    .map_err(|e| ApiError { kind: "execution", message: e.to_string() })?;
    out.sort();
    out.dedup();
    if limit > 0 {
        out.truncate(limit);
    }
    Ok(out)
}

async fn series(State(st): State<AppState>, p: Params) -> ApiResult {
    if p.all("match[]").is_empty() {
        return Err(ApiError::bad_data("no match[] parameter provided"));
    }
    let found = union(&st, &p, |q, m, s, e| q.series(m, s, e)).await?;
    Ok(success(Value::Array(found.iter().map(labels_json).collect())))
}

async fn labels(State(st): State<AppState>, p: Params) -> ApiResult {
    let names = union(&st, &p, |q, m, s, e| q.label_names(m, s, e)).await?;
    Ok(success(json!(names)))
}

async fn label_values(State(st): State<AppState>, Path(name): Path<String>, p: Params) -> ApiResult {
    if name.is_empty() {
        return Err(ApiError::bad_data(format!("invalid label name: {name:?}")));
    }
    let values = union(&st, &p, move |q, m, s, e| q.label_values(&name, m, s, e)).await?;
    Ok(success(json!(values)))
}

async fn targets(State(st): State<AppState>, p: Params) -> ApiResult {
    let state = p.get("state").unwrap_or("any");
    let active: Vec<Value> = if state == "dropped" {
        vec![]
    } else {
        st.targets
            .targets()
            .iter()
            .map(|t| {
                json!({
                    "discoveredLabels": labels_json(&t.target.discovered),
                    "labels": labels_json(&t.target.labels),
                    "scrapePool": t.job,
                    "scrapeUrl": t.target.url,
                    "globalUrl": t.target.url,
                    "lastError": t.health.last_error,
                    "lastScrape": t.health.last_scrape.map_or("0001-01-01T00:00:00Z".to_string(), |s| rfc3339(
                        s.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
                    )),
                    "lastScrapeDuration": t.health.last_duration.as_secs_f64(),
                    "health": t.health.health.as_str(),
                    "scrapeInterval": format_duration(t.scrape_interval),
                    "scrapeTimeout": format_duration(t.scrape_timeout),
                })
            })
            .collect()
    };
    let all_dropped = st.targets.dropped_targets();
    let mut counts = Map::new();
    for d in &all_dropped {
        let n = counts.get(&d.job).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(d.job.clone(), json!(n + 1));
    }
    let dropped: Vec<Value> = if state == "active" {
        vec![]
    } else {
        all_dropped.iter().map(|d| json!({"discoveredLabels": labels_json(&d.discovered)})).collect()
    };
    Ok(success(json!({"activeTargets": active, "droppedTargets": dropped, "droppedTargetCounts": counts})))
}

/// Metadata as targets last exposed it, deduplicated per metric like Prometheus:
/// `metric` picks one family, `limit` caps metrics, `limit_per_metric` entries per metric.
async fn metadata(State(st): State<AppState>, p: Params) -> ApiResult {
    let limit = count_param(&p, "limit")?;
    let per_metric = count_param(&p, "limit_per_metric")?;
    let wanted = p.get("metric").filter(|m| !m.is_empty());
    let mut out: std::collections::BTreeMap<String, Vec<Value>> = std::collections::BTreeMap::new();
    for t in st.targets.targets() {
        for md in t.health.metadata.iter() {
            if wanted.is_some_and(|w| w != md.family) {
                continue;
            }
            let entry = json!({"type": md.kind.as_str(), "help": md.help, "unit": md.unit});
            let list = out.entry(md.family.clone()).or_default();
            if !list.contains(&entry) && per_metric.is_none_or(|n| list.len() < n) {
                list.push(entry);
            }
        }
    }
    let take = limit.unwrap_or(usize::MAX);
    Ok(success(Value::Object(out.into_iter().take(take).map(|(k, v)| (k, Value::Array(v))).collect())))
}

/// Per-target metadata: `match_target` selects targets by their labels, `metric` one family.
async fn targets_metadata(State(st): State<AppState>, p: Params) -> ApiResult {
    let limit = count_param(&p, "limit")?.unwrap_or(usize::MAX);
    let wanted = p.get("metric").filter(|m| !m.is_empty());
    let matchers = match p.get("match_target").filter(|m| !m.is_empty()) {
        None => vec![],
        Some(sel) => promql::series_selector(sel)
            .map_err(|e| ApiError::param("match_target", e))?
            .into_iter()
            .next()
            .unwrap_or_default(),
    };
    let mut out = Vec::new();
    for t in st.targets.targets() {
        if !crate::tsdb::matches_all(&matchers, &t.target.labels) {
            continue;
        }
        for md in t.health.metadata.iter().filter(|md| wanted.is_none_or(|w| w == md.family)) {
            if out.len() >= limit {
                break;
            }
            out.push(json!({
                "target": labels_json(&t.target.labels),
                "metric": md.family,
                "type": md.kind.as_str(),
                "help": md.help,
                "unit": md.unit,
            }));
        }
    }
    Ok(success(Value::Array(out)))
}

/// A non-negative count parameter; absent, empty or negative means "no limit", as in Prometheus.
fn count_param(p: &Params, name: &str) -> Result<Option<usize>, ApiError> {
    match p.get(name) {
        None | Some("") => Ok(None),
        Some(s) => match s.parse::<i64>() {
            Ok(n) if n < 0 => Ok(None),
            Ok(n) => Ok(Some(n as usize)),
            Err(_) => Err(ApiError::param(name, format!("cannot parse {s:?} to a valid limit"))),
        },
    }
}

/// Sightline stores no exemplars: a valid request gets an empty list, as
/// Prometheus answers when exemplar storage is off.
async fn query_exemplars(p: Params) -> ApiResult {
    let q = p.get("query").unwrap_or_default().to_string();
    let start = time_param(&p, "start", i64::MIN)?;
    let end = time_param(&p, "end", i64::MAX)?;
    if end < start {
        return Err(ApiError::param("end", "end timestamp must not be before start time"));
    }
    promql::parse(&q).map_err(QueryError::Parse)?;
    Ok(success(json!([])))
}

/// The query reformatted the way `promtool` and Prometheus's UI print it.
async fn format_query(p: Params) -> ApiResult {
    let q = p.get("query").unwrap_or_default().to_string();
    let expr = promql::parse(&q).map_err(QueryError::Parse)?;
    let pretty =
        promql::with_stack_for(&q, || expr.prettify()).ok_or_else(|| ApiError::internal("formatting failed"))?;
    Ok(success(json!(pretty)))
}

/// The query's syntax tree in Prometheus's JSON shape (the UI's tree view reads it).
async fn parse_query(p: Params) -> ApiResult {
    let q = p.get("query").unwrap_or_default().to_string();
    let expr = promql::parse(&q).map_err(QueryError::Parse)?;
    let tree = promql::with_stack_for(&q, || serde_json::to_value(&expr).map_err(|e| e.to_string()))
        .ok_or_else(|| "serializing failed".to_string())
        .and_then(|r| r)
        .map_err(ApiError::internal)?;
    Ok(success(tree))
}

/// Cardinality statistics in Prometheus's shape: head stats and the top
/// `limit` (default 10) metric names, label names and label pairs.
async fn status_tsdb(State(st): State<AppState>, p: Params) -> ApiResult {
    let limit = match count_param(&p, "limit")? {
        Some(0) | None if p.get("limit").is_some_and(|s| !s.is_empty()) => {
            return Err(ApiError::param("limit", "limit must be a positive number"))
        }
        Some(n) => n,
        None => 10,
    };
    let querier = st.querier.clone();
    let every = Matcher::new(crate::tsdb::MatchKind::Regex, crate::tsdb::METRIC_NAME, ".+").expect("constant regex");
    let all = tokio::task::spawn_blocking(move || querier.series(&[every], i64::MIN, i64::MAX))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?
        .map_err(|e| ApiError { kind: "execution", message: e.to_string() })?;
    let card = Cardinality::of(&all);
    let stats = st.store_status.stats();
    let top = |m: &std::collections::HashMap<String, usize>| -> Value {
        let mut v: Vec<(&String, &usize)> = m.iter().collect();
        v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
        Value::Array(v.into_iter().take(limit).map(|(k, n)| json!({"name": k, "value": n})).collect())
    };
    Ok(success(json!({
        "headStats": {
            "numSeries": stats.series,
            "numLabelPairs": card.by_pair.len(),
            "chunkCount": stats.active_series,
            "minTime": stats.min_time.unwrap_or(0),
            "maxTime": stats.max_time.unwrap_or(0),
        },
        "seriesCountByMetricName": top(&card.by_metric),
        "labelValueCountByLabelName": top(&card.values_by_name),
        "memoryInBytesByLabelName": top(&card.bytes_by_name),
        "seriesCountByLabelValuePair": top(&card.by_pair),
    })))
}

/// Counts behind `/api/v1/status/tsdb`.
#[derive(Default)]
struct Cardinality {
    by_metric: std::collections::HashMap<String, usize>,
    by_pair: std::collections::HashMap<String, usize>,
    values_by_name: std::collections::HashMap<String, usize>,
    bytes_by_name: std::collections::HashMap<String, usize>,
}

impl Cardinality {
    fn of(series: &[Labels]) -> Self {
        let mut c = Cardinality::default();
        for labels in series {
            if let Some(name) = labels.metric_name() {
                *c.by_metric.entry(name.to_string()).or_default() += 1;
            }
            for l in labels.iter() {
                let pair = format!("{}={}", l.name, l.value);
                let n = c.by_pair.entry(pair).or_default();
                *n += 1;
                if *n == 1 {
                    // First time this value is seen for the name.
                    *c.values_by_name.entry(l.name.clone()).or_default() += 1;
                    *c.bytes_by_name.entry(l.name.clone()).or_default() += l.value.len();
                }
            }
        }
        c
    }
}

async fn buildinfo() -> ApiResult {
    Ok(success(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "revision": option_env!("SIGHTLINE_REVISION").unwrap_or("unknown"),
        "branch": "main",
        "buildUser": "",
        "buildDate": "",
        "goVersion": "rust",
    })))
}

async fn status_config(State(st): State<AppState>) -> ApiResult {
    Ok(success(json!({"yaml": st.info.config_yaml})))
}

async fn runtimeinfo(State(st): State<AppState>) -> ApiResult {
    let stats = st.store_status.stats();
    Ok(success(json!({
        "startTime": st.info.started.map(|s| rfc3339(s.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0))),
        "CWD": std::env::current_dir().map(|d| d.display().to_string()).unwrap_or_default(),
        "storageRetention": st.info.retention,
        "timeSeriesCount": stats.series,
    })))
}

async fn flags(State(st): State<AppState>) -> ApiResult {
    Ok(success(json!({
        "config.file": st.info.config_file,
        "web.listen-address": st.info.listen,
        "storage.tsdb.path": st.info.data_dir,
    })))
}
