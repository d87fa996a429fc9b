//! Rule evaluation driven by an explicit clock: recording series, every alert
//! state transition, templates, ALERTS/ALERTS_FOR_STATE, the resend
//! schedule, failures, restore after restart, reload, and per-group tasks.

use sightline::promql::{Engine, EngineOptions};
use sightline::rules::group::{AlertState, Health};
use sightline::rules::manager::lock;
use sightline::rules::{Alert, AlertSink, ManagerOptions, RuleManager};
use sightline::tsdb::{is_stale_nan, Appendable, Labels, Matcher, MemStore, Querier};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

const MIN: i64 = 60_000;

#[derive(Default)]
struct Recorder(Mutex<Vec<(i64, Alert)>>, Mutex<i64>);

impl Recorder {
    fn take(&self) -> Vec<Alert> {
        std::mem::take(&mut *self.0.lock().unwrap()).into_iter().map(|(_, a)| a).collect()
    }
}

impl AlertSink for Recorder {
    fn send(&self, alerts: Vec<Alert>) {
        let now = *self.1.lock().unwrap();
        self.0.lock().unwrap().extend(alerts.into_iter().map(|a| (now, a)));
    }
}

fn write_rules(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn put(store: &MemStore, series: &[(&str, &str)], points: &[(i64, f64)]) {
    let l = Labels::from_pairs(series.iter().copied());
    let mut app = store.appender();
    for (t, v) in points {
        app.append(&l, *t, *v).unwrap();
    }
    app.commit().unwrap();
}

fn manager(store: &MemStore, sink: Arc<Recorder>, restore: bool) -> Arc<RuleManager> {
    let opts = ManagerOptions {
        external_labels: Labels::from_pairs([("cluster", "eu1")]),
        external_url: "http://sl:9090".into(),
        restore,
        ..Default::default()
    };
    RuleManager::new(Arc::new(Engine::new(EngineOptions::default())), Arc::new(store.clone()), Some(sink), opts)
}

fn last_value(store: &MemStore, matchers: &[Matcher], t: i64) -> Option<f64> {
    let s = store.select(matchers, t, t).unwrap();
    s.first().and_then(|s| s.samples.last()).map(|x| x.v)
}

fn state_of(m: &RuleManager, rule: &str) -> Vec<AlertState> {
    let mut out = Vec::new();
    for g in m.groups() {
        let g = lock(&g);
        for r in g.rules.iter().filter(|r| r.def.name == rule) {
            out.extend(r.active.values().map(|a| a.state));
        }
    }
    out
}

#[test]
fn recording_rules_run_in_order_and_write_series() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        &dir,
        "r.yml",
        "groups:\n- name: rec\n  rules:\n  - record: job:req:sum\n    expr: sum by (job) (req)\n    labels: {source: rule}\n  - record: job:req:double\n    expr: job:req:sum * 2\n",
    );
    let store = MemStore::new();
    put(&store, &[("__name__", "req"), ("job", "a"), ("i", "1")], &[(0, 1.0), (MIN, 2.0)]);
    put(&store, &[("__name__", "req"), ("job", "a"), ("i", "2")], &[(0, 3.0), (MIN, 4.0)]);
    let m = manager(&store, Arc::default(), false);
    m.reload(&[f]).unwrap();
    m.eval_all_at(MIN);
    let sum = last_value(
        &store,
        &[Matcher::equal("__name__", "job:req:sum"), Matcher::equal("source", "rule"), Matcher::equal("job", "a")],
        MIN,
    );
    assert_eq!(sum, Some(6.0));
    // The second rule saw the first one's result at the same timestamp.
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "job:req:double")], MIN), Some(12.0));
    // When the input disappears, the recorded series gets a stale marker.
    m.eval_all_at(MIN * 10);
    let s = store.select(&[Matcher::equal("__name__", "job:req:sum")], MIN * 10, MIN * 10).unwrap();
    assert!(s[0].samples.last().is_some_and(|x| is_stale_nan(x.v)));
}

#[test]
fn alert_goes_pending_firing_resolved_with_templates_and_resends() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        &dir,
        "a.yml",
        r#"groups:
