//! Runs the queries behind a page (dashboard panels, explore) and hands the
//! results to the panel renderers. The one place where UI meets PromQL.

use super::panels::{render_panel, PanelData};
use crate::dashboards::{expand_expr, Dashboard, Panel, PanelType, TimeRange, VarValues};
use crate::promql::{Engine, Value};
use crate::tsdb::{Labels, Querier};

/// Points per series a chart asks for; about one per two pixels of a half-width panel.
const CHART_POINTS: i64 = 240;

/// The step for a range so that charts get about [`CHART_POINTS`] points, rounded to whole seconds.
pub fn step_for(range_ms: i64) -> i64 {
    ((range_ms / CHART_POINTS) / 1000).max(1) * 1000
}

/// Evaluates every panel of `d` over `[start, end]` and renders it; returns
/// rows as (title, [(grid width, html)]).
pub fn render_dashboard(d: &Dashboard, engine: &Engine, q: &dyn Querier, start: i64, end: i64) -> Vec<(String, Vec<(u32, String)>)> {
    let step = step_for(end - start);
    let range = TimeRange::new(start, end);
    let vars = VarValues::new();
    d.rows
        .iter()
        .map(|row| {
            let panels = row
                .panels
                .iter()
                .map(|panel| {
                    let targets = if panel.kind == PanelType::Text {
                        Vec::new()
                    } else {
                        panel
                            .targets
                            .iter()
                            .map(|t| {
                                let expr = expand_expr(&t.expr, &vars, range, step);
                                if t.instant || matches!(panel.kind, PanelType::Table) {
                                    instant(engine, q, &expr, end)
                                } else {
                                    range_series(engine, q, &expr, start, end, step)
                                }
                            })
                            .collect()
                    };
                    let data = PanelData { targets, step_ms: Some(step) };
                    (panel.width, render_panel(panel, &data, range))
                })
                .collect();
            (row.title.clone(), panels)
        })
        .collect()
}

type SeriesData = Result<Vec<(Labels, Vec<(i64, f64)>)>, String>;

fn range_series(engine: &Engine, q: &dyn Querier, expr: &str, start: i64, end: i64, step: i64) -> SeriesData {
    let r = engine.range_query(q, expr, start, end, step).map_err(|e| e.to_string())?;
    match r.value {
        Value::Matrix(series) => {
            Ok(series.into_iter().map(|s| (s.labels, s.samples.into_iter().map(|p| (p.t, p.v)).collect())).collect())
        }
        _ => Err("expected a range vector".into()),
    }
}

fn instant(engine: &Engine, q: &dyn Querier, expr: &str, t: i64) -> SeriesData {
    let r = engine.instant_query(q, expr, t).map_err(|e| e.to_string())?;
    Ok(match r.value {
        Value::Vector(v) => v.into_iter().map(|s| (s.labels, vec![(s.t, s.v)])).collect(),
        Value::Scalar { t, v } => vec![(Labels::new(), vec![(t, v)])],
        Value::Matrix(m) => m.into_iter().map(|s| (s.labels, s.samples.into_iter().map(|p| (p.t, p.v)).collect())).collect(),
        Value::String { .. } => Vec::new(),
    })
}

/// Explore: a chart of the query over the range and a table of its values at the end.
pub fn render_explore(query: &str, engine: &Engine, q: &dyn Querier, start: i64, end: i64) -> Result<(String, Vec<(String, String)>), String> {
    let step = step_for(end - start);
    let range = TimeRange::new(start, end);
    let table = instant(engine, q, query, end)?
        .into_iter()
        .map(|(labels, points)| (labels.to_string(), points.last().map_or(String::new(), |p| super::api::float(p.1))))
        .collect();
    // A plain time-series panel with every setting at its default.
    let panel: Panel = serde_json::from_value(serde_json::json!({"title": "", "targets": [{"expr": query}]}))
        .map_err(|e| e.to_string())?;
    let data = PanelData { targets: vec![range_series(engine, q, query, start, end, step)], step_ms: Some(step) };
    let chart = render_panel(&panel, &data, range);
    Ok((chart, table))
}
