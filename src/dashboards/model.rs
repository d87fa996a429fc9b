//! The dashboard model as written in YAML, and its checks beyond what serde
//! can see (widths, duplicate names, regexes, variable queries).

use serde::{Deserialize, Serialize};

use super::duration::{format_duration, parse_duration};
use super::units::Unit;

/// A dashboard: variables on top, then rows of panels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dashboard {
    /// Shown at the top of the page and in lists.
    pub title: String,
    /// Stable id used in URLs; made from the title when left out.
    #[serde(default, alias = "slug")]
    pub uid: String,
    /// A sentence or two under the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Free-form tags for filtering the dashboard list.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The default time range, looking back from now (`1h`, `now-6h`).
    #[serde(default = "default_time")]
    pub time: DurationMs,
    /// How often the page refreshes itself, if at all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh: Option<DurationMs>,
    /// Template variables, in the order they are shown (and resolved).
    #[serde(default)]
    pub variables: Vec<Variable>,
    /// Rows of panels, top to bottom.
    #[serde(default)]
    pub rows: Vec<Row>,
    /// Where the panels' queries run: a name from `datasources:` in the
    /// config; Sightline's own store when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
}

fn default_time() -> DurationMs {
    DurationMs(3_600_000)
}

/// A duration in milliseconds, written in YAML the Prometheus way (`5m`, `1h30m`).
/// `now-6h` is accepted too, as Grafana writes time ranges that way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DurationMs(pub i64);

impl<'de> Deserialize<'de> for DurationMs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let s = s.trim();
        let s = s.strip_prefix("now-").unwrap_or(s);
        parse_duration(s).map(DurationMs).map_err(serde::de::Error::custom)
    }
}

impl Serialize for DurationMs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format_duration(self.0))
    }
}

/// A row: a titled band of panels that can start collapsed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Row {
    /// The row heading; an empty title draws no heading.
    #[serde(default)]
    pub title: String,
    /// Whether the row starts folded (its panels are not queried until opened).
    #[serde(default)]
    pub collapsed: bool,
    /// The panels, laid left to right on a 24-column grid, wrapping.
    #[serde(default)]
    pub panels: Vec<Panel>,
}

/// What a panel draws.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PanelType {
    /// Lines, areas or bars over time.
    #[default]
    Timeseries,
    /// One big number per series, with a sparkline.
    Stat,
    /// A dial per series.
    Gauge,
    /// Horizontal bars, one per series.
    Bargauge,
    /// Latest values, one row per series, a column per label.
    Table,
    /// Histogram buckets (`le`) over time.
    Heatmap,
    /// Markdown text.
    Text,
}

impl PanelType {
    /// The lowercase name used in YAML and CSS classes.
    pub fn as_str(self) -> &'static str {
        match self {
            PanelType::Timeseries => "timeseries",
            PanelType::Stat => "stat",
            PanelType::Gauge => "gauge",
            PanelType::Bargauge => "bargauge",
            PanelType::Table => "table",
            PanelType::Heatmap => "heatmap",
            PanelType::Text => "text",
        }
    }
}

/// How a time series panel draws its series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DrawStyle {
    /// Lines only.
    #[default]
    #[serde(alias = "line")]
    Lines,
    /// Lines with the area below filled.
    Area,
    /// One bar per sample.
    #[serde(alias = "bar")]
    Bars,
}

/// A panel on the 24-column grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Panel {
    /// The heading of the panel.
    pub title: String,
    /// What the panel draws.
    #[serde(rename = "type", default)]
    pub kind: PanelType,
    /// Shown on hover over the title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// PromQL queries, each drawn as one or more series.
    #[serde(default)]
    pub targets: Vec<Target>,
    /// The unit values are humanised in.
    #[serde(default)]
    pub unit: Unit,
    /// Lower end of the y axis (or of the gauge); from the data when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    /// Upper end of the y axis (or of the gauge); from the data when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Fixed number of decimals; automatic when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decimals: Option<u32>,
    /// Colour steps: a value at or above a step's `value` takes its colour.
    #[serde(default)]
    pub thresholds: Vec<Threshold>,
    /// Stack series on top of each other.
    #[serde(default, alias = "stacking")]
    pub stack: bool,
    /// Lines, areas or bars.
    #[serde(default, alias = "draw_style")]
    pub draw: DrawStyle,
    /// Columns out of 24.
    #[serde(default = "default_width")]
    pub width: u32,
    /// Height in grid rows (30 px each, as in Grafana).
    #[serde(default = "default_height")]
    pub height: u32,
    /// Markdown for text panels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// This panel's datasource, overriding the dashboard's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datasource: Option<String>,
}

