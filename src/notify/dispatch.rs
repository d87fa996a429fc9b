//! The dispatcher: aggregation groups with their timers, and the
//! notification pipeline each flush runs — time mute → inhibit → silence →
//! dedup (notification log) → retry → deliver → log.

use super::alert::{fingerprint_hex, labelset_string, Alert};
use super::chart::ChartSource;
use super::config::{Config, Integration};
use super::inhibit::Inhibitor;
use super::receivers::{self, SendError};
use super::route::Route;
use super::silence::Silences;
use super::store::{DeliveryRecord, NflogEntry, Store};
use super::template::{Data, Templates};
use crate::tsdb::Labels;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// Everything derived from one configuration.
pub(crate) struct Runtime {
    pub config: Arc<Config>,
    pub route: Arc<Route>,
    pub inhibitor: Inhibitor,
    pub templates: Arc<Templates>,
}

/// One aggregation group: alerts of one route sharing the group labels.
pub(crate) struct Group {
    pub key: String,
    pub labels: Labels,
    pub receiver: String,
    pub fps: BTreeSet<u64>,
    pub next_flush: Instant,
    pub has_flushed: bool,
    pub busy: bool,
}

/// Mutable dispatcher state, behind one lock.
pub(crate) struct State {
    pub rt: Runtime,
    pub alerts: HashMap<u64, Alert>,
    /// By (route ID, group labels).
    pub groups: HashMap<(String, Labels), Group>,
}

/// Delivery counters and last result of one receiver.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReceiverStats {
    pub attempts: u64,
    pub failures: u64,
    pub last_attempt: Option<DateTime<Utc>>,
    pub last_ok: Option<bool>,
    pub last_error: Option<String>,
}

pub(crate) struct Shared {
    pub state: Mutex<State>,
    pub store: Arc<Store>,
    pub silences: Silences,
    pub stats: Mutex<HashMap<String, ReceiverStats>>,
    pub metrics: super::Metrics,
    pub external_url: String,
    /// Base URL chat services can fetch chart images from (None: links only).
    pub public_url: Option<String>,
    /// Where charts get their data; None until the server hands one over.
    pub charts: std::sync::RwLock<Option<Arc<dyn ChartSource>>>,
    /// The last suppression reason recorded per (group key, alert), so the
    /// history gets one row when an alert becomes muted, not one per flush.
    pub suppressed: Mutex<HashMap<(String, u64), String>>,
}

/// What a history row says about where a delivery came from.
#[derive(Clone, Debug, Default)]
pub(crate) struct HistoryCtx {
    pub group_key: String,
    pub route: String,
    pub timers: String,
    pub alerts: String,
}

/// "group_wait 30s, group_interval 5m, repeat_interval 4h".
pub(crate) fn timers_text(r: &Route) -> String {
    format!(
        "group_wait {}, group_interval {}, repeat_interval {}",
        crate::scrape::format_duration(r.group_wait),
        crate::scrape::format_duration(r.group_interval),
        crate::scrape::format_duration(r.repeat_interval)
    )
}

/// The alerts' label sets for the history, cut at a sane length.
fn alerts_text<'a>(alerts: impl Iterator<Item = &'a Alert>) -> String {
    let s = alerts.map(|a| labelset_string(&a.labels)).collect::<Vec<_>>().join(", ");
    if s.chars().count() > 4000 {
        s.chars().take(3999).chain(std::iter::once('…')).collect()
    } else {
        s
    }
}

fn record(shared: &Shared, rec: DeliveryRecord) {
    if let Err(e) = shared.store.record_delivery(&rec) {
        tracing::warn!("{e}");
    }
}