- name: alerts
  rules:
  - alert: HighLoad
    expr: load > 1
    for: 2m
    labels:
      severity: '{{ if gt $value 5.0 }}page{{ else }}ticket{{ end }}'
    annotations:
      summary: '{{ $labels.instance }} load {{ $value | humanize }} in {{ $externalLabels.cluster }}'
      other: '{{ with query "count(load)" }}{{ . | first | value }}{{ end }} series; {{ printf "%.1f" $value }}'
"#,
    );
    let store = MemStore::new();
    // load = 3 from 0 to 10m, then 0.
    let pts: Vec<(i64, f64)> = (0..=20).map(|i| (i * MIN, if i <= 10 { 3.0 } else { 0.0 })).collect();
    put(&store, &[("__name__", "load"), ("instance", "h:1")], &pts);
    let sink = Arc::new(Recorder::default());
    let m = manager(&store, sink.clone(), false);
    m.reload(&[f]).unwrap();

    m.eval_all_at(0);
    assert_eq!(state_of(&m, "HighLoad"), vec![AlertState::Pending]);
    assert!(sink.take().is_empty(), "pending alerts are not sent");
    let alerts_at = |t: i64, state: &str| {
        last_value(&store, &[Matcher::equal("__name__", "ALERTS"), Matcher::equal("alertstate", state)], t)
    };
    assert_eq!(alerts_at(0, "pending"), Some(1.0));
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "ALERTS_FOR_STATE")], 0), Some(0.0));

    m.eval_all_at(MIN);
    assert_eq!(state_of(&m, "HighLoad"), vec![AlertState::Pending]);
    m.eval_all_at(2 * MIN);
    assert_eq!(state_of(&m, "HighLoad"), vec![AlertState::Firing]);
    assert_eq!(alerts_at(2 * MIN, "firing"), Some(1.0));
    let sent = sink.take();
    assert_eq!(sent.len(), 1);
    let a = &sent[0];
    assert_eq!(a.labels.get("alertname"), Some("HighLoad"));
    assert_eq!(a.labels.get("severity"), Some("ticket"));
    assert_eq!(a.labels.get("cluster"), Some("eu1"), "external labels are added");
    assert_eq!(a.annotations.get("summary"), Some("h:1 load 3 in eu1"));
    assert_eq!(a.annotations.get("other"), Some("1 series; 3.0"));
    assert_eq!(a.starts_at, 2 * MIN);
    assert_eq!(a.ends_at, 2 * MIN + 4 * MIN, "valid for 4 resend intervals");
    assert_eq!(a.generator_url, "http://sl:9090/graph?g0.expr=load+%3E+1&g0.tab=1");

    // Not re-sent within resend_delay (1m), re-sent after it.
    m.eval_all_at(3 * MIN);
    assert!(sink.take().is_empty());
    m.eval_all_at(3 * MIN + 1000);
    assert_eq!(sink.take().len(), 1);

    // Resolved at 11m: sent with ends_at = resolve time; ALERTS goes stale.
    for t in 4..=11 {
        m.eval_all_at(t * MIN);
    }
    sink.take();
    m.eval_all_at(11 * MIN + 30_000);
    let _ = sink.take();
    let states = state_of(&m, "HighLoad");
    assert_eq!(states, vec![AlertState::Inactive]);
    let s = store.select(&[Matcher::equal("__name__", "ALERTS")], 11 * MIN, 12 * MIN).unwrap();
    assert!(s.iter().any(|s| s.samples.last().is_some_and(|x| is_stale_nan(x.v))));
    // Resolved alerts keep being re-sent (every resend_delay) for 15 minutes.
    m.eval_all_at(13 * MIN);
    let r = sink.take();
    assert_eq!(r.len(), 1);
    assert!(r[0].ends_at <= 12 * MIN && r[0].is_resolved(13 * MIN), "{:?}", r[0]);
    m.eval_all_at(26 * MIN);
    assert!(!state_of(&m, "HighLoad").is_empty(), "kept within 15m of resolving");
    m.eval_all_at(27 * MIN);
    assert!(state_of(&m, "HighLoad").is_empty(), "dropped after 15m");
}