fn default_width() -> u32 {
    12
}

fn default_height() -> u32 {
    8
}

/// One query of a panel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// PromQL, with `$variables` expanded before it runs.
    pub expr: String,
    /// Series name template such as `{{job}} {{instance}}`.
    #[serde(default, alias = "legend_format", alias = "legendFormat", skip_serializing_if = "Option::is_none")]
    pub legend: Option<String>,
    /// Run as an instant query at the end of the range (tables, stats).
    #[serde(default)]
    pub instant: bool,
}

/// A threshold step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Threshold {
    /// The step starts at this value (inclusive).
    pub value: f64,
    /// Its colour.
    #[serde(alias = "colour")]
    pub color: ThresholdColor,
}

/// How bad a threshold colour reads; the CSS class `thr-ok`, `thr-warn`, `thr-crit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    /// Fine (green, blue, ...).
    Ok,
    /// Worth a look (yellow, orange).
    Warn,
    /// Bad (red).
    Crit,
}

impl Severity {
    /// The CSS class for the severity.
    pub fn css_class(self) -> &'static str {
        match self {
            Severity::Ok => "thr-ok",
            Severity::Warn => "thr-warn",
            Severity::Crit => "thr-crit",
        }
    }
}

/// A threshold colour: a name (`green`, `orange`, `red`, ...) or `#rrggbb`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThresholdColor {
    name: String,
    hex: String,
    severity: Severity,
}

const NAMED_COLORS: &[(&str, &str, Severity)] = &[
    ("green", "#56a64b", Severity::Ok),
    ("blue", "#3274d9", Severity::Ok),
    ("purple", "#a352cc", Severity::Ok),
    ("gray", "#8e8e8e", Severity::Ok),
    ("grey", "#8e8e8e", Severity::Ok),
    ("yellow", "#e0b400", Severity::Warn),
    ("orange", "#ff780a", Severity::Warn),
    ("red", "#e02f44", Severity::Crit),
];

impl ThresholdColor {
    /// Parses a colour name or a `#rgb`/`#rrggbb` hex colour.
    pub fn parse(s: &str) -> Result<ThresholdColor, String> {
        let lower = s.trim().to_ascii_lowercase();
        if let Some((name, hex, severity)) = NAMED_COLORS.iter().find(|(n, _, _)| *n == lower) {
            return Ok(ThresholdColor { name: name.to_string(), hex: hex.to_string(), severity: *severity });
        }
        let digits = lower.strip_prefix('#').unwrap_or("");
        if (digits.len() == 3 || digits.len() == 6) && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            let hex = if digits.len() == 3 {
                digits.chars().flat_map(|c| [c, c]).collect::<String>()
            } else {
                digits.to_string()
            };
            let severity = severity_of_hex(&hex);
            return Ok(ThresholdColor { name: lower.clone(), hex: format!("#{hex}"), severity });
        }
        let names: Vec<&str> = NAMED_COLORS.iter().map(|(n, _, _)| *n).collect();
        Err(format!("unknown colour {s:?} (use {} or #rrggbb)", names.join(", ")))
    }

    /// Neutral gray, for colours that cannot be read.
    pub fn gray() -> ThresholdColor {
        ThresholdColor { name: "gray".to_string(), hex: "#8e8e8e".to_string(), severity: Severity::Ok }
    }

    /// The colour as written.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The colour as `#rrggbb`, safe to put in SVG and CSS.
    pub fn hex(&self) -> &str {
        &self.hex
    }

    /// How bad the colour reads.
    pub fn severity(&self) -> Severity {
        self.severity
    }
}

/// Reddish hex colours read as critical, yellowish as warnings, the rest as fine.
fn severity_of_hex(hex: &str) -> Severity {
    let c = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or(0) as i32;
    let (r, g, b) = (c(0), c(2), c(4));
    if r > 150 && g < 100 && b < 120 {
        Severity::Crit
    } else if r > 180 && g > 100 && b < 100 {
        Severity::Warn
    } else {
        Severity::Ok
    }
}

