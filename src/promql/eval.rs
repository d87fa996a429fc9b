//! The evaluator core: values, selectors, subqueries and the top-level driver.

use std::collections::HashMap;
use std::time::Instant;

use promql_parser::label::MatchOp;
use promql_parser::parser::{AtModifier, Expr, MatrixSelector, Offset, SubqueryExpr, VectorSelector};

use super::{EngineOptions, InstantSample, QueryError, Value};
use crate::tsdb::{
    is_stale_nan, Labels, MatchKind, Matcher, Querier, Sample, SelectHints, Series, StepValues, METRIC_NAME,
};

/// The step grid an expression is evaluated on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Steps {
    pub start: i64,
    pub end: i64,
    pub step: i64,
}

impl Steps {
    pub fn len(&self) -> usize {
        ((self.end - self.start) / self.step + 1).max(0) as usize
    }
    pub fn t(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }
}

/// One series of an instant-vector expression: a value (or nothing) per step.
#[derive(Clone, Debug)]
pub(crate) struct Ser {
    pub labels: Labels,
    /// Delayed `__name__` removal: the name goes at the end of the query.
    pub drop_name: bool,
    pub pts: Vec<Option<f64>>,
}

/// One series of a range vector.
#[derive(Clone, Debug)]
pub(crate) struct MSer {
    pub labels: Labels,
    pub drop_name: bool,
    pub samples: Vec<Sample>,
}

/// The value of an expression over the whole step grid.
pub(crate) enum Val {
    Scalar(Vec<f64>),
    Vector(Vec<Ser>),
    /// Only for an instant evaluation of a range-vector expression.
    Matrix(Vec<MSer>),
    Str(String),
}

impl Val {
    pub fn type_name(&self) -> &'static str {
        match self {
            Val::Scalar(_) => "scalar",
            Val::Vector(_) => "instant vector",
            Val::Matrix(_) => "range vector",
            Val::Str(_) => "string",
        }
    }
}

/// A range-vector function argument: series plus, per step, where the window ends.
pub(crate) struct RangeArg {
    pub series: Vec<MSer>,
    /// Window length in ms; windows are `(end - range, end]`.
    pub range: i64,
    /// Window end per step.
    pub ends: Vec<i64>,
}

impl RangeArg {
    /// Calls `f(step, lo, hi)` with each step's window `samples[lo..hi]` of one series.
    pub fn for_windows(&self, samples: &[Sample], f: impl FnMut(usize, usize, usize)) {
        for_windows(&self.ends, self.range, samples, f)
    }
}

/// Calls `f(step, lo, hi)` with each step's window `(end - range, end]` as `samples[lo..hi]`.
pub(crate) fn for_windows(ends: &[i64], range: i64, samples: &[Sample], mut f: impl FnMut(usize, usize, usize)) {
    let (mut lo, mut hi) = (0usize, 0usize);
    for (i, &end) in ends.iter().enumerate() {
        let start = end - range;
        // Windows only move forward, so both bounds only advance; if an
        // `@` pins them they simply stay put.
        if lo > 0 && samples[lo - 1].t > start {
            lo = samples.partition_point(|s| s.t <= start);
        }
        while lo < samples.len() && samples[lo].t <= start {
            lo += 1;
        }
        if hi > 0 && samples[hi - 1].t > end {
            hi = samples.partition_point(|s| s.t <= end);
        }
        while hi < samples.len() && samples[hi].t <= end {
            hi += 1;
        }
        f(i, lo, hi.max(lo));
    }
}

/// How [`Evaluator::stream_windows`] reads a selector.
#[derive(Clone, Copy)]
pub(crate) struct WindowRead<'a> {
    /// Window end per step.
    pub ends: &'a [i64],
    /// Window length in ms.
    pub width: i64,
    /// The range function (a hint for the store's rollups).
    pub func: Option<&'a str>,
    /// Stale markers are removed before reducing (range vectors).
    pub drop_stale: bool,
    /// Result cells per series, counted towards the sample limit.
    pub cells: usize,
    /// Only the newest sample of each window matters ([`SelectHints::latest`]).
    pub latest: bool,
}