#[test]
fn keep_firing_for_holds_the_alert() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        &dir,
        "k.yml",
        "groups:\n- name: k\n  rules:\n  - alert: Flap\n    expr: up == 0\n    keep_firing_for: 3m\n",
    );
    let store = MemStore::new();
    put(
        &store,
        &[("__name__", "up"), ("job", "x")],
        &[(0, 0.0), (MIN, 1.0), (2 * MIN, 1.0), (3 * MIN, 1.0), (4 * MIN, 1.0), (5 * MIN, 1.0)],
    );
    let m = manager(&store, Arc::default(), false);
    m.reload(&[f]).unwrap();
    m.eval_all_at(0);
    assert_eq!(state_of(&m, "Flap"), vec![AlertState::Firing], "for: 0 fires at once");
    m.eval_all_at(MIN);
    m.eval_all_at(3 * MIN);
    assert_eq!(state_of(&m, "Flap"), vec![AlertState::Firing], "kept firing for 3m after the condition cleared");
    let since = lock(&m.groups()[0]).rules[0].active.values().next().unwrap().keep_firing_since;
    assert_eq!(since, Some(MIN));
    m.eval_all_at(4 * MIN);
    assert_eq!(state_of(&m, "Flap"), vec![AlertState::Inactive]);
}

#[test]
fn failing_rule_is_unhealthy_and_group_continues() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        &dir,
        "e.yml",
        "groups:\n- name: e\n  rules:\n  - record: bad\n    expr: a + on(k) b\n  - record: good\n    expr: vector(7)\n",
    );
    let store = MemStore::new();
    put(&store, &[("__name__", "a"), ("k", "1"), ("x", "1")], &[(0, 1.0)]);
    put(&store, &[("__name__", "b"), ("k", "1"), ("y", "1")], &[(0, 1.0)]);
    put(&store, &[("__name__", "b"), ("k", "1"), ("y", "2")], &[(0, 1.0)]);
    let m = manager(&store, Arc::default(), false);
    m.reload(&[f]).unwrap();
    m.eval_all_at(0);
    let g = lock(&m.groups()[0]).clone();
    assert_eq!(g.rules[0].status.health, Health::Err);
    assert!(
        g.rules[0].status.last_error.as_deref().is_some_and(|e| e.contains("many-to-many") || e.contains("duplicate")),
        "{:?}",
        g.rules[0].status
    );
    assert_eq!(g.rules[1].status.health, Health::Ok);
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "good")], 0), Some(7.0));
    assert!(m.metrics.encode().contains("sightline_rule_evaluation_failures_total"));
}

#[test]
fn for_state_is_restored_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let f =
        write_rules(&dir, "r.yml", "groups:\n- name: r\n  rules:\n  - alert: Slow\n    expr: lat > 1\n    for: 20m\n");
    let store = MemStore::new();
    let pts: Vec<(i64, f64)> = (0..=60).map(|i| (i * MIN, 5.0)).collect();
    put(&store, &[("__name__", "lat")], &pts);
    // First run: no restore (fresh), pending from t=0 for 10 minutes.
    let m1 = manager(&store, Arc::default(), false);
    m1.reload(std::slice::from_ref(&f)).unwrap();
    for t in 0..=10 {
        m1.eval_all_at(t * MIN);
    }
    assert_eq!(state_of(&m1, "Slow"), vec![AlertState::Pending]);
    m1.stop();
    // Restart 2 minutes later: restore shifts active_at by the downtime, so
    // the alert fires after 20m of observed pending time, not 20m from now.
    let m2 = manager(&store, Arc::default(), true);
    m2.reload(&[f]).unwrap();
    m2.eval_all_at(12 * MIN);
    let active_at = lock(&m2.groups()[0]).rules[0].active.values().next().unwrap().active_at;
    assert_eq!(active_at, 2 * MIN, "0 + 2m of downtime");
    // Not written before restore: the first evaluation holds ALERTS back.
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "ALERTS_FOR_STATE")], 12 * MIN), None);
    m2.eval_all_at(21 * MIN);
    assert_eq!(state_of(&m2, "Slow"), vec![AlertState::Pending]);
    m2.eval_all_at(22 * MIN);
    assert_eq!(state_of(&m2, "Slow"), vec![AlertState::Firing]);
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "ALERTS_FOR_STATE")], 22 * MIN), Some(120.0));
}

