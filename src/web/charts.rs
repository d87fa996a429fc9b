//! Server-side SVG charts drawn with plotters: time series (lines, stacked
//! areas, bars), sparklines, gauges, bar gauges and histogram heatmaps.
//!
//! Charts are plain SVG strings. Axis text and grid lines use `currentColor`
//! so one chart reads on light and dark pages; series colours come from a
//! hash of the series name, so a series keeps its colour across refreshes.
//! Every chart carries `<title>` elements (native browser tooltips) and
//! `data-*` attributes that an optional script may use for richer read-outs.

use std::fmt::Write as _;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::dashboards::{DrawStyle, Threshold, TimeRange, Unit};

/// A named series of `(ms, value)` points in time order. NaN values (and the
/// stale marker, which is a NaN) are gaps.
#[derive(Clone, Debug, PartialEq)]
pub struct ChartSeries {
    /// The legend name; also picks the colour.
    pub name: String,
    /// Points in time order.
    pub points: Vec<(i64, f64)>,
}

/// How to draw a time series chart.
#[derive(Clone, Debug)]
pub struct ChartOptions {
    /// Width in px.
    pub width: u32,
    /// Height in px.
    pub height: u32,
    /// The time range shown on the x axis.
    pub range: TimeRange,
    /// Unit for the y axis and read-outs.
    pub unit: Unit,
    /// Fixed decimals for read-outs.
    pub decimals: Option<u32>,
    /// Fixed lower end of the y axis.
    pub min: Option<f64>,
    /// Fixed upper end of the y axis.
    pub max: Option<f64>,
    /// Lines, areas or bars.
    pub draw: DrawStyle,
    /// Stack series on each other.
    pub stack: bool,
    /// Horizontal threshold lines.
    pub thresholds: Vec<Threshold>,
    /// The query step; a longer gap between points breaks the line.
    pub step_ms: Option<i64>,
    /// Offset of displayed wall-clock times from UTC, in minutes.
    pub tz_offset_minutes: i32,
    /// Accessible name of the chart.
    pub title: String,
}

impl Default for ChartOptions {
    fn default() -> Self {
        ChartOptions {
            width: 600,
            height: 240,
            range: TimeRange::new(0, 3_600_000),
            unit: Unit::Short,
            decimals: None,
            min: None,
            max: None,
            draw: DrawStyle::Lines,
            stack: false,
            thresholds: Vec::new(),
            step_ms: None,
            tz_offset_minutes: 0,
            title: String::new(),
        }
    }
}

/// Options for gauges and bar gauges.
#[derive(Clone, Debug)]
pub struct GaugeOptions {
    /// Width in px.
    pub width: u32,
    /// Height in px (bar gauges grow to fit their rows).
    pub height: u32,
    /// Value at the start of the scale.
    pub min: f64,
    /// Value at the end of the scale.
    pub max: f64,
    /// Unit of the value.
    pub unit: Unit,
    /// Fixed decimals.
    pub decimals: Option<u32>,
    /// Colour steps.
    pub thresholds: Vec<Threshold>,
}

impl Default for GaugeOptions {
    fn default() -> Self {
        GaugeOptions {
            width: 200,
            height: 160,
            min: 0.0,
            max: 100.0,
            unit: Unit::Short,
            decimals: None,
            thresholds: Vec::new(),
        }
    }
}

/// Series colours: mid-tone, readable on white and on near-black.
pub const PALETTE: [&str; 12] = [
    "#3d8bd9", "#e5a11c", "#4caf50", "#e0524a", "#9b6bd3", "#1fa8a0", "#ef7d2d", "#d45a9e", "#7f9c2e", "#5c6bc0",
    "#b58a3c", "#2e9fd6",
];

/// The colour of a series, from a hash of its name: stable across refreshes
/// and independent of which other series are on the chart.
pub fn series_color(name: &str) -> &'static str {
    let h = xxhash_rust::xxh3::xxh3_64(name.as_bytes());
    PALETTE[(h % PALETTE.len() as u64) as usize]
}

/// Colours for the series of one chart: each takes its hashed colour unless
/// a series earlier in name order already has it, then the next free one.
/// The result depends only on the set of names (not their order), so a
/// refresh with the same series draws the same colours, and the legend
/// (which calls this too) matches the chart.
pub fn assign_colors<S: AsRef<str>>(names: &[S]) -> Vec<&'static str> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by(|&a, &b| names[a].as_ref().cmp(names[b].as_ref()));
    let mut used = [false; PALETTE.len()];
    let mut out = vec![PALETTE[0]; names.len()];
    let mut seen: std::collections::HashMap<&str, &'static str> = std::collections::HashMap::new();
    for i in order {
        let name = names[i].as_ref();
        if let Some(c) = seen.get(name) {
            out[i] = c;
            continue;
        }
        let start = PALETTE.iter().position(|c| *c == series_color(name)).unwrap_or(0);
        let slot = (0..PALETTE.len()).map(|k| (start + k) % PALETTE.len()).find(|&k| !used[k]).unwrap_or(start);
        used[slot] = true;
        out[i] = PALETTE[slot];
        seen.insert(name, PALETTE[slot]);
    }
    out
}

/// Colour used for values below every threshold.
const BASE_COLOR: &str = "#56a64b";

/// The colour for `v` on a threshold scale (green below the first step).
pub fn threshold_color(thresholds: &[Threshold], v: f64) -> &str {
    thresholds
        .iter()
        .filter(|t| !v.is_nan() && t.value <= v)
        .max_by(|a, b| a.value.total_cmp(&b.value))
        .map(|t| t.color.hex())
        .unwrap_or(BASE_COLOR)
}

// Sentinel colours replaced by `currentColor` after drawing, so text and grid
// follow the page's theme.
const TEXT: RGBColor = RGBColor(1, 2, 3);
const GRID: RGBColor = RGBColor(2, 3, 4);
const FONT: &str = "sans-serif";
const FONT_SIZE: f64 = 13.0; // plotters writes size / 1.24, about 10.5 px

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Parses `#rrggbb` (anything else becomes grey).
fn rgb(hex: &str) -> RGBColor {
    let h = hex.trim_start_matches('#');
    let c = |i: usize| h.get(i..i + 2).and_then(|s| u8::from_str_radix(s, 16).ok()).unwrap_or(128);
    if h.len() == 6 {
        RGBColor(c(0), c(2), c(4))
    } else {
        RGBColor(128, 128, 128)
    }
}