impl Shared {
    pub fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The upstream dedup decision: does this integration need a notification?
pub fn needs_update(
    entry: Option<&NflogEntry>,
    firing: &BTreeSet<u64>,
    resolved: &BTreeSet<u64>,
    send_resolved: bool,
    repeat: Duration,
    now_ms: i64,
) -> bool {
    let Some(e) = entry else { return !firing.is_empty() };
    let prev_firing: BTreeSet<u64> = e.firing.iter().copied().collect();
    if !firing.is_subset(&prev_firing) {
        return true;
    }
    // All resolved: tell the receiver if it was told about firing alerts.
    if firing.is_empty() {
        return !prev_firing.is_empty();
    }
    let prev_resolved: BTreeSet<u64> = e.resolved.iter().copied().collect();
    if send_resolved && !resolved.is_subset(&prev_resolved) {
        return true;
    }
    e.timestamp_ms + repeat.as_millis() as i64 <= now_ms
}

/// Adds alerts to the state and to their groups.
pub(crate) fn insert_alerts(st: &mut State, shared: &Shared, alerts: Vec<Alert>, now: DateTime<Utc>, instant: Instant) {
    let resolve_timeout =
        chrono::Duration::from_std(st.rt.config.resolve_timeout).unwrap_or(chrono::Duration::minutes(5));
    let mut to_save = Vec::with_capacity(alerts.len());
    for mut a in alerts {
        let fp = a.fingerprint();
        if a.ends_at.is_none() {
            a.ends_at = Some(now + resolve_timeout);
        }
        a.updated_at = now;
        if let Some(old) = st.alerts.get(&fp) {
            // Same alert, overlapping in time: keep the earliest start.
            let overlaps = old.ends_at.is_none_or(|e| a.starts_at <= e) && !old.resolved_at(now);
            if overlaps && old.starts_at < a.starts_at {
                a.starts_at = old.starts_at;
            }
        }
        to_save.push((fp, alert_to_json(&a)));
        route_alert(st, fp, &a, instant);
        st.alerts.insert(fp, a);
    }
    if let Err(e) = shared.store.put_alerts(&to_save) {
        tracing::warn!("{e}");
    }
}

/// Puts one alert into the groups of every route it matches.
pub(crate) fn route_alert(st: &mut State, fp: u64, a: &Alert, instant: Instant) {
    let route = st.rt.route.clone();
    for r in route.matches(&a.labels) {
        let labels = r.group_labels(&a.labels);
        let key = (r.id.clone(), labels.clone());
        let g = st.groups.entry(key).or_insert_with(|| Group {
            key: format!("{}:{}", r.key, labelset_string(&labels)),
            labels,
            receiver: r.receiver.clone(),
            fps: BTreeSet::new(),
            next_flush: instant + r.group_wait,
            has_flushed: false,
            busy: false,
        });
        g.fps.insert(fp);
        // An alert that started long ago need not wait for group_wait.
        let age = (Utc::now() - a.starts_at).to_std().unwrap_or_default();
        if !g.has_flushed && age >= r.group_wait && g.next_flush > instant {
            g.next_flush = instant;
        }
    }
}

/// The firing alerts as (fingerprint, labels), for inhibition.
pub(crate) fn firing_set(st: &State, now: DateTime<Utc>) -> Vec<(u64, Labels)> {
    st.alerts.iter().filter(|(_, a)| !a.resolved_at(now)).map(|(fp, a)| (*fp, a.labels.clone())).collect()
}

/// One timer tick: flushes due groups and cleans up.
pub(crate) fn tick(shared: &Arc<Shared>) {
    let now = Utc::now();
    let instant = Instant::now();
    let mut st = shared.lock();
    let mut due = Vec::new();
    for (k, g) in st.groups.iter_mut() {
        if !g.busy && g.next_flush <= instant {
            due.push(k.clone());
        }
    }
    // Inhibition needs every firing alert; only collect them when flushing.
    let firing = if due.is_empty() { Vec::new() } else { firing_set(&st, now) };
    for k in due {
        let route = match st.rt.route.find(&k.0) {
            Some(r) => r.clone(),
            None => {
                st.groups.remove(&k);
                continue;
            }
        };
        let Some(g) = st.groups.get(&k) else { continue };
        let alerts: Vec<Alert> = g.fps.iter().filter_map(|fp| st.alerts.get(fp).cloned()).collect();
        if alerts.is_empty() {
            st.groups.remove(&k);
            continue;
        }
        let job = FlushJob {
            group_key: g.key.clone(),
            group_labels: g.labels.clone(),
            receiver: g.receiver.clone(),
            route,
            alerts,
            firing: firing.clone(),
            config: st.rt.config.clone(),
            inhibitor: st.rt.inhibitor.clone(),
            templates: st.rt.templates.clone(),
        };
        if let Some(g) = st.groups.get_mut(&k) {
            g.busy = true;
            g.has_flushed = true;
            g.next_flush = instant + job.route.group_interval;
        }
        let shared2 = shared.clone();
        tokio::spawn(async move {
            let flushed_at = Utc::now();
            let snapshot: Vec<(u64, DateTime<Utc>, bool)> =
                job.alerts.iter().map(|a| (a.fingerprint(), a.updated_at, a.resolved_at(flushed_at))).collect();
            let ok = flush(&shared2, job).await;
            let mut guard = shared2.lock();
            let st = &mut *guard;
            if let Some(g) = st.groups.get_mut(&k) {
                g.busy = false;
                if ok {
                    // Resolved alerts that were delivered leave the group.
                    for (fp, updated, resolved) in snapshot {
                        if resolved && st.alerts.get(&fp).is_none_or(|a| a.updated_at == updated) {
                            g.fps.remove(&fp);
                        }
                    }
                }
                if g.fps.is_empty() {
                    st.groups.remove(&k);
                }
            }
        });
    }
    // Forget resolved alerts no group holds any more.
    let held: BTreeSet<u64> = st.groups.values().flat_map(|g| g.fps.iter().copied()).collect();
    let gone: Vec<u64> =
        st.alerts.iter().filter(|(fp, a)| a.resolved_at(now) && !held.contains(fp)).map(|(fp, _)| *fp).collect();
    if !gone.is_empty() {
        // Suppression memory of alerts gone for good is no longer needed.
        let mut sup = shared.suppressed.lock().unwrap_or_else(|e| e.into_inner());
        sup.retain(|(_, fp), _| !gone.contains(fp));
    }
    for fp in gone {
        st.alerts.remove(&fp);
        if let Err(e) = shared.store.delete_alert(fp) {
            tracing::warn!("{e}");
        }
    }
    shared.metrics.alerts.set(st.alerts.len() as i64);
}

pub(crate) struct FlushJob {
    pub group_key: String,
    pub group_labels: Labels,
    pub receiver: String,
    pub route: Route,
    pub alerts: Vec<Alert>,
    pub firing: Vec<(u64, Labels)>,
    pub config: Arc<Config>,
    pub inhibitor: Inhibitor,
    pub templates: Arc<Templates>,
}

/// Whether the route is muted at `now` by its time intervals.
pub fn time_muted(route: &Route, config: &Config, now: DateTime<Utc>) -> bool {
    let any = |names: &[String]| {
        names.iter().any(|n| config.time_intervals.get(n).is_some_and(|tis| tis.iter().any(|ti| ti.contains(now))))
    };
    if any(&route.mute_time_intervals) {
        return true;
    }
    !route.active_time_intervals.is_empty() && !any(&route.active_time_intervals)
}

/// Records a history row for each alert of the group that became muted (or
/// changed why), and forgets alerts that are no longer muted.
fn record_suppressions(shared: &Shared, job: &FlushJob, hctx: &HistoryCtx, muted: &[(u64, &Alert, String)]) {
    let mut seen = shared.suppressed.lock().unwrap_or_else(|e| e.into_inner());
    let now = Utc::now().timestamp_millis();
    for (fp, a, reason) in muted {
        let key = (job.group_key.clone(), *fp);
        if seen.get(&key) == Some(reason) {
            continue;
        }
        seen.insert(key, reason.clone());
        record(
            shared,
            DeliveryRecord {
                ts_ms: now,
                group_key: job.group_key.clone(),
                receiver: job.receiver.clone(),
                integration: "-".into(),
                ok: false,
                detail: reason.clone(),
                kind: if reason.starts_with("muted") { "muted" } else { "suppressed" }.into(),
                route: hctx.route.clone(),
                timers: hctx.timers.clone(),
                alerts: labelset_string(&a.labels),
            },
        );
    }
    let still: BTreeSet<u64> = muted.iter().map(|m| m.0).collect();
    seen.retain(|(g, fp), _| g != &job.group_key || still.contains(fp));
}

/// Why an alert is muted right now, or None: silences first, then inhibitions.
fn suppression(shared: &Shared, job: &FlushJob, a: &Alert, now: DateTime<Utc>) -> Option<String> {
    let fp = a.fingerprint();
    let silences = shared.silences.muted_by(&a.labels, now);
    if !silences.is_empty() {
        let s = if silences.len() == 1 { "silence" } else { "silences" };
        return Some(format!("suppressed by {s} {}", silences.join(", ")));
    }
    let by: Vec<String> = job
        .inhibitor
        .inhibited_by(&a.labels, &job.firing)
        .into_iter()
        .filter(|s| *s != fp)
        .map(|s| {
            let name = job.firing.iter().find(|(f, _)| *f == s).and_then(|(_, l)| l.get("alertname")).unwrap_or("");
            format!("{name} ({})", fingerprint_hex(s))
        })
        .collect();
    (!by.is_empty()).then(|| format!("inhibited by {}", by.join(", ")))
}

/// Runs the pipeline for one group; true when every integration succeeded
/// (or had nothing to do).
async fn flush(shared: &Arc<Shared>, job: FlushJob) -> bool {
    let now = Utc::now();
    let hctx = HistoryCtx {
        group_key: job.group_key.clone(),
        route: format!("{} → {}", job.route.path, job.receiver),
        timers: timers_text(&job.route),
        alerts: String::new(),
    };
    if time_muted(&job.route, &job.config, now) {
        tracing::debug!(group = %job.group_key, "muted by time interval");
        let mut names = job.route.mute_time_intervals.clone();
        if !job.route.active_time_intervals.is_empty() {
            names.push(format!("outside active {}", job.route.active_time_intervals.join(", ")));
        }
        let reason = format!("muted by time interval {}", names.join(", "));
        let firing: Vec<(u64, &Alert, String)> =
            job.alerts.iter().filter(|a| !a.resolved_at(now)).map(|a| (a.fingerprint(), a, reason.clone())).collect();
        record_suppressions(shared, &job, &hctx, &firing);
        return false;
    }
    let mut muted = Vec::new();
    let mut alerts: Vec<Alert> = Vec::new();
    for a in &job.alerts {
        match suppression(shared, &job, a, now) {
            // Resolved alerts that are muted need no trace: nobody was paged.
            Some(reason) if !a.resolved_at(now) => muted.push((a.fingerprint(), a, reason)),
            Some(_) => {}
            None => alerts.push(a.clone()),
        }
    }
    record_suppressions(shared, &job, &hctx, &muted);
    let Some(receiver) = job.config.receiver(&job.receiver).cloned() else {
        tracing::warn!(receiver = %job.receiver, "route points at an unknown receiver");
        return false;
    };
    let firing: BTreeSet<u64> = alerts.iter().filter(|a| !a.resolved_at(now)).map(Alert::fingerprint).collect();
    let resolved: BTreeSet<u64> = alerts.iter().filter(|a| a.resolved_at(now)).map(Alert::fingerprint).collect();
    let mut charts = None;
    let mut handles = Vec::new();
    for (i, integ) in receiver.integrations.iter().enumerate() {
        let entry = match shared.store.nflog_get(&job.group_key, &receiver.name, i) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("{e}");
                return false;
            }
        };
        if !needs_update(
            entry.as_ref(),
            &firing,
            &resolved,
            integ.send_resolved(),
            job.route.repeat_interval,
            now.timestamp_millis(),
        ) {
            continue;
        }
        let to_send: Vec<Alert> =
            alerts.iter().filter(|a| integ.send_resolved() || !a.resolved_at(now)).cloned().collect();
        let log = NflogEntry {
            firing: firing.iter().copied().collect(),
            resolved: resolved.iter().copied().collect(),
            timestamp_ms: now.timestamp_millis(),
        };
        if to_send.is_empty() {
            // Nothing this integration wants to hear; still remember it.
            if let Err(e) = shared.store.nflog_put(&job.group_key, &receiver.name, i, &log) {
                tracing::warn!("{e}");
            }
            continue;
        }
        let mut data =
            Data::new(&receiver.name, &job.group_key, &job.group_labels, &to_send, &shared.external_url, now);
        if matches!(integ, Integration::Email(_) | Integration::Slack(_)) {
            if charts.is_none() {
                charts = Some(make_charts(shared, &alerts, now).await);
            }
            data.charts = charts.clone().unwrap_or_default();
        }
        let shared = shared.clone();
        let integ = integ.clone();
        let templates = job.templates.clone();
        let deadline = job.route.group_interval.max(Duration::from_secs(1));
        let rname = receiver.name.clone();
        let hctx = HistoryCtx { alerts: alerts_text(to_send.iter()), ..hctx.clone() };
        handles.push(tokio::spawn(async move {
            let res = deliver_with_retry(&shared, &rname, i, &integ, &data, &templates, deadline, &hctx).await;
            let ok = res.is_ok();
            if ok {
                if let Err(e) = shared.store.nflog_put(&hctx.group_key, &rname, i, &log) {
                    tracing::warn!("{e}");
                }
            }
            ok
        }));
    }
    let mut all_ok = true;
    for h in handles {
        all_ok &= h.await.unwrap_or(false);
    }
    all_ok
}

