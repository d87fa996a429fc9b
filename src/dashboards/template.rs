//! Template variables: choosing their values and expanding them into PromQL
//! the way Grafana's Prometheus data source does.

use std::collections::BTreeMap;

use super::duration::format_duration;
use super::model::{OneOrMany, Variable, VariableSource};
use crate::tsdb::{Labels, MatchKind, Matcher, Querier};

/// A time range in milliseconds since the epoch, both ends inclusive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimeRange {
    /// First instant, ms.
    pub start: i64,
    /// Last instant, ms.
    pub end: i64,
}

impl TimeRange {
    /// The range `[start, end]`.
    pub fn new(start: i64, end: i64) -> TimeRange {
        TimeRange { start, end }
    }

    /// The `len_ms` milliseconds that end at `now`.
    pub fn last(len_ms: i64, now: i64) -> TimeRange {
        TimeRange { start: now - len_ms, end: now }
    }

    /// Length in milliseconds (never negative).
    pub fn len_ms(&self) -> i64 {
        (self.end - self.start).max(0)
    }
}

/// Grafana's default Prometheus scrape interval, used for `$__rate_interval`
/// when the caller does not know better.
pub const DEFAULT_SCRAPE_INTERVAL_MS: i64 = 15_000;

/// Readable time steps (ms), from a second to a month: query steps and axis
/// ticks are picked from this list.
pub const NICE_STEPS_MS: &[i64] = &[
    1_000,
    2_000,
    5_000,
    10_000,
    15_000,
    30_000,
    60_000,
    120_000,
    300_000,
    600_000,
    900_000,
    1_800_000,
    3_600_000,
    7_200_000,
    10_800_000,
    21_600_000,
    43_200_000,
    86_400_000,
    172_800_000,
    604_800_000,
    1_209_600_000,
    2_592_000_000,
];

/// The step for a range query: the range over `max_points`, rounded up to a
/// readable interval, never below `min_step_ms` (usually the scrape interval).
pub fn auto_step(range: TimeRange, max_points: u32, min_step_ms: i64) -> i64 {
    let raw = range.len_ms() / i64::from(max_points.max(1));
    let nice = NICE_STEPS_MS.iter().copied().find(|&n| n >= raw).unwrap_or_else(|| raw.max(1));
    nice.max(min_step_ms).max(1)
}

/// The current value of one variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VarValue {
    /// One or more chosen values. `regex` says whether they expand as an
    /// escaped regex alternation (variables that are multi-select or offer All,
    /// Grafana's rule) or as the raw text.
    Values {
        /// The chosen values.
        values: Vec<String>,
        /// Expand as regex: escaped, and `(a|b)` for several.
        regex: bool,
    },
    /// "All": expands to the custom all value, or `.*`.
    All {
        /// The variable's `all_value`.
        all_value: Option<String>,
    },
}

/// The values of all variables for one page view, plus the scrape interval
/// used for `$__rate_interval`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VarValues {
    values: BTreeMap<String, VarValue>,
    /// The scrape interval of the data, in ms.
    pub scrape_interval_ms: i64,
}

impl Default for VarValues {
    fn default() -> Self {
        VarValues { values: BTreeMap::new(), scrape_interval_ms: DEFAULT_SCRAPE_INTERVAL_MS }
    }
}

impl VarValues {
    /// No variables; scrape interval 15 s.
    pub fn new() -> VarValues {
        VarValues::default()
    }

    /// Sets a variable.
    pub fn set(&mut self, name: &str, value: VarValue) {
        self.values.insert(name.to_string(), value);
    }

    /// Sets a plain single value (expanded as written).
    pub fn set_single(&mut self, name: &str, value: &str) {
        self.set(name, VarValue::Values { values: vec![value.to_string()], regex: false });
    }

    /// Sets a multi-select value (expanded as an escaped regex alternation).
    pub fn set_multi(&mut self, name: &str, values: &[&str]) {
        self.set(name, VarValue::Values { values: values.iter().map(|s| s.to_string()).collect(), regex: true });
    }

    /// Selects "All".
    pub fn set_all(&mut self, name: &str, all_value: Option<&str>) {
        self.set(name, VarValue::All { all_value: all_value.map(str::to_string) });
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&VarValue> {
        self.values.get(name)
    }

    /// Every variable and its value, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &VarValue)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v))
    }
}