/// Escapes text for SVG/HTML element content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text_style(size: f64, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&TEXT).pos(Pos::new(h, v))
}

/// Rough text width in px for the default font size (the SVG backend
/// cannot measure text, so layout uses an estimate).
fn text_width(s: &str, size: f64) -> i32 {
    (s.chars().count() as f64 * size / 1.24 * 0.6).ceil() as i32
}

/// Runs `draw` on a fresh SVG canvas and finishes the document: root
/// attributes, extra raw elements (hover targets) and theme colours.
fn render_svg(
    width: u32,
    height: u32,
    root_attrs: &str,
    draw: impl FnOnce(&Area<'_>) -> Result<String, String>,
) -> String {
    let (width, height) = (width.clamp(40, 4000), height.clamp(20, 4000));
    let mut buf = String::new();
    let extra = {
        let root = SVGBackend::with_string(&mut buf, (width, height)).into_drawing_area();
        let extra = draw(&root);
        let presented = root.present().map_err(err);
        match (extra, presented) {
            (Ok(extra), Ok(())) => Ok(extra),
            (Err(e), _) | (_, Err(e)) => Err(e),
        }
    };
    let extra = match extra {
        Ok(extra) => extra,
        Err(e) => {
            tracing::warn!(error = %e, "chart drawing failed");
            return format!(
                r#"<svg class="chart chart-error" width="{width}" height="{height}" viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg"><text x="50%" y="50%" text-anchor="middle" fill="currentColor">Chart could not be drawn</text></svg>"#
            );
        }
    };
    finish_svg(buf, root_attrs, &extra)
}

fn finish_svg(svg: String, root_attrs: &str, extra: &str) -> String {
    // Lines as <path>: after "M" further coordinate pairs are implicit line-tos,
    // so a polyline's points list is a valid path as it stands.
    let svg: String = svg
        .split_inclusive('\n')
        .map(|line| match line.strip_prefix("<polyline ") {
            Some(rest) => std::borrow::Cow::Owned(format!("<path {}", rest.replacen(" points=\"", " d=\"M", 1))),
            None => std::borrow::Cow::Borrowed(line),
        })
        .collect();
    let mut svg = svg.replace("\"#010203\"", "\"currentColor\"").replace("\"#020304\"", "\"currentColor\"").replacen(
        "<svg ",
        &format!("<svg {root_attrs} "),
        1,
    );
    if let Some(pos) = svg.rfind("</svg>") {
        svg.insert_str(pos, extra);
    }
    svg
}

/// Nice tick step (1, 2, 5 × 10^k) for about `n` ticks over `span`.
fn nice_step(span: f64, n: usize) -> f64 {
    let raw = span / n.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let nice = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The y range and ticks for data spanning `[lo, hi]`.
fn y_axis(
    lo: f64,
    hi: f64,
    fixed_min: Option<f64>,
    fixed_max: Option<f64>,
    n: usize,
    binary: bool,
) -> (f64, f64, Vec<f64>) {
    let (mut lo, mut hi) = (fixed_min.unwrap_or(lo), fixed_max.unwrap_or(hi));
    if !lo.is_finite() || !hi.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi < lo {
        std::mem::swap(&mut lo, &mut hi);
    }
    if hi == lo {
        let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
        if fixed_min.is_none() {
            lo -= pad;
        }
        if fixed_max.is_none() || fixed_min.is_some() {
            hi += pad;
        }
        if lo >= 0.0 && lo - pad < 0.0 && fixed_min.is_none() && hi > 0.0 {
            lo = lo.max(0.0);
        }
    }
    // Binary units step in powers of 1024 so ticks read 2 KiB, 4 KiB, not 4.88 KiB.
    let step = if binary && (hi - lo) >= 1024.0 {
        let scale = 1024f64.powf(((hi - lo) / n.max(1) as f64).log(1024.0).floor());
        nice_step((hi - lo) / scale, n) * scale
    } else {
        nice_step(hi - lo, n)
    };
    if fixed_min.is_none() {
        lo = (lo / step + 1e-9).floor() * step;
    }
    if fixed_max.is_none() {
        hi = (hi / step - 1e-9).ceil() * step;
    }
    if hi <= lo {
        hi = lo + step;
    }
    let mut ticks = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && ticks.len() < 50 {
        // Avoid "-0" and 0.30000000000000004 artefacts.
        let v = (t / step).round() * step;
        ticks.push(if v.abs() < step * 1e-9 { 0.0 } else { v });
        t += step;
    }
    (lo, hi, ticks)
}

/// Tick times (ms, UTC) aligned to wall-clock multiples of the step in the
/// displayed time zone, with their labels.
fn time_ticks(range: TimeRange, plot_w: i32, tz_offset_min: i32) -> Vec<(i64, String)> {
    let span = range.len_ms().max(1);
    let long_labels = span > 86_400_000;
    let label_px = if long_labels { 80 } else { 60 };
    let max_ticks = (plot_w / label_px).max(2) as i64;
    let step = crate::dashboards::NICE_STEPS_MS
        .iter()
        .copied()
        .find(|s| span / s <= max_ticks)
        .unwrap_or_else(|| span / max_ticks);
    let off = i64::from(tz_offset_min) * 60_000;
    let first = (range.start + off).div_euclid(step) * step + step - off;
    let mut out = Vec::new();
    let mut t = first;
    while t <= range.end && out.len() < 100 {
        let local = t + off;
        let label = if step >= 86_400_000 {
            format_time(local, TimeFmt::Date)
        } else if long_labels {
            format_time(local, TimeFmt::DateMinute)
        } else if step < 60_000 {
            format_time(local, TimeFmt::Second)
        } else {
            format_time(local, TimeFmt::Minute)
        };
        out.push((t, label));
        t += step;
    }
    out
}

enum TimeFmt {
    Second,
    Minute,
    DateMinute,
    Date,
    Full,
}

/// Formats a (local, already offset) ms timestamp.
fn format_time(ms: i64, fmt: TimeFmt) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000) / 1000;
    let (h, m, s) = (rem / 3600, rem / 60 % 60, rem % 60);
    let (y, mo, d) = civil_from_days(days);
    match fmt {
        TimeFmt::Second => format!("{h:02}:{m:02}:{s:02}"),
        TimeFmt::Minute => format!("{h:02}:{m:02}"),
        TimeFmt::DateMinute => format!("{mo:02}-{d:02} {h:02}:{m:02}"),
        TimeFmt::Date => format!("{mo:02}-{d:02}"),
        TimeFmt::Full => format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02}:{s:02}"),
    }
}

