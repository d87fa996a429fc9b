//! Runs the queries behind a page (dashboard panels, explore) and hands the
//! results to the panel renderers. The one place where UI meets PromQL.

use super::datasource::{pick, LocalSource, QuerySource, RemoteSources};
use super::panels::{render_panel, PanelData};
use crate::dashboards::{
    auto_step, expand_expr, expand_text, resolve_options, select_value, Dashboard, Panel, PanelType, TimeRange,
    VarValue, VarValues,
};
use crate::tsdb::Labels;

/// Points per series a chart asks for; about one per two pixels of a half-width panel.
const CHART_POINTS: i64 = 240;

/// A dashboard variable as the page shows it: a select with its options.
#[derive(Clone, Debug, Default)]
pub struct VariableView {
    pub name: String,
    pub label: String,
    pub multi: bool,
    /// (value, shown text, selected)
    pub options: Vec<(String, String, bool)>,
    pub error: String,
}

/// The page's query string key for a variable, as Grafana names it.
pub fn var_param(name: &str) -> String {
    format!("var-{name}")
}

/// Resolves the dashboard's variables in order (later ones may use earlier
/// ones) from the store and the values the URL asks for.
pub fn resolve_variables(
    d: &Dashboard,
    src: &dyn QuerySource,
    range: TimeRange,
    requested: &dyn Fn(&str) -> Vec<String>,
) -> (VarValues, Vec<VariableView>) {
    let mut vars = VarValues::new();
    let mut views = Vec::new();
    let eval = |expr: &str, t: i64| -> Result<Vec<(Labels, f64)>, String> {
        src.instant(expr, t).map(|v| v.into_iter().filter_map(|(l, p)| p.last().map(|p| (l, p.1))).collect())
    };
    for var in &d.variables {
        let (options, error) = match resolve_options(var, src.querier(), range, &vars, Some(&eval)) {
            Ok(o) => (o, String::new()),
            Err(e) => (Vec::new(), e.to_string()),
        };
        let wanted = requested(&var_param(&var.name));
        let value = select_value(var, &wanted, &options);
        let selected = |o: &str| match &value {
            VarValue::All { .. } => o == ALL,
            VarValue::Values { values, .. } => values.iter().any(|v| v == o),
        };
        let mut shown: Vec<(String, String, bool)> = Vec::new();
        if var.include_all {
            shown.push((ALL.into(), "All".into(), selected(ALL)));
        }
        shown.extend(options.iter().map(|o| (o.clone(), o.clone(), selected(o))));
        views.push(VariableView {
            name: var.name.clone(),
            label: var.caption().to_string(),
            multi: var.multi,
            options: shown,
            error,
        });
        vars.set(&var.name, value);
    }
    (vars, views)
}

/// The value a URL uses for "All", as in Grafana.
const ALL: &str = "$__all";

/// A dashboard row as the page draws it.
#[derive(Clone, Debug, Default)]
pub struct RowView {
    /// Heading (variables expanded); empty draws none.
    pub title: String,
    /// Folded: its panels were not queried.
    pub collapsed: bool,
    /// Index in the dashboard, used by `open=` in the URL.
    pub index: usize,
    /// (grid width, panel HTML).
    pub panels: Vec<(u32, String)>,
}

/// Where a page's render time went, summed over panels (and so over threads):
/// shown in the `Server-Timing` header so a slow page says why.
#[derive(Debug, Default)]
pub struct RenderTimings {
    /// Microseconds spent evaluating panel queries.
    pub queries_us: std::sync::atomic::AtomicU64,
    /// Microseconds spent drawing panels (SVG and HTML).
    pub drawing_us: std::sync::atomic::AtomicU64,
}

