//! Notifications: Alertmanager built in. Alerts come in through
//! [`Notifier::receive`] (from rules or the API v2), are routed by the tree
//! in alertmanager.yml, grouped, inhibited, silenced, deduplicated against a
//! persisted notification log, and delivered by receivers with retries.

pub mod alert;
pub mod chart;
pub mod config;
pub mod dispatch;
pub mod inhibit;
pub mod matchers;
pub mod receivers;
pub mod route;
pub mod silence;
pub mod store;
pub mod template;
pub mod timeinterval;

pub use alert::Alert;
pub use config::{load_file, parse_str, Config, ConfigError};
pub use dispatch::ReceiverStats;
pub use silence::{Silence, SilenceError, SilenceMatcher, SilenceState};

use dispatch::{Runtime, Shared, State};
use inhibit::Inhibitor;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use route::Route;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::Store;
use template::Templates;

/// Errors starting or reconfiguring the notifier.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] store::StoreError),
    #[error(transparent)]
    Silence(#[from] SilenceError),
    #[error("templates: {0}")]
    Templates(#[from] template::TemplatesError),
    #[error("unknown receiver {0:?}")]
    UnknownReceiver(String),
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Notify(#[from] NotifyError),
}

/// Labels of the per-receiver counters.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReceiverLabels {
    pub receiver: String,
    pub integration: String,
}

/// The notifier's self-metrics.
#[derive(Clone, Default)]
pub struct Metrics {
    /// Delivery attempts per receiver and integration.
    pub notifications: Family<ReceiverLabels, Counter>,
    /// Failed delivery attempts per receiver and integration.
    pub notifications_failed: Family<ReceiverLabels, Counter>,
    /// Alerts currently held.
    pub alerts: Gauge,
}

impl Metrics {
    /// Registers the metrics (`sightline_notifications_total`, ...).
    pub fn register(&self, reg: &mut Registry) {
        reg.register("sightline_notifications", "Notification delivery attempts", self.notifications.clone());
        reg.register(
            "sightline_notifications_failed",
            "Failed notification delivery attempts",
            self.notifications_failed.clone(),
        );
        reg.register("sightline_alerts", "Alerts held by the notifier", self.alerts.clone());
    }
}

/// Options beyond the configuration.
#[derive(Clone, Debug)]
pub struct NotifierOptions {
    /// Sightline's external URL, for `.ExternalURL` and links.
    pub external_url: String,
    /// How often group timers are checked.
    pub tick: Duration,
    /// A base URL that chat services (Slack) can fetch chart images from,
    /// i.e. a configured `--web.external-url`. None: messages carry links only.
    pub public_url: Option<String>,
}

impl Default for NotifierOptions {
    fn default() -> Self {
        NotifierOptions { external_url: String::new(), tick: Duration::from_millis(50), public_url: None }
    }
}

/// An alert with its routing and suppression state, for the API and UI.
#[derive(Clone, Debug)]
pub struct AlertStatus {
    pub alert: Alert,
    pub fingerprint: u64,
    pub receivers: Vec<String>,
    pub silenced_by: Vec<String>,
    pub inhibited_by: Vec<String>,
}

impl AlertStatus {
    /// `active`, `suppressed` (silenced or inhibited).
    pub fn state(&self) -> &'static str {
        if self.silenced_by.is_empty() && self.inhibited_by.is_empty() {
            "active"
        } else {
            "suppressed"
        }
    }
}

/// An aggregation group, for the API and UI.
#[derive(Clone, Debug)]
pub struct GroupStatus {
    pub key: String,
    pub labels: crate::tsdb::Labels,
    pub receiver: String,
    pub alerts: Vec<AlertStatus>,
}

/// Why an alert is (or is not) notified: the answer to "why was I paged?".
#[derive(Clone, Debug)]
pub struct Explanation {
    /// Each matching route: (route ID, receiver, group key).
    pub routes: Vec<(String, String, String)>,
    /// Active silences muting the alert.
    pub silenced_by: Vec<String>,
    /// Fingerprints of firing alerts inhibiting it.
    pub inhibited_by: Vec<String>,
    /// Route IDs muted right now by their time intervals.
    pub time_muted: Vec<String>,
    /// Timers of each matching route: (group_wait, group_interval, repeat_interval).
    pub timers: Vec<(Duration, Duration, Duration)>,
}

