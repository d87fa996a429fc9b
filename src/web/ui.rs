//! Server-rendered pages (askama). Every page works without JavaScript.

use super::datasource::LocalSource;
use super::params::Params;
use super::timepick::{self, Picker, TimeSel};
use super::AppState;
use crate::dashboards::{Dashboard, Source};
use crate::scrape::{Health, TargetStatus};
use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

/// Changes whenever the stylesheet does, so browsers may cache it for long.
pub const ASSET_VERSION: &str = env!("CARGO_PKG_VERSION");
const STYLE_CSS: &str = include_str!("../../assets/style.css");
const SCRIPT_JS: &str = include_str!("../../assets/sightline.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(home))
        .route("/targets", get(targets))
        .route("/status", get(status))
        .route("/dashboards", get(dashboards))
        .route("/dashboards/new", get(new_dashboard))
        .route("/dashboards/save", post(save_dashboard))
        .route("/dashboards/import", get(import_form).post(import_upload))
        .route("/d/{uid}", get(dashboard))
        .route("/d/{uid}/edit", get(edit_dashboard))
        .route("/d/{uid}/delete", post(delete_dashboard))
        .route("/explore", get(explore))
        .route("/assets/style.css", get(style))
        .route("/assets/sightline.js", get(script))
}

/// Renders a template, or a plain 500 if the template itself fails.
/// No inline scripts, no foreign origins: the optional script is a file of ours.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
                   object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

pub(super) fn page(t: impl Template) -> Response {
    match t.render() {
        Ok(html) => ([(header::CONTENT_SECURITY_POLICY, CSP)], Html(html)).into_response(),
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

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=86400")],
        SCRIPT_JS,
    )
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
    /// Firing alerts: (name, labels as text).
    firing: Vec<(String, String)>,
}

async fn home(State(st): State<AppState>) -> Response {
    let lib = st.library.clone();
    let dashboards = tokio::task::spawn_blocking(move || {
        lib.list().iter().map(|e| (e.dashboard.uid.clone(), e.dashboard.title.clone())).collect()
    })
    .await
    .unwrap_or_default();
    let jobs = job_rows(st.targets.targets());
    let stats = st.store_status.stats();
    page(HomePage {
        nav: "home",
        up: jobs.iter().map(|j| j.up).sum(),
        total: jobs.iter().map(|j| j.targets.len()).sum(),
        series: stats.series,
        samples: stats.samples_appended,
        db_size: human_bytes(stats.size_bytes),
        dashboards,
        jobs,
        firing: st
            .rules
            .active_alerts()
            .into_iter()
            .filter(|(_, _, a)| a.state == crate::rules::AlertState::Firing)
            .map(|(name, _, a)| (name, a.labels.to_string()))
            .collect(),
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
            fmt_time(
                st.info
                    .started
                    .and_then(|s| s.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|d| d.as_millis() as i64),
            ),
        ),
        ("Series", stats.series.to_string()),
        ("Samples appended since start", stats.samples_appended.to_string()),
        ("Database size", human_bytes(stats.size_bytes)),
        ("Oldest sample", fmt_time(stats.min_time)),
        ("Newest sample", fmt_time(stats.max_time)),
    ];
    page(StatusPage { nav: "status", rows, config_yaml: st.info.config_yaml.clone() })
}

/// One line of the dashboards list.
struct DashRow {
    uid: String,
    title: String,
    description: String,
    tags: Vec<(String, String)>,
    kind: &'static str,
}

#[derive(Template)]
#[template(path = "dashboards.html")]
struct DashboardsPage {
    nav: &'static str,
    q: String,
    tag: String,
    /// (tag, href toggling it, current)
    tags: Vec<(String, String, bool)>,
    dashboards: Vec<DashRow>,
    total: usize,
    errors: Vec<String>,
    paths: Vec<String>,
}

/// Whether `d` matches the search words (all of them, in title, uid, tags or description).
fn matches_search(d: &Dashboard, q: &str) -> bool {
    let hay =
        format!("{} {} {} {}", d.title, d.uid, d.tags.join(" "), d.description.as_deref().unwrap_or("")).to_lowercase();
    q.to_lowercase().split_whitespace().all(|w| hay.contains(w))
}

