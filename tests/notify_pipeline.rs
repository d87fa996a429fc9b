//! The notification pipeline end to end against loopback receivers:
//! grouping timers, repeat, resolve, inhibition, silences, restart without
//! duplicates, the exact webhook JSON, every receiver's payload, retries,
//! failure counting and secrets kept out of errors.

mod util;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri};
use chrono::{TimeZone, Utc};
use sightline::notify::store::Store;
use sightline::notify::{parse_str, Alert, Notifier, NotifierOptions, Silence, SilenceMatcher};
use sightline::tsdb::Labels;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use util::smtp_sink;

#[derive(Clone, Debug)]
struct Req {
    path: String,
    headers: Vec<(String, String)>,
    body: String,
}

#[derive(Clone, Default)]
struct Sink {
    reqs: Arc<Mutex<Vec<Req>>>,
    /// Answer 500 to this many requests first.
    fail_first: Arc<AtomicUsize>,
    /// Answer 503 to everything.
    always_fail: bool,
}

impl Sink {
    fn count(&self) -> usize {
        self.reqs.lock().unwrap().len()
    }
    fn all(&self) -> Vec<Req> {
        self.reqs.lock().unwrap().clone()
    }
    fn json(&self, i: usize) -> serde_json::Value {
        serde_json::from_str(&self.all()[i].body).unwrap()
    }
}

