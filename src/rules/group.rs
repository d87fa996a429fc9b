//! Rule groups and their rules: evaluation at a given time, the alert state
//! machine (inactive → pending → firing → resolved, `for`,
//! `keep_firing_for`), the ALERTS / ALERTS_FOR_STATE series, stale markers
//! for series that disappear, and restore of `for` state after a restart.
//!
//! Everything here is synchronous and driven by an explicit timestamp, so
//! tests control time; `manager` runs groups on their interval.

use super::file::{GroupDef, RuleDef, RuleKind};
use super::template::{expand_alert_template, AlertData, FuncMap, QueryFn};
use crate::promql::{Engine, Expr, Value};
use crate::tsdb::{Labels, Matcher, Querier, Storage, STALE_NAN};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

/// How long a resolved alert is kept (and re-sent) after it resolves.
pub const RESOLVED_RETENTION_MS: i64 = 15 * 60_000;

/// An alert as handed to the notify module and to Alertmanagers.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    /// Identifying labels (rule labels, `alertname`, external labels).
    pub labels: Labels,
    pub annotations: Labels,
    /// When the alert started firing (ms since the epoch).
    pub starts_at: i64,
    /// When it resolved, or until when it is valid if still firing (ms).
    pub ends_at: i64,
    /// Link back to the expression.
    pub generator_url: String,
}

impl Alert {
    /// True when the alert has resolved as of `now_ms`.
    pub fn is_resolved(&self, now_ms: i64) -> bool {
        self.ends_at <= now_ms
    }
}

/// Receives firing and resolved alerts (the notify module implements it).
pub trait AlertSink: Send + Sync {
    /// Hands over a batch of alerts; must not block for long.
    fn send(&self, alerts: Vec<Alert>);
}

/// State of one alert instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    Inactive,
    Pending,
    Firing,
}

impl AlertState {
    /// The lower-case name used in ALERTS and the API.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertState::Inactive => "inactive",
            AlertState::Pending => "pending",
            AlertState::Firing => "firing",
        }
    }
}

/// One alert instance of an alerting rule.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    pub state: AlertState,
    pub labels: Labels,
    pub annotations: Labels,
    pub value: f64,
    pub active_at: i64,
    pub fired_at: Option<i64>,
    pub resolved_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    pub valid_until: i64,
    pub keep_firing_since: Option<i64>,
}

impl ActiveAlert {
    fn needs_sending(&self, ts: i64, resend_delay: i64) -> bool {
        if self.state == AlertState::Pending {
            return false;
        }
        if let Some(r) = self.resolved_at {
            if self.last_sent_at.is_none_or(|l| r > l) {
                return true;
            }
        }
        match self.last_sent_at {
            None => true,
            Some(l) => l + resend_delay < ts,
        }
    }
}

/// Health of a rule after its last evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    Unknown,
    Ok,
    Err,
}

impl Health {
    /// The API's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Unknown => "unknown",
            Health::Ok => "ok",
            Health::Err => "err",
        }
    }
}

/// Evaluation facts of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleStatus {
    pub health: Health,
    pub last_error: Option<String>,
    /// Time of the last evaluation (ms), if any.
    pub last_evaluation: Option<i64>,
    /// Wall time the last evaluation took, in seconds.
    pub evaluation_seconds: f64,
}

impl Default for RuleStatus {
    fn default() -> Self {
        RuleStatus { health: Health::Unknown, last_error: None, last_evaluation: None, evaluation_seconds: 0.0 }
    }
}

/// A rule ready to evaluate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub def: RuleDef,
    expr: Expr,
    pub status: RuleStatus,
    /// Alert instances by label set (alerting rules only).
    pub active: BTreeMap<Labels, ActiveAlert>,
    /// Whether `for` state was restored (ALERTS are written only after).
    pub restored: bool,
    /// Series this rule wrote last time, for stale markers.
    last_series: HashSet<Labels>,
}

impl Rule {
    /// Compiles a validated rule definition.
    pub fn new(def: RuleDef) -> Result<Rule, String> {
        let expr = crate::promql::parse(&def.expr).map_err(|e| e.to_string())?;
        Ok(Rule {
            def,
            expr,
            status: RuleStatus::default(),
            active: BTreeMap::new(),
            restored: true,
            last_series: HashSet::new(),
        })
    }

