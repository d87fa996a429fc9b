//! The UI against the real binary with real data: every built-in dashboard
//! draws every panel, label values are escaped, dashboards load from folders
//! (and reload), save to the database, and Grafana's most used dashboard
//! imports and draws with only the built-in host collector running.

mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{encode, Server, Target};

/// A minimal HTTP/1.1 POST of a form: (status, Location header, body).
fn post_form(addr: &str, path: &str, fields: &[(&str, &str)]) -> (u16, String, String) {
    let body: String = form_urlencoded::Serializer::new(String::new()).extend_pairs(fields).finish();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let location = head
        .lines()
        .find_map(|l| l.strip_prefix("location: ").or_else(|| l.strip_prefix("Location: ")))
        .unwrap_or("")
        .to_string();
    (status, location, body.to_string())
}

/// One rendered panel: its title and its HTML.
struct PanelHtml {
    title: String,
    html: String,
}

/// The panels of a dashboard page, in order.
fn panels(page: &str) -> Vec<PanelHtml> {
    page.split(r#"<figure class="panel "#)
        .skip(1)
        .map(|chunk| {
            let html = chunk.split("</figure>").next().unwrap_or("").to_string();
            let title = html
                .split(r#"<figcaption class="panel-title">"#)
                .nth(1)
                .and_then(|t| t.split(['<']).next())
                .unwrap_or("")
                .trim()
                .to_string();
            PanelHtml { title, html }
        })
        .collect()
}

impl PanelHtml {
    fn error(&self) -> Option<&str> {
        self.html.split(r#"class="panel-error""#).nth(1).map(|e| e.split("</div>").next().unwrap_or(e))
    }
    fn no_data(&self) -> bool {
        self.html.contains(r#"<div class="no-data">"#)
    }
    /// Something was drawn: a line or area, a stat, a gauge, a bar or a table cell.
    fn drew(&self) -> bool {
        self.html.contains("<path")
            || self.html.contains("stat-value")
            || self.html.contains("<td")
            || self.html.contains("<rect")
            || self.html.contains(r#"class="markdown""#)
    }
}

/// An app exposing HTTP request counters and a latency histogram that grow,
/// plus a label value that tries to inject a script.
fn app_body(n: u64) -> String {
    let mut s = String::from("# TYPE http_requests_total counter\n");
    s.push_str(&format!("http_requests_total{{code=\"200\",handler=\"/api\",method=\"GET\"}} {}\n", 100 + n * 7));
    s.push_str(&format!("http_requests_total{{code=\"500\",handler=\"/api\",method=\"GET\"}} {}\n", 3 + n));
    s.push_str("# TYPE http_request_duration_seconds histogram\n");
    let mut cum = 0;
    for (le, per) in [("0.05", 3), ("0.1", 2), ("0.5", 2), ("1", 1), ("+Inf", 1)] {
        cum += per * n + per;
        s.push_str(&format!("http_request_duration_seconds_bucket{{le=\"{le}\"}} {cum}\n"));
    }
    s.push_str(&format!("http_request_duration_seconds_sum {}\n", n as f64 * 1.7));
    s.push_str(&format!("http_request_duration_seconds_count {cum}\n"));
    s.push_str("# TYPE evil_metric gauge\nevil_metric{v=\"<script>alert(1)</script>\"} 1\n");
    s
}

/// Keeps the app's counters moving until dropped.
struct Ticker(Arc<AtomicBool>);
impl Drop for Ticker {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}
fn tick(target: Arc<Target>) -> Ticker {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    std::thread::spawn(move || {
        let mut n = 1;
        while !s.load(Ordering::SeqCst) {
            target.set_body(&app_body(n));
            n += 1;
            std::thread::sleep(Duration::from_millis(250));
        }
    });
    Ticker(stop)
}

/// The evil label value appears, escaped (as the panels or as askama escape it).
fn escaped(page: &str) -> bool {
    page.contains("&lt;script&gt;alert(1)&lt;/script&gt;") || page.contains("&#60;script&#62;alert(1)&#60;/script&#62;")
}

/// Panels that cannot have data in this test, and why.
const NO_DATA_EXPECTED: &[(&str, &str, &str)] =
    &[("overview", "Firing alerts by name", "no alerting rules are loaded")];

#[test]
fn every_builtin_dashboard_draws_every_panel() {
    let app = Arc::new(Target::start(&app_body(0)));
    let _ticker = tick(app.clone());
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 800ms\nscrape_configs:\n  - job_name: sightline\n    static_configs: [{{targets: ['{{SELF}}']}}]\n  - job_name: app\n    static_configs: [{{targets: ['{}']}}]\n",
        app.addr
    );
    let server = Server::start_in(&config, dir.path(), &dir.path().join("data"));
    // Enough scrapes for rate() over $__rate_interval (4 scrape intervals) on every job.
    server.wait_for("count(count_over_time(up[1m]) >= 6)", 30, |r| {
        r.first().and_then(|v| v["value"][1].as_str()).is_some_and(|v| v.parse::<f64>().unwrap_or(0.0) >= 3.0)
    });
    // Exercise the query path so the query-duration histogram has samples.
    server.wait_for("sum(rate(sightline_http_requests_total[1m])) > 0", 20, |r| !r.is_empty());
    server.wait_for("sum(rate(http_requests_total[1m])) > 0", 20, |r| !r.is_empty());

    let mut failures = Vec::new();
    let mut checked = 0;
    for uid in ["overview", "host", "targets", "sightline", "http"] {
        let all_rows: String = (0..20).map(|i| format!("&open={i}")).collect();
        let path = format!("/d/{uid}?from=now-5m&to=now{all_rows}");
        let (status, page) = server.get(&path);
        assert_eq!(status, 200, "{path}: {page}");
        let ps = panels(&page);
        assert!(ps.len() >= 4, "{uid}: only {} panels", ps.len());
        for p in ps {
            checked += 1;
            let exempt = NO_DATA_EXPECTED.iter().any(|(d, t, _)| *d == uid && *t == p.title);
            if let Some(e) = p.error() {
                failures.push(format!("{uid} / {}: error {e}", p.title));
            } else if !exempt && (p.no_data() || !p.drew()) {
                failures.push(format!("{uid} / {}: no data", p.title));
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} panels failed:\n{}", failures.len(), failures.join("\n"));
    assert!(checked >= 40, "only {checked} panels checked");

    // Label values are text everywhere: explore graph, explore table, a variable.
    for tab in ["graph", "table"] {
        let (status, page) = server.get(&format!("/explore?q=evil_metric&from=now-5m&to=now&tab={tab}"));
        assert_eq!(status, 200);
        assert!(!page.contains("<script>alert"), "{tab}: raw label value in\n{page}");
        assert!(escaped(&page), "{tab}: {page}");
    }
    let yaml = "title: Evil\nuid: evil\nvariables:\n  - {name: v, query: 'label_values(evil_metric, v)'}\nrows:\n  - panels:\n      - {title: 'v=$v', type: table, targets: [{expr: evil_metric, legend: '{{v}}'}]}\n      - {title: lines, targets: [{expr: evil_metric, legend: '{{v}}'}]}\n";
    let (status, location, body) = post_form(&server.addr, "/dashboards/save", &[("yaml", yaml), ("action", "saveas")]);
    assert_eq!((status, location.as_str()), (303, "/d/evil"), "{body}");
    let (status, page) = server.get("/d/evil?from=now-5m&to=now");
    assert_eq!(status, 200);
    assert!(!page.contains("<script>alert"), "raw label value on the dashboard page:\n{page}");
    assert!(escaped(&page), "{page}");
    assert!(panels(&page).iter().all(|p| p.error().is_none() && !p.no_data()));

    // Saved dashboards survive a restart (they are in the SQLite file).
    drop(server);
    let server = Server::start_in(&config, dir.path(), &dir.path().join("data"));
    let (status, page) = server.get("/dashboards?q=evil");
    assert_eq!(status, 200);
    assert!(page.contains(r#"href="/d/evil""#), "{page}");
    assert!(page.contains("saved"));
    // "Save as" may not take an existing uid; a built-in uid is refused too.
    let (status, _, body) = post_form(&server.addr, "/dashboards/save", &[("yaml", yaml), ("action", "saveas")]);
    assert_eq!(status, 400);
    assert!(body.contains("already exists"), "{body}");
    let (status, _, body) =
        post_form(&server.addr, "/dashboards/save", &[("yaml", "title: H\nuid: host\n"), ("action", "save")]);
    assert_eq!(status, 400);
    assert!(body.contains("built-in"), "{body}");
    // The editor of a saved dashboard offers Save and Delete; delete removes it.
    let (status, page) = server.get("/d/evil/edit");
    assert_eq!(status, 200);
    assert!(page.contains(r#"value="save""#) && page.contains(r#"action="/d/evil/delete""#), "{page}");
    let (status, location, _) = post_form(&server.addr, "/d/evil/delete", &[]);
    assert_eq!((status, location.as_str()), (303, "/dashboards"));
    assert_eq!(server.get("/d/evil").0, 404);
    // A bad field is refused with its path.
    let bad = "title: X\nrows:\n  - panels:\n    - {title: a, targets: [{expr: up}], unit: bytez}\n";
    let (status, _, body) = post_form(&server.addr, "/dashboards/save", &[("yaml", bad), ("action", "saveas")]);
    assert_eq!(status, 400);
    assert!(body.contains("rows[0].panels[0].unit: unknown unit"), "{body}");
}

#[test]
fn folders_load_reload_and_show_errors() {
    let dir = tempfile::tempdir().unwrap();
    let dash_dir = dir.path().join("dash");
    std::fs::create_dir(&dash_dir).unwrap();
    std::fs::write(
        dash_dir.join("team.yml"),
        "title: Team board\ntags: [team, web]\nrows:\n  - panels:\n      - {title: Up, targets: [{expr: up}]}\n",
    )
    .unwrap();
    std::fs::write(
        dash_dir.join("broken.yml"),
        "title: Broken\nrows:\n  - panels:\n    - {title: a, targets: [{expr: up}], width: 30}\n",
    )
    .unwrap();
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sightline\n    static_configs: [{{targets: ['{{SELF}}']}}]\ndashboards:\n  paths: ['{}']\n",
        dash_dir.display()
    );
    let server = Server::start_in(&config, dir.path(), &dir.path().join("data"));
    let (status, page) = server.get("/dashboards");
    assert_eq!(status, 200);
    assert!(page.contains(r#"href="/d/team-board""#), "{page}");
    assert!(page.contains("broken.yml"), "{page}");
    assert!(page.contains("rows[0].panels[0].width: 30 is outside 1..=24"), "{page}");
    // Tag filter and search.
    let (_, page) = server.get("/dashboards?tag=team");
    assert!(page.contains("/d/team-board") && !page.contains(r#"href="/d/host""#), "{page}");
    let (_, page) = server.get(&format!("/dashboards?q={}", encode("host")));
    assert!(page.contains(r#"href="/d/host""#) && !page.contains("/d/team-board"), "{page}");

    // Edit the file: the next request sees the change (rescanned at most once a second).
    std::fs::write(dash_dir.join("team.yml"), "title: Team board v2\nuid: team-board\nrows: []\n").unwrap();
    std::fs::write(dash_dir.join("broken.yml"), "title: Fixed\n").unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, page) = server.get("/dashboards");
        if page.contains("Team board v2") && page.contains("/d/fixed") && !page.contains("Not loaded") {
            break;
        }
        assert!(Instant::now() < deadline, "folder change not picked up:\n{page}");
        std::thread::sleep(Duration::from_millis(300));
    }
    // The editor shows a file dashboard's own text.
    let (status, page) = server.get("/d/team-board/edit");
    assert_eq!(status, 200);
    assert!(page.contains("Team board v2") && page.contains("team.yml"), "{page}");
    assert_eq!(server.get("/d/nope").0, 404);
}

#[test]
fn time_picker_state_lives_in_the_url() {
    let server = Server::start("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: sightline\n    static_configs: [{targets: ['{SELF}']}]\n");
    let (status, page) = server.get("/d/sightline?from=now-6h&to=now&refresh=30s&var-job=x");
    assert_eq!(status, 200);
    assert!(page.contains("Last 6h"), "{page}");
    assert!(page.contains(r#"data-refresh="30""#), "{page}");
    // Preset links keep the variables and refresh; the absolute form carries them as hidden fields.
    assert!(page.contains("href=\"/d/sightline?refresh=30s&#38;var-job=x&#38;range=15m\""), "{page}");
    assert!(page.contains(r#"<input type="hidden" name="var-job" value="x">"#), "{page}");
    // Absolute ranges: epoch ms and ISO, with no auto-refresh offered.
    let (status, page) = server.get("/d/sightline?from=2026-01-01T00:00&to=2026-01-01T06:00");
    assert_eq!(status, 200);
    assert!(page.contains("2026-01-01 00:00:00 to 2026-01-01 06:00:00 UTC"), "{page}");
    assert!(page.contains(r#"data-refresh="0""#));
    let (_, page) = server.get("/explore?q=vector(1)&from=1767225600000&to=1767247200000");
    assert!(
        page.contains(r#"data-start="1767225600000" data-end="1767247200000""#),
        "charts span the asked range: {page}"
    );
    let (_, page) = server.get("/d/sightline?from=now&to=now-1h");
    assert!(page.contains("start before it ends"), "{page}");
    // Explore: tabs, and the script is served.
    server.wait_for("up", 15, |r| !r.is_empty());
    let (_, page) = server.get("/explore?q=up&tab=table");
    assert!(page.contains("<caption") && page.contains("up{"), "{page}");
    let (status, js) = server.get("/assets/sightline.js");
    assert_eq!(status, 200);
    assert!(js.contains("dragZoom"));
}

#[test]
fn node_exporter_full_imports_and_draws_with_the_host_collector() {
    let dir = tempfile::tempdir().unwrap();
    let dash_dir = dir.path().join("dash");
    std::fs::create_dir(&dash_dir).unwrap();
    for (file, uid) in [("node-exporter-full.json", "nef"), ("node-exporter-full-old.json", "nef-old")] {
        let src = format!("{}/../shared/conformance/grafana/{file}", env!("CARGO_MANIFEST_DIR"));
        let src =
            if std::path::Path::new(&src).exists() { src } else { format!("/work/shared/conformance/grafana/{file}") };
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args(["import-dashboard", &src])
            .output()
            .unwrap();
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
        let yaml = String::from_utf8(out.stdout).unwrap();
        let d = sightline::dashboards::parse_yaml(&yaml, file).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(d.panels().count() > 100, "{file}: {} panels", d.panels().count());
        let yaml = yaml.replacen(&format!("uid: {}\n", d.uid), &format!("uid: {uid}\n"), 1);
        std::fs::write(dash_dir.join(format!("{uid}.yml")), yaml).unwrap();
    }
    // Only the host collector (job node); no scrape jobs.
    let config = format!(
        "global:\n  scrape_interval: 1s\nscrape_configs: []\ndashboards:\n  paths: ['{}']\n",
        dash_dir.display()
    );
    let server = Server::start_in(&config, dir.path(), &dir.path().join("data"));
    server.wait_for("count_over_time(node_cpu_seconds_total[1m]) >= 6", 30, |r| !r.is_empty());
    let names: Vec<String> = server.api("/api/v1/label/__name__/values")["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    let instance = server.query("node_uname_info")[0]["metric"]["instance"].as_str().unwrap().to_string();
    let metric_re = regex::Regex::new(r"\bnode_[a-zA-Z0-9_:]+").unwrap();

    // The legacy export uses node_exporter's pre-0.16 metric names (node_cpu,
    // node_memory_MemTotal); the import renames those whose unit did not change.
    for (uid, min_provided) in [("nef", 40), ("nef-old", 40)] {
        let yaml = std::fs::read_to_string(dash_dir.join(format!("{uid}.yml"))).unwrap();
        let d = sightline::dashboards::parse_yaml(&yaml, uid).unwrap();
        let all_rows: String = (0..d.rows.len()).map(|i| format!("&open={i}")).collect();
        let (status, page) = server.get(&format!("/d/{uid}?from=now-5m&to=now{all_rows}"));
        assert_eq!(status, 200, "{page}");
        assert!(!page.contains("Not found"));
        let rendered = panels(&page);
        let model: Vec<_> = d.panels().map(|(_, _, p)| p).collect();
        assert_eq!(rendered.len(), model.len(), "{uid}: every panel is on the page");
        let (mut provided, mut empty, mut failures) = (0, 0, Vec::new());
        for (p, html) in model.iter().zip(&rendered) {
            if let Some(e) = html.error() {
                failures.push(format!("{}: error {e}", p.title));
                continue;
            }
            let metrics: Vec<&str> =
                p.targets.iter().flat_map(|t| metric_re.find_iter(&t.expr).map(|m| m.as_str())).collect();
            if metrics.is_empty() || !metrics.iter().all(|m| names.iter().any(|n| n == m)) {
                continue;
            }
            provided += 1;
            if html.no_data() || !html.drew() {
                // Empty is right only when the store has no finite value for it
                // either (e.g. swap used on a machine without swap is 0/0).
                let finite = p.targets.iter().any(|t| {
                    let expr = t
                        .expr
                        .replace("$node", &instance)
                        .replace("$job", "node")
                        .replace("$port", "")
                        .replace("$__rate_interval", "1m")
                        .replace("$__interval", "15s")
                        .replace("$__range", "5m");
                    server
                        .query(&expr)
                        .iter()
                        .any(|r| r["value"][1].as_str().and_then(|v| v.parse::<f64>().ok()).is_some_and(f64::is_finite))
                });
                if finite {
                    failures.push(format!(
                        "{}: no data from {:?}",
                        p.title,
                        p.targets.iter().map(|t| &t.expr).collect::<Vec<_>>()
                    ));
                } else {
                    empty += 1;
                }
            }
        }
        eprintln!("{uid}: {provided} of {} panels use provided metrics; {empty} legitimately empty", model.len());
        assert!(provided >= min_provided, "{uid}: only {provided} panels use metrics the host collector provides");
        assert!(
            empty * 10 <= provided,
            "{uid}: {empty} of {provided} panels are legitimately empty: too many to trust"
        );
        assert!(failures.is_empty(), "{uid}: {} of {provided} panels failed:\n{}", failures.len(), failures.join("\n"));
    }
}