/// Alertmanager built in: receives alerts, routes, groups, mutes, delivers.
pub struct Notifier {
    shared: Arc<Shared>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    started: chrono::DateTime<chrono::Utc>,
}

fn runtime(config: Config, external_url: &str) -> Result<Runtime, NotifyError> {
    let templates = Templates::load(&config.templates, external_url)?;
    Ok(Runtime {
        route: Arc::new(Route::from_config(&config.route)),
        inhibitor: Inhibitor::new(config.inhibit_rules.clone()),
        templates: Arc::new(templates),
        config: Arc::new(config),
    })
}

impl Notifier {
    /// Opens `<data_dir>/sightline.db`, restores silences and firing alerts,
    /// and starts the dispatcher on the current tokio runtime.
    pub fn start(
        config: Config,
        data_dir: &Path,
        metrics: Option<&mut Registry>,
    ) -> Result<Arc<Notifier>, NotifyError> {
        Self::start_with(config, Arc::new(Store::open(data_dir)?), metrics, NotifierOptions::default())
    }

    /// Like [`Notifier::start`] with an explicit store and options.
    pub fn start_with(
        config: Config,
        store: Arc<Store>,
        metrics: Option<&mut Registry>,
        opts: NotifierOptions,
    ) -> Result<Arc<Notifier>, NotifyError> {
        let rt = runtime(config, &opts.external_url)?;
        let m = Metrics::default();
        if let Some(reg) = metrics {
            m.register(reg);
        }
        let silences = silence::Silences::load(store.clone())?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State { rt, alerts: HashMap::new(), groups: HashMap::new() }),
            store: store.clone(),
            silences,
            stats: Mutex::new(HashMap::new()),
            metrics: m,
            external_url: opts.external_url.trim_end_matches('/').to_string(),
            public_url: opts.public_url.map(|u| u.trim_end_matches('/').to_string()).filter(|u| !u.is_empty()),
            charts: std::sync::RwLock::new(None),
            suppressed: Mutex::new(HashMap::new()),
        });
        // Firing alerts survive a restart; the notification log keeps them
        // from being sent twice.
        {
            let mut st = shared.lock();
            let now = chrono::Utc::now();
            let instant = tokio::time::Instant::now();
            for body in store.alerts()? {
                if let Some(a) = dispatch::alert_from_json(&body) {
                    let fp = a.fingerprint();
                    dispatch::route_alert(&mut st, fp, &a, instant);
                    st.alerts.insert(fp, a);
                }
            }
            let _ = now;
        }
        let s2 = shared.clone();
        let tick = opts.tick;
        let task = tokio::spawn(async move {
            let mut iv = tokio::time::interval(tick);
            iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut n: u64 = 0;
            loop {
                iv.tick().await;
                dispatch::tick(&s2);
                n += 1;
                if n.is_multiple_of(20) {
                    let now = chrono::Utc::now();
                    let firing: Vec<_> = dispatch::firing_set(&s2.lock(), now).into_iter().map(|(_, l)| l).collect();
                    s2.silences.maintain(&firing, now, chrono::Duration::days(5));
                }
                if n.is_multiple_of(10_000) {
                    let cutoff = chrono::Utc::now().timestamp_millis() - 5 * 24 * 3600 * 1000;
                    if let Err(e) = s2.store.nflog_gc(cutoff) {
                        tracing::warn!("{e}");
                    }
                }
            }
        });
        Ok(Arc::new(Notifier { shared, task: Mutex::new(Some(task)), started: chrono::Utc::now() }))
    }

    /// Takes in alerts (from rules or the API). Alerts without an end time
    /// fire until `resolve_timeout` passes without an update.
    pub fn receive(&self, alerts: Vec<Alert>) {
        let now = chrono::Utc::now();
        let mut st = self.shared.lock();
        dispatch::insert_alerts(&mut st, &self.shared, alerts, now, tokio::time::Instant::now());
    }

    /// Stops the dispatcher (deliveries in flight finish on their own).
    pub fn stop(&self) {
        if let Some(t) = self.task.lock().unwrap_or_else(|e| e.into_inner()).take() {
            t.abort();
        }
    }

    /// Switches to a new configuration; groups are rebuilt and the
    /// notification log prevents repeats. On error the old one stays.
    pub fn reload(&self, config: Config) -> Result<(), NotifyError> {
        let rt = runtime(config, &self.shared.external_url)?;
        let mut st = self.shared.lock();
        st.rt = rt;
        st.groups.clear();
        let instant = tokio::time::Instant::now();
        let alerts: Vec<(u64, Alert)> = st.alerts.iter().map(|(k, v)| (*k, v.clone())).collect();
        for (fp, a) in alerts {
            dispatch::route_alert(&mut st, fp, &a, instant);
        }
        Ok(())
    }

    /// Loads and applies an alertmanager.yml; an invalid file is refused
    /// (file:line and reason) and the running configuration stays.
    pub fn reload_file(&self, path: &Path) -> Result<(), ReloadError> {
        let cfg = load_file(path)?;
        self.reload(cfg)?;
        Ok(())
    }

    /// The configuration in use.
    pub fn config(&self) -> Arc<Config> {
        self.shared.lock().rt.config.clone()
    }

    /// When the notifier started.
    pub fn started(&self) -> chrono::DateTime<chrono::Utc> {
        self.started
    }

    fn status_of(
        &self,
        st: &State,
        fp: u64,
        a: &Alert,
        firing: &[(u64, crate::tsdb::Labels)],
        now: chrono::DateTime<chrono::Utc>,
    ) -> AlertStatus {
        let mut receivers: Vec<String> = st.rt.route.matches(&a.labels).iter().map(|r| r.receiver.clone()).collect();
        receivers.dedup();
        AlertStatus {
            alert: a.clone(),
            fingerprint: fp,
            receivers,
            silenced_by: self.shared.silences.muted_by(&a.labels, now),
            inhibited_by: st
                .rt
                .inhibitor
                .inhibited_by(&a.labels, firing)
                .into_iter()
                .filter(|s| *s != fp)
                .map(alert::fingerprint_hex)
                .collect(),
        }
    }

    /// Explains what happens to an alert with `labels` now: routes and
    /// groups it lands in, and every silence, inhibition or time mute.
    pub fn explain(&self, labels: &crate::tsdb::Labels) -> Explanation {
        let now = chrono::Utc::now();
        let st = self.shared.lock();
        let fp = alert::fingerprint(labels);
        let firing = dispatch::firing_set(&st, now);
        let matched = st.rt.route.matches(labels);
        Explanation {
            routes: matched
                .iter()
                .map(|r| {
                    let key = format!("{}:{}", r.key, alert::labelset_string(&r.group_labels(labels)));
                    (r.id.clone(), r.receiver.clone(), key)
                })
                .collect(),
            silenced_by: self.shared.silences.muted_by(labels, now),
            inhibited_by: st
                .rt
                .inhibitor
                .inhibited_by(labels, &firing)
                .into_iter()
                .filter(|s| *s != fp)
                .map(alert::fingerprint_hex)
                .collect(),
            time_muted: matched
                .iter()
                .filter(|r| dispatch::time_muted(r, &st.rt.config, now))
                .map(|r| r.id.clone())
                .collect(),
            timers: matched.iter().map(|r| (r.group_wait, r.group_interval, r.repeat_interval)).collect(),
        }
    }

    /// All alerts held, with status, sorted by fingerprint.
    pub fn alerts(&self) -> Vec<AlertStatus> {
        let now = chrono::Utc::now();
        let st = self.shared.lock();
        let firing = dispatch::firing_set(&st, now);
        let mut v: Vec<AlertStatus> =
            st.alerts.iter().map(|(fp, a)| self.status_of(&st, *fp, a, &firing, now)).collect();
        v.sort_by_key(|s| s.fingerprint);
        v
    }

    /// The aggregation groups, as routed.
    pub fn groups(&self) -> Vec<GroupStatus> {
        let now = chrono::Utc::now();
        let st = self.shared.lock();
        let firing = dispatch::firing_set(&st, now);
        let mut v: Vec<GroupStatus> = st
            .groups
            .values()
            .map(|g| GroupStatus {
                key: g.key.clone(),
                labels: g.labels.clone(),
                receiver: g.receiver.clone(),
                alerts: g
                    .fps
                    .iter()
                    .filter_map(|fp| st.alerts.get(fp).map(|a| self.status_of(&st, *fp, a, &firing, now)))
                    .collect(),
            })
            .collect();
        v.sort_by(|a, b| a.key.cmp(&b.key).then(a.receiver.cmp(&b.receiver)));
        v
    }

    /// Creates or updates a silence; returns its ID.
    pub fn set_silence(&self, s: Silence) -> Result<String, SilenceError> {
        self.shared.silences.set(s, chrono::Utc::now())
    }

    /// Expires a silence now.
    pub fn expire_silence(&self, id: &str) -> Result<(), SilenceError> {
        self.shared.silences.expire(id, chrono::Utc::now())
    }

    /// One silence.
    pub fn silence(&self, id: &str) -> Option<Silence> {
        self.shared.silences.get(id)
    }

    /// All silences, newest first.
    pub fn silences(&self) -> Vec<Silence> {
        self.shared.silences.list()
    }

    /// Delivery counters and last result per receiver.
    pub fn receiver_stats(&self) -> HashMap<String, ReceiverStats> {
        self.shared.stats.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The newest delivery attempts, newest first.
    pub fn history(&self, limit: usize) -> Vec<store::DeliveryRecord> {
        self.shared.store.history(limit).unwrap_or_default()
    }

    /// The newest history rows (deliveries and suppressions) whose alerts,
    /// group, receiver or route contain `filter`, newest first.
    pub fn history_matching(&self, limit: usize, filter: &str) -> Result<Vec<store::DeliveryRecord>, NotifyError> {
        Ok(self.shared.store.history_matching(limit, filter)?)
    }

    /// Hands over where charts get their data (the server's PromQL engine);
    /// email and Slack messages carry charts from then on.
    pub fn set_chart_source(&self, source: Arc<dyn chart::ChartSource>) {
        *self.shared.charts.write().unwrap_or_else(|e| e.into_inner()) = Some(source);
    }

    /// The PNG chart of `expr` over the hour ending at `end_ms`, as messages
    /// carry it. Blocking: call it off the async executor.
    pub fn chart_png(&self, expr: &str, end_ms: i64) -> Result<Vec<u8>, chart::ChartError> {
        let source = self.shared.charts.read().unwrap_or_else(|e| e.into_inner()).clone();
        let source = source.ok_or(chart::ChartError::NoSource)?;
        chart::chart_png(source.as_ref(), expr, end_ms)
    }

    /// Sends a test notification to every integration of `receiver`,
    /// bypassing grouping and the notification log.
    pub async fn send_test(&self, receiver: &str) -> Result<(), NotifyError> {
        let (cfg, templates) = {
            let st = self.shared.lock();
            (st.rt.config.clone(), st.rt.templates.clone())
        };
        let r = cfg.receiver(receiver).ok_or_else(|| NotifyError::UnknownReceiver(receiver.to_string()))?;
        let mut a = Alert::firing(crate::tsdb::Labels::from_pairs([
            ("alertname", "SightlineTestNotification"),
            ("severity", "none"),
        ]));
        a.annotations = crate::tsdb::Labels::from_pairs([("summary", "Test notification sent from Sightline")]);
        let labels = crate::tsdb::Labels::from_pairs([("alertname", "SightlineTestNotification")]);
        let data = template::Data::new(
            receiver,
            "{}:{alertname=\"SightlineTestNotification\"}",
            &labels,
            &[a],
            &self.shared.external_url,
            chrono::Utc::now(),
        );
        let hctx = dispatch::HistoryCtx {
            group_key: data.group_key.clone(),
            route: format!("test notification → {receiver}"),
            timers: String::new(),
            alerts: "{alertname=\"SightlineTestNotification\"}".into(),
        };
        for (i, integ) in r.integrations.iter().enumerate() {
            // A test result is shown to the user; it is counted like any other attempt.
            if let Err(e) = dispatch::deliver_with_retry(
                &self.shared,
                receiver,
                i,
                integ,
                &data,
                &templates,
                Duration::from_secs(5),
                &hctx,
            )
            .await
            {
                tracing::warn!(receiver, "test notification failed: {}", e.message);
            }
        }
        Ok(())
    }
}

impl Drop for Notifier {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Alerts from the rule manager enter the notification pipeline here.
impl crate::rules::AlertSink for Notifier {
    fn send(&self, alerts: Vec<crate::rules::Alert>) {
        let ms = |t: i64| chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t).unwrap_or_else(chrono::Utc::now);
        let now = chrono::Utc::now();
        self.receive(
            alerts
                .into_iter()
                .map(|a| Alert {
                    labels: a.labels,
                    annotations: a.annotations,
                    starts_at: ms(a.starts_at),
                    ends_at: Some(ms(a.ends_at)),
                    generator_url: a.generator_url,
                    updated_at: now,
                })
                .collect(),
        );
    }
}
