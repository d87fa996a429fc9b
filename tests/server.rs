//! End-to-end tests: the real binary, real scrapes over loopback, answers
//! checked through the HTTP API and the pages.

mod util;

use serde_json::Value;
use std::time::Duration;
use util::{free_port, Server, Target};

fn config(jobs: &[(&str, &str)]) -> String {
    let mut s = String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n");
    for (job, addr) in jobs {
        s.push_str(&format!("  - job_name: {job}\n    static_configs:\n      - targets: ['{addr}']\n"));
    }
    s
}

fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

#[test]
fn scrapes_a_target_and_answers_queries() {
    let target = Target::start(
        "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 10\nhttp_requests_total{code=\"500\"} 2\n# TYPE temp gauge\ntemp{room=\"a\"} 21.5\ntemp{room=\"b\"} 18\n",
    );
    let server = Server::start(&config(&[("app", &target.addr)]));

    let r = server.wait_for("temp", 15, |r| r.len() == 2);
    assert_eq!(r[0]["metric"]["job"], "app");
    assert_eq!(r[0]["metric"]["instance"], target.addr.as_str());
    assert_eq!(r[0]["metric"]["room"], "a");
    assert_eq!(value(&r[0]), 21.5);

    let up = server.query("up{job=\"app\"}");
    assert_eq!(up.len(), 1);
    assert_eq!(value(&up[0]), 1.0);
    for name in [
        "scrape_duration_seconds",
        "scrape_samples_scraped",
        "scrape_samples_post_metric_relabeling",
        "scrape_series_added",
    ] {
        assert_eq!(server.query(&format!("{name}{{job=\"app\"}}")).len(), 1, "{name}");
    }
    assert_eq!(value(&server.query("scrape_samples_scraped{job=\"app\"}")[0]), 4.0);

    // All four matcher kinds, aggregation and arithmetic.
    assert_eq!(server.query("temp{room=~\"a|c\"}").len(), 1);
    assert_eq!(server.query("temp{room!~\"a\"}").len(), 1);
    assert_eq!(server.query("temp{room!=\"a\"}")[0]["metric"]["room"], "b");
    assert_eq!(value(&server.query("sum(temp)")[0]), 39.5);
    assert_eq!(value(&server.query("max by (job) (temp)")[0]), 21.5);
    assert_eq!(value(&server.query("count(temp > 20)")[0]), 1.0);
    assert_eq!(value(&server.query("temp{room=\"b\"} * 2")[0]), 36.0);

    // A counter that grows: rate becomes positive once two scrapes have seen it move.
    target.set_body("# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1000\n");
    server.wait_for("rate(http_requests_total{code=\"200\"}[1m])", 15, |r| r.len() == 1 && value(&r[0]) > 0.0);

    // Range queries return a matrix.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let v = server.api(&format!("/api/v1/query_range?query=up&start={}&end={now}&step=1", now - 30));
    assert_eq!(v["data"]["resultType"], "matrix");
    assert!(!v["data"]["result"][0]["values"].as_array().unwrap().is_empty());

    // Series, labels, label values.
    let s = server.api("/api/v1/series?match[]=temp");
    assert_eq!(s["data"].as_array().unwrap().len(), 2);
    let labels = server.api("/api/v1/labels");
    assert!(labels["data"].as_array().unwrap().iter().any(|l| l == "room"));
    let rooms = server.api("/api/v1/label/room/values");
    assert_eq!(rooms["data"], serde_json::json!(["a", "b"]));
    let info = server.api("/api/v1/status/buildinfo");
    assert_eq!(info["status"], "success");
    assert!(info["data"]["version"].is_string());
}

