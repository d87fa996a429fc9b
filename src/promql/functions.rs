//! PromQL functions.

use promql_parser::parser::{Call, Expr};

use super::aggregate::{go_float, kahan_inc, nan_last_cmp, quantile, valid_label_name, Avg};
use super::eval::{exec_err, for_windows, merge_same_labels, Evaluator, RangeArg, Ser, Steps, Val, WindowRead, R};
use super::timeutil;
use crate::tsdb::{Labels, MatchKind, Sample, METRIC_NAME};

fn unwrap_parens(e: &Expr) -> &Expr {
    match e {
        Expr::Paren(p) => unwrap_parens(&p.expr),
        other => other,
    }
}

/// Go's `math.Max`/`math.Min`: NaN wins.
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}
fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.min(b)
    }
}

fn arg(c: &Call, i: usize) -> R<&Expr> {
    match c.args.args.get(i) {
        Some(a) => Ok(a),
        None => exec_err(format!("missing argument {} of {}", i + 1, c.func.name)),
    }
}

fn string_arg(ev: &mut Evaluator, c: &Call, i: usize, s: &Steps) -> R<String> {
    match ev.eval(arg(c, i)?, s)? {
        Val::Str(x) => Ok(x),
        other => exec_err(format!("expected string argument {} of {}, got {}", i + 1, c.func.name, other.type_name())),
    }
}

fn map_values(mut v: Vec<Ser>, f: impl Fn(f64) -> f64) -> Vec<Ser> {
    for s in &mut v {
        s.drop_name = true;
        for p in s.pts.iter_mut().flatten() {
            *p = f(*p);
        }
    }
    v
}