pub(crate) struct Evaluator<'a> {
    pub q: &'a dyn Querier,
    pub opts: &'a EngineOptions,
    pub text: &'a str,
    pub query_start: i64,
    pub query_end: i64,
    /// Step of a range query; 0 for an instant query (what `step()` returns).
    pub query_step: i64,
    /// Label names that Prometheus would see as invalid UTF-8 (written with `\xNN` escapes).
    pub invalid_utf8: Vec<String>,
    pub sub_step: i64,
    /// The function whose range argument is evaluated next (a hint for the store's rollups).
    pub hint_func: Option<&'static str>,
    /// Hints passed with the selections being made.
    hint: Option<SelectHints>,
    deadline: Instant,
    loaded: usize,
    warnings: Vec<String>,
    infos: Vec<String>,
}

pub(crate) type R<T> = Result<T, QueryError>;

pub(crate) fn exec_err<T>(msg: impl Into<String>) -> R<T> {
    Err(QueryError::Execution(msg.into()))
}

/// Milliseconds of a parser duration, saturating.
pub(crate) fn dur_ms(d: &std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

pub(crate) fn offset_ms(o: &Option<Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => dur_ms(d),
        Some(Offset::Neg(d)) => -dur_ms(d),
    }
}

impl<'a> Evaluator<'a> {
    pub fn new(
        q: &'a dyn Querier,
        opts: &'a EngineOptions,
        text: &'a str,
        start: i64,
        end: i64,
        sub_step: i64,
    ) -> Self {
        Evaluator {
            q,
            opts,
            text,
            query_start: start,
            query_end: end,
            query_step: 0,
            invalid_utf8: invalid_utf8_strings(text),
            sub_step,
            hint_func: None,
            hint: None,
            deadline: Instant::now() + opts.timeout,
            loaded: 0,
            warnings: Vec::new(),
            infos: Vec::new(),
        }
    }

    pub fn into_annotations(self) -> (Vec<String>, Vec<String>) {
        (self.warnings, self.infos)
    }

    /// Adds a warning; `needle` locates the offending text for the `(line:col)` suffix.
    pub fn warn(&mut self, msg: &str, needle: &str) {
        let s = format!("PromQL warning: {msg} {}", self.pos(needle));
        if !self.warnings.contains(&s) {
            self.warnings.push(s);
        }
    }

    pub fn info(&mut self, msg: &str, needle: &str) {
        let s = format!("PromQL info: {msg} {}", self.pos(needle));
        if !self.infos.contains(&s) {
            self.infos.push(s);
        }
    }

    /// `(line:column)` of the first occurrence of `needle` in the query text.
    fn pos(&self, needle: &str) -> String {
        let off = if needle.is_empty() { None } else { self.text.find(needle) }.unwrap_or(0);
        let before = &self.text[..off];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(off, |n| off - n - 1) + 1;
        format!("({line}:{col})")
    }

    /// The lookback window; zero or negative means Prometheus's default 5 m.
    fn lookback(&self) -> i64 {
        if self.opts.lookback_delta_ms > 0 {
            self.opts.lookback_delta_ms
        } else {
            300_000
        }
    }

    pub fn check_time(&self) -> R<()> {
        if Instant::now() > self.deadline {
            return Err(QueryError::Timeout("query timed out in query execution".into()));
        }
        Ok(())
    }

    pub fn count_samples(&mut self, n: usize) -> R<()> {
        self.loaded = self.loaded.saturating_add(n);
        if self.loaded > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        Ok(())
    }