/// Charts for the alerts, off the executor (evaluating PromQL may take a while).
async fn make_charts(shared: &Arc<Shared>, alerts: &[Alert], now: DateTime<Utc>) -> Vec<super::chart::AlertChart> {
    let source = shared.charts.read().unwrap_or_else(|e| e.into_inner()).clone();
    let Some(source) = source else { return Vec::new() };
    let alerts = alerts.to_vec();
    let external = shared.external_url.clone();
    let public = shared.public_url.clone();
    tokio::task::spawn_blocking(move || {
        super::chart::build_charts(source.as_ref(), &alerts, &external, public.as_deref(), now)
    })
    .await
    .unwrap_or_default()
}

/// Sends with exponential backoff on retryable errors until `deadline`.
/// Counts every attempt and failure per receiver.
/// Every attempt leaves a history row with its result.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn deliver_with_retry(
    shared: &Shared,
    receiver: &str,
    index: usize,
    integ: &Integration,
    data: &Data,
    templates: &Templates,
    deadline: Duration,
    hctx: &HistoryCtx,
) -> Result<(), SendError> {
    let start = Instant::now();
    let mut backoff = Duration::from_millis(100);
    let mut attempt = 1;
    loop {
        let res = receivers::send(integ, data, templates).await;
        record_attempt(shared, receiver, integ.kind(), &res);
        let retry = matches!(&res, Err(e) if e.retryable && start.elapsed() + backoff < deadline);
        let detail = match &res {
            Ok(()) => {
                let charts = data.charts.iter().filter(|c| c.png.is_some()).count();
                let mut d = format!("{} alerts ({} firing)", data.alerts.len(), data.firing().count());
                if charts > 0 {
                    d.push_str(&format!(", {charts} chart(s)"));
                }
                d
            }
            Err(e) if retry => format!("{}; retrying in {}", e.message, crate::scrape::format_duration(backoff)),
            Err(e) => e.message.clone(),
        };
        record(
            shared,
            DeliveryRecord {
                ts_ms: Utc::now().timestamp_millis(),
                group_key: hctx.group_key.clone(),
                receiver: receiver.to_string(),
                integration: format!("{}[{index}] attempt {attempt}", integ.kind()),
                ok: res.is_ok(),
                detail,
                kind: "delivery".into(),
                route: hctx.route.clone(),
                timers: hctx.timers.clone(),
                alerts: hctx.alerts.clone(),
            },
        );
        match res {
            Ok(()) => return Ok(()),
            Err(e) if retry => {
                tracing::warn!(receiver, integration = integ.kind(), "notify attempt failed, retrying: {}", e.message);
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                attempt += 1;
            }
            Err(e) => {
                tracing::warn!(receiver, integration = integ.kind(), "notify failed: {}", e.message);
                return Err(e);
            }
        }
    }
}