#[test]
fn dead_and_malformed_targets_are_down_with_errors_and_others_unaffected() {
    let good = Target::start("ok_metric 1\n");
    let bad = Target::start("this is { not a metric\n");
    let dead = format!("127.0.0.1:{}", free_port());
    let server = Server::start(&config(&[("good", &good.addr), ("bad", &bad.addr), ("dead", &dead)]));

    server.wait_for("up{job=~\"good|bad|dead\"}", 15, |r| r.len() == 3);
    let up = |job: &str| value(&server.query(&format!("up{{job=\"{job}\"}}"))[0]);
    assert_eq!(up("good"), 1.0);
    assert_eq!(up("bad"), 0.0);
    assert_eq!(up("dead"), 0.0);
    assert_eq!(server.query("ok_metric").len(), 1);

    let targets = server.api("/api/v1/targets");
    let active = targets["data"]["activeTargets"].as_array().unwrap();
    assert_eq!(active.len(), 4, "three jobs and the built-in host job");
    let by_job = |job: &str| active.iter().find(|t| t["scrapePool"] == job).unwrap().clone();
    assert_eq!(by_job("good")["health"], "up");
    assert_eq!(by_job("good")["lastError"], "");
    assert_eq!(by_job("bad")["health"], "down");
    let parse_error = by_job("bad")["lastError"].as_str().unwrap().to_string();
    assert!(parse_error.contains("line 1"), "parse error names the line: {parse_error}");
    assert_eq!(by_job("dead")["health"], "down");
    assert!(!by_job("dead")["lastError"].as_str().unwrap().is_empty());

    // The targets page shows the same error, HTML-escaped.
    let (status, html) = server.get("/targets");
    assert_eq!(status, 200);
    assert!(html.contains("line 1"), "{html}");
    let (_, home) = server.get("/");
    assert!(home.contains(&good.addr) && home.contains("down"));
}

#[test]
fn series_go_stale_when_they_vanish_or_the_target_stops() {
    let target = Target::start("a_metric 1\nb_metric 2\n");
    let server = Server::start(&config(&[("app", &target.addr)]));
    server.wait_for("b_metric", 15, |r| r.len() == 1);

    // A series that disappears from the exposition is stale at the next scrape.
    target.set_body("a_metric 1\n");
    server.wait_for("b_metric", 15, |r| r.is_empty());
    assert_eq!(server.query("a_metric").len(), 1);

    // A target that stops answering: up=0 and its series are stale well
    // before the 5-minute lookback runs out.
    target.stop();
    server.wait_for("up{job=\"app\"}", 15, |r| r.len() == 1 && value(&r[0]) == 0.0);
    server.wait_for("a_metric", 15, |r| r.is_empty());
}

#[test]
fn bad_queries_get_bad_data_errors() {
    let server = Server::start(&config(&[]));
    let (status, body) = server.get("/api/v1/query?query=sum(rate(x%5B5m%5D)");
    assert_eq!(status, 400, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["status"], "error");
    assert_eq!(v["errorType"], "bad_data");
    assert!(v["error"].as_str().unwrap().starts_with("invalid parameter \"query\""), "{body}");

    let (status, body) = server.get("/api/v1/query_range?query=up&start=10&end=0&step=1");
    assert_eq!(status, 400);
    assert!(body.contains("end timestamp must not be before start time"), "{body}");
    let (status, body) = server.get("/api/v1/query_range?query=up&start=0&end=10&step=0");
    assert_eq!(status, 400);
    assert!(body.contains("zero or negative query resolution step"), "{body}");
    let (status, body) = server.get("/api/v1/series");
    assert_eq!(status, 400);
    assert!(body.contains("no match[] parameter provided"), "{body}");
    let (status, _) = server.get("/api/v1/query?query=up&time=notatime");
    assert_eq!(status, 400);
}

#[test]
fn bad_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.yml");
    std::fs::write(
        &path,
        "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: x\n    scrape_intervall: 5s\n",
    )
    .unwrap();
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_sightline")).arg("check-config").arg(&path).output().unwrap();
    assert!(!out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("bad.yml:5"), "{text}");
    assert!(text.contains("scrape_intervall"), "{text}");

    // The server refuses to start on it, with the same message.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["--config", path.to_str().unwrap(), "--data", dir.path().join("d").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.yml:5"));
}