async fn dashboards(State(st): State<AppState>, p: Params) -> Response {
    let q = p.get("q").unwrap_or_default().trim().to_string();
    let tag = p.get("tag").unwrap_or_default().trim().to_string();
    let lib = st.library.clone();
    let (all, errors) = match tokio::task::spawn_blocking(move || (lib.list(), lib.errors())).await {
        Ok(r) => r,
        Err(e) => return server_error(format!("listing dashboards failed: {e}")),
    };
    let tag_href = |t: &str| timepick::link("/dashboards", &p, &[("tag", t)]);
    let mut tags: Vec<String> = all.iter().flat_map(|e| e.dashboard.tags.iter().cloned()).collect();
    tags.sort();
    tags.dedup();
    let tags = tags.into_iter().map(|t| (t.clone(), tag_href(if t == tag { "" } else { &t }), t == tag)).collect();
    let total = all.len();
    let dashboards = all
        .iter()
        .filter(|e| tag.is_empty() || e.dashboard.tags.contains(&tag))
        .filter(|e| matches_search(&e.dashboard, &q))
        .map(|e| DashRow {
            uid: e.dashboard.uid.clone(),
            title: e.dashboard.title.clone(),
            description: e.dashboard.description.clone().unwrap_or_default(),
            tags: e.dashboard.tags.iter().map(|t| (t.clone(), tag_href(t))).collect(),
            kind: e.source.kind(),
        })
        .collect();
    let paths = st.library.paths().iter().map(|p| p.display().to_string()).collect();
    page(DashboardsPage { nav: "dashboards", q, tag, tags, dashboards, total, errors, paths })
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    nav: &'static str,
    uid: String,
    title: String,
    description: String,
    kind: &'static str,
    picker: Picker,
    /// Time and refresh parameters the variables form carries along.
    keep: Vec<(String, String)>,
    variables: Vec<super::view::VariableView>,
    rows: Vec<(super::view::RowView, String)>,
}

async fn dashboard(State(st): State<AppState>, Path(uid): Path<String>, p: Params) -> Response {
    let lib = st.library.clone();
    let uid2 = uid.clone();
    let Ok(Some(entry)) = tokio::task::spawn_blocking(move || lib.get(&uid2)).await else {
        return not_found(format!("There is no dashboard {uid:?}."));
    };
    let d = entry.dashboard.clone();
    let now = crate::tsdb::now_millis();
    let mut p = p;
    if p.get("refresh").is_none() && p.get("from").is_none() && p.get("range").is_none() {
        if let Some(r) = d.refresh {
            p.0.push(("refresh".into(), crate::dashboards::format_duration(r.0)));
        }
    }
    let t = TimeSel::from_params(&p, d.time.0, now);
    let (engine, querier, remotes) = (st.engine.clone(), st.querier.clone(), st.datasources.clone());
    let (d2, p2, t2) = (d.clone(), p.clone(), t.clone());
    let started = std::time::Instant::now();
    let rendered = tokio::task::spawn_blocking(move || {
        let range = crate::dashboards::TimeRange::new(t2.start, t2.end);
        let vars_started = std::time::Instant::now();
        let local = LocalSource { engine: engine.as_ref(), querier: querier.as_ref() };
        // Variables come from the dashboard's datasource; a wrong name shows on every panel.
        let var_source = super::datasource::pick(d2.datasource.as_deref(), &local, &remotes).unwrap_or(&local);
        let (vars, views) = super::view::resolve_variables(&d2, var_source, range, &|k: &str| p2.all(k));
        let vars_ms = vars_started.elapsed().as_secs_f64() * 1000.0;
        let open: Vec<usize> = p2.all("open").iter().filter_map(|s| s.parse().ok()).collect();
        let timings = super::view::RenderTimings::default();
        let rows = super::view::render_dashboard(&d2, &vars, &local, &remotes, range, &|i| open.contains(&i), &timings);
        let (query_ms, draw_ms) = timings.ms();
        (views, rows, format!("vars;dur={vars_ms:.1}, query;dur={query_ms:.1}, draw;dur={draw_ms:.1}"))
    })
    .await;
    let (variables, rows, timing) = match rendered {
        Ok(r) => r,
        Err(e) => return server_error(format!("rendering the dashboard failed: {e}")),
    };
    let base = format!("/d/{uid}");
    let rows = rows
        .into_iter()
        .map(|r| {
            let mut open: Vec<String> = p.all("open");
            let key = r.index.to_string();
            if r.collapsed {
                open.push(key);
            } else {
                open.retain(|o| *o != key);
            }
            let mut q = Params(p.0.iter().filter(|(k, _)| k != "open").cloned().collect());
            q.0.extend(open.into_iter().map(|o| ("open".to_string(), o)));
            let href = timepick::link(&base, &q, &[]);
            (r, href)
        })
        .collect();
    let keep =
        p.0.iter()
            .filter(|(k, _)| matches!(k.as_str(), "from" | "to" | "range" | "refresh" | "open"))
            .cloned()
            .collect();
    let mut resp = page(DashboardPage {
        nav: "dashboards",
        uid: d.uid.clone(),
        title: d.title.clone(),
        description: d.description.clone().unwrap_or_default(),
        kind: entry.source.kind(),
        picker: Picker::new(&base, &p, &t),
        keep,
        variables,
        rows,
    });
    server_timing(&mut resp, &timing, started);
    resp
}