#[test]
fn reload_keeps_state_and_rejects_broken_files() {
    let dir = tempfile::tempdir().unwrap();
    let f =
        write_rules(&dir, "a.yml", "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    for: 5m\n");
    let store = MemStore::new();
    let m = manager(&store, Arc::default(), false);
    m.reload(std::slice::from_ref(&f)).unwrap();
    m.eval_all_at(0);
    m.eval_all_at(MIN);
    // A broken file: error returned, old rules and state kept.
    std::fs::write(&f, "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1\n").unwrap();
    let err = m.reload(std::slice::from_ref(&f)).unwrap_err().to_string();
    assert!(err.contains("a.yml") && err.contains("could not parse expression"), "{err}");
    assert_eq!(state_of(&m, "A"), vec![AlertState::Pending]);
    // A good change: the group keeps its pending alert (active since 0).
    std::fs::write(&f, "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: vector(1)\n    for: 5m\n  - record: r\n    expr: vector(2)\n").unwrap();
    m.reload(&[f]).unwrap();
    let g = lock(&m.groups()[0]).clone();
    assert_eq!(g.rules.len(), 2);
    assert_eq!(g.rules[0].active.values().next().map(|a| a.active_at), Some(0));
    m.eval_all_at(5 * MIN);
    assert_eq!(state_of(&m, "A"), vec![AlertState::Firing]);
}

#[test]
fn api_shapes() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(&dir, "a.yml", "groups:\n- name: g\n  interval: 30s\n  rules:\n  - alert: A\n    expr: vector(2)\n    labels: {sev: x}\n    annotations: {s: '{{ $value }}'}\n  - record: r\n    expr: vector(2)\n");
    let store = MemStore::new();
    let m = manager(&store, Arc::default(), false);
    m.reload(&[f]).unwrap();
    m.eval_all_at(1_000);
    let rules = sightline::rules::api::manager_rules(&m, &Default::default());
    let g = &rules["groups"][0];
    assert_eq!(g["name"], "g");
    assert_eq!(g["interval"], 30.0);
    assert_eq!(g["rules"][0]["type"], "alerting");
    assert_eq!(g["rules"][0]["state"], "firing");
    assert_eq!(g["rules"][0]["health"], "ok");
    assert_eq!(g["rules"][0]["alerts"][0]["value"], "2e+00");
    assert_eq!(g["rules"][0]["alerts"][0]["annotations"]["s"], "2");
    assert_eq!(g["rules"][0]["alerts"][0]["activeAt"], "1970-01-01T00:00:01Z");
    assert_eq!(g["rules"][1]["type"], "recording");
    assert_eq!(g["rules"][1]["lastEvaluation"], "1970-01-01T00:00:01Z");
    let only_rec = sightline::rules::api::manager_rules(
        &m,
        &sightline::rules::api::RulesFilter::from_pairs([("type", "record")]).unwrap(),
    );
    assert_eq!(only_rec["groups"][0]["rules"].as_array().map(Vec::len), Some(1));
    let active = m.active_alerts();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].0, "A");
    assert_eq!(active[0].2.value, 2.0);
    assert_eq!(m.snapshot()[0].rules.len(), 2);
    let alerts = sightline::rules::api::manager_alerts(&m);
    assert_eq!(alerts["alerts"][0]["labels"]["alertname"], "A");
    assert_eq!(alerts["alerts"][0]["state"], "firing");
}

