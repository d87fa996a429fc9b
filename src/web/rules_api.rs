//! `/api/v1/rules` and `/api/v1/alerts` in Prometheus's JSON shape, plus
//! `POST /api/v1/rules/reload` is left to `/-/reload` (the lead's handler
//! calls `RuleManager::reload_config`). Needs `AppState.rules`.

use super::AppState;
use crate::rules::api::{manager_alerts, manager_rules, RulesFilter};
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The rules API routes.
pub fn routes() -> Router<AppState> {
    Router::new().route("/api/v1/rules", get(rules).post(rules)).route("/api/v1/alerts", get(alerts).post(alerts))
}

async fn rules(State(state): State<AppState>, RawQuery(q): RawQuery) -> Response {
    let q = q.unwrap_or_default();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let filter = match RulesFilter::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str()))) {
        Ok(f) => f,
        Err(e) => {
            return (StatusCode::BAD_REQUEST, Json(json!({"status": "error", "errorType": "bad_data", "error": e})))
                .into_response();
        }
    };
    // Group locks are held while a group evaluates: wait off the executor.
    let mgr = state.rules.clone();
    match tokio::task::spawn_blocking(move || manager_rules(&mgr, &filter)).await {
        Ok(data) => Json(json!({"status": "success", "data": data})).into_response(),
        Err(_) => internal(),
    }
}

async fn alerts(State(state): State<AppState>) -> Response {
    let mgr = state.rules.clone();
    match tokio::task::spawn_blocking(move || manager_alerts(&mgr)).await {
        Ok(data) => Json(json!({"status": "success", "data": data})).into_response(),
        Err(_) => internal(),
    }
}

fn internal() -> Response {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        Json(json!({"status": "error", "errorType": "internal", "error": "reading rules failed"})),
    )
        .into_response()
}