    /// Evaluates the query and shapes the result as the API wants it.
    pub fn run(&mut self, expr: &Expr, start: i64, end: i64, step: i64, instant: bool) -> R<Value> {
        let steps = Steps { start, end, step };
        self.query_step = if instant { 0 } else { step };
        let v = self.eval(expr, &steps)?;
        match v {
            Val::Scalar(vals) => {
                if instant {
                    Ok(Value::Scalar { t: start, v: vals.first().copied().unwrap_or(f64::NAN) })
                } else {
                    let samples = vals.iter().enumerate().map(|(i, &v)| Sample { t: steps.t(i), v }).collect();
                    Ok(Value::Matrix(vec![Series { labels: Labels::new(), samples }]))
                }
            }
            Val::Str(s) => {
                if instant {
                    Ok(Value::String { t: start, v: s })
                } else {
                    exec_err("invalid expression type \"string\" for range query, must be Scalar or instant Vector")
                }
            }
            Val::Vector(sers) => {
                let sers = finish_names(sers)?;
                if instant {
                    Ok(Value::Vector(
                        sers.into_iter()
                            .filter_map(|s| {
                                s.pts.first().copied().flatten().map(|v| InstantSample {
                                    labels: s.labels,
                                    t: start,
                                    v,
                                })
                            })
                            .collect(),
                    ))
                } else {
                    let mut out: Vec<Series> = sers
                        .into_iter()
                        .map(|s| Series {
                            labels: s.labels,
                            samples: s
                                .pts
                                .iter()
                                .enumerate()
                                .filter_map(|(i, p)| p.map(|v| Sample { t: steps.t(i), v }))
                                .collect(),
                        })
                        .filter(|s| !s.samples.is_empty())
                        .collect();
                    out.sort_by(|a, b| a.labels.cmp(&b.labels));
                    Ok(Value::Matrix(out))
                }
            }
            Val::Matrix(ms) => {
                if !instant {
                    return exec_err(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                    );
                }
                let mut out: Vec<Series> = ms
                    .into_iter()
                    .map(|m| {
                        let labels = if m.drop_name { drop_metadata(&m.labels) } else { m.labels };
                        Series { labels, samples: m.samples }
                    })
                    .filter(|s| !s.samples.is_empty())
                    .collect();
                out.sort_by(|a, b| a.labels.cmp(&b.labels));
                if out.windows(2).any(|w| w[0].labels == w[1].labels) {
                    return exec_err("vector cannot contain metrics with the same labelset");
                }
                Ok(Value::Matrix(out))
            }
        }
    }

    pub fn eval(&mut self, e: &Expr, s: &Steps) -> R<Val> {
        self.check_time()?;
        if s.len() > 1 && step_invariant(e) && has_selector(e) {
            // Everything below is pinned by `@`: evaluate once, copy to every step.
            let one = Steps { start: s.start, end: s.start, step: s.step };
            let n = s.len();
            return Ok(match self.eval_inner(e, &one)? {
                Val::Scalar(v) => Val::Scalar(vec![v.first().copied().unwrap_or(f64::NAN); n]),
                Val::Vector(sers) => Val::Vector(
                    sers.into_iter()
                        .map(|x| {
                            let p = x.pts.first().copied().flatten();
                            Ser { labels: x.labels, drop_name: x.drop_name, pts: vec![p; n] }
                        })
                        .collect(),
                ),
                other => other,
            });
        }
        self.eval_inner(e, s)
    }