/// `Server-Timing: vars;dur=.., query;dur=.., draw;dur=.., render;dur=12.3`
/// (query and draw summed over panels; render is the wall time, and last:
/// the benchmark reads it), for the benchmark and browsers' dev tools.
fn server_timing(resp: &mut Response, parts: &str, started: std::time::Instant) {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if let Ok(v) = header::HeaderValue::from_str(&format!("{parts}, render;dur={ms:.1}")) {
        resp.headers_mut().insert("server-timing", v);
    }
}

#[derive(Template)]
#[template(path = "edit.html")]
struct EditPage {
    nav: &'static str,
    heading: String,
    yaml: String,
    error: String,
    warnings: Vec<String>,
    /// The uid being edited when it is a saved dashboard ("Save" replaces it).
    saved_uid: String,
    note: String,
}

const NEW_DASHBOARD: &str = "title: My dashboard\ntags: []\ntime: 1h\nrows:\n  - title: Overview\n    panels:\n      - title: Targets up\n        type: stat\n        width: 6\n        targets:\n          - expr: sum(up)\n      - title: Scrape duration\n        unit: s\n        width: 18\n        targets:\n          - expr: scrape_duration_seconds\n            legend: \"{{job}} {{instance}}\"\n";

async fn new_dashboard() -> Response {
    page(EditPage {
        nav: "dashboards",
        heading: "New dashboard".into(),
        yaml: NEW_DASHBOARD.into(),
        error: String::new(),
        warnings: Vec::new(),
        saved_uid: String::new(),
        note: String::new(),
    })
}

async fn edit_dashboard(State(st): State<AppState>, Path(uid): Path<String>) -> Response {
    let lib = st.library.clone();
    let uid2 = uid.clone();
    let found = tokio::task::spawn_blocking(move || lib.get(&uid2).and_then(|e| lib.yaml(&uid2).map(|y| (e, y)))).await;
    let Ok(Some((entry, yaml))) = found else {
        return not_found(format!("There is no dashboard {uid:?}."));
    };
    let (saved_uid, note) = match &entry.source {
        Source::Saved => (uid.clone(), String::new()),
        Source::Builtin => (String::new(), "This is a built-in dashboard: change the uid and title, then \"Save as\" to keep your own copy.".into()),
        Source::File(p) => (String::new(), format!("This dashboard comes from {}: edit that file, or change the uid and \"Save as\" a copy in the database.", p.display())),
    };
    page(EditPage {
        nav: "dashboards",
        heading: format!("Edit {}", entry.dashboard.title),
        yaml,
        error: String::new(),
        warnings: Vec::new(),
        saved_uid,
        note,
    })
}