pub(crate) fn eval_call(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let name = c.func.name;
    let n = s.len();
    let times = || (0..n).map(|i| s.t(i) as f64 / 1000.0).collect::<Vec<f64>>();
    match name {
        "time" => return Ok(Val::Scalar(times())),
        "pi" => return Ok(Val::Scalar(vec![std::f64::consts::PI; n])),
        "start" => return Ok(Val::Scalar(vec![ev.query_start as f64 / 1000.0; n])),
        "end" => return Ok(Val::Scalar(vec![ev.query_end as f64 / 1000.0; n])),
        "step" => return Ok(Val::Scalar(vec![ev.query_step as f64 / 1000.0; n])),
        "min_of" | "max_of" => {
            let mut acc: Option<Vec<f64>> = None;
            for a in &c.args.args {
                let v = ev.eval_scalar(a, s)?;
                acc = Some(match acc {
                    None => v,
                    Some(prev) => prev
                        .iter()
                        .zip(&v)
                        .map(|(&x, &y)| if name == "min_of" { go_min(x, y) } else { go_max(x, y) })
                        .collect(),
                });
            }
            return Ok(Val::Scalar(acc.unwrap_or_else(|| vec![f64::NAN; n])));
        }
        "range" => return Ok(Val::Scalar(vec![(ev.query_end - ev.query_start) as f64 / 1000.0; n])),
        "vector" => {
            let v = ev.eval_scalar(arg(c, 0)?, s)?;
            return Ok(Val::Vector(vec![Ser {
                labels: Labels::new(),
                drop_name: false,
                pts: v.into_iter().map(Some).collect(),
            }]));
        }
        "scalar" => {
            let v = ev.eval_vector(arg(c, 0)?, s)?;
            let out = (0..n)
                .map(|i| {
                    let mut it = v.iter().filter_map(|x| x.pts[i]);
                    match (it.next(), it.next()) {
                        (Some(x), None) => x,
                        _ => f64::NAN,
                    }
                })
                .collect();
            return Ok(Val::Scalar(out));
        }
        _ => {}
    }
    let simple: Option<fn(f64) -> f64> = match name {
        "abs" => Some(f64::abs),
        "ceil" => Some(f64::ceil),
        "floor" => Some(f64::floor),
        "exp" => Some(f64::exp),
        "sqrt" => Some(f64::sqrt),
        "ln" => Some(f64::ln),
        "log2" => Some(f64::log2),
        "log10" => Some(f64::log10),
        "sgn" => Some(|x: f64| {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }),
        "sin" => Some(f64::sin),
        "cos" => Some(f64::cos),
        "tan" => Some(f64::tan),
        "asin" => Some(f64::asin),
        "acos" => Some(f64::acos),
        "atan" => Some(f64::atan),
        "sinh" => Some(f64::sinh),
        "cosh" => Some(f64::cosh),
        "tanh" => Some(f64::tanh),
        "asinh" => Some(f64::asinh),
        "acosh" => Some(f64::acosh),
        "atanh" => Some(f64::atanh),
        "deg" => Some(|x: f64| x * 180.0 / std::f64::consts::PI),
        "rad" => Some(|x: f64| x * std::f64::consts::PI / 180.0),
        _ => None,
    };
    if let Some(f) = simple {
        let v = ev.eval_vector(arg(c, 0)?, s)?;
        return Ok(Val::Vector(map_values(v, f)));
    }
    match name {
        "round" => {
            let mut v = ev.eval_vector(arg(c, 0)?, s)?;
            let to = match c.args.args.get(1) {
                Some(a) => ev.eval_scalar(a, s)?,
                None => vec![1.0; n],
            };
            for ser in &mut v {
                ser.drop_name = true;
                for (i, p) in ser.pts.iter_mut().enumerate() {
                    if let Some(x) = p {
                        let inv = 1.0 / to[i];
                        *x = (*x * inv + 0.5).floor() / inv;
                    }
                }
            }
            Ok(Val::Vector(v))
        }
        "clamp" | "clamp_min" | "clamp_max" => {
            let mut v = ev.eval_vector(arg(c, 0)?, s)?;
            let a1 = ev.eval_scalar(arg(c, 1)?, s)?;
            let a2 = if name == "clamp" { ev.eval_scalar(arg(c, 2)?, s)? } else { Vec::new() };
            for ser in &mut v {
                ser.drop_name = true;
                for (i, p) in ser.pts.iter_mut().enumerate() {
                    let Some(x) = *p else { continue };
                    *p = match name {
                        "clamp" => {
                            let (lo, hi) = (a1[i], a2[i]);
                            if hi < lo {
                                None
                            } else {
                                Some(go_max(lo, go_min(hi, x)))
                            }
                        }
                        "clamp_min" => Some(go_max(a1[i], x)),
                        _ => Some(go_min(a1[i], x)),
                    };
                }
            }
            Ok(Val::Vector(v))
        }
        "timestamp" => {
            let a = unwrap_parens(arg(c, 0)?);
            if let Expr::VectorSelector(vs) = a {
                return Ok(Val::Vector(ev.eval_vector_selector_timestamps(vs, s)?));
            }
            let mut v = ev.eval_vector(a, s)?;
            for ser in &mut v {
                ser.drop_name = true;
                for (i, p) in ser.pts.iter_mut().enumerate() {
                    if p.is_some() {
                        *p = Some(s.t(i) as f64 / 1000.0);
                    }
                }
            }
            Ok(Val::Vector(v))
        }
        "minute" | "hour" | "day_of_month" | "day_of_week" | "day_of_year" | "days_in_month" | "month" | "year" => {
            let mut v = match c.args.args.first() {
                Some(a) => ev.eval_vector(a, s)?,
                None => {
                    vec![Ser { labels: Labels::new(), drop_name: false, pts: times().into_iter().map(Some).collect() }]
                }
            };
            for ser in &mut v {
                ser.drop_name = true;
                for p in ser.pts.iter_mut().flatten() {
                    if p.is_nan() || p.is_infinite() {
                        continue;
                    }
                    let t = timeutil::civil(*p as i64);
                    *p = match name {
                        "minute" => t.minute as f64,
                        "hour" => t.hour as f64,
                        "day_of_month" => t.day as f64,
                        "day_of_week" => t.weekday as f64,
                        "day_of_year" => t.yday as f64,
                        "days_in_month" => timeutil::days_in_month(t.year, t.month) as f64,
                        "month" => t.month as f64,
                        _ => t.year as f64,
                    };
                }
            }
            Ok(Val::Vector(v))
        }
        "label_replace" => {
            let v = ev.eval_vector(arg(c, 0)?, s)?;
            let dst = string_arg(ev, c, 1, s)?;
            let repl = string_arg(ev, c, 2, s)?;
            let src = string_arg(ev, c, 3, s)?;
            let re_s = string_arg(ev, c, 4, s)?;
            let re = regex::Regex::new(&format!("^(?s:{re_s})$")).map_err(|e| {
                super::QueryError::Execution(format!("invalid regular expression in label_replace(): {e}"))
            })?;
            if !valid_label_name(&dst) || ev.invalid_utf8.contains(&dst) {
                return exec_err(format!("invalid destination label name in label_replace(): {dst}"));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut ser in v {
                let sv = ser.labels.get(&src).unwrap_or("").to_string();
                if let Some(caps) = re.captures(&sv) {
                    let mut res = String::new();
                    caps.expand(&repl, &mut res);
                    ser.labels.set(&dst, &res);
                    if dst == METRIC_NAME {
                        ser.drop_name = false;
                    }
                }
                out.push(ser);
            }
            Ok(Val::Vector(merge_same_labels(out)?))
        }
        "label_join" => {
            let v = ev.eval_vector(arg(c, 0)?, s)?;
            let dst = string_arg(ev, c, 1, s)?;
            let sep = string_arg(ev, c, 2, s)?;
            let mut srcs = Vec::new();
            for i in 3..c.args.args.len() {
                let l = string_arg(ev, c, i, s)?;
                if !valid_label_name(&l) {
                    return exec_err(format!("invalid source label name in label_join(): {l}"));
                }
                srcs.push(l);
            }
            if !valid_label_name(&dst) || ev.invalid_utf8.contains(&dst) {
                return exec_err(format!("invalid destination label name in label_join(): {dst}"));
            }
            let mut out = Vec::with_capacity(v.len());
            for mut ser in v {
                let joined: Vec<&str> = srcs.iter().map(|l| ser.labels.get(l).unwrap_or("")).collect();
                let joined = joined.join(&sep);
                ser.labels.set(&dst, &joined);
                if dst == METRIC_NAME {
                    ser.drop_name = false;
                }
                out.push(ser);
            }
            Ok(Val::Vector(merge_same_labels(out)?))
        }
        "sort" | "sort_desc" | "sort_by_label" | "sort_by_label_desc" => {
            let mut v = ev.eval_vector(arg(c, 0)?, s)?;
            if s.start != s.end {
                ev.warn("sort is ineffective for range queries since results are always ordered by labels", name);
                return Ok(Val::Vector(v));
            }
            match name {
                "sort" | "sort_desc" => {
                    let desc = name == "sort_desc";
                    v.retain(|x| x.pts[0].is_some());
                    v.sort_by(|a, b| nan_last_cmp(a.pts[0].unwrap_or(f64::NAN), b.pts[0].unwrap_or(f64::NAN), desc));
                }
                _ => {
                    let mut names = Vec::new();
                    for i in 1..c.args.args.len() {
                        names.push(string_arg(ev, c, i, s)?);
                    }
                    let desc = name == "sort_by_label_desc";
                    v.sort_by(|a, b| {
                        for l in &names {
                            let (x, y) = (a.labels.get(l).unwrap_or(""), b.labels.get(l).unwrap_or(""));
                            let o = natural_cmp(x, y);
                            if o != std::cmp::Ordering::Equal {
                                return if desc { o.reverse() } else { o };
                            }
                        }
                        let o = a.labels.cmp(&b.labels);
                        if desc {
                            o.reverse()
                        } else {
                            o
                        }
                    });
                }
            }
            Ok(Val::Vector(v))
        }
        "absent" => {
            let a = arg(c, 0)?;
            let v = ev.eval_vector(a, s)?;
            let labels = absent_labels(a);
            let pts: Vec<Option<f64>> =
                (0..n).map(|i| (!v.iter().any(|x| x.pts[i].is_some())).then_some(1.0)).collect();
            Ok(Val::Vector(vec![Ser { labels, drop_name: false, pts }]))
        }
        "histogram_quantile" => histogram_quantile(ev, c, s),
        "histogram_fraction" => histogram_fraction(ev, c, s),
        "histogram_quantiles" => histogram_quantiles(ev, c, s),
        "info" => info_fn(ev, c, s),
        "histogram_count" | "histogram_sum" | "histogram_avg" | "histogram_stddev" | "histogram_stdvar" => {
            // These read native histograms only; float samples are ignored.
            let _ = ev.eval_vector(arg(c, 0)?, s)?;
            Ok(Val::Vector(Vec::new()))
        }
        _ => range_function(ev, c, s),
    }
}

/// Labels `absent()` gives its result: the equality matchers of a plain selector.
fn absent_labels(e: &Expr) -> Labels {
    let vs = match e {
        Expr::VectorSelector(vs) => vs,
        Expr::MatrixSelector(ms) => &ms.vs,
        _ => return Labels::new(),
    };
    let mut l = Labels::new();
    let mut has = std::collections::HashSet::new();
    let Ok(sets) = super::eval::to_matchers(vs) else { return l };
    let Some(ms) = sets.first() else { return l };
    for m in ms {
        if m.name == METRIC_NAME {
            continue;
        }
        if m.kind == MatchKind::Equal && !has.contains(&m.name) {
            l.set(&m.name, &m.value);
            has.insert(m.name.clone());
        } else {
            l.remove(&m.name);
        }
    }
    l
}

/// Natural ordering: digit runs compare as numbers.
fn natural_cmp(a: &str, b: &str) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    let (ab, bb) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < ab.len() && j < bb.len() {
        if ab[i].is_ascii_digit() && bb[j].is_ascii_digit() {
            let si = i;
            while i < ab.len() && ab[i].is_ascii_digit() {
                i += 1;
            }
            let sj = j;
            while j < bb.len() && bb[j].is_ascii_digit() {
                j += 1;
            }
            let x = a[si..i].trim_start_matches('0');
            let y = b[sj..j].trim_start_matches('0');
            let o = x.len().cmp(&y.len()).then_with(|| x.cmp(y));
            if o != Ordering::Equal {
                return o;
            }
        } else {
            if ab[i] != bb[j] {
                return ab[i].cmp(&bb[j]);
            }
            i += 1;
            j += 1;
        }
    }
    (ab.len() - i).cmp(&(bb.len() - j))
}

