//! PromQL: parsing (via the `promql-parser` crate) and a hand-written evaluator
//! over any [`Querier`] that aims to give the same answers as Prometheus 3.x.
//!
//! Every query is evaluated as a range of steps (an instant query is a range of
//! one step), the way Prometheus's engine does: each node yields one value per
//! step, selectors read their data once for the whole range and slide windows
//! over it. Subtrees pinned with `@` are evaluated once and copied to every step.
//!
//! Semantics follow Prometheus 3 with delayed `__name__` removal (functions and
//! operators flag the name for removal; it goes when the query finishes), the
//! left-open windows `(t - range, t]`, a 5 m lookback, and the experimental
//! functions and aggregations (`limitk`, `limit_ratio`, `sort_by_label`,
//! `mad_over_time`, `histogram_quantiles`, `info()`, ...), `fill()` binary
//! modifiers, and `__type__`/`__unit__` labels dropped along with the name.
//!
//! Not supported: native histograms (float samples only), duration arithmetic
//! inside ranges/offsets and `anchored`/`smoothed` ranges (the parser lacks
//! them), and start timestamps (the store does not keep them). `tests/promql_conformance.rs` runs the
//! upstream test scripts; `tests/promql_skips.txt` lists what is skipped and why.
//!
//! Modules: `eval` (values, selectors, subqueries, driver), `binary`,
//! `aggregate`, `functions`, `timeutil` (UTC calendar for the date functions).

mod aggregate;
mod binary;
mod eval;
mod functions;
mod json;
pub mod series;
mod timeutil;

use std::time::Duration;

use crate::tsdb::{Labels, Querier};

pub use aggregate::go_float as format_float;
pub use json::response_body;
pub use promql_parser::parser::Expr;

/// Typed parse error with a byte position the UI can underline (None when unknown).
#[derive(Debug, Clone)]
pub struct ParseError {
    /// The parser's message, unchanged.
    pub message: String,
    /// Byte offset into the query of the offending token, when known.
    pub position: Option<usize>,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ParseError {}

/// Deepest nesting of parentheses/brackets/braces we accept: the parser and
/// the evaluator are recursive, so unbounded nesting would overflow the stack.
const MAX_NESTING: usize = 200;
/// Longest query text we accept (long operator chains nest just as deeply).
const MAX_QUERY_LEN: usize = 1024 * 1024;
/// Deepest expression tree the evaluator walks.
pub(crate) const MAX_EXPR_DEPTH: usize = 400;

/// Stack for parsing and evaluation: both recurse over the expression tree,
/// and callers (async runtimes' blocking pools) often have only 2 MiB.
const EVAL_STACK_BYTES: usize = 256 * 1024 * 1024;

/// Queries whose tree is at most this deep run on the caller's stack.
const INLINE_DEPTH: usize = 24;

/// Cheap upper bound on a query's tree depth from its text: brackets plus
/// operator characters (string contents included, which only overestimates).
fn text_depth_bound(query: &str) -> usize {
    query
        .chars()
        .filter(|c| matches!(c, '(' | '[' | '{' | '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' | '!'))
        .count()
        + query.split_whitespace().count()
}

/// Runs `f` on a scoped thread with a large stack (memory is only committed
/// as used) when `deep`, else right here. A panic in `f` comes back as `None`.
fn with_stack<T: Send>(deep: bool, f: impl FnOnce() -> T + Send) -> Option<T> {
    if !deep {
        return std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    }
    std::thread::scope(|scope| {
        match std::thread::Builder::new().name("promql".into()).stack_size(EVAL_STACK_BYTES).spawn_scoped(scope, f) {
            Ok(h) => h.join().ok(),
            // Could not start a thread (resource limits): nothing to do but try here.
            Err(_) => None,
        }
    })
}

/// Runs `f`, which walks the syntax tree of `query` (formatting, serializing),
/// on a stack sized for it: here for shallow queries, on a big-stack thread
/// for deep ones, as parsing does. `None` when `f` panicked.
pub fn with_stack_for<T: Send>(query: &str, f: impl FnOnce() -> T + Send) -> Option<T> {
    with_stack(text_depth_bound(query) > INLINE_DEPTH, f)
}

/// Parses a PromQL expression.
pub fn parse(query: &str) -> Result<Expr, ParseError> {
    match with_stack(text_depth_bound(query) > INLINE_DEPTH, || parse_here(query)) {
        Some(r) => r,
        None => Err(ParseError { message: "parse error: the parser failed on this input".into(), position: None }),
    }
}

fn parse_here(query: &str) -> Result<Expr, ParseError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(ParseError {
            message: format!("query is too long ({} bytes, limit {MAX_QUERY_LEN})", query.len()),
            position: None,
        });
    }
    let mut depth = 0usize;
    let mut binops = 0usize;
    let mut words = 0usize;
    let mut in_word = false;
    // Quote we are inside of, and whether the last character was a backslash.
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in query.char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' && q != '`' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        let word_char = !c.is_whitespace();
        if word_char && !in_word {
            words += 1;
        }
        in_word = word_char;
        match c {
            '"' | '\'' | '`' => quote = Some(c),
            '(' | '[' | '{' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(ParseError {
                        message: format!("query is nested too deeply (more than {MAX_NESTING} levels)"),
                        position: Some(i),
                    });
                }
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            '+' | '-' | '*' | '/' | '%' | '^' | '<' | '>' | '=' => {
                binops += 1;
                if binops > 2 * MAX_EXPR_DEPTH {
                    return Err(ParseError { message: "query has too many operators".into(), position: Some(i) });
                }
            }
            _ => {}
        }
    }
    // Operator chains like `a or b or c ...` have no symbol to count; bound
    // them by the number of words (outside string literals).
    if words > 8 * MAX_EXPR_DEPTH {
        return Err(ParseError { message: "query has too many terms".into(), position: None });
    }
    let expr = promql_parser::parser::parse(query)
        .map_err(|message| ParseError { position: guess_position(query, &message), message })?;
    if expr_depth(&expr, 0) > MAX_EXPR_DEPTH {
        return Err(ParseError { message: "query is nested too deeply".into(), position: None });
    }
    Ok(expr)
}

