//! Small charts of an alert's expression over the last hour, for email and
//! Slack messages. Drawn by plotters into an RGB buffer and encoded as PNG:
//! no browser, no fonts (titles and values go into the message as text).
//! The notifier only knows a [`ChartSource`]; evaluating PromQL and finding
//! dashboard panels happens behind it.

use super::alert::Alert;
use crate::tsdb::Labels;
use plotters::prelude::*;

/// Series as (labels, points of (milliseconds, value)).
pub type ChartSeries = Vec<(Labels, Vec<(i64, f64)>)>;

/// One hour, the window every alert chart covers.
pub const WINDOW_MS: i64 = 3_600_000;
/// Chart width in pixels.
pub const WIDTH: u32 = 600;
/// Chart height in pixels.
pub const HEIGHT: u32 = 180;
/// At most this many expressions get a chart per message.
pub const MAX_CHARTS: usize = 3;

/// A dashboard panel drawing the same metrics as an alert's expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PanelLink {
    /// Path and query, e.g. `/d/host?from=..&to=..`.
    pub path: String,
    /// "Dashboard › Panel", for the link text.
    pub title: String,
}

/// Where charts get their data: the PromQL engine over the store, in the
/// server; anything in tests. Calls may block (they run off the executor).
pub trait ChartSource: Send + Sync {
    /// The expression evaluated over the hour ending at `end_ms`.
    fn last_hour(&self, expr: &str, end_ms: i64) -> Result<ChartSeries, String>;

    /// A dashboard panel showing the expression's metrics over `start_ms..end_ms`, if any.
    fn panel_link(&self, _expr: &str, _start_ms: i64, _end_ms: i64) -> Option<PanelLink> {
        None
    }
}

/// Why a chart could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ChartError {
    /// No chart source is configured (the notifier runs without a store).
    #[error("charts are not available: no data source")]
    NoSource,
    /// The expression could not be evaluated.
    #[error("evaluating {expr:?}: {message}")]
    Source {
        /// The expression.
        expr: String,
        /// The engine's message.
        message: String,
    },
    /// Nothing to draw: the expression had no finite value in the hour.
    #[error("no data for {0:?} in the last hour")]
    NoData(String),
    /// plotters refused to draw.
    #[error("drawing the chart: {0}")]
    Draw(String),
    /// The PNG encoder failed.
    #[error("encoding the chart as PNG: {0}")]
    Encode(String),
}

/// A chart attached to a notification: the picture, its numbers as text,
/// and where to look further.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertChart {
    /// The PromQL expression drawn.
    pub expr: String,
    /// Content-ID of the inline image in emails (without angle brackets).
    pub cid: String,
    /// The PNG, when the expression had data.
    pub png: Option<Vec<u8>>,
    /// Why there is no picture (empty when there is one).
    pub note: String,
    /// Link to the dashboard panel or the explore view (absolute when an external URL is known).
    pub link: String,
    /// What the link opens: "dashboard X › panel Y" or "explore".
    pub link_title: String,
    /// Public URL that renders the same PNG on request (for Slack); None
    /// without a public URL.
    pub image_url: Option<String>,
    /// Number of series drawn.
    pub series: usize,
    /// Newest value of the series (the highest one when there are several).
    pub last: Option<f64>,
    /// Lowest value in the hour.
    pub min: Option<f64>,
    /// Highest value in the hour.
    pub max: Option<f64>,
}

impl AlertChart {
    /// "last 0.93 · min 0.12 · max 0.97 (3 series)" for the message text.
    pub fn summary(&self) -> String {
        match (self.last, self.min, self.max) {
            (Some(l), Some(lo), Some(hi)) => {
                let mut s = format!("last {} · min {} · max {}", num(l), num(lo), num(hi));
                if self.series > 1 {
                    s.push_str(&format!(" ({} series; last is the highest)", self.series));
                }
                s
            }
            _ => self.note.clone(),
        }
    }
}