/// Days since 1970-01-01 to (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Pixel layout of a chart with axes.
struct Plot {
    left: i32,
    top: i32,
    right: i32,
    bottom: i32,
    t0: i64,
    t1: i64,
    y0: f64,
    y1: f64,
}

impl Plot {
    fn x(&self, t: i64) -> i32 {
        let span = (self.t1 - self.t0).max(1) as f64;
        self.left + (((t - self.t0) as f64 / span) * f64::from(self.right - self.left)).round() as i32
    }
    fn y(&self, v: f64) -> i32 {
        let span = if self.y1 > self.y0 { self.y1 - self.y0 } else { 1.0 };
        let y = f64::from(self.bottom) - (v - self.y0) / span * f64::from(self.bottom - self.top);
        // Keep wildly out-of-range values near the frame instead of far away.
        y.clamp(f64::from(self.top - 4), f64::from(self.bottom + 4)).round() as i32
    }
}

/// Draws the frame, grid and axis labels.
fn draw_axes(root: &Area<'_>, plot: &Plot, x_ticks: &[(i64, String)], y_ticks: &[(f64, String)]) -> DrawResult {
    let grid = ShapeStyle { color: GRID.mix(0.15), filled: false, stroke_width: 1 };
    let axis = ShapeStyle { color: GRID.mix(0.4), filled: false, stroke_width: 1 };
    for (v, label) in y_ticks {
        let y = plot.y(*v);
        root.draw(&PathElement::new(vec![(plot.left, y), (plot.right, y)], grid)).map_err(err)?;
        root.draw(&Text::new(label.clone(), (plot.left - 6, y), text_style(FONT_SIZE, HPos::Right, VPos::Center)))
            .map_err(err)?;
    }
    for (t, label) in x_ticks {
        let x = plot.x(*t);
        root.draw(&PathElement::new(vec![(x, plot.top), (x, plot.bottom)], grid)).map_err(err)?;
        root.draw(&Text::new(label.clone(), (x, plot.bottom + 5), text_style(FONT_SIZE, HPos::Center, VPos::Top)))
            .map_err(err)?;
    }
    root.draw(&PathElement::new(vec![(plot.left, plot.bottom), (plot.right, plot.bottom)], axis)).map_err(err)?;
    Ok(())
}