fn record_attempt(shared: &Shared, receiver: &str, kind: &str, res: &Result<(), SendError>) {
    let mut stats = shared.stats.lock().unwrap_or_else(|e| e.into_inner());
    let s = stats.entry(receiver.to_string()).or_default();
    s.attempts += 1;
    s.last_attempt = Some(Utc::now());
    s.last_ok = Some(res.is_ok());
    let labels = super::ReceiverLabels { receiver: receiver.to_string(), integration: kind.to_string() };
    shared.metrics.notifications.get_or_create(&labels).inc();
    match res {
        Ok(()) => s.last_error = None,
        Err(e) => {
            s.failures += 1;
            s.last_error = Some(e.message.clone());
            shared.metrics.notifications_failed.get_or_create(&labels).inc();
        }
    }
}

/// An alert as saved in the store.
pub(crate) fn alert_to_json(a: &Alert) -> String {
    let labels: serde_json::Map<String, serde_json::Value> =
        a.labels.iter().map(|l| (l.name.clone(), l.value.clone().into())).collect();
    let ann: serde_json::Map<String, serde_json::Value> =
        a.annotations.iter().map(|l| (l.name.clone(), l.value.clone().into())).collect();
    serde_json::json!({
        "labels": labels,
        "annotations": ann,
        "startsAt": super::alert::go_time(a.starts_at),
        "endsAt": a.ends_at.map(super::alert::go_time),
        "generatorURL": a.generator_url,
        "updatedAt": super::alert::go_time(a.updated_at),
        "fingerprint": fingerprint_hex(a.fingerprint()),
    })
    .to_string()
}

