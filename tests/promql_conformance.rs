//! Runs the upstream Prometheus PromQL test scripts (`*.test`, see
//! `conformance/promql/FORMAT.md`) against our engine over a `MemStore`.
//!
//! Every eval must pass unless `tests/promql_skips.txt` lists it (whole file
//! with `*`, or `file:line`) with a reason. Set `PROMQL_CONF_VERBOSE=1` to
//! print every failure, `PROMQL_CONF_FILE=name.test` to run one file.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use promql_parser::parser::{AtModifier, Expr};
use sightline::promql::series::{expand_values, parse_float, parse_series, SeriesPoint as Pt};
use sightline::promql::{Engine, EngineOptions, QueryError, QueryResult, Value};
use sightline::tsdb::{is_stale_nan, Appendable, Labels, MemStore, STALE_NAN};

// ------------------------------------------------------------------ parsing

/// Prometheus durations (`1m30s`, `0`) in milliseconds.
fn parse_duration(s: &str) -> Result<i64, String> {
    sightline::config::parse_duration(s).map(|d| d.as_millis() as i64)
}

/// Splits `name{a="b"} 1 2 3` into the series text and the rest.
fn split_series(line: &str) -> (String, String) {
    let b = line.as_bytes();
    let mut i = 0;
    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'{' {
        i += 1;
    }
    if i < b.len() && b[i] == b'{' {
        let mut in_str: Option<u8> = None;
        while i < b.len() {
            let c = b[i];
            match in_str {
                Some(q) => {
                    if c == b'\\' {
                        i += 1;
                    } else if c == q {
                        in_str = None;
                    }
                }
                None => {
                    if c == b'"' || c == b'\'' || c == b'`' {
                        in_str = Some(c);
                    } else if c == b'}' {
                        i += 1;
                        break;
                    }
                }
            }
            i += 1;
        }
    }
    let i = i.min(line.len());
    (line[..i].to_string(), line[i..].trim().to_string())
}

// ------------------------------------------------------------------ script

#[derive(Debug, Clone)]
enum Expect {
    Fail(Option<Match>),
    Warn(Option<Match>),
    Info(Option<Match>),
    NoWarn,
    NoInfo,
    Ordered,
}

#[derive(Debug, Clone)]
enum Match {
    Msg(String),
    Regex(String),
}

impl Match {
    fn matches(&self, s: &str) -> bool {
        match self {
            Match::Msg(m) => m == s,
            Match::Regex(r) => regex::Regex::new(r).map(|re| re.is_match(s)).unwrap_or(false),
        }
    }
}

#[derive(Debug, Clone)]
enum Expected {
    Scalar(f64),
    Str(String),
    /// Instant vector: (labels, value).
    Vector(Vec<(Labels, f64)>),
    /// Matrix: (labels, points).
    Matrix(Vec<(Labels, Vec<(i64, f64)>)>),
}

#[derive(Debug, Clone)]
struct Eval {
    line: usize,
    expr: String,
    instant: bool,
    start: i64,
    end: i64,
    step: i64,
    expects: Vec<Expect>,
    expected: Expected,
    /// Set for `expect range vector`: instant query yielding a matrix.
    range_vector: bool,
}

enum Cmd {
    Load { step: i64, lines: Vec<String>, nhcb: bool },
    Clear,
    Eval(Eval),
}

fn parse_expect(rest: &str) -> Result<Expect, String> {
    let rest = rest.trim();
    let (kind, tail) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim()),
        None => (rest, ""),
    };
    let m = if tail.is_empty() {
        None
    } else if let Some(x) = tail.strip_prefix("msg:") {
        Some(Match::Msg(x.trim().to_string()))
    } else if let Some(x) = tail.strip_prefix("regex:") {
        Some(Match::Regex(x.trim().to_string()))
    } else {
        return Err(format!("bad expect line {rest:?}"));
    };
    Ok(match kind {
        "fail" => Expect::Fail(m),
        "warn" => Expect::Warn(m),
        "info" => Expect::Info(m),
        "no_warn" => Expect::NoWarn,
        "no_info" => Expect::NoInfo,
        "ordered" => Expect::Ordered,
        _ => return Err(format!("bad expect kind {kind:?}")),
    })
}

fn unquote(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.len() >= 2 && s.starts_with('`') && s.ends_with('`') {
        return Ok(s[1..s.len() - 1].to_string());
    }
    match sightline::promql::parse(s) {
        Ok(Expr::StringLiteral(l)) => Ok(l.val),
        _ => Err(format!("bad string {s:?}")),
    }
}

