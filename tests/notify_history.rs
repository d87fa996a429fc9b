//! The notification history answers "why was (or wasn't) I paged?": each
//! delivery attempt with the route path and group timers, and a row for an
//! alert a silence or an inhibition kept quiet — once, not at every flush.

use axum::http::StatusCode;
use chrono::Utc;
use sightline::notify::store::{DeliveryRecord, Store};
use sightline::notify::{parse_str, Alert, Notifier, NotifierOptions, Silence, SilenceMatcher};
use sightline::tsdb::Labels;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone, Default)]
struct Sink {
    bodies: Arc<Mutex<Vec<String>>>,
    fail_first: Arc<AtomicUsize>,
}

async fn http_sink(fail_first: usize) -> (String, Sink) {
    let sink = Sink { fail_first: Arc::new(AtomicUsize::new(fail_first)), ..Default::default() };
    let s2 = sink.clone();
    let app = axum::Router::new().fallback(move |body: String| {
        let s = s2.clone();
        async move {
            s.bodies.lock().unwrap().push(body);
            if s.fail_first.load(Ordering::SeqCst) > 0 {
                s.fail_first.fetch_sub(1, Ordering::SeqCst);
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again");
            }
            (StatusCode::OK, "ok")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sink)
}

fn start(yaml: &str) -> Arc<Notifier> {
    let cfg = parse_str(yaml, "am.yml").unwrap_or_else(|e| panic!("{e}"));
    let opts = NotifierOptions { tick: Duration::from_millis(20), ..Default::default() };
    Notifier::start_with(cfg, Arc::new(Store::in_memory().unwrap()), None, opts).unwrap()
}

fn alert(pairs: &[(&str, &str)]) -> Alert {
    Alert::firing(Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, *b))))
}

fn silence(name: &str, value: &str) -> Silence {
    Silence {
        id: String::new(),
        matchers: vec![SilenceMatcher { name: name.into(), value: value.into(), is_regex: false, is_equal: true }],
        starts_at: Utc::now(),
        ends_at: Utc::now() + chrono::Duration::hours(1),
        updated_at: Utc::now(),
        created_by: "test".into(),
        comment: "maintenance".into(),
        ack: false,
    }
}

