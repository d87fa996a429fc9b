//! The rule manager: loads rule files, runs every group on its own interval
//! in its own task (a slow group never delays another), restores `for` state
//! after the first evaluation, reloads without losing alert state, and keeps
//! per-group metrics.

use super::file::{load_rule_file, NameValidation, RuleFileError};
use super::group::{EvalContext, Group};
use crate::promql::Engine;
use crate::tsdb::{Labels, Storage};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::group::AlertSink;

/// Settings of the rule manager.
#[derive(Debug, Clone)]
pub struct ManagerOptions {
    /// Interval of groups without their own (`global.evaluation_interval`).
    pub default_interval: Duration,
    pub external_labels: Labels,
    /// Base URL used in alert generator links and `$externalURL`.
    pub external_url: String,
    /// Minimum time between re-sends of a firing alert (Prometheus: 1 m).
    pub resend_delay: Duration,
    /// How far back restore looks for ALERTS_FOR_STATE (Prometheus: 1 h).
    pub outage_tolerance: Duration,
    /// Minimum `for` for restore, and least pending time left after it (10 m).
    pub for_grace_period: Duration,
    /// Whether to restore `for` state after start-up.
    pub restore: bool,
}

impl Default for ManagerOptions {
    fn default() -> Self {
        ManagerOptions {
            default_interval: Duration::from_secs(60),
            external_labels: Labels::new(),
            external_url: String::new(),
            resend_delay: Duration::from_secs(60),
            outage_tolerance: Duration::from_secs(3600),
            for_grace_period: Duration::from_secs(600),
            restore: true,
        }
    }
}

/// Why a reload failed (the old rules stay in force).
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Files(Vec<RuleFileError>),
    #[error("{0}")]
    Pattern(String),
    #[error("{0}")]
    Group(String),
}

/// Label set of the per-group metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GroupLabels {
    pub rule_group: String,
}

/// Per-group rule metrics (names follow Prometheus's `prometheus_rule_*`).
#[derive(Default)]
pub struct RuleMetrics {
    pub evaluations: Family<GroupLabels, Counter>,
    pub evaluation_failures: Family<GroupLabels, Counter>,
    pub iterations_missed: Family<GroupLabels, Counter>,
    pub last_duration_seconds: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    pub last_evaluation_timestamp_seconds: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    pub interval_seconds: Family<GroupLabels, Gauge<f64, AtomicU64>>,
    pub rules: Family<GroupLabels, Gauge>,
}

impl RuleMetrics {
    /// Registers every metric in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register("sightline_rule_evaluations", "Rule evaluations, by group", self.evaluations.clone());
        registry.register(
            "sightline_rule_evaluation_failures",
            "Rule evaluations that failed, by group",
            self.evaluation_failures.clone(),
        );
        registry.register(
            "sightline_rule_group_iterations_missed",
            "Group evaluations missed because one ran too long",
            self.iterations_missed.clone(),
        );
        registry.register(
            "sightline_rule_group_last_duration_seconds",
            "Duration of the last group evaluation",
            self.last_duration_seconds.clone(),
        );
        registry.register(
            "sightline_rule_group_last_evaluation_timestamp_seconds",
            "Time of the last group evaluation",
            self.last_evaluation_timestamp_seconds.clone(),
        );
        registry.register(
            "sightline_rule_group_interval_seconds",
            "Evaluation interval of the group",
            self.interval_seconds.clone(),
        );
        registry.register("sightline_rule_group_rules", "Rules in the group", self.rules.clone());
    }

    /// The metrics alone in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut r = Registry::default();
        self.register(&mut r);
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &r);
        out
    }

    fn observe(&self, g: &Group, failures_before: u64) {
        let l = GroupLabels { rule_group: format!("{};{}", g.file.display(), g.name) };
        self.evaluations.get_or_create(&l).inc_by(g.rules.len() as u64);
        self.evaluation_failures.get_or_create(&l).inc_by(g.failures.saturating_sub(failures_before));
        self.last_duration_seconds.get_or_create(&l).set(g.last_duration);
        self.last_evaluation_timestamp_seconds.get_or_create(&l).set(g.last_evaluation.unwrap_or(0) as f64 / 1000.0);
        self.interval_seconds.get_or_create(&l).set(g.interval_ms as f64 / 1000.0);
        self.rules.get_or_create(&l).set(g.rules.len() as i64);
    }
}