fn parse_script(text: &str) -> Result<Vec<Cmd>, String> {
    let lines: Vec<String> = text
        .lines()
        .map(|l| l.trim())
        .map(|l| if l.starts_with('#') { String::new() } else { l.to_string() })
        .collect();
    let mut cmds = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let l = &lines[i];
        let lineno = i + 1;
        if l.is_empty() {
            i += 1;
            continue;
        }
        let first = l.split_whitespace().next().unwrap_or("").to_ascii_lowercase();
        if first == "clear" {
            cmds.push(Cmd::Clear);
            i += 1;
            continue;
        }
        if first.starts_with("load") {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let step = parse_duration(parts.get(1).copied().unwrap_or(""))?;
            let mut body = Vec::new();
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                body.push(lines[i].clone());
                i += 1;
            }
            cmds.push(Cmd::Load { step, lines: body, nhcb: first.starts_with("load_with_nhcb") });
            continue;
        }
        if first.starts_with("eval") {
            let mut expects = Vec::new();
            match first.as_str() {
                "eval" => {}
                "eval_fail" => expects.push(Expect::Fail(None)),
                "eval_warn" => expects.push(Expect::Warn(None)),
                "eval_info" => expects.push(Expect::Info(None)),
                "eval_ordered" => expects.push(Expect::Ordered),
                other => return Err(format!("line {lineno}: unknown command {other}")),
            }
            let rest = l[first.len()..].trim();
            let toks: Vec<&str> = rest.split_whitespace().collect();
            let (instant, start, end, step, expr) = if toks.first() == Some(&"instant") && toks.get(1) == Some(&"at") {
                let t = parse_duration(toks.get(2).copied().unwrap_or(""))?;
                let expr = rest.splitn(4, char::is_whitespace).filter(|x| !x.is_empty()).nth(3).unwrap_or("");
                // splitn on single whitespace can leave extra spaces; recompute robustly.
                let idx = find_nth_token_end(rest, 3);
                let expr2 = rest[idx..].trim();
                (true, t, t, 1, if expr2.is_empty() { expr.to_string() } else { expr2.to_string() })
            } else if toks.first() == Some(&"range") {
                // range from <a> to <b> step <s> <expr>
                if toks.len() < 8 || toks[1] != "from" || toks[3] != "to" || toks[5] != "step" {
                    return Err(format!("line {lineno}: bad range eval"));
                }
                let a = parse_duration(toks[2])?;
                let b = parse_duration(toks[4])?;
                let s = parse_duration(toks[6])?;
                let idx = find_nth_token_end(rest, 7);
                (false, a, b, s, rest[idx..].trim().to_string())
            } else {
                return Err(format!("line {lineno}: bad eval {l:?}"));
            };
            let mut ev = Eval {
                line: lineno,
                expr,
                instant,
                start,
                end,
                step,
                expects,
                expected: if instant { Expected::Vector(Vec::new()) } else { Expected::Matrix(Vec::new()) },
                range_vector: false,
            };
            let mut vec_lines: Vec<(Labels, Vec<Pt>)> = Vec::new();
            let mut scalar: Option<f64> = None;
            let mut string: Option<String> = None;
            let mut rv: Option<(i64, i64, i64)> = None;
            i += 1;
            while i < lines.len() && !lines[i].is_empty() {
                let b = lines[i].as_str();
                i += 1;
                if b.starts_with("expected_fail_message") || b.starts_with("expected_fail_regexp") {
                    let (k, v) = b.split_once(char::is_whitespace).unwrap_or((b, ""));
                    let m = if k == "expected_fail_message" {
                        Match::Msg(v.trim().to_string())
                    } else {
                        Match::Regex(v.trim().to_string())
                    };
                    ev.expects.retain(|e| !matches!(e, Expect::Fail(_)));
                    ev.expects.push(Expect::Fail(Some(m)));
                    break;
                }
                if let Some(x) = b.strip_prefix("expect range vector") {
                    let t: Vec<&str> = x.split_whitespace().collect();
                    if t.len() != 6 || t[0] != "from" || t[2] != "to" || t[4] != "step" {
                        return Err(format!("line {i}: bad expect range vector"));
                    }
                    rv = Some((parse_duration(t[1])?, parse_duration(t[3])?, parse_duration(t[5])?));
                    continue;
                }
                if let Some(x) = b.strip_prefix("expect string") {
                    string = Some(unquote(x)?);
                    continue;
                }
                if b.split_whitespace().next() == Some("expect") {
                    ev.expects.push(parse_expect(&b["expect".len()..])?);
                    continue;
                }
                if let Ok(v) = parse_scalar_line(b) {
                    scalar = Some(v);
                    continue;
                }
                let (series, vals) = split_series(b);
                let labels = parse_series(&series).map_err(|e| format!("line {i}: {e}"))?;
                let items: Vec<&str> = vals.split_whitespace().collect();
                if vals.contains("{{") {
                    // A native histogram expectation: not representable here.
                    vec_lines.push((labels, vec![Pt::V(f64::from_bits(0x7ff8_dead_beef_0001))]));
                    continue;
                }
                let pts = expand_values(&items.join(" ")).map_err(|e| format!("line {i}: {e}"))?;
                vec_lines.push((labels, pts));
            }
            if let Some(s) = string {
                ev.expected = Expected::Str(s);
            } else if let Some(v) = scalar {
                ev.expected = Expected::Scalar(v);
            } else if let Some((a, b, s)) = rv {
                ev.range_vector = true;
                ev.start = b;
                ev.end = b;
                ev.expected = Expected::Matrix(matrix_from(&vec_lines, a, s));
            } else if instant {
                let mut v = Vec::new();
                for (l, pts) in &vec_lines {
                    match pts.first() {
                        Some(Pt::V(x)) => v.push((l.clone(), *x)),
                        _ => return Err(format!("line {lineno}: bad expected instant value")),
                    }
                }
                ev.expected = Expected::Vector(v);
            } else {
                ev.expected = Expected::Matrix(matrix_from(&vec_lines, start, step));
            }
            cmds.push(Cmd::Eval(ev));
            continue;
        }
        return Err(format!("line {lineno}: unknown command {l:?}"));
    }
    Ok(cmds)
}

