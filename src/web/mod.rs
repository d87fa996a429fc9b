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
pub mod tls;
pub(crate) mod ui;
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
    /// Users, tokens, sessions.
    pub auth: Arc<crate::auth::Auth>,
    /// The `web:` settings (body and rate limits).
    pub web: Arc<crate::config::WebConfig>,
    /// Remote query APIs dashboards and Explore may use (`datasources:`).
    pub datasources: Arc<datasource::RemoteSources>,
}

/// The whole application router. Every route needs a row in
/// `auth::policy::POLICY`; the guard refuses one without. Rate limits sit
/// outside the guard, so unauthenticated floods are limited too.
pub fn router(state: AppState) -> Router {
    use crate::auth::middleware::{body_size_limit, guard, security_headers, Guard};
    use crate::auth::stats::Refused;
    let web = state.web.clone();
    let guard_state = Guard { auth: state.auth.clone(), max_body: web.max_request_body_bytes };
    let guarded = |r: Router<AppState>| r.layer(axum::middleware::from_fn_with_state(guard_state.clone(), guard));
    let api = Router::new()
        .merge(api::routes())
        .merge(rules_api::routes())
        .merge(alertmanager_api::routes(state.notifier.clone()))
        .merge(ingest_api::routes());
    let api = rate_limited(&state.auth, guarded(api), web.api_rate_limit, None, Refused::RateLimitedApi);
    // Only sign-in attempts count against the login limit, not showing the form.
    let login = rate_limited(
        &state.auth,
        guarded(crate::auth::pages::login_routes()),
        web.login_rate_limit,
        Some(axum::http::Method::POST),
        Refused::RateLimitedLogin,
    );
    let metrics = rate_limited(
        &state.auth,
        guarded(Router::new().route("/metrics", get(self_metrics))),
        web.metrics_rate_limit,
        None,
        Refused::RateLimitedMetrics,
    );
    let rest = Router::new()
        .merge(ui::routes())
        .merge(alerting_ui::routes())
        .merge(crate::auth::pages::routes())
        .route("/-/healthy", get(|| async { "Sightline is Healthy.\n" }))
        .route("/-/ready", get(|| async { "Sightline is Ready.\n" }))
        .route("/-/reload", axum::routing::post(reload))
        .fallback(|| async { (axum::http::StatusCode::NOT_FOUND, "404 page not found\n") });
    Router::new()
        .merge(api)
        .merge(login)
        .merge(metrics)
        .merge(guarded(rest))
        .layer(axum::extract::DefaultBodyLimit::max(web.max_request_body_bytes))
        .layer(axum::middleware::from_fn_with_state(web.max_request_body_bytes, body_size_limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), track_requests))
        .layer(axum::middleware::from_fn(security_headers))
        .with_state(state)
}

/// Per-client-IP key; requests without a peer address (in-process tests)
/// share one bucket instead of failing. Sightline's own self-scrape gets a
/// bucket of its own, so local clients cannot starve it.
#[derive(Clone)]
struct PeerIp(Arc<crate::auth::Auth>);

impl tower_governor::key_extractor::KeyExtractor for PeerIp {
    type Key = (std::net::IpAddr, bool);
    fn extract<T>(&self, req: &axum::http::Request<T>) -> Result<Self::Key, tower_governor::GovernorError> {
        let ip = req
            .extensions()
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        let internal = req
            .headers()
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| self.0.is_internal_token(v));
        Ok((ip, internal))
    }
}

/// A limit of `per_minute` requests per client IP (a full minute's worth
/// may come at once, then one every 60/per_minute seconds); 429 with
/// Retry-After beyond it, counted and logged.
fn rate_limited(
    auth: &Arc<crate::auth::Auth>,
    routes: Router<AppState>,
    per_minute: u32,
    only: Option<axum::http::Method>,
    which: crate::auth::stats::Refused,
) -> Router<AppState> {
    let per_minute = per_minute.max(1);
    let mut builder = tower_governor::governor::GovernorConfigBuilder::default().key_extractor(PeerIp(auth.clone()));
    builder.per_nanosecond((60_000_000_000 / u64::from(per_minute)).max(1)).burst_size(per_minute);
    if let Some(m) = only {
        builder.methods(vec![m]);
    }
    let config = builder.finish();
    // Both figures are non-zero, so `finish` cannot refuse them.
    let config = Arc::new(config.expect("non-zero rate limit"));
    // Forget idle clients now and then, so the table does not grow without bound.
    if let Ok(rt) = tokio::runtime::Handle::try_current() {
        let limiter = Arc::downgrade(&config);
        rt.spawn(async move {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(60)).await;
                let Some(c) = limiter.upgrade() else { break };
                c.limiter().retain_recent();
            }
        });
    }
    routes.layer(tower_governor::GovernorLayer::new(config).error_handler(move |e| {
        if let tower_governor::GovernorError::TooManyRequests { wait_time, .. } = &e {
            crate::auth::stats::count(which);
            tracing::warn!(limit = ?which, retry_after_s = wait_time, "rate limit reached; answering 429");
        }
        e.into_response().map(axum::body::Body::from)
    }))
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
    let body = state.metrics.encode_with(
        &(state.rules.metrics.encode()
            + &ingest_api::encode_stats()
            + &crate::remote::encode_metrics()
            + &crate::auth::stats::encode()),
    );
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