/// The value to use for `var` given what the URL asked for (`requested`,
/// possibly `$__all`) and the options on offer. Falls back to the default,
/// then All (when offered), then the first option. Requested values that are
/// not among the options are kept, as Grafana keeps typed-in values.
pub fn select_value(var: &Variable, requested: &[String], options: &[String]) -> VarValue {
    let regex = var.multi || var.include_all;
    let mut chosen: Vec<String> = requested.iter().filter(|s| !s.is_empty()).cloned().collect();
    if chosen.is_empty() {
        chosen = var.default.as_ref().map(OneOrMany::to_vec).unwrap_or_default();
    }
    if chosen.iter().any(|v| v == "$__all") {
        return if var.include_all {
            VarValue::All { all_value: var.all_value.clone() }
        } else {
            VarValue::Values { values: options.first().cloned().into_iter().collect(), regex }
        };
    }
    if chosen.is_empty() {
        if var.include_all {
            return VarValue::All { all_value: var.all_value.clone() };
        }
        chosen = options.first().cloned().into_iter().collect();
    }
    if !var.multi {
        chosen.truncate(1);
    }
    VarValue::Values { values: chosen, regex }
}

/// Why a variable's options could not be listed.
#[derive(Debug, thiserror::Error)]
pub enum VariableError {
    /// The query or selector is not valid.
    #[error("variable {name}: {message}")]
    Invalid {
        /// The variable.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// The store failed.
    #[error("variable {name}: {source}")]
    Storage {
        /// The variable.
        name: String,
        /// The store's error.
        source: crate::tsdb::TsdbError,
    },
    /// The expression for `query_result` failed.
    #[error("variable {name}: query failed: {message}")]
    Query {
        /// The variable.
        name: String,
        /// The evaluator's message.
        message: String,
    },
}

/// Evaluates an instant PromQL query at a time (ms) for `query_result` variables.
pub type InstantEval<'a> = &'a dyn Fn(&str, i64) -> Result<Vec<(Labels, f64)>, String>;

/// Lists a variable's options: asks the store for label values/names and
/// metric names, and `eval` for `query_result`; then applies the regex.
/// Queries may use earlier variables (`label_values(up{job="$job"}, instance)`),
/// which are expanded from `vars` first.
pub fn resolve_options(
    var: &Variable,
    querier: &dyn Querier,
    range: TimeRange,
    vars: &VarValues,
    eval: Option<InstantEval<'_>>,
) -> Result<Vec<String>, VariableError> {
    let invalid = |message: String| VariableError::Invalid { name: var.name.clone(), message };
    let storage = |source| VariableError::Storage { name: var.name.clone(), source };
    let step = auto_step(range, 200, vars.scrape_interval_ms);
    let expand = |s: &str| expand_expr(s, vars, range, step);
    let raw = match var.source().map_err(invalid)? {
        VariableSource::Custom(values) => values,
        VariableSource::LabelValues { selector, label } => {
            let matchers = match selector {
                Some(sel) => selector_matchers(&expand(&sel)).map_err(invalid)?,
                None => vec![],
            };
            querier.label_values(&label, &matchers, range.start, range.end).map_err(storage)?
        }
        VariableSource::LabelNames { selector } => {
            let matchers = match selector {
                Some(sel) => selector_matchers(&expand(&sel)).map_err(invalid)?,
                None => vec![],
            };
            querier.label_names(&matchers, range.start, range.end).map_err(storage)?
        }
        VariableSource::Metrics { regex } => {
            let m = Matcher::new(MatchKind::Regex, crate::tsdb::METRIC_NAME, expand(&regex))
                .map_err(|e| invalid(format!("metrics: {e}")))?;
            querier.label_values(crate::tsdb::METRIC_NAME, &[m], range.start, range.end).map_err(storage)?
        }
        VariableSource::QueryResult { expr } => {
            let Some(eval) = eval else {
                return Err(invalid("query_result needs a query evaluator".to_string()));
            };
            let rows = eval(&expand(&expr), range.end)
                .map_err(|message| VariableError::Query { name: var.name.clone(), message })?;
            // Grafana's text form: `name{labels} value timestamp`.
            rows.iter().map(|(l, v)| format!("{l} {v} {}", range.end)).collect()
        }
    };
    Ok(var.filter_options(raw))
}

/// Turns a series selector such as `up{job="a"}` into store matchers.
pub fn selector_matchers(selector: &str) -> Result<Vec<Matcher>, String> {
    let mut sets =
        crate::promql::series_selector(selector).map_err(|e| format!("invalid selector {selector:?}: {e}"))?;
    if sets.len() != 1 {
        return Err(format!("{selector:?}: 'or' inside a selector is not supported here"));
    }
    Ok(sets.remove(0))
}

/// Expands variables in a PromQL expression: `$var`, `${var}`, `${var:format}`,
/// `[[var]]`, and the built-ins `$__interval`, `$__interval_ms`,
/// `$__rate_interval`, `$__range`, `$__range_s`, `$__range_ms`.
/// Unknown variables are left as written.
///
/// `$__rate_interval` follows Grafana: max(4 × scrape interval, step + scrape interval).
/// Several values expand to `(a|b)` with regex characters escaped; All to
/// the variable's all value or `.*`.
pub fn expand_expr(expr: &str, vars: &VarValues, range: TimeRange, step_ms: i64) -> String {
    let mut out = String::with_capacity(expr.len());
    let mut rest = expr;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match parse_reference(tail) {
            Some((len, name, format)) => {
                match expand_one(name, format, vars, range, step_ms) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(&tail[..len]),
                }
                rest = &rest[pos + len..];
            }
            None => {
                let c = tail.chars().next().map_or(1, char::len_utf8);
                out.push_str(&tail[..c]);
                rest = &rest[pos + c..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Expands variables in display text such as a panel title: values as
/// written, several joined by ", ", All as "All". Built-ins and unknown
/// names stay as written.
pub fn expand_text(text: &str, vars: &VarValues) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(pos) = rest.find(['$', '[']) {
        out.push_str(&rest[..pos]);
        let tail = &rest[pos..];
        match parse_reference(tail) {
            Some((len, name, _)) => {
                match vars.get(name) {
                    Some(VarValue::All { .. }) => out.push_str("All"),
                    Some(VarValue::Values { values, .. }) => out.push_str(&values.join(", ")),
                    None => out.push_str(&tail[..len]),
                }
                rest = &rest[pos + len..];
            }
            None => {
                let c = tail.chars().next().map_or(1, char::len_utf8);
                out.push_str(&tail[..c]);
                rest = &rest[pos + c..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Recognises `$name`, `${name}`, `${name:fmt}`, `[[name]]`, `[[name:fmt]]` at the
/// start of `s`; returns its length, the name and the format.
fn parse_reference(s: &str) -> Option<(usize, &str, Option<&str>)> {
    let ident_len = |t: &str| t.bytes().take_while(|b| b.is_ascii_alphanumeric() || *b == b'_').count();
    if let Some(t) = s.strip_prefix("${") {
        let end = t.find('}')?;
        let inner = &t[..end];
        let (name, fmt) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        return (ident_len(name) == name.len() && !name.is_empty()).then_some((end + 3, name, fmt));
    }
    if let Some(t) = s.strip_prefix("[[") {
        let end = t.find("]]")?;
        let inner = &t[..end];
        let (name, fmt) = match inner.split_once(':') {
            Some((n, f)) => (n, Some(f)),
            None => (inner, None),
        };
        return (ident_len(name) == name.len() && !name.is_empty()).then_some((end + 4, name, fmt));
    }
    let t = s.strip_prefix('$')?;
    let n = ident_len(t);
    (n > 0).then_some((n + 1, &t[..n], None))
}

/// The text for one reference, or None when the name is unknown.
fn expand_one(name: &str, format: Option<&str>, vars: &VarValues, range: TimeRange, step_ms: i64) -> Option<String> {
    let step = step_ms.max(1);
    let scrape = vars.scrape_interval_ms.max(1);
    match name {
        "__interval" => return Some(format_duration(step)),
        "__interval_ms" => return Some(step.to_string()),
        "__rate_interval" => return Some(format_duration((4 * scrape).max(step + scrape))),
        "__range" => return Some(format_duration(range.len_ms().max(1000) / 1000 * 1000)),
        "__range_s" => return Some((range.len_ms() / 1000).to_string()),
        "__range_ms" => return Some(range.len_ms().to_string()),
        _ => {}
    }
    let value = vars.get(name)?;
    Some(match (value, format) {
        (VarValue::All { all_value }, _) => all_value.clone().unwrap_or_else(|| ".*".to_string()),
        (VarValue::Values { values, .. }, Some("raw")) => values.join(","),
        (VarValue::Values { values, .. }, Some("csv")) => values.join(","),
        (VarValue::Values { values, .. }, Some("pipe")) => values.join("|"),
        (VarValue::Values { values, .. }, Some("regex")) => regex_alternation(values),
        (VarValue::Values { values, regex }, _) => {
            if *regex {
                regex_alternation(values)
            } else {
                values.first().map(|v| escape_string(v)).unwrap_or_default()
            }
        }
    })
}

/// `a` or `(a|b)`, each value regex-escaped for use inside a PromQL string.
fn regex_alternation(values: &[String]) -> String {
    let escaped: Vec<String> = values.iter().map(|v| escape_string(&regex_escape(v))).collect();
    match escaped.len() {
        1 => escaped.into_iter().next().unwrap_or_default(),
        _ => format!("({})", escaped.join("|")),
    }
}

/// Escapes regex metacharacters.
fn regex_escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Escapes a value so it stays inside a double-quoted PromQL string.
fn escape_string(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Appendable, MemStore};

    const R: TimeRange = TimeRange { start: 0, end: 3_600_000 };

    fn vars() -> VarValues {
        let mut v = VarValues::new();
        v.set_single("job", "node");
        v.set_multi("instance", &["a:9100", "b:9100"]);
        v.set_all("env", None);
        v.set_all("dc", Some("eu-.*"));
        v
    }

    #[test]
    fn expands_variable_syntaxes() {
        let v = vars();
        assert_eq!(expand_expr(r#"up{job="$job"}"#, &v, R, 15_000), r#"up{job="node"}"#);
        assert_eq!(expand_expr(r#"up{job="${job}"}"#, &v, R, 15_000), r#"up{job="node"}"#);
        assert_eq!(expand_expr(r#"up{job="[[job]]"}"#, &v, R, 15_000), r#"up{job="node"}"#);
        assert_eq!(expand_expr(r#"up{instance=~"$instance"}"#, &v, R, 15_000), r#"up{instance=~"(a:9100|b:9100)"}"#);
        assert_eq!(expand_expr(r#"up{env=~"$env",dc=~"$dc"}"#, &v, R, 15_000), r#"up{env=~".*",dc=~"eu-.*"}"#);
        assert_eq!(expand_expr("${instance:pipe}", &v, R, 15_000), "a:9100|b:9100");
        assert_eq!(expand_expr("${instance:csv}", &v, R, 15_000), "a:9100,b:9100");
        // Unknown names and lone dollars stay as written.
        assert_eq!(expand_expr("$nope ${nope} [[nope]] $ 5$", &v, R, 15_000), "$nope ${nope} [[nope]] $ 5$");
        // Longest name wins: $jobs is not $job + "s".
        assert_eq!(expand_expr("$jobs", &v, R, 15_000), "$jobs");
        // PromQL ranges in brackets are untouched.
        assert_eq!(expand_expr("rate(x[5m])", &v, R, 15_000), "rate(x[5m])");
    }

    #[test]
    fn multi_values_are_regex_escaped() {
        let mut v = VarValues::new();
        v.set_multi("path", &["/a.b", "c|d", "q\"x"]);
        assert_eq!(expand_expr("$path", &v, R, 1000), r#"(/a\\.b|c\\|d|q\"x)"#);
        v.set_multi("one", &["1.2.3.4"]);
        assert_eq!(expand_expr("$one", &v, R, 1000), r"1\\.2\\.3\\.4");
    }

    #[test]
    fn expands_display_text() {
        let v = vars();
        assert_eq!(
            expand_text("Latency of $job on ${instance} in [[env]] ($nope)", &v),
            "Latency of node on a:9100, b:9100 in All ($nope)"
        );
        // No PromQL escaping in display text.
        let mut q = VarValues::new();
        q.set_multi("p", &["a.b"]);
        assert_eq!(expand_text("$p", &q), "a.b");
    }

    #[test]
    fn builtin_intervals() {
        let v = VarValues::new(); // scrape interval 15s
        assert_eq!(expand_expr("$__interval", &v, R, 30_000), "30s");
        assert_eq!(expand_expr("$__interval_ms", &v, R, 30_000), "30000");
        // max(4*15s, 30s+15s) = 60s
        assert_eq!(expand_expr("rate(x[$__rate_interval])", &v, R, 30_000), "rate(x[1m])");
        // max(60s, 120s+15s) = 135s
        assert_eq!(expand_expr("${__rate_interval}", &v, R, 120_000), "2m15s");
        assert_eq!(expand_expr("$__range", &v, R, 1000), "1h");
        assert_eq!(expand_expr("$__range_s", &v, R, 1000), "3600");
        let mut fast = VarValues::new();
        fast.scrape_interval_ms = 5_000;
        assert_eq!(expand_expr("$__rate_interval", &fast, R, 1_000), "20s");
    }

    #[test]
    fn auto_steps_are_readable() {
        assert_eq!(auto_step(R, 300, 15_000), 15_000);
        assert_eq!(auto_step(TimeRange::new(0, 86_400_000), 300, 15_000), 300_000);
        assert_eq!(auto_step(TimeRange::new(0, 60_000), 300, 1_000), 1_000);
    }

    fn variable(multi: bool, include_all: bool) -> Variable {
        Variable {
            name: "job".into(),
            label: None,
            query: None,
            values: vec!["a".into(), "b".into()],
            regex: None,
            multi,
            include_all,
            all_value: None,
            default: None,
        }
    }

    #[test]
    fn selects_values() {
        let opts = vec!["a".to_string(), "b".to_string()];
        assert_eq!(
            select_value(&variable(false, false), &[], &opts),
            VarValue::Values { values: vec!["a".into()], regex: false }
        );
        assert_eq!(select_value(&variable(false, true), &[], &opts), VarValue::All { all_value: None });
        assert_eq!(
            select_value(&variable(false, false), &["b".into(), "a".into()], &opts),
            VarValue::Values { values: vec!["b".into()], regex: false }
        );
        assert_eq!(
            select_value(&variable(true, false), &["b".into(), "a".into()], &opts),
            VarValue::Values { values: vec!["b".into(), "a".into()], regex: true }
        );
        assert_eq!(select_value(&variable(true, true), &["$__all".into()], &opts), VarValue::All { all_value: None });
    }

    #[test]
    fn resolves_label_values_from_store() {
        let store = MemStore::new();
        let mut app = store.appender();
        for (job, inst) in [("node", "a"), ("node", "b"), ("api", "c")] {
            let l = Labels::from_pairs([("__name__", "up"), ("job", job), ("instance", inst)]);
            app.append(&l, 1000, 1.0).unwrap();
        }
        app.commit().unwrap();
        let mut var = variable(false, false);
        var.values.clear();
        var.name = "instance".into();
        var.query = Some(r#"label_values(up{job="$job"}, instance)"#.into());
        let mut v = VarValues::new();
        v.set_single("job", "node");
        let got = resolve_options(&var, &store, TimeRange::new(0, 10_000), &v, None).unwrap();
        assert_eq!(got, vec!["a", "b"]);
        var.query = Some("label_values(job)".into());
        let got = resolve_options(&var, &store, TimeRange::new(0, 10_000), &v, None).unwrap();
        assert_eq!(got, vec!["api", "node"]);
        var.query = Some("query_result(up)".into());
        assert!(resolve_options(&var, &store, TimeRange::new(0, 10_000), &v, None).is_err());
    }

    #[test]
    fn selectors_become_matchers() {
        let m = selector_matchers(r#"up{job=~"a|b",instance!="x"}"#).unwrap();
        assert_eq!(m.len(), 3);
        assert!(selector_matchers("sum(up)").is_err());
        assert!(selector_matchers("up{").is_err());
    }
}
