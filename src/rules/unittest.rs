//! `sightline test-rules`: runs rule unit tests written for `promtool test
//! rules` (rule_files, evaluation_interval, input_series in the expanding
//! notation, alert_rule_test, promql_expr_test, external_labels, ...) over an
//! in-memory store, printing results the way promtool does.

use super::file::{expand_rule_files, load_rule_file, NameValidation};
use super::group::{AlertState, EvalContext, Group};
use super::yaml::{self, Kind, Node};
use crate::promql::series::{expand_values, parse_float, parse_series, SeriesPoint as Pt};
use crate::promql::{Engine, EngineOptions, Value};
use crate::tsdb::{Appendable, Labels, MemStore, STALE_NAN};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `sightline test-rules FILE...`: returns 0 when every test passes, 1 otherwise.
pub fn test_rules_cli(files: &[PathBuf]) -> i32 {
    test_rules_cli_filtered(files, &[])
}

/// Like [`test_rules_cli`], running only test groups whose `name` matches
/// one of the `run` regexes (promtool's `--run`); all when `run` is empty.
pub fn test_rules_cli_filtered(files: &[PathBuf], run: &[String]) -> i32 {
    let mut res = Vec::new();
    for r in run {
        match regex::Regex::new(&format!("^(?:{r})$")) {
            Ok(re) => res.push(re),
            Err(e) => {
                eprintln!("--run {r:?}: {e}");
                return 1;
            }
        }
    }
    let mut code = 0;
    for f in files {
        println!("Unit Testing:  {}", f.display());
        match run_test_file_filtered(f, &res) {
            Ok(()) => println!("  SUCCESS"),
            Err(errs) => {
                eprintln!("  FAILED:");
                for e in errs {
                    eprintln!("{e}");
                    eprintln!();
                }
                code = 1;
            }
        }
        println!();
    }
    code
}

/// Runs one unit-test file; the errors as promtool prints them.
pub fn run_test_file(path: &Path) -> Result<(), Vec<String>> {
    run_test_file_filtered(path, &[])
}

/// Runs the test groups of one file whose name matches one of `run` (all
/// when empty).
pub fn run_test_file_filtered(path: &Path, run: &[regex::Regex]) -> Result<(), Vec<String>> {
    let src = std::fs::read_to_string(path).map_err(|e| vec![format!("open {}: {e}", path.display())])?;
    let root = yaml::parse(&src).map_err(|e| vec![format!("yaml: line {}: {}", e.line, e.message)])?;
    let mut shape = Vec::new();
    let file = decode_file(&root, &mut shape);
    if !shape.is_empty() {
        return Err(vec![format!("yaml: unmarshal errors:\n  {}", shape.join("\n  "))]);
    }
    let base = path.parent().unwrap_or(Path::new("."));
    let rule_paths = expand_rule_files(&file.rule_files, base).map_err(|e| vec![e])?;
    let mut defs = Vec::new();
    for p in &rule_paths {
        let rf = load_rule_file(p, NameValidation::Utf8)
            .map_err(|e| e.errors.iter().map(|x| format!("{}: {x}", p.display())).collect::<Vec<_>>())?;
        defs.extend(rf.groups);
    }
    // group_eval_order: listed groups first, in that order.
    if !file.group_eval_order.is_empty() {
        let mut ordered = Vec::new();
        for name in &file.group_eval_order {
            match defs.iter().position(|g| &g.name == name) {
                Some(i) => ordered.push(defs.remove(i)),
                None => return Err(vec![format!("group name {name:?} in group_eval_order not found")]),
            }
        }
        ordered.extend(defs);
        defs = ordered;
    }
    let mut errs = Vec::new();
    for tg in &file.tests {
        if !run.is_empty() && !run.iter().any(|r| r.is_match(&tg.name)) {
            continue;
        }
        if let Err(mut e) = run_group(tg, &defs, &file) {
            errs.append(&mut e);
        }
    }
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

#[derive(Default)]
struct TestFile {
    rule_files: Vec<String>,
    evaluation_interval: i64,
    group_eval_order: Vec<String>,
    fuzzy_compare: bool,
    tests: Vec<TestGroup>,
}

#[derive(Default)]
struct TestGroup {
    name: String,
    interval: i64,
    start_ms: i64,
    input_series: Vec<(String, String)>,
    alert_tests: Vec<AlertTest>,
    expr_tests: Vec<ExprTest>,
    external_labels: Labels,
    external_url: String,
}

struct AlertTest {
    eval_time: i64,
    eval_time_text: String,
    alertname: String,
    exp: Vec<(BTreeMap<String, String>, BTreeMap<String, String>)>,
}

struct ExprTest {
    expr: String,
    eval_time: i64,
    eval_time_text: String,
    exp: Vec<(String, f64)>,
    /// Expects native histograms, which Sightline does not store.
    histogram: bool,
}

fn mapping<'a>(n: &'a Node, known: &[&str], ty: &str, errs: &mut Vec<String>) -> Vec<(&'a str, &'a Node)> {
    let mut out = Vec::new();
    if n.is_null() {
        return out;
    }
    let Kind::Map(entries) = &n.kind else {
        errs.push(format!("line {}: cannot unmarshal {} into {ty}", n.line, n.type_name()));
        return out;
    };
    for (k, v) in entries {
        let key = k.text().unwrap_or("");
        if known.contains(&key) {
            out.push((key, v));
        } else {
            errs.push(format!("line {}: field {key} not found in type {ty}", k.line));
        }
    }
    out
}