#[test]
fn import_backfills_and_survives_restart_after_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("in.om");
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
    let mut om = String::from("# TYPE backfilled gauge\n");
    for i in 0..10 {
        om.push_str(&format!("backfilled{{k=\"v\"}} {i} {}\n", now - 600 + i * 60));
    }
    om.push_str("# EOF\n");
    std::fs::write(&file, om).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
        .args(["import", file.to_str().unwrap(), "--data", data.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("1 series, 10 samples"), "{report}");

    let server = Server::start_in(&config(&[]), dir.path(), &data);
    let r = server.query("backfilled");
    assert_eq!(r.len(), 1);
    assert_eq!(value(&r[0]), 9.0);
    let r = server.query("max_over_time(backfilled[15m])");
    assert_eq!(value(&r[0]), 9.0);
    let status = server.terminate();
    assert!(status.success(), "graceful shutdown exits 0: {status:?}");

    // Everything is still there after the restart.
    let server = Server::start_in(&config(&[]), dir.path(), &data);
    assert_eq!(server.query("backfilled").len(), 1);
}

#[test]
fn self_monitoring_pages_and_dashboard() {
    let server = Server::start(&config(&[("sightline", "{SELF}")]));
    let (status, metrics) = server.get("/metrics");
    assert_eq!(status, 200);
    assert!(metrics.contains("sightline_samples_appended_total"));
    for name in [
        "sightline_tsdb_out_of_order_samples_total",
        "sightline_tsdb_active_series",
        "sightline_remote_write_requests_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from /metrics");
    }
    server.wait_for("sightline_samples_appended_total", 15, |r| r.len() == 1 && value(&r[0]) > 0.0);
    // The built-in host collector runs as job "node" with node_exporter's names.
    let load = server.wait_for("node_load1", 15, |r| r.len() == 1);
    assert_eq!(load[0]["metric"]["job"], "node");
    assert!(!server.query("node_cpu_seconds_total{mode=\"idle\"}").is_empty());
    assert_eq!(server.get("/-/healthy").0, 200);

    for page in ["/", "/targets", "/status", "/dashboards", "/explore?q=up&range=15m"] {
        let (status, html) = server.get(page);
        assert_eq!(status, 200, "{page}");
        assert!(html.contains("<nav"), "{page}");
    }
    let (_, explore) = server.get("/explore?q=up&range=15m");
    assert!(explore.contains("<svg"), "explore draws a chart");

    // The built-in self-monitoring dashboard draws its charts as SVG with data.
    server.wait_for("up{job=\"sightline\"}", 15, |r| r.len() == 1);
    std::thread::sleep(Duration::from_secs(2));
    let (status, html) = server.get("/d/sightline?range=15m");
    assert_eq!(status, 200);
    assert!(html.contains("<svg"), "dashboard has charts");
    assert!(html.contains("<polyline") || html.contains("<path"), "charts have data");
    for r in ["15m", "1h", "6h", "24h", "7d"] {
        assert!(html.contains(&format!("range={r}")), "range choice {r}");
    }
    assert_eq!(server.get("/d/nope").0, 404);
}