async fn save_dashboard(State(st): State<AppState>, p: Params) -> Response {
    let yaml = p.get("yaml").unwrap_or_default().replace("\r\n", "\n");
    let save_as = p.get("action") != Some("save");
    let saved_uid = p.get("saved_uid").unwrap_or_default().to_string();
    let lib = st.library.clone();
    let y2 = yaml.clone();
    let result = tokio::task::spawn_blocking(move || lib.save(&y2, save_as)).await;
    match result {
        Ok(Ok(uid)) => redirect(&format!("/d/{}", encode_path(&uid))),
        Ok(Err(e)) => {
            let mut r = page(EditPage {
                nav: "dashboards",
                heading: "Dashboard not saved".into(),
                yaml,
                error: e.to_string(),
                warnings: Vec::new(),
                saved_uid,
                note: String::new(),
            });
            *r.status_mut() = StatusCode::BAD_REQUEST;
            r
        }
        Err(e) => server_error(format!("saving failed: {e}")),
    }
}

/// Deletes a dashboard saved from the UI (built-ins and files cannot be).
async fn delete_dashboard(State(st): State<AppState>, Path(uid): Path<String>) -> Response {
    let lib = st.library.clone();
    let uid2 = uid.clone();
    match tokio::task::spawn_blocking(move || lib.delete(&uid2)).await {
        Ok(Ok(true)) => redirect("/dashboards"),
        Ok(Ok(false)) => not_found(format!("There is no saved dashboard {uid:?}.")),
        Ok(Err(e)) => server_error(e.to_string()),
        Err(e) => server_error(format!("deleting failed: {e}")),
    }
}

/// 303 See Other to `to`, the answer to a successful form POST.
fn redirect(to: &str) -> Response {
    let mut r = (StatusCode::SEE_OTHER, "").into_response();
    if let Ok(v) = header::HeaderValue::from_str(to) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r
}

/// Percent-encodes a uid for a URL path.
fn encode_path(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>().replace('+', "%20")
}

#[derive(Template)]
#[template(path = "import.html")]
struct ImportPage {
    nav: &'static str,
    json: String,
    error: String,
}

async fn import_form() -> Response {
    page(ImportPage { nav: "dashboards", json: String::new(), error: String::new() })
}

/// Takes a Grafana JSON from a file upload (multipart) or a pasted text
/// (urlencoded `json`), and shows the YAML to save, with what was left out.
async fn import_upload(State(_st): State<AppState>, req: axum::extract::Request) -> Response {
    let ct = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = match axum::body::to_bytes(req.into_body(), 8 << 20).await {
        Ok(b) => b,
        Err(e) => return bad_import(String::new(), format!("could not read the upload (8 MiB at most): {e}")),
    };
    let json = if ct.starts_with("multipart/form-data") {
        match multipart_fields(&ct, &body) {
            Ok(fields) => {
                let file = fields.iter().find(|(n, v)| n == "file" && !v.trim().is_empty()).map(|f| f.1.clone());
                let pasted = fields.iter().find(|(n, _)| n == "json").map(|f| f.1.clone());
                file.or(pasted).unwrap_or_default()
            }
            Err(e) => return bad_import(String::new(), e),
        }
    } else {
        form_urlencoded::parse(&body).find(|(k, _)| k == "json").map(|(_, v)| v.into_owned()).unwrap_or_default()
    };
    if json.trim().is_empty() {
        return bad_import(json, "choose a Grafana dashboard JSON file or paste its JSON".into());
    }
    match crate::dashboards::import_grafana_json(&json, "upload") {
        Ok((d, warnings)) => match crate::dashboards::to_yaml(&d) {
            Ok(yaml) => page(EditPage {
                nav: "dashboards",
                heading: format!("Import {}", d.title),
                yaml,
                error: String::new(),
                warnings,
                saved_uid: String::new(),
                note: "Check the YAML, then \"Save as\" to store it.".into(),
            }),
            Err(e) => server_error(format!("writing the YAML failed: {e}")),
        },
        Err(e) => bad_import(json, e.to_string()),
    }
}

fn bad_import(json: String, error: String) -> Response {
    let mut r = page(ImportPage { nav: "dashboards", json, error });
    *r.status_mut() = StatusCode::BAD_REQUEST;
    r
}