    fn eval_inner(&mut self, e: &Expr, s: &Steps) -> R<Val> {
        match e {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; s.len()])),
            Expr::StringLiteral(l) => Ok(Val::Str(l.val.clone())),
            Expr::Paren(p) => self.eval(&p.expr, s),
            Expr::Unary(u) => match self.eval(&u.expr, s)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(mut sers) => {
                    for ser in &mut sers {
                        ser.drop_name = true;
                        for p in ser.pts.iter_mut().flatten() {
                            *p = -*p;
                        }
                    }
                    Ok(Val::Vector(sers))
                }
                other => exec_err(format!(
                    "unary expression only allowed on expressions of type scalar or instant vector, got {}",
                    other.type_name()
                )),
            },
            Expr::Binary(b) => super::binary::eval_binary(self, b, s),
            Expr::Aggregate(a) => super::aggregate::eval_aggregate(self, a, s),
            Expr::Call(c) => super::functions::eval_call(self, c, s),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_vector_selector(vs, s)?)),
            Expr::MatrixSelector(_) | Expr::Subquery(_) => {
                let ra = self.eval_range_arg(e, s)?;
                if s.len() != 1 {
                    return exec_err(
                        "invalid expression type \"range vector\" for range query, must be Scalar or instant Vector",
                    );
                }
                let mut out = Vec::with_capacity(ra.series.len());
                for m in &ra.series {
                    let mut win = Vec::new();
                    ra.for_windows(&m.samples, |_, lo, hi| win = m.samples[lo..hi].to_vec());
                    if !win.is_empty() {
                        out.push(MSer { labels: m.labels.clone(), drop_name: m.drop_name, samples: win });
                    }
                }
                Ok(Val::Matrix(out))
            }
            Expr::Extension(_) => exec_err("extension expressions are not supported"),
        }
    }

    /// Evaluates `e` and insists on an instant vector.
    pub fn eval_vector(&mut self, e: &Expr, s: &Steps) -> R<Vec<Ser>> {
        match self.eval(e, s)? {
            Val::Vector(v) => Ok(v),
            other => exec_err(format!("expected instant vector, got {}", other.type_name())),
        }
    }

    /// Evaluates `e` and insists on a scalar.
    pub fn eval_scalar(&mut self, e: &Expr, s: &Steps) -> R<Vec<f64>> {
        match self.eval(e, s)? {
            Val::Scalar(v) => Ok(v),
            other => exec_err(format!("expected scalar, got {}", other.type_name())),
        }
    }

    /// The time a selector with this `@`/offset reads at, for eval time `t`.
    fn eff_time(&self, at: &Option<AtModifier>, offset: i64, t: i64) -> i64 {
        let base = match at {
            None => t,
            Some(AtModifier::Start) => self.query_start,
            Some(AtModifier::End) => self.query_end,
            Some(AtModifier::At(st)) => system_time_ms(st),
        };
        base - offset
    }

    fn select(&mut self, vs: &VectorSelector, mint: i64, maxt: i64) -> R<Vec<Series>> {
        let alternatives = to_matchers(vs)?;
        let mut out: Vec<Series> = Vec::new();
        for ms in &alternatives {
            let got = match &self.hint {
                Some(h) => self.q.select_hinted(ms, mint, maxt, h),
                None => self.q.select(ms, mint, maxt),
            }
            .map_err(|e| QueryError::Execution(e.to_string()))?;
            out.extend(got);
        }
        if alternatives.len() > 1 {
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
            out.dedup_by(|a, b| a.labels == b.labels);
        }
        let n: usize = out.iter().map(|s| s.samples.len()).sum();
        self.count_samples(n)?;
        Ok(out)
    }

    /// Selects the data for windows `(end - width, end]`, one per step (ends
    /// ascending). Overlapping windows are read in one go; when the steps are
    /// far apart (a 30-day graph of `rate(x[5m])` at 1 h steps) only the
    /// windows are read, so memory follows what the query needs.
    fn select_windows(&mut self, vs: &VectorSelector, ends: &[i64], width: i64) -> R<Vec<Series>> {
        let mut intervals: Vec<(i64, i64)> = Vec::new();
        for &e in ends {
            let (lo, hi) = (e - width + 1, e);
            match intervals.last_mut() {
                Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
                _ => intervals.push((lo, hi)),
            }
        }
        let (Some(first), Some(last)) = (intervals.first().copied(), intervals.last().copied()) else {
            return Ok(Vec::new());
        };
        // Many tiny windows would mean many store round trips: read it all instead.
        if intervals.len() == 1 || intervals.len() > 2000 {
            return self.select(vs, first.0, last.1);
        }
        let mut merged: std::collections::BTreeMap<Labels, Vec<Sample>> = std::collections::BTreeMap::new();
        for (lo, hi) in intervals {
            self.check_time()?;
            for ser in self.select(vs, lo, hi)? {
                merged.entry(ser.labels).or_default().extend(ser.samples);
            }
        }
        Ok(merged.into_iter().map(|(labels, samples)| Series { labels, samples }).collect())
    }

    /// Window ends per step of a selector (its `@` and offset applied).
    pub fn window_ends(&self, vs: &VectorSelector, s: &Steps) -> Vec<i64> {
        let off = offset_ms(&vs.offset);
        (0..s.len()).map(|i| self.eff_time(&vs.at, off, s.t(i))).collect()
    }

    /// Reads the series for windows `(end - width, end]` one at a time, in
    /// label order: `reduce` turns each one's samples (stale markers removed
    /// when `drop_stale`) into its value per step, on whichever thread the
    /// store decoded it, and `f` gets the result; no query holds every
    /// series' samples. Each series counts its samples plus `cells` towards
    /// the sample limit. Returns false, having read nothing, where the
    /// collected path ([`Evaluator::select_windows`]) is needed: several `or`
    /// matcher sets, or windows far apart.
    pub fn stream_windows(
        &mut self,
        vs: &VectorSelector,
        w: &WindowRead,
        reduce: &(dyn Fn(&[Sample]) -> StepValues + Sync),
        f: &mut dyn FnMut(Labels, StepValues),
    ) -> R<bool> {
        let WindowRead { ends, width, func, drop_stale, cells, latest } = *w;
        let alternatives = to_matchers(vs)?;
        let [matchers] = alternatives.as_slice() else { return Ok(false) };
        let (Some(&lo), Some(&hi)) = (ends.iter().min(), ends.iter().max()) else { return Ok(true) };
        // Gaps between windows: select_windows reads them separately.
        let mut sorted = ends.to_vec();
        sorted.sort_unstable();
        let gaps = sorted.windows(2).filter(|w| w[1] - width > w[0]).count();
        if gaps > 0 && gaps < 2000 {
            return Ok(false);
        }
        let latest = latest && ends.len() == 1;
        let hints = SelectHints { step: self.query_step, range: width, func: func.map(str::to_string), latest };
        let q = self.q;
        let mut failed: Option<QueryError> = None;
        let mut k = 0usize;
        let store_reduce = |buf: &mut Vec<Sample>| -> Option<StepValues> {
            if drop_stale && buf.iter().any(|p| is_stale_nan(p.v)) {
                buf.retain(|p| !is_stale_nan(p.v));
            }
            (!buf.is_empty()).then(|| reduce(buf))
        };
        q.select_reduce(matchers, lo - width + 1, hi, &hints, &store_reduce, &mut |labels, n, r| {
            let step = (|| {
                if k.is_multiple_of(64) {
                    self.check_time()?;
                }
                k += 1;
                self.count_samples(n)?;
                if let Some(pts) = r {
                    self.count_samples(cells)?;
                    f(labels, pts);
                }
                Ok(())
            })();
            match step {
                Ok(()) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        })
        .map_err(|e| QueryError::Execution(e.to_string()))?;
        match failed {
            Some(e) => Err(e),
            None => Ok(true),
        }
    }

    pub fn eval_vector_selector(&mut self, vs: &VectorSelector, s: &Steps) -> R<Vec<Ser>> {
        let effs = self.window_ends(vs, s);
        let lookback = self.lookback();
        let mut out = Vec::new();
        let reduce = |samples: &[Sample]| lookback_points(samples, &effs, lookback, |x| x.v);
        let w =
            WindowRead { ends: &effs, width: lookback, func: None, drop_stale: false, cells: s.len(), latest: true };
        let streamed = self.stream_windows(vs, &w, &reduce, &mut |labels, pts| {
            if pts.iter().any(Option::is_some) {
                out.push(Ser { labels, drop_name: false, pts });
            }
        })?;
        if streamed {
            return Ok(out);
        }
        self.hint = Some(SelectHints { step: self.query_step, range: lookback, func: None, latest: false });
        let series = self.select_windows(vs, &effs, lookback);
        self.hint = None;
        let series = series?;
        // The result holds one cell per series and step.
        self.count_samples(series.len().saturating_mul(s.len()))?;
        let mut out = Vec::with_capacity(series.len());
        for (k, ser) in series.into_iter().enumerate() {
            if k % 256 == 0 {
                self.check_time()?;
            }
            let pts = lookback_points(&ser.samples, &effs, lookback, |x| x.v);
            if pts.iter().any(Option::is_some) {
                out.push(Ser { labels: ser.labels, drop_name: false, pts });
            }
        }
        Ok(out)
    }

    /// For `timestamp(selector)`: each point is the timestamp (seconds) of the sample found.
    pub fn eval_vector_selector_timestamps(&mut self, vs: &VectorSelector, s: &Steps) -> R<Vec<Ser>> {
        let off = offset_ms(&vs.offset);
        let effs: Vec<i64> = (0..s.len()).map(|i| self.eff_time(&vs.at, off, s.t(i))).collect();
        let lookback = self.lookback();
        let series = self.select_windows(vs, &effs, lookback)?;
        let mut out = Vec::with_capacity(series.len());
        for ser in series {
            let pts = lookback_points(&ser.samples, &effs, lookback, |x| x.t as f64 / 1000.0);
            if pts.iter().any(Option::is_some) {
                out.push(Ser { labels: ser.labels, drop_name: true, pts });
            }
        }
        Ok(out)
    }

    /// Evaluates a matrix selector or subquery (possibly parenthesised) into
    /// series plus per-step windows.
    pub fn eval_range_arg(&mut self, e: &Expr, s: &Steps) -> R<RangeArg> {
        let func = self.hint_func.take();
        match e {
            Expr::Paren(p) => {
                self.hint_func = func;
                self.eval_range_arg(&p.expr, s)
            }
            Expr::MatrixSelector(ms) => self.eval_matrix_selector(ms, s, func),
            Expr::Subquery(sq) => self.eval_subquery(sq, s),
            _ => exec_err(format!("expected range vector, got {}", self.eval(e, s)?.type_name())),
        }
    }

    fn eval_matrix_selector(&mut self, ms: &MatrixSelector, s: &Steps, func: Option<&str>) -> R<RangeArg> {
        let vs = &ms.vs;
        let range = dur_ms(&ms.range);
        let off = offset_ms(&vs.offset);
        let ends: Vec<i64> = (0..s.len()).map(|i| self.eff_time(&vs.at, off, s.t(i))).collect();
        self.hint = Some(SelectHints { step: self.query_step, range, func: func.map(str::to_string), latest: false });
        let series = self.select_windows(vs, &ends, range);
        self.hint = None;
        let series = series?;
        let series = series
            .into_iter()
            .map(|mut x| {
                x.samples.retain(|p| !is_stale_nan(p.v));
                MSer { labels: x.labels, drop_name: false, samples: x.samples }
            })
            .filter(|m| !m.samples.is_empty())
            .collect();
        Ok(RangeArg { series, range, ends })
    }

    fn eval_subquery(&mut self, sq: &SubqueryExpr, s: &Steps) -> R<RangeArg> {
        let range = dur_ms(&sq.range);
        let off = offset_ms(&sq.offset);
        let step = match &sq.step {
            Some(d) if dur_ms(d) > 0 => dur_ms(d),
            _ => self.sub_step,
        };
        let ends: Vec<i64> = (0..s.len()).map(|i| self.eff_time(&sq.at, off, s.t(i))).collect();
        let (Some(&first), Some(&last)) = (ends.iter().min(), ends.iter().max()) else {
            return Ok(RangeArg { series: Vec::new(), range, ends });
        };
        // First step-aligned time strictly inside the earliest window.
        let lo = first - range;
        let start = lo.div_euclid(step) * step + step;
        if start > last {
            return Ok(RangeArg { series: Vec::new(), range, ends });
        }
        let inner = Steps { start, end: last, step };
        if inner.len() > self.opts.max_samples {
            return Err(QueryError::TooManySamples);
        }
        let v = self.eval(&sq.expr, &inner)?;
        let series = match v {
            Val::Scalar(vals) => vec![MSer {
                labels: Labels::new(),
                drop_name: false,
                samples: vals.iter().enumerate().map(|(i, &v)| Sample { t: inner.t(i), v }).collect(),
            }],
            Val::Vector(sers) => {
                let mut out = Vec::with_capacity(sers.len());
                for ser in sers {
                    let samples: Vec<Sample> = ser
                        .pts
                        .iter()
                        .enumerate()
                        .filter_map(|(i, p)| p.map(|v| Sample { t: inner.t(i), v }))
                        .collect();
                    if !samples.is_empty() {
                        out.push(MSer { labels: ser.labels, drop_name: ser.drop_name, samples });
                    }
                }
                out
            }
            other => {
                return exec_err(format!(
                    "subquery is only allowed on instant vector or scalar, got {}",
                    other.type_name()
                ))
            }
        };
        let n = series.iter().map(|m| m.samples.len()).sum();
        self.count_samples(n)?;
        Ok(RangeArg { series, range, ends })
    }
}