fn text(n: &Node, errs: &mut Vec<String>) -> String {
    match &n.kind {
        Kind::Scalar { text, null, .. } => {
            if *null {
                String::new()
            } else {
                text.clone()
            }
        }
        _ => {
            errs.push(format!("line {}: cannot unmarshal {} into string", n.line, n.type_name()));
            String::new()
        }
    }
}

fn dur(n: &Node, errs: &mut Vec<String>) -> (i64, String) {
    let t = text(n, errs);
    match crate::config::parse_duration(&t) {
        // Printed the way Go's model.Duration prints (`0m` → `0s`).
        Ok(d) => (d.as_millis() as i64, crate::config::format_duration(d)),
        Err(e) => {
            errs.push(format!("line {}: {e}", n.line));
            (0, t)
        }
    }
}

fn str_map(n: &Node, errs: &mut Vec<String>) -> BTreeMap<String, String> {
    n.entries().iter().map(|(k, v)| (text(k, errs), text(v, errs))).collect()
}

fn decode_file(root: &Node, errs: &mut Vec<String>) -> TestFile {
    let mut f = TestFile { evaluation_interval: 60_000, ..Default::default() };
    let known = ["rule_files", "evaluation_interval", "group_eval_order", "fuzzy_compare", "tests"];
    for (k, v) in mapping(root, &known, "main.unitTestFile", errs) {
        match k {
            "rule_files" => f.rule_files = v.items().iter().map(|i| text(i, errs)).collect(),
            "evaluation_interval" => f.evaluation_interval = dur(v, errs).0,
            "group_eval_order" => f.group_eval_order = v.items().iter().map(|i| text(i, errs)).collect(),
            "fuzzy_compare" => f.fuzzy_compare = text(v, errs) == "true",
            "tests" => f.tests = v.items().iter().map(|t| decode_group(t, errs)).collect(),
            _ => {}
        }
    }
    f
}

