//! Aggregation operators (`sum`, `avg`, `topk`, `quantile`, ...).

use std::collections::HashMap;

use promql_parser::parser::{AggregateExpr, Expr, LabelModifier};

use super::eval::{exec_err, Evaluator, Ser, Steps, Val, R};
use crate::tsdb::Labels;

/// Neumaier-compensated addition, as Prometheus's `kahanSumInc`.
pub(crate) fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// Running mean that falls back to incremental averaging on overflow (Prometheus's `avg`).
#[derive(Clone, Default)]
pub(crate) struct Avg {
    count: f64,
    sum: f64,
    c: f64,
    incremental: bool,
    mean: f64,
    mc: f64,
}

impl Avg {
    pub fn add(&mut self, v: f64) {
        self.count += 1.0;
        if self.count == 1.0 {
            self.sum = v;
            self.c = 0.0;
            return;
        }
        if !self.incremental {
            let (ns, nc) = kahan_inc(v, self.sum, self.c);
            if !ns.is_infinite() {
                self.sum = ns;
                self.c = nc;
                return;
            }
            self.incremental = true;
            self.mean = self.sum / (self.count - 1.0);
            self.mc = self.c / (self.count - 1.0);
        }
        if self.mean.is_infinite() {
            if v.is_infinite() && (self.mean > 0.0) == (v > 0.0) {
                return;
            }
            if !v.is_infinite() && !v.is_nan() {
                return;
            }
        }
        let cur = self.mean + self.mc;
        let (m, c) = kahan_inc(v / self.count - cur / self.count, self.mean, self.mc);
        self.mean = m;
        self.mc = c;
    }
    pub fn value(&self) -> f64 {
        if self.incremental {
            self.mean + self.mc
        } else if self.count == 1.0 {
            self.sum
        } else {
            self.sum / self.count + self.c / self.count
        }
    }
}

/// Prometheus's `quantile` over unsorted values (NaN sorts first).
pub(crate) fn quantile(q: f64, values: &mut [f64]) -> f64 {
    if values.is_empty() || q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    values.sort_by(nan_first_cmp);
    let n = values.len() as f64;
    let rank = q * (n - 1.0);
    let lower = rank.floor().max(0.0);
    let upper = (lower + 1.0).min(n - 1.0);
    let weight = rank - rank.floor();
    values[lower as usize] * (1.0 - weight) + values[upper as usize] * weight
}

pub(crate) fn nan_first_cmp(a: &f64, b: &f64) -> std::cmp::Ordering {
    match (a.is_nan(), b.is_nan()) {
        (true, true) => std::cmp::Ordering::Equal,
        (true, false) => std::cmp::Ordering::Less,
        (false, true) => std::cmp::Ordering::Greater,
        _ => a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal),
    }
}

/// Orders values ascending (or descending), NaN last either way.
pub(crate) fn nan_last_cmp(a: f64, b: f64, desc: bool) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a.is_nan(), b.is_nan()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Greater,
        (false, true) => Ordering::Less,
        _ => {
            let o = a.partial_cmp(&b).unwrap_or(Ordering::Equal);
            if desc {
                o.reverse()
            } else {
                o
            }
        }
    }
}

/// Formats a float the way Go's `strconv.FormatFloat(f, 'f', -1, 64)` does.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v == f64::INFINITY {
        "+Inf".into()
    } else if v == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        format!("{v}")
    }
}

/// A valid Prometheus label name.
pub(crate) fn valid_label_name(n: &str) -> bool {
    // Prometheus 3 accepts any non-empty UTF-8 name.
    !n.is_empty()
}

fn group_labels(l: &Labels, modifier: &Option<LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(by)) => l.keep_only(&by.labels),
        Some(LabelModifier::Exclude(without)) => {
            let mut x = l.drop_names(&without.labels);
            x = super::eval::drop_metadata(&x);
            x
        }
    }
}

