//! Go's built-in template functions and Prometheus's template functions.

use super::gofmt::{fmt_g, sprintf};
use super::{Func, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Runs a PromQL query for `query`: returns (labels, value) per sample.
pub type QueryFn = Arc<dyn Fn(&str) -> Result<Vec<(BTreeMap<String, String>, f64)>, String> + Send + Sync>;

fn f(func: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
    Arc::new(func)
}

fn want(args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!("wrong number of args: want {n} got {}", args.len()));
    }
    Ok(())
}

/// Converts a template value to a float as Prometheus's `convertToFloat` does.
fn to_float(v: &Value) -> Result<f64, String> {
    match v {
        Value::Float(f) => Ok(*f),
        Value::Int(i) => Ok(*i as f64),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .or_else(|_| parse_go_float(s))
            .map_err(|_| format!("strconv.ParseFloat: parsing {s:?}: invalid syntax")),
        other => Err(format!("can't convert {} to float", other.go_type())),
    }
}

fn parse_go_float(s: &str) -> Result<f64, ()> {
    match s.trim().to_ascii_lowercase().as_str() {
        "inf" | "+inf" | "infinity" | "+infinity" => Ok(f64::INFINITY),
        "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
        "nan" => Ok(f64::NAN),
        _ => Err(()),
    }
}

fn str_arg(v: &Value) -> String {
    v.to_string()
}

/// Go's basic-kind comparison; numbers compare across int/float.
fn compare(a: &Value, b: &Value) -> Result<std::cmp::Ordering, String> {
    use std::cmp::Ordering;
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Ok(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            let (x, y) = (to_float(a)?, to_float(b)?);
            x.partial_cmp(&y).ok_or_else(|| "incomparable NaN".to_string())
        }
        (Value::Str(x), Value::Str(y)) => Ok(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Ok(x.cmp(y)),
        (Value::Nil, Value::Nil) => Ok(Ordering::Equal),
        _ => Err("incompatible types for comparison".into()),
    }
}