#[test]
fn file_sd_targets_follow_their_file() {
    let a = Target::start("from_a 1\n");
    let b = Target::start("from_b 1\n");
    let dir = tempfile::tempdir().unwrap();
    let sd = dir.path().join("targets.json");
    std::fs::write(&sd, format!(r#"[{{"targets": ["{}"], "labels": {{"team": "x"}}}}]"#, a.addr)).unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: fsd\n    file_sd_configs:\n      - files: ['{}']\n",
        sd.display()
    );
    let server = Server::start_in(&cfg, dir.path(), &dir.path().join("data"));
    let r = server.wait_for("from_a", 15, |r| r.len() == 1);
    assert_eq!(r[0]["metric"]["team"], "x");

    std::fs::write(&sd, format!(r#"[{{"targets": ["{}"]}}]"#, b.addr)).unwrap();
    server.wait_for("from_b", 30, |r| r.len() == 1);
    // The removed target's series are marked stale.
    server.wait_for("from_a", 15, |r| r.is_empty());
}

#[test]
fn alerts_flow_from_rules_to_a_webhook_and_the_apis() {
    let target = Target::start("queue_depth 7\n");
    let hook = util::Webhook::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alerts.yml"),
        "groups:\n  - name: app\n    interval: 1s\n    rules:\n      - record: job:queue_depth:max\n        expr: max by (job) (queue_depth)\n      - alert: QueueTooDeep\n        expr: queue_depth > 5\n        labels: {severity: page}\n        annotations: {summary: 'depth is {{ $value }}'}\n",
    )
    .unwrap();
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\nalertmanager:\n  route: {{receiver: hook, group_wait: 1s, group_interval: 1s}}\n  receivers:\n    - name: hook\n      webhook_configs: [{{url: 'http://{}/hook'}}]\n",
        target.addr, hook.addr
    );
    let server = Server::start_in(&cfg, dir.path(), &dir.path().join("data"));

    // The recording rule writes back into the store.
    let r = server.wait_for("job:queue_depth:max", 20, |r| r.len() == 1);
    assert_eq!(value(&r[0]), 7.0);
    // The alert fires and is visible as ALERTS, in /api/v1/alerts and /api/v1/rules.
    server.wait_for("ALERTS{alertname=\"QueueTooDeep\",alertstate=\"firing\"}", 20, |r| r.len() == 1);
    let alerts = server.api("/api/v1/alerts");
    let a = &alerts["data"]["alerts"][0];
    assert_eq!(a["labels"]["alertname"], "QueueTooDeep");
    assert_eq!(a["state"], "firing");
    assert_eq!(a["annotations"]["summary"], "depth is 7");
    let rules = server.api("/api/v1/rules");
    assert_eq!(rules["data"]["groups"][0]["rules"].as_array().unwrap().len(), 2);
    // The built-in default alerts are loaded too.
    assert!(rules["data"]["groups"].as_array().unwrap().len() >= 2);

    // The built-in Alertmanager delivers the webhook payload.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while hook.bodies.lock().unwrap().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no webhook delivered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let body: Value = serde_json::from_str(&hook.bodies.lock().unwrap()[0]).unwrap();
    assert_eq!(body["version"], "4");
    assert_eq!(body["receiver"], "hook");
    assert_eq!(body["alerts"][0]["labels"]["alertname"], "QueueTooDeep");
    assert_eq!(body["alerts"][0]["status"], "firing");

    // And the Alertmanager API v2 shows it.
    let v2 = server.api("/api/v2/alerts");
    assert!(v2.as_array().unwrap().iter().any(|a| a["labels"]["alertname"] == "QueueTooDeep"));

    // The home page counts and lists firing alerts.
    let (_, home) = server.get("/");
    assert!(home.contains("Firing alerts") && home.contains("QueueTooDeep"), "{home}");
    // The pages: alerts, rules, and a silence created, listed and expired through forms.
    let (status, html) = server.get("/alerts");
    assert_eq!(status, 200);
    assert!(html.contains("QueueTooDeep") && html.contains("depth is 7"), "{html}");
    let (_, html) = server.get("/rules");
    assert!(html.contains("job:queue_depth:max") && html.contains("TargetDown"), "{html}");
    let form = "matchers=alertname%3D%22QueueTooDeep%22&duration=1h&created_by=ops&comment=known";
    let (status, _) = util::http_post_form(&server.addr, "/silences", form).unwrap();
    assert_eq!(status, 303);
    let silences = server.api("/api/v2/silences");
    let id = silences[0]["id"].as_str().unwrap().to_string();
    assert_eq!(silences[0]["status"]["state"], "active");
    let (_, html) = server.get("/silences");
    assert!(html.contains("QueueTooDeep") && html.contains("known"));
    let (status, body) =
        util::http_post_form(&server.addr, "/silences", "matchers=&duration=1h&created_by=x&comment=y").unwrap();
    assert_eq!(status, 400);
    assert!(body.contains("at least one matcher"), "{body}");
    let (status, _) = util::http_post_form(&server.addr, &format!("/silences/{id}/expire"), "").unwrap();
    assert_eq!(status, 303);
    assert_eq!(server.api("/api/v2/silences")[0]["status"]["state"], "expired");

    // The alerts page links each alert to a prefilled silence form.
    let (_, html) = server.get("/alerts");
    assert!(html.contains("/silences?matchers="), "{html}");
    assert!(html.contains("&#38;ack=1") && html.contains(">Acknowledge<"), "{html}");
    // Grouped as routed, with why it was (not) notified.
    assert!(html.contains("Notification groups") && html.contains("→ hook"), "{html}");
    assert!(html.contains("group_wait 1s"), "{html}");
    // Receivers: last delivery result, delivery history, and a test notification.
    let (_, html) = server.get("/receivers");
    assert!(html.contains("hook") && html.contains("webhook") && html.contains("Delivery history"), "{html}");
    let before = hook.bodies.lock().unwrap().len();
    let (status, body) = util::http_post_form(&server.addr, "/receivers/hook/test", "").unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("Test notification sent to hook"), "{body}");
    assert!(hook.bodies.lock().unwrap().len() > before, "the test notification reached the webhook");
}