// ---------------------------------------------------------------- histograms

struct Bucket {
    upper: f64,
    count: f64,
}

/// Groups classic `_bucket` series by their labels without `le`.
struct BucketGroups {
    labels: Vec<Labels>,
    /// (group, upper bound) per input series; None when `le` is bad.
    member: Vec<Option<(usize, f64)>>,
}

fn bucket_groups(ev: &mut Evaluator, v: &[Ser], needle: &str) -> BucketGroups {
    let mut index: std::collections::HashMap<Labels, usize> = std::collections::HashMap::new();
    let mut labels = Vec::new();
    let mut member = Vec::with_capacity(v.len());
    for ser in v {
        let le = ser.labels.get("le").unwrap_or("");
        let upper = le.trim().parse::<f64>().ok().filter(|x| !x.is_nan());
        let Some(upper) = upper else {
            let name = ser.labels.metric_name().unwrap_or("").to_string();
            ev.warn(
                &format!("bucket label \"le\" is missing or has a malformed value of {le:?} for metric name {name:?}"),
                needle,
            );
            member.push(None);
            continue;
        };
        // The name stays in the key (it is only dropped at the end), so
        // buckets of different histograms never mix.
        let mut g = ser.labels.clone();
        g.remove("le");
        let next = labels.len();
        let id = *index.entry(g.clone()).or_insert_with(|| {
            labels.push(g);
            next
        });
        member.push(Some((id, upper)));
    }
    BucketGroups { labels, member }
}

fn sort_and_coalesce(b: &mut Vec<Bucket>) {
    b.sort_by(|x, y| x.upper.partial_cmp(&y.upper).unwrap_or(std::cmp::Ordering::Equal));
    let mut out: Vec<Bucket> = Vec::with_capacity(b.len());
    for x in b.drain(..) {
        match out.last_mut() {
            Some(l) if l.upper == x.upper => l.count += x.count,
            _ => out.push(x),
        }
    }
    *b = out;
}

fn almost_equal(a: f64, b: f64, eps: f64) -> bool {
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < eps * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < eps
}

/// Prometheus's `BucketQuantile`; also reports whether monotonicity had to be forced.
fn bucket_quantile(q: f64, b: &mut Vec<Bucket>) -> (f64, bool) {
    if q.is_nan() {
        return (f64::NAN, false);
    }
    if q < 0.0 {
        return (f64::NEG_INFINITY, false);
    }
    if q > 1.0 {
        return (f64::INFINITY, false);
    }
    sort_and_coalesce(b);
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return (f64::NAN, false);
    }
    let mut forced = false;
    let mut prev = b[0].count;
    for bucket in b.iter_mut().skip(1) {
        let cur = bucket.count;
        if cur == prev {
            continue;
        }
        // Tiny differences are float noise: even them out silently.
        if almost_equal(prev, cur, 1e-12) {
            bucket.count = prev;
            continue;
        }
        if cur < prev {
            bucket.count = prev;
            forced = true;
            continue;
        }
        prev = cur;
    }
    if b.len() < 2 {
        return (f64::NAN, forced);
    }
    let obs = b[b.len() - 1].count;
    if obs == 0.0 {
        return (f64::NAN, forced);
    }
    let mut rank = q * obs;
    let last = b.len() - 1;
    let idx = b[..last].partition_point(|x| x.count < rank);
    if idx == last {
        return (b[last - 1].upper, forced);
    }
    if idx == 0 && b[0].upper <= 0.0 {
        return (b[0].upper, forced);
    }
    let mut start = 0.0;
    let end = b[idx].upper;
    let mut count = b[idx].count;
    if idx > 0 {
        start = b[idx - 1].upper;
        count -= b[idx - 1].count;
        rank -= b[idx - 1].count;
    }
    (start + (end - start) * (rank / count), forced)
}