fn eq(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Bool(_), Value::Bool(_)) | (Value::Str(_), Value::Str(_)) | (Value::Nil, Value::Nil) => Ok(a == b),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => Ok(to_float(a)? == to_float(b)?),
        (Value::Nil, _) | (_, Value::Nil) => Ok(false),
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's built-ins.
pub(crate) fn builtins() -> HashMap<String, Func> {
    let mut m: HashMap<String, Func> = HashMap::new();
    m.insert("and".into(), f(|a| Ok(a.iter().find(|v| !v.truthy()).or(a.last()).cloned().unwrap_or(Value::Nil))));
    m.insert("or".into(), f(|a| Ok(a.iter().find(|v| v.truthy()).or(a.last()).cloned().unwrap_or(Value::Nil))));
    m.insert(
        "not".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Bool(!a[0].truthy()))
        }),
    );
    m.insert(
        "eq".into(),
        f(|a| {
            if a.len() < 2 {
                return Err("missing argument for comparison".into());
            }
            for b in &a[1..] {
                if eq(&a[0], b)? {
                    return Ok(Value::Bool(true));
                }
            }
            Ok(Value::Bool(false))
        }),
    );
    m.insert(
        "ne".into(),
        f(|a| {
            want(a, 2)?;
            Ok(Value::Bool(!eq(&a[0], &a[1])?))
        }),
    );
    for (name, ok) in [
        ("lt", [true, false, false]),
        ("le", [true, true, false]),
        ("gt", [false, false, true]),
        ("ge", [false, true, true]),
    ] {
        m.insert(
            name.into(),
            f(move |a| {
                want(a, 2)?;
                let o = compare(&a[0], &a[1])?;
                Ok(Value::Bool(ok[(o as i8 + 1) as usize]))
            }),
        );
    }
    m.insert(
        "len".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Int(match &a[0] {
                Value::Str(s) => s.len() as i64,
                Value::List(l) => l.len() as i64,
                Value::StrMap(m) => m.len() as i64,
                Value::Map(m) => m.len() as i64,
                other => return Err(format!("len of type {}", other.go_type())),
            }))
        }),
    );
    m.insert(
        "index".into(),
        f(|a| {
            let Some((first, keys)) = a.split_first() else {
                return Err("index of untyped nil".into());
            };
            let mut v = first.clone();
            for k in keys {
                v = match (&v, k) {
                    (Value::List(l), Value::Int(i)) => l
                        .get(usize::try_from(*i).map_err(|_| format!("index out of range: {i}"))?)
                        .cloned()
                        .ok_or_else(|| format!("index out of range: {i}"))?,
                    (Value::StrMap(m), Value::Str(s)) => Value::Str(m.get(s).cloned().unwrap_or_default()),
                    (Value::Map(m), Value::Str(s)) => m.get(s).cloned().unwrap_or(Value::Nil),
                    (Value::Str(s), Value::Int(i)) => Value::Int(
                        *s.as_bytes().get(*i as usize).ok_or_else(|| format!("index out of range: {i}"))? as i64,
                    ),
                    _ => return Err(format!("can't index item of type {}", v.go_type())),
                };
            }
            Ok(v)
        }),
    );
    m.insert(
        "print".into(),
        f(|a| {
            // Go adds spaces between operands when neither is a string.
            let mut s = String::new();
            for (i, v) in a.iter().enumerate() {
                if i > 0 && !matches!(v, Value::Str(_)) && !matches!(a[i - 1], Value::Str(_)) {
                    s.push(' ');
                }
                s.push_str(&v.to_string());
            }
            Ok(Value::Str(s))
        }),
    );
    m.insert(
        "println".into(),
        f(|a| Ok(Value::Str(a.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" ") + "\n"))),
    );
    m.insert(
        "printf".into(),
        f(|a| {
            let Some((fmt, rest)) = a.split_first() else {
                return Err("wrong number of args for printf: want at least 1 got 0".into());
            };
            Ok(Value::Str(sprintf(&str_arg(fmt), rest)))
        }),
    );
    m.insert("html".into(), f(|a| Ok(Value::Str(html_escape(&a.iter().map(|v| v.to_string()).collect::<String>())))));
    m.insert(
        "urlquery".into(),
        f(|a| {
            let s: String = a.iter().map(|v| v.to_string()).collect();
            Ok(Value::Str(form_urlencoded::byte_serialize(s.as_bytes()).collect()))
        }),
    );
    m.insert(
        "js".into(),
        f(|a| {
            let s: String = a.iter().map(|v| v.to_string()).collect();
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '\\' => out.push_str("\\\\"),
                    '\'' => out.push_str("\\'"),
                    '"' => out.push_str("\\\""),
                    '<' => out.push_str("\\u003C"),
                    '>' => out.push_str("\\u003E"),
                    '&' => out.push_str("\\u0026"),
                    '=' => out.push_str("\\u003D"),
                    '\n' => out.push_str("\\n"),
                    '\r' => out.push_str("\\r"),
                    '\t' => out.push_str("\\t"),
                    c => out.push(c),
                }
            }
            Ok(Value::Str(out))
        }),
    );
    m.insert(
        "slice".into(),
        f(|a| {
            let Some((v, idx)) = a.split_first() else {
                return Err("slice of untyped nil".into());
            };
            let ix: Vec<usize> = idx
                .iter()
                .map(|i| match i {
                    Value::Int(n) if *n >= 0 => Ok(*n as usize),
                    _ => Err("cannot index slice/array with non-integer".to_string()),
                })
                .collect::<Result<_, _>>()?;
            match v {
                Value::Str(s) => {
                    let lo = ix.first().copied().unwrap_or(0);
                    let hi = ix.get(1).copied().unwrap_or(s.len());
                    s.get(lo..hi).map(|x| Value::Str(x.to_string())).ok_or_else(|| "index out of range".into())
                }
                Value::List(l) => {
                    let lo = ix.first().copied().unwrap_or(0);
                    let hi = ix.get(1).copied().unwrap_or(l.len());
                    l.get(lo..hi).map(|x| Value::List(x.to_vec())).ok_or_else(|| "index out of range".into())
                }
                other => Err(format!("can't slice item of type {}", other.go_type())),
            }
        }),
    );
    m
}

