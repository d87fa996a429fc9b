//! Alertmanager API v2 (the subset `amtool` uses): alerts, alert groups,
//! silences, receivers and status.

use crate::notify::alert::{fingerprint_hex, go_time, parse_time, GO_ZERO_TIME};
use crate::notify::matchers::parse_matcher;
use crate::notify::{Alert, AlertStatus, Notifier, Silence, SilenceError, SilenceMatcher};
use crate::tsdb::{matches_all, Labels, Matcher};
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::sync::Arc;

/// The API v2 routes, with the notifier as their state. Merge into the app
/// router: `.merge(alertmanager_api::routes(notifier))`.
pub fn routes<S: Clone + Send + Sync + 'static>(notifier: Arc<Notifier>) -> Router<S> {
    Router::new()
        .route("/api/v2/status", get(status))
        .route("/api/v2/receivers", get(receivers))
        .route("/api/v2/alerts", get(get_alerts).post(post_alerts))
        .route("/api/v2/alerts/groups", get(get_groups))
        .route("/api/v2/silences", get(get_silences).post(post_silence))
        .route("/api/v2/silence/{id}", get(get_silence).delete(delete_silence))
        .route("/api/v1/alert_chart.png", get(alert_chart))
        .with_state(notifier)
}

/// `GET /api/v1/alert_chart.png?expr=...&end=<ms>`: the chart that email
/// and Slack messages carry, drawn on request (Slack fetches it from here).
/// `end` defaults to now; `end` in seconds (10 digits) is accepted too.
async fn alert_chart(State(n): N, RawQuery(q): RawQuery) -> Response {
    let p = params(&q);
    let Some(expr) = p.iter().find(|(k, _)| k == "expr").map(|(_, v)| v.trim().to_string()).filter(|e| !e.is_empty())
    else {
        return (StatusCode::BAD_REQUEST, "expr: missing; want ?expr=<PromQL>&end=<epoch ms>\n").into_response();
    };
    let end = match p.iter().find(|(k, _)| k == "end").map(|(_, v)| v.trim()) {
        None | Some("") => chrono::Utc::now().timestamp_millis(),
        Some(v) => match v.parse::<f64>() {
            // Seconds (Prometheus style) or milliseconds (what Sightline's links carry).
            Ok(t) if t.is_finite() && t.abs() < 1e11 => (t * 1000.0) as i64,
            Ok(t) if t.is_finite() && t.abs() < 1e14 => t as i64,
            _ => {
                return (StatusCode::BAD_REQUEST, format!("end: {v:?} is not a time in epoch milliseconds\n"))
                    .into_response()
            }
        },
    };
    let res = tokio::task::spawn_blocking(move || n.chart_png(&expr, end)).await;
    use crate::notify::chart::ChartError;
    match res {
        Ok(Ok(png)) => ([("content-type", "image/png"), ("cache-control", "public, max-age=300")], png).into_response(),
        Ok(Err(e @ ChartError::Source { .. })) => (StatusCode::BAD_REQUEST, format!("{e}\n")).into_response(),
        Ok(Err(e @ ChartError::NoData(_))) => (StatusCode::NOT_FOUND, format!("{e}\n")).into_response(),
        Ok(Err(e @ ChartError::NoSource)) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}\n")).into_response(),
    }
}

/// Charts for notifications, over the server's PromQL engine and store;
/// links go to a dashboard panel drawing the same metrics when one exists.
pub struct ChartBackend {
    /// The PromQL engine.
    pub engine: Arc<crate::promql::Engine>,
    /// The store to query.
    pub querier: Arc<dyn crate::tsdb::Querier>,
    /// Dashboards searched for a matching panel.
    pub library: Arc<crate::dashboards::Library>,
}

/// Step of chart queries: 240 points over the hour.
const CHART_STEP_MS: i64 = 15_000;

impl crate::notify::chart::ChartSource for ChartBackend {
    fn last_hour(&self, expr: &str, end_ms: i64) -> Result<crate::notify::chart::ChartSeries, String> {
        let start = end_ms - crate::notify::chart::WINDOW_MS;
        let r = self
            .engine
            .range_query(self.querier.as_ref(), expr, start, end_ms, CHART_STEP_MS)
            .map_err(|e| e.to_string())?;
        match r.value {
            crate::promql::Value::Matrix(series) => Ok(series
                .into_iter()
                .map(|s| (s.labels, s.samples.into_iter().map(|p| (p.t, p.v)).collect()))
                .collect()),
            _ => Err("expected a range vector".into()),
        }
    }

