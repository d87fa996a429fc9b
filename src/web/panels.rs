//! Panels rendered to HTML fragments: a `<figure>` holding the title, the
//! chart (SVG from [`super::charts`]) or table, a legend, and any query errors.
//!
//! Every label value, series name, title and text from a dashboard is
//! HTML-escaped; Markdown in text panels is rendered with raw HTML shown as
//! text and links limited to http(s), mailto and relative URLs.
//! CSS classes (styled by the stylesheet): `panel`, `panel-<type>`,
//! `panel-title`, `panel-info`, `panel-body`, `panel-error`, `no-data`,
//! `legend`, `legend-swatch`, `stat-grid`, `stat`, `stat-value`, `stat-name`,
//! `gauge-grid`, `panel-table`, `markdown`, and `thr-ok`/`thr-warn`/`thr-crit`
//! (plus `thr-none` when a panel has no thresholds).

use std::fmt::Write as _;

use super::charts::{
    assign_colors, bar_gauge_svg, gauge_svg, heatmap_svg, sparkline_svg, threshold_color, time_series_svg, xml_escape,
    ChartOptions, ChartSeries, GaugeOptions, HeatmapBucket,
};
use crate::dashboards::{Panel, PanelType, Severity, TimeRange, Unit};
use crate::tsdb::{Labels, METRIC_NAME};

/// What one target's query returned: series with their points (one point
/// for instant queries), or the query's error message.
pub type TargetData = Result<Vec<(Labels, Vec<(i64, f64)>)>, String>;

/// Query results for a panel, one entry per target in the panel's order.
#[derive(Clone, Debug, Default)]
pub struct PanelData {
    /// One result per target.
    pub targets: Vec<TargetData>,
    /// The step the range queries ran with; a longer gap breaks lines.
    pub step_ms: Option<i64>,
}

impl PanelData {
    /// Results without a known step.
    pub fn new(targets: Vec<TargetData>) -> PanelData {
        PanelData { targets, step_ms: None }
    }
}

/// Page-level settings for rendering.
#[derive(Clone, Copy, Debug)]
pub struct RenderOptions {
    /// Width in px that the 24 grid columns share (charts scale with CSS anyway;
    /// this sets their aspect ratio and text size).
    pub grid_width_px: u32,
    /// Offset of displayed times from UTC, in minutes.
    pub tz_offset_minutes: i32,
}

impl Default for RenderOptions {
    fn default() -> Self {
        RenderOptions { grid_width_px: 1200, tz_offset_minutes: 0 }
    }
}

/// Grafana's grid row height in px.
const ROW_PX: u32 = 30;

/// Renders a panel with default page settings.
pub fn render_panel(panel: &Panel, data: &PanelData, range: TimeRange) -> String {
    render_panel_with(panel, data, range, RenderOptions::default())
}

/// A series ready to draw: its legend name, labels and points.
struct Named {
    name: String,
    labels: Labels,
    points: Vec<(i64, f64)>,
}

impl Named {
    fn last(&self) -> Option<f64> {
        self.points.iter().rev().map(|p| p.1).find(|v| v.is_finite())
    }
}