fn decode_group(n: &Node, errs: &mut Vec<String>) -> TestGroup {
    let mut g = TestGroup { interval: 60_000, ..Default::default() };
    let known = [
        "interval",
        "input_series",
        "alert_rule_test",
        "promql_expr_test",
        "external_labels",
        "external_url",
        "name",
        "start_timestamp",
    ];
    for (k, v) in mapping(n, &known, "main.testGroup", errs) {
        match k {
            "name" => g.name = text(v, errs),
            "interval" => g.interval = dur(v, errs).0,
            "external_url" => g.external_url = text(v, errs),
            "external_labels" => g.external_labels = Labels::from_pairs(str_map(v, errs)),
            "start_timestamp" => {
                let t = text(v, errs);
                match parse_start(&t) {
                    Some(ms) => g.start_ms = ms,
                    None => errs.push(format!("line {}: cannot parse start_timestamp {t:?}", v.line)),
                }
            }
            "input_series" => {
                for s in v.items() {
                    let mut series = String::new();
                    let mut values = String::new();
                    for (k, v) in mapping(s, &["series", "values"], "main.series", errs) {
                        if k == "series" {
                            series = text(v, errs);
                        } else {
                            values = text(v, errs);
                        }
                    }
                    g.input_series.push((series, values));
                }
            }
            "alert_rule_test" => {
                for a in v.items() {
                    let mut t = AlertTest {
                        eval_time: 0,
                        eval_time_text: "0s".into(),
                        alertname: String::new(),
                        exp: Vec::new(),
                    };
                    for (k, v) in mapping(a, &["eval_time", "alertname", "exp_alerts"], "main.alertTestCase", errs) {
                        match k {
                            "eval_time" => (t.eval_time, t.eval_time_text) = dur(v, errs),
                            "alertname" => t.alertname = text(v, errs),
                            _ => {
                                for e in v.items() {
                                    let (mut l, mut an) = (BTreeMap::new(), BTreeMap::new());
                                    for (k, v) in mapping(e, &["exp_labels", "exp_annotations"], "main.alert", errs) {
                                        if k == "exp_labels" {
                                            l = str_map(v, errs);
                                        } else {
                                            an = str_map(v, errs);
                                        }
                                    }
                                    t.exp.push((l, an));
                                }
                            }
                        }
                    }
                    g.alert_tests.push(t);
                }
            }
            "promql_expr_test" => {
                for e in v.items() {
                    let mut t = ExprTest {
                        expr: String::new(),
                        eval_time: 0,
                        eval_time_text: "0s".into(),
                        exp: Vec::new(),
                        histogram: false,
                    };
                    for (k, v) in mapping(e, &["expr", "eval_time", "exp_samples"], "main.promqlTestCase", errs) {
                        match k {
                            "expr" => t.expr = text(v, errs),
                            "eval_time" => (t.eval_time, t.eval_time_text) = dur(v, errs),
                            _ => {
                                for s in v.items() {
                                    let (mut l, mut val) = (String::new(), 0.0);
                                    for (k, v) in mapping(s, &["labels", "value", "histogram"], "main.sample", errs) {
                                        match k {
                                            "labels" => l = text(v, errs),
                                            "value" => val = parse_float(&text(v, errs)).unwrap_or(f64::NAN),
                                            _ => t.histogram = true,
                                        }
                                    }
                                    t.exp.push((l, val));
                                }
                            }
                        }
                    }
                    g.expr_tests.push(t);
                }
            }
            _ => {}
        }
    }
    g
}

fn parse_start(t: &str) -> Option<i64> {
    if let Ok(secs) = t.parse::<f64>() {
        return Some((secs * 1000.0) as i64);
    }
    chrono::DateTime::parse_from_rfc3339(t).ok().map(|d| d.timestamp_millis())
}

/// Go's `labels.Labels.String()`: `{a="1", b="2"}`.
fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> =
        l.iter().map(|l| format!("{}={}", l.name, super::template::gofmt::quote(&l.value))).collect();
    format!("{{{}}}", parts.join(", "))
}

fn go_map_labels(m: &BTreeMap<String, String>) -> String {
    go_labels(&Labels::from_pairs(m.clone()))
}

/// Go's `strconv.FormatFloat(v, 'E', -1, 64)`.
fn fmt_big_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:E}");
    let (m, e) = s.split_once('E').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}E{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// Go's `time.Duration.String()` for whole milliseconds.
fn go_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".into();
    }
    let neg = ms < 0;
    let ms = ms.unsigned_abs();
    let (h, m, s, frac) = (ms / 3_600_000, (ms / 60_000) % 60, (ms / 1000) % 60, ms % 1000);
    let mut out = String::from(if neg { "-" } else { "" });
    if ms < 1000 {
        return format!("{out}{ms}ms");
    }
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if frac > 0 {
        out.push_str(&format!("{s}.{}s", format!("{frac:03}").trim_end_matches('0')));
    } else {
        out.push_str(&format!("{s}s"));
    }
    out
}

fn indent(s: &str, ind: &str) -> String {
    s.split('\n').enumerate().map(|(i, l)| if i == 0 { l.to_string() } else { format!("\n{ind}{l}") }).collect()
}