/// Splits points into runs without gaps: NaN (including stale markers),
/// values outside the range, and jumps longer than 1.5 steps break a run.
fn segments(points: &[(i64, f64)], gap_ms: Option<i64>) -> Vec<Vec<(i64, f64)>> {
    let mut out: Vec<Vec<(i64, f64)>> = Vec::new();
    let mut cur: Vec<(i64, f64)> = Vec::new();
    for &(t, v) in points {
        if !v.is_finite() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let (Some(&(pt, _)), Some(gap)) = (cur.last(), gap_ms) {
            if (t - pt) * 2 > gap * 3 {
                out.push(std::mem::take(&mut cur));
            }
        }
        cur.push((t, v));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The smallest positive distance between neighbouring timestamps.
fn infer_step(series: &[ChartSeries]) -> Option<i64> {
    series.iter().flat_map(|s| s.points.windows(2).map(|w| w[1].0 - w[0].0)).filter(|d| *d > 0).min()
}

/// A time series chart: lines, areas or bars, optionally stacked, with
/// threshold lines, a humanised y axis and a wall-clock x axis. Without any
/// finite point it draws an empty frame saying "No data".
pub fn time_series_svg(series: &[ChartSeries], opts: &ChartOptions) -> String {
    let (w, h) = (opts.width.clamp(120, 4000) as i32, opts.height.clamp(60, 4000) as i32);
    let range = if opts.range.end > opts.range.start {
        opts.range
    } else {
        TimeRange::new(opts.range.start, opts.range.start + 1000)
    };
    let in_range = |t: i64| t >= range.start && t <= range.end;
    let series: Vec<ChartSeries> = series
        .iter()
        .map(|s| ChartSeries {
            name: s.name.clone(),
            points: s.points.iter().copied().filter(|(t, _)| in_range(*t)).collect(),
        })
        .collect();
    let has_data = series.iter().any(|s| s.points.iter().any(|(_, v)| v.is_finite()));
    let step = opts.step_ms.filter(|s| *s > 0).or_else(|| infer_step(&series));

    // Stacked values: each series sits on the running sum of those before it.
    let stacked: Vec<Vec<(i64, f64, f64)>> = if opts.stack {
        let mut base: std::collections::HashMap<i64, f64> = std::collections::HashMap::new();
        series
            .iter()
            .map(|s| {
                s.points
                    .iter()
                    .map(|&(t, v)| {
                        let lower = base.get(&t).copied().unwrap_or(0.0);
                        if v.is_finite() {
                            base.insert(t, lower + v);
                            (t, lower, lower + v)
                        } else {
                            (t, lower, f64::NAN)
                        }
                    })
                    .collect()
            })
            .collect()
    } else {
        series.iter().map(|s| s.points.iter().map(|&(t, v)| (t, 0.0, v)).collect()).collect()
    };

    let mut lo = f64::INFINITY;
    let mut hi = f64::NEG_INFINITY;
    for s in &stacked {
        for &(_, l, u) in s {
            if u.is_finite() {
                lo = lo.min(u);
                hi = hi.max(u);
                if opts.stack {
                    lo = lo.min(l);
                }
            }
        }
    }
    if !has_data {
        (lo, hi) = (0.0, 1.0);
    }
    if opts.stack || opts.draw != DrawStyle::Lines {
        lo = lo.min(0.0);
        hi = hi.max(0.0);
    }
    let n_y = ((h - 30) / 40).clamp(2, 8) as usize;
    let (y0, y1, ticks) = y_axis(lo, hi, opts.min, opts.max, n_y, opts.unit.is_binary());
    let labels = opts.unit.format_ticks(&ticks, opts.decimals);
    let y_ticks: Vec<(f64, String)> = ticks.into_iter().zip(labels).collect();
    let label_w = y_ticks.iter().map(|(_, l)| text_width(l, FONT_SIZE)).max().unwrap_or(20);
    let plot = Plot {
        left: (label_w + 10).clamp(24, w / 3),
        top: 8,
        right: w - 12,
        bottom: h - 22,
        t0: range.start,
        t1: range.end,
        y0,
        y1,
    };
    let x_ticks = time_ticks(range, plot.right - plot.left, opts.tz_offset_minutes);

    let root_attrs = format!(
        r#"class="chart chart-timeseries" role="img" aria-label="{}" data-start="{}" data-end="{}" data-plot="{} {} {} {}""#,
        xml_escape(&opts.title),
        range.start,
        range.end,
        plot.left,
        plot.top,
        plot.right,
        plot.bottom
    );
    render_svg(w as u32, h as u32, &root_attrs, |root| {
        draw_axes(root, &plot, &x_ticks, if has_data { &y_ticks } else { &[] })?;
        if !has_data {
            root.draw(&Text::new(
                "No data",
                ((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2),
                text_style(18.0, HPos::Center, VPos::Center),
            ))
            .map_err(err)?;
            return Ok(String::new());
        }
        let baseline = plot.y(0f64.clamp(y0, y1));
        let n = series.len().max(1) as i32;
        let names: Vec<&str> = series.iter().map(|s| s.name.as_str()).collect();
        let colors = assign_colors(&names);
        let step_px = step.map(|s| plot.x(range.start + s) - plot.left).unwrap_or(4).max(1);
        for (i, pts) in stacked.iter().enumerate() {
            let color = rgb(colors[i]);
            let line = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 2 };
            let fill =
                ShapeStyle { color: color.mix(if opts.stack { 0.45 } else { 0.2 }), filled: true, stroke_width: 0 };
            // Runs of (t, lower, upper), split at gaps in the upper values.
            let uppers: Vec<(i64, f64)> = pts.iter().map(|&(t, _, u)| (t, u)).collect();
            let lower_of: std::collections::HashMap<i64, f64> = pts.iter().map(|&(t, l, _)| (t, l)).collect();
            for run in segments(&uppers, step) {
                match opts.draw {
                    DrawStyle::Bars => {
                        let (bw, off) = if opts.stack || n == 1 {
                            ((step_px * 4 / 5).max(1), -(step_px * 4 / 5).max(1) / 2)
                        } else {
                            let bw = (step_px * 4 / 5 / n).max(1);
                            (bw, -(step_px * 4 / 5) / 2 + bw * i as i32)
                        };
                        for &(t, u) in &run {
                            let x = plot.x(t) + off;
                            let l =
                                if opts.stack { plot.y(lower_of.get(&t).copied().unwrap_or(0.0)) } else { baseline };
                            let (ya, yb) = (plot.y(u).min(l), plot.y(u).max(l));
                            root.draw(&Rectangle::new([(x, ya), (x + bw, yb.max(ya + 1))], color.mix(0.85).filled()))
                                .map_err(err)?;
                        }
                    }
                    DrawStyle::Lines | DrawStyle::Area => {
                        let upper: Vec<(i32, i32)> = run.iter().map(|&(t, u)| (plot.x(t), plot.y(u))).collect();
                        if opts.draw == DrawStyle::Area {
                            let mut poly = upper.clone();
                            if opts.stack {
                                poly.extend(
                                    run.iter()
                                        .rev()
                                        .map(|&(t, _)| (plot.x(t), plot.y(lower_of.get(&t).copied().unwrap_or(0.0)))),
                                );
                            } else {
                                poly.push((upper[upper.len() - 1].0, baseline));
                                poly.push((upper[0].0, baseline));
                            }
                            root.draw(&Polygon::new(poly, fill)).map_err(err)?;
                        }
                        if upper.len() == 1 {
                            root.draw(&Circle::new(upper[0], 2, color.filled())).map_err(err)?;
                        } else {
                            root.draw(&PathElement::new(upper, line)).map_err(err)?;
                        }
                    }
                }
            }
        }
        for t in &opts.thresholds {
            if t.value >= y0 && t.value <= y1 {
                let y = plot.y(t.value);
                let style = ShapeStyle { color: rgb(t.color.hex()).mix(0.8), filled: false, stroke_width: 1 };
                root.draw(&PathElement::new(vec![(plot.left, y), (plot.right, y)], style)).map_err(err)?;
            }
        }
        Ok(hover_columns(&series, &plot, opts))
    })
}

/// Transparent columns, one per timestamp, whose `<title>` lists every
/// series' value there (a tooltip without any script).
fn hover_columns(series: &[ChartSeries], plot: &Plot, opts: &ChartOptions) -> String {
    let mut times: Vec<i64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.0)).collect();
    times.sort_unstable();
    times.dedup();
    if times.is_empty() {
        return String::new();
    }
    // At most one column every 3 px: merge the rest.
    let max_cols = ((plot.right - plot.left) / 3).max(1) as usize;
    if times.len() > max_cols {
        let stride = times.len().div_ceil(max_cols);
        times = times.into_iter().step_by(stride).collect();
    }
    let off = i64::from(opts.tz_offset_minutes) * 60_000;
    let mut out = String::from(r#"<g class="hover">"#);
    for (i, &t) in times.iter().enumerate() {
        let x = plot.x(t);
        // Columns reach halfway to the neighbours; the outer ones as far out.
        let prev = if i > 0 { Some(plot.x(times[i - 1])) } else { None };
        let next = times.get(i + 1).map(|&n| plot.x(n));
        let half_before = prev.map(|p| (x - p) / 2).or(next.map(|n| (n - x) / 2)).unwrap_or(4).max(1);
        let half_after = next.map(|n| (n - x) / 2).or(prev.map(|p| (x - p) / 2)).unwrap_or(4).max(1);
        let xa = (x - half_before).max(plot.left);
        let xb = (x + half_after).min(plot.right).max(xa + 1);
        let mut title = format_time(t + off, TimeFmt::Full);
        let mut shown = 0;
        for s in series {
            // The point at t, or the last one before it within this column.
            let idx = s.points.partition_point(|p| p.0 <= t);
            let Some(&(pt, v)) = idx.checked_sub(1).and_then(|j| s.points.get(j)) else { continue };
            if plot.x(pt) < xa || !v.is_finite() {
                continue;
            }
            if shown == 20 {
                title.push_str("\n…");
                break;
            }
            let _ = write!(title, "\n{}: {}", s.name, opts.unit.format(v, opts.decimals));
            shown += 1;
        }
        let _ = write!(
            out,
            r#"<rect x="{xa}" y="{}" width="{}" height="{}" fill="transparent" data-t="{t}"><title>{}</title></rect>"#,
            plot.top,
            (xb - xa).max(1),
            plot.bottom - plot.top,
            xml_escape(&title)
        );
    }
    out.push_str("</g>");
    out
}

/// A small line with a light fill under it, no axes: for stat panels.
pub fn sparkline_svg(points: &[(i64, f64)], width: u32, height: u32, color: &str) -> String {
    let (w, h) = (width.clamp(20, 2000) as i32, height.clamp(8, 1000) as i32);
    let finite: Vec<(i64, f64)> = points.iter().copied().filter(|p| p.1.is_finite()).collect();
    let color = rgb(color);
    render_svg(w as u32, h as u32, r#"class="sparkline" aria-hidden="true""#, |root| {
        if finite.len() < 2 {
            return Ok(String::new());
        }
        let (t0, t1) = (finite[0].0, finite[finite.len() - 1].0.max(finite[0].0 + 1));
        let lo = finite.iter().map(|p| p.1).fold(f64::INFINITY, f64::min);
        let hi = finite.iter().map(|p| p.1).fold(f64::NEG_INFINITY, f64::max);
        let (lo, hi) = if hi > lo { (lo, hi) } else { (lo - 1.0, hi + 1.0) };
        let plot = Plot { left: 1, top: 2, right: w - 1, bottom: h - 1, t0, t1, y0: lo, y1: hi };
        for run in segments(points, None) {
            let pts: Vec<(i32, i32)> = run.iter().map(|&(t, v)| (plot.x(t), plot.y(v))).collect();
            if pts.len() < 2 {
                continue;
            }
            let mut poly = pts.clone();
            poly.push((pts[pts.len() - 1].0, plot.bottom));
            poly.push((pts[0].0, plot.bottom));
            root.draw(&Polygon::new(poly, color.mix(0.18).filled())).map_err(err)?;
            root.draw(&PathElement::new(pts, ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: 1 }))
                .map_err(err)?;
        }
        Ok(String::new())
    })
}