/// For each eval time, the newest sample in `(t - lookback, t]`, unless it is a stale marker.
fn lookback_points(samples: &[Sample], effs: &[i64], lookback: i64, f: impl Fn(&Sample) -> f64) -> Vec<Option<f64>> {
    let mut pts = Vec::with_capacity(effs.len());
    let mut j = 0usize;
    for &t in effs {
        if j > 0 && samples[j - 1].t > t {
            j = samples.partition_point(|x| x.t <= t);
        }
        while j < samples.len() && samples[j].t <= t {
            j += 1;
        }
        let p = if j > 0 {
            let x = &samples[j - 1];
            (x.t > t - lookback && !is_stale_nan(x.v)).then(|| f(x))
        } else {
            None
        };
        pts.push(p);
    }
    pts
}

pub(crate) fn system_time_ms(st: &std::time::SystemTime) -> i64 {
    match st.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4),
        Err(e) => -i64::try_from(e.duration().as_millis()).unwrap_or(i64::MAX / 4),
    }
}

/// The matcher sets of a selector: one per `or` alternative.
pub(crate) fn to_matchers(vs: &VectorSelector) -> R<Vec<Vec<Matcher>>> {
    let conv = |m: &promql_parser::label::Matcher| -> R<Matcher> {
        let kind = match m.op {
            MatchOp::Equal => MatchKind::Equal,
            MatchOp::NotEqual => MatchKind::NotEqual,
            MatchOp::Re(_) => MatchKind::Regex,
            MatchOp::NotRe(_) => MatchKind::NotRegex,
        };
        Matcher::new(kind, m.name.clone(), m.value.clone())
            .map_err(|e| QueryError::Execution(format!("invalid regular expression in matcher {}: {e}", m.name)))
    };
    let mut base: Vec<Matcher> = vs.matchers.matchers.iter().map(conv).collect::<R<_>>()?;
    if let Some(name) = &vs.name {
        if !base.iter().any(|m| m.name == METRIC_NAME && m.kind == MatchKind::Equal && &m.value == name) {
            base.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
    }
    if vs.matchers.or_matchers.is_empty() {
        return Ok(vec![base]);
    }
    let mut out = Vec::new();
    for alt in &vs.matchers.or_matchers {
        let mut ms = base.clone();
        for m in alt {
            ms.push(conv(m)?);
        }
        out.push(ms);
    }
    Ok(out)
}

/// Applies delayed `__name__` removal; series that end up with equal label
/// sets merge when their points do not overlap, as in Prometheus.
pub(crate) fn finish_names(sers: Vec<Ser>) -> R<Vec<Ser>> {
    let mut out = Vec::with_capacity(sers.len());
    for mut s in sers {
        if s.drop_name {
            s.labels = drop_metadata(&s.labels);
            s.drop_name = false;
        }
        if s.pts.iter().any(Option::is_some) {
            out.push(s);
        }
    }
    merge_same_labels(out)
}

/// Merges series with equal label sets (and equal name-dropping) whose points
/// do not overlap; overlapping ones are an error, as in Prometheus.
pub(crate) fn merge_same_labels(sers: Vec<Ser>) -> R<Vec<Ser>> {
    let mut index: HashMap<(Labels, bool), usize> = HashMap::with_capacity(sers.len());
    let mut out: Vec<Ser> = Vec::with_capacity(sers.len());
    for s in sers {
        let key = (s.labels.clone(), s.drop_name);
        match index.get(&key) {
            Some(&i) => {
                let dst = &mut out[i];
                for (d, p) in dst.pts.iter_mut().zip(s.pts) {
                    if p.is_some() {
                        if d.is_some() {
                            return exec_err("vector cannot contain metrics with the same labelset");
                        }
                        *d = p;
                    }
                }
            }
            None => {
                index.insert(key, out.len());
                out.push(s);
            }
        }
    }
    Ok(out)
}

/// Prometheus (Go) reads `"\xNN"` in a string literal as a raw byte, so a
/// literal whose escapes do not form valid UTF-8 is an invalid label name
/// there. The parser we use turns each escape into the code point U+00NN
/// instead; this returns those parsed forms so the checks can reject them.
pub(crate) fn invalid_utf8_strings(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !text.contains("\\x") {
        return out;
    }
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let q = b[i];
        if q != b'"' && q != b'\'' {
            i += 1;
            continue;
        }
        let mut raw: Vec<u8> = Vec::new();
        let mut parsed = String::new();
        let mut has_high = false;
        i += 1;
        while i < b.len() && b[i] != q {
            if b[i] == b'\\' && i + 1 < b.len() {
                if b[i + 1] == b'x' && i + 3 < b.len() {
                    // `get`: the two bytes after `\x` may split a multi-byte character (found by fuzzing).
                    if let Some(v) = text.get(i + 2..i + 4).and_then(|h| u8::from_str_radix(h, 16).ok()) {
                        raw.push(v);
                        parsed.push(char::from(v));
                        has_high |= v >= 0x80;
                        i += 4;
                        continue;
                    }
                }
                raw.push(b[i + 1]);
                parsed.push(char::from(b[i + 1]));
                i += 2;
                continue;
            }
            raw.push(b[i]);
            if b[i] < 0x80 {
                parsed.push(char::from(b[i]));
            }
            i += 1;
        }
        i += 1;
        if has_high && std::str::from_utf8(&raw).is_err() {
            out.push(parsed);
        }
    }
    out
}