impl<'de> Deserialize<'de> for ThresholdColor {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ThresholdColor::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl Serialize for ThresholdColor {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// A template variable, offered as a drop-down above the panels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    /// Referenced as `$name`, `${name}` or `[[name]]`.
    pub name: String,
    /// The drop-down's caption; the name when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Where options come from: `label_values(up, job)`, `label_values(job)`,
    /// `label_names()`, `metrics(regex)`, `query_result(expr)` or a PromQL
    /// expression. Exclusive with `values`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// A fixed list of options. Exclusive with `query`.
    #[serde(default, alias = "custom", skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    /// Keeps only options matching this regex (Grafana's `/.../` may be used);
    /// when it has a capture group, the first group becomes the option.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
    /// Allow selecting several options.
    #[serde(default)]
    pub multi: bool,
    /// Offer an "All" option.
    #[serde(default)]
    pub include_all: bool,
    /// What "All" expands to; `.*` when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_value: Option<String>,
    /// The selection when the URL names none: one value or a list; `$__all` for All.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<OneOrMany>,
}

/// A single string or a list of strings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// One value.
    One(String),
    /// Several values.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The values as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// Where a variable's options come from, parsed from `query`/`values`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VariableSource {
    /// `label_values([selector,] label)`: values of a label.
    LabelValues {
        /// Series selector limiting which series count, e.g. `up{job="node"}`.
        selector: Option<String>,
        /// The label whose values are offered.
        label: String,
    },
    /// `label_names([selector])`: label names.
    LabelNames {
        /// Series selector limiting which series count.
        selector: Option<String>,
    },
    /// `metrics(regex)`: metric names matching the regex.
    Metrics {
        /// Regex the metric names must match (anchored).
        regex: String,
    },
    /// `query_result(expr)` or a bare expression: each result series as text.
    QueryResult {
        /// The PromQL expression.
        expr: String,
    },
    /// A fixed list.
    Custom(Vec<String>),
}

impl Variable {
    /// Where the options come from.
    pub fn source(&self) -> Result<VariableSource, String> {
        match (&self.query, self.values.is_empty()) {
            (Some(_), false) => Err("give either query or values, not both".to_string()),
            (None, true) => Err("needs a query or a list of values".to_string()),
            (None, false) => Ok(VariableSource::Custom(self.values.clone())),
            (Some(q), true) => parse_variable_query(q),
        }
    }

    /// The caption shown beside the drop-down.
    pub fn caption(&self) -> &str {
        self.label.as_deref().unwrap_or(&self.name)
    }

    /// The compiled option filter, if any. Surrounding slashes are dropped.
    pub fn option_regex(&self) -> Result<Option<regex::Regex>, String> {
        let Some(raw) = self.regex.as_deref() else { return Ok(None) };
        let body = raw.strip_prefix('/').and_then(|r| r.strip_suffix('/')).unwrap_or(raw);
        regex::Regex::new(body).map(Some).map_err(|e| format!("invalid regex {raw:?}: {e}"))
    }

    /// Applies the regex to raw options: keeps matches (or their first capture
    /// group), drops the rest, and removes duplicates keeping first occurrences.
    pub fn filter_options(&self, raw: Vec<String>) -> Vec<String> {
        let re = self.option_regex().ok().flatten();
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for opt in raw {
            let kept = match &re {
                None => Some(opt),
                Some(re) => re
                    .captures(&opt)
                    .map(|c| c.get(1).or_else(|| c.get(0)).map(|m| m.as_str().to_string()).unwrap_or_default()),
            };
            if let Some(v) = kept {
                if seen.insert(v.clone()) {
                    out.push(v);
                }
            }
        }
        out
    }
}

