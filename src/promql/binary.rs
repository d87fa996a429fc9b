//! Binary operators: arithmetic, comparison, set operators and vector matching.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};

use super::eval::{exec_err, merge_same_labels, Evaluator, Ser, Steps, Val, R};
use crate::tsdb::{Labels, METRIC_NAME};

pub(crate) fn is_comparison(op: &str) -> bool {
    matches!(op, "==" | "!=" | ">" | "<" | ">=" | "<=")
}

/// An arithmetic or comparison operator, resolved once per expression.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    Other,
}

impl Op {
    pub fn parse(op: &str) -> Op {
        match op {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            _ => Op::Other,
        }
    }
}

/// Arithmetic on two floats as Prometheus does it.
pub(crate) fn arith(op: Op, l: f64, r: f64) -> f64 {
    match op {
        Op::Add => l + r,
        Op::Sub => l - r,
        Op::Mul => l * r,
        Op::Div => l / r,
        Op::Mod => l % r,
        Op::Pow => l.powf(r),
        Op::Atan2 => l.atan2(r),
        _ => f64::NAN,
    }
}

pub(crate) fn compare(op: Op, l: f64, r: f64) -> bool {
    match op {
        Op::Eq => l == r,
        Op::Ne => l != r,
        Op::Gt => l > r,
        Op::Lt => l < r,
        Op::Ge => l >= r,
        Op::Le => l <= r,
        _ => false,
    }
}

/// One pair's result: arithmetic, a `bool` comparison's 0/1, or `kept` when
/// a filtering comparison holds (`None` when it filters the pair out).
#[inline]
fn pair_value(op: Op, cmp: bool, return_bool: bool, l: f64, r: f64, kept: f64) -> Option<f64> {
    if !cmp {
        return Some(arith(op, l, r));
    }
    let keep = compare(op, l, r);
    if return_bool {
        Some(f64::from(u8::from(keep)))
    } else {
        keep.then_some(kept)
    }
}

/// Go's `labels.String()`: `{a="1", b="2"}` with every label, name included.
pub(crate) fn go_labels(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|x| format!("{}={:?}", x.name, x.value)).collect();
    format!("{{{}}}", parts.join(", "))
}

pub(crate) fn eval_binary(ev: &mut Evaluator, b: &BinaryExpr, s: &Steps) -> R<Val> {
    let op = b.op.to_string();
    let op = op.as_str();
    let return_bool = b.return_bool();
    let bop = Op::parse(op);
    let lhs = ev.eval(&b.lhs, s)?;
    let rhs = ev.eval(&b.rhs, s)?;
    match (lhs, rhs) {
        (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
            l.iter()
                .zip(&r)
                .map(
                    |(&a, &c)| {
                        if is_comparison(op) {
                            f64::from(u8::from(compare(bop, a, c)))
                        } else {
                            arith(bop, a, c)
                        }
                    },
                )
                .collect(),
        )),
        (Val::Vector(v), Val::Scalar(sc)) => Ok(Val::Vector(vector_scalar(op, v, &sc, false, return_bool))),
        (Val::Scalar(sc), Val::Vector(v)) => Ok(Val::Vector(vector_scalar(op, v, &sc, true, return_bool))),
        (Val::Vector(l), Val::Vector(r)) => {
            let out = match op {
                "and" | "or" | "unless" => set_op(op, b, l, r, s.len()),
                _ => vector_vector(ev, op, b, l, r, s.len(), return_bool)?,
            };
            Ok(Val::Vector(merge_same_labels(out)?))
        }
        (l, r) => exec_err(format!(
            "binary expression must contain only scalar and instant vector types, got {} and {}",
            l.type_name(),
            r.type_name()
        )),
    }
}

fn vector_scalar(op: &str, v: Vec<Ser>, sc: &[f64], swap: bool, return_bool: bool) -> Vec<Ser> {
    let cmp = is_comparison(op);
    let bop = Op::parse(op);
    let mut out = Vec::with_capacity(v.len());
    for mut ser in v {
        for (i, p) in ser.pts.iter_mut().enumerate() {
            let Some(x) = *p else { continue };
            let c = sc.get(i).copied().unwrap_or(f64::NAN);
            let (l, r) = if swap { (c, x) } else { (x, c) };
            *p = pair_value(bop, cmp, return_bool, l, r, x);
        }
        if !cmp || return_bool {
            ser.drop_name = true;
        }
        if ser.pts.iter().any(Option::is_some) {
            out.push(ser);
        }
    }
    out
}