fn bucket_fraction(lower: f64, upper: f64, b: &mut Vec<Bucket>) -> f64 {
    sort_and_coalesce(b);
    if b.last().is_none_or(|x| x.upper != f64::INFINITY) {
        return f64::NAN;
    }
    let count = b[b.len() - 1].count;
    if count == 0.0 || lower.is_nan() || upper.is_nan() {
        return f64::NAN;
    }
    if lower >= upper {
        return 0.0;
    }
    let (mut rank, mut lower_rank, mut upper_rank) = (0.0, 0.0, 0.0);
    let (mut lower_set, mut upper_set) = (false, false);
    for i in 0..b.len() {
        let lower_bound = if i > 0 {
            b[i - 1].upper
        } else if b[i].upper > 0.0 {
            0.0
        } else {
            f64::NEG_INFINITY
        };
        let upper_bound = b[i].upper;
        let bc = b[i].count;
        let interp = |v: f64, rank: f64| {
            // No interpolation into an unbounded bucket: its observations
            // count as sitting at its finite edge.
            if lower_bound == f64::NEG_INFINITY {
                bc
            } else if upper_bound == f64::INFINITY {
                rank
            } else {
                rank + (bc - rank) * (v - lower_bound) / (upper_bound - lower_bound)
            }
        };
        if !lower_set && lower_bound >= lower {
            lower_rank = rank;
            lower_set = true;
        }
        if !upper_set && lower_bound >= upper {
            upper_rank = rank;
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        if !lower_set && lower_bound < lower && upper_bound > lower {
            lower_rank = interp(lower, rank);
            lower_set = true;
        }
        if !upper_set && lower_bound < upper && upper_bound > upper {
            upper_rank = interp(upper, rank);
            upper_set = true;
        }
        if lower_set && upper_set {
            break;
        }
        rank = bc;
    }
    if !lower_set || lower_rank > count {
        lower_rank = count;
    }
    if !upper_set || upper_rank > count {
        upper_rank = count;
    }
    (upper_rank - lower_rank) / count
}

fn histogram_quantile(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let q = ev.eval_scalar(arg(c, 0)?, s)?;
    let varg = arg(c, 1)?;
    let v = ev.eval_vector(varg, s)?;
    let needle = varg.to_string();
    let out = quantiles_of(ev, &v, &[q], None, &needle, s.len())?;
    Ok(Val::Vector(out))
}

/// `histogram_quantiles(v, "label", q1, q2, ...)`: one result series per quantile.
fn histogram_quantiles(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let varg = arg(c, 0)?;
    let v = ev.eval_vector(varg, s)?;
    let label = string_arg(ev, c, 1, s)?;
    if !valid_label_name(&label) || ev.invalid_utf8.contains(&label) {
        return exec_err(format!("invalid quantile label name {label:?}"));
    }
    let mut qs = Vec::new();
    for i in 2..c.args.args.len() {
        qs.push(ev.eval_scalar(arg(c, i)?, s)?);
    }
    let needle = varg.to_string();
    let out = quantiles_of(ev, &v, &qs, Some(&label), &needle, s.len())?;
    Ok(Val::Vector(merge_same_labels(out)?))
}

/// Quantile label value: Go's shortest float form, with `.0` on whole numbers.
fn quantile_label(q: f64) -> String {
    let s = go_float(q);
    if s.contains(['.', 'e', 'I', 'N']) {
        s
    } else {
        format!("{s}.0")
    }
}

fn quantiles_of(
    ev: &mut Evaluator,
    v: &[Ser],
    qs: &[Vec<f64>],
    label: Option<&str>,
    needle: &str,
    n: usize,
) -> R<Vec<Ser>> {
    for q in qs {
        if let Some(&bad) = q.iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
            ev.warn(&format!("quantile value should be between 0 and 1, got {}", go_float(bad)), needle);
        }
    }
    let g = bucket_groups(ev, v, needle);
    let ng = g.labels.len();
    let mut out: Vec<Ser> = Vec::new();
    // Output series by (group, quantile), and by the quantile's label value
    // when one is added (the quantile may vary by step).
    let mut slots: Vec<Option<usize>> = vec![None; ng * qs.len()];
    let mut index: std::collections::HashMap<(usize, usize, String), usize> = std::collections::HashMap::new();
    let mut buckets: Vec<Vec<Bucket>> = (0..ng).map(|_| Vec::new()).collect();
    let mut work: Vec<Bucket> = Vec::new();
    for i in 0..n {
        for b in buckets.iter_mut() {
            b.clear();
        }
        for (k, ser) in v.iter().enumerate() {
            let (Some((gi, upper)), Some(count)) = (g.member[k], ser.pts[i]) else { continue };
            buckets[gi].push(Bucket { upper, count });
        }
        for (gi, b) in buckets.iter_mut().enumerate() {
            if b.is_empty() {
                continue;
            }
            for (qi, q) in qs.iter().enumerate() {
                work.clear();
                work.extend(b.iter().map(|x| Bucket { upper: x.upper, count: x.count }));
                let (val, forced) = bucket_quantile(q[i], &mut work);
                if forced {
                    let name = g.labels[gi].metric_name().unwrap_or("").to_string();
                    ev.info(
                        &format!("input to histogram_quantile needed to be fixed for monotonicity (see https://prometheus.io/docs/prometheus/latest/querying/functions/#histogram_quantile) for metric name {name:?}"),
                        needle,
                    );
                }
                let idx = match label {
                    None => *slots[gi * qs.len() + qi].get_or_insert_with(|| {
                        out.push(Ser { labels: g.labels[gi].clone(), drop_name: true, pts: vec![None; n] });
                        out.len() - 1
                    }),
                    Some(name) => {
                        let qlabel = quantile_label(q[i]);
                        let key = (gi, qi, qlabel.clone());
                        match index.get(&key) {
                            Some(&x) => x,
                            None => {
                                let mut l = g.labels[gi].clone();
                                l.set(name, &qlabel);
                                out.push(Ser { labels: l, drop_name: true, pts: vec![None; n] });
                                index.insert(key, out.len() - 1);
                                out.len() - 1
                            }
                        }
                    }
                };
                out[idx].pts[i] = Some(val);
            }
        }
    }
    Ok(out)
}

fn histogram_fraction(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let n = s.len();
    let lo = ev.eval_scalar(arg(c, 0)?, s)?;
    let hi = ev.eval_scalar(arg(c, 1)?, s)?;
    let varg = arg(c, 2)?;
    let v = ev.eval_vector(varg, s)?;
    let g = bucket_groups(ev, &v, &varg.to_string());
    let mut out: Vec<Ser> =
        g.labels.iter().map(|l| Ser { labels: l.clone(), drop_name: true, pts: vec![None; n] }).collect();
    let mut buckets: Vec<Vec<Bucket>> = (0..g.labels.len()).map(|_| Vec::new()).collect();
    for i in 0..n {
        for b in buckets.iter_mut() {
            b.clear();
        }
        for (k, ser) in v.iter().enumerate() {
            let (Some((gi, upper)), Some(count)) = (g.member[k], ser.pts[i]) else { continue };
            buckets[gi].push(Bucket { upper, count });
        }
        for (gi, b) in buckets.iter_mut().enumerate() {
            if !b.is_empty() {
                out[gi].pts[i] = Some(bucket_fraction(lo[i], hi[i], b));
            }
        }
    }
    Ok(Val::Vector(out.into_iter().filter(|s| s.pts.iter().any(Option::is_some)).collect()))
}

// ------------------------------------------------------------ range functions