fn find_nth_token_end(s: &str, n: usize) -> usize {
    let mut count = 0;
    let mut in_tok = false;
    for (i, c) in s.char_indices() {
        if c.is_whitespace() {
            if in_tok {
                count += 1;
                in_tok = false;
                if count == n {
                    return i;
                }
            }
        } else {
            in_tok = true;
        }
    }
    s.len()
}

fn parse_scalar_line(b: &str) -> Result<f64, String> {
    if b.split_whitespace().count() != 1 {
        return Err("not scalar".into());
    }
    if b.starts_with('{')
        || b.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && !matches!(b.to_ascii_lowercase().as_str(), "inf" | "nan")
    {
        return Err("not scalar".into());
    }
    parse_float(b)
}

fn matrix_from(lines: &[(Labels, Vec<Pt>)], start: i64, step: i64) -> Vec<(Labels, Vec<(i64, f64)>)> {
    lines
        .iter()
        .map(|(l, pts)| {
            let v = pts
                .iter()
                .enumerate()
                .filter_map(|(i, p)| match p {
                    Pt::V(x) => Some((start + i as i64 * step, *x)),
                    Pt::Stale => Some((start + i as i64 * step, STALE_NAN)),
                    Pt::Omit => None,
                })
                .collect();
            (l.clone(), v)
        })
        .collect()
}

// ------------------------------------------------------------------ checking