fn html_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `humanize`: SI prefixes with 4 significant digits.
pub fn humanize(mut v: f64) -> String {
    if v == 0.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    if v.abs() >= 1.0 {
        let mut prefix = "";
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"] {
            if v.abs() < 1000.0 {
                break;
            }
            prefix = p;
            v /= 1000.0;
        }
        return format!("{}{prefix}", fmt_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// `humanize1024`: binary prefixes.
pub fn humanize_1024(mut v: f64) -> String {
    if v.abs() <= 1.0 || v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    let mut prefix = "";
    for p in ["ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"] {
        if v.abs() < 1024.0 {
            break;
        }
        prefix = p;
        v /= 1024.0;
    }
    format!("{}{prefix}", fmt_g(v, Some(4)))
}

/// `humanizeDuration`: seconds as `1d 2h 3m 4s`, or with SI prefixes below 1 s.
pub fn humanize_duration(mut v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    if v == 0.0 {
        return format!("{}s", fmt_g(v, Some(4)));
    }
    if v.abs() >= 1.0 {
        let mut sign = "";
        if v < 0.0 {
            sign = "-";
            v = -v;
        }
        let d = v as i64;
        let (seconds, minutes, hours, days) = (d % 60, (d / 60) % 60, (d / 3600) % 24, d / 86400);
        if days != 0 {
            return format!("{sign}{days}d {hours}h {minutes}m {seconds}s");
        }
        if hours != 0 {
            return format!("{sign}{hours}h {minutes}m {seconds}s");
        }
        if minutes != 0 {
            return format!("{sign}{minutes}m {seconds}s");
        }
        return format!("{sign}{}s", fmt_g(v, Some(4)));
    }
    let mut prefix = "";
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"] {
        if v.abs() >= 1.0 {
            break;
        }
        prefix = p;
        v *= 1000.0;
    }
    format!("{}{prefix}s", fmt_g(v, Some(4)))
}

/// `humanizePercentage`: a ratio as a percentage.
pub fn humanize_percentage(v: f64) -> String {
    format!("{}%", fmt_g(v * 100.0, Some(4)))
}

/// `humanizeTimestamp`: Unix seconds as Go's `time.Time.String()` in UTC.
pub fn humanize_timestamp(v: f64) -> String {
    if v.is_nan() || v.is_infinite() {
        return fmt_g(v, Some(4));
    }
    // Prometheus goes through model.Time: millisecond precision.
    let ns = v * 1e9;
    if ns > i64::MAX as f64 || ns < i64::MIN as f64 {
        return fmt_g(v, Some(4));
    }
    let ms = (ns as i64) / 1_000_000;
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => {
            let mut s = t.format("%Y-%m-%d %H:%M:%S").to_string();
            let ns = t.timestamp_subsec_nanos();
            if ns != 0 {
                let frac = format!("{ns:09}");
                s.push('.');
                s.push_str(frac.trim_end_matches('0'));
            }
            s + " +0000 UTC"
        }
        None => fmt_g(v, Some(4)),
    }
}

fn sample_value(labels: BTreeMap<String, String>, v: f64) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Labels".to_string(), Value::StrMap(labels));
    m.insert("Value".to_string(), Value::Float(v));
    Value::Map(m)
}

fn title(s: &str) -> String {
    let mut out = String::new();
    let mut prev_letter = false;
    for c in s.chars() {
        if !prev_letter && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_letter = c.is_alphanumeric() || c == '_' || c == '\'';
    }
    out
}

fn float_fn(func: fn(f64) -> String) -> Func {
    f(move |a| {
        want(a, 1)?;
        Ok(Value::Str(func(to_float(&a[0])?)))
    })
}