/// Least-squares fit `(slope, intercept)` with x in seconds relative to `t0`.
fn linear_regression(w: &[Sample], t0: i64) -> (f64, f64) {
    let (mut n, mut sx, mut cx, mut sy, mut cy, mut sxy, mut cxy, mut sx2, mut cx2) =
        (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
    let init = w[0].v;
    let mut const_y = true;
    for (i, p) in w.iter().enumerate() {
        if const_y && i > 0 && p.v != init {
            const_y = false;
        }
        n += 1.0;
        let x = (p.t - t0) as f64 / 1e3;
        (sx, cx) = kahan_inc(x, sx, cx);
        (sy, cy) = kahan_inc(p.v, sy, cy);
        (sxy, cxy) = kahan_inc(x * p.v, sxy, cxy);
        (sx2, cx2) = kahan_inc(x * x, sx2, cx2);
    }
    if const_y {
        if init.is_infinite() {
            return (f64::NAN, f64::NAN);
        }
        return (0.0, init);
    }
    sx += cx;
    sy += cy;
    sxy += cxy;
    sx2 += cx2;
    let cov = sxy - sx * sy / n;
    let var = sx2 - sx * sx / n;
    let slope = cov / var;
    (slope, sy / n - slope * sx / n)
}

/// `rate`/`increase`/`delta` with Prometheus's extrapolation. `corrections`
/// are the values before each counter reset inside the window, in order: they
/// are added one by one as Prometheus does, so the floats are the same.
fn extrapolated_rate(
    w: &[Sample],
    corrections: impl Iterator<Item = f64>,
    range_start: i64,
    range_end: i64,
    range: i64,
    counter: bool,
    rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (first, last) = (w[0], w[w.len() - 1]);
    let mut result = last.v - first.v;
    if counter {
        for c in corrections {
            result += c;
        }
    }
    let mut to_start = (first.t - range_start) as f64 / 1000.0;
    let mut to_end = (range_end - last.t) as f64 / 1000.0;
    let sampled = (last.t - first.t) as f64 / 1000.0;
    let avg = sampled / (w.len() - 1) as f64;
    let threshold = avg * 1.1;
    if to_start >= threshold {
        to_start = avg / 2.0;
    }
    if counter {
        let mut to_zero = to_start;
        if result > 0.0 && first.v >= 0.0 {
            to_zero = sampled * (first.v / result);
        }
        if to_zero < to_start {
            to_start = to_zero;
        }
    }
    if to_end >= threshold {
        to_end = avg / 2.0;
    }
    let mut factor = (sampled + to_start + to_end) / sampled;
    if rate {
        factor /= range as f64 / 1000.0;
    }
    Some(result * factor)
}

fn over_time_quantile(q: f64, w: &[Sample]) -> f64 {
    let mut vals: Vec<f64> = w.iter().map(|p| p.v).collect();
    quantile(q, &mut vals)
}

/// Range functions, resolved once per call instead of per window.
#[derive(Clone, Copy, PartialEq, Eq)]
enum F {
    AvgOverTime,
    Changes,
    CountOverTime,
    Delta,
    Deriv,
    DoubleExponentialSmoothing,
    FirstOverTime,
    HoltWinters,
    Idelta,
    Increase,
    Irate,
    LastOverTime,
    MadOverTime,
    MaxOverTime,
    MinOverTime,
    PredictLinear,
    PresentOverTime,
    QuantileOverTime,
    Rate,
    Resets,
    StddevOverTime,
    StdvarOverTime,
    SumOverTime,
    TsOfFirstOverTime,
    TsOfLastOverTime,
    TsOfMaxOverTime,
    TsOfMinOverTime,
}

impl F {
    fn from_name(n: &str) -> Option<F> {
        Some(match n {
            "avg_over_time" => F::AvgOverTime,
            "changes" => F::Changes,
            "count_over_time" => F::CountOverTime,
            "delta" => F::Delta,
            "deriv" => F::Deriv,
            "double_exponential_smoothing" => F::DoubleExponentialSmoothing,
            "first_over_time" => F::FirstOverTime,
            "holt_winters" => F::HoltWinters,
            "idelta" => F::Idelta,
            "increase" => F::Increase,
            "irate" => F::Irate,
            "last_over_time" => F::LastOverTime,
            "mad_over_time" => F::MadOverTime,
            "max_over_time" => F::MaxOverTime,
            "min_over_time" => F::MinOverTime,
            "predict_linear" => F::PredictLinear,
            "present_over_time" => F::PresentOverTime,
            "quantile_over_time" => F::QuantileOverTime,
            "rate" => F::Rate,
            "resets" => F::Resets,
            "stddev_over_time" => F::StddevOverTime,
            "stdvar_over_time" => F::StdvarOverTime,
            "sum_over_time" => F::SumOverTime,
            "ts_of_first_over_time" => F::TsOfFirstOverTime,
            "ts_of_last_over_time" => F::TsOfLastOverTime,
            "ts_of_max_over_time" => F::TsOfMaxOverTime,
            "ts_of_min_over_time" => F::TsOfMinOverTime,
            _ => return None,
        })
    }
}

fn range_function(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let name = c.func.name;
    let n = s.len();
    // Position of the range argument and the scalar arguments.
    let (mi, scalar_idx): (usize, Vec<usize>) = match name {
        "quantile_over_time" => (1, vec![0]),
        "predict_linear" => (0, vec![1]),
        "double_exponential_smoothing" | "holt_winters" => (0, vec![1, 2]),
        "rate"
        | "irate"
        | "increase"
        | "delta"
        | "idelta"
        | "deriv"
        | "resets"
        | "changes"
        | "avg_over_time"
        | "min_over_time"
        | "max_over_time"
        | "sum_over_time"
        | "count_over_time"
        | "stddev_over_time"
        | "stdvar_over_time"
        | "last_over_time"
        | "first_over_time"
        | "present_over_time"
        | "absent_over_time"
        | "mad_over_time"
        | "ts_of_last_over_time"
        | "ts_of_first_over_time"
        | "ts_of_max_over_time"
        | "ts_of_min_over_time" => (0, vec![]),
        other => return exec_err(format!("function {other}() is not supported")),
    };
    let mut scalars: Vec<Vec<f64>> = Vec::new();
    for &i in &scalar_idx {
        scalars.push(ev.eval_scalar(arg(c, i)?, s)?);
    }
    let marg = arg(c, mi)?;
    if name == "double_exponential_smoothing" {
        for (&sf, &tf) in scalars[0].iter().zip(&scalars[1]) {
            if !(sf > 0.0 && sf < 1.0) {
                return exec_err(format!("invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:.6}"));
            }
            if !(tf > 0.0 && tf < 1.0) {
                return exec_err(format!("invalid trend factor. Expected: 0 < tf < 1, got: {tf:.6}"));
            }
        }
    }
    let keep_name = matches!(name, "last_over_time" | "first_over_time");
    let counter_fn = matches!(name, "rate" | "increase");
    let mut out = Vec::new();
    let mut non_counter: Option<String> = None;
    let mut push = |labels: Labels, drop_name: bool, pts: Vec<Option<f64>>| {
        if !pts.iter().any(Option::is_some) {
            return;
        }
        if counter_fn && non_counter.is_none() {
            if let Some(mn) = labels.metric_name() {
                if !["_total", "_sum", "_count", "_bucket"].iter().any(|suf| mn.ends_with(suf)) {
                    non_counter = Some(mn.to_string());
                }
            }
        }
        out.push(Ser { labels, drop_name: if keep_name { drop_name } else { true }, pts });
    };
    let f = F::from_name(name);
    // A plain matrix selector streams: each series is computed straight from
    // the store's decode buffer and only its points are kept.
    let mut streamed = false;
    if let (Some(f), Expr::MatrixSelector(ms)) = (f, unwrap_parens(marg)) {
        let range = super::eval::dur_ms(&ms.range);
        let ends = ev.window_ends(&ms.vs, s);
        let cx = RangeCx { f, ends: &ends, range, s, scalars: &scalars };
        let reduce = |samples: &[Sample]| range_points(&cx, samples);
        let w = WindowRead { ends: &ends, width: range, func: Some(name), drop_stale: true, cells: n, latest: false };
        streamed = ev.stream_windows(&ms.vs, &w, &reduce, &mut |labels, pts| push(labels, false, pts))?;
    }
    if !streamed {
        ev.hint_func = Some(name);
        let ra: RangeArg = ev.eval_range_arg(marg, s)?;
        if name == "absent_over_time" {
            let mut present = vec![false; n];
            for m in &ra.series {
                ra.for_windows(&m.samples, |i, lo, hi| {
                    if hi > lo {
                        present[i] = true;
                    }
                });
            }
            let labels = absent_labels(unwrap_parens(marg));
            let pts = present.iter().map(|&p| (!p).then_some(1.0)).collect();
            return Ok(Val::Vector(vec![Ser { labels, drop_name: false, pts }]));
        }
        let Some(f) = f else { return exec_err(format!("function {name}() is not supported")) };
        ev.count_samples(ra.series.len().saturating_mul(n))?;
        let cx = RangeCx { f, ends: &ra.ends, range: ra.range, s, scalars: &scalars };
        for (k, m) in ra.series.iter().enumerate() {
            if k % 64 == 0 {
                ev.check_time()?;
            }
            push(m.labels.clone(), m.drop_name, range_points(&cx, &m.samples));
        }
    }
    if name == "quantile_over_time" {
        if let Some(&bad) = scalars[0].iter().find(|q| q.is_nan() || **q < 0.0 || **q > 1.0) {
            ev.warn(&format!("quantile value should be between 0 and 1, got {}", go_float(bad)), "quantile_over_time");
        }
    }
    if let Some(mn) = non_counter {
        let needle = unwrap_parens(marg).to_string();
        let needle = needle.split(['{', '[']).next().unwrap_or("").to_string();
        ev.info(
            &format!("metric might not be a counter, name does not end in _total/_sum/_count/_bucket: {mn:?}"),
            &needle,
        );
    }
    Ok(Val::Vector(out))
}

/// What a range function needs besides a series' samples.
struct RangeCx<'a> {
    f: F,
    /// Window end per step; windows are `(end - range, end]`.
    ends: &'a [i64],
    range: i64,
    s: &'a Steps,
    scalars: &'a [Vec<f64>],
}