    fn panel_link(&self, expr: &str, start_ms: i64, end_ms: i64) -> Option<crate::notify::chart::PanelLink> {
        let names = metric_names(expr);
        if names.is_empty() {
            return None;
        }
        let entries = self.library.list();
        find_panel(&entries, &names).map(|(d, row, index, panel)| {
            let uid: String = form_urlencoded::byte_serialize(d.uid.as_bytes()).collect();
            crate::notify::chart::PanelLink {
                // `open` unfolds the panel's row if it starts collapsed; the fragment scrolls to it.
                path: format!("/d/{uid}?from={start_ms}&to={end_ms}&open={row}#panel-{row}-{index}"),
                title: format!("{} › {}", d.title, panel.title),
            }
        })
    }
}

/// The first panel whose queries use every one of `names`, preferring time
/// series panels (they show the hour around the alert) over stats and gauges.
fn find_panel<'a>(
    entries: &'a [crate::dashboards::Entry],
    names: &std::collections::BTreeSet<String>,
) -> Option<(&'a crate::dashboards::Dashboard, usize, usize, &'a crate::dashboards::Panel)> {
    use crate::dashboards::PanelType;
    let matching = || {
        entries.iter().flat_map(|e| e.dashboard.panels().map(move |(r, i, p)| (e.dashboard.as_ref(), r, i, p))).filter(
            |(_, _, _, p)| {
                // Panel queries may hold $variables that do not parse; compare identifiers.
                let tokens: std::collections::BTreeSet<&str> =
                    p.targets.iter().flat_map(|t| identifiers(&t.expr)).collect();
                names.iter().all(|n| tokens.contains(n.as_str()))
            },
        )
    };
    matching().find(|(_, _, _, p)| p.kind == PanelType::Timeseries).or_else(|| matching().next())
}

/// The metric names an expression selects (empty when it does not parse).
pub fn metric_names(expr: &str) -> std::collections::BTreeSet<String> {
    struct Names(std::collections::BTreeSet<String>);
    impl promql_parser::util::ExprVisitor for Names {
        type Error = std::convert::Infallible;
        fn pre_visit(&mut self, e: &promql_parser::parser::Expr) -> Result<bool, Self::Error> {
            let vs = match e {
                promql_parser::parser::Expr::VectorSelector(vs) => Some(vs),
                promql_parser::parser::Expr::MatrixSelector(ms) => Some(&ms.vs),
                _ => None,
            };
            if let Some(vs) = vs {
                let name = vs.name.clone().or_else(|| {
                    vs.matchers
                        .matchers
                        .iter()
                        .find(|m| m.name == "__name__" && m.op.to_string() == "=")
                        .map(|m| m.value.clone())
                });
                self.0.extend(name);
            }
            Ok(true)
        }
    }
    let Ok(e) = promql_parser::parser::parse(expr) else { return Default::default() };
    let mut v = Names(Default::default());
    let _ = promql_parser::util::walk_expr(&mut v, &e);
    v.0
}

/// Identifier-like words of a query text (metric and label names, functions).
fn identifiers(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':')).filter(|w| !w.is_empty())
}

type N = State<Arc<Notifier>>;

/// API errors are JSON strings, as go-swagger clients expect.
fn error(code: StatusCode, msg: impl Into<String>) -> Response {
    (code, Json(Value::String(msg.into()))).into_response()
}

async fn status(State(n): N) -> Response {
    let cfg = n.config();
    Json(json!({
        "cluster": {"name": "", "peers": [], "status": "disabled"},
        "config": {"original": crate::auth::redact::redact_yaml(&cfg.original)},
        "uptime": go_time(n.started()),
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": env!("CARGO_PKG_VERSION"),
        },
    }))
    .into_response()
}

async fn receivers(State(n): N) -> Response {
    let cfg = n.config();
    Json(Value::Array(cfg.receivers.iter().map(|r| json!({"name": r.name})).collect())).into_response()
}

fn labels_json(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect())
}

fn labels_from_json(v: &Value, what: &str) -> Result<Labels, String> {
    match v {
        Value::Null => Ok(Labels::new()),
        Value::Object(m) => {
            let mut pairs = Vec::new();
            for (k, v) in m {
                let s = v.as_str().ok_or_else(|| format!("{what}.{k}: value must be a string"))?;
                pairs.push((k.clone(), s.to_string()));
            }
            Ok(Labels::from_pairs(pairs))
        }
        _ => Err(format!("{what} must be an object")),
    }
}

fn alert_json(s: &AlertStatus) -> Value {
    let now = chrono::Utc::now();
    let a = &s.alert;
    json!({
        "annotations": labels_json(&a.annotations),
        "endsAt": a.ends_at.map(go_time).unwrap_or_else(|| GO_ZERO_TIME.to_string()),
        "fingerprint": fingerprint_hex(s.fingerprint),
        "receivers": s.receivers.iter().map(|r| json!({"name": r})).collect::<Vec<_>>(),
        "startsAt": go_time(a.starts_at),
        "status": {
            "inhibitedBy": s.inhibited_by,
            "silencedBy": s.silenced_by,
            "mutedBy": [],
            "state": if a.resolved_at(now) { "unprocessed" } else { s.state() },
        },
        "updatedAt": go_time(a.updated_at),
        "generatorURL": a.generator_url,
        "labels": labels_json(&a.labels),
    })
}