/// The simple aggregations, resolved once per expression.
#[derive(Clone, Copy, PartialEq, Eq)]
enum A {
    Sum,
    Avg,
    Min,
    Max,
    Count,
    Group,
    Stddev,
    Stdvar,
    Quantile,
}

#[derive(Clone, Default)]
struct Acc {
    n: usize,
    sum: f64,
    c: f64,
    val: f64,
    mean: f64,
    avg: Avg,
}

pub(crate) fn eval_aggregate(ev: &mut Evaluator, a: &AggregateExpr, s: &Steps) -> R<Val> {
    let op = a.op.to_string();
    let op = op.as_str();
    let n = s.len();
    // The parameter, per step.
    let mut param: Vec<f64> = Vec::new();
    let mut sparam = String::new();
    if let Some(p) = &a.param {
        match ev.eval(p, s)? {
            Val::Scalar(v) => param = v,
            Val::Str(x) => sparam = x,
            other => return exec_err(format!("expected scalar or string parameter, got {}", other.type_name())),
        }
    }
    let input = ev.eval_vector(&a.expr, s)?;
    // Group index per input series, in order of first appearance.
    let mut gindex: HashMap<Labels, usize> = HashMap::new();
    let mut glabels: Vec<Labels> = Vec::new();
    let mut gid = Vec::with_capacity(input.len());
    for ser in &input {
        // Grouping sees the not-yet-removed name (delayed name removal).
        let g = group_labels(&ser.labels, &a.modifier);
        let next = glabels.len();
        let id = *gindex.entry(g.clone()).or_insert_with(|| {
            glabels.push(g);
            next
        });
        gid.push(id);
    }
    let ng = glabels.len();
    // A group's result drops the name if any member would.
    let mut gdrop = vec![false; ng];
    for (k, ser) in input.iter().enumerate() {
        if ser.drop_name {
            gdrop[gid[k]] = true;
        }
    }
    match op {
        "sum" | "avg" | "min" | "max" | "count" | "group" | "stddev" | "stdvar" | "quantile" => {
            if op == "quantile" {
                for &q in &param {
                    if q.is_nan() || !(0.0..=1.0).contains(&q) {
                        let needle = a.param.as_deref().map(param_text).unwrap_or_default();
                        ev.warn(&format!("quantile value should be between 0 and 1, got {}", go_float(q)), &needle);
                        break;
                    }
                }
            }
            let mut out: Vec<Ser> = glabels
                .iter()
                .zip(&gdrop)
                .map(|(l, &d)| Ser { labels: l.clone(), drop_name: d, pts: vec![None; n] })
                .collect();
            let mut accs = vec![Acc::default(); ng];
            let agg = match op {
                "sum" => A::Sum,
                "avg" => A::Avg,
                "min" => A::Min,
                "max" => A::Max,
                "count" => A::Count,
                "group" => A::Group,
                "stddev" => A::Stddev,
                "stdvar" => A::Stdvar,
                _ => A::Quantile,
            };
            if matches!(agg, A::Sum | A::Avg | A::Min | A::Max | A::Count | A::Group) {
                simple_series_major(ev, agg, &input, &gid, n, &mut out)?;
                return Ok(Val::Vector(out.into_iter().filter(|s| s.pts.iter().any(Option::is_some)).collect()));
            }
            let mut qvals: Vec<Vec<f64>> = if op == "quantile" { vec![Vec::new(); ng] } else { Vec::new() };
            for i in 0..n {
                if i % 64 == 0 {
                    ev.check_time()?;
                }
                for a in accs.iter_mut() {
                    a.n = 0;
                    a.c = 0.0;
                }
                for q in qvals.iter_mut() {
                    q.clear();
                }
                for (k, ser) in input.iter().enumerate() {
                    let Some(v) = ser.pts[i] else { continue };
                    let acc = &mut accs[gid[k]];
                    acc.n += 1;
                    let first = acc.n == 1;
                    match agg {
                        A::Sum => {
                            if first {
                                acc.sum = v;
                                acc.c = 0.0;
                                acc.mean = 0.0;
                            } else {
                                let (s2, c2) = kahan_inc(v, acc.sum, acc.c);
                                acc.sum = s2;
                                acc.c = c2;
                            }
                        }
                        A::Avg => {
                            if first {
                                acc.avg = Avg::default();
                            }
                            acc.avg.add(v);
                        }
                        // NaN loses to any number, as in Prometheus.
                        A::Min if first || acc.val > v || acc.val.is_nan() => acc.val = v,
                        A::Max if first || acc.val < v || acc.val.is_nan() => acc.val = v,
                        A::Stddev | A::Stdvar => {
                            if v.is_nan() || v.is_infinite() {
                                acc.c = f64::NAN;
                            }
                            if first {
                                acc.mean = v;
                                acc.val = 0.0;
                            } else {
                                let delta = v - acc.mean;
                                acc.mean += delta / acc.n as f64;
                                acc.val += delta * (v - acc.mean);
                            }
                        }
                        A::Quantile => qvals[gid[k]].push(v),
                        _ => {}
                    }
                }
                for (g, acc) in accs.iter().enumerate() {
                    if acc.n == 0 {
                        continue;
                    }
                    let v = match agg {
                        A::Sum => {
                            if acc.sum.is_infinite() {
                                acc.sum
                            } else {
                                acc.sum + acc.c
                            }
                        }
                        A::Avg => acc.avg.value(),
                        A::Min | A::Max => acc.val,
                        A::Count => acc.n as f64,
                        A::Group => 1.0,
                        A::Stdvar if acc.c.is_nan() => f64::NAN,
                        A::Stddev if acc.c.is_nan() => f64::NAN,
                        A::Stdvar => acc.val / acc.n as f64,
                        A::Stddev => (acc.val / acc.n as f64).sqrt(),
                        A::Quantile => quantile(param.get(i).copied().unwrap_or(f64::NAN), &mut qvals[g]),
                    };
                    out[g].pts[i] = Some(v);
                }
            }
            Ok(Val::Vector(out.into_iter().filter(|s| s.pts.iter().any(Option::is_some)).collect()))
        }
        "count_values" => {
            if !valid_label_name(&sparam) || ev.invalid_utf8.contains(&sparam) {
                return exec_err(format!("invalid label name {}", super::eval::go_quote_bytes(&sparam)));
            }
            let mut out: Vec<Ser> = Vec::new();
            let mut index: HashMap<(usize, String), usize> = HashMap::new();
            for i in 0..n {
                for (k, ser) in input.iter().enumerate() {
                    let Some(v) = ser.pts[i] else { continue };
                    let key = (gid[k], go_float(v));
                    let idx = match index.get(&key) {
                        Some(&x) => x,
                        None => {
                            let mut l = glabels[gid[k]].clone();
                            l.set(&sparam, &key.1);
                            out.push(Ser { labels: l, drop_name: false, pts: vec![None; n] });
                            index.insert(key, out.len() - 1);
                            out.len() - 1
                        }
                    };
                    let p = &mut out[idx].pts[i];
                    *p = Some(p.unwrap_or(0.0) + 1.0);
                }
            }
            super::eval::merge_same_labels(out).map(Val::Vector)
        }
        "topk" | "bottomk" | "limitk" | "limit_ratio" => {
            let mut out: Vec<Option<Ser>> = vec![None; input.len()];
            let mut order: Vec<usize> = Vec::new();
            let mut members: Vec<Vec<usize>> = vec![Vec::new(); ng];
            let mut warned_ratio = false;
            for i in 0..n {
                if i % 64 == 0 {
                    ev.check_time()?;
                }
                let p = param.get(i).copied().unwrap_or(f64::NAN);
                if p.is_nan() {
                    return exec_err(if op == "limit_ratio" { "Ratio value is NaN" } else { "Parameter value is NaN" });
                }
                for m in members.iter_mut() {
                    m.clear();
                }
                for (k, ser) in input.iter().enumerate() {
                    if ser.pts[i].is_some() {
                        members[gid[k]].push(k);
                    }
                }
                for m in members.iter_mut() {
                    if m.is_empty() {
                        continue;
                    }
                    let chosen: Vec<usize> = match op {
                        "limit_ratio" => {
                            let mut r = p;
                            if !(-1.0..=1.0).contains(&r) {
                                let capped = r.clamp(-1.0, 1.0);
                                if !warned_ratio {
                                    warned_ratio = true;
                                    let needle = a.param.as_deref().map(param_text).unwrap_or_default();
                                    ev.warn(
                                        &format!(
                                            "ratio value should be between -1 and 1, got {}, capping to {}",
                                            go_float(r),
                                            go_float(capped)
                                        ),
                                        &needle,
                                    );
                                }
                                r = capped;
                            }
                            m.iter().copied().filter(|&k| ratio_keep(&input[k].labels, r)).collect()
                        }
                        _ => {
                            if p < 1.0 {
                                continue;
                            }
                            let k = if p >= m.len() as f64 { m.len() } else { p as usize };
                            if op == "limitk" {
                                m[..k].to_vec()
                            } else {
                                let val = |x: usize| input[x].pts[i].unwrap_or(f64::NAN);
                                go_heap_select(m, k, op == "topk", val)
                            }
                        }
                    };
                    for k in chosen {
                        let slot = &mut out[k];
                        if slot.is_none() {
                            *slot = Some(Ser {
                                labels: input[k].labels.clone(),
                                drop_name: input[k].drop_name,
                                pts: vec![None; n],
                            });
                            order.push(k);
                        }
                        if let Some(o) = slot.as_mut() {
                            o.pts[i] = input[k].pts[i];
                        }
                    }
                }
            }
            let mut res = Vec::with_capacity(order.len());
            for k in order {
                if let Some(s) = out[k].take() {
                    res.push(s);
                }
            }
            Ok(Val::Vector(res))
        }
        other => exec_err(format!("unsupported aggregation operator {other}")),
    }
}