/// A short number: integers as is, others with 4 significant digits.
fn num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v}")
    } else if v != 0.0 && (v.abs() >= 1e6 || v.abs() < 1e-3) {
        format!("{v:.3e}")
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// The expression in a generator URL's `g0.expr` parameter (Prometheus's
/// `/graph?g0.expr=...` links, which Sightline's rules produce too).
pub fn expr_from_generator_url(url: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "g0.expr")
        .map(|(_, v)| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

/// Last (highest of the series' newest values), min and max over finite points.
pub fn stats(series: &ChartSeries) -> (Option<f64>, Option<f64>, Option<f64>) {
    let finite = series.iter().flat_map(|(_, p)| p.iter().map(|p| p.1)).filter(|v| v.is_finite());
    let (min, max) = finite.fold((None, None), |(lo, hi): (Option<f64>, Option<f64>), v| {
        (Some(lo.map_or(v, |m| m.min(v))), Some(hi.map_or(v, |m| m.max(v))))
    });
    let last = series
        .iter()
        .filter_map(|(_, p)| p.iter().rev().map(|p| p.1).find(|v| v.is_finite()))
        .fold(None, |acc: Option<f64>, v| Some(acc.map_or(v, |a| a.max(v))));
    (last, min, max)
}

const PALETTE: [RGBColor; 6] = [
    RGBColor(0x2f, 0x6f, 0xd0),
    RGBColor(0xd9, 0x5f, 0x02),
    RGBColor(0x1b, 0x9e, 0x77),
    RGBColor(0x75, 0x70, 0xb3),
    RGBColor(0xe7, 0x29, 0x8a),
    RGBColor(0x66, 0xa6, 0x1e),
];

/// Draws the series over `start_ms..end_ms` as a `width`×`height` PNG:
/// a white background, light grid lines, one coloured line per series
/// (broken where values are missing or not finite). No text.
pub fn render_png(
    series: &ChartSeries,
    start_ms: i64,
    end_ms: i64,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, ChartError> {
    let (_, min, max) = stats(series);
    let (Some(mut lo), Some(mut hi)) = (min, max) else {
        return Err(ChartError::NoData(String::new()));
    };
    if hi - lo < f64::EPSILON * hi.abs().max(1.0) {
        // A flat line sits in the middle rather than on an edge.
        let pad = if hi == 0.0 { 1.0 } else { hi.abs() * 0.1 };
        lo -= pad;
        hi += pad;
    } else if (hi - lo).is_finite() {
        let pad = (hi - lo) * 0.05;
        lo -= pad;
        hi += pad;
    }
    let end_ms = end_ms.max(start_ms.saturating_add(1));
    let mut buf = vec![0u8; (width as usize) * (height as usize) * 3];
    {
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let draw = |e: &dyn std::fmt::Display| ChartError::Draw(e.to_string());
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let mut chart =
            ChartBuilder::on(&root).margin(6).build_cartesian_2d(start_ms..end_ms, lo..hi).map_err(|e| draw(&e))?;
        let grid = RGBColor(0xe3, 0xe6, 0xea);
        for i in 0..=4 {
            let y = lo + (hi - lo) * f64::from(i) / 4.0;
            chart
                .draw_series(LineSeries::new([(start_ms, y), (end_ms, y)], grid.stroke_width(1)))
                .map_err(|e| draw(&e))?;
        }
        for i in 0..=6 {
            let x = start_ms.saturating_add(end_ms.saturating_sub(start_ms) / 6 * i);
            chart.draw_series(LineSeries::new([(x, lo), (x, hi)], grid.stroke_width(1))).map_err(|e| draw(&e))?;
        }
        for (i, (_, points)) in series.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            // Split into runs of finite values so gaps stay gaps.
            let mut run: Vec<(i64, f64)> = Vec::new();
            let mut runs = Vec::new();
            for &(t, v) in points {
                if v.is_finite() && (start_ms..=end_ms).contains(&t) {
                    run.push((t, v));
                } else if !run.is_empty() {
                    runs.push(std::mem::take(&mut run));
                }
            }
            runs.push(run);
            for r in runs.into_iter().filter(|r| !r.is_empty()) {
                if r.len() == 1 {
                    chart.draw_series(r.iter().map(|p| Circle::new(*p, 2, colour.filled()))).map_err(|e| draw(&e))?;
                } else {
                    chart.draw_series(LineSeries::new(r, colour.stroke_width(2))).map_err(|e| draw(&e))?;
                }
            }
        }
        root.present().map_err(|e| draw(&e))?;
    }
    encode_png(&buf, width, height)
}

/// Encodes an RGB buffer as PNG.
fn encode_png(rgb: &[u8], width: u32, height: u32) -> Result<Vec<u8>, ChartError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, width, height);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().map_err(|e| ChartError::Encode(e.to_string()))?;
        w.write_image_data(rgb).map_err(|e| ChartError::Encode(e.to_string()))?;
    }
    Ok(out)
}

