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
        .with_state(notifier)
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