/// A sink that blocks for alerts of one rule, to make its group slow.
struct SlowSink;
impl AlertSink for SlowSink {
    fn send(&self, alerts: Vec<Alert>) {
        if alerts.iter().any(|a| a.labels.get("alertname") == Some("Slow")) {
            std::thread::sleep(Duration::from_millis(1500));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_run_on_their_own_interval_and_a_slow_group_does_not_delay_others() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(
        &dir,
        "t.yml",
        "groups:\n- name: slow\n  interval: 100ms\n  rules:\n  - alert: Slow\n    expr: vector(1)\n- name: fast\n  interval: 100ms\n  rules:\n  - record: tick\n    expr: vector(1)\n",
    );
    let store = MemStore::new();
    let opts = ManagerOptions { resend_delay: Duration::from_millis(1), ..Default::default() };
    let m = RuleManager::new(
        Arc::new(Engine::new(EngineOptions::default())),
        Arc::new(store.clone()),
        Some(Arc::new(SlowSink)),
        opts,
    );
    m.reload(&[f]).unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    m.stop();
    let groups = m.groups();
    let (slow, fast) = (lock(&groups[0]).evaluations, lock(&groups[1]).evaluations);
    assert!(fast >= 10, "fast group evaluated {fast} times in 2s");
    assert!(slow <= 2, "slow group evaluated {slow} times");
    let n = store.select(&[Matcher::equal("__name__", "tick")], 0, i64::MAX).unwrap()[0].samples.len();
    assert!(n >= 10, "{n} tick samples");
    assert!(m.metrics.encode().contains("sightline_rule_group_iterations_missed"));
}

#[test]
fn restore_near_the_end_of_for_waits_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let f =
        write_rules(&dir, "r.yml", "groups:\n- name: r\n  rules:\n  - alert: Slow\n    expr: lat > 1\n    for: 20m\n");
    let store = MemStore::new();
    let pts: Vec<(i64, f64)> = (0..=60).map(|i| (i * MIN, 5.0)).collect();
    put(&store, &[("__name__", "lat")], &pts);
    let m1 = manager(&store, Arc::default(), false);
    m1.reload(std::slice::from_ref(&f)).unwrap();
    for t in 0..=15 {
        m1.eval_all_at(t * MIN);
    }
    m1.stop();
    // 15m spent pending, 5m left: less than the 10m grace period, so the
    // alert may fire no sooner than 10m after the restart (at 17m).
    let m2 = manager(&store, Arc::default(), true);
    m2.reload(&[f]).unwrap();
    m2.eval_all_at(17 * MIN);
    let active_at = lock(&m2.groups()[0]).rules[0].active.values().next().unwrap().active_at;
    assert_eq!(active_at, 7 * MIN);
    m2.eval_all_at(26 * MIN);
    assert_eq!(state_of(&m2, "Slow"), vec![AlertState::Pending]);
    m2.eval_all_at(27 * MIN);
    assert_eq!(state_of(&m2, "Slow"), vec![AlertState::Firing]);
}

#[test]
fn reload_config_expands_rule_file_globs() {
    let dir = tempfile::tempdir().unwrap();
    write_rules(&dir, "a.rules.yml", "groups:\n- name: a\n  rules:\n  - record: a\n    expr: vector(1)\n");
    write_rules(&dir, "b.rules.yml", "groups:\n- name: b\n  rules:\n  - record: b\n    expr: vector(2)\n");
    write_rules(&dir, "ignored.txt", "not yaml: [");
    let mut cfg = sightline::config::default_config("127.0.0.1:0");
    cfg.base_dir = dir.path().to_path_buf();
    cfg.rule_files = vec!["*.rules.yml".into()];
    let store = MemStore::new();
    let m = manager(&store, Arc::default(), false);
    m.reload_config(&cfg).unwrap();
    let names: Vec<String> = m.groups().iter().map(|g| lock(g).name.clone()).collect();
    assert_eq!(names, vec!["a", "b"]);
    assert_eq!(m.files().len(), 2);
}

#[test]
fn a_failing_evaluation_does_not_mark_series_stale() {
    let dir = tempfile::tempdir().unwrap();
    let f = write_rules(&dir, "s.yml", "groups:\n- name: s\n  rules:\n  - record: r\n    expr: a + on(k) b\n");
    let store = MemStore::new();
    put(&store, &[("__name__", "a"), ("k", "1")], &[(0, 1.0), (MIN, 1.0)]);
    put(&store, &[("__name__", "b"), ("k", "1"), ("y", "1")], &[(0, 1.0), (MIN, 1.0)]);
    // At 1m a second `b` makes the match many-to-many: the rule fails.
    put(&store, &[("__name__", "b"), ("k", "1"), ("y", "2")], &[(MIN, 1.0)]);
    let m = manager(&store, Arc::default(), false);
    m.reload(&[f]).unwrap();
    m.eval_all_at(0);
    assert_eq!(last_value(&store, &[Matcher::equal("__name__", "r")], 0), Some(2.0));
    m.eval_all_at(MIN);
    assert_eq!(lock(&m.groups()[0]).rules[0].status.health, Health::Err);
    let s = store.select(&[Matcher::equal("__name__", "r")], 0, MIN).unwrap();
    assert_eq!(s[0].samples.len(), 1, "no stale marker written: {:?}", s[0].samples);
}
