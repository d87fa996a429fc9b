//! `amtool` (Debian's prometheus-alertmanager) against Sightline's API v2:
//! alert add/query, silence add/query/expire.

mod util;

use sightline::notify::store::Store;
use sightline::notify::{parse_str, Notifier, NotifierOptions};
use sightline::web::alertmanager_api as api_v2;
use std::process::Command;
use std::sync::Arc;

const AMTOOL: &str = "/usr/bin/amtool";

fn amtool(url: &str, args: &[&str]) -> (bool, String) {
    let out = Command::new(AMTOOL).arg(format!("--alertmanager.url={url}")).args(args).output().expect("run amtool");
    // stderr carries a version-mismatch warning; keep it only on failure.
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() {
        text.push_str(&String::from_utf8_lossy(&out.stderr));
    }
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amtool_alerts_and_silences() {
    if !util::peer_installed(AMTOOL, "Debian package prometheus-alertmanager") {
        return;
    }
    let cfg = parse_str("route:\n  receiver: blackhole\n  group_wait: 1h\nreceivers:\n  - name: blackhole\n", "am.yml")
        .unwrap();
    let n = Notifier::start_with(cfg, Arc::new(Store::in_memory().unwrap()), None, NotifierOptions::default()).unwrap();
    let app: axum::Router = api_v2::routes(n.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let u = url.clone();
    tokio::task::spawn_blocking(move || {
        let (ok, out) =
            amtool(&u, &["alert", "add", "alertname=DiskFull", "instance=db1", "--annotation=summary=disk is full"]);
        assert!(ok, "alert add: {out}");
        let (ok, out) = amtool(&u, &["alert", "add", "alertname=CpuHigh", "instance=web1"]);
        assert!(ok, "alert add: {out}");

        let (ok, out) = amtool(&u, &["alert", "query"]);
        assert!(ok, "alert query: {out}");
        assert!(out.contains("DiskFull") && out.contains("CpuHigh"), "{out}");
        let (ok, out) = amtool(&u, &["alert", "query", "-o", "extended", "instance=db1"]);
        assert!(ok, "alert query filter: {out}");
        assert!(out.contains("DiskFull") && !out.contains("CpuHigh"), "{out}");
        assert!(out.contains("disk is full"), "{out}");

        let (ok, id) = amtool(
            &u,
            &["silence", "add", "alertname=DiskFull", "--comment=maintenance", "--author=ops", "--duration=1h"],
        );
        assert!(ok, "silence add: {id}");
        let id = id.trim().to_string();
        assert_eq!(id.len(), 36, "silence id {id:?}");

        let (ok, out) = amtool(&u, &["silence", "query"]);
        assert!(ok, "silence query: {out}");
        assert!(out.contains(&id) && out.contains("maintenance") && out.contains("ops"), "{out}");
        let (ok, out) = amtool(&u, &["silence", "query", "-q", "alertname=DiskFull"]);
        assert!(ok && out.trim() == id, "silence query -q: {out}");

        // The silenced alert is hidden by default and shown with --silenced.
        let (_, out) = amtool(&u, &["alert", "query"]);
        assert!(!out.contains("DiskFull") && out.contains("CpuHigh"), "{out}");
        let (_, out) = amtool(&u, &["alert", "query", "--silenced"]);
        assert!(out.contains("DiskFull"), "{out}");

        let (ok, out) = amtool(&u, &["silence", "expire", &id]);
        assert!(ok, "silence expire: {out}");
        let (_, out) = amtool(&u, &["silence", "query"]);
        assert!(!out.contains(&id), "expired silence still listed as active: {out}");
        let (_, out) = amtool(&u, &["silence", "query", "--expired"]);
        assert!(out.contains(&id), "{out}");
        let (_, out) = amtool(&u, &["alert", "query"]);
        assert!(out.contains("DiskFull"), "{out}");

        let (ok, out) = amtool(&u, &["silence", "expire", "00000000-0000-4000-8000-000000000000"]);
        assert!(!ok, "expiring an unknown silence must fail: {out}");
        let (ok, out) = amtool(&u, &["config", "show"]);
        assert!(ok && out.contains("receiver: blackhole"), "config show: {out}");
    })
    .await
    .unwrap();
    n.stop();
}