/// Parses a Grafana Prometheus variable query.
fn parse_variable_query(q: &str) -> Result<VariableSource, String> {
    let q = q.trim();
    if q.is_empty() {
        return Err("query is empty".to_string());
    }
    let call = |name: &str| -> Option<&str> {
        let rest = q.strip_prefix(name)?.trim_start();
        rest.strip_prefix('(')?.strip_suffix(')').map(str::trim)
    };
    if let Some(args) = call("label_values") {
        let parts = split_top_level(args);
        return match parts.as_slice() {
            [label] if !label.is_empty() => {
                Ok(VariableSource::LabelValues { selector: None, label: label.to_string() })
            }
            [sel, label] if !label.is_empty() && !sel.is_empty() => {
                Ok(VariableSource::LabelValues { selector: Some(sel.to_string()), label: label.to_string() })
            }
            _ => Err(format!("label_values needs ([selector,] label), got {q:?}")),
        }
        .and_then(|src| match &src {
            VariableSource::LabelValues { label, .. } if !is_label_name(label) => {
                Err(format!("label_values: {label:?} is not a label name"))
            }
            _ => Ok(src),
        });
    }
    if let Some(args) = call("label_names") {
        return Ok(VariableSource::LabelNames { selector: (!args.is_empty()).then(|| args.to_string()) });
    }
    if let Some(args) = call("metrics") {
        regex::Regex::new(&format!("^(?:{args})$")).map_err(|e| format!("metrics: invalid regex {args:?}: {e}"))?;
        return Ok(VariableSource::Metrics { regex: args.to_string() });
    }
    if let Some(args) = call("query_result") {
        if args.is_empty() {
            return Err("query_result needs an expression".to_string());
        }
        return Ok(VariableSource::QueryResult { expr: args.to_string() });
    }
    Ok(VariableSource::QueryResult { expr: q.to_string() })
}