    /// The parsed expression.
    pub fn expr(&self) -> &Expr {
        &self.expr
    }

    /// The rule's overall alert state: the worst of its instances.
    pub fn state(&self) -> AlertState {
        let mut s = AlertState::Inactive;
        for a in self.active.values() {
            match a.state {
                AlertState::Firing => return AlertState::Firing,
                AlertState::Pending => s = AlertState::Pending,
                AlertState::Inactive => {}
            }
        }
        s
    }
}

/// What a group needs from the outside world to evaluate.
#[derive(Clone)]
pub struct EvalContext {
    pub engine: Arc<Engine>,
    pub storage: Arc<dyn Storage>,
    pub external_labels: Labels,
    pub external_url: String,
    /// Where alerts go (none: nowhere).
    pub sink: Option<Arc<dyn AlertSink>>,
    /// Minimum time between re-sends of a firing alert (Prometheus: 1 m).
    pub resend_delay_ms: i64,
}

/// One rule group with its rules and their state.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub file: std::path::PathBuf,
    pub interval_ms: i64,
    pub query_offset_ms: i64,
    pub limit: usize,
    pub rules: Vec<Rule>,
    /// Time of the last evaluation (ms).
    pub last_evaluation: Option<i64>,
    /// Wall time of the last evaluation, seconds.
    pub last_duration: f64,
    /// Evaluations done and rule failures seen (for metrics).
    pub evaluations: u64,
    pub failures: u64,
    /// Whether restore of `for` state is still to be done after the first evaluation.
    pub restore_pending: bool,
}

impl Group {
    /// Builds a group from its definition; `default_interval_ms` applies when
    /// the group has none.
    pub fn new(def: &GroupDef, default_interval_ms: i64) -> Result<Group, String> {
        let rules = def.rules.iter().cloned().map(Rule::new).collect::<Result<Vec<_>, _>>()?;
        Ok(Group {
            name: def.name.clone(),
            file: def.file.clone(),
            interval_ms: def.interval.map_or(default_interval_ms, |d| d.as_millis() as i64).max(1),
            query_offset_ms: def.query_offset.map_or(0, |d| d.as_millis() as i64),
            limit: def.limit,
            rules,
            last_evaluation: None,
            last_duration: 0.0,
            evaluations: 0,
            failures: 0,
            restore_pending: false,
        })
    }

    /// Marks alerting rules with `for` as not yet restored: ALERTS series are
    /// held back until [`Group::restore_for_state`] has run.
    pub fn enable_restore(&mut self) {
        self.restore_pending = true;
        for r in &mut self.rules {
            if r.def.kind == RuleKind::Alerting {
                r.restored = false;
            }
        }
    }

    /// Takes over alert state and rule status from an older version of the
    /// same group (on reload), for rules that are still identical.
    pub fn copy_state(&mut self, old: &Group) {
        self.last_evaluation = old.last_evaluation;
        self.evaluations = old.evaluations;
        self.failures = old.failures;
        self.restore_pending = old.restore_pending;
        let mut used = HashSet::new();
        for r in &mut self.rules {
            let found = old.rules.iter().enumerate().find(|(i, o)| {
                !used.contains(i)
                    && o.def.name == r.def.name
                    && o.def.kind == r.def.kind
                    && o.def.labels == r.def.labels
            });
            if let Some((i, o)) = found {
                used.insert(i);
                r.active = o.active.clone();
                r.status = o.status.clone();
                r.restored = o.restored;
                r.last_series = o.last_series.clone();
            }
        }
    }