/// Points on a circle arc, angles in degrees (0 = right, counter-clockwise).
fn arc(cx: f64, cy: f64, r: f64, from_deg: f64, to_deg: f64) -> Vec<(i32, i32)> {
    let steps = ((from_deg - to_deg).abs() / 3.0).ceil().max(1.0) as usize;
    (0..=steps)
        .map(|i| {
            let a = (from_deg + (to_deg - from_deg) * i as f64 / steps as f64).to_radians();
            ((cx + r * a.cos()).round() as i32, (cy - r * a.sin()).round() as i32)
        })
        .collect()
}

/// A dial from `min` to `max` with threshold bands, the value's arc in its
/// threshold colour and the humanised value in the middle. `None` shows "No data".
pub fn gauge_svg(value: Option<f64>, label: &str, opts: &GaugeOptions) -> String {
    let (w, h) = (opts.width.clamp(60, 2000) as i32, opts.height.clamp(50, 2000) as i32);
    let (min, max) = if opts.max > opts.min { (opts.min, opts.max) } else { (opts.min, opts.min + 1.0) };
    let value = value.filter(|v| v.is_finite());
    let text = value.map(|v| opts.unit.format(v, opts.decimals)).unwrap_or_else(|| "No data".to_string());
    let spoken = if label.is_empty() { text.clone() } else { format!("{label}: {text}") };
    let attrs = format!(r#"class="chart gauge" role="img" aria-label="{}""#, xml_escape(&spoken));
    render_svg(w as u32, h as u32, &attrs, |root| {
        // Outer ring radius is about 1.09 r + 3; the dial dips 0.5 r below centre.
        let r = ((f64::from(w) / 2.0 - 6.0) / 1.09 - 3.0).min((f64::from(h) - 16.0) / 1.65).max(10.0);
        let (cx, cy) = (f64::from(w) / 2.0, 4.0 + 1.09 * r + 3.0);
        let thick = (r * 0.18).max(4.0) as u32;
        let angle = |v: f64| 210.0 - 240.0 * ((v - min) / (max - min)).clamp(0.0, 1.0);
        let track = ShapeStyle { color: GRID.mix(0.15), filled: false, stroke_width: thick };
        root.draw(&PathElement::new(arc(cx, cy, r, 210.0, -30.0), track)).map_err(err)?;
        // Threshold bands on a thin outer ring.
        let mut steps: Vec<&Threshold> = opts.thresholds.iter().filter(|t| t.value.is_finite()).collect();
        steps.sort_by(|a, b| a.value.total_cmp(&b.value));
        let mut band_start = min;
        let mut band_color = BASE_COLOR;
        for t in steps.iter().map(|t| (t.value, t.color.hex())).chain(std::iter::once((max, ""))) {
            let end = t.0.clamp(min, max);
            if end > band_start {
                let style = ShapeStyle { color: rgb(band_color).to_rgba(), filled: false, stroke_width: 3 };
                let outer = r + f64::from(thick) / 2.0 + 3.0;
                root.draw(&PathElement::new(arc(cx, cy, outer, angle(band_start), angle(end)), style)).map_err(err)?;
            }
            band_start = band_start.max(end);
            band_color = t.1;
        }
        if let Some(v) = value {
            let color = rgb(threshold_color(&opts.thresholds, v));
            let style = ShapeStyle { color: color.to_rgba(), filled: false, stroke_width: thick };
            if v > min {
                root.draw(&PathElement::new(arc(cx, cy, r, 210.0, angle(v)), style)).map_err(err)?;
            }
        }
        let size = (r * 0.42).clamp(12.0, 48.0);
        root.draw(&Text::new(text.clone(), (cx as i32, cy as i32), text_style(size, HPos::Center, VPos::Center)))
            .map_err(err)?;
        if !label.is_empty() {
            let y = (cy + r * 0.55) as i32;
            root.draw(&Text::new(label.to_string(), (cx as i32, y), text_style(FONT_SIZE, HPos::Center, VPos::Center)))
                .map_err(err)?;
        }
        Ok(format!("<title>{}</title>", xml_escape(&spoken)))
    })
}

/// Horizontal bars, one per `(label, value)`, filled to the value's share of
/// `[min, max]` in its threshold colour, with the humanised value at the end.
pub fn bar_gauge_svg(items: &[(String, f64)], opts: &GaugeOptions) -> String {
    const ROW: i32 = 26;
    let w = opts.width.clamp(120, 4000) as i32;
    if items.is_empty() {
        let h = opts.height.clamp(40, 2000) as i32;
        return render_svg(w as u32, h as u32, r#"class="chart bargauge" role="img" aria-label="No data""#, |root| {
            root.draw(&Text::new("No data", (w / 2, h / 2), text_style(18.0, HPos::Center, VPos::Center)))
                .map_err(err)?;
            Ok(String::new())
        });
    }
    let h = items.len() as i32 * ROW + 6;
    let (min, max) = if opts.max > opts.min { (opts.min, opts.max) } else { (opts.min, opts.min + 1.0) };
    let label_w = items.iter().map(|(l, _)| text_width(l, FONT_SIZE)).max().unwrap_or(0).clamp(20, w / 3);
    let value_w = 70;
    let rows: Vec<(String, String, f64)> = items
        .iter()
        .map(|(l, v)| {
            let shown = if l.chars().count() > 40 {
                format!("{}…", l.chars().take(39).collect::<String>())
            } else {
                l.clone()
            };
            (shown, opts.unit.format(*v, opts.decimals), *v)
        })
        .collect();
    render_svg(w as u32, h as u32, r#"class="chart bargauge" role="img""#, |root| {
        let x0 = label_w + 12;
        let x1 = (w - value_w - 8).max(x0 + 10);
        let mut extra = String::new();
        for (i, (label, text, v)) in rows.iter().enumerate() {
            let y = 4 + i as i32 * ROW;
            let (ya, yb) = (y + 4, y + ROW - 4);
            root.draw(&Text::new(
                label.clone(),
                (label_w + 4, (ya + yb) / 2),
                text_style(FONT_SIZE, HPos::Right, VPos::Center),
            ))
            .map_err(err)?;
            root.draw(&Rectangle::new([(x0, ya), (x1, yb)], GRID.mix(0.1).filled())).map_err(err)?;
            if v.is_finite() {
                let frac = ((v - min) / (max - min)).clamp(0.0, 1.0);
                let xe = x0 + (f64::from(x1 - x0) * frac).round() as i32;
                if xe > x0 {
                    let color = rgb(threshold_color(&opts.thresholds, *v));
                    root.draw(&Rectangle::new([(x0, ya), (xe, yb)], color.filled())).map_err(err)?;
                }
            }
            root.draw(&Text::new(
                text.clone(),
                (x1 + 6, (ya + yb) / 2),
                text_style(FONT_SIZE, HPos::Left, VPos::Center),
            ))
            .map_err(err)?;
            let _ = write!(
                extra,
                r#"<rect x="0" y="{y}" width="{w}" height="{ROW}" fill="transparent"><title>{}: {}</title></rect>"#,
                xml_escape(&items[i].0),
                xml_escape(text)
            );
        }
        Ok(extra)
    })
}