/// One series' value per step of a range function.
fn range_points(cx: &RangeCx, samples: &[Sample]) -> Vec<Option<f64>> {
    let (f, range, s, scalars) = (cx.f, cx.range, cx.s, cx.scalars);
    let mut pts: Vec<Option<f64>> = vec![None; cx.ends.len()];
    // Windows that only move forward allow sliding (not rescanning) ones.
    let ends_ascending = cx.ends.windows(2).all(|e| e[0] <= e[1]);
    if matches!(f, F::MaxOverTime | F::MinOverTime) && ends_ascending && !samples.iter().any(|p| p.v.is_nan()) {
        sliding_extreme(cx.ends, range, samples, f == F::MaxOverTime, &mut pts);
        return pts;
    }
    // Where the counter resets (index of the sample after the drop):
    // a window visits only its own resets, O(1) per step in practice
    // however long the window, never rescanning it.
    let resets: Vec<usize> = if matches!(f, F::Rate | F::Increase) {
        (1..samples.len()).filter(|&j| samples[j].v < samples[j - 1].v).collect()
    } else {
        Vec::new()
    };
    let mut rp = 0usize;
    for_windows(cx.ends, range, samples, |i, lo, hi| {
        let w = &samples[lo..hi];
        if w.is_empty() {
            return;
        }
        let end = cx.ends[i];
        let t = s.t(i);
        pts[i] = match f {
            F::Rate | F::Increase => {
                // Resets at j count when the drop (j-1 → j) is inside the window.
                if rp > 0 && resets[rp - 1] > lo {
                    rp = resets.partition_point(|&j| j <= lo);
                }
                while rp < resets.len() && resets[rp] <= lo {
                    rp += 1;
                }
                let inside = resets[rp..].iter().take_while(|&&j| j < hi).map(|&j| samples[j - 1].v);
                extrapolated_rate(w, inside, end - range, end, range, true, f == F::Rate)
            }
            F::Delta => extrapolated_rate(w, std::iter::empty(), end - range, end, range, false, false),
            F::Irate | F::Idelta => {
                if w.len() < 2 {
                    None
                } else {
                    let (prev, last) = (w[w.len() - 2], w[w.len() - 1]);
                    let mut r = last.v - prev.v;
                    if f == F::Irate && last.v < prev.v {
                        r = last.v;
                    }
                    let dt = last.t - prev.t;
                    if dt == 0 {
                        None
                    } else if f == F::Irate {
                        Some(r / (dt as f64 / 1000.0))
                    } else {
                        Some(r)
                    }
                }
            }
            F::Deriv => (w.len() >= 2).then(|| linear_regression(w, w[0].t).0),
            F::PredictLinear => (w.len() >= 2).then(|| {
                let (slope, icpt) = linear_regression(w, t);
                slope * scalars[0][i] + icpt
            }),
            F::Resets => Some(w.windows(2).filter(|x| x[1].v < x[0].v).count() as f64),
            F::Changes => {
                Some(w.windows(2).filter(|x| !(x[1].v == x[0].v || (x[1].v.is_nan() && x[0].v.is_nan()))).count() as f64)
            }
            F::AvgOverTime => {
                let mut a = Avg::default();
                for p in w {
                    a.add(p.v);
                }
                Some(a.value())
            }
            F::SumOverTime => {
                let (mut sum, mut c) = (0.0, 0.0);
                for p in w {
                    (sum, c) = kahan_inc(p.v, sum, c);
                }
                Some(if sum.is_infinite() { sum } else { sum + c })
            }
            F::MinOverTime | F::MaxOverTime => {
                let mut v = w[0].v;
                for p in &w[1..] {
                    let better = if f == F::MaxOverTime { p.v > v } else { p.v < v };
                    if better || v.is_nan() {
                        v = p.v;
                    }
                }
                Some(v)
            }
            F::CountOverTime => Some(w.len() as f64),
            F::StddevOverTime | F::StdvarOverTime => {
                let (mut count, mut mean, mut cm, mut aux, mut ca) = (0.0, 0.0, 0.0, 0.0, 0.0);
                for p in w {
                    count += 1.0;
                    let delta = p.v - (mean + cm);
                    (mean, cm) = kahan_inc(delta / count, mean, cm);
                    (aux, ca) = kahan_inc(delta * (p.v - (mean + cm)), aux, ca);
                }
                let var = (aux + ca) / count;
                Some(if f == F::StddevOverTime { var.sqrt() } else { var })
            }
            F::QuantileOverTime => Some(over_time_quantile(scalars[0][i], w)),
            F::MadOverTime if w.iter().any(|p| p.v.is_nan()) => Some(f64::NAN),
            F::MadOverTime => {
                let median = over_time_quantile(0.5, w);
                let mut dev: Vec<f64> = w.iter().map(|p| (p.v - median).abs()).collect();
                Some(quantile(0.5, &mut dev))
            }
            F::LastOverTime => Some(w[w.len() - 1].v),
            F::FirstOverTime => Some(w[0].v),
            F::PresentOverTime => Some(1.0),
            F::TsOfLastOverTime => Some(w[w.len() - 1].t as f64 / 1000.0),
            F::TsOfFirstOverTime => Some(w[0].t as f64 / 1000.0),
            F::TsOfMaxOverTime | F::TsOfMinOverTime => {
                let mut best = w[0];
                for p in &w[1..] {
                    let better = if f == F::TsOfMaxOverTime { p.v >= best.v } else { p.v <= best.v };
                    if better || best.v.is_nan() {
                        best = *p;
                    }
                }
                Some(best.t as f64 / 1000.0)
            }
            F::DoubleExponentialSmoothing | F::HoltWinters => {
                if w.len() < 2 {
                    None
                } else {
                    let (sf, tf) = (scalars[0][i], scalars[1][i]);
                    let (mut s0, mut s1) = (0.0, w[0].v);
                    let mut b = w[1].v - w[0].v;
                    for (j, p) in w.iter().enumerate().skip(1) {
                        let x = sf * p.v;
                        if j > 1 {
                            b = tf * (s1 - s0) + (1.0 - tf) * b;
                        }
                        let y = (1.0 - sf) * (s1 + b);
                        s0 = s1;
                        s1 = x + y;
                    }
                    Some(s1)
                }
            }
        };
    });
    pts
}

