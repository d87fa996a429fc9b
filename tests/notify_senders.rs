//! The shared sender test: every integration retries on 5xx, gives up on
//! 4xx, and never puts its secret (URL, token, key) into an error.

use axum::http::StatusCode;
use sightline::notify::config::{
    DiscordConfig, Integration, MsTeamsConfig, NtfyConfig, PagerDutyConfig, Secret, SlackConfig, TelegramConfig,
    WebhookConfig,
};
use sightline::notify::receivers::send;
use sightline::notify::template::{Data, Templates};
use sightline::notify::Alert;
use sightline::tsdb::Labels;
use std::sync::Arc;

const SECRET: &str = "s3cr3t-T0KEN";

async fn status_server(code: StatusCode) -> String {
    let app = axum::Router::new().fallback(move || async move { (code, "server says no") });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn integrations(base: &str) -> Vec<Integration> {
    let url = |p: &str| Some(Secret(format!("{base}/{p}/{SECRET}")));
    vec![
        Integration::Webhook(WebhookConfig { url: url("webhook"), send_resolved: true, ..Default::default() }),
        Integration::Slack(SlackConfig { api_url: url("slack"), ..Default::default() }),
        Integration::PagerDuty(PagerDutyConfig {
            routing_key: Some(Secret(SECRET.into())),
            url: Some(format!("{base}/pd")),
            ..Default::default()
        }),
        Integration::Discord(DiscordConfig { webhook_url: url("discord"), ..Default::default() }),
        Integration::MsTeams(MsTeamsConfig { webhook_url: url("teams"), ..Default::default() }),
        Integration::Telegram(TelegramConfig {
            bot_token: Some(Secret(SECRET.into())),
            chat_id: 1,
            api_url: Some(base.to_string()),
            ..Default::default()
        }),
        Integration::Ntfy(NtfyConfig {
            url: Some(base.to_string()),
            topic: "t".into(),
            token: Some(Secret(SECRET.into())),
            ..Default::default()
        }),
    ]
}

fn data() -> (Data, Arc<Templates>) {
    let a = Alert::firing(Labels::from_pairs([("alertname", "X")]));
    let d = Data::new("r", "{}:{}", &Labels::new(), &[a], "http://sl", chrono::Utc::now());
    (d, Arc::new(Templates::load(&[], "http://sl").unwrap()))
}

#[tokio::test]
async fn server_errors_are_retryable_and_secret_free() {
    let base = status_server(StatusCode::BAD_GATEWAY).await;
    let (d, t) = data();
    for i in integrations(&base) {
        let e = send(&i, &d, &t).await.expect_err(i.kind());
        assert!(e.retryable, "{}: 502 must be retryable", i.kind());
        assert!(e.message.contains("502"), "{}: {}", i.kind(), e.message);
        assert!(!e.message.contains(SECRET), "{} leaked its secret: {}", i.kind(), e.message);
    }
}

#[tokio::test]
async fn client_errors_are_permanent() {
    let base = status_server(StatusCode::BAD_REQUEST).await;
    let (d, t) = data();
    for i in integrations(&base) {
        let e = send(&i, &d, &t).await.expect_err(i.kind());
        assert!(!e.retryable, "{}: 400 must not be retried", i.kind());
        assert!(!e.message.contains(SECRET), "{} leaked its secret: {}", i.kind(), e.message);
    }
}

#[tokio::test]
async fn connection_errors_are_retryable_and_secret_free() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let base = format!("http://127.0.0.1:{port}");
    let (d, t) = data();
    for i in integrations(&base) {
        let e = send(&i, &d, &t).await.expect_err(i.kind());
        assert!(e.retryable, "{}: connection refused must be retryable", i.kind());
        assert!(!e.message.contains(SECRET), "{} leaked its secret: {}", i.kind(), e.message);
    }
}

#[tokio::test]
async fn success_on_2xx() {
    let base = status_server(StatusCode::OK).await;
    let (d, t) = data();
    for i in integrations(&base) {
        if let Integration::Telegram(_) = i {
            continue; // needs {"ok":true}, covered by the pipeline test
        }
        send(&i, &d, &t).await.unwrap_or_else(|e| panic!("{}: {e}", i.kind()));
    }
}