impl RenderTimings {
    fn add(counter: &std::sync::atomic::AtomicU64, since: std::time::Instant) {
        counter.fetch_add(since.elapsed().as_micros() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    /// (queries, drawing) in milliseconds.
    pub fn ms(&self) -> (f64, f64) {
        let get = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1000.0;
        (get(&self.queries_us), get(&self.drawing_us))
    }
}

/// Evaluates every panel of `d` over `range` with the variables'
/// values and renders it, each on its datasource (the panel's, else the
/// dashboard's, else the local store). Rows that start collapsed are only
/// queried when `is_open(row index)` says the page opened them. Panels are
/// rendered on two threads: queries dominate and the machine has cores to spare.
#[allow(clippy::too_many_arguments)]
pub fn render_dashboard(
    d: &Dashboard,
    vars: &VarValues,
    local: &LocalSource,
    remotes: &RemoteSources,
    range: TimeRange,
    is_open: &dyn Fn(usize) -> bool,
    timings: &RenderTimings,
) -> Vec<RowView> {
    let step = auto_step(range, CHART_POINTS as u32, vars.scrape_interval_ms);
    let mut jobs: Vec<(usize, usize, &Panel)> = Vec::new();
    let mut rows: Vec<RowView> = d
        .rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let collapsed = row.collapsed && !is_open(i);
            if !collapsed {
                jobs.extend(row.panels.iter().enumerate().map(|(j, p)| (i, j, p)));
            }
            RowView { title: expand_text(&row.title, vars), collapsed, index: i, panels: Vec::new() }
        })
        .collect();
    let render = |panel: &Panel| -> (u32, String) {
        let html = match pick(panel.datasource.as_deref().or(d.datasource.as_deref()), local, remotes) {
            Ok(src) => render_one(panel, vars, src, range, step, timings),
            Err(e) => render_panel(panel, &PanelData { targets: vec![Err(e)], step_ms: Some(step) }, range),
        };
        (panel.width, html)
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 4);
    let mut done: Vec<(usize, usize, (u32, String))> = if threads == 1 || jobs.len() < 2 {
        jobs.iter().map(|(i, j, p)| (*i, *j, render(p))).collect()
    } else {
        let next = std::sync::atomic::AtomicUsize::new(0);
        std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        let mut out = Vec::new();
                        loop {
                            let k = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                            let Some((i, j, p)) = jobs.get(k) else { break };
                            out.push((*i, *j, render(p)));
                        }
                        out
                    })
                })
                .collect();
            handles.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
        })
    };
    done.sort_by_key(|(i, j, _)| (*i, *j));
    for (i, _, panel) in done {
        if let Some(r) = rows.get_mut(i) {
            r.panels.push(panel);
        }
    }
    rows
}

/// Queries and renders one panel, with an "explore" link to its first query.
fn render_one(
    panel: &Panel,
    vars: &VarValues,
    src: &dyn QuerySource,
    range: TimeRange,
    step: i64,
    timings: &RenderTimings,
) -> String {
    let (start, end) = (range.start, range.end);
    let started = std::time::Instant::now();
    let mut first_expr = None;
    let targets = if panel.kind == PanelType::Text {
        Vec::new()
    } else {
        panel
            .targets
            .iter()
            .map(|t| {
                let expr = expand_expr(&t.expr, vars, range, step);
                let r = if t.instant || matches!(panel.kind, PanelType::Table) {
                    src.instant(&expr, end)
                } else {
                    src.range(&expr, start, end, step)
                };
                first_expr.get_or_insert(expr);
                r
            })
            .collect()
    };
    RenderTimings::add(&timings.queries_us, started);
    let started = std::time::Instant::now();
    let data = PanelData { targets, step_ms: Some(step) };
    let mut shown = panel.clone();
    shown.title = expand_text(&panel.title, vars);
    let html = render_panel(&shown, &data, range);
    RenderTimings::add(&timings.drawing_us, started);
    match first_expr {
        Some(expr) => {
            let href = format!(
                "/explore?{}",
                form_urlencoded::Serializer::new(String::new())
                    .append_pair("q", &expr)
                    .append_pair("from", &start.to_string())
                    .append_pair("to", &end.to_string())
                    .finish()
            );
            let link = format!(
                r#" <a class="panel-explore" href="{}" title="Open this query in Explore">explore</a></figcaption>"#,
                super::charts::xml_escape(&href)
            );
            html.replacen("</figcaption>", &link, 1)
        }
        None => html,
    }
}

/// Explore: a chart of the query over the range and a table of its values at the end.
pub fn render_explore(
    query: &str,
    src: &dyn QuerySource,
    start: i64,
    end: i64,
) -> Result<(String, Vec<(String, String)>), String> {
    let range = TimeRange::new(start, end);
    let step = auto_step(range, CHART_POINTS as u32, crate::dashboards::DEFAULT_SCRAPE_INTERVAL_MS);
    let table = src
        .instant(query, end)?
        .into_iter()
        .map(|(labels, points)| (labels.to_string(), points.last().map_or(String::new(), |p| super::api::float(p.1))))
        .collect();
    // A plain time-series panel with every setting at its default.
    let panel: Panel = serde_json::from_value(
        serde_json::json!({"title": "", "width": 24, "height": 12, "targets": [{"expr": query}]}),
    )
    .map_err(|e| e.to_string())?;
    let data = PanelData { targets: vec![src.range(query, start, end, step)], step_ms: Some(step) };
    let chart = render_panel(&panel, &data, range);
    Ok((chart, table))
}