/// `max_over_time`/`min_over_time` of every window at once with a monotonic
/// deque: O(samples + steps) whatever the window length. Only for NaN-free
/// series and forward-moving windows; the value is the first extreme in the
/// window, as the per-window scan picks it.
fn sliding_extreme(ends: &[i64], range: i64, samples: &[Sample], max: bool, pts: &mut [Option<f64>]) {
    let mut dq: std::collections::VecDeque<usize> = std::collections::VecDeque::new();
    let mut next = 0usize;
    for_windows(ends, range, samples, |i, lo, hi| {
        if hi <= lo {
            return;
        }
        while next < hi {
            let v = samples[next].v;
            // Strict: an earlier equal value stays ahead of a later one.
            while let Some(&b) = dq.back() {
                if (max && samples[b].v < v) || (!max && samples[b].v > v) {
                    dq.pop_back();
                } else {
                    break;
                }
            }
            dq.push_back(next);
            next += 1;
        }
        while dq.front().is_some_and(|&j| j < lo) {
            dq.pop_front();
        }
        pts[i] = dq.front().map(|&j| samples[j].v);
    });
}

// ------------------------------------------------------------------- info()

/// Labels that tie an info series to the series it describes.
const IDENTIFYING_LABELS: [&str; 2] = ["instance", "job"];

/// The time at which `e`'s data is read for eval time `t`: the first selector
/// on the way down, through any subqueries, with their `@` and offsets.
fn reference_time(ev: &Evaluator, e: &Expr, t: i64) -> Option<i64> {
    let pin = |at: &Option<promql_parser::parser::AtModifier>, off: &Option<promql_parser::parser::Offset>, t: i64| {
        let base = match at {
            None => t,
            Some(promql_parser::parser::AtModifier::Start) => ev.query_start,
            Some(promql_parser::parser::AtModifier::End) => ev.query_end,
            Some(promql_parser::parser::AtModifier::At(st)) => super::eval::system_time_ms(st),
        };
        base - super::eval::offset_ms(off)
    };
    match e {
        Expr::VectorSelector(vs) => Some(pin(&vs.at, &vs.offset, t)),
        Expr::MatrixSelector(ms) => Some(pin(&ms.vs.at, &ms.vs.offset, t)),
        Expr::Subquery(sq) => reference_time(ev, &sq.expr, pin(&sq.at, &sq.offset, t)),
        Expr::Paren(p) => reference_time(ev, &p.expr, t),
        Expr::Unary(u) => reference_time(ev, &u.expr, t),
        Expr::Binary(b) => reference_time(ev, &b.lhs, t).or_else(|| reference_time(ev, &b.rhs, t)),
        Expr::Aggregate(a) => reference_time(ev, &a.expr, t),
        Expr::Call(c) => c.args.args.iter().find_map(|a| reference_time(ev, a, t)),
        _ => None,
    }
}

