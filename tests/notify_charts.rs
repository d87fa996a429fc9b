//! Charts in notifications: the email carries the PNG inline (multipart/related,
//! `cid:`) and links to the dashboard panel; Slack gets an attachment whose
//! image URL points at Sightline's PNG route when a public URL is set, and
//! the link either way. The chart source here is a stand-in for the PromQL
//! engine (the real one is exercised by tests/notify_server.rs).

mod util;

use axum::body::Bytes;
use axum::http::Uri;
use sightline::notify::chart::{ChartSeries, ChartSource, PanelLink, WINDOW_MS};
use sightline::notify::store::Store;
use sightline::notify::{parse_str, Alert, Notifier, NotifierOptions};
use sightline::tsdb::Labels;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use util::smtp_sink;

/// A sine wave for any expression; `node_load1` has a dashboard panel.
struct Source;

impl ChartSource for Source {
    fn last_hour(&self, _expr: &str, end: i64) -> Result<ChartSeries, String> {
        let pts = (0..=60).map(|i| (end - WINDOW_MS + i * 60_000, 2.0 + (i as f64 / 6.0).sin())).collect();
        Ok(vec![(Labels::from_pairs([("instance", "h1")]), pts)])
    }
    fn panel_link(&self, expr: &str, start: i64, end: i64) -> Option<PanelLink> {
        expr.contains("node_load1")
            .then(|| PanelLink { path: format!("/d/host?from={start}&to={end}"), title: "Host › Load".into() })
    }
}

fn start(yaml: &str, public_url: Option<&str>) -> Arc<Notifier> {
    let cfg = parse_str(yaml, "am.yml").unwrap_or_else(|e| panic!("{e}"));
    let opts = NotifierOptions {
        external_url: "http://sightline.test".into(),
        tick: Duration::from_millis(20),
        public_url: public_url.map(str::to_string),
    };
    let n = Notifier::start_with(cfg, Arc::new(Store::in_memory().unwrap()), None, opts).unwrap();
    n.set_chart_source(Arc::new(Source));
    n
}

fn load_alert(expr: &str) -> Alert {
    let mut a = Alert::firing(Labels::from_pairs([("alertname", "HighLoad"), ("instance", "h1")]));
    let q: String = form_urlencoded::byte_serialize(expr.as_bytes()).collect();
    a.generator_url = format!("http://sightline.test/graph?g0.expr={q}&g0.tab=1");
    a
}

