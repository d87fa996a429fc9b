//! Server-rendered pages (askama). Every page works without JavaScript.

use super::params::Params;
use super::AppState;
use crate::scrape::{Health, TargetStatus};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

/// Changes whenever the stylesheet does, so browsers may cache it for long.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");
const STYLE_CSS: &str = include_str!("../../assets/style.css");

/// The time ranges offered above every chart.
pub const RANGES: [(&str, i64); 5] =
    [("15m", 900_000), ("1h", 3_600_000), ("6h", 21_600_000), ("24h", 86_400_000), ("7d", 604_800_000)];

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/targets", get(targets))
        .route("/status", get(status))
        .route("/dashboards", get(dashboards))
        .route("/d/{uid}", get(dashboard))
        .route("/explore", get(explore))
        .route("/assets/style.css", get(style))
}

/// Renders a template, or a plain 500 if the template itself fails.
fn page(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("template error: {e}")).into_response(),
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: &'a str,
    heading: &'a str,
    message: String,
}

fn server_error(message: String) -> Response {
    let mut r = page(ErrorPage { nav: "", heading: "Something went wrong", message });
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}

fn not_found(message: String) -> Response {
    let mut r = page(ErrorPage { nav: "", heading: "Not found", message });
    *r.status_mut() = StatusCode::NOT_FOUND;
    r
}

async fn style() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")], STYLE_CSS)
        .into_response()
}

/// One row of a targets table, formatted for display.
struct TargetRow {
    url: String,
    health: &'static str,
    labels: Vec<(String, String)>,
    last_scrape: String,
    duration: String,
    error: String,
}

struct JobRows {
    name: String,
    up: usize,
    targets: Vec<TargetRow>,
}

fn job_rows(targets: Vec<TargetStatus>) -> Vec<JobRows> {
    let now = std::time::SystemTime::now();
    let mut jobs: Vec<JobRows> = Vec::new();
    for t in targets {
        let row = TargetRow {
            url: t.target.url.clone(),
            health: t.health.health.as_str(),
            labels: t.target.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect(),
            last_scrape: t
                .health
                .last_scrape
                .and_then(|s| now.duration_since(s).ok())
                .map_or("never".into(), |d| format!("{:.1}s ago", d.as_secs_f64())),
            duration: if t.health.last_scrape.is_some() {
                format!("{:.1} ms", t.health.last_duration.as_secs_f64() * 1000.0)
            } else {
                String::new()
            },
            error: t.health.last_error.clone(),
        };
        let up = usize::from(t.health.health == Health::Up);
        match jobs.last_mut() {
            Some(j) if j.name == t.job => {
                j.up += up;
                j.targets.push(row);
            }
            _ => jobs.push(JobRows { name: t.job.clone(), up, targets: vec![row] }),
        }
    }
    jobs
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: &'static str,
    up: usize,
    total: usize,
    series: usize,
    samples: u64,
    db_size: String,
    dashboards: Vec<(String, String)>,
    jobs: Vec<JobRows>,
}

async fn home(State(st): State<AppState>) -> Response {
    let jobs = job_rows(st.targets.targets());
    let stats = st.store_status.stats();
    page(HomePage {
        nav: "home",
        up: jobs.iter().map(|j| j.up).sum(),
        total: jobs.iter().map(|j| j.targets.len()).sum(),
        series: stats.series,
        samples: stats.samples_appended,
        db_size: human_bytes(stats.size_bytes),
        dashboards: st.dashboards.iter().map(|d| (d.uid.clone(), d.title.clone())).collect(),
        jobs,
    })
}

#[derive(Template)]
#[template(path = "targets.html")]
struct TargetsPage {
    nav: &'static str,
    jobs: Vec<JobRows>,
    dropped: Vec<(String, String)>,
}

async fn targets(State(st): State<AppState>) -> Response {
    let dropped = st.targets.dropped_targets().into_iter().map(|d| (d.job, d.discovered.to_string())).collect();
    page(TargetsPage { nav: "targets", jobs: job_rows(st.targets.targets()), dropped })
}

#[derive(Template)]
#[template(path = "status.html")]
struct StatusPage {
    nav: &'static str,
    rows: Vec<(&'static str, String)>,
    config_yaml: String,
}

async fn status(State(st): State<AppState>) -> Response {
    let stats = st.store_status.stats();
    let fmt_time = |t: Option<i64>| t.map_or("—".to_string(), super::params::rfc3339);
    let rows = vec![
        ("Version", env!("CARGO_PKG_VERSION").to_string()),
        ("Config file", st.info.config_file.clone()),
        ("Listen address", st.info.listen.clone()),
        ("Data directory", st.info.data_dir.clone()),
        (
            "Started",
            fmt_time(st.info.started.and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_millis() as i64)),
        ),
        ("Series", stats.series.to_string()),
        ("Samples appended since start", stats.samples_appended.to_string()),
        ("Database size", human_bytes(stats.size_bytes)),
        ("Oldest sample", fmt_time(stats.min_time)),
        ("Newest sample", fmt_time(stats.max_time)),
    ];
    page(StatusPage { nav: "status", rows, config_yaml: st.info.config_yaml.clone() })
}