/// Prometheus's template functions.
pub(crate) fn prometheus(query: Option<QueryFn>, external_url: &str) -> HashMap<String, Func> {
    let mut m: HashMap<String, Func> = HashMap::new();
    m.insert(
        "query".into(),
        f(move |a| {
            want(a, 1)?;
            let Some(q) = &query else {
                return Err("query is not available here".into());
            };
            let rows = q(&str_arg(&a[0]))?;
            Ok(Value::List(rows.into_iter().map(|(l, v)| sample_value(l, v)).collect()))
        }),
    );
    m.insert(
        "first".into(),
        f(|a| {
            want(a, 1)?;
            match &a[0] {
                Value::List(l) => l.first().cloned().ok_or_else(|| "first() called on vector with no elements".into()),
                other => Err(format!("first() called on {}", other.go_type())),
            }
        }),
    );
    m.insert(
        "label".into(),
        f(|a| {
            want(a, 2)?;
            match &a[1] {
                Value::Map(s) => match s.get("Labels") {
                    Some(Value::StrMap(l)) => Ok(Value::Str(l.get(&str_arg(&a[0])).cloned().unwrap_or_default())),
                    _ => Ok(Value::Str(String::new())),
                },
                Value::Nil => Ok(Value::Str(String::new())),
                other => Err(format!("label() called on {}", other.go_type())),
            }
        }),
    );
    m.insert(
        "value".into(),
        f(|a| {
            want(a, 1)?;
            match &a[0] {
                Value::Map(s) => Ok(s.get("Value").cloned().unwrap_or(Value::Float(0.0))),
                other => Err(format!("value() called on {}", other.go_type())),
            }
        }),
    );
    m.insert(
        "strvalue".into(),
        f(|a| {
            want(a, 1)?;
            match &a[0] {
                Value::Map(s) => match s.get("Labels") {
                    Some(Value::StrMap(l)) => Ok(Value::Str(l.get("__value__").cloned().unwrap_or_default())),
                    _ => Ok(Value::Str(String::new())),
                },
                other => Err(format!("strvalue() called on {}", other.go_type())),
            }
        }),
    );
    m.insert(
        "sortByLabel".into(),
        f(|a| {
            want(a, 2)?;
            let key = str_arg(&a[0]);
            let Value::List(mut l) = a[1].clone() else {
                return Err("sortByLabel needs a query result".into());
            };
            let get = |v: &Value| match v {
                Value::Map(s) => match s.get("Labels") {
                    Some(Value::StrMap(l)) => l.get(&key).cloned().unwrap_or_default(),
                    _ => String::new(),
                },
                _ => String::new(),
            };
            l.sort_by_key(get);
            Ok(Value::List(l))
        }),
    );
    m.insert(
        "args".into(),
        f(|a| {
            let mut out = BTreeMap::new();
            for (i, v) in a.iter().enumerate() {
                out.insert(format!("arg{i}"), v.clone());
            }
            Ok(Value::Map(out))
        }),
    );
    m.insert(
        "reReplaceAll".into(),
        f(|a| {
            want(a, 3)?;
            let re = regex::Regex::new(&str_arg(&a[0])).map_err(|e| e.to_string())?;
            let repl = str_arg(&a[1]);
            Ok(Value::Str(re.replace_all(&str_arg(&a[2]), go_expand_template(&repl).as_str()).into_owned()))
        }),
    );
    m.insert(
        "match".into(),
        f(|a| {
            want(a, 2)?;
            let re = regex::Regex::new(&str_arg(&a[0])).map_err(|e| e.to_string())?;
            Ok(Value::Bool(re.is_match(&str_arg(&a[1]))))
        }),
    );
    m.insert(
        "safeHtml".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Str(str_arg(&a[0])))
        }),
    );
    m.insert(
        "title".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Str(title(&str_arg(&a[0]))))
        }),
    );
    m.insert(
        "toUpper".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Str(str_arg(&a[0]).to_uppercase()))
        }),
    );
    m.insert(
        "toLower".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Str(str_arg(&a[0]).to_lowercase()))
        }),
    );
    m.insert(
        "stripPort".into(),
        f(|a| {
            want(a, 1)?;
            let s = str_arg(&a[0]);
            Ok(Value::Str(strip_port(&s)))
        }),
    );
    m.insert(
        "stripDomain".into(),
        f(|a| {
            want(a, 1)?;
            let s = str_arg(&a[0]);
            let (host, port) = match s.rfind(':') {
                Some(i) if !s.starts_with('[') && s[..i].find(':').is_none() => (&s[..i], &s[i..]),
                _ => (s.as_str(), ""),
            };
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Ok(Value::Str(s.clone()));
            }
            Ok(Value::Str(format!("{}{port}", host.split('.').next().unwrap_or(host))))
        }),
    );
    m.insert("humanize".into(), float_fn(humanize));
    m.insert("humanize1024".into(), float_fn(humanize_1024));
    m.insert("humanizeDuration".into(), float_fn(humanize_duration));
    m.insert("humanizePercentage".into(), float_fn(humanize_percentage));
    m.insert("humanizeTimestamp".into(), float_fn(humanize_timestamp));
    m.insert("toTime".into(), float_fn(humanize_timestamp));
    m.insert(
        "toDuration".into(),
        f(|a| {
            want(a, 1)?;
            Ok(Value::Float(to_float(&a[0])?))
        }),
    );
    m.insert(
        "parseDuration".into(),
        f(|a| {
            want(a, 1)?;
            let d = crate::config::parse_duration(&str_arg(&a[0]))?;
            Ok(Value::Float(d.as_secs_f64()))
        }),
    );
    m.insert("now".into(), f(|_| Ok(Value::Float(crate::tsdb::now_millis() as f64 / 1000.0))));
    let url = external_url.to_string();
    let prefix = url::path_of(&url);
    m.insert("externalURL".into(), f(move |_| Ok(Value::Str(url.clone()))));
    m.insert("pathPrefix".into(), f(move |_| Ok(Value::Str(prefix.clone()))));
    m.insert(
        "graphLink".into(),
        f(|a| {
            want(a, 1)?;
            let q: String = form_urlencoded::byte_serialize(str_arg(&a[0]).as_bytes()).collect();
            Ok(Value::Str(format!("/graph?g0.expr={q}&g0.tab=0")))
        }),
    );
    m.insert(
        "tableLink".into(),
        f(|a| {
            want(a, 1)?;
            let q: String = form_urlencoded::byte_serialize(str_arg(&a[0]).as_bytes()).collect();
            Ok(Value::Str(format!("/graph?g0.expr={q}&g0.tab=1")))
        }),
    );
    m.insert(
        "urlUnescape".into(),
        f(|a| {
            want(a, 1)?;
            let s = str_arg(&a[0]);
            Ok(Value::Str(
                form_urlencoded::parse(format!("x={s}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default(),
            ))
        }),
    );
    m
}

fn strip_port(s: &str) -> String {
    if let Some(rest) = s.strip_prefix('[') {
        if let Some(end) = rest.find(']') {
            return rest[..end].to_string();
        }
    }
    match s.rfind(':') {
        Some(i) if s[..i].find(':').is_none() => s[..i].to_string(),
        _ => s.to_string(),
    }
}

/// Go's `Regexp.ReplaceAllString` uses `$1`/`${name}`; Rust's regex the same
/// syntax, except that Go treats `$1x` as the group named `1x`. Close enough
/// to pass through unchanged.
fn go_expand_template(s: &str) -> String {
    s.to_string()
}

mod url {
    /// The path part of a URL (`http://h/p` → `/p`), "" without one.
    pub fn path_of(u: &str) -> String {
        let rest = u.split_once("://").map_or(u, |(_, r)| r);
        match rest.find('/') {
            Some(i) => rest[i..].trim_end_matches('/').to_string(),
            None => String::new(),
        }
    }
}