fn almost_equal(a: f64, b: f64) -> bool {
    if is_stale_nan(a) || is_stale_nan(b) {
        return is_stale_nan(a) && is_stale_nan(b);
    }
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let eps = 1e-6;
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

fn check_value(ev: &Eval, v: &Value, ordered: bool) -> Result<(), String> {
    match (&ev.expected, v) {
        (Expected::Scalar(x), Value::Scalar { v, .. }) => {
            if almost_equal(*x, *v) {
                Ok(())
            } else {
                Err(format!("expected scalar {x}, got {v}"))
            }
        }
        (Expected::Str(x), Value::String { v, .. }) => {
            if x == v {
                Ok(())
            } else {
                Err(format!("expected string {x:?}, got {v:?}"))
            }
        }
        (Expected::Vector(exp), Value::Vector(got)) => {
            if exp.len() != got.len() {
                return Err(format!("expected {} samples, got {}: {}", exp.len(), got.len(), show_vec(got)));
            }
            for (i, (l, x)) in exp.iter().enumerate() {
                let Some(pos) = got.iter().position(|g| &g.labels == l) else {
                    return Err(format!("missing {l} in result {}", show_vec(got)));
                };
                if ordered && pos != i {
                    return Err(format!("{l} at position {pos}, expected {i}: {}", show_vec(got)));
                }
                if !almost_equal(*x, got[pos].v) {
                    return Err(format!("{l}: expected {x}, got {}", got[pos].v));
                }
            }
            Ok(())
        }
        (Expected::Matrix(exp), Value::Matrix(got)) => {
            if got.windows(2).any(|w| w[0].labels > w[1].labels) {
                return Err("matrix is not sorted by labels".into());
            }
            let exp: Vec<_> = exp.iter().filter(|(_, p)| !p.is_empty()).collect();
            if exp.len() != got.len() {
                return Err(format!(
                    "expected {} series, got {}: {}",
                    exp.len(),
                    got.len(),
                    got.iter().map(|s| s.labels.to_string()).collect::<Vec<_>>().join(", ")
                ));
            }
            for (l, pts) in exp {
                let Some(g) = got.iter().find(|g| &g.labels == l) else {
                    return Err(format!("missing series {l}"));
                };
                if g.samples.len() != pts.len() {
                    return Err(format!(
                        "{l}: expected {} points, got {}: {:?}",
                        pts.len(),
                        g.samples.len(),
                        g.samples
                    ));
                }
                for (p, s) in pts.iter().zip(&g.samples) {
                    if p.0 != s.t || !almost_equal(p.1, s.v) {
                        return Err(format!("{l}: expected {:?}, got {:?}", pts, g.samples));
                    }
                }
            }
            Ok(())
        }
        (e, v) => Err(format!("result type mismatch: expected {e:?}, got {v:?}")),
    }
}

fn show_vec(v: &[sightline::promql::InstantSample]) -> String {
    v.iter().map(|s| format!("{} {}", s.labels, s.v)).collect::<Vec<_>>().join(", ")
}

fn check_annotations(ev: &Eval, r: &QueryResult) -> Result<(), String> {
    for (kind, actual) in [("warn", &r.warnings), ("info", &r.infos)] {
        let wants: Vec<&Option<Match>> = ev
            .expects
            .iter()
            .filter_map(|e| match (kind, e) {
                ("warn", Expect::Warn(m)) | ("info", Expect::Info(m)) => Some(m),
                _ => None,
            })
            .collect();
        let none = ev.expects.iter().any(|e| matches!((kind, e), ("warn", Expect::NoWarn) | ("info", Expect::NoInfo)));
        if none && !actual.is_empty() {
            return Err(format!("expected no {kind} annotations, got {actual:?}"));
        }
        if wants.is_empty() {
            continue;
        }
        for w in &wants {
            let ok = match w {
                None => !actual.is_empty(),
                Some(m) => actual.iter().any(|a| m.matches(a)),
            };
            if !ok {
                return Err(format!("expected {kind} {w:?}, got {actual:?}"));
            }
        }
        for a in actual {
            if !wants.iter().any(|w| w.as_ref().is_none_or(|m| m.matches(a))) {
                return Err(format!("unexpected {kind} annotation {a:?}"));
            }
        }
    }
    Ok(())
}

const TIME_FUNCS: &[&str] = &[
    "time",
    "timestamp",
    "minute",
    "hour",
    "day_of_month",
    "day_of_week",
    "day_of_year",
    "days_in_month",
    "month",
    "year",
    "predict_linear",
    "start",
    "end",
    "range",
    "step",
];

fn uses_time_funcs(e: &Expr) -> bool {
    match e {
        Expr::Call(c) => TIME_FUNCS.contains(&c.func.name) || c.args.args.iter().any(|a| uses_time_funcs(a)),
        Expr::Aggregate(a) => uses_time_funcs(&a.expr) || a.param.as_deref().is_some_and(uses_time_funcs),
        Expr::Unary(u) => uses_time_funcs(&u.expr),
        Expr::Binary(b) => uses_time_funcs(&b.lhs) || uses_time_funcs(&b.rhs),
        Expr::Paren(p) => uses_time_funcs(&p.expr),
        Expr::Subquery(s) => uses_time_funcs(&s.expr),
        _ => false,
    }
}

fn at_time(ms: i64) -> AtModifier {
    let st = if ms >= 0 {
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms as u64)
    } else {
        std::time::UNIX_EPOCH - std::time::Duration::from_millis(ms.unsigned_abs())
    };
    AtModifier::At(st)
}

/// Pins every selector and subquery without `@` to `@ t` (not descending into subqueries).
fn pin_at(e: &mut Expr, t: i64) {
    match e {
        Expr::VectorSelector(vs) if vs.at.is_none() => vs.at = Some(at_time(t)),
        Expr::MatrixSelector(ms) if ms.vs.at.is_none() => ms.vs.at = Some(at_time(t)),
        Expr::Subquery(sq) if sq.at.is_none() => sq.at = Some(at_time(t)),
        Expr::Call(c) => c.args.args.iter_mut().for_each(|a| pin_at(a, t)),
        Expr::Aggregate(a) => {
            pin_at(&mut a.expr, t);
            if let Some(p) = a.param.as_mut() {
                pin_at(p, t);
            }
        }
        Expr::Unary(u) => pin_at(&mut u.expr, t),
        Expr::Binary(b) => {
            pin_at(&mut b.lhs, t);
            pin_at(&mut b.rhs, t);
        }
        Expr::Paren(p) => pin_at(&mut p.expr, t),
        _ => {}
    }
}