/// `info(v [, {data label selector}])`: adds the data labels of matching info
/// series (`target_info` by default), joined on `instance` and `job`.
fn info_fn(ev: &mut Evaluator, c: &Call, s: &Steps) -> R<Val> {
    let n = s.len();
    let base_expr = arg(c, 0)?;
    let base = ev.eval_vector(base_expr, s)?;
    let mut name_matchers: Vec<crate::tsdb::Matcher> = Vec::new();
    let mut data_matchers: Vec<crate::tsdb::Matcher> = Vec::new();
    match c.args.args.get(1).map(|a| unwrap_parens(a)) {
        None => name_matchers.push(crate::tsdb::Matcher::equal(METRIC_NAME, "target_info")),
        Some(Expr::VectorSelector(vs)) => {
            let sets = super::eval::to_matchers(vs)?;
            for m in sets.into_iter().next().unwrap_or_default() {
                if m.name == METRIC_NAME {
                    name_matchers.push(m);
                } else {
                    data_matchers.push(m);
                }
            }
        }
        Some(_) => return exec_err("expected label selector as the second argument of info()"),
    }
    // Only negative name matchers: they narrow down the info metrics (`*_info`).
    if !name_matchers.is_empty() && !name_matchers.iter().any(|m| matches!(m.kind, MatchKind::Equal | MatchKind::Regex))
    {
        let any_info = crate::tsdb::Matcher::new(MatchKind::Regex, METRIC_NAME, ".+_info")
            .map_err(|e| super::QueryError::Execution(e.to_string()))?;
        name_matchers.push(any_info);
    }
    // Base series that are info series themselves pass through untouched.
    let ignored: Vec<bool> = base
        .iter()
        .map(|b| {
            !name_matchers.is_empty() && name_matchers.iter().all(|m| m.matches(b.labels.metric_name().unwrap_or("")))
        })
        .collect();
    let has_id =
        base.iter().zip(&ignored).any(|(b, &ig)| !ig && IDENTIFYING_LABELS.iter().any(|l| b.labels.get(l).is_some()));
    let refs: Vec<i64> = (0..n).map(|i| reference_time(ev, base_expr, s.t(i)).unwrap_or(s.t(i))).collect();
    let mut infos: Vec<crate::tsdb::Series> = Vec::new();
    if has_id {
        let mut select = if name_matchers.is_empty() {
            vec![crate::tsdb::Matcher::equal(METRIC_NAME, "target_info")]
        } else {
            name_matchers.clone()
        };
        select.extend(data_matchers.iter().cloned());
        let lookback = if ev.opts.lookback_delta_ms > 0 { ev.opts.lookback_delta_ms } else { 300_000 };
        let (lo, hi) = (refs.iter().min().copied().unwrap_or(0), refs.iter().max().copied().unwrap_or(0));
        infos = ev.q.select(&select, lo - lookback + 1, hi).map_err(|e| super::QueryError::Execution(e.to_string()))?;
        ev.count_samples(infos.iter().map(|x| x.samples.len()).sum())?;
    }
    let lookback = if ev.opts.lookback_delta_ms > 0 { ev.opts.lookback_delta_ms } else { 300_000 };
    let id_sig = |name: &str, l: &Labels| -> Labels {
        let mut sig = l.keep_only(&IDENTIFYING_LABELS);
        sig.set(METRIC_NAME, name);
        sig
    };
    let mut info_names: Vec<String> = infos.iter().filter_map(|x| x.labels.metric_name().map(str::to_string)).collect();
    info_names.sort();
    info_names.dedup();
    let info_sigs: Vec<Labels> =
        infos.iter().map(|x| id_sig(x.labels.metric_name().unwrap_or(""), &x.labels)).collect();
    let all_match_empty = data_matchers.iter().all(|m| m.matches_empty());
    let mut out: Vec<Ser> = Vec::new();
    let mut index: std::collections::HashMap<(Labels, bool), usize> = std::collections::HashMap::new();
    for (i, &r) in refs.iter().enumerate() {
        ev.check_time()?;
        // The newest info sample per signature as of the reference time.
        let mut current: std::collections::HashMap<&Labels, (usize, i64)> = std::collections::HashMap::new();
        for (k, inf) in infos.iter().enumerate() {
            let j = inf.samples.partition_point(|p| p.t <= r);
            let Some(p) = j.checked_sub(1).map(|j| inf.samples[j]) else { continue };
            if p.t <= r - lookback || crate::tsdb::is_stale_nan(p.v) {
                continue;
            }
            match current.get(&info_sigs[k]) {
                Some(&(_, t)) if t > p.t => {}
                Some(&(other, t)) if t == p.t => {
                    return exec_err(format!(
                        "found duplicate series for info metric: existing {} @ {t}, new {} @ {}",
                        super::binary::go_labels(&infos[other].labels),
                        super::binary::go_labels(&inf.labels),
                        p.t
                    ));
                }
                _ => {
                    current.insert(&info_sigs[k], (k, p.t));
                }
            }
        }
        for (bi, b) in base.iter().enumerate() {
            let Some(v) = b.pts[i] else { continue };
            let labels = if ignored[bi] {
                b.labels.clone()
            } else {
                let mut added = Labels::new();
                let mut seen = false;
                for name in &info_names {
                    let Some(&(k, _)) = current.get(&id_sig(name, &b.labels)) else { continue };
                    seen = true;
                    for l in infos[k].labels.iter() {
                        if l.name == METRIC_NAME {
                            continue;
                        }
                        if !data_matchers.is_empty() && !data_matchers.iter().any(|m| m.name == l.name) {
                            continue;
                        }
                        if let Some(prev) = added.get(&l.name) {
                            if prev != l.value {
                                return exec_err(format!("conflicting label: {}", l.name));
                            }
                        }
                        if b.labels.get(&l.name).is_some() {
                            continue;
                        }
                        added.set(&l.name, &l.value);
                    }
                }
                if !seen && !all_match_empty {
                    continue;
                }
                let mut l = b.labels.clone();
                for x in added.iter() {
                    l.set(&x.name, &x.value);
                }
                l
            };
            let key = (labels, b.drop_name);
            let idx = match index.get(&key) {
                Some(&x) => x,
                None => {
                    out.push(Ser { labels: key.0.clone(), drop_name: b.drop_name, pts: vec![None; n] });
                    index.insert(key, out.len() - 1);
                    out.len() - 1
                }
            };
            if out[idx].pts[i].is_some() {
                return exec_err("vector cannot contain metrics with the same labelset");
            }
            out[idx].pts[i] = Some(v);
        }
    }
    Ok(Val::Vector(out))
}