/// The matching signature of a series under `on`/`ignoring`.
fn signature(l: &Labels, matching: Option<&LabelModifier>) -> Labels {
    match matching {
        Some(LabelModifier::Include(on)) => l.keep_only(&on.labels),
        Some(LabelModifier::Exclude(ign)) => {
            let mut x = l.drop_names(&ign.labels);
            x.remove(METRIC_NAME);
            x
        }
        None => l.without_metric_name(),
    }
}

/// Numbers each distinct signature so per-step work uses plain indexes.
fn sig_ids(l: &[Ser], r: &[Ser], matching: Option<&LabelModifier>) -> (Vec<usize>, Vec<usize>, Vec<Labels>) {
    let mut ids: HashMap<Labels, usize> = HashMap::new();
    let mut sigs = Vec::new();
    let mut id = |ser: &Ser| {
        let sig = signature(&ser.labels, matching);
        let n = ids.len();
        *ids.entry(sig.clone()).or_insert_with(|| {
            sigs.push(sig);
            n
        })
    };
    let li: Vec<usize> = l.iter().map(&mut id).collect();
    let ri: Vec<usize> = r.iter().map(&mut id).collect();
    (li, ri, sigs)
}

fn set_op(op: &str, b: &BinaryExpr, l: Vec<Ser>, r: Vec<Ser>, n: usize) -> Vec<Ser> {
    let matching = b.modifier.as_ref().and_then(|m| m.matching.as_ref());
    let (li, ri, sigs) = sig_ids(&l, &r, matching);
    let mut present = vec![usize::MAX; sigs.len()];
    let mut out_l = l;
    let mut out_r =
        if op == "or" { r.iter().map(|x| Ser { pts: vec![None; n], ..x.clone() }).collect() } else { Vec::new() };
    for i in 0..n {
        match op {
            "and" | "unless" => {
                for (k, ser) in r.iter().enumerate() {
                    if ser.pts[i].is_some() {
                        present[ri[k]] = i;
                    }
                }
                for (k, ser) in out_l.iter_mut().enumerate() {
                    let hit = present[li[k]] == i;
                    if (op == "and") != hit {
                        ser.pts[i] = None;
                    }
                }
            }
            _ => {
                for (k, ser) in out_l.iter().enumerate() {
                    if ser.pts[i].is_some() {
                        present[li[k]] = i;
                    }
                }
                for (k, ser) in r.iter().enumerate() {
                    if ser.pts[i].is_some() && present[ri[k]] != i {
                        out_r[k].pts[i] = ser.pts[i];
                    }
                }
            }
        }
    }
    out_l.extend(out_r);
    out_l.retain(|s| s.pts.iter().any(Option::is_some));
    out_l
}