/// Evaluates `expr` over the hour ending at `end_ms` and draws it.
pub fn chart_png(source: &dyn ChartSource, expr: &str, end_ms: i64) -> Result<Vec<u8>, ChartError> {
    let series =
        source.last_hour(expr, end_ms).map_err(|message| ChartError::Source { expr: expr.to_string(), message })?;
    render_png(&series, end_ms - WINDOW_MS, end_ms, WIDTH, HEIGHT).map_err(|e| match e {
        ChartError::NoData(_) => ChartError::NoData(expr.to_string()),
        e => e,
    })
}

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The explore view of `expr` over `start_ms..end_ms` (path and query).
pub fn explore_path(expr: &str, start_ms: i64, end_ms: i64) -> String {
    format!("/explore?q={}&from={start_ms}&to={end_ms}", enc(expr))
}

/// The path of the PNG route for `expr` ending at `end_ms`.
pub fn image_path(expr: &str, end_ms: i64) -> String {
    // Signed, so that Slack may fetch it without credentials (see auth::signing).
    crate::auth::signing::sign(&format!("/api/v1/alert_chart.png?expr={}&end={end_ms}", enc(expr)))
}

/// The distinct expressions of `alerts` (from their generator URLs), in
/// order of first appearance, firing alerts first, at most [`MAX_CHARTS`].
pub fn alert_exprs(alerts: &[Alert], now: chrono::DateTime<chrono::Utc>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let ordered = alerts.iter().filter(|a| !a.resolved_at(now)).chain(alerts.iter().filter(|a| a.resolved_at(now)));
    for a in ordered {
        if let Some(e) = expr_from_generator_url(&a.generator_url) {
            if !out.contains(&e) {
                out.push(e);
            }
        }
        if out.len() == MAX_CHARTS {
            break;
        }
    }
    out
}

