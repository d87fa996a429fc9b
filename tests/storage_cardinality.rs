//! Cardinality figures on /metrics and as scrape series: series per target
//! and in total.

mod util;

use util::{Server, Target};

/// The value of the first line of `/metrics` that starts with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(prefix)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[test]
fn series_per_target_and_in_total_are_exposed() {
    let body = |n: usize| {
        let mut b = String::from("# TYPE card_metric gauge\n");
        for i in 0..n {
            b.push_str(&format!("card_metric{{i=\"{i}\"}} {i}\n"));
        }
        b
    };
    let a = Target::start(&body(300));
    let b = Target::start(&body(40));
    let config = format!(
        "global:\n  scrape_interval: 1s\nhost: {{enabled: false}}\nscrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: ['{}']\n  - job_name: b\n    static_configs:\n      - targets: ['{}']\n",
        a.addr, b.addr
    );
    let server = Server::start(&config);
    server.wait_for("count(card_metric)", 30, |r| r.first().is_some_and(|s| s["value"][1] == "340"));
    // Per target, as Prometheus names it: the first scrape added every series.
    let added = server.query("max_over_time(scrape_series_added{job=\"a\"}[1m])");
    assert_eq!(added[0]["value"][1], "300", "{added:?}");

    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    let a_line = format!("sightline_target_series{{scrape_job=\"a\",target=\"http://{}/metrics\"}}", a.addr);
    assert_eq!(metric(&text, &a_line), Some(300.0), "{a_line} in\n{text}");
    let b_line = format!("sightline_target_series{{scrape_job=\"b\",target=\"http://{}/metrics\"}}", b.addr);
    assert_eq!(metric(&text, &b_line), Some(40.0));
    // In total: scraped series plus each target's up and scrape_* series.
    let head = metric(&text, "sightline_tsdb_head_series ").expect("head series");
    assert!((340.0..400.0).contains(&head), "head series {head}");
    let total = metric(&text, "sightline_tsdb_series ").expect("series");
    assert!(total >= head, "{total} >= {head}");

    // A target that shrinks shows it at the next scrape.
    b.set_body(&body(5));
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let (_, text) = server.get("/metrics");
    assert_eq!(metric(&text, &b_line), Some(5.0));
}