#[test]
fn help_explains_every_flag_and_subcommand() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sightline")).arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--config", "--listen", "--data", "--log-format", "--log-level"] {
        assert!(help.contains(flag), "{flag} missing from --help");
    }
    for cmd in ["check-config", "import ", "check-rules", "test-rules", "import-dashboard"] {
        let line = help.lines().find(|l| l.trim_start().starts_with(cmd)).unwrap_or_else(|| panic!("{cmd} missing"));
        assert!(line.trim().len() > cmd.len() + 10, "{cmd} has no description: {line:?}");
    }
}

#[test]
fn reload_picks_up_rule_changes_and_keeps_rules_when_a_file_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.yml");
    std::fs::write(&rules, "groups:\n  - name: g\n    rules:\n      - record: one\n        expr: vector(1)\n").unwrap();
    let cfg = "global:\n  evaluation_interval: 1s\nrule_files: [r.yml]\ndefault_rules: false\nscrape_configs: []\nhost: {enabled: false}\n";
    let server = Server::start_in(cfg, dir.path(), &dir.path().join("data"));
    let names = |s: &Server| -> Vec<String> {
        s.api("/api/v1/rules")["data"]["groups"][0]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&server), ["one"]);

    std::fs::write(&rules, "groups:\n  - name: g\n    rules:\n      - record: two\n        expr: vector(2)\n").unwrap();
    let (status, _) = util::http_post_form(&server.addr, "/-/reload", "").unwrap();
    assert_eq!(status, 200);
    assert_eq!(names(&server), ["two"]);

    // A broken file is refused with the reason; the running rules stay.
    std::fs::write(&rules, "groups:\n  - name: g\n    rules:\n      - record: three\n        expr: sum(\n").unwrap();
    let (status, body) = util::http_post_form(&server.addr, "/-/reload", "").unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("r.yml"), "{body}");
    assert_eq!(names(&server), ["two"]);
}

#[test]
fn query_limits_from_the_config_answer_like_prometheus() {
    let target = Target::start("m{i=\"1\"} 1\nm{i=\"2\"} 2\nm{i=\"3\"} 3\n");
    let cfg = format!(
        "global:\n  scrape_interval: 1s\nquery:\n  max_samples: 100\n  max_concurrency: 2\nhost: {{enabled: false}}\nscrape_configs:\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\n",
        target.addr
    );
    let server = Server::start(&cfg);
    server.wait_for("m", 15, |r| r.len() == 3);
    // Three series over 61 steps hold more than 100 samples.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 1;
    let (status, body) = server.get(&format!("/api/v1/query_range?query=m&start={}&end={now}&step=1", now - 60));
    assert_eq!(status, 422, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["errorType"], "execution");
    assert_eq!(v["error"], "query processing would load too many samples into memory in query execution");
}