async fn start_sink(fail_first: usize, always_fail: bool) -> (String, Sink) {
    let sink = Sink { fail_first: Arc::new(AtomicUsize::new(fail_first)), always_fail, ..Default::default() };
    let s2 = sink.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
        let s = s2.clone();
        async move {
            s.reqs.lock().unwrap().push(Req {
                path: uri.path().to_string(),
                headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string())).collect(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            if s.always_fail {
                return (StatusCode::SERVICE_UNAVAILABLE, "down".to_string());
            }
            if s.fail_first.load(Ordering::SeqCst) > 0 {
                s.fail_first.fetch_sub(1, Ordering::SeqCst);
                return (StatusCode::INTERNAL_SERVER_ERROR, "try again".to_string());
            }
            (StatusCode::OK, r#"{"ok":true}"#.to_string())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sink)
}

fn start(yaml: &str, store: Arc<Store>) -> Arc<Notifier> {
    let cfg = parse_str(yaml, "am.yml").unwrap_or_else(|e| panic!("{e}"));
    let opts = NotifierOptions {
        external_url: "http://sightline.test".into(),
        tick: Duration::from_millis(20),
        ..Default::default()
    };
    Notifier::start_with(cfg, store, None, opts).unwrap()
}

fn alert(pairs: &[(&str, &str)]) -> Alert {
    Alert::firing(Labels::from_pairs(pairs.iter().map(|(a, b)| (*a, *b))))
}

fn resolved(pairs: &[(&str, &str)]) -> Alert {
    let mut a = alert(pairs);
    a.starts_at = Utc::now() - chrono::Duration::seconds(10);
    a.ends_at = Some(Utc::now());
    a
}

async fn sleep_ms(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// Waits up to `ms` for the sink to hold at least `n` requests.
async fn wait_for(sink: &Sink, n: usize, ms: u64) -> bool {
    for _ in 0..ms / 10 {
        if sink.count() >= n {
            return true;
        }
        sleep_ms(10).await;
    }
    sink.count() >= n
}

fn webhook_cfg(url: &str, timers: &str) -> String {
    format!(
        "route:\n  receiver: hook\n  group_by: [alertname]\n{timers}\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: {url}/hook\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_wait_batches_and_group_interval_paces() {
    let (url, sink) = start_sink(0, false).await;
    let n = start(
        &webhook_cfg(&url, "  group_wait: 400ms\n  group_interval: 800ms\n  repeat_interval: 1h"),
        Arc::new(Store::in_memory().unwrap()),
    );
    n.receive(vec![alert(&[("alertname", "X"), ("instance", "1")])]);
    sleep_ms(100).await;
    n.receive(vec![alert(&[("alertname", "X"), ("instance", "2")])]);
    sleep_ms(150).await;
    assert_eq!(sink.count(), 0, "sent before group_wait");
    assert!(wait_for(&sink, 1, 1000).await);
    assert_eq!(sink.json(0)["alerts"].as_array().unwrap().len(), 2, "both alerts in one notification");
    // A new alert waits for the group interval, not for group_wait.
    n.receive(vec![alert(&[("alertname", "X"), ("instance", "3")])]);
    sleep_ms(200).await;
    assert_eq!(sink.count(), 1);
    assert!(wait_for(&sink, 2, 1500).await, "new alert never sent");
    assert_eq!(sink.json(1)["alerts"].as_array().unwrap().len(), 3);
    // Nothing changed: no repeat before repeat_interval.
    sleep_ms(1000).await;
    assert_eq!(sink.count(), 2);
    // A different alertname is a different group.
    n.receive(vec![alert(&[("alertname", "Y")])]);
    assert!(wait_for(&sink, 3, 1500).await);
    assert_eq!(sink.json(2)["groupLabels"], serde_json::json!({"alertname": "Y"}));
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeat_interval_resends_unchanged_groups() {
    let (url, sink) = start_sink(0, false).await;
    let n = start(
        &webhook_cfg(&url, "  group_wait: 50ms\n  group_interval: 200ms\n  repeat_interval: 900ms"),
        Arc::new(Store::in_memory().unwrap()),
    );
    n.receive(vec![alert(&[("alertname", "R")])]);
    assert!(wait_for(&sink, 1, 1000).await);
    sleep_ms(500).await;
    assert_eq!(sink.count(), 1, "repeated before repeat_interval");
    assert!(wait_for(&sink, 2, 1500).await, "never repeated");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolved_notifications_follow_send_resolved() {
    let (url, sink) = start_sink(0, false).await;
    let (url2, quiet) = start_sink(0, false).await;
    let yaml = format!(
        "route:\n  receiver: both\n  group_by: [alertname]\n  group_wait: 50ms\n  group_interval: 300ms\nreceivers:\n  - name: both\n    webhook_configs:\n      - url: {url}/hook\n      - url: {url2}/quiet\n        send_resolved: false\n"
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    n.receive(vec![alert(&[("alertname", "Z")])]);
    assert!(wait_for(&sink, 1, 1000).await && wait_for(&quiet, 1, 1000).await);
    n.receive(vec![resolved(&[("alertname", "Z")])]);
    assert!(wait_for(&sink, 2, 1500).await, "no resolved notification");
    let v = sink.json(1);
    assert_eq!(v["status"], "resolved");
    assert_eq!(v["alerts"][0]["status"], "resolved");
    assert_ne!(v["alerts"][0]["endsAt"], "0001-01-01T00:00:00Z");
    sleep_ms(700).await;
    assert_eq!(quiet.count(), 1, "send_resolved: false still got the resolve");
    assert_eq!(sink.count(), 2, "resolved sent more than once");
    // The group is gone once resolved alerts were delivered.
    assert!(n.groups().is_empty());
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inhibition_mutes_targets_with_equal_labels() {
    let (url, sink) = start_sink(0, false).await;
    let yaml = format!(
        "{}inhibit_rules:\n  - source_matchers: [severity=critical]\n    target_matchers: [severity=warning]\n    equal: [cluster]\n",
        webhook_cfg(&url, "  group_wait: 200ms\n  group_interval: 1h").replace("group_by: [alertname]", "group_by: [cluster]")
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    n.receive(vec![
        alert(&[("alertname", "Down"), ("cluster", "a"), ("severity", "critical")]),
        alert(&[("alertname", "Slow"), ("cluster", "a"), ("severity", "warning")]),
        alert(&[("alertname", "Slow"), ("cluster", "b"), ("severity", "warning")]),
    ]);
    assert!(wait_for(&sink, 2, 1500).await);
    sleep_ms(200).await;
    let mut names: Vec<String> = Vec::new();
    for i in 0..sink.count() {
        for a in sink.json(i)["alerts"].as_array().unwrap() {
            names.push(format!(
                "{}/{}",
                a["labels"]["alertname"].as_str().unwrap(),
                a["labels"]["cluster"].as_str().unwrap()
            ));
        }
    }
    names.sort();
    assert_eq!(names, ["Down/a", "Slow/b"], "warning in cluster a must be inhibited");
    let slow_a = n
        .alerts()
        .into_iter()
        .find(|s| s.alert.labels.get("cluster") == Some("a") && s.alert.labels.get("alertname") == Some("Slow"))
        .unwrap();
    assert_eq!(slow_a.state(), "suppressed");
    assert_eq!(slow_a.inhibited_by.len(), 1);
    n.stop();
}

fn silence(name: &str, value: &str) -> Silence {
    Silence {
        id: String::new(),
        matchers: vec![SilenceMatcher { name: name.into(), value: value.into(), is_regex: false, is_equal: true }],
        starts_at: Utc::now(),
        ends_at: Utc::now() + chrono::Duration::hours(1),
        updated_at: Utc::now(),
        created_by: "test".into(),
        comment: "quiet".into(),
        ack: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silences_mute_and_expire() {
    let (url, sink) = start_sink(0, false).await;
    let n = start(
        &webhook_cfg(&url, "  group_wait: 100ms\n  group_interval: 300ms\n  repeat_interval: 1h"),
        Arc::new(Store::in_memory().unwrap()),
    );
    n.set_silence(silence("instance", "1")).unwrap();
    let all = n.set_silence(silence("alertname", "Quiet")).unwrap();
    n.receive(vec![
        alert(&[("alertname", "X"), ("instance", "1")]),
        alert(&[("alertname", "X"), ("instance", "2")]),
        alert(&[("alertname", "Quiet")]),
    ]);
    assert!(wait_for(&sink, 1, 1000).await);
    sleep_ms(500).await;
    assert_eq!(sink.count(), 1, "the fully silenced group must not notify");
    let alerts = sink.json(0)["alerts"].clone();
    assert_eq!(alerts.as_array().unwrap().len(), 1);
    assert_eq!(alerts[0]["labels"]["instance"], "2");
    // Expiring the silence lets the group notify at its next interval.
    n.expire_silence(&all).unwrap();
    assert!(wait_for(&sink, 2, 1500).await, "expired silence still mutes");
    assert_eq!(sink.json(1)["alerts"][0]["labels"]["alertname"], "Quiet");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_neither_repeats_nor_drops() {
    let dir = tempfile::tempdir().unwrap();
    let (url, sink) = start_sink(0, false).await;
    let yaml = webhook_cfg(&url, "  group_wait: 100ms\n  group_interval: 300ms\n  repeat_interval: 1h");
    let n = start(&yaml, Arc::new(Store::open(dir.path()).unwrap()));
    n.receive(vec![alert(&[("alertname", "Persist")])]);
    assert!(wait_for(&sink, 1, 1000).await);
    // The log entry is written right after the receiver answers (a crash in
    // between would mean one duplicate, as in Alertmanager); let it land.
    for _ in 0..100 {
        if !n.history(1).is_empty() {
            break;
        }
        sleep_ms(10).await;
    }
    assert_eq!(n.history(10).len(), 1);
    n.stop();
    drop(n);
    // Restart: the alert is restored, the log says it was already sent.
    let n = start(&yaml, Arc::new(Store::open(dir.path()).unwrap()));
    assert_eq!(n.alerts().len(), 1, "firing alert lost on restart");
    sleep_ms(800).await;
    assert_eq!(sink.count(), 1, "restart repeated a notification");
    n.stop();
    drop(n);
    // An alert received but not yet sent when stopping is sent after restart.
    let slow = webhook_cfg(&url, "  group_wait: 1h\n  group_interval: 300ms\n  repeat_interval: 1h");
    let n = start(&slow, Arc::new(Store::open(dir.path()).unwrap()));
    let mut late = alert(&[("alertname", "Pending")]);
    late.starts_at = Utc::now();
    n.receive(vec![late]);
    sleep_ms(100).await;
    n.stop();
    drop(n);
    assert_eq!(sink.count(), 1);
    let n = start(&yaml, Arc::new(Store::open(dir.path()).unwrap()));
    assert!(wait_for(&sink, 2, 1500).await, "pending alert dropped by restart");
    assert_eq!(sink.json(1)["groupLabels"]["alertname"], "Pending");
    sleep_ms(500).await;
    assert_eq!(sink.count(), 2);
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhook_json_is_exactly_version_4() {
    let (url, sink) = start_sink(0, false).await;
    let n = start(&webhook_cfg(&url, "  group_wait: 50ms"), Arc::new(Store::in_memory().unwrap()));
    let mut a = alert(&[("alertname", "DiskFull"), ("instance", "db1")]);
    a.annotations = Labels::from_pairs([("summary", "disk <90%> & rising")]);
    a.starts_at = Utc.with_ymd_and_hms(2026, 1, 2, 3, 4, 5).unwrap() + chrono::Duration::milliseconds(250);
    a.ends_at = Some(Utc::now() + chrono::Duration::hours(1));
    a.generator_url = "http://prom/graph?g0.expr=up".into();
    n.receive(vec![a]);
    assert!(wait_for(&sink, 1, 1000).await);
    let req = &sink.all()[0];
    assert_eq!(req.path, "/hook");
    assert!(req.headers.iter().any(|(k, v)| k == "content-type" && v == "application/json"));
    let want = concat!(
        r#"{"receiver":"hook","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"DiskFull","instance":"db1"},"#,
        r#""annotations":{"summary":"disk \u003c90%\u003e \u0026 rising"},"startsAt":"2026-01-02T03:04:05.25Z","endsAt":"0001-01-01T00:00:00Z","#,
        r#""generatorURL":"http://prom/graph?g0.expr=up","fingerprint":"353eae6a3b60c986"}],"groupLabels":{"alertname":"DiskFull"},"#,
        r#""commonLabels":{"alertname":"DiskFull","instance":"db1"},"commonAnnotations":{"summary":"disk \u003c90%\u003e \u0026 rising"},"#,
        r#""externalURL":"http://sightline.test","version":"4","groupKey":"{}:{alertname=\"DiskFull\"}","truncatedAlerts":0}"#,
        "\n"
    );
    assert_eq!(req.body, want);
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_http_receiver_retries_5xx_and_sends_its_payload() {
    let (url, sink) = start_sink(7, false).await;
    let yaml = format!(
        r##"route:
  receiver: all
  group_wait: 50ms
  group_interval: 10s
receivers:
  - name: all
    webhook_configs: [{{url: "{url}/webhook/SECRET123"}}]
    slack_configs: [{{api_url: "{url}/slack/SECRET123", channel: "#ops"}}]
    pagerduty_configs: [{{routing_key: SECRET123, url: "{url}/pagerduty"}}]
    discord_configs: [{{webhook_url: "{url}/discord/SECRET123"}}]
    msteams_configs: [{{webhook_url: "{url}/msteams/SECRET123"}}]
    telegram_configs: [{{bot_token: SECRET123, chat_id: 42, api_url: "{url}/telegram"}}]
    ntfy_configs: [{{url: "{url}/ntfy", topic: alerts, token: SECRET123}}]
"##
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    let mut a = alert(&[("alertname", "Boom"), ("severity", "critical")]);
    a.annotations = Labels::from_pairs([("summary", "it broke")]);
    n.receive(vec![a]);
    // 7 integrations, the first 7 requests fail: 14 requests in all.
    assert!(wait_for(&sink, 14, 5000).await, "only {} requests", sink.count());
    sleep_ms(300).await;
    assert_eq!(sink.count(), 14, "a receiver was retried after success");
    let reqs = sink.all();
    let last = |prefix: &str| -> serde_json::Value {
        let r =
            reqs.iter().rev().find(|r| r.path.starts_with(prefix)).unwrap_or_else(|| panic!("no request to {prefix}"));
        serde_json::from_str(&r.body).unwrap()
    };
    assert_eq!(last("/webhook")["version"], "4");
    let slack = last("/slack");
    assert_eq!(slack["channel"], "#ops");
    assert_eq!(slack["attachments"][0]["title"], "[FIRING:1]  (Boom critical)");
    let pd = last("/pagerduty");
    assert_eq!(pd["routing_key"], "SECRET123");
    assert_eq!(pd["event_action"], "trigger");
    assert_eq!(pd["payload"]["summary"], "[FIRING:1]  (Boom critical)");
    let discord = last("/discord");
    assert_eq!(discord["embeds"][0]["title"], "[FIRING:1]  (Boom critical)");
    assert!(discord["embeds"][0]["description"].as_str().unwrap().contains("summary = it broke"));
    let teams = last("/msteams");
    assert_eq!(teams["@type"], serde_json::Value::Null);
    assert_eq!(teams["type"], "MessageCard");
    assert_eq!(teams["themeColor"], "8C1A1A");
    let tg_req = reqs.iter().rev().find(|r| r.path.starts_with("/telegram")).unwrap();
    assert_eq!(tg_req.path, "/telegram/botSECRET123/sendMessage");
    let tg: serde_json::Value = serde_json::from_str(&tg_req.body).unwrap();
    assert_eq!(tg["chat_id"], 42);
    assert_eq!(tg["parse_mode"], "HTML");
    let ntfy_req = reqs.iter().rev().find(|r| r.path.starts_with("/ntfy")).unwrap();
    assert!(ntfy_req.headers.iter().any(|(k, v)| k == "authorization" && v == "Bearer SECRET123"));
    let ntfy: serde_json::Value = serde_json::from_str(&ntfy_req.body).unwrap();
    assert_eq!(ntfy["topic"], "alerts");
    assert_eq!(ntfy["priority"], 4);
    let stats = n.receiver_stats();
    let s = &stats["all"];
    assert_eq!(s.attempts, 14);
    assert_eq!(s.failures, 7);
    for r in n.history(100) {
        assert!(!r.detail.contains("SECRET123"), "secret in history: {}", r.detail);
    }
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_receiver_is_counted_and_never_blocks_others() {
    let (down_url, down) = start_sink(0, true).await;
    let (up_url, up) = start_sink(0, false).await;
    let yaml = format!(
        r#"route:
  receiver: up
  group_wait: 50ms
  group_interval: 5s
  routes:
    - matchers: [alertname="A"]
      receiver: down
      continue: true
    - matchers: [alertname="A"]
      receiver: up
receivers:
  - name: down
    webhook_configs: [{{url: "{down_url}/hook/topsecret-token"}}]
  - name: up
    webhook_configs: [{{url: "{up_url}/hook"}}]
"#
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    n.receive(vec![alert(&[("alertname", "A")])]);
    // The down receiver keeps retrying for up to group_interval (5s); the
    // healthy one must not wait for that.
    assert!(wait_for(&up, 1, 2000).await, "healthy receiver waited for the failing one");
    assert!(wait_for(&down, 3, 3000).await, "down receiver not retried");
    // The sink counts a request before the notifier has read its answer:
    // give the third failure a moment to be recorded.
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let stats = loop {
        let stats = n.receiver_stats();
        if stats.get("down").is_some_and(|d| d.failures >= 3) || std::time::Instant::now() > deadline {
            break stats;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let d = &stats["down"];
    assert!(d.failures >= 3 && d.last_ok == Some(false), "failures {} last_ok {:?}", d.failures, d.last_ok);
    let err = d.last_error.clone().unwrap();
    assert!(err.contains("503") && !err.contains("topsecret"), "{err}");
    assert_eq!(stats["up"].failures, 0);
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_smtp_with_html_and_text() {
    let (port, mails) = smtp_sink().await;
    let yaml = format!(
        r#"global:
  smtp_smarthost: "127.0.0.1:{port}"
  smtp_from: "sightline@example.org"
  smtp_require_tls: false
route:
  receiver: mail
  group_wait: 50ms
receivers:
  - name: mail
    email_configs:
      - to: "ops@example.org"
"#
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    n.receive(vec![alert(&[("alertname", "MailMe"), ("instance", "h1")])]);
    for _ in 0..300 {
        if !mails.lock().unwrap().is_empty() {
            break;
        }
        sleep_ms(10).await;
    }
    let all = mails.lock().unwrap().clone();
    assert_eq!(all.len(), 1, "stats: {:?}", n.receiver_stats());
    let m = &all[0];
    // No group_by: empty group labels, everything common goes in brackets.
    assert!(m.contains("Subject: [FIRING:1]  (MailMe h1)"), "{m}");
    assert!(m.contains("To: ops@example.org"), "{m}");
    assert!(m.contains("From: sightline@example.org"), "{m}");
    assert!(m.contains("text/plain") && m.contains("text/html"), "{m}");
    assert!(m.contains("MailMe"), "{m}");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_notification_reaches_every_integration() {
    let (url, sink) = start_sink(0, false).await;
    let n = start(&webhook_cfg(&url, "  group_wait: 1h"), Arc::new(Store::in_memory().unwrap()));
    n.send_test("hook").await.unwrap();
    assert_eq!(sink.count(), 1);
    assert_eq!(sink.json(0)["commonLabels"]["alertname"], "SightlineTestNotification");
    assert!(n.send_test("nope").await.is_err());
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_reload_keeps_the_running_config() {
    let dir = tempfile::tempdir().unwrap();
    let (url, sink) = start_sink(0, false).await;
    let n = start(&webhook_cfg(&url, "  group_wait: 50ms"), Arc::new(Store::in_memory().unwrap()));
    let bad = dir.path().join("am.yml");
    std::fs::write(&bad, "route:\n  receiver: hook\n  group_wait: soon\nreceivers:\n  - name: hook\n").unwrap();
    let e = n.reload_file(&bad).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:3:", bad.display())), "{e}");
    n.receive(vec![alert(&[("alertname", "StillHere")])]);
    assert!(wait_for(&sink, 1, 1000).await, "old config stopped working");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explain_answers_why_or_why_not() {
    let (url, _sink) = start_sink(0, false).await;
    let n = start(&webhook_cfg(&url, "  group_wait: 1h"), Arc::new(Store::in_memory().unwrap()));
    let labels = Labels::from_pairs([("alertname", "Why"), ("instance", "1")]);
    let e = n.explain(&labels);
    assert_eq!(e.routes, vec![("{}".to_string(), "hook".to_string(), "{}:{alertname=\"Why\"}".to_string())]);
    assert!(e.silenced_by.is_empty() && e.inhibited_by.is_empty() && e.time_muted.is_empty());
    assert_eq!(e.timers[0].0, Duration::from_secs(3600));
    let id = n.set_silence(silence("alertname", "Why")).unwrap();
    assert_eq!(n.explain(&labels).silenced_by, vec![id]);
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_refuses_plaintext_when_tls_is_required() {
    let (port, mails) = smtp_sink().await;
    let yaml = format!(
        "global:\n  smtp_smarthost: \"127.0.0.1:{port}\"\n  smtp_from: \"sl@example.org\"\n  smtp_auth_username: u\n  smtp_auth_password: hunter2\nroute:\n  receiver: mail\n  group_wait: 20ms\n  group_interval: 300ms\nreceivers:\n  - name: mail\n    email_configs:\n      - to: \"ops@example.org\"\n"
    );
    let n = start(&yaml, Arc::new(Store::in_memory().unwrap()));
    n.receive(vec![alert(&[("alertname", "NoTls")])]);
    let mut stats = None;
    for _ in 0..300 {
        if let Some(s) = n.receiver_stats().get("mail").filter(|s| s.failures > 0) {
            stats = Some(s.clone());
            break;
        }
        sleep_ms(10).await;
    }
    let s = stats.expect("delivery never failed");
    assert!(mails.lock().unwrap().is_empty(), "mail sent without STARTTLS");
    let err = s.last_error.unwrap();
    assert!(!err.contains("hunter2"), "{err}");
    n.stop();
}