/// A shared, lockable group.
pub type SharedGroup = Arc<Mutex<Group>>;

struct Running {
    group: SharedGroup,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Runs rule groups.
pub struct RuleManager {
    ctx: EvalContext,
    opts: ManagerOptions,
    groups: Mutex<Vec<Running>>,
    files: Mutex<Vec<PathBuf>>,
    /// Metrics of all groups.
    pub metrics: Arc<RuleMetrics>,
}

/// Locks a mutex even if a panicking evaluation poisoned it.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RuleManager {
    /// A manager writing to and reading from `storage`, handing alerts to `sink`.
    pub fn new(
        engine: Arc<Engine>,
        storage: Arc<dyn Storage>,
        sink: Option<Arc<dyn AlertSink>>,
        opts: ManagerOptions,
    ) -> Arc<Self> {
        let ctx = EvalContext {
            engine,
            storage,
            external_labels: opts.external_labels.clone(),
            external_url: opts.external_url.trim_end_matches('/').to_string(),
            sink,
            resend_delay_ms: opts.resend_delay.as_millis() as i64,
        };
        Arc::new(RuleManager {
            ctx,
            opts,
            groups: Mutex::new(Vec::new()),
            files: Mutex::new(Vec::new()),
            metrics: Arc::new(RuleMetrics::default()),
        })
    }

    /// Loads the rule files named by a config's `rule_files` patterns.
    pub fn reload_config(self: &Arc<Self>, cfg: &crate::config::Config) -> Result<(), ReloadError> {
        let files = super::file::expand_rule_files(&cfg.rule_files, &cfg.base_dir).map_err(ReloadError::Pattern)?;
        self.reload(&files)
    }

    /// Replaces the rules with those in `files`. When any file is broken,
    /// nothing changes and every error is returned. Alert state of groups
    /// that keep their file and name carries over. Inside a tokio runtime
    /// each group gets its own task; outside one, groups only run through
    /// [`RuleManager::eval_all_at`].
    pub fn reload(self: &Arc<Self>, files: &[PathBuf]) -> Result<(), ReloadError> {
        let mut errs = Vec::new();
        let mut defs = Vec::new();
        for f in files {
            match load_rule_file(f, NameValidation::Utf8) {
                Ok(rf) => defs.extend(rf.groups),
                Err(e) => errs.push(e),
            }
        }
        if !errs.is_empty() {
            return Err(ReloadError::Files(errs));
        }
        let default_ms = self.opts.default_interval.as_millis() as i64;
        let mut new_groups = Vec::new();
        for d in &defs {
            let mut g = Group::new(d, default_ms).map_err(ReloadError::Group)?;
            if self.opts.restore {
                g.enable_restore();
            }
            new_groups.push(g);
        }
        let mut running = lock(&self.groups);
        for g in &mut new_groups {
            if let Some(old) = running.iter().find(|r| {
                let o = lock(&r.group);
                o.name == g.name && o.file == g.file
            }) {
                g.copy_state(&lock(&old.group));
            }
        }
        for r in running.drain(..) {
            if let Some(t) = r.task {
                t.abort();
            }
        }
        for g in new_groups {
            let shared = Arc::new(Mutex::new(g));
            let task =
                tokio::runtime::Handle::try_current().ok().map(|h| h.spawn(self.clone().run_group(shared.clone())));
            running.push(Running { group: shared, task });
        }
        *lock(&self.files) = files.to_vec();
        Ok(())
    }