async fn wait_until(ms: u64, mut ok: impl FnMut() -> bool) -> bool {
    for _ in 0..ms / 10 {
        if ok() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    ok()
}

/// Undoes quoted-printable soft line breaks and `=3D`, so HTML can be searched.
fn unqp(s: &str) -> String {
    s.replace("=\n", "").replace("=3D", "=")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_carries_the_chart_inline_and_the_panel_link() {
    let (port, mails) = smtp_sink().await;
    let yaml = format!(
        "global:\n  smtp_smarthost: \"127.0.0.1:{port}\"\n  smtp_from: \"sightline@example.org\"\n  smtp_require_tls: false\nroute:\n  receiver: mail\n  group_wait: 50ms\nreceivers:\n  - name: mail\n    email_configs:\n      - to: \"ops@example.org\"\n"
    );
    let n = start(&yaml, None);
    n.receive(vec![load_alert("node_load1 > 2")]);
    assert!(wait_until(3000, || !mails.lock().unwrap().is_empty()).await, "no mail; {:?}", n.receiver_stats());
    let m = mails.lock().unwrap()[0].clone();
    let flat = unqp(&m);
    // text/plain and a related part holding text/html plus the image.
    assert!(m.contains("multipart/alternative"), "{m}");
    assert!(m.contains("multipart/related"), "{m}");
    assert!(m.contains("Content-Type: image/png"), "{m}");
    let cid = m
        .lines()
        .find_map(|l| l.strip_prefix("Content-ID: <").and_then(|r| r.strip_suffix('>')))
        .unwrap_or_else(|| panic!("no Content-ID: {m}"));
    assert!(cid.starts_with("chart0.") && cid.ends_with("@sightline"), "{cid}");
    assert!(m.contains("Content-Disposition: inline"), "{m}");
    assert!(flat.contains(&format!("src=\"cid:{cid}\"")), "HTML does not show the inline image: {flat}");
    // The PNG itself: base64 of the PNG signature.
    assert!(m.contains("iVBORw0KGgo"), "{m}");
    // The link to the dashboard panel over the alert's hour, in both parts.
    let re = regex::Regex::new(r"http://sightline\.test/d/host\?from=(\d+)&(?:amp;)?to=(\d+)").unwrap();
    let c = re.captures(&flat).unwrap_or_else(|| panic!("no panel link: {flat}"));
    let (from, to): (i64, i64) = (c[1].parse().unwrap(), c[2].parse().unwrap());
    assert_eq!(to - from, WINDOW_MS);
    assert!(flat.matches("http://sightline.test/d/host?from=").count() >= 2, "link missing from a part: {flat}");
    assert!(flat.contains("dashboard Host"), "{flat}");
    assert!(flat.contains("node_load1 &gt; 2"), "expression not shown in HTML: {flat}");
    n.stop();
}

#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<(String, String)>>>);

async fn http_sink() -> (String, Sink) {
    let sink = Sink::default();
    let s2 = sink.clone();
    let app = axum::Router::new().fallback(move |uri: Uri, body: Bytes| {
        let s = s2.clone();
        async move {
            s.0.lock().unwrap().push((uri.path().to_string(), String::from_utf8_lossy(&body).into_owned()));
            "ok"
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, sink)
}

fn slack_yaml(url: &str) -> String {
    format!(
        "route:\n  receiver: chat\n  group_wait: 50ms\n  group_by: [alertname]\nreceivers:\n  - name: chat\n    slack_configs:\n      - api_url: {url}/slack\n        channel: '#ops'\n"
    )
}

async fn first_slack_message(sink: &Sink) -> serde_json::Value {
    assert!(wait_until(3000, || !sink.0.lock().unwrap().is_empty()).await, "nothing reached Slack");
    let (path, body) = sink.0.lock().unwrap()[0].clone();
    assert_eq!(path, "/slack");
    serde_json::from_str(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_gets_the_image_url_and_the_link() {
    let (url, sink) = http_sink().await;
    let n = start(&slack_yaml(&url), Some("https://sightline.example.org/"));
    n.receive(vec![load_alert("rate(http_errors_total[5m]) > 1")]);
    let msg = first_slack_message(&sink).await;
    let atts = msg["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{msg}");
    assert_eq!(atts[0]["title"], "[FIRING:1] HighLoad (h1)");
    let chart = &atts[1];
    assert_eq!(chart["title"], "rate(http_errors_total[5m]) > 1");
    let image = chart["image_url"].as_str().unwrap();
    let prefix =
        "https://sightline.example.org/api/v1/alert_chart.png?expr=rate%28http_errors_total%5B5m%5D%29+%3E+1&end=";
    assert!(image.starts_with(prefix), "{image}");
    let end: i64 = image[prefix.len()..].parse().unwrap();
    // No dashboard panel uses this metric: the link opens explore over the same hour.
    let link = chart["title_link"].as_str().unwrap();
    assert_eq!(
        link,
        format!(
            "http://sightline.test/explore?q=rate%28http_errors_total%5B5m%5D%29+%3E+1&from={}&to={end}",
            end - WINDOW_MS
        )
    );
    assert!(chart["text"].as_str().unwrap().contains(link), "{chart}");
    assert!(chart["text"].as_str().unwrap().contains("last "), "{chart}");
    n.stop();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slack_without_public_url_carries_the_link_only() {
    let (url, sink) = http_sink().await;
    let n = start(&slack_yaml(&url), None);
    let mut plain = Alert::firing(Labels::from_pairs([("alertname", "Posted"), ("instance", "x")]));
    plain.generator_url = "http://elsewhere/alerts".into();
    n.receive(vec![load_alert("node_load1 > 2")]);
    let msg = first_slack_message(&sink).await;
    let atts = msg["attachments"].as_array().unwrap();
    assert_eq!(atts.len(), 2, "{msg}");
    assert!(atts[1].get("image_url").is_none(), "{msg}");
    assert!(atts[1]["title_link"].as_str().unwrap().starts_with("http://sightline.test/d/host?from="), "{msg}");
    // An alert posted from outside with no g0.expr in its generator URL gets no chart.
    n.receive(vec![plain]);
    assert!(wait_until(3000, || sink.0.lock().unwrap().len() >= 2).await, "second group never sent");
    let body: serde_json::Value = serde_json::from_str(&sink.0.lock().unwrap()[1].1).unwrap();
    assert_eq!(body["attachments"].as_array().unwrap().len(), 1, "{body}");
    n.stop();
}