/// The printer writes `\xNN` escapes back as characters; put them back the
/// way Go's printer keeps them, for the ones the original text used.
fn restore_escapes(printed: &str, original: &str) -> String {
    printed
        .chars()
        .map(|c| {
            let esc = format!("\\x{:02x}", c as u32);
            if (0x80..=0xff).contains(&(c as u32)) && original.to_ascii_lowercase().contains(&esc) {
                esc
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn check_fail(ev: &Eval, r: Result<QueryResult, QueryError>) -> Result<(), String> {
    let want = ev.expects.iter().find_map(|e| match e {
        Expect::Fail(m) => Some(m),
        _ => None,
    });
    match (want, r) {
        (Some(m), Err(e)) => {
            let msg = e.to_string();
            match m {
                Some(m) if !m.matches(&msg) => Err(format!("error {msg:?} does not match {m:?}")),
                _ => Ok(()),
            }
        }
        (Some(_), Ok(r)) => Err(format!("expected failure, got {:?}", r.value)),
        (None, Err(e)) => Err(format!("unexpected error: {e}")),
        (None, Ok(_)) => Ok(()),
    }
}

/// Runs `expr` (or its text, when it round-trips through the printer as
/// upstream's re-printing does) at `t` and checks it.
fn run_instant(
    engine: &Engine,
    st: &MemStore,
    ev: &Eval,
    expr: &Expr,
    text: &str,
    t: i64,
    cross_check: bool,
) -> Result<(), String> {
    let by_text = sightline::promql::parse(text).is_ok_and(|e| &e == expr);
    let r = if by_text { engine.instant_query(st, text, t) } else { engine.instant_query_expr(st, expr, t) };
    let fail = ev.expects.iter().any(|e| matches!(e, Expect::Fail(_)));
    if fail || r.is_err() {
        return check_fail(ev, r);
    }
    let r = r.map_err(|e| e.to_string())?;
    let ordered = ev.expects.iter().any(|e| matches!(e, Expect::Ordered));
    check_value(ev, &r.value, ordered).map_err(|e| format!("at {t}: {e}"))?;
    check_annotations(ev, &r).map_err(|e| format!("at {t}: {e}"))?;
    if cross_check {
        let rr = if by_text {
            engine.range_query(st, text, t - 60_000, t + 60_000, 60_000)
        } else {
            engine.range_query_expr(st, expr, t - 60_000, t + 60_000, 60_000)
        };
        let rr = rr.map_err(|e| format!("range check at {t}: {e}"))?;
        if ordered {
            return Ok(());
        }
        let Value::Matrix(m) = rr.value else { return Err("range check: not a matrix".into()) };
        if m.windows(2).any(|w| w[0].labels >= w[1].labels) {
            return Err("range check: matrix not sorted".into());
        }
        let v = match &ev.expected {
            Expected::Scalar(_) => {
                let x = m.first().and_then(|s| s.samples.iter().find(|p| p.t == t)).map(|p| p.v).unwrap_or(f64::NAN);
                Value::Scalar { t, v: x }
            }
            _ => Value::Vector(
                m.iter()
                    .filter_map(|s| {
                        s.samples.iter().find(|p| p.t == t).map(|p| sightline::promql::InstantSample {
                            labels: s.labels.clone(),
                            t,
                            v: p.v,
                        })
                    })
                    .collect(),
            ),
        };
        check_value(ev, &v, false).map_err(|e| format!("range check at {t}: {e}"))?;
    }
    Ok(())
}

fn run_eval(engine: &Engine, st: &MemStore, ev: &Eval) -> Result<(), String> {
    let expr = match sightline::promql::parse(&ev.expr) {
        Ok(e) => e,
        Err(e) => return Err(format!("parse error: {e}")),
    };
    if !ev.instant {
        let r = engine.range_query_expr(st, &expr, ev.start, ev.end, ev.step);
        let fail = ev.expects.iter().any(|e| matches!(e, Expect::Fail(_)));
        if fail || r.is_err() {
            return check_fail(ev, r);
        }
        let r = r.map_err(|e| e.to_string())?;
        if ev.expects.iter().any(|e| matches!(e, Expect::Ordered)) {
            return Err("ordered is not allowed for range queries".into());
        }
        check_value(ev, &r.value, false)?;
        return check_annotations(ev, &r);
    }
    let t = ev.start;
    let text = &ev.expr;
    let cross = !ev.range_vector
        && !matches!(ev.expected, Expected::Str(_))
        && !["start()", "end()", "range()", "step()"].iter().any(|f| text.contains(f));
    run_instant(engine, st, ev, &expr, text, t, cross)?;
    if !uses_time_funcs(&expr) && !ev.range_vector {
        let mut pinned = expr.clone();
        pin_at(&mut pinned, t);
        let ptext = restore_escapes(&pinned.to_string(), text);
        let times: Vec<i64> = if t == 0 { vec![-1000, 0, 1000] } else { vec![-10 * t, 0, t / 5, t, 10 * t] };
        for at in times {
            run_instant(engine, st, ev, &pinned, &ptext, at, cross).map_err(|e| format!("@-pinned variant: {e}"))?;
        }
    }
    Ok(())
}

// ------------------------------------------------------------------ driver

struct Skips {
    files: HashMap<String, String>,
    lines: HashMap<(String, usize), String>,
}

fn load_skips(path: &Path) -> Skips {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut s = Skips { files: HashMap::new(), lines: HashMap::new() };
    for l in text.lines() {
        let l = l.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let (key, reason) = l.split_once(char::is_whitespace).unwrap_or((l, ""));
        let reason = reason.trim().to_string();
        if let Some((file, rest)) = key.split_once(':') {
            if let Ok(n) = rest.parse::<usize>() {
                s.lines.insert((file.to_string(), n), reason);
                continue;
            }
        }
        // `file.test * reason`
        let reason = reason.strip_prefix('*').map(|r| r.trim().to_string()).unwrap_or(reason);
        s.files.insert(key.to_string(), reason);
    }
    s
}

fn load(st: &MemStore, step: i64, lines: &[String], hist_metrics: &mut Vec<String>) -> Result<(), String> {
    let mut series: BTreeMap<Labels, Vec<Pt>> = BTreeMap::new();
    for l in lines {
        let (s, vals) = split_series(l);
        if s.ends_with("@st") || vals.starts_with("@st") {
            // Start timestamps are not supported (feature-flagged upstream).
            continue;
        }
        let labels = parse_series(&s)?;
        if vals.contains("{{") {
            if let Some(n) = labels.metric_name() {
                hist_metrics.push(n.to_string());
            }
            continue;
        }
        let items: Vec<&str> = vals.split_whitespace().collect();
        series.insert(labels, expand_values(&items.join(" "))?);
    }
    let mut app = st.appender();
    for (l, pts) in &series {
        for (i, p) in pts.iter().enumerate() {
            let t = i as i64 * step;
            let v = match p {
                Pt::Omit => continue,
                Pt::Stale => STALE_NAN,
                Pt::V(v) => *v,
            };
            app.append(l, t, v).map_err(|e| e.to_string())?;
        }
    }
    app.commit().map_err(|e| e.to_string())
}

#[test]
fn promql_conformance() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("../shared/conformance/promql");
    let dir = if dir.exists() { dir } else { PathBuf::from("/work/shared/conformance/promql") };
    let skips = load_skips(&root.join("tests/promql_skips.txt"));
    let verbose = std::env::var("PROMQL_CONF_VERBOSE").is_ok();
    let only = std::env::var("PROMQL_CONF_FILE").ok();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("conformance directory")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "test"))
        .collect();
    files.sort();
    let engine = Engine::new(EngineOptions { max_samples: 10_000_000, ..Default::default() });
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let mut unexpected: Vec<String> = Vec::new();
    let mut stale_skips: Vec<String> = Vec::new();
    let mut per_file: Vec<(String, usize, usize, usize)> = Vec::new();
    for f in &files {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if only.as_ref().is_some_and(|o| o != &name) {
            continue;
        }
        let (p0, f0, s0) = (passed, failed, skipped);
        let text = std::fs::read_to_string(f).expect("read test file");
        let cmds = match parse_script(&text) {
            Ok(c) => c,
            Err(e) => panic!("{name}: script error: {e}"),
        };
        let mut st = MemStore::new();
        let mut hist_metrics = Vec::new();
        let mut hist_section = false;
        for c in &cmds {
            match c {
                Cmd::Clear => {
                    st = MemStore::new();
                    hist_metrics.clear();
                    hist_section = false;
                }
                Cmd::Load { step, lines, nhcb } => {
                    if *nhcb || lines.iter().any(|l| l.contains("{{")) {
                        hist_section = true;
                    }
                    if let Err(e) = load(&st, *step, lines, &mut hist_metrics) {
                        panic!("{name}: load error: {e}");
                    }
                }
                Cmd::Eval(ev) => {
                    let skip = skips.files.get(&name).or_else(|| skips.lines.get(&(name.clone(), ev.line)));
                    if let Some(_reason) = skip {
                        skipped += 1;
                        if verbose {
                            let r = run_eval(&engine, &st, ev);
                            if r.is_ok() {
                                stale_skips.push(format!("{name}:{}", ev.line));
                            }
                        }
                        continue;
                    }
                    let res = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run_eval(&engine, &st, ev)))
                        .unwrap_or_else(|_| Err("engine panicked".into()));
                    match res {
                        Ok(()) => passed += 1,
                        Err(e) => {
                            failed += 1;
                            let hist = if hist_metrics.iter().any(|m| ev.expr.contains(m.as_str())) {
                                " [hist]"
                            } else if hist_section {
                                " [hist-section]"
                            } else {
                                ""
                            };
                            unexpected.push(format!("{name}:{} {}{hist}\n    {e}", ev.line, ev.expr));
                        }
                    }
                }
            }
        }
        per_file.push((name, passed - p0, failed - f0, skipped - s0));
    }
    for (name, p, f, s) in &per_file {
        println!("  {name:28} {p:4} passed {f:4} failed {s:4} skipped");
    }
    for u in &unexpected {
        println!("FAIL {u}");
    }
    if verbose && !stale_skips.is_empty() {
        println!("skipped evals that pass now: {}", stale_skips.join(" "));
    }
    println!("promql conformance: {passed} passed, {failed} failed, {skipped} skipped");
    assert!(unexpected.is_empty(), "{} evals failed that are not in tests/promql_skips.txt", unexpected.len());
}