/// The members `topk` (`top`) or `bottomk` keeps, chosen exactly as
/// Prometheus does: a Go `container/heap` of up to `k` elements with the
/// weakest at the root, replaced only by a strictly better value. Among equal
/// values the same series win as in Prometheus, which a sort would not give.
fn go_heap_select(members: &[usize], k: usize, top: bool, val: impl Fn(usize) -> f64) -> Vec<usize> {
    // Prometheus's heap order: NaN is weakest; then smaller (topk) or larger (bottomk).
    let less = |a: f64, b: f64| {
        if a.is_nan() && !b.is_nan() {
            return true;
        }
        if top {
            a < b
        } else {
            a > b
        }
    };
    let mut h: Vec<(usize, f64)> = Vec::with_capacity(k.min(members.len()));
    for &x in members {
        let v = val(x);
        if h.len() < k {
            h.push((x, v));
            let last = h.len() - 1;
            go_heap_up(&mut h, last, &less);
        } else if less(h[0].1, v) {
            h[0] = (x, v);
            if k > 1 {
                go_heap_fix0(&mut h, &less);
            }
        }
    }
    // Best first (NaN last), as Prometheus sorts the heap for output.
    h.sort_by(|a, b| nan_last_cmp(a.1, b.1, top));
    h.into_iter().map(|(x, _)| x).collect()
}