/// Builds the charts for a notification about `alerts`, ending at `now`.
/// Links are made absolute with `external_url` (when not empty); image URLs
/// exist only with a `public_url` that chat services can fetch from.
pub fn build_charts(
    source: &dyn ChartSource,
    alerts: &[Alert],
    external_url: &str,
    public_url: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<AlertChart> {
    let end = now.timestamp_millis();
    let start = end - WINDOW_MS;
    let base = external_url.trim_end_matches('/');
    alert_exprs(alerts, now)
        .into_iter()
        .enumerate()
        .map(|(i, expr)| {
            let (link, link_title) = match source.panel_link(&expr, start, end) {
                Some(p) => (format!("{base}{}", p.path), format!("dashboard {}", p.title)),
                None => (format!("{base}{}", explore_path(&expr, start, end)), "explore".to_string()),
            };
            let mut chart = AlertChart {
                cid: format!("chart{i}.{end}@sightline"),
                png: None,
                note: String::new(),
                link,
                link_title,
                image_url: None,
                series: 0,
                last: None,
                min: None,
                max: None,
                expr,
            };
            match source.last_hour(&chart.expr, end) {
                Ok(series) => {
                    (chart.last, chart.min, chart.max) = stats(&series);
                    chart.series = series.len();
                    match render_png(&series, start, end, WIDTH, HEIGHT) {
                        Ok(png) => {
                            chart.png = Some(png);
                            chart.image_url = public_url
                                .map(|u| format!("{}{}", u.trim_end_matches('/'), image_path(&chart.expr, end)));
                        }
                        Err(ChartError::NoData(_)) => chart.note = "no data in the last hour".into(),
                        Err(e) => chart.note = e.to_string(),
                    }
                }
                Err(e) => chart.note = format!("could not evaluate the expression: {e}"),
            }
            chart
        })
        .collect()
}

/// HTML-escapes text for the email body.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML block for emails: per chart the expression, the inline image
/// (`cid:`), its numbers and the link.
pub fn charts_html(charts: &[AlertChart]) -> String {
    let mut s = String::from(
        "<div class=\"sightline-charts\" style=\"font-family:sans-serif;margin:16px 0\"><h3 style=\"margin:0 0 8px\">Last hour</h3>",
    );
    for c in charts {
        s.push_str(&format!("<div style=\"margin:0 0 16px\"><div><code>{}</code></div>", html_escape(&c.expr)));
        if c.png.is_some() {
            s.push_str(&format!(
                "<img src=\"cid:{}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" alt=\"{} over the last hour\" style=\"border:1px solid #ddd\">",
                html_escape(&c.cid),
                html_escape(&c.expr)
            ));
        }
        s.push_str(&format!(
            "<div style=\"color:#555\">{}</div><div><a href=\"{}\">Open in Sightline ({})</a></div></div>",
            html_escape(&c.summary()),
            html_escape(&c.link),
            html_escape(&c.link_title)
        ));
    }
    s.push_str("</div>");
    s
}

/// The plain-text block for emails: expression, numbers, link.
pub fn charts_text(charts: &[AlertChart]) -> String {
    let mut s = String::from("\n\nLast hour:\n");
    for c in charts {
        s.push_str(&format!("  {}\n    {}\n    {} ({})\n", c.expr, c.summary(), c.link, c.link_title));
    }
    s
}

/// Puts `block` before the last `</body>` of an HTML document, or at its end.
pub fn insert_into_html(html: &str, block: &str) -> String {
    match html.rfind("</body>") {
        Some(i) => format!("{}{block}{}", &html[..i], &html[i..]),
        None => format!("{html}{block}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];

    fn decode(png: &[u8]) -> (u32, u32, Vec<u8>) {
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size()];
        let info = r.next_frame(&mut buf).unwrap();
        buf.truncate(info.buffer_size());
        (info.width, info.height, buf)
    }

    fn ramp(n: i64) -> ChartSeries {
        vec![(Labels::from_pairs([("job", "a")]), (0..n).map(|i| (i * 60_000, (i as f64).sin() * 10.0)).collect())]
    }

    #[test]
    fn png_has_signature_size_and_drawn_pixels() {
        let png = render_png(&ramp(61), 0, WINDOW_MS, WIDTH, HEIGHT).unwrap();
        assert_eq!(png[..8], PNG_SIGNATURE);
        let (w, h, rgb) = decode(&png);
        assert_eq!((w, h), (WIDTH, HEIGHT));
        // The first palette colour (the series line) is on the picture.
        let line = rgb.chunks(3).filter(|p| p == &[0x2f, 0x6f, 0xd0]).count();
        assert!(line > 200, "only {line} pixels of the series colour");
        let white = rgb.chunks(3).filter(|p| p == &[255, 255, 255]).count();
        assert!(white > (WIDTH * HEIGHT / 2) as usize, "background is not mostly white");
    }

    #[test]
    fn two_series_get_two_colours_and_nan_breaks_lines() {
        let mut s = ramp(61);
        let mut pts: Vec<(i64, f64)> = (0..61).map(|i| (i * 60_000, 3.0)).collect();
        pts[30].1 = f64::NAN;
        s.push((Labels::from_pairs([("job", "b")]), pts));
        let (_, _, rgb) = decode(&render_png(&s, 0, WINDOW_MS, WIDTH, HEIGHT).unwrap());
        assert!(rgb.chunks(3).any(|p| p == [0xd9, 0x5f, 0x02]), "second series not drawn");
        assert_eq!(
            stats(&s),
            (
                Some(3.0),
                Some(s[0].1.iter().map(|p| p.1).fold(f64::MAX, f64::min)),
                Some(s[0].1.iter().map(|p| p.1).fold(f64::MIN, f64::max))
            )
        );
    }

    #[test]
    fn no_finite_data_is_no_chart() {
        let s = vec![(Labels::new(), vec![(0, f64::NAN)])];
        assert!(matches!(render_png(&s, 0, WINDOW_MS, WIDTH, HEIGHT), Err(ChartError::NoData(_))));
        assert!(matches!(render_png(&Vec::new(), 0, WINDOW_MS, WIDTH, HEIGHT), Err(ChartError::NoData(_))));
        // A constant series still draws (flat line in the middle).
        let flat = vec![(Labels::new(), vec![(0, 5.0), (WINDOW_MS, 5.0)])];
        assert!(render_png(&flat, 0, WINDOW_MS, 100, 50).is_ok());
        // Extreme values and odd ranges do not panic.
        let huge = vec![(Labels::new(), vec![(0, f64::MAX), (60_000, -f64::MAX), (120_000, f64::INFINITY)])];
        assert!(render_png(&huge, 0, WINDOW_MS, 100, 50).is_ok());
        assert!(render_png(&flat, WINDOW_MS, 0, 100, 50).is_ok());
        assert!(render_png(&flat, i64::MIN / 4, i64::MAX / 4, 100, 50).is_ok());
    }

    #[test]
    fn generator_url_expression() {
        assert_eq!(
            expr_from_generator_url("http://h:9090/graph?g0.expr=rate%28x%5B5m%5D%29+%3E+1&g0.tab=1").as_deref(),
            Some("rate(x[5m]) > 1")
        );
        assert_eq!(expr_from_generator_url("http://h/graph?g0.tab=1"), None);
        assert_eq!(expr_from_generator_url("http://h/graph"), None);
        assert_eq!(expr_from_generator_url(""), None);
    }

    struct Fake;
    impl ChartSource for Fake {
        fn last_hour(&self, expr: &str, end: i64) -> Result<ChartSeries, String> {
            match expr {
                "bad(" => Err("parse error".into()),
                "none" => Ok(Vec::new()),
                _ => Ok(vec![(Labels::new(), (0..=60).map(|i| (end - WINDOW_MS + i * 60_000, i as f64)).collect())]),
            }
        }
        fn panel_link(&self, expr: &str, s: i64, e: i64) -> Option<PanelLink> {
            (expr == "up").then(|| PanelLink { path: format!("/d/host?from={s}&to={e}"), title: "Host › Up".into() })
        }
    }

    #[test]
    fn charts_per_expression_with_links() {
        let now = chrono::Utc::now();
        let mk = |name: &str, expr: &str| {
            let mut a = Alert::firing(Labels::from_pairs([("alertname", name)]));
            a.generator_url = format!("http://sl/graph?g0.expr={}", enc(expr));
            a
        };
        let alerts = vec![mk("A", "up"), mk("B", "up"), mk("C", "x > 1"), mk("D", "bad("), mk("E", "none")];
        let charts = build_charts(&Fake, &alerts, "http://sl/", Some("https://pub.example"), now);
        assert_eq!(charts.iter().map(|c| c.expr.as_str()).collect::<Vec<_>>(), ["up", "x > 1", "bad("]);
        let end = now.timestamp_millis();
        assert_eq!(charts[0].link, format!("http://sl/d/host?from={}&to={end}", end - WINDOW_MS));
        assert_eq!(charts[0].link_title, "dashboard Host › Up");
        assert_eq!(charts[1].link, format!("http://sl/explore?q=x+%3E+1&from={}&to={end}", end - WINDOW_MS));
        assert_eq!(
            charts[1].image_url.as_deref(),
            Some(format!("https://pub.example/api/v1/alert_chart.png?expr=x+%3E+1&end={end}").as_str())
        );
        assert_eq!((charts[1].last, charts[1].min, charts[1].max), (Some(60.0), Some(0.0), Some(60.0)));
        assert!(charts[1].png.is_some());
        assert!(charts[2].png.is_none() && charts[2].image_url.is_none());
        assert!(charts[2].note.contains("parse error"));
        // Without a public URL there is no image URL, but the link stays.
        let charts = build_charts(&Fake, &alerts[2..3], "", None, now);
        assert_eq!(charts[0].image_url, None);
        assert!(charts[0].link.starts_with("/explore?q="));
    }

    #[test]
    fn html_block_goes_before_body_end_and_escapes() {
        let c = AlertChart {
            expr: "a < b".into(),
            cid: "c0@s".into(),
            png: Some(vec![1]),
            note: String::new(),
            link: "http://x/?a=1&b=2".into(),
            link_title: "explore".into(),
            image_url: None,
            series: 1,
            last: Some(1.5),
            min: Some(0.0),
            max: Some(2.0),
        };
        let html = insert_into_html("<html><body><p>hi</p></body></html>", &charts_html(std::slice::from_ref(&c)));
        assert!(html.contains("<p>hi</p><div class=\"sightline-charts\""));
        assert!(html.ends_with("</div></body></html>"));
        assert!(html.contains("<code>a &lt; b</code>"));
        assert!(html.contains("src=\"cid:c0@s\""));
        assert!(html.contains("href=\"http://x/?a=1&amp;b=2\""));
        assert!(html.contains("last 1.5 · min 0 · max 2"));
        assert!(charts_text(&[c]).contains("http://x/?a=1&b=2 (explore)"));
    }
}