// ------------------------------------------------- compliance query shapes

/// The placeholder values of the PromQL compliance tester.
fn compliance_variants(name: &str) -> Vec<&'static str> {
    match name {
        "range" => vec!["1s", "15s", "1m", "5m", "15m", "1h"],
        "offset" => vec!["1m", "5m", "10m"],
        "simpleAggrOp" => vec!["sum", "avg", "max", "min", "count", "stddev", "stdvar"],
        "simpleTimeAggrOp" => vec!["sum", "avg", "max", "min", "count", "stddev", "stdvar", "absent", "last"],
        "topBottomOp" => vec!["topk", "bottomk"],
        "quantile" => vec!["-0.5", "0.1", "0.5", "0.75", "0.95", "0.90", "0.99", "1", "1.5"],
        "arithBinOp" => vec!["+", "-", "*", "/", "%", "^"],
        "compBinOp" => vec!["==", "!=", "<", ">", "<=", ">="],
        "binOp" => vec!["+", "-", "*", "/", "%", "^", "==", "!=", "<", ">", "<=", ">="],
        "simpleMathFunc" => vec!["abs", "ceil", "floor", "exp", "sqrt", "ln", "log2", "log10", "round"],
        "extrapolatedRateFunc" => vec!["delta", "rate", "increase"],
        "clampFunc" => vec!["clamp_min", "clamp_max"],
        "instantRateFunc" => vec!["idelta", "irate"],
        "dateFunc" => vec!["day_of_month", "day_of_week", "days_in_month", "hour", "minute", "month", "year"],
        _ => vec![],
    }
}