async fn wait_rows(n: &Notifier, filter: &str, ok: impl Fn(&[DeliveryRecord]) -> bool) -> Vec<DeliveryRecord> {
    for _ in 0..300 {
        let rows = n.history_matching(100, filter).unwrap();
        if ok(&rows) {
            return rows;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let rows = n.history_matching(100, filter).unwrap();
    panic!("history never matched; rows: {rows:#?}");
}

fn yaml(url: &str) -> String {
    format!(
        r#"route:
  receiver: default
  group_by: [alertname]
  group_wait: 50ms
  group_interval: 200ms
  repeat_interval: 1h
  routes:
    - matchers: [team="a"]
      receiver: pager
      routes:
        - matchers: [severity="page"]
          receiver: pager
          group_wait: 30ms
          group_interval: 2s
inhibit_rules:
  - source_matchers: [severity="critical"]
    target_matchers: [severity="warning"]
    equal: [alertname]
receivers:
  - name: default
    webhook_configs: [{{url: "{url}/default"}}]
  - name: pager
    webhook_configs: [{{url: "{url}/pager"}}]
"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routed_delivery_shows_path_timers_and_each_attempt() {
    let (url, sink) = http_sink(1).await;
    let n = start(&yaml(&url));
    n.receive(vec![alert(&[("alertname", "DiskFull"), ("team", "a"), ("severity", "page")])]);
    let rows = wait_rows(&n, "DiskFull", |r| r.iter().any(|d| d.ok)).await;
    assert_eq!(sink.bodies.lock().unwrap().len(), 2, "one failed attempt, one retry");
    // Newest first: the retry that worked, then the 500.
    let (ok, failed) = (&rows[0], &rows[1]);
    assert!(ok.ok && !failed.ok, "{rows:#?}");
    assert_eq!(ok.kind, "delivery");
    assert_eq!(ok.route, r#"root › {team="a"} › {severity="page"} → pager"#);
    assert_eq!(ok.timers, "group_wait 30ms, group_interval 2s, repeat_interval 1h");
    assert_eq!(ok.receiver, "pager");
    assert_eq!(ok.integration, "webhook[0] attempt 2");
    assert_eq!(failed.integration, "webhook[0] attempt 1");
    assert!(failed.detail.contains("500") && failed.detail.contains("retrying"), "{}", failed.detail);
    assert!(ok.alerts.contains(r#"alertname="DiskFull""#), "{}", ok.alerts);
    assert_eq!(ok.group_key, r#"{}/{team="a"}/{severity="page"}:{alertname="DiskFull"}"#);
    // The filter also finds rows by route and misses unrelated ones.
    assert!(!n.history_matching(10, "severity=\"page\"").unwrap().is_empty());
    assert!(n.history_matching(10, "NoSuchAlert").unwrap().is_empty());
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alert_silenced_midway_leaves_one_suppressed_row() {
    let (url, sink) = http_sink(0).await;
    let n = start(&yaml(&url));
    n.receive(vec![alert(&[("alertname", "Flappy"), ("instance", "1")])]);
    wait_rows(&n, "Flappy", |r| r.iter().any(|d| d.ok)).await;
    let id = n.set_silence(silence("alertname", "Flappy")).unwrap();
    // A second alert joins the group: without the silence it would be paged.
    n.receive(vec![alert(&[("alertname", "Flappy"), ("instance", "2")])]);
    let rows = wait_rows(&n, "Flappy", |r| r.iter().filter(|d| d.kind == "suppressed").count() >= 2).await;
    let suppressed: Vec<&DeliveryRecord> = rows.iter().filter(|d| d.kind == "suppressed").collect();
    for d in &suppressed {
        assert_eq!(d.detail, format!("suppressed by silence {id}"));
        assert_eq!(d.route, "root → default");
        assert_eq!(d.timers, "group_wait 50ms, group_interval 200ms, repeat_interval 1h");
        assert!(!d.ok);
    }
    let mut instances: Vec<&str> = suppressed.iter().map(|d| d.alerts.as_str()).collect();
    instances.sort();
    assert_eq!(instances, [r#"{alertname="Flappy", instance="1"}"#, r#"{alertname="Flappy", instance="2"}"#]);
    // Several more group intervals pass: still one row per muted alert.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let again = n.history_matching(100, "Flappy").unwrap();
    assert_eq!(again.iter().filter(|d| d.kind == "suppressed").count(), 2, "{again:#?}");
    assert_eq!(sink.bodies.lock().unwrap().len(), 1, "the silenced alert was sent");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhibited_alerts_name_the_inhibiting_alert() {
    let (url, _sink) = http_sink(0).await;
    let n = start(&yaml(&url));
    n.receive(vec![
        alert(&[("alertname", "Disk"), ("severity", "critical")]),
        alert(&[("alertname", "Disk"), ("severity", "warning")]),
    ]);
    let rows = wait_rows(&n, "Disk", |r| r.iter().any(|d| d.kind == "suppressed") && r.iter().any(|d| d.ok)).await;
    let row = rows.iter().find(|d| d.kind == "suppressed").unwrap();
    let source =
        sightline::notify::alert::fingerprint(&Labels::from_pairs([("alertname", "Disk"), ("severity", "critical")]));
    assert_eq!(row.detail, format!("inhibited by Disk ({source:016x})"));
    assert!(row.alerts.contains(r#"severity="warning""#), "{}", row.alerts);
    let sent = rows.iter().find(|d| d.kind == "delivery").unwrap();
    assert!(sent.ok && sent.detail.starts_with("1 alerts"), "{sent:?}");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn time_muted_routes_leave_a_muted_row() {
    let (url, sink) = http_sink(0).await;
    // A year range that always holds: the route is muted now.
    let n = start(&format!(
        r#"time_intervals:
  - name: always
    time_intervals: [{{years: ['2000:2999']}}]
route:
  receiver: default
  group_wait: 30ms
  group_interval: 100ms
  routes:
    - matchers: [team="night"]
      receiver: default
      mute_time_intervals: [always]
receivers:
  - name: default
    webhook_configs: [{{url: "{url}/default"}}]
"#
    ));
    n.receive(vec![alert(&[("alertname", "Sleepy"), ("team", "night")])]);
    let rows = wait_rows(&n, "Sleepy", |r| !r.is_empty()).await;
    assert_eq!(rows[0].kind, "muted");
    assert_eq!(rows[0].detail, "muted by time interval always");
    assert_eq!(rows[0].route, r#"root › {team="night"} → default"#);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(n.history_matching(100, "Sleepy").unwrap().len(), 1, "one row, not one per flush");
    assert!(sink.bodies.lock().unwrap().is_empty());
    n.stop();
}