/// The text fields and files of a multipart/form-data body, as (name, UTF-8 content).
fn multipart_fields(content_type: &str, body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let boundary = content_type
        .split(';')
        .filter_map(|p| p.trim().strip_prefix("boundary="))
        .next()
        .map(|b| b.trim_matches('"').to_string())
        .ok_or("the upload has no multipart boundary")?;
    let delim = format!("--{boundary}");
    let text = String::from_utf8_lossy(body);
    let mut out = Vec::new();
    for part in text.split(delim.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        let name = head.lines().find(|l| l.to_ascii_lowercase().starts_with("content-disposition")).and_then(|l| {
            l.split(';').find_map(|p| p.trim().strip_prefix("name=").map(|n| n.trim_matches('"').to_string()))
        });
        if let Some(name) = name {
            out.push((name, content.to_string()));
        }
    }
    Ok(out)
}

#[derive(Template)]
#[template(path = "explore.html")]
struct ExplorePage {
    nav: &'static str,
    query: String,
    tab: String,
    picker: Picker,
    graph_href: String,
    table_href: String,
    /// Time parameters the query form carries along.
    keep: Vec<(String, String)>,
    error: String,
    chart: String,
    table: Vec<(String, String)>,
    /// The datasource queried (`ds=`), and every one to choose from.
    datasource: String,
    datasources: Vec<String>,
}

async fn explore(State(st): State<AppState>, p: Params) -> Response {
    let query = p.get("q").unwrap_or_default().trim().to_string();
    let tab = if p.get("tab") == Some("table") { "table" } else { "graph" }.to_string();
    let t = TimeSel::from_params(&p, 3_600_000, crate::tsdb::now_millis());
    let keep =
        p.0.iter()
            .filter(|(k, _)| matches!(k.as_str(), "from" | "to" | "range" | "refresh" | "tab"))
            .cloned()
            .collect();
    let local = crate::config::datasources::LOCAL.to_string();
    let datasource = p.get("ds").filter(|d| !d.is_empty()).map_or(local.clone(), str::to_string);
    let datasources = std::iter::once(local).chain(st.datasources.keys().cloned()).collect();
    let mut view = ExplorePage {
        nav: "explore",
        query: query.clone(),
        graph_href: timepick::link("/explore", &p, &[("tab", "graph")]),
        table_href: timepick::link("/explore", &p, &[("tab", "table")]),
        tab,
        picker: Picker::new("/explore", &p, &t),
        keep,
        error: String::new(),
        chart: String::new(),
        table: Vec::new(),
        datasource,
        datasources,
    };
    if !query.is_empty() {
        let (engine, querier, remotes) = (st.engine.clone(), st.querier.clone(), st.datasources.clone());
        let ds = view.datasource.clone();
        let result = tokio::task::spawn_blocking(move || {
            let local = LocalSource { engine: engine.as_ref(), querier: querier.as_ref() };
            let src = super::datasource::pick(Some(&ds), &local, &remotes)?;
            super::view::render_explore(&query, src, t.start, t.end)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_upload_fields() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"d.json\"\r\nContent-Type: application/json\r\n\r\n{\"title\": \"A\"}\r\n--XyZ\r\nContent-Disposition: form-data; name=\"json\"\r\n\r\n\r\n--XyZ--\r\n";
        let fields = multipart_fields("multipart/form-data; boundary=XyZ", body.as_bytes()).unwrap();
        assert_eq!(
            fields,
            vec![("file".to_string(), "{\"title\": \"A\"}".to_string()), ("json".into(), String::new())]
        );
        assert!(multipart_fields("multipart/form-data", b"").is_err());
    }

    #[test]
    fn search_matches_every_word_anywhere() {
        let d = crate::dashboards::Dashboard::find("host").unwrap();
        assert!(matches_search(d, ""));
        assert!(matches_search(d, "HOST node"));
        assert!(matches_search(d, "filesystems"), "description words count");
        assert!(!matches_search(d, "host kafka"));
    }

    #[test]
    fn uids_are_encoded_in_paths() {
        assert_eq!(encode_path("a b/c"), "a%20b%2Fc");
        assert_eq!(human_bytes(1536), "1.5 KiB");
    }
}