/// The parser's messages carry no positions; recover one for the messages
/// that name what they stumbled on, so the UI can underline it.
fn guess_position(query: &str, message: &str) -> Option<usize> {
    if message.contains("unexpected end of input") {
        return Some(query.len());
    }
    if message.starts_with("unclosed left parenthesis") {
        let mut open: Vec<usize> = Vec::new();
        for (i, c) in query.char_indices() {
            match c {
                '(' => open.push(i),
                ')' => {
                    open.pop();
                }
                _ => {}
            }
        }
        return open.last().copied();
    }
    // `...: 'x'` or `... 'name'`: the quoted text is what went wrong.
    let quoted = message.rsplit_once('\'').and_then(|(head, _)| head.rsplit_once('\'').map(|(_, q)| q));
    if let Some(q) = quoted.filter(|q| !q.is_empty()) {
        if message.starts_with("unknown function") {
            return query.find(&format!("{q}(")).or_else(|| query.find(q));
        }
        return query.find(q);
    }
    if let Some(re) = message.strip_prefix("illegal regex for ") {
        return query.find(re);
    }
    None
}

/// Depth of an expression tree, stopping early once past the limit.
pub(crate) fn expr_depth(e: &Expr, d: usize) -> usize {
    if d > MAX_EXPR_DEPTH {
        return d;
    }
    match e {
        Expr::Aggregate(a) => {
            let p = a.param.as_ref().map_or(d, |p| expr_depth(p, d + 1));
            p.max(expr_depth(&a.expr, d + 1))
        }
        Expr::Unary(u) => expr_depth(&u.expr, d + 1),
        Expr::Binary(b) => expr_depth(&b.lhs, d + 1).max(expr_depth(&b.rhs, d + 1)),
        Expr::Paren(p) => expr_depth(&p.expr, d + 1),
        Expr::Subquery(s) => expr_depth(&s.expr, d + 1),
        Expr::Call(c) => c.args.args.iter().map(|a| expr_depth(a, d + 1)).max().unwrap_or(d),
        _ => d,
    }
}