fn alerts_string(v: &[(Labels, Labels)]) -> String {
    if v.is_empty() {
        return "[]".into();
    }
    let mut s = String::from("[");
    for (i, (l, a)) in v.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&format!("\n{i}:"));
        s.push_str(&indent(&format!("\nLabels:{}\nAnnotations:{}", go_labels(l), go_labels(a)), "  "));
    }
    s.push_str("\n]");
    s
}

fn run_group(tg: &TestGroup, defs: &[super::file::GroupDef], file: &TestFile) -> Result<(), Vec<String>> {
    let store = MemStore::new();
    let mut app = store.appender();
    let mut errs = Vec::new();
    for (series, values) in &tg.input_series {
        let labels = parse_series(series).map_err(|e| vec![e])?;
        if values.contains("{{") {
            errs.push(format!("    series: {series}: native histograms are not supported"));
            continue;
        }
        let pts = expand_values(values).map_err(|e| vec![format!("{series}: {e}")])?;
        for (i, p) in pts.iter().enumerate() {
            let t = tg.start_ms + i as i64 * tg.interval;
            let r = match p {
                Pt::V(v) => app.append(&labels, t, *v),
                Pt::Stale => app.append(&labels, t, STALE_NAN),
                Pt::Omit => Ok(()),
            };
            r.map_err(|e| vec![e.to_string()])?;
        }
    }
    app.commit().map_err(|e| vec![e.to_string()])?;
    let eval_interval = file.evaluation_interval.max(1);
    let engine = Arc::new(Engine::new(EngineOptions::default()).with_default_subquery_step(eval_interval));
    let ctx = EvalContext {
        engine: engine.clone(),
        storage: Arc::new(store.clone()),
        external_labels: tg.external_labels.clone(),
        external_url: tg.external_url.clone(),
        sink: None,
        resend_delay_ms: 60_000,
    };
    let mut groups =
        defs.iter().map(|d| Group::new(d, eval_interval)).collect::<Result<Vec<_>, _>>().map_err(|e| vec![e])?;
    let test_name = if tg.name.is_empty() { String::new() } else { format!("    name: {},\n", tg.name) };

    let mut alert_times: Vec<i64> = tg.alert_tests.iter().map(|a| a.eval_time).collect();
    alert_times.sort();
    alert_times.dedup();
    let maxt = alert_times.iter().chain(tg.expr_tests.iter().map(|e| &e.eval_time)).copied().max().unwrap_or(0);
    let mut curr = 0;
    let mut ts = 0i64;
    while ts <= maxt {
        for g in groups.iter_mut() {
            g.eval_at(&ctx, tg.start_ms + ts);
            let rule_errs: Vec<String> =
                g.rules
                    .iter()
                    .filter_map(|r| {
                        r.status.last_error.as_ref().map(|e| {
                            format!("    rule: {}, time: {}, err: {e}", r.def.name, go_duration(tg.start_ms + ts))
                        })
                    })
                    .collect();
            if !rule_errs.is_empty() {
                return Err(rule_errs);
            }
        }
        while curr < alert_times.len() && ts <= alert_times[curr] && alert_times[curr] < ts + eval_interval {
            let t = alert_times[curr];
            for tc in tg.alert_tests.iter().filter(|a| a.eval_time == t) {
                let mut got: Vec<(Labels, Labels)> = groups
                    .iter()
                    .flat_map(|g| g.rules.iter())
                    .filter(|r| r.def.name == tc.alertname && r.def.kind == super::file::RuleKind::Alerting)
                    .flat_map(|r| r.active.values())
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| (a.labels.clone(), a.annotations.clone()))
                    .collect();
                let mut exp: Vec<(Labels, Labels)> = tc
                    .exp
                    .iter()
                    .map(|(l, a)| {
                        let mut l = Labels::from_pairs(l.clone());
                        l.set("alertname", &tc.alertname);
                        (l, Labels::from_pairs(a.clone()))
                    })
                    .collect();
                got.sort_by(|a, b| a.0.cmp(&b.0));
                exp.sort_by(|a, b| a.0.cmp(&b.0));
                if got != exp {
                    errs.push(format!(
                        "{test_name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
                        tc.alertname,
                        tc.eval_time_text,
                        indent(&alerts_string(&exp), "            "),
                        indent(&alerts_string(&got), "            ")
                    ));
                }
            }
            curr += 1;
        }
        ts += eval_interval;
    }

    let cmp = |a: f64, b: f64| a == b || (a.is_nan() && b.is_nan()) || (file.fuzzy_compare && (next_toward(a, b) == b));
    for tc in &tg.expr_tests {
        if tc.histogram {
            errs.push(format!(
                "{test_name}    expr: {:?}, time: {}, err: native histograms are not supported",
                tc.expr, tc.eval_time_text
            ));
            continue;
        }
        let t = tg.start_ms + tc.eval_time;
        let got = match engine.instant_query(&store, &tc.expr, t) {
            Ok(r) => match r.value {
                Value::Vector(v) => v.into_iter().map(|s| (s.labels, s.v)).collect::<Vec<_>>(),
                Value::Scalar { v, .. } => vec![(Labels::new(), v)],
                _ => {
                    errs.push(format!(
                        "{test_name}    expr: {:?}, time: {}, err: query result is not a vector or scalar",
                        tc.expr, tc.eval_time_text
                    ));
                    continue;
                }
            },
            Err(e) => {
                errs.push(format!("{test_name}    expr: {:?}, time: {}, err: {e}", tc.expr, tc.eval_time_text));
                continue;
            }
        };
        let mut exp = Vec::new();
        for (l, v) in &tc.exp {
            match parse_series(l) {
                Ok(l) => exp.push((l, *v)),
                Err(e) => {
                    errs.push(format!("{test_name}    expr: {:?}, time: {}, err: {e}", tc.expr, tc.eval_time_text))
                }
            }
        }
        let mut got = got;
        got.sort_by(|a, b| a.0.cmp(&b.0));
        exp.sort_by(|a, b| a.0.cmp(&b.0));
        let same = got.len() == exp.len() && got.iter().zip(&exp).all(|(g, e)| g.0 == e.0 && cmp(e.1, g.1));
        if !same {
            let show = |v: &[(Labels, f64)]| {
                if v.is_empty() {
                    "nil".to_string()
                } else {
                    v.iter().map(|(l, x)| format!("{} {}", go_labels(l), fmt_big_e(*x))).collect::<Vec<_>>().join(", ")
                }
            };
            errs.push(format!(
                "{test_name}    expr: {:?}, time: {},\n        exp: {}\n        got: {}",
                tc.expr,
                tc.eval_time_text,
                show(&exp),
                show(&got)
            ));
        }
    }
    let _ = go_map_labels;
    if errs.is_empty() {
        Ok(())
    } else {
        Err(errs)
    }
}

