//! API v2 handlers without a socket: shapes, filters, and bad input
//! answered with 4xx (never a panic).

use axum::body::Body;
use axum::http::{Request, StatusCode};
use sightline::notify::store::Store;
use sightline::notify::{parse_str, Notifier, NotifierOptions};
use sightline::web::alertmanager_api as api_v2;
use std::sync::Arc;
use tower::ServiceExt;

fn app() -> (axum::Router, Arc<Notifier>) {
    let cfg = parse_str(
        "route:\n  receiver: a\n  group_by: [alertname]\n  group_wait: 1h\n  routes:\n    - matchers: [team=db]\n      receiver: db\nreceivers:\n  - name: a\n  - name: db\n",
        "am.yml",
    )
    .unwrap();
    let n = Notifier::start_with(cfg, Arc::new(Store::in_memory().unwrap()), None, NotifierOptions::default()).unwrap();
    (api_v2::routes(n.clone()), n)
}

async fn call(app: &axum::Router, method: &str, uri: &str, body: &str) -> (StatusCode, serde_json::Value) {
    let req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
}

#[tokio::test]
async fn alerts_groups_and_filters() {
    let (app, n) = app();
    let (s, _) = call(
        &app,
        "POST",
        "/api/v2/alerts",
        r#"[{"labels":{"alertname":"A","team":"db"},"annotations":{"summary":"s"}},{"labels":{"alertname":"B"}}]"#,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = call(&app, "GET", "/api/v2/alerts", "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v.as_array().unwrap().len(), 2);
    let a = v.as_array().unwrap().iter().find(|a| a["labels"]["alertname"] == "A").unwrap();
    assert_eq!(a["receivers"], serde_json::json!([{"name": "db"}]));
    assert_eq!(a["status"]["state"], "active");
    assert_eq!(a["annotations"]["summary"], "s");
    assert_eq!(a["fingerprint"].as_str().unwrap().len(), 16);
    let (_, v) = call(&app, "GET", "/api/v2/alerts?filter=alertname%3D%22B%22", "").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = call(&app, "GET", "/api/v2/alerts?receiver=db", "").await;
    assert_eq!(v.as_array().unwrap().len(), 1);
    let (_, v) = call(&app, "GET", "/api/v2/alerts/groups", "").await;
    let groups = v.as_array().unwrap();
    assert_eq!(groups.len(), 2);
    assert!(groups.iter().any(|g| g["receiver"]["name"] == "db" && g["labels"]["alertname"] == "A"));
    let (_, v) = call(&app, "GET", "/api/v2/receivers", "").await;
    assert_eq!(v, serde_json::json!([{"name": "a"}, {"name": "db"}]));
    let (_, v) = call(&app, "GET", "/api/v2/status", "").await;
    assert_eq!(v["cluster"]["status"], "disabled");
    assert!(v["config"]["original"].as_str().unwrap().contains("receiver: db"));
    n.stop();
}

#[tokio::test]
async fn bad_input_is_a_400() {
    let (app, n) = app();
    for body in [
        "not json",
        "{}",
        r#"[{"labels":{}}]"#,
        r#"[{"labels":{"a":""}}]"#,
        r#"[{"labels":{"a":1}}]"#,
        r#"[{"labels":{"a":"b"},"startsAt":"yesterday"}]"#,
        r#"[{"labels":{"a":"b"},"startsAt":"2026-01-02T00:00:00Z","endsAt":"2026-01-01T00:00:00Z"}]"#,
    ] {
        let (s, v) = call(&app, "POST", "/api/v2/alerts", body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
        assert!(v.is_string(), "error must be a JSON string: {v}");
    }
    let (s, _) = call(&app, "GET", "/api/v2/alerts?filter=%3D%3D", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _) = call(&app, "GET", "/api/v2/alerts?active=maybe", "").await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let now = chrono::Utc::now();
    let silence = |matchers: &str, end: chrono::DateTime<chrono::Utc>| {
        format!(
            r#"{{"matchers":{matchers},"startsAt":"{}","endsAt":"{}","createdBy":"t","comment":"c"}}"#,
            now.to_rfc3339(),
            end.to_rfc3339()
        )
    };
    let hour = now + chrono::Duration::hours(1);
    for body in [
        "nope".to_string(),
        silence("[]", hour),
        silence(r#"[{"name":"a","value":".*","isRegex":true}]"#, hour),
        silence(r#"[{"name":"a","value":"(","isRegex":true}]"#, hour),
        silence(r#"[{"name":"a","value":"b","isRegex":false}]"#, now - chrono::Duration::hours(1)),
    ] {
        let (s, _) = call(&app, "POST", "/api/v2/silences", &body).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    }
    let (s, v) =
        call(&app, "POST", "/api/v2/silences", &silence(r#"[{"name":"a","value":"b","isRegex":false}]"#, hour)).await;
    assert_eq!(s, StatusCode::OK);
    let id = v["silenceID"].as_str().unwrap().to_string();
    let (s, v) = call(&app, "GET", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["status"]["state"], "active");
    assert_eq!(v["matchers"][0]["isEqual"], true);
    let (s, _) = call(&app, "GET", "/api/v2/silence/unknown", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "DELETE", "/api/v2/silence/unknown", "").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = call(&app, "DELETE", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!(s, StatusCode::OK);
    let (s, _) = call(&app, "DELETE", &format!("/api/v2/silence/{id}"), "").await;
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR, "expiring twice");
    let (_, v) = call(&app, "GET", "/api/v2/silences?filter=a%3Db", "").await;
    assert_eq!(v[0]["status"]["state"], "expired");
    n.stop();
}