#[derive(Template)]
#[template(path = "dashboards.html")]
struct DashboardsPage {
    nav: &'static str,
    dashboards: Vec<(String, String, Vec<String>)>,
}

async fn dashboards(State(st): State<AppState>) -> Response {
    let dashboards = st.dashboards.iter().map(|d| (d.uid.clone(), d.title.clone(), d.tags.clone())).collect();
    page(DashboardsPage { nav: "dashboards", dashboards })
}

/// The chosen range (`?range=1h`), or the default.
fn range_param(p: &Params, default: &str) -> (String, i64) {
    let wanted = p.get("range").unwrap_or(default);
    RANGES
        .iter()
        .find(|(name, _)| *name == wanted)
        .or_else(|| RANGES.iter().find(|(name, _)| *name == default))
        .map_or(("1h".into(), 3_600_000), |(n, ms)| (n.to_string(), *ms))
}

/// The offered range closest to a dashboard's default.
fn default_range_name(ms: i64) -> &'static str {
    RANGES.iter().min_by_key(|(_, r)| (r - ms).abs()).map_or("1h", |(n, _)| n)
}

/// Links for the range picker, keeping the other parameters of the page.
fn range_links(base: &str, p: &Params, current: &str) -> Vec<(&'static str, String, bool)> {
    RANGES
        .iter()
        .map(|(name, _)| {
            let mut q = form_urlencoded::Serializer::new(String::new());
            for (k, v) in p.0.iter().filter(|(k, _)| k != "range") {
                q.append_pair(k, v);
            }
            q.append_pair("range", name);
            (*name, format!("{base}?{}", q.finish()), *name == current)
        })
        .collect()
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: &'static str,
    uid: String,
    title: String,
    description: String,
    range: String,
    variables: Vec<super::view::VariableView>,
    refresh_secs: u64,
    ranges: Vec<(&'static str, String, bool)>,
    rows: Vec<(String, Vec<(u32, String)>)>,
}

async fn dashboard(State(st): State<AppState>, Path(uid): Path<String>, p: Params) -> Response {
    let Some(d) = st.dashboards.iter().find(|d| d.uid == uid).cloned() else {
        return not_found(format!("There is no dashboard {uid:?}."));
    };
    let (range_name, range_ms) = range_param(&p, default_range_name(d.time.0));
    let end = crate::tsdb::now_millis();
    let (engine, querier) = (st.engine.clone(), st.querier.clone());
    let (d2, p2) = (d.clone(), p.clone());
    let rendered = tokio::task::spawn_blocking(move || {
        let range = crate::dashboards::TimeRange::new(end - range_ms, end);
        let (vars, views) =
            super::view::resolve_variables(&d2, engine.as_ref(), querier.as_ref(), range, &|k: &str| p2.all(k));
        let rows = super::view::render_dashboard(&d2, &vars, engine.as_ref(), querier.as_ref(), end - range_ms, end);
        (views, rows)
    })
    .await;
    let (variables, rows) = match rendered {
        Ok(r) => r,
        Err(e) => return server_error(format!("rendering the dashboard failed: {e}")),
    };
    page(DashboardPage {
        nav: "dashboards",
        uid: d.uid.clone(),
        title: d.title.clone(),
        description: d.description.clone().unwrap_or_default(),
        refresh_secs: d.refresh.map_or(0, |r| (r.0 / 1000).max(1) as u64),
        ranges: range_links(&format!("/d/{uid}"), &p, &range_name),
        range: range_name,
        variables,
        rows,
    })
}

#[derive(Template)]
#[template(path = "explore.html")]
struct ExplorePage {
    nav: &'static str,
    query: String,
    range: String,
    ranges: Vec<(&'static str, String, bool)>,
    error: String,
    chart: String,
    table: Vec<(String, String)>,
}

async fn explore(State(st): State<AppState>, p: Params) -> Response {
    let query = p.get("q").unwrap_or_default().trim().to_string();
    let (range_name, range_ms) = range_param(&p, "1h");
    let mut view = ExplorePage {
        nav: "explore",
        query: query.clone(),
        range: range_name.clone(),
        ranges: range_links("/explore", &p, &range_name),
        error: String::new(),
        chart: String::new(),
        table: Vec::new(),
    };
    if !query.is_empty() {
        let end = crate::tsdb::now_millis();
        let (engine, querier) = (st.engine.clone(), st.querier.clone());
        let result = tokio::task::spawn_blocking(move || {
            super::view::render_explore(&query, engine.as_ref(), querier.as_ref(), end - range_ms, end)
        })
        .await;
        match result {
            Ok(Ok((chart, table))) => {
                view.chart = chart;
                view.table = table;
            }
            Ok(Err(e)) => view.error = e,
            Err(e) => view.error = e.to_string(),
        }
    }
    page(view)
}

/// 1.5 MiB, 12 KiB, 900 B.
pub fn human_bytes(n: u64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1024.0 && i < units.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}