    /// Evaluates every rule in order at `ts_ms`, appends the results (and
    /// stale markers) to storage, and hands due alerts to the sink.
    pub fn eval_at(&mut self, ctx: &EvalContext, ts_ms: i64) {
        let started = Instant::now();
        let query_ts = ts_ms - self.query_offset_ms;
        for rule in &mut self.rules {
            let rstart = Instant::now();
            let out = match rule.def.kind {
                RuleKind::Recording => eval_recording(rule, ctx, query_ts, self.limit),
                RuleKind::Alerting => eval_alerting(rule, ctx, ts_ms, query_ts, self.limit),
            };
            rule.status.last_evaluation = Some(ts_ms);
            rule.status.evaluation_seconds = rstart.elapsed().as_secs_f64();
            let samples = match out {
                Ok(s) => {
                    rule.status.health = Health::Ok;
                    rule.status.last_error = None;
                    s
                }
                Err(e) => {
                    rule.status.health = Health::Err;
                    rule.status.last_error = Some(e);
                    self.failures += 1;
                    // Like Prometheus: a failed rule writes nothing, not even
                    // stale markers, so its series survive a passing error.
                    continue;
                }
            };
            // Append this rule's output before the next rule runs, so later
            // rules see it; mark vanished series stale.
            let mut app = ctx.storage.appender();
            let mut now = HashSet::new();
            for (l, v) in &samples {
                if let Err(e) = app.append(l, query_ts, *v) {
                    if !e.is_sample_error() {
                        rule.status.health = Health::Err;
                        rule.status.last_error = Some(e.to_string());
                    }
                }
                now.insert(l.clone());
            }
            for gone in rule.last_series.difference(&now) {
                let _ = app.append(gone, query_ts, STALE_NAN);
            }
            if let Err(e) = app.commit() {
                rule.status.health = Health::Err;
                rule.status.last_error = Some(e.to_string());
            }
            rule.last_series = now;
            // Prometheus sends nothing for a rule whose evaluation failed.
            if rule.def.kind == RuleKind::Alerting && rule.status.health == Health::Ok {
                send_alerts(rule, ctx, ts_ms, self.interval_ms);
            }
        }
        self.evaluations += 1;
        self.last_evaluation = Some(ts_ms);
        self.last_duration = started.elapsed().as_secs_f64();
    }

    /// Restores `active_at` of pending alerts from ALERTS_FOR_STATE after a
    /// restart, like Prometheus: only rules whose `for` is at least
    /// `grace_ms`, looking back at most `outage_tolerance_ms`.
    pub fn restore_for_state(&mut self, q: &dyn Querier, ts_ms: i64, outage_tolerance_ms: i64, grace_ms: i64) {
        let mint = ts_ms - outage_tolerance_ms;
        for rule in &mut self.rules {
            if rule.def.kind != RuleKind::Alerting {
                continue;
            }
            let hold = rule.def.for_.as_millis() as i64;
            if hold >= grace_ms {
                for a in rule.active.values_mut() {
                    let mut matchers = vec![Matcher::equal("__name__", "ALERTS_FOR_STATE")];
                    for l in a.labels.iter() {
                        matchers.push(Matcher::equal(&l.name, &l.value));
                    }
                    let Ok(series) = q.select(&matchers, mint, ts_ms) else {
                        continue;
                    };
                    let want = for_state_labels(&a.labels);
                    let Some(last) = series
                        .iter()
                        .filter(|s| s.labels == want)
                        .filter_map(|s| s.samples.iter().rev().find(|x| !crate::tsdb::is_stale_nan(x.v)).copied())
                        .next()
                    else {
                        continue;
                    };
                    // Prometheus works in whole seconds here.
                    let down_at = last.t / 1000 * 1000;
                    let mut restored = (last.v as i64) * 1000;
                    let spent = down_at - restored;
                    let remaining = hold - spent;
                    if remaining <= 0 {
                        // Was firing already: the next evaluation decides.
                    } else if remaining < grace_ms {
                        restored = ts_ms + grace_ms - hold;
                    } else {
                        restored += ts_ms - down_at;
                    }
                    a.active_at = restored;
                }
            }
            rule.restored = true;
        }
        self.restore_pending = false;
    }

    /// All alerts of all rules (for the API).
    pub fn alerts(&self) -> impl Iterator<Item = (&Rule, &ActiveAlert)> {
        self.rules.iter().flat_map(|r| r.active.values().map(move |a| (r, a)))
    }
}

