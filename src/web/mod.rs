//! The HTTP server: the Prometheus-compatible API (`api`), the UI pages
//! (`ui`) and server-drawn charts (`charts`, `panels`). Handlers are thin:
//! they parse, call one function, and render.

mod alerting_ui;
pub mod alertmanager_api;
mod api;
pub mod charts;
pub mod datasource;
mod ingest_api;
pub mod panels;
mod params;
mod rules_api;
mod timepick;
mod ui;
mod view;

use crate::promql::Engine;
use crate::scrape::{DroppedTarget, ScrapeManager, TargetStatus};
use crate::selfmon::{HandlerLabels, HttpLabels, Metrics};
use crate::tsdb::{Db, DbStats, Querier};
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::sync::Arc;
use std::time::SystemTime;

/// What the web layer needs to know about scrape targets.
pub trait TargetSource: Send + Sync {
    fn targets(&self) -> Vec<TargetStatus>;
    fn dropped_targets(&self) -> Vec<DroppedTarget>;
}

impl TargetSource for ScrapeManager {
    fn targets(&self) -> Vec<TargetStatus> {
        ScrapeManager::targets(self)
    }
    fn dropped_targets(&self) -> Vec<DroppedTarget> {
        ScrapeManager::dropped_targets(self)
    }
}

/// Re-reads the configuration (`POST /-/reload`, as in Prometheus).
pub trait Reload: Send + Sync {
    fn reload(&self) -> Result<(), String>;
}

/// What the web layer needs to know about the store besides querying it.
pub trait StoreStatus: Send + Sync {
    fn stats(&self) -> DbStats;
}

impl StoreStatus for Db {
    fn stats(&self) -> DbStats {
        Db::stats(self)
    }
}

/// Facts shown on the status page and `/api/v1/status/*`.
#[derive(Clone, Debug, Default)]
pub struct RuntimeInfo {
    pub config_file: String,
    pub config_yaml: String,
    pub data_dir: String,
    pub listen: String,
    /// How long samples are kept (Prometheus's duration form).
    pub retention: String,
    pub started: Option<SystemTime>,
    /// `global.external_labels`, attached to federated series.
    pub external_labels: crate::tsdb::Labels,
}

/// Everything the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub querier: Arc<dyn Querier>,
    pub store_status: Arc<dyn StoreStatus>,
    pub engine: Arc<Engine>,
    /// API queries evaluated at once (`query.max_concurrency`); more wait.
    pub query_slots: Arc<tokio::sync::Semaphore>,
    pub targets: Arc<dyn TargetSource>,
    pub metrics: Arc<Metrics>,
    /// Every dashboard the UI lists: built-ins, files from `dashboards.paths`, saved ones.
    pub library: Arc<crate::dashboards::Library>,
    pub rules: Arc<crate::rules::RuleManager>,
    pub notifier: Arc<crate::notify::Notifier>,
    pub reload: Arc<dyn Reload>,
    pub info: Arc<RuntimeInfo>,
    /// Where pushed samples (remote write) go.
    pub appendable: Arc<dyn crate::tsdb::Appendable>,
    /// Remote query APIs dashboards and Explore may use (`datasources:`).
    pub datasources: Arc<datasource::RemoteSources>,
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes())
        .merge(ui::routes())
        .merge(rules_api::routes())
        .merge(alerting_ui::routes())
        .merge(alertmanager_api::routes(state.notifier.clone()))
        .merge(ingest_api::routes())
        .route("/metrics", get(self_metrics))
        .route("/-/healthy", get(|| async { "Sightline is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Sightline is Ready.\n" }))
        .route("/-/reload", axum::routing::post(reload))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track_requests))
        .with_state(state)
}

async fn reload(State(state): State<AppState>) -> Response {
    let r = state.reload.clone();
    match tokio::task::spawn_blocking(move || r.reload()).await {
        Ok(Ok(())) => "Reloaded.\n".into_response(),
        Ok(Err(e)) => {
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, format!("failed to reload config: {e}\n")).into_response()
        }
        Err(e) => (axum::http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn self_metrics(State(state): State<AppState>) -> Response {
    state.metrics.observe_store(&state.store_status.stats());
    let body = state
        .metrics
        .encode_with(&(state.rules.metrics.encode() + &ingest_api::encode_stats() + &crate::remote::encode_metrics()));
    ([("content-type", "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

/// Counts requests and their latency by route pattern (never by raw path,
/// which would let clients create unbounded series).
async fn track_requests(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let handler = req.extensions().get::<MatchedPath>().map_or("other", |p| p.as_str()).to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let code = resp.status().as_u16().to_string();
    state.metrics.http_requests.get_or_create(&HttpLabels { handler: handler.clone(), code }).inc();
    state.metrics.http_duration.get_or_create(&HandlerLabels { handler }).observe(started.elapsed().as_secs_f64());
    resp
}