/// Synthetic data shaped like the PromLabs demo service: 3 instances scraped every 5 s for 1 h.
fn demo_store() -> MemStore {
    let st = MemStore::new();
    let mut app = st.appender();
    let step = 5_000i64;
    let n = 720;
    for inst in 0..3 {
        let instance = format!("demo.promlabs.com:{}", 10_000 + inst);
        let base = |name: &str, extra: &[(&str, &str)]| {
            let mut pairs: Vec<(String, String)> = vec![
                ("__name__".into(), name.into()),
                ("instance".into(), instance.clone()),
                ("job".into(), "demo".into()),
            ];
            pairs.extend(extra.iter().map(|(a, b)| (a.to_string(), b.to_string())));
            Labels::from_pairs(pairs)
        };
        for i in 0..n {
            let t = i as i64 * step;
            let x = i as f64;
            let mut put = |l: Labels, v: f64| app.append(&l, t, v).expect("append");
            for (k, ty) in ["free", "used", "cached", "buffers"].iter().enumerate() {
                put(base("demo_memory_usage_bytes", &[("type", ty)]), 1e9 * (k as f64 + 1.0) + 1e7 * (x / 10.0).sin());
            }
            for (k, mode) in ["idle", "user", "system"].iter().enumerate() {
                // A counter with a reset half way through for one instance.
                let v = if inst == 1 && i >= 360 { (x - 360.0) * (k as f64 + 1.0) } else { x * (k as f64 + 1.0) };
                put(base("demo_cpu_usage_seconds_total", &[("mode", mode)]), v);
            }
            put(base("demo_num_cpus", &[]), 4.0 + inst as f64);
            put(base("demo_disk_usage_bytes", &[]), 5e10 + 1e6 * x);
            put(base("demo_batch_last_success_timestamp_seconds", &[]), (t / 60_000 * 60) as f64);
            if (i / 60) % 2 == 0 {
                put(base("demo_intermittent_metric", &[]), x);
            }
            let les = [
                "0.0002", "0.0004", "0.0008", "0.0016", "0.0032", "0.0064", "0.0128", "0.0256", "0.0512", "0.1024",
                "+Inf",
            ];
            for method in ["GET", "POST"] {
                let mut cum = 0.0;
                for (k, le) in les.iter().enumerate() {
                    cum += x * (11 - k) as f64 / 10.0;
                    put(
                        base(
                            "demo_api_request_duration_seconds_bucket",
                            &[("le", le), ("method", method), ("path", "/api/foo"), ("status", "200")],
                        ),
                        cum,
                    );
                }
                put(
                    base(
                        "demo_api_request_duration_seconds_count",
                        &[("method", method), ("path", "/api/foo"), ("status", "200")],
                    ),
                    cum,
                );
                put(
                    base(
                        "demo_api_request_duration_seconds_sum",
                        &[("method", method), ("path", "/api/foo"), ("status", "200")],
                    ),
                    cum * 0.01,
                );
            }
        }
    }
    app.commit().expect("commit");
    st
}