/// One element of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct InstantSample {
    /// The series' labels (without `__name__` when an operation dropped it).
    pub labels: Labels,
    /// Milliseconds since the epoch.
    pub t: i64,
    /// The sample value.
    pub v: f64,
}

/// A query result, shaped as in the Prometheus HTTP API. Times are ms since the epoch.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A number at the evaluation time.
    Scalar { t: i64, v: f64 },
    /// A string literal at the evaluation time.
    String { t: i64, v: String },
    /// An instant vector, in evaluation order (`sort()` and `topk()` order it).
    Vector(Vec<InstantSample>),
    /// Series with points: every range query, and instant queries of range vectors.
    /// Always sorted by labels.
    Matrix(Vec<crate::tsdb::Series>),
}

/// Limits and defaults of the engine.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// How far back an instant selector looks for a sample (Prometheus: 5 m).
    pub lookback_delta_ms: i64,
    /// Most samples one query may load or produce.
    pub max_samples: usize,
    /// Wall-clock limit of one query.
    pub timeout: Duration,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions { lookback_delta_ms: 300_000, max_samples: 50_000_000, timeout: Duration::from_secs(120) }
    }
}

/// The PromQL engine. Cheap to share; holds only options.
#[derive(Debug, Clone)]
pub struct Engine {
    opts: EngineOptions,
    /// Step of subqueries written without one (`[5m:]`): Prometheus uses the
    /// global evaluation interval, 1 m by default.
    default_subquery_step_ms: i64,
}

/// The outcome of a query: its value plus annotations.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result.
    pub value: Value,
    /// Annotations as Prometheus shows them (`PromQL warning: ...`).
    pub warnings: Vec<String>,
    /// Informational annotations (`PromQL info: ...`).
    pub infos: Vec<String>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The query does not parse (API error type `bad_data`).
    #[error("{0}")]
    Parse(ParseError),
    /// Evaluation failed, with Prometheus's wording where there is one.
    #[error("{0}")]
    Execution(String),
    /// The query ran past [`EngineOptions::timeout`].
    #[error("{0}")]
    Timeout(String),
    /// The query needed more than [`EngineOptions::max_samples`] samples.
    #[error("query processing would load too many samples into memory in query execution")]
    TooManySamples,
}

impl QueryError {
    /// The Prometheus API `errorType` for this error.
    pub fn error_type(&self) -> &'static str {
        match self {
            QueryError::Parse(_) => "bad_data",
            QueryError::Execution(_) | QueryError::TooManySamples => "execution",
            QueryError::Timeout(_) => "timeout",
        }
    }
}

impl Engine {
    /// An engine with the given limits.
    pub fn new(opts: EngineOptions) -> Self {
        Engine { opts, default_subquery_step_ms: 60_000 }
    }

    /// Sets the step used by subqueries that do not give one (default 1 m).
    pub fn with_default_subquery_step(mut self, step_ms: i64) -> Self {
        self.default_subquery_step_ms = step_ms.max(1);
        self
    }

    /// The options this engine was built with.
    pub fn options(&self) -> &EngineOptions {
        &self.opts
    }

    /// Evaluates `query` at `t_ms`.
    pub fn instant_query(&self, q: &dyn Querier, query: &str, t_ms: i64) -> Result<QueryResult, QueryError> {
        with_stack(text_depth_bound(query) > INLINE_DEPTH, || {
            let expr = parse_here(query).map_err(QueryError::Parse)?;
            self.run_here(q, &expr, query, t_ms, t_ms, 1, true)
        })
        .unwrap_or_else(internal_error)
    }

    /// Evaluates an already parsed expression at `t_ms`.
    pub fn instant_query_expr(&self, q: &dyn Querier, expr: &Expr, t_ms: i64) -> Result<QueryResult, QueryError> {
        self.run_expr(q, expr, t_ms, t_ms, 1, true)
    }

    /// Evaluates `query` at every step from `start_ms` to `end_ms`; the value
    /// is always a matrix sorted by labels.
    pub fn range_query(
        &self,
        q: &dyn Querier,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        with_stack(text_depth_bound(query) > INLINE_DEPTH, || {
            let expr = parse_here(query).map_err(QueryError::Parse)?;
            self.run_here(q, &expr, query, start_ms, end_ms, step_ms, false)
        })
        .unwrap_or_else(internal_error)
    }

