//! Pages for alerting: active alerts, rule groups with their health, and
//! silences (list, create, expire). Thin: read the managers, render.

use super::params::{rfc3339, Params};
use super::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/alerts", get(alerts))
        .route("/rules", get(rules))
        .route("/silences", get(silences).post(create_silence))
        .route("/silences/{id}/expire", post(expire_silence))
        .route("/receivers", get(receivers))
        .route("/receivers/{name}/test", post(test_receiver))
        .route("/history", get(history))
        .route("/graph", get(graph_redirect))
}

/// Prometheus's `/graph?g0.expr=...` links (alert generator URLs, old
/// bookmarks) open the explore view.
async fn graph_redirect(p: Params) -> Response {
    match p.get("g0.expr") {
        Some(expr) => Redirect::to(&explore_link(expr)).into_response(),
        None => Redirect::to("/explore").into_response(),
    }
}

struct HistoryRow {
    at: String,
    kind: String,
    ok: bool,
    alerts: String,
    route: String,
    timers: String,
    group: String,
    receiver: String,
    integration: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "notify_history.html")]
struct HistoryPage {
    nav: &'static str,
    filter: String,
    error: String,
    rows: Vec<HistoryRow>,
}

/// The notification history: deliveries (each attempt) and suppressions,
/// newest first, filtered by alert name, label, receiver or route.
async fn history(State(st): State<AppState>, p: Params) -> Response {
    let filter = p.get("q").unwrap_or_default().trim().to_string();
    let n = st.notifier.clone();
    let f = filter.clone();
    let (rows, error) = match tokio::task::spawn_blocking(move || n.history_matching(500, &f)).await {
        Ok(Ok(rows)) => (rows, String::new()),
        Ok(Err(e)) => (Vec::new(), e.to_string()),
        Err(e) => (Vec::new(), e.to_string()),
    };
    let rows = rows
        .into_iter()
        .map(|d| HistoryRow {
            at: rfc3339(d.ts_ms),
            kind: d.kind,
            ok: d.ok,
            alerts: d.alerts,
            route: d.route,
            timers: d.timers,
            group: d.group_key,
            receiver: d.receiver,
            integration: d.integration,
            detail: d.detail,
        })
        .collect();
    super::ui::page(HistoryPage { nav: "receivers", filter, error, rows })
}

fn explore_link(expr: &str) -> String {
    format!("/explore?q={}", form_urlencoded::byte_serialize(expr.as_bytes()).collect::<String>())
}