/// Reads an alert saved by [`alert_to_json`].
pub(crate) fn alert_from_json(s: &str) -> Option<Alert> {
    let v: serde_json::Value = serde_json::from_str(s).ok()?;
    let map = |k: &str| {
        Labels::from_pairs(
            v[k].as_object()
                .into_iter()
                .flatten()
                .map(|(n, v)| (n.clone(), v.as_str().unwrap_or_default().to_string())),
        )
    };
    let t = |k: &str| v[k].as_str().and_then(|s| super::alert::parse_time(s).ok());
    Some(Alert {
        labels: map("labels"),
        annotations: map("annotations"),
        starts_at: t("startsAt")?,
        ends_at: t("endsAt"),
        generator_url: v["generatorURL"].as_str().unwrap_or_default().to_string(),
        updated_at: t("updatedAt").unwrap_or_else(Utc::now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(v: &[u64]) -> BTreeSet<u64> {
        v.iter().copied().collect()
    }

    #[test]
    fn dedup_rules() {
        let rep = Duration::from_secs(3600);
        assert!(needs_update(None, &set(&[1]), &set(&[]), true, rep, 0));
        assert!(!needs_update(None, &set(&[]), &set(&[1]), true, rep, 0));
        let e = NflogEntry { firing: vec![1, 2], resolved: vec![], timestamp_ms: 1000 };
        assert!(!needs_update(Some(&e), &set(&[1, 2]), &set(&[]), true, rep, 2000));
        assert!(!needs_update(Some(&e), &set(&[1]), &set(&[]), false, rep, 2000));
        assert!(needs_update(Some(&e), &set(&[1]), &set(&[2]), true, rep, 2000));
        assert!(needs_update(Some(&e), &set(&[1, 3]), &set(&[]), true, rep, 2000));
        assert!(needs_update(Some(&e), &set(&[]), &set(&[1, 2]), false, rep, 2000));
        assert!(needs_update(Some(&e), &set(&[1, 2]), &set(&[]), true, rep, 1000 + 3_600_000));
    }

    #[test]
    fn mute_and_active_time_intervals() {
        use chrono::TimeZone;
        let cfg = crate::notify::config::parse_str(
            r#"
time_intervals:
  - name: weekend
    time_intervals: [{weekdays: [saturday, sunday]}]
route:
  receiver: r
  routes:
    - {matchers: [a="1"], mute_time_intervals: [weekend]}
    - {matchers: [a="2"], active_time_intervals: [weekend]}
receivers: [{name: r}]
"#,
            "t.yml",
        )
        .unwrap();
        let root = Route::from_config(&cfg.route);
        let saturday = Utc.with_ymd_and_hms(2026, 11, 21, 12, 0, 0).unwrap();
        let monday = Utc.with_ymd_and_hms(2026, 11, 23, 12, 0, 0).unwrap();
        assert!(time_muted(&root.routes[0], &cfg, saturday));
        assert!(!time_muted(&root.routes[0], &cfg, monday));
        assert!(!time_muted(&root.routes[1], &cfg, saturday));
        assert!(time_muted(&root.routes[1], &cfg, monday));
        assert!(!time_muted(&root, &cfg, saturday));
    }

    #[test]
    fn alert_json_round_trip() {
        let mut a = Alert::firing(Labels::from_pairs([("alertname", "X")]));
        a.annotations = Labels::from_pairs([("summary", "s")]);
        a.ends_at = Some(a.starts_at + chrono::Duration::minutes(5));
        a.generator_url = "http://g".into();
        let b = alert_from_json(&alert_to_json(&a)).unwrap();
        assert_eq!(a, b);
    }
}