/// Turns a query result into (labels, value) samples.
fn query_vector(ctx: &EvalContext, expr: &Expr, ts: i64) -> Result<Vec<(Labels, f64)>, String> {
    let res = ctx.engine.instant_query_expr(ctx.storage.as_ref(), expr, ts).map_err(|e| e.to_string())?;
    match res.value {
        Value::Vector(v) => Ok(v.into_iter().map(|s| (s.labels, s.v)).collect()),
        Value::Scalar { v, .. } => Ok(vec![(Labels::new(), v)]),
        _ => Err("rule result is not a vector or scalar".into()),
    }
}

fn eval_recording(rule: &mut Rule, ctx: &EvalContext, ts: i64, limit: usize) -> Result<Vec<(Labels, f64)>, String> {
    let v = query_vector(ctx, &rule.expr, ts)?;
    let mut out = Vec::with_capacity(v.len());
    let mut seen = HashSet::new();
    for (mut l, val) in v {
        l.set("__name__", &rule.def.name);
        for (k, lv) in &rule.def.labels {
            if lv.is_empty() {
                l.remove(k);
            } else {
                l.set(k, lv);
            }
        }
        if !seen.insert(l.clone()) {
            return Err("vector contains metrics with the same labelset after applying rule labels".into());
        }
        out.push((l, val));
    }
    if limit > 0 && out.len() > limit {
        return Err(format!("exceeded limit of {limit} with {} series", out.len()));
    }
    Ok(out)
}

fn template_funcs(ctx: &EvalContext, ts: i64) -> FuncMap {
    let engine = ctx.engine.clone();
    let storage = ctx.storage.clone();
    let q: QueryFn = Arc::new(move |query: &str| {
        let res = engine.instant_query(storage.as_ref(), query, ts).map_err(|e| e.to_string())?;
        match res.value {
            Value::Vector(v) => Ok(v.into_iter().map(|s| (labels_map(&s.labels), s.v)).collect()),
            Value::Scalar { v, .. } => Ok(vec![(BTreeMap::new(), v)]),
            Value::String { v, .. } => Ok(vec![([("__value__".to_string(), v)].into_iter().collect(), 0.0)]),
            Value::Matrix(_) => Err("query result is not a vector, scalar or string".into()),
        }
    });
    FuncMap::prometheus(Some(q), &ctx.external_url)
}

fn labels_map(l: &Labels) -> BTreeMap<String, String> {
    l.iter().map(|l| (l.name.clone(), l.value.clone())).collect()
}