/// Splits on commas that are outside quotes, braces, brackets and parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut quote, mut escaped, mut start) = (0i32, None::<char>, false, 0usize);
    for (i, c) in s.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(s[start..].trim());
    parts
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Lowercase letters, digits and dashes made from a title.
pub fn slugify(title: &str) -> String {
    let mut out = String::new();
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

impl Panel {
    /// The threshold step `v` falls in: the last step whose value is at most `v`.
    /// Steps are checked in value order whatever order the file lists them in.
    pub fn threshold_for(&self, v: f64) -> Option<&Threshold> {
        if v.is_nan() {
            return None;
        }
        self.thresholds.iter().filter(|t| t.value <= v).max_by(|a, b| a.value.total_cmp(&b.value))
    }
}

impl Dashboard {
    /// Fills in defaults that depend on other fields (the uid from the title)
    /// and returns every problem found, each as `path: message`.
    pub(crate) fn normalise_and_check(&mut self) -> Vec<String> {
        let mut errs = Vec::new();
        if self.title.trim().is_empty() {
            errs.push("title: must not be empty".to_string());
        }
        if self.uid.is_empty() {
            self.uid = slugify(&self.title);
        }
        if self.uid.is_empty() || !self.uid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            errs.push(format!("uid: {:?} must be letters, digits, '-' or '_'", self.uid));
        }
        if self.time.0 <= 0 {
            errs.push("time: must be longer than zero".to_string());
        }
        if let Some(r) = self.refresh {
            if r.0 < 1000 {
                errs.push("refresh: must be at least 1s".to_string());
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, v) in self.variables.iter().enumerate() {
            let at = format!("variables[{i}]");
            if !is_label_name(&v.name) || v.name.starts_with("__") {
                errs.push(format!("{at}.name: {:?} must match [a-zA-Z_][a-zA-Z0-9_]* and not start with __", v.name));
            }
            if !names.insert(v.name.clone()) {
                errs.push(format!("{at}.name: variable {:?} is defined twice", v.name));
            }
            if let Err(e) = v.source() {
                errs.push(format!("{at}: {e}"));
            }
            if let Err(e) = v.option_regex() {
                errs.push(format!("{at}.regex: {e}"));
            }
            if let Some(OneOrMany::Many(d)) = &v.default {
                if d.len() > 1 && !v.multi {
                    errs.push(format!("{at}.default: several values but multi is false"));
                }
            }
        }
        for (r, row) in self.rows.iter().enumerate() {
            for (p, panel) in row.panels.iter().enumerate() {
                let at = format!("rows[{r}].panels[{p}]");
                if panel.width == 0 || panel.width > 24 {
                    errs.push(format!("{at}.width: {} is outside 1..=24", panel.width));
                }
                if panel.height == 0 || panel.height > 100 {
                    errs.push(format!("{at}.height: {} is outside 1..=100", panel.height));
                }
                if let (Some(min), Some(max)) = (panel.min, panel.max) {
                    if min >= max {
                        errs.push(format!("{at}.max: {max} must be above min {min}"));
                    }
                }
                if panel.decimals.is_some_and(|d| d > 10) {
                    errs.push(format!("{at}.decimals: at most 10"));
                }
                if panel.kind == PanelType::Text {
                    if panel.text.is_none() {
                        errs.push(format!("{at}.text: a text panel needs text"));
                    }
                    if !panel.targets.is_empty() {
                        errs.push(format!("{at}.targets: a text panel has no queries"));
                    }
                } else if panel.targets.is_empty() {
                    errs.push(format!("{at}.targets: needs at least one query"));
                }
                for (t, target) in panel.targets.iter().enumerate() {
                    if target.expr.trim().is_empty() {
                        errs.push(format!("{at}.targets[{t}].expr: must not be empty"));
                    }
                }
                for (t, thr) in panel.thresholds.iter().enumerate() {
                    if thr.value.is_nan() {
                        errs.push(format!("{at}.thresholds[{t}].value: must be a number"));
                    }
                }
            }
        }
        errs
    }

    /// Every panel with its row index and position in the row, top to bottom.
    pub fn panels(&self) -> impl Iterator<Item = (usize, usize, &Panel)> {
        self.rows
            .iter()
            .enumerate()
            .flat_map(|(r, row)| row.panels.iter().enumerate().map(move |(p, panel)| (r, p, panel)))
    }

    /// The variable called `name`.
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn var(query: &str) -> Variable {
        Variable {
            name: "v".into(),
            label: None,
            query: Some(query.into()),
            values: vec![],
            regex: None,
            multi: false,
            include_all: false,
            all_value: None,
            default: None,
        }
    }

    #[test]
    fn variable_queries_parse() {
        assert_eq!(
            var("label_values(up{job=\"a,b\"}, instance)").source(),
            Ok(VariableSource::LabelValues { selector: Some("up{job=\"a,b\"}".into()), label: "instance".into() })
        );
        assert_eq!(
            var("label_values(job)").source(),
            Ok(VariableSource::LabelValues { selector: None, label: "job".into() })
        );
        assert_eq!(var("label_names()").source(), Ok(VariableSource::LabelNames { selector: None }));
        assert_eq!(var("metrics(node_.*)").source(), Ok(VariableSource::Metrics { regex: "node_.*".into() }));
        assert_eq!(var("query_result(up == 1)").source(), Ok(VariableSource::QueryResult { expr: "up == 1".into() }));
        assert_eq!(
            var("sum by (job) (up)").source(),
            Ok(VariableSource::QueryResult { expr: "sum by (job) (up)".into() })
        );
        assert!(var("label_values()").source().is_err());
        assert!(var("label_values(up, 1abc)").source().is_err());
        assert!(var("metrics(()").source().is_err());
    }

    #[test]
    fn option_regex_filters_and_extracts() {
        let mut v = var("label_values(instance)");
        v.regex = Some("/([^:]+):9100/".into());
        let got = v.filter_options(vec!["a:9100".into(), "b:9090".into(), "c:9100".into(), "a:9100".into()]);
        assert_eq!(got, vec!["a", "c"]);
    }

    #[test]
    fn threshold_colours() {
        assert_eq!(ThresholdColor::parse("Red").map(|c| c.severity()), Ok(Severity::Crit));
        assert_eq!(ThresholdColor::parse("#fa0").map(|c| c.hex().to_string()), Ok("#ffaa00".to_string()));
        assert_eq!(ThresholdColor::parse("#ffaa00").map(|c| c.severity()), Ok(Severity::Warn));
        assert!(ThresholdColor::parse("rouge").is_err());
        assert!(ThresholdColor::parse("#12345g").is_err());
        assert!(ThresholdColor::parse("#1234\"").is_err());
    }

    #[test]
    fn slugs() {
        assert_eq!(slugify("Sightline — self monitoring!"), "sightline-self-monitoring");
        assert_eq!(slugify("  HTTP  "), "http");
    }
}