    /// Range query over an already parsed expression.
    pub fn range_query_expr(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        start_ms: i64,
        end_ms: i64,
        step_ms: i64,
    ) -> Result<QueryResult, QueryError> {
        self.run_expr(q, expr, start_ms, end_ms, step_ms, false)
    }

    /// Runs an already parsed expression; its printed form stands in for the
    /// query text (annotation positions). Printing recurses too, so it happens
    /// on the evaluation stack.
    fn run_expr(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        start: i64,
        end: i64,
        step: i64,
        instant: bool,
    ) -> Result<QueryResult, QueryError> {
        let deep = expr_depth(expr, 0) > INLINE_DEPTH;
        with_stack(deep, || {
            let text = expr.to_string();
            self.run_here(q, expr, &text, start, end, step, instant)
        })
        .unwrap_or_else(internal_error)
    }

    #[allow(clippy::too_many_arguments)]
    fn run_here(
        &self,
        q: &dyn Querier,
        expr: &Expr,
        text: &str,
        start: i64,
        end: i64,
        step: i64,
        instant: bool,
    ) -> Result<QueryResult, QueryError> {
        if !instant {
            if step <= 0 {
                return Err(QueryError::Execution(
                    "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
                ));
            }
            if end < start {
                return Err(QueryError::Execution("end timestamp must not be before start time".into()));
            }
            if (end - start) / step > 11_000 {
                return Err(QueryError::Execution(
                    "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                        .into(),
                ));
            }
        }
        if expr_depth(expr, 0) > MAX_EXPR_DEPTH {
            return Err(QueryError::Execution("query is nested too deeply".into()));
        }
        let mut ev = eval::Evaluator::new(q, &self.opts, text, start, end, self.default_subquery_step_ms);
        let value = ev.run(expr, start, end, step, instant)?;
        let (warnings, infos) = ev.into_annotations();
        Ok(QueryResult { value, warnings, infos })
    }
}

/// A panic in the evaluator (a bug) fails the query, not the process.
fn internal_error() -> Result<QueryResult, QueryError> {
    Err(QueryError::Execution("internal error while evaluating the query".into()))
}

#[cfg(test)]
mod tests;

/// A series selector (`up{job=~"a|b"}`, `{__name__="x"} or {y="z"}` style
/// `or` groups included) as sets of store matchers, one set per `or` group:
/// what `match[]` means in the series, labels and federate APIs.
pub fn series_selector(selector: &str) -> Result<Vec<Vec<crate::tsdb::Matcher>>, SelectorError> {
    use crate::tsdb::{MatchKind, Matcher, METRIC_NAME};
    use promql_parser::label::MatchOp;
    let Expr::VectorSelector(vs) = parse(selector).map_err(SelectorError::Parse)? else {
        return Err(SelectorError::NotASelector(selector.to_string()));
    };
    let groups = if vs.matchers.or_matchers.is_empty() {
        vec![vs.matchers.matchers.clone()]
    } else {
        vs.matchers.or_matchers.clone()
    };
    let mut sets = Vec::with_capacity(groups.len());
    for group in groups {
        let mut set: Vec<Matcher> = vs.name.iter().map(|n| Matcher::equal(METRIC_NAME, n.clone())).collect();
        for m in group {
            let kind = match m.op {
                MatchOp::Equal => MatchKind::Equal,
                MatchOp::NotEqual => MatchKind::NotEqual,
                MatchOp::Re(_) => MatchKind::Regex,
                MatchOp::NotRe(_) => MatchKind::NotRegex,
            };
            set.push(
                Matcher::new(kind, m.name.clone(), m.value.clone()).map_err(|e| SelectorError::Regex(e.to_string()))?,
            );
        }
        sets.push(set);
    }
    Ok(sets)
}

/// Why a `match[]` selector was refused.
#[derive(Debug, thiserror::Error)]
pub enum SelectorError {
    #[error("{}", .0.message)]
    Parse(ParseError),
    #[error("{0:?} is not a series selector")]
    NotASelector(String),
    #[error("{0}")]
    Regex(String),
}