/// Go's `heap.up`.
fn go_heap_up(h: &mut [(usize, f64)], mut j: usize, less: &impl Fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

/// Go's `heap.Fix(h, 0)`: sift the root down (it cannot move up).
fn go_heap_fix0(h: &mut [(usize, f64)], less: &impl Fn(f64, f64) -> bool) {
    let n = h.len();
    let mut i = 0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h[j1 + 1].1, h[j1].1) {
            j = j1 + 1;
        }
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
}

/// `sum`, `avg`, `min`, `max`, `count` and `group` walking each input series
/// once over all steps (one running state per group and step) instead of
/// every series once per step: the same additions in the same order per
/// group and step, so the same floats, without striding over all series.
fn simple_series_major(ev: &mut Evaluator, agg: A, input: &[Ser], gid: &[usize], n: usize, out: &mut [Ser]) -> R<()> {
    let cells = out.len().saturating_mul(n);
    let mut cnt: Vec<u32> = vec![0; cells];
    // Sum and its compensation, or the min/max so far.
    let mut val: Vec<f64> = vec![0.0; cells];
    let mut comp: Vec<f64> = if agg == A::Sum { vec![0.0; cells] } else { Vec::new() };
    let mut avg: Vec<Avg> = if agg == A::Avg { vec![Avg::default(); cells] } else { Vec::new() };
    for (k, ser) in input.iter().enumerate() {
        if k % 64 == 0 {
            ev.check_time()?;
        }
        let base = gid[k] * n;
        for (i, p) in ser.pts.iter().enumerate() {
            let Some(v) = *p else { continue };
            let j = base + i;
            cnt[j] += 1;
            let first = cnt[j] == 1;
            match agg {
                A::Sum if first => val[j] = v,
                A::Sum => (val[j], comp[j]) = kahan_inc(v, val[j], comp[j]),
                A::Avg => avg[j].add(v),
                // NaN loses to any number, as in Prometheus.
                A::Min if first || val[j] > v || val[j].is_nan() => val[j] = v,
                A::Max if first || val[j] < v || val[j].is_nan() => val[j] = v,
                _ => {}
            }
        }
    }
    for (g, o) in out.iter_mut().enumerate() {
        for (i, p) in o.pts.iter_mut().enumerate() {
            let j = g * n + i;
            if cnt[j] == 0 {
                continue;
            }
            *p = Some(match agg {
                A::Sum if val[j].is_infinite() => val[j],
                A::Sum => val[j] + comp[j],
                A::Avg => avg[j].value(),
                A::Count => cnt[j] as f64,
                A::Group => 1.0,
                _ => val[j],
            });
        }
    }
    Ok(())
}