fn eval_alerting(
    rule: &mut Rule,
    ctx: &EvalContext,
    ts: i64,
    query_ts: i64,
    limit: usize,
) -> Result<Vec<(Labels, f64)>, String> {
    let v = query_vector(ctx, &rule.expr, query_ts)?;
    let funcs = (!v.is_empty()).then(|| template_funcs(ctx, query_ts));
    let tname = format!("__alert_{}", rule.def.name);
    let mut fresh: BTreeMap<Labels, ActiveAlert> = BTreeMap::new();
    for (l, val) in &v {
        let funcs = funcs.as_ref().expect("set when v is non-empty");
        let data = AlertData {
            labels: l,
            external_labels: &ctx.external_labels,
            external_url: &ctx.external_url,
            value: *val,
        };
        // Prometheus keeps the error text as the value when expansion fails.
        let expand = |text: &str| match expand_alert_template(&tname, text, &data, funcs) {
            Ok(s) => s,
            Err(e) => format!("<error expanding template: {e}>"),
        };
        let mut labels = l.without_metric_name();
        for (k, t) in &rule.def.labels {
            let val = expand(t);
            if val.is_empty() {
                labels.remove(k);
            } else {
                labels.set(k, &val);
            }
        }
        labels.set("alertname", &rule.def.name);
        let mut annotations = Labels::new();
        for (k, t) in &rule.def.annotations {
            annotations.set(k, &expand(t));
        }
        if fresh.contains_key(&labels) {
            return Err("vector contains metrics with the same labelset after applying alert labels".into());
        }
        fresh.insert(
            labels.clone(),
            ActiveAlert {
                state: AlertState::Pending,
                labels,
                annotations,
                value: *val,
                active_at: ts,
                fired_at: None,
                resolved_at: None,
                last_sent_at: None,
                valid_until: 0,
                keep_firing_since: None,
            },
        );
    }
    let result_keys: HashSet<Labels> = fresh.keys().cloned().collect();
    for (k, a) in fresh {
        match rule.active.get_mut(&k) {
            Some(old) if old.state != AlertState::Inactive => {
                old.value = a.value;
                old.annotations = a.annotations;
            }
            _ => {
                rule.active.insert(k, a);
            }
        }
    }
    let hold = rule.def.for_.as_millis() as i64;
    let keep_for = rule.def.keep_firing_for.as_millis() as i64;
    let mut out = Vec::new();
    let mut active_count = 0;
    let mut remove = Vec::new();
    for (k, a) in rule.active.iter_mut() {
        if !result_keys.contains(k) {
            let mut keep_firing = false;
            if a.state == AlertState::Firing && keep_for > 0 {
                let since = *a.keep_firing_since.get_or_insert(ts);
                if ts - since < keep_for {
                    keep_firing = true;
                }
            }
            if a.state == AlertState::Pending || a.resolved_at.is_some_and(|r| ts - r > RESOLVED_RETENTION_MS) {
                remove.push(k.clone());
            }
            if a.state != AlertState::Inactive && !keep_firing {
                a.state = AlertState::Inactive;
                a.resolved_at = Some(ts);
            }
            if !keep_firing {
                continue;
            }
        } else {
            a.keep_firing_since = None;
        }
        active_count += 1;
        if a.state == AlertState::Pending && ts - a.active_at >= hold {
            a.state = AlertState::Firing;
            a.fired_at = Some(ts);
        }
        if rule.restored {
            let mut l = a.labels.clone();
            l.set("__name__", "ALERTS");
            l.set("alertstate", a.state.as_str());
            out.push((l, 1.0));
            out.push((for_state_labels(&a.labels), (a.active_at / 1000) as f64));
        }
    }
    for k in remove {
        rule.active.remove(&k);
    }
    if limit > 0 && active_count > limit {
        rule.active.clear();
        return Err(format!("exceeded limit of {limit} with {active_count} alerts"));
    }
    Ok(out)
}

fn for_state_labels(alert_labels: &Labels) -> Labels {
    let mut l = alert_labels.clone();
    l.set("__name__", "ALERTS_FOR_STATE");
    l
}

/// Prometheus's `/graph?g0.expr=...&g0.tab=1` link for an expression.
pub fn table_link(external_url: &str, expr: &str) -> String {
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    format!("{}/graph?g0.expr={q}&g0.tab=1", external_url.trim_end_matches('/'))
}

fn send_alerts(rule: &mut Rule, ctx: &EvalContext, ts: i64, interval_ms: i64) {
    let mut batch = Vec::new();
    let delta = ctx.resend_delay_ms.max(interval_ms);
    let url = table_link(&ctx.external_url, &rule.def.expr);
    for a in rule.active.values_mut() {
        if !a.needs_sending(ts, ctx.resend_delay_ms) {
            continue;
        }
        a.last_sent_at = Some(ts);
        a.valid_until = ts + 4 * delta;
        let mut labels = a.labels.clone();
        for l in ctx.external_labels.iter() {
            if labels.get(&l.name).is_none() {
                labels.set(&l.name, &l.value);
            }
        }
        batch.push(Alert {
            labels,
            annotations: a.annotations.clone(),
            starts_at: a.fired_at.unwrap_or(a.active_at),
            ends_at: a.resolved_at.unwrap_or(a.valid_until),
            generator_url: url.clone(),
        });
    }
    if let (Some(sink), false) = (&ctx.sink, batch.is_empty()) {
        sink.send(batch);
    }
}

/// Alerts of a group by rule name, for callers that do not need the rules.
pub fn alerts_by_rule(g: &Group) -> HashMap<String, Vec<ActiveAlert>> {
    let mut m: HashMap<String, Vec<ActiveAlert>> = HashMap::new();
    for (r, a) in g.alerts() {
        m.entry(r.def.name.clone()).or_default().push(a.clone());
    }
    m
}