fn pairs(l: &crate::tsdb::Labels) -> Vec<(String, String)> {
    l.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

struct AlertRow {
    name: String,
    /// Why it is (or is not) notified: routes, receivers, silences, inhibitions, timers.
    why: String,
    /// Link to the silence form, prefilled with this alert's labels.
    silence: String,
    /// The same form set to acknowledge: a silence that ends when the alert resolves.
    acknowledge: String,
    /// Link to this alert's notification history.
    history: String,
    state: &'static str,
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    active_since: String,
    value: String,
    graph: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct AlertsPage {
    nav: &'static str,
    alerts: Vec<AlertRow>,
    groups: Vec<GroupRow>,
}

/// An aggregation group as the built-in Alertmanager routed it.
struct GroupRow {
    receiver: String,
    labels: Vec<(String, String)>,
    /// (alert name, state, why suppressed)
    alerts: Vec<(String, &'static str, String)>,
}

fn explain(st: &AppState, labels: &crate::tsdb::Labels) -> String {
    let e = st.notifier.explain(labels);
    let mut parts: Vec<String> = e
        .routes
        .iter()
        .zip(e.timers.iter())
        .map(|((route, receiver, _), (wait, interval, repeat))| {
            format!(
                "route {route} → {receiver} (group_wait {}, group_interval {}, repeat_interval {})",
                crate::scrape::format_duration(*wait),
                crate::scrape::format_duration(*interval),
                crate::scrape::format_duration(*repeat)
            )
        })
        .collect();
    if e.routes.is_empty() {
        parts.push("no route matches".into());
    }
    if !e.silenced_by.is_empty() {
        parts.push(format!("silenced by {}", e.silenced_by.join(", ")));
    }
    if !e.inhibited_by.is_empty() {
        parts.push(format!("inhibited by {}", e.inhibited_by.join(", ")));
    }
    if !e.time_muted.is_empty() {
        parts.push(format!("muted by time intervals of {}", e.time_muted.join(", ")));
    }
    parts.join("; ")
}

async fn alerts(State(st): State<AppState>) -> Response {
    let mut rows: Vec<AlertRow> = st
        .rules
        .active_alerts()
        .into_iter()
        .map(|(name, expr, a)| AlertRow {
            why: explain(&st, &a.labels),
            silence: format!(
                "/silences?matchers={}",
                form_urlencoded::byte_serialize(
                    a.labels
                        .iter()
                        .map(|l| format!("{}={:?}", l.name, l.value))
                        .collect::<Vec<_>>()
                        .join(", ")
                        .as_bytes()
                )
                .collect::<String>()
            ),
            history: format!("/history?q={}", form_urlencoded::byte_serialize(name.as_bytes()).collect::<String>()),
            acknowledge: String::new(),
            name,
            state: a.state.as_str(),
            labels: pairs(&a.labels),
            annotations: pairs(&a.annotations),
            active_since: rfc3339(a.active_at),
            value: super::api::float(a.value),
            graph: explore_link(&expr),
        })
        .collect();
    for r in &mut rows {
        r.acknowledge = format!("{}&ack=1&duration=24h&comment=Acknowledged", r.silence);
    }
    rows.sort_by(|a, b| (b.state == "firing", &a.name).cmp(&(a.state == "firing", &b.name)));
    let groups = st
        .notifier
        .groups()
        .into_iter()
        .map(|g| GroupRow {
            receiver: g.receiver,
            labels: pairs(&g.labels),
            alerts: g
                .alerts
                .iter()
                .map(|a| {
                    let mut why = a.silenced_by.iter().map(|s| format!("silenced by {s}")).collect::<Vec<_>>();
                    why.extend(a.inhibited_by.iter().map(|s| format!("inhibited by {s}")));
                    (a.alert.labels.get("alertname").unwrap_or_default().to_string(), a.state(), why.join(", "))
                })
                .collect(),
        })
        .collect();
    super::ui::page(AlertsPage { nav: "alerts", alerts: rows, groups })
}

struct RuleRow {
    kind: &'static str,
    name: String,
    expr: String,
    graph: String,
    health: &'static str,
    error: String,
    last_evaluation: String,
    duration_ms: String,
    active: usize,
}

struct GroupView {
    name: String,
    file: String,
    interval: String,
    last_evaluation: String,
    duration_ms: String,
    rules: Vec<RuleRow>,
}

#[derive(Template)]
#[template(path = "rules.html")]
struct RulesPage {
    nav: &'static str,
    groups: Vec<GroupView>,
}

async fn rules(State(st): State<AppState>) -> Response {
    let when = |t: Option<i64>| t.map_or("never".to_string(), rfc3339);
    let groups = st
        .rules
        .snapshot()
        .into_iter()
        .map(|g| GroupView {
            name: g.name.clone(),
            file: g.file.display().to_string(),
            interval: crate::scrape::format_duration(std::time::Duration::from_millis(g.interval_ms.max(0) as u64)),
            last_evaluation: when(g.last_evaluation),
            duration_ms: format!("{:.1}", g.last_duration * 1000.0),
            rules: g
                .rules
                .iter()
                .map(|r| RuleRow {
                    kind: match r.def.kind {
                        crate::rules::file::RuleKind::Alerting => "alert",
                        crate::rules::file::RuleKind::Recording => "record",
                    },
                    name: r.def.name.clone(),
                    expr: r.def.expr.clone(),
                    graph: explore_link(&r.def.expr),
                    health: r.status.health.as_str(),
                    error: r.status.last_error.clone().unwrap_or_default(),
                    last_evaluation: when(r.status.last_evaluation),
                    duration_ms: format!("{:.1}", r.status.evaluation_seconds * 1000.0),
                    active: r.active.values().filter(|a| a.state != crate::rules::AlertState::Inactive).count(),
                })
                .collect(),
        })
        .collect();
    super::ui::page(RulesPage { nav: "rules", groups })
}

struct SilenceRow {
    id: String,
    state: &'static str,
    matchers: String,
    starts: String,
    ends: String,
    created_by: String,
    comment: String,
    /// An acknowledgement: ends by itself when its alerts resolve.
    ack: bool,
}

#[derive(Template)]
#[template(path = "silences.html")]
struct SilencesPage {
    nav: &'static str,
    silences: Vec<SilenceRow>,
    error: String,
    form_matchers: String,
    form_duration: String,
    form_creator: String,
    form_comment: String,
    form_ack: bool,
}

fn silences_page(st: &AppState, error: String, form: &Params) -> SilencesPage {
    let now = chrono::Utc::now();
    let mut list = st.notifier.silences();
    list.sort_by_key(|s| std::cmp::Reverse(s.starts_at));
    let silences = list
        .iter()
        .map(|s| SilenceRow {
            id: s.id.clone(),
            state: s.state(now).as_str(),
            matchers: s
                .matchers
                .iter()
                .filter_map(|m| m.to_matcher().ok())
                .map(|m| crate::notify::matchers::format_matcher(&m))
                .collect::<Vec<_>>()
                .join(", "),
            starts: rfc3339(s.starts_at.timestamp_millis()),
            ends: rfc3339(s.ends_at.timestamp_millis()),
            created_by: s.created_by.clone(),
            comment: s.comment.clone(),
            ack: s.ack,
        })
        .collect();
    SilencesPage {
        nav: "silences",
        silences,
        error,
        form_matchers: form.get("matchers").unwrap_or_default().to_string(),
        form_duration: form.get("duration").unwrap_or("2h").to_string(),
        form_creator: form.get("created_by").unwrap_or_default().to_string(),
        form_comment: form.get("comment").unwrap_or_default().to_string(),
        form_ack: form.get("ack").is_some_and(|v| !v.is_empty()),
    }
}

async fn silences(State(st): State<AppState>, p: Params) -> Response {
    super::ui::page(silences_page(&st, String::new(), &p))
}

/// Creates a silence from the form: matchers as `{a="b", c=~"d"}` or
/// `a=b c=~d`, a duration, who and why.
async fn create_silence(State(st): State<AppState>, form: Params) -> Response {
    match silence_from_form(&form) {
        Ok(s) => match st.notifier.set_silence(s) {
            Ok(_) => Redirect::to("/silences").into_response(),
            Err(e) => bad_form(&st, e.to_string(), &form),
        },
        Err(e) => bad_form(&st, e, &form),
    }
}

fn bad_form(st: &AppState, error: String, form: &Params) -> Response {
    let mut r = super::ui::page(silences_page(st, error, form));
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

fn silence_from_form(form: &Params) -> Result<crate::notify::Silence, String> {
    let text = form.get("matchers").unwrap_or_default().trim();
    if text.is_empty() {
        return Err("matchers: at least one matcher is needed, e.g. alertname=\"DiskFull\"".into());
    }
    let matchers = crate::notify::matchers::parse_matchers(text).map_err(|e| format!("matchers: {e}"))?;
    if matchers.is_empty() {
        return Err("matchers: at least one matcher is needed".into());
    }
    let duration = crate::config::parse_duration(form.get("duration").unwrap_or("2h").trim())
        .map_err(|e| format!("duration: {e}"))?;
    let creator = form.get("created_by").unwrap_or_default().trim();
    if creator.is_empty() {
        return Err("created by: say who creates the silence".into());
    }
    let comment = form.get("comment").unwrap_or_default().trim();
    if comment.is_empty() {
        return Err("comment: say why".into());
    }
    let now = chrono::Utc::now();
    let ends = chrono::Duration::from_std(duration).map_err(|e| format!("duration: {e}"))?;
    Ok(crate::notify::Silence {
        id: String::new(),
        matchers: matchers.iter().map(crate::notify::SilenceMatcher::from_matcher).collect(),
        starts_at: now,
        ends_at: now + ends,
        updated_at: now,
        created_by: creator.to_string(),
        comment: comment.to_string(),
        // A checked box sends `ack=1`; an acknowledgement still ends at `duration` at the latest.
        ack: form.get("ack").is_some_and(|v| !v.is_empty()),
    })
}

async fn expire_silence(State(st): State<AppState>, Path(id): Path<String>) -> Response {
    match st.notifier.expire_silence(&id) {
        Ok(()) => Redirect::to("/silences").into_response(),
        Err(e) => bad_form(&st, format!("silence {id}: {e}"), &Params::default()),
    }
}

struct ReceiverRow {
    name: String,
    integrations: String,
    attempts: u64,
    failures: u64,
    last_attempt: String,
    last_result: String,
    last_error: String,
}

struct DeliveryRow {
    at: String,
    receiver: String,
    integration: String,
    ok: bool,
    /// `delivery`, `suppressed` or `muted`.
    kind: String,
    group: String,
    detail: String,
}

#[derive(Template)]
#[template(path = "receivers.html")]
struct ReceiversPage {
    nav: &'static str,
    message: String,
    receivers: Vec<ReceiverRow>,
    history: Vec<DeliveryRow>,
}

fn receivers_page(st: &AppState, message: String) -> ReceiversPage {
    let stats = st.notifier.receiver_stats();
    let receivers = st
        .notifier
        .config()
        .receivers
        .iter()
        .map(|r| {
            let s = stats.get(&r.name).cloned().unwrap_or_default();
            ReceiverRow {
                name: r.name.clone(),
                integrations: r.integrations.iter().map(|i| i.kind()).collect::<Vec<_>>().join(", "),
                attempts: s.attempts,
                failures: s.failures,
                last_attempt: s.last_attempt.map_or("never".into(), |t| rfc3339(t.timestamp_millis())),
                last_result: match s.last_ok {
                    Some(true) => "ok".into(),
                    Some(false) => "failed".into(),
                    None => "—".into(),
                },
                last_error: s.last_error.unwrap_or_default(),
            }
        })
        .collect();
    let history = st
        .notifier
        .history(100)
        .into_iter()
        .map(|d| DeliveryRow {
            at: rfc3339(d.ts_ms),
            receiver: d.receiver,
            integration: d.integration,
            ok: d.ok,
            kind: d.kind,
            group: d.group_key,
            detail: d.detail,
        })
        .collect();
    ReceiversPage { nav: "receivers", message, receivers, history }
}

/// Receivers with their last delivery result, a test button each, and the
/// newest delivery attempts.
async fn receivers(State(st): State<AppState>) -> Response {
    super::ui::page(receivers_page(&st, String::new()))
}

async fn test_receiver(State(st): State<AppState>, Path(name): Path<String>) -> Response {
    let message = match st.notifier.send_test(&name).await {
        Ok(()) => format!("Test notification sent to {name}."),
        Err(e) => format!("Test notification to {name} failed: {e}"),
    };
    super::ui::page(receivers_page(&st, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(extra: &[(&str, &str)]) -> Params {
        let mut p = vec![
            ("matchers", "alertname=\"DiskFull\""),
            ("duration", "1h"),
            ("created_by", "me"),
            ("comment", "on it"),
        ];
        p.extend_from_slice(extra);
        Params(p.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn the_silence_form_can_acknowledge() {
        assert!(!silence_from_form(&form(&[])).unwrap().ack);
        let s = silence_from_form(&form(&[("ack", "1")])).unwrap();
        assert!(s.ack, "a checked box makes an acknowledgement");
        assert_eq!((s.ends_at - s.starts_at).num_minutes(), 60, "still bounded by the duration");
    }
}