/// Parsed query parameters of the alert endpoints.
struct AlertFilter {
    matchers: Vec<Matcher>,
    active: bool,
    silenced: bool,
    inhibited: bool,
    receiver: Option<regex::Regex>,
}

fn bool_param(v: &str) -> Result<bool, String> {
    match v {
        "true" | "1" | "" => Ok(true),
        "false" | "0" => Ok(false),
        other => Err(format!("invalid boolean {other:?}")),
    }
}

fn params(q: &Option<String>) -> Vec<(String, String)> {
    form_urlencoded::parse(q.as_deref().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn alert_filter(q: &Option<String>) -> Result<AlertFilter, String> {
    let mut f = AlertFilter { matchers: Vec::new(), active: true, silenced: true, inhibited: true, receiver: None };
    for (k, v) in params(q) {
        match k.as_str() {
            "filter" => f.matchers.push(parse_matcher(&v)?),
            "active" => f.active = bool_param(&v)?,
            "silenced" => f.silenced = bool_param(&v)?,
            "inhibited" => f.inhibited = bool_param(&v)?,
            "unprocessed" => {
                bool_param(&v)?;
            }
            "receiver" => {
                f.receiver =
                    Some(regex::Regex::new(&format!("^(?:{v})$")).map_err(|e| format!("invalid receiver regex: {e}"))?)
            }
            _ => {}
        }
    }
    Ok(f)
}

impl AlertFilter {
    fn keep(&self, s: &AlertStatus, check_receiver: bool) -> bool {
        if !matches_all(&self.matchers, &s.alert.labels) {
            return false;
        }
        if let Some(re) = self.receiver.as_ref().filter(|_| check_receiver) {
            if !s.receivers.iter().any(|r| re.is_match(r)) {
                return false;
            }
        }
        let silenced = !s.silenced_by.is_empty();
        let inhibited = !s.inhibited_by.is_empty();
        if silenced && !self.silenced || inhibited && !self.inhibited {
            return false;
        }
        if !silenced && !inhibited && !self.active {
            return false;
        }
        true
    }
}

async fn get_alerts(State(n): N, RawQuery(q): RawQuery) -> Response {
    let f = match alert_filter(&q) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = chrono::Utc::now();
    let list: Vec<Value> =
        n.alerts().iter().filter(|s| !s.alert.resolved_at(now) && f.keep(s, true)).map(alert_json).collect();
    Json(Value::Array(list)).into_response()
}

async fn get_groups(State(n): N, RawQuery(q): RawQuery) -> Response {
    let f = match alert_filter(&q) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = chrono::Utc::now();
    let mut out = Vec::new();
    for g in n.groups() {
        if f.receiver.as_ref().is_some_and(|re| !re.is_match(&g.receiver)) {
            continue;
        }
        let alerts: Vec<Value> =
            g.alerts.iter().filter(|s| !s.alert.resolved_at(now) && f.keep(s, false)).map(alert_json).collect();
        if alerts.is_empty() {
            continue;
        }
        out.push(json!({"alerts": alerts, "labels": labels_json(&g.labels), "receiver": {"name": g.receiver}}));
    }
    Json(Value::Array(out)).into_response()
}

async fn post_alerts(State(n): N, body: axum::body::Bytes) -> Response {
    let v: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid JSON: {e}")),
    };
    let Some(items) = v.as_array() else {
        return error(StatusCode::BAD_REQUEST, "body must be a JSON array of alerts");
    };
    let now = chrono::Utc::now();
    let mut alerts = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match alert_from_api(item, now) {
            Ok(a) => alerts.push(a),
            Err(e) => return error(StatusCode::BAD_REQUEST, format!("alert {i}: {e}")),
        }
    }
    n.receive(alerts);
    StatusCode::OK.into_response()
}