/// Text to locate a parameter expression in the query.
fn param_text(e: &Expr) -> String {
    match e {
        Expr::NumberLiteral(_) => String::new(),
        other => other.to_string(),
    }
}

/// `limit_ratio`'s deterministic per-series sampling: a series is kept when
/// its label hash, scaled to [0, 1), falls below the ratio (or, for negative
/// ratios, in the complementary top part), so the same series are picked as
/// by Prometheus.
fn ratio_keep(l: &Labels, r: f64) -> bool {
    let off = (prometheus_labels_hash(l) as f64) / (u64::MAX as f64);
    if r >= 0.0 {
        off < r
    } else {
        off >= 1.0 + r
    }
}

/// Prometheus's `labels.Hash()` in its default (string-encoded) build: XXH64
/// over every name and value, each preceded by its length (one byte below
/// 255, else 255 and three little-endian bytes).
fn prometheus_labels_hash(l: &Labels) -> u64 {
    let mut buf: Vec<u8> = Vec::with_capacity(l.iter().map(|x| x.name.len() + x.value.len() + 2).sum());
    let mut put = |s: &str| {
        let n = s.len();
        if n < 255 {
            buf.push(n as u8);
        } else {
            buf.extend_from_slice(&[255, n as u8, (n >> 8) as u8, (n >> 16) as u8]);
        }
        buf.extend_from_slice(s.as_bytes());
    };
    for x in l.iter() {
        put(&x.name);
        put(&x.value);
    }
    xxh64(&buf)
}