/// Every query shape of the PromQL compliance tester must be accepted and
/// evaluate (as a range query, like the tester does) without error, and the
/// ones it marks `should_fail` must fail. Values can only be compared against
/// a live Prometheus, which this test does not have.
#[test]
fn promql_compliance_query_shapes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = root.join("../shared/conformance/promql-compliance-queries.yml");
    let path =
        if path.exists() { path } else { PathBuf::from("/work/shared/conformance/promql-compliance-queries.yml") };
    let text = std::fs::read_to_string(&path).expect("compliance query file");
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).expect("yaml");
    let cases = doc.get("test_cases").and_then(|c| c.as_sequence()).expect("test_cases");
    let st = demo_store();
    let engine = Engine::new(EngineOptions::default());
    // Prometheus 3 accepts any UTF-8 label name, so these no longer fail.
    let utf8_names = ["~invalid"];
    let (mut ran, mut problems) = (0, Vec::new());
    for case in cases {
        let q = case.get("query").and_then(|q| q.as_str()).expect("query");
        let should_fail = case.get("should_fail").and_then(|v| v.as_bool()).unwrap_or(false);
        let args: Vec<String> = case
            .get("variant_args")
            .and_then(|a| a.as_sequence())
            .map(|s| s.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
            .unwrap_or_default();
        let mut queries = vec![q.to_string()];
        for a in &args {
            let mut next = Vec::new();
            for q in &queries {
                for v in compliance_variants(a) {
                    next.push(q.replace(&format!("{{{{.{a}}}}}"), v));
                }
            }
            queries = next;
        }
        for q in queries {
            ran += 1;
            let end = 3_600_000 - 12 * 60_000;
            let r = engine.range_query(&st, &q, end - 600_000, end, 10_000);
            let expect_fail = should_fail && !utf8_names.iter().any(|n| q.contains(n));
            match (expect_fail, r) {
                (true, Ok(_)) => problems.push(format!("{q}: should fail but succeeded")),
                (false, Err(e)) => problems.push(format!("{q}: {e}")),
                (false, Ok(r)) => {
                    if let Value::Matrix(m) = &r.value {
                        if m.windows(2).any(|w| w[0].labels >= w[1].labels) {
                            problems.push(format!("{q}: matrix not sorted or has duplicates"));
                        }
                    } else {
                        problems.push(format!("{q}: range query did not return a matrix"));
                    }
                }
                (true, Err(_)) => {}
            }
        }
    }
    for p in &problems {
        println!("compliance shape problem: {p}");
    }
    println!("promql compliance shapes: {ran} queries, {} problems", problems.len());
    assert!(ran >= 500, "expected the full expansion, got {ran}");
    assert!(problems.is_empty(), "{} compliance queries misbehaved", problems.len());
}