/// Renders a panel to an HTML `<figure>`.
pub fn render_panel_with(panel: &Panel, data: &PanelData, range: TimeRange, opts: RenderOptions) -> String {
    let width_px = (opts.grid_width_px * panel.width.clamp(1, 24) / 24).saturating_sub(16).max(120);
    let height_px = (panel.height.max(1) * ROW_PX).saturating_sub(44).max(60);
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<figure class="panel panel-{kind}" data-width="{w}" data-height="{h}" style="--w:{w};--h:{h}">"#,
        kind = panel.kind.as_str(),
        w = panel.width.clamp(1, 24),
        h = panel.height
    );
    out.push_str(r#"<figcaption class="panel-title">"#);
    out.push_str(&xml_escape(&panel.title));
    if let Some(desc) = panel.description.as_deref().filter(|d| !d.is_empty()) {
        let _ = write!(
            out,
            r#" <span class="panel-info" title="{}" aria-label="Description" tabindex="0">i</span>"#,
            xml_escape(desc)
        );
    }
    out.push_str("</figcaption>");

    // Errors first, then whatever the other targets returned.
    let mut series: Vec<Named> = Vec::new();
    for (i, result) in data.targets.iter().enumerate() {
        match result {
            Err(msg) => {
                let expr = panel.targets.get(i).map(|t| t.expr.as_str()).unwrap_or("");
                let _ = write!(
                    out,
                    r#"<div class="panel-error" role="alert" title="{}">Query {} failed: {}</div>"#,
                    xml_escape(expr),
                    i + 1,
                    xml_escape(msg)
                );
            }
            Ok(rows) => {
                let target = panel.targets.get(i);
                for (labels, points) in rows {
                    let expr = target.map(|t| t.expr.as_str()).unwrap_or("");
                    let name = legend_name(target.and_then(|t| t.legend.as_deref()), labels, expr);
                    series.push(Named { name, labels: labels.clone(), points: points.clone() });
                }
            }
        }
    }

    out.push_str(r#"<div class="panel-body">"#);
    let has_data = series.iter().any(|s| s.points.iter().any(|p| p.1.is_finite()));
    if panel.kind == PanelType::Text {
        out.push_str(r#"<div class="markdown">"#);
        out.push_str(&markdown_to_html(panel.text.as_deref().unwrap_or("")));
        out.push_str("</div>");
    } else if !has_data {
        out.push_str(r#"<div class="no-data">No data</div>"#);
    } else {
        match panel.kind {
            PanelType::Timeseries => {
                render_timeseries(&mut out, panel, &series, data, range, width_px, height_px, opts)
            }
            PanelType::Stat => render_stats(&mut out, panel, &series, width_px, height_px),
            PanelType::Gauge => render_gauges(&mut out, panel, &series, width_px, height_px),
            PanelType::Bargauge => {
                let items: Vec<(String, f64)> =
                    series.iter().filter_map(|s| s.last().map(|v| (s.name.clone(), v))).collect();
                let (min, max) = gauge_bounds(panel, items.iter().map(|i| i.1));
                let g = GaugeOptions { width: width_px, height: height_px, min, max, ..gauge_opts(panel) };
                out.push_str(&bar_gauge_svg(&items, &g));
            }
            PanelType::Table => render_table(&mut out, panel, &series),
            PanelType::Heatmap => render_heatmap(&mut out, panel, &series, range, width_px, height_px, opts),
            PanelType::Text => {}
        }
    }
    out.push_str("</div></figure>");
    out
}

/// The legend name of a series: the target's template with `{{label}}`
/// replaced (missing labels become empty), else the series in Prometheus
/// form (`up{job="a"}`), else the expression.
pub fn legend_name(template: Option<&str>, labels: &Labels, expr: &str) -> String {
    if let Some(t) = template.filter(|t| !t.trim().is_empty() && t.trim() != "__auto") {
        let mut out = String::new();
        let mut rest = t;
        while let Some(start) = rest.find("{{") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            match after.find("}}") {
                Some(end) => {
                    let name = after[..end].trim();
                    out.push_str(labels.get(name).unwrap_or(""));
                    rest = &after[end + 2..];
                }
                None => {
                    out.push_str(&rest[start..]);
                    rest = "";
                }
            }
        }
        out.push_str(rest);
        return out;
    }
    if labels.is_empty() {
        return expr.to_string();
    }
    if labels.len() == 1 {
        if let Some(name) = labels.metric_name() {
            return name.to_string();
        }
    }
    labels.to_string()
}

fn gauge_opts(panel: &Panel) -> GaugeOptions {
    GaugeOptions {
        unit: panel.unit.clone(),
        decimals: panel.decimals,
        thresholds: panel.thresholds.clone(),
        ..GaugeOptions::default()
    }
}

/// Scale of a gauge: the panel's min/max, else the unit's natural range
/// (0–100 %, 0–1), else 0 up to the largest value or threshold.
fn gauge_bounds(panel: &Panel, values: impl Iterator<Item = f64>) -> (f64, f64) {
    let min = panel.min.unwrap_or(0.0);
    let max = panel.max.unwrap_or_else(|| match panel.unit {
        Unit::Percent => 100.0,
        Unit::PercentUnit => 1.0,
        _ => {
            let top =
                values.chain(panel.thresholds.iter().map(|t| t.value)).filter(|v| v.is_finite()).fold(min, f64::max);
            if top > min {
                top * 1.1
            } else {
                min + 1.0
            }
        }
    });
    (min, if max > min { max } else { min + 1.0 })
}

/// CSS class (and inline colour for custom hex colours) for a value.
fn threshold_class(panel: &Panel, v: f64) -> (String, Option<String>) {
    if panel.thresholds.is_empty() {
        return ("thr-none".to_string(), None);
    }
    match panel.threshold_for(v) {
        None => (Severity::Ok.css_class().to_string(), None),
        Some(t) if t.color.name().starts_with('#') => {
            (t.color.severity().css_class().to_string(), Some(t.color.hex().to_string()))
        }
        Some(t) => (t.color.severity().css_class().to_string(), None),
    }
}

#[allow(clippy::too_many_arguments)]
fn render_timeseries(
    out: &mut String,
    panel: &Panel,
    series: &[Named],
    data: &PanelData,
    range: TimeRange,
    width: u32,
    height: u32,
    opts: RenderOptions,
) {
    let chart: Vec<ChartSeries> =
        series.iter().map(|s| ChartSeries { name: s.name.clone(), points: s.points.clone() }).collect();
    let copts = ChartOptions {
        width,
        height,
        range,
        unit: panel.unit.clone(),
        decimals: panel.decimals,
        min: panel.min,
        max: panel.max,
        draw: panel.draw,
        stack: panel.stack,
        thresholds: panel.thresholds.clone(),
        step_ms: data.step_ms,
        tz_offset_minutes: opts.tz_offset_minutes,
        title: panel.title.clone(),
    };
    out.push_str(&time_series_svg(&chart, &copts));

    let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
    let colors = assign_colors(&names);
    let fmt = |v: Option<f64>| v.map(|v| panel.unit.format(v, panel.decimals)).unwrap_or_else(|| "–".to_string());
    out.push_str(
        r#"<table class="legend"><thead><tr><th>Series</th><th>Min</th><th>Max</th><th>Avg</th><th>Last</th></tr></thead><tbody>"#,
    );
    for (s, color) in series.iter().zip(colors) {
        let in_range: Vec<f64> = s
            .points
            .iter()
            .filter(|p| p.0 >= range.start && p.0 <= range.end && p.1.is_finite())
            .map(|p| p.1)
            .collect();
        let (min, max, avg, last) = if in_range.is_empty() {
            (None, None, None, None)
        } else {
            let min = in_range.iter().copied().fold(f64::INFINITY, f64::min);
            let max = in_range.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let avg = in_range.iter().sum::<f64>() / in_range.len() as f64;
            (Some(min), Some(max), Some(avg), in_range.last().copied())
        };
        let _ = write!(
            out,
            r#"<tr><td><span class="legend-swatch" style="background:{color}"></span>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            xml_escape(&s.name),
            fmt(min),
            fmt(max),
            fmt(avg),
            fmt(last)
        );
    }
    out.push_str("</tbody></table>");
}

fn render_stats(out: &mut String, panel: &Panel, series: &[Named], width: u32, height: u32) {
    const MAX_STATS: usize = 12;
    let shown: Vec<&Named> = series.iter().take(MAX_STATS).collect();
    let names: Vec<&str> = shown.iter().map(|s| s.name.as_str()).collect();
    let colors = assign_colors(&names);
    let per_width = (width / shown.len().max(1) as u32).max(60);
    out.push_str(r#"<div class="stat-grid">"#);
    for (s, color) in shown.iter().zip(colors) {
        let last = s.last();
        let text = last.map(|v| panel.unit.format(v, panel.decimals)).unwrap_or_else(|| "No data".to_string());
        let (class, inline) = match last {
            Some(v) => threshold_class(panel, v),
            None => ("no-data".to_string(), None),
        };
        let style = inline.as_ref().map(|c| format!(r#" style="color:{c}""#)).unwrap_or_default();
        let spark_color = match last {
            Some(v) if !panel.thresholds.is_empty() => threshold_color(&panel.thresholds, v),
            _ => color,
        };
        let _ = write!(out, r#"<div class="stat"><div class="stat-value {class}"{style}>{}</div>"#, xml_escape(&text));
        // One series without a legend needs no caption (Grafana shows the value alone).
        let has_legend = panel
            .targets
            .iter()
            .any(|t| t.legend.as_deref().is_some_and(|l| !l.trim().is_empty() && l.trim() != "__auto"));
        if shown.len() > 1 || (has_legend && !s.name.is_empty()) {
            let _ = write!(out, r#"<div class="stat-name">{}</div>"#, xml_escape(&s.name));
        }
        out.push_str(&sparkline_svg(
            &s.points,
            per_width.saturating_sub(8).max(40),
            (height / 4).clamp(16, 60),
            spark_color,
        ));
        out.push_str("</div>");
    }
    out.push_str("</div>");
    if series.len() > MAX_STATS {
        let _ = write!(out, r#"<div class="panel-note">{} more series not shown</div>"#, series.len() - MAX_STATS);
    }
}

fn render_gauges(out: &mut String, panel: &Panel, series: &[Named], width: u32, height: u32) {
    const MAX_GAUGES: usize = 12;
    let shown: Vec<&Named> = series.iter().take(MAX_GAUGES).collect();
    let (min, max) = gauge_bounds(panel, shown.iter().filter_map(|s| s.last()));
    let per_width = (width / shown.len().max(1) as u32).max(80);
    let g = GaugeOptions { width: per_width, height, min, max, ..gauge_opts(panel) };
    out.push_str(r#"<div class="gauge-grid">"#);
    for s in shown {
        let label = if series.len() > 1 { s.name.as_str() } else { "" };
        out.push_str(&gauge_svg(s.last(), label, &g));
    }
    out.push_str("</div>");
}

fn render_table(out: &mut String, panel: &Panel, series: &[Named]) {
    let mut columns: Vec<&str> = series.iter().flat_map(|s| s.labels.iter().map(|l| l.name.as_str())).collect();
    columns.sort_by_key(|c| (*c != METRIC_NAME, *c));
    columns.dedup();
    out.push_str(r#"<table class="panel-table"><thead><tr>"#);
    for c in &columns {
        let _ = write!(out, "<th>{}</th>", xml_escape(if *c == METRIC_NAME { "name" } else { c }));
    }
    out.push_str(r#"<th class="num">Value</th></tr></thead><tbody>"#);
    for s in series {
        out.push_str("<tr>");
        for c in &columns {
            let _ = write!(out, "<td>{}</td>", xml_escape(s.labels.get(c).unwrap_or("")));
        }
        match s.last() {
            Some(v) => {
                let (class, inline) = threshold_class(panel, v);
                let style = inline.map(|c| format!(r#" style="color:{c}""#)).unwrap_or_default();
                let _ = write!(
                    out,
                    r#"<td class="num {class}"{style}>{}</td>"#,
                    xml_escape(&panel.unit.format(v, panel.decimals))
                );
            }
            None => out.push_str(r#"<td class="num no-data">–</td>"#),
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
}

fn render_heatmap(
    out: &mut String,
    panel: &Panel,
    series: &[Named],
    range: TimeRange,
    width: u32,
    height: u32,
    opts: RenderOptions,
) {
    // Sum series that share a bound (e.g. several instances not aggregated away).
    let mut buckets: Vec<HeatmapBucket> = Vec::new();
    for s in series {
        let Some(le) = s.labels.get("le").and_then(parse_le) else {
            continue;
        };
        let bucket = match buckets.iter_mut().find(|b| b.le == le) {
            Some(b) => b,
            None => {
                buckets.push(HeatmapBucket { le, points: Vec::new() });
                buckets.last_mut().expect("just pushed")
            }
        };
        let mut merged: std::collections::BTreeMap<i64, f64> = bucket.points.iter().copied().collect();
        for &(t, v) in &s.points {
            if v.is_finite() {
                *merged.entry(t).or_insert(0.0) += v;
            }
        }
        bucket.points = merged.into_iter().collect();
    }
    if buckets.is_empty() {
        out.push_str(
            r#"<div class="panel-error" role="alert">A heatmap needs histogram buckets: series with an <code>le</code> label, e.g. <code>sum by (le) (rate(x_bucket[5m]))</code>.</div>"#,
        );
        return;
    }
    let copts = ChartOptions {
        width,
        height,
        range,
        unit: panel.unit.clone(),
        decimals: panel.decimals,
        tz_offset_minutes: opts.tz_offset_minutes,
        title: panel.title.clone(),
        ..ChartOptions::default()
    };
    out.push_str(&heatmap_svg(&buckets, &copts));
}

/// Parses an `le` bound (`0.5`, `+Inf`).
fn parse_le(s: &str) -> Option<f64> {
    match s.trim() {
        "+Inf" | "Inf" | "inf" | "+inf" => Some(f64::INFINITY),
        other => other.parse::<f64>().ok().filter(|v| !v.is_nan()),
    }
}

/// Markdown to HTML with raw HTML shown as text and unsafe link targets
/// (`javascript:`, `data:`, ...) replaced by `#`.
pub fn markdown_to_html(src: &str) -> String {
    use pulldown_cmark::{html, CowStr, Event, Options, Parser, Tag};
    let safe = |url: CowStr<'_>| -> CowStr<'static> {
        if is_safe_url(&url) {
            CowStr::from(url.into_string())
        } else {
            CowStr::Borrowed("#")
        }
    };
    let parser = Parser::new_ext(src, Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH).map(|ev| match ev {
        Event::Html(s) | Event::InlineHtml(s) => Event::Text(s),
        Event::Start(Tag::Link { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Link { link_type, dest_url: safe(dest_url), title, id })
        }
        Event::Start(Tag::Image { link_type, dest_url, title, id }) => {
            Event::Start(Tag::Image { link_type, dest_url: safe(dest_url), title, id })
        }
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, parser);
    out
}

/// Relative URLs and http, https and mailto links.
fn is_safe_url(url: &str) -> bool {
    let u = url.trim();
    // Browsers ignore control characters and whitespace inside schemes.
    let cleaned: String =
        u.chars().filter(|c| !c.is_whitespace() && !c.is_control()).collect::<String>().to_ascii_lowercase();
    match cleaned.find(':') {
        None => true,
        Some(colon) => {
            let before = &cleaned[..colon];
            if before.contains(['/', '?', '#']) {
                return true; // the colon is in a path or query, not a scheme
            }
            matches!(before, "http" | "https" | "mailto")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::{parse_yaml, DrawStyle, Target, Threshold, ThresholdColor};

    fn panel(kind: PanelType) -> Panel {
        Panel {
            title: "Requests".into(),
            kind,
            description: None,
            targets: vec![Target {
                expr: "rate(x[5m])".into(),
                legend: Some("{{job}} {{missing}}".into()),
                instant: false,
            }],
            unit: Unit::Short,
            min: None,
            max: None,
            decimals: None,
            thresholds: vec![],
            stack: false,
            draw: DrawStyle::Lines,
            width: 12,
            height: 8,
            text: None,
            datasource: None,
        }
    }

    const R: TimeRange = TimeRange { start: 0, end: 600_000 };

    fn series(job: &str, values: &[f64]) -> (Labels, Vec<(i64, f64)>) {
        (
            Labels::from_pairs([("__name__", "x"), ("job", job)]),
            values.iter().enumerate().map(|(i, v)| (i as i64 * 60_000, *v)).collect(),
        )
    }

    #[test]
    fn timeseries_has_chart_and_legend_stats() {
        let data = PanelData::new(vec![Ok(vec![series("api", &[1.0, 3.0, 2.0]), series("db", &[1500.0, 1500.0])])]);
        let html = render_panel(&panel(PanelType::Timeseries), &data, R);
        assert!(html.starts_with(r#"<figure class="panel panel-timeseries""#), "{html}");
        assert!(html.contains(r#"<figcaption class="panel-title">Requests</figcaption>"#));
        assert!(html.contains("<svg") && html.contains("<path "));
        assert!(html.contains(r#"<table class="legend">"#));
        // Legend template: {{job}} filled, unknown label empty.
        assert!(html.contains("</span>api </td><td>1</td><td>3</td><td>2</td><td>2</td>"), "{html}");
        assert!(html.contains("</span>db </td><td>1.5 K</td>"), "{html}");
        assert!(html.ends_with("</div></figure>"));
    }

    #[test]
    fn label_values_are_escaped_everywhere() {
        let evil = "<script>alert(1)</script>";
        let mut p = panel(PanelType::Timeseries);
        p.title = evil.into();
        p.description = Some("\"><b>".into());
        let data = PanelData::new(vec![Ok(vec![series(evil, &[1.0, 2.0])]), Err(evil.into())]);
        for kind in [PanelType::Timeseries, PanelType::Stat, PanelType::Gauge, PanelType::Bargauge, PanelType::Table] {
            p.kind = kind;
            let html = render_panel(&p, &data, R);
            assert!(!html.contains("<script>"), "{kind:?}: {html}");
            assert!(!html.contains("<b>"), "{kind:?}: {html}");
            assert!(html.contains("&lt;script&gt;"), "{kind:?}: {html}");
        }
        // Table without a legend template shows the raw label value, escaped.
        p.kind = PanelType::Table;
        p.targets[0].legend = None;
        let html = render_panel(&p, &data, R);
        assert!(html.contains("<td>&lt;script&gt;alert(1)&lt;/script&gt;</td>"), "{html}");
    }

    #[test]
    fn errors_and_no_data() {
        let html =
            render_panel(&panel(PanelType::Timeseries), &PanelData::new(vec![Err("parse error at 3".into())]), R);
        assert!(html.contains(r#"<div class="panel-error" role="alert""#));
        assert!(html.contains("Query 1 failed: parse error at 3"));
        assert!(html.contains(r#"<div class="no-data">No data</div>"#));
        let html = render_panel(&panel(PanelType::Stat), &PanelData::new(vec![Ok(vec![])]), R);
        assert!(html.contains("No data") && !html.contains("panel-error"));
        let html =
            render_panel(&panel(PanelType::Timeseries), &PanelData::new(vec![Ok(vec![series("a", &[f64::NAN])])]), R);
        assert!(html.contains("no-data"));
    }

    #[test]
    fn stat_is_coloured_by_thresholds() {
        let mut p = panel(PanelType::Stat);
        p.unit = Unit::PercentUnit;
        p.thresholds = vec![
            Threshold { value: 0.8, color: ThresholdColor::parse("orange").unwrap() },
            Threshold { value: 0.9, color: ThresholdColor::parse("red").unwrap() },
        ];
        let render_with =
            |p: &Panel, v: f64| render_panel(p, &PanelData::new(vec![Ok(vec![series("a", &[0.1, v])])]), R);
        let render = |v: f64| render_with(&p, v);
        assert!(render(0.5).contains(r#"<div class="stat-value thr-ok">50%</div>"#), "{}", render(0.5));
        assert!(render(0.85).contains(r#"<div class="stat-value thr-warn">85%</div>"#));
        assert!(render(0.952).contains(r#"<div class="stat-value thr-crit">95.2%</div>"#));
        assert!(render(0.5).contains("sparkline"));
        let mut plain = p.clone();
        plain.thresholds.clear();
        assert!(render_with(&plain, 0.5).contains("thr-none"));
    }

    #[test]
    fn table_has_label_columns_and_values() {
        let mut p = panel(PanelType::Table);
        p.targets[0].legend = None;
        let a = (Labels::from_pairs([("__name__", "up"), ("job", "a"), ("instance", "h:1")]), vec![(0, 1.0)]);
        let b = (Labels::from_pairs([("__name__", "up"), ("job", "b")]), vec![(0, 0.0)]);
        let html = render_panel(&p, &PanelData::new(vec![Ok(vec![a, b])]), R);
        assert!(html.contains("<th>name</th><th>instance</th><th>job</th><th class=\"num\">Value</th>"), "{html}");
        assert!(html.contains("<tr><td>up</td><td>h:1</td><td>a</td><td class=\"num thr-none\">1</td></tr>"), "{html}");
        assert!(html.contains("<tr><td>up</td><td></td><td>b</td><td class=\"num thr-none\">0</td></tr>"), "{html}");
    }

    #[test]
    fn heatmap_groups_by_le() {
        let mut p = panel(PanelType::Heatmap);
        p.unit = Unit::Seconds;
        let b = |le: &str, v: f64| (Labels::from_pairs([("le", le)]), vec![(0, v), (60_000, v)]);
        let html = render_panel(&p, &PanelData::new(vec![Ok(vec![b("0.1", 1.0), b("+Inf", 3.0)])]), R);
        assert!(html.contains("chart-heatmap") && html.contains("+Inf"), "{html}");
        let html = render_panel(&p, &PanelData::new(vec![Ok(vec![series("a", &[1.0])])]), R);
        assert!(html.contains("needs histogram buckets"));
    }

    #[test]
    fn text_panels_render_markdown_without_raw_html() {
        let mut p = panel(PanelType::Text);
        p.targets.clear();
        p.text = Some("# Hi\n\n*there* <script>x()</script> [ok](https://a.b/c) [bad](javascript:alert(1))\n\n<div onclick=x>block</div>\n".into());
        let html = render_panel(&p, &PanelData::default(), R);
        assert!(html.contains("<h1>Hi</h1>") && html.contains("<em>there</em>"), "{html}");
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<div onclick") && html.contains("&lt;div onclick=x&gt;"), "{html}");
        assert!(html.contains(r#"<a href="https://a.b/c">ok</a>"#));
        assert!(html.contains(r##"<a href="#">bad</a>"##), "{html}");
        assert!(!is_safe_url(" JaVa\tScript:alert(1)"));
        assert!(is_safe_url("/d/host?var-x=a:b"));
        assert!(is_safe_url("mailto:ops@example.com"));
    }

    #[test]
    fn legend_names() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "node")]);
        assert_eq!(legend_name(Some("{{job}}/{{ job }}"), &l, "up"), "node/node");
        assert_eq!(legend_name(Some("__auto"), &l, "up"), "up{job=\"node\"}");
        assert_eq!(legend_name(None, &Labels::from_pairs([("__name__", "up")]), "up"), "up");
        assert_eq!(legend_name(None, &Labels::new(), "sum(up)"), "sum(up)");
        assert_eq!(legend_name(Some("{{job"), &l, "up"), "{{job");
    }

    #[test]
    fn every_builtin_panel_renders() {
        for d in crate::dashboards::builtins() {
            for (_, _, p) in d.panels() {
                let data = PanelData::new(p.targets.iter().map(|_| Ok(vec![series("a", &[1.0, 2.0])])).collect());
                let html = render_panel(p, &data, R);
                assert!(html.starts_with("<figure") && html.ends_with("</figure>"), "{}", p.title);
            }
        }
        let d =
            parse_yaml("title: t\nrows: [{panels: [{title: x, type: gauge, targets: [{expr: up}]}]}]\n", "t").unwrap();
        let html = render_panel(&d.rows[0].panels[0], &PanelData::new(vec![Ok(vec![series("a", &[0.5])])]), R);
        assert!(html.contains("gauge"));
    }
}