/// Go's `%q` of a string Prometheus holds as raw bytes (see [`invalid_utf8_strings`]).
pub(crate) fn go_quote_bytes(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) >= 0x80 && (c as u32) <= 0xff => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Functions whose value depends on the evaluation time even with fixed inputs.
const TIME_DEPENDENT: &[&str] = &[
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
    "step",
    "start",
    "end",
    "range",
];

/// True when `e` gives the same value at every step (all selectors pinned by `@`).
pub(crate) fn step_invariant(e: &Expr) -> bool {
    match e {
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) => true,
        Expr::VectorSelector(vs) => vs.at.is_some(),
        Expr::MatrixSelector(ms) => ms.vs.at.is_some(),
        Expr::Subquery(sq) => sq.at.is_some(),
        Expr::Paren(p) => step_invariant(&p.expr),
        Expr::Unary(u) => step_invariant(&u.expr),
        Expr::Binary(b) => step_invariant(&b.lhs) && step_invariant(&b.rhs),
        Expr::Aggregate(a) => step_invariant(&a.expr) && a.param.as_deref().is_none_or(step_invariant),
        Expr::Call(c) => !TIME_DEPENDENT.contains(&c.func.name) && c.args.args.iter().all(|a| step_invariant(a)),
        Expr::Extension(_) => false,
    }
}

fn has_selector(e: &Expr) -> bool {
    match e {
        Expr::VectorSelector(_) | Expr::MatrixSelector(_) | Expr::Subquery(_) => true,
        Expr::Paren(p) => has_selector(&p.expr),
        Expr::Unary(u) => has_selector(&u.expr),
        Expr::Binary(b) => has_selector(&b.lhs) || has_selector(&b.rhs),
        Expr::Aggregate(a) => has_selector(&a.expr),
        Expr::Call(c) => c.args.args.iter().any(|a| has_selector(a)),
        _ => false,
    }
}

/// Labels that describe the metric rather than the series: `__name__` and
/// the `__type__`/`__unit__` metadata labels. Operations that change what a
/// value means drop all three together.
pub(crate) const METADATA_LABELS: [&str; 3] = [METRIC_NAME, "__type__", "__unit__"];

/// A copy of `l` without the metric name and metadata labels.
pub(crate) fn drop_metadata(l: &Labels) -> Labels {
    l.drop_names(&METADATA_LABELS)
}