/// XXH64 with seed 0 (the hash Prometheus uses for label sets).
fn xxh64(data: &[u8]) -> u64 {
    const P1: u64 = 0x9E37_79B1_85EB_CA87;
    const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
    const P3: u64 = 0x1656_67B1_9E37_79F9;
    const P4: u64 = 0x85EB_CA77_C2B2_AE63;
    const P5: u64 = 0x27D4_EB2F_1656_67C5;
    fn round(acc: u64, lane: u64) -> u64 {
        acc.wrapping_add(lane.wrapping_mul(P2)).rotate_left(31).wrapping_mul(P1)
    }
    fn merge(acc: u64, v: u64) -> u64 {
        (acc ^ round(0, v)).wrapping_mul(P1).wrapping_add(P4)
    }
    let u64_at = |i: usize| {
        let mut b = [0u8; 8];
        b.copy_from_slice(&data[i..i + 8]);
        u64::from_le_bytes(b)
    };
    let len = data.len();
    let mut i = 0;
    let mut h = if len >= 32 {
        let mut v = [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)];
        while i + 32 <= len {
            for (k, lane) in v.iter_mut().enumerate() {
                *lane = round(*lane, u64_at(i + 8 * k));
            }
            i += 32;
        }
        let mut h = v[0]
            .rotate_left(1)
            .wrapping_add(v[1].rotate_left(7))
            .wrapping_add(v[2].rotate_left(12))
            .wrapping_add(v[3].rotate_left(18));
        for lane in v {
            h = merge(h, lane);
        }
        h
    } else {
        P5
    };
    h = h.wrapping_add(len as u64);
    while i + 8 <= len {
        h = (h ^ round(0, u64_at(i))).rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
        i += 8;
    }
    if i + 4 <= len {
        let mut b = [0u8; 4];
        b.copy_from_slice(&data[i..i + 4]);
        h = (h ^ u64::from(u32::from_le_bytes(b)).wrapping_mul(P1)).rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
        i += 4;
    }
    while i < len {
        h = (h ^ u64::from(data[i]).wrapping_mul(P5)).rotate_left(11).wrapping_mul(P1);
        i += 1;
    }
    h ^= h >> 33;
    h = h.wrapping_mul(P2);
    h ^= h >> 29;
    h = h.wrapping_mul(P3);
    h ^ (h >> 32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xxh64_matches_reference_vectors() {
        assert_eq!(xxh64(b""), 0xef46_db37_51d8_e999);
        assert_eq!(xxh64(b"abc"), 0x44bc_2cf5_ad77_0999);
        // Longer than one 32-byte stripe, with 8-, 4- and 1-byte tails.
        let long: Vec<u8> = (0u8..=100).collect();
        assert_ne!(xxh64(&long), xxh64(&long[..100]));
    }

    #[test]
    fn limit_ratio_halves_are_complementary() {
        let sets: Vec<Labels> =
            (0..200).map(|i| Labels::from_pairs([("__name__", "m".to_string()), ("i", i.to_string())])).collect();
        let kept = sets.iter().filter(|l| ratio_keep(l, 0.3)).count();
        let rest = sets.iter().filter(|l| ratio_keep(l, -0.7)).count();
        assert_eq!(kept + rest, 200, "r and -(1-r) split the series exactly");
        assert!(kept > 20 && kept < 100, "roughly 30% kept, got {kept}");
        assert!(sets.iter().all(|l| !(ratio_keep(l, 0.3) && ratio_keep(l, -0.7))));
    }

    #[test]
    fn quantile_interpolates_and_handles_bounds() {
        assert_eq!(quantile(0.5, &mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(quantile(0.25, &mut [1.0, 2.0, 3.0, 4.0, 5.0]), 2.0);
        assert_eq!(quantile(-1.0, &mut [1.0]), f64::NEG_INFINITY);
        assert!(quantile(f64::NAN, &mut [1.0]).is_nan());
    }
}
