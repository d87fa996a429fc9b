//! Alerts reach an external Alertmanager as Prometheus sends them:
//! `POST /api/v2/alerts` with the v2 JSON payload.

use axum::routing::post;
use axum::Router;
use sightline::rules::alertmanager::{targets_from_config, AlertmanagerSink, FanoutSink};
use sightline::rules::{Alert, AlertSink};
use sightline::tsdb::Labels;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[tokio::test]
async fn posts_v2_payload_to_static_alertmanagers() {
    let got: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let g = got.clone();
    let app = Router::new().route(
        "/am/api/v2/alerts",
        post(move |headers: axum::http::HeaderMap, body: String| {
            let g = g.clone();
            async move {
                let ct = headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
                g.lock().unwrap().push((ct, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let cfg: serde_yaml_ng::Value = serde_yaml_ng::from_str(&format!(
        "alertmanagers:\n- path_prefix: /am\n  static_configs:\n  - targets: ['{addr}']\n"
    ))
    .unwrap();
    let targets = targets_from_config(Some(&cfg)).unwrap();
    let am: Arc<dyn AlertSink> = Arc::new(AlertmanagerSink::new(targets).unwrap());
    let sink = FanoutSink(vec![am]);
    sink.send(vec![Alert {
        labels: Labels::from_pairs([("alertname", "Down"), ("job", "node")]),
        annotations: Labels::from_pairs([("summary", "it is down")]),
        starts_at: 1_700_000_000_000,
        ends_at: 1_700_000_240_000,
        generator_url: "http://sl/graph?g0.expr=up&g0.tab=1".into(),
    }]);
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let got = got.lock().unwrap().clone();
    assert_eq!(got.len(), 1, "one POST");
    assert_eq!(got[0].0, "application/json");
    let v: serde_json::Value = serde_json::from_str(&got[0].1).unwrap();
    assert_eq!(v[0]["labels"]["alertname"], "Down");
    assert_eq!(v[0]["annotations"]["summary"], "it is down");
    assert_eq!(v[0]["startsAt"], "2023-11-14T22:13:20.000Z");
    assert_eq!(v[0]["endsAt"], "2023-11-14T22:17:20.000Z");
    assert_eq!(v[0]["generatorURL"], "http://sl/graph?g0.expr=up&g0.tab=1");
}