/// The next float after `a` in the direction of `b`.
fn next_toward(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() || a == b {
        return a;
    }
    if a == 0.0 {
        let tiny = f64::from_bits(1);
        return if b > 0.0 { tiny } else { -tiny };
    }
    let bits = a.to_bits();
    let up = (b > a) == (a > 0.0);
    f64::from_bits(if up { bits + 1 } else { bits - 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_values_like_prometheus() {
        assert_eq!(
            expand_values("1+1x2 _ stale 3x1").unwrap(),
            vec![Pt::V(1.0), Pt::V(2.0), Pt::V(3.0), Pt::Omit, Pt::Stale, Pt::V(3.0), Pt::V(3.0)]
        );
        assert_eq!(expand_values("5-2x1 _x2").unwrap(), vec![Pt::V(5.0), Pt::V(3.0), Pt::Omit, Pt::Omit]);
        assert!(expand_values("1+x").is_err());
        assert!(expand_values("{{sum:1}}").is_err());
    }

    #[test]
    fn go_formats() {
        assert_eq!(fmt_big_e(1.0), "1E+00");
        assert_eq!(fmt_big_e(0.0), "0E+00");
        assert_eq!(fmt_big_e(1234.5), "1.2345E+03");
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(300_000), "5m0s");
        assert_eq!(go_duration(3_600_000), "1h0m0s");
        assert_eq!(go_duration(1500), "1.5s");
        assert_eq!(next_toward(3.0, 2.0), 2.9999999999999996);
    }
}