fn alert_from_api(v: &Value, now: chrono::DateTime<chrono::Utc>) -> Result<Alert, String> {
    let labels = labels_from_json(&v["labels"], "labels")?;
    if labels.is_empty() {
        return Err("at least one label pair required".into());
    }
    for l in labels.iter() {
        if l.value.is_empty() {
            return Err(format!("label {:?} has an empty value", l.name));
        }
    }
    let annotations = labels_from_json(&v["annotations"], "annotations")?;
    let time = |k: &str| -> Result<Option<chrono::DateTime<chrono::Utc>>, String> {
        match v[k].as_str() {
            None | Some("") | Some(GO_ZERO_TIME) => Ok(None),
            // Go clients send the zero time in several spellings.
            Some(s) => parse_time(s).map(|t| Some(t).filter(|t| chrono::Datelike::year(t) > 1)),
        }
    };
    let ends_at = time("endsAt")?;
    let starts_at = time("startsAt")?.unwrap_or_else(|| match ends_at {
        Some(e) if e < now => e,
        _ => now,
    });
    if ends_at.is_some_and(|e| e < starts_at) {
        return Err("start time must be before end time".into());
    }
    Ok(Alert {
        labels,
        annotations,
        starts_at,
        ends_at,
        generator_url: v["generatorURL"].as_str().unwrap_or_default().to_string(),
        updated_at: now,
    })
}

fn silence_filter(q: &Option<String>) -> Result<Vec<Matcher>, String> {
    params(q).into_iter().filter(|(k, _)| k == "filter").map(|(_, v)| parse_matcher(&v)).collect()
}

/// Whether every filter matcher equals one of the silence's matchers, as
/// Alertmanager filters silences.
fn silence_matches_filter(s: &Silence, filter: &[Matcher]) -> bool {
    filter.iter().all(|f| {
        let sm = SilenceMatcher::from_matcher(f);
        s.matchers.iter().any(|m| m.name == sm.name && (f.matches(&m.value) || *m == sm))
    })
}

async fn get_silences(State(n): N, RawQuery(q): RawQuery) -> Response {
    let filter = match silence_filter(&q) {
        Ok(f) => f,
        Err(e) => return error(StatusCode::BAD_REQUEST, e),
    };
    let now = chrono::Utc::now();
    let list: Vec<Value> =
        n.silences().iter().filter(|s| silence_matches_filter(s, &filter)).map(|s| s.to_api_json(now)).collect();
    Json(Value::Array(list)).into_response()
}

async fn post_silence(State(n): N, body: axum::body::Bytes) -> Response {
    let s: Silence = match serde_json::from_slice(&body) {
        Ok(s) => s,
        Err(e) => return error(StatusCode::BAD_REQUEST, format!("invalid silence: {e}")),
    };
    match n.set_silence(s) {
        Ok(id) => Json(json!({"silenceID": id})).into_response(),
        Err(SilenceError::NotFound(id)) => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
        Err(e @ SilenceError::Store(_)) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        Err(e) => error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn get_silence(State(n): N, Path(id): Path<String>) -> Response {
    match n.silence(&id) {
        Some(s) => Json(s.to_api_json(chrono::Utc::now())).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
    }
}

async fn delete_silence(State(n): N, Path(id): Path<String>) -> Response {
    match n.expire_silence(&id) {
        Ok(()) => StatusCode::OK.into_response(),
        Err(SilenceError::NotFound(_)) => error(StatusCode::NOT_FOUND, format!("silence {id} not found")),
        Err(e) => error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metric_names_of_expressions() {
        let n =
            metric_names(r#"rate(a_total[5m]) / on(x) b > 1 and {__name__="c", x="y"} unless max_over_time(d[1h:1m])"#);
        assert_eq!(n.into_iter().collect::<Vec<_>>(), ["a_total", "b", "c", "d"]);
        assert!(metric_names("vector(1)").is_empty());
        assert!(metric_names("rate(").is_empty());
    }

    #[test]
    fn panel_for_an_alert_prefers_time_series_with_every_metric() {
        let d = crate::dashboards::parse_yaml(
            r#"
title: Host
uid: host
rows:
  - panels:
      - {title: Memory gauge, type: gauge, targets: [{expr: 'node_memory_MemAvailable_bytes{instance="$instance"} / node_memory_MemTotal_bytes'}]}
      - {title: Available only, type: stat, targets: [{expr: 'node_memory_MemAvailable_bytes'}]}
      - {title: Memory, targets: [{expr: 'node_memory_MemTotal_bytes{instance="$instance"} - node_memory_MemAvailable_bytes'}]}
"#,
            "host.yml",
        )
        .unwrap();
        let lib = crate::dashboards::Library::fixed(vec![d]);
        let entries = lib.list();
        let names = metric_names("node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes < 0.1");
        let (dash, row, index, panel) = find_panel(&entries, &names).unwrap();
        assert_eq!((dash.uid.as_str(), row, index, panel.title.as_str()), ("host", 0, 2, "Memory"));
        // A time series panel using it (among others) wins over a stat panel using only it.
        let names2 = metric_names("node_memory_MemAvailable_bytes{instance=\"a\"} < 1");
        assert_eq!(find_panel(&entries, &names2).unwrap().3.title, "Memory");
        assert!(find_panel(&entries, &metric_names("up == 0")).is_none());
        assert!(find_panel(&entries, &metric_names("node_memory_MemTotal_bytes > node_load1")).is_none());
    }
}