fn vector_vector(
    ev: &mut Evaluator,
    op: &str,
    b: &BinaryExpr,
    l: Vec<Ser>,
    r: Vec<Ser>,
    n: usize,
    return_bool: bool,
) -> R<Vec<Ser>> {
    let modifier = b.modifier.as_ref();
    let matching = modifier.and_then(|m| m.matching.as_ref());
    let card = modifier.map(|m| m.card.clone()).unwrap_or(VectorMatchCardinality::OneToOne);
    let include: Vec<String> = match &card {
        VectorMatchCardinality::ManyToOne(ls) | VectorMatchCardinality::OneToMany(ls) => ls.labels.clone(),
        _ => Vec::new(),
    };
    let one_to_many = matches!(card, VectorMatchCardinality::OneToMany(_));
    let one_to_one = matches!(card, VectorMatchCardinality::OneToOne);
    // The "many" side is walked, the "one" side is looked up.
    let (many, one) = if one_to_many { (r, l) } else { (l, r) };
    let (mi, oi, sigs) = sig_ids(&many, &one, matching);
    let cmp = is_comparison(op);
    let bop = Op::parse(op);
    let mut out: Vec<Ser> = Vec::new();
    let mut pair_out: HashMap<(usize, usize), usize> = HashMap::new();
    let mut one_at: Vec<(usize, usize)> = vec![(usize::MAX, 0); sigs.len()];
    let mut matched_one: Vec<usize> = vec![usize::MAX; sigs.len()];
    let mut by_labels: HashMap<Labels, usize> = HashMap::new();
    // Fill modifiers (`fill`, `fill_left`, `fill_right`): the right fill value
    // stands in for a missing "one"-side series, the left one for a missing
    // "many"-side series (as Prometheus applies them after swapping sides).
    let fills = modifier.map(|m| m.fill_values.clone()).unwrap_or_default();
    let (fill_one, fill_many) = (fills.rhs, fills.lhs);
    let mut many_at: Vec<usize> = vec![usize::MAX; sigs.len()];
    let empty = Labels::new();
    for i in 0..n {
        if i % 64 == 0 {
            ev.check_time()?;
        }
        for (k, ser) in one.iter().enumerate() {
            if ser.pts[i].is_none() {
                continue;
            }
            let sig = oi[k];
            if one_at[sig].0 == i {
                let prev = &one[one_at[sig].1];
                let side = if one_to_many { "left" } else { "right" };
                let matched = signature(&ser.labels, matching);
                return exec_err(format!(
                    "found duplicate series for the match group {} on the {side} hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                    go_labels(&matched),
                    go_labels(&prev.labels),
                    go_labels(&ser.labels)
                ));
            }
            one_at[sig] = (i, k);
        }
        for (k, ser) in many.iter().enumerate() {
            let Some(mv) = ser.pts[i] else { continue };
            let sig = mi[k];
            many_at[sig] = i;
            let (ok, ov) = if one_at[sig].0 == i {
                let ok = one_at[sig].1;
                let Some(ov) = one[ok].pts[i] else { continue };
                (ok, ov)
            } else if let Some(f) = fill_one {
                (NO_PARTNER, f)
            } else {
                continue;
            };
            if one_to_one && ok != NO_PARTNER {
                // Checked before filtering: Prometheus reports the ambiguity
                // even when the comparison would drop the samples.
                if matched_one[sig] == i {
                    return exec_err(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)",
                    );
                }
                matched_one[sig] = i;
            }
            let (fl, fr) = if one_to_many { (ov, mv) } else { (mv, ov) };
            let Some(value) = pair_value(bop, cmp, return_bool, fl, fr, fl) else { continue };
            let idx = match pair_out.get(&(k, ok)) {
                Some(&x) => x,
                None => {
                    let partner = one.get(ok).map(|x| &x.labels).unwrap_or(&empty);
                    let labels = result_labels(&ser.labels, partner, op, matching, one_to_one, &include);
                    let drop_name = return_bool || (cmp && ser.drop_name);
                    // Pairs giving the same result labels share one output
                    // series, so a clash shows up as an occupied step.
                    let x = match by_labels.get(&labels) {
                        Some(&x) => x,
                        None => {
                            by_labels.insert(labels.clone(), out.len());
                            out.push(Ser { labels, drop_name, pts: vec![None; n] });
                            out.len() - 1
                        }
                    };
                    out[x].drop_name |= drop_name;
                    pair_out.insert((k, ok), x);
                    x
                }
            };
            if out[idx].pts[i].is_some() {
                return exec_err(if one_to_one {
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                } else {
                    "multiple matches for matching labels; many-to-one matching must be unique on one side"
                });
            }
            out[idx].pts[i] = Some(value);
        }
        // `fill_left(v)`: one-side series without any partner stand in for a
        // missing many-side series valued `v`, labelled by their match group.
        if let Some(f) = fill_many {
            for (ok, ser) in one.iter().enumerate() {
                let Some(ov) = ser.pts[i] else { continue };
                let sig = oi[ok];
                if many_at[sig] == i {
                    continue;
                }
                let (fl, fr) = if one_to_many { (ov, f) } else { (f, ov) };
                let Some(value) = pair_value(bop, cmp, return_bool, fl, fr, fl) else { continue };
                let idx = match pair_out.get(&(NO_PARTNER, ok)) {
                    Some(&x) => x,
                    None => {
                        out.push(Ser { labels: sigs[sig].clone(), drop_name: false, pts: vec![None; n] });
                        pair_out.insert((NO_PARTNER, ok), out.len() - 1);
                        out.len() - 1
                    }
                };
                out[idx].pts[i] = Some(value);
            }
        }
    }
    Ok(out)
}

/// Marks a match made against a fill value instead of a real series.
const NO_PARTNER: usize = usize::MAX;

fn result_labels(
    many: &Labels,
    one: &Labels,
    op: &str,
    matching: Option<&LabelModifier>,
    one_to_one: bool,
    include: &[String],
) -> Labels {
    let mut l = many.clone();
    if !is_comparison(op) {
        l = super::eval::drop_metadata(&l);
    }
    if one_to_one {
        match matching {
            Some(LabelModifier::Include(on)) => l = l.keep_only(&on.labels),
            Some(LabelModifier::Exclude(ign)) => l = l.drop_names(&ign.labels),
            None => {}
        }
    }
    for name in include {
        match one.get(name) {
            Some(v) => {
                let v = v.to_string();
                l.set(name, &v)
            }
            None => l.remove(name),
        }
    }
    l
}