/// One bucket of a classic histogram: its upper bound (`le`) and the
/// cumulative count (or rate) over time.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatmapBucket {
    /// Upper bound; `f64::INFINITY` for `+Inf`.
    pub le: f64,
    /// Cumulative values over time.
    pub points: Vec<(i64, f64)>,
}

/// A heatmap of classic histogram buckets: one row per bucket (the count
/// between its `le` and the previous one), one column per time step, colour
/// strength by count. `opts.unit` formats the bucket bounds.
pub fn heatmap_svg(buckets: &[HeatmapBucket], opts: &ChartOptions) -> String {
    let (w, h) = (opts.width.clamp(120, 4000) as i32, opts.height.clamp(60, 4000) as i32);
    let range = if opts.range.end > opts.range.start {
        opts.range
    } else {
        TimeRange::new(opts.range.start, opts.range.start + 1000)
    };
    let mut buckets: Vec<&HeatmapBucket> = buckets.iter().filter(|b| !b.le.is_nan()).collect();
    buckets.sort_by(|a, b| a.le.total_cmp(&b.le));
    let mut times: Vec<i64> = buckets
        .iter()
        .flat_map(|b| b.points.iter().map(|p| p.0))
        .filter(|t| *t >= range.start && *t <= range.end)
        .collect();
    times.sort_unstable();
    times.dedup();
    // One column per 6 px at most: keeps the SVG small.
    let max_cols = ((w - 60) / 6).max(1) as usize;
    if times.len() > max_cols {
        let stride = times.len().div_ceil(max_cols);
        times = times.into_iter().step_by(stride).collect();
    }
    let value_at = |b: &HeatmapBucket, t: i64| -> f64 {
        b.points.binary_search_by_key(&t, |p| p.0).ok().map(|i| b.points[i].1).filter(|v| v.is_finite()).unwrap_or(0.0)
    };
    // counts[col][row]: per-bucket (non-cumulative) values.
    let counts: Vec<Vec<f64>> = times
        .iter()
        .map(|&t| {
            let mut prev = 0.0;
            buckets
                .iter()
                .map(|b| {
                    let c = value_at(b, t);
                    let d = (c - prev).max(0.0);
                    prev = prev.max(c);
                    d
                })
                .collect()
        })
        .collect();
    let peak = counts.iter().flatten().copied().fold(0.0, f64::max);
    let labels: Vec<String> = buckets
        .iter()
        .map(|b| if b.le.is_infinite() { "+Inf".to_string() } else { opts.unit.format(b.le, opts.decimals) })
        .collect();
    let label_w = labels.iter().map(|l| text_width(l, FONT_SIZE)).max().unwrap_or(20);
    let plot = Plot {
        left: (label_w + 10).clamp(24, w / 3),
        top: 8,
        right: w - 12,
        bottom: h - 22,
        t0: range.start,
        t1: range.end,
        y0: 0.0,
        y1: buckets.len().max(1) as f64,
    };
    let x_ticks = time_ticks(range, plot.right - plot.left, opts.tz_offset_minutes);
    let attrs = format!(
        r#"class="chart chart-heatmap" role="img" aria-label="{}" data-start="{}" data-end="{}""#,
        xml_escape(&opts.title),
        range.start,
        range.end
    );
    let off = i64::from(opts.tz_offset_minutes) * 60_000;
    render_svg(w as u32, h as u32, &attrs, |root| {
        // Bucket bounds label the top edge of their row.
        let y_ticks: Vec<(f64, String)> = labels.iter().enumerate().map(|(i, l)| ((i + 1) as f64, l.clone())).collect();
        // Thin out labels when rows are tighter than the text.
        let row_px = (plot.bottom - plot.top) / buckets.len().max(1) as i32;
        let every = (14 / row_px.max(1)).max(1) as usize;
        let y_ticks: Vec<(f64, String)> =
            y_ticks.into_iter().enumerate().filter(|(i, _)| (i + 1) % every == 0).map(|(_, t)| t).collect();
        draw_axes(root, &plot, &x_ticks, &y_ticks)?;
        if peak <= 0.0 {
            root.draw(&Text::new(
                "No data",
                ((plot.left + plot.right) / 2, (plot.top + plot.bottom) / 2),
                text_style(18.0, HPos::Center, VPos::Center),
            ))
            .map_err(err)?;
            return Ok(String::new());
        }
        let color = rgb("#e5731c");
        let mut extra = String::from(r#"<g class="hover">"#);
        for (c, &t) in times.iter().enumerate() {
            // A rate at t covers the interval before t: the cell ends at t.
            let x = plot.x(t);
            let width = match (c.checked_sub(1).map(|p| plot.x(times[p])), times.get(c + 1).map(|&n| plot.x(n))) {
                (Some(p), _) => x - p,
                (None, Some(n)) => n - x,
                (None, None) => 4,
            };
            let xa = (x - width.max(1)).max(plot.left);
            let xb = x.min(plot.right).max(xa + 1);
            let mut title = format_time(t + off, TimeFmt::Full);
            for (r, &v) in counts[c].iter().enumerate() {
                if v <= 0.0 {
                    continue;
                }
                let (ya, yb) = (plot.y((r + 1) as f64), plot.y(r as f64));
                // Rounded so the SVG repeats fewer distinct numbers.
                let strength = ((0.12 + 0.88 * (v / peak)) * 50.0).round() / 50.0;
                root.draw(&Rectangle::new([(xa, ya), (xb, yb)], color.mix(strength).filled())).map_err(err)?;
                let lower = if r == 0 { "0".to_string() } else { labels[r - 1].clone() };
                let _ = write!(title, "\n{lower} – {}: {}", labels[r], Unit::Short.format(v, None));
            }
            let _ = write!(
                extra,
                r#"<rect x="{xa}" y="{}" width="{}" height="{}" fill="transparent" data-t="{t}"><title>{}</title></rect>"#,
                plot.top,
                xb - xa,
                plot.bottom - plot.top,
                xml_escape(&title)
            );
        }
        extra.push_str("</g>");
        Ok(extra)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::ThresholdColor;

    fn opts() -> ChartOptions {
        ChartOptions { range: TimeRange::new(0, 600_000), step_ms: Some(60_000), ..ChartOptions::default() }
    }

    fn line(name: &str, values: &[f64]) -> ChartSeries {
        ChartSeries {
            name: name.into(),
            points: values.iter().enumerate().map(|(i, v)| (i as i64 * 60_000, *v)).collect(),
        }
    }

    #[test]
    fn draws_paths_for_data() {
        let svg = time_series_svg(&[line("a", &[1.0, 2.0, 3.0]), line("b", &[3.0, 2.0, 1.0])], &opts());
        assert!(svg.starts_with("<svg class=\"chart chart-timeseries\""), "{svg}");
        assert!(svg.matches("<path ").count() >= 2, "{svg}");
        assert!(!svg.contains("<polyline"));
        assert!(svg.contains(&format!("stroke=\"{}\"", series_color("a").to_uppercase())), "series colour missing");
        assert!(!svg.contains("No data"));
        assert!(svg.contains("<title>"));
        assert!(svg.trim_end().ends_with("</svg>"));
    }

    #[test]
    fn empty_input_says_no_data() {
        for series in [vec![], vec![line("a", &[])], vec![line("a", &[f64::NAN, f64::NAN])]] {
            let svg = time_series_svg(&series, &opts());
            assert!(svg.contains("No data"), "{svg}");
            assert!(!svg.contains("<path fill=\"none\" opacity=\"1\" stroke=\"#"), "no data lines expected");
        }
    }

    #[test]
    fn nan_and_gaps_break_lines() {
        let whole = time_series_svg(&[line("a", &[1.0, 2.0, 3.0, 4.0])], &opts());
        let broken = time_series_svg(&[line("a", &[1.0, 2.0, f64::NAN, 4.0, 5.0])], &opts());
        let stale = time_series_svg(&[line("a", &[1.0, 2.0, crate::tsdb::STALE_NAN, 4.0, 5.0])], &opts());
        let count = |s: &str| s.matches(&format!("stroke=\"{}\"", series_color("a").to_uppercase())).count();
        assert_eq!(count(&whole), 1);
        assert_eq!(count(&broken), 2);
        assert_eq!(count(&stale), 2);
        // A missing step (points at 0, 1m, 5m, 6m) breaks the line too.
        let gappy =
            ChartSeries { name: "a".into(), points: vec![(0, 1.0), (60_000, 1.0), (300_000, 2.0), (360_000, 2.0)] };
        assert_eq!(count(&time_series_svg(&[gappy], &opts())), 2);
    }

    #[test]
    fn colours_are_stable_and_from_palette() {
        assert_eq!(series_color("up{job=\"node\"}"), series_color("up{job=\"node\"}"));
        assert!(PALETTE.contains(&series_color("x")));
        // Different names spread over the palette.
        let distinct: std::collections::HashSet<_> = (0..50).map(|i| series_color(&format!("s{i}"))).collect();
        assert!(distinct.len() >= 8, "{distinct:?}");
        // Same set of names, any order: same colours; all distinct while the palette lasts.
        let names = ["a", "b", "c", "d", "e", "f"];
        let colors = assign_colors(&names);
        let mut rev = names;
        rev.reverse();
        let mut rev_colors = assign_colors(&rev);
        rev_colors.reverse();
        assert_eq!(colors, rev_colors);
        let distinct: std::collections::HashSet<_> = colors.iter().collect();
        assert_eq!(distinct.len(), names.len());
        // A lone series takes its hashed colour; the chart uses the assignment.
        let alone = time_series_svg(&[line("b", &[1.0, 2.0])], &opts());
        assert!(alone.contains(&format!("stroke=\"{}\"", series_color("b").to_uppercase())));
        let crowd = time_series_svg(&[line("a", &[1.0, 2.0]), line("b", &[1.0, 2.0]), line("c", &[2.0, 3.0])], &opts());
        for c in assign_colors(&["a", "b", "c"]) {
            assert!(crowd.contains(&format!("stroke=\"{}\"", c.to_uppercase())), "{c}");
        }
    }

    #[test]
    fn labels_are_escaped() {
        let svg = time_series_svg(
            &[line("<script>alert(1)</script>", &[1.0, 2.0])],
            &ChartOptions { title: "a\"b<".into(), ..opts() },
        );
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
        assert!(svg.contains("aria-label=\"a&quot;b&lt;\""));
        let g = bar_gauge_svg(&[("<b>".into(), 1.0)], &GaugeOptions::default());
        assert!(!g.contains("<b>") && g.contains("&lt;b&gt;"));
        let g = gauge_svg(Some(1.0), "<i>", &GaugeOptions::default());
        assert!(!g.contains("<i>") && g.contains("&lt;i&gt;"));
    }

    #[test]
    fn axis_uses_unit_and_wall_clock() {
        let o =
            ChartOptions { unit: Unit::Bytes, range: TimeRange::new(1_700_000_000_000, 1_700_003_600_000), ..opts() };
        let s =
            ChartSeries { name: "m".into(), points: vec![(1_700_000_000_000, 1024.0), (1_700_003_600_000, 4096.0)] };
        let svg = time_series_svg(&[s], &o);
        assert!(svg.contains("KiB"), "{svg}");
        // 1_700_000_000_000 ms is 2023-11-14 22:13:20 UTC: ticks are on round times.
        assert!(svg.contains(">\n22:30\n<") || svg.contains("22:30"), "{svg}");
        assert_eq!(format_time(1_700_000_000_000, TimeFmt::Full), "2023-11-14 22:13:20");
        assert_eq!(format_time(0, TimeFmt::Full), "1970-01-01 00:00:00");
        assert_eq!(format_time(-1000, TimeFmt::Full), "1969-12-31 23:59:59");
    }

    #[test]
    fn hover_titles_and_fixed_bounds() {
        let o = ChartOptions { unit: Unit::Bytes, min: Some(0.0), max: Some(10_240.0), ..opts() };
        let svg = time_series_svg(&[line("mem", &[1536.0, 2048.0])], &o);
        assert!(svg.contains("<title>1970-01-01 00:00:00\nmem: 1.5 KiB</title>"), "{svg}");
        assert!(svg.contains("data-t=\"60000\""));
        // Fixed bounds: the axis runs 0 to 10 KiB whatever the data.
        assert!(svg.contains("\n10 KiB\n") && svg.contains("\n0 B\n"), "{svg}");
        assert!(svg.contains("\n2 KiB\n") && svg.contains("\n4 KiB\n"), "binary ticks: {svg}");
        // The last column stops near the last point instead of filling the rest of the chart.
        let re = regex::Regex::new(r#"<rect x="(\d+)" y="\d+" width="(\d+)"[^>]*data-t="60000""#).unwrap();
        let c = re.captures(&svg).expect("hover column for the last point");
        let (x, w): (i32, i32) = (c[1].parse().unwrap(), c[2].parse().unwrap());
        assert!(x + w < 200, "last column spans {x}..{}", x + w);
    }

    #[test]
    fn stacked_areas_and_bars_and_thresholds() {
        let thr = vec![Threshold { value: 3.0, color: ThresholdColor::parse("red").unwrap() }];
        let o = ChartOptions { stack: true, draw: DrawStyle::Area, thresholds: thr, ..opts() };
        let svg = time_series_svg(&[line("a", &[1.0, 2.0, 3.0]), line("b", &[1.0, 1.0, 1.0])], &o);
        assert_eq!(svg.matches("<polygon").count(), 2, "{svg}");
        assert!(svg.contains("#E02F44"), "threshold line colour");
        // Stacked top reaches 4: the y axis must include it.
        assert!(svg.contains(">\n4\n<") || svg.contains(">4<") || svg.contains("\n4\n"), "{svg}");
        let bars = time_series_svg(&[line("a", &[1.0, 2.0, 3.0])], &ChartOptions { draw: DrawStyle::Bars, ..opts() });
        assert!(bars.matches("<rect").count() >= 3);
    }

    #[test]
    fn sparkline_gauge_and_heatmap() {
        let s = sparkline_svg(&[(0, 1.0), (1000, 3.0), (2000, 2.0)], 100, 30, "#3d8bd9");
        assert!(s.contains("<path ") && s.contains("sparkline"));
        let g = gauge_svg(Some(42.0), "cpu", &GaugeOptions { unit: Unit::Percent, ..GaugeOptions::default() });
        assert!(g.contains("42%") && g.contains("<path "));
        assert!(gauge_svg(None, "cpu", &GaugeOptions::default()).contains("No data"));
        let b = bar_gauge_svg(&[("a".into(), 50.0), ("b".into(), 90.0)], &GaugeOptions::default());
        assert_eq!(b.matches("<title>").count(), 2);
        assert!(bar_gauge_svg(&[], &GaugeOptions::default()).contains("No data"));

        let bucket = |le: f64, v: f64| HeatmapBucket { le, points: (0..5).map(|i| (i * 60_000, v)).collect() };
        let hm = heatmap_svg(
            &[bucket(0.1, 2.0), bucket(f64::INFINITY, 5.0), bucket(0.5, 4.0)],
            &ChartOptions { unit: Unit::Seconds, ..opts() },
        );
        assert!(hm.contains("100 ms") && hm.contains("+Inf"), "{hm}");
        // 0.1 → 2, 0.5 → 2, +Inf → 1 per column: three cells in each of five columns.
        assert_eq!(hm.matches("<rect").count(), 15 + 5, "{hm}");
        assert!(hm.contains("100 ms – 500 ms: 2"));
        assert!(heatmap_svg(&[], &opts()).contains("No data"));
    }
}