    /// Stops every group task.
    pub fn stop(&self) {
        for r in lock(&self.groups).iter_mut() {
            if let Some(t) = r.task.take() {
                t.abort();
            }
        }
    }

    /// The groups, in file order.
    pub fn groups(&self) -> Vec<SharedGroup> {
        lock(&self.groups).iter().map(|r| r.group.clone()).collect()
    }

    /// Copies of every group as of now (for UI pages; evaluation goes on).
    pub fn snapshot(&self) -> Vec<Group> {
        self.groups().iter().map(|g| lock(g).clone()).collect()
    }

    /// Pending and firing alerts of every rule: (rule name, rule expression, alert).
    pub fn active_alerts(&self) -> Vec<(String, String, super::group::ActiveAlert)> {
        let mut out = Vec::new();
        for g in self.groups() {
            let g = lock(&g);
            for (r, a) in g.alerts() {
                if a.state != super::group::AlertState::Inactive {
                    out.push((r.def.name.clone(), r.def.expr.clone(), a.clone()));
                }
            }
        }
        out
    }

    /// The rule files currently loaded.
    pub fn files(&self) -> Vec<PathBuf> {
        lock(&self.files).clone()
    }

    /// Evaluates every group once at `ts_ms` (tests, and `eval_at` callers).
    pub fn eval_all_at(&self, ts_ms: i64) {
        for g in self.groups() {
            self.eval_group(&g, ts_ms);
        }
    }

    fn eval_group(&self, g: &SharedGroup, ts_ms: i64) {
        let mut g = lock(g);
        let before = g.failures;
        g.eval_at(&self.ctx, ts_ms);
        if g.restore_pending {
            g.restore_for_state(
                self.ctx.storage.as_ref(),
                ts_ms,
                self.opts.outage_tolerance.as_millis() as i64,
                self.opts.for_grace_period.as_millis() as i64,
            );
        }
        self.metrics.observe(&g, before);
    }

    async fn run_group(self: Arc<Self>, g: SharedGroup) {
        let (interval, offset) = {
            let gl = lock(&g);
            let interval = gl.interval_ms.max(1);
            // Spread groups over the interval as Prometheus does, by a hash.
            let h = Labels::from_pairs([("file", gl.file.to_string_lossy().to_string()), ("name", gl.name.clone())])
                .stable_hash();
            (interval, (h % interval as u64) as i64)
        };
        let label = {
            let gl = lock(&g);
            GroupLabels { rule_group: format!("{};{}", gl.file.display(), gl.name) }
        };
        let mut next = next_tick(crate::tsdb::now_millis(), interval, offset);
        loop {
            let wait = next - crate::tsdb::now_millis();
            if wait > 0 {
                tokio::time::sleep(Duration::from_millis(wait as u64)).await;
            }
            let me = self.clone();
            let gg = g.clone();
            let ts = next;
            // Evaluation is blocking work (queries may read SQLite).
            if tokio::task::spawn_blocking(move || me.eval_group(&gg, ts)).await.is_err() {
                tracing::error!(group = %label.rule_group, "rule group evaluation panicked");
            }
            let now = crate::tsdb::now_millis();
            next += interval;
            if next <= now {
                let missed = (now - next) / interval + 1;
                self.metrics.iterations_missed.get_or_create(&label).inc_by(missed as u64);
                next += missed * interval;
            }
        }
    }
}

/// The first evaluation time after `now` on the group's grid.
fn next_tick(now: i64, interval: i64, offset: i64) -> i64 {
    let base = now - now.rem_euclid(interval) + offset;
    if base > now {
        base
    } else {
        base + interval
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_stay_on_the_grid() {
        assert_eq!(next_tick(1000, 60_000, 5_000), 5_000);
        assert_eq!(next_tick(6000, 60_000, 5_000), 65_000);
        assert_eq!(next_tick(65_000, 60_000, 5_000), 125_000);
    }
}
