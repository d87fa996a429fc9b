//! The Prometheus HTTP API as clients use it: Debian's `promtool query`
//! against the real binary, the request sequence Grafana's Prometheus data
//! source sends (form-encoded POSTs, second timestamps), and the shapes of
//! the metadata, format/parse, exemplar and TSDB status endpoints.

mod util;

use serde_json::{json, Value};
use std::process::Command;
use util::{encode, http_post_form, Server, Target};

const BODY: &str = "\
# HELP http_requests_total Requests served.
# TYPE http_requests_total counter
http_requests_total{code=\"200\",method=\"get\"} 10
http_requests_total{code=\"500\",method=\"get\"} 2
# HELP temp_celsius Room temperature.
# TYPE temp_celsius gauge
temp_celsius{room=\"a\"} 21.5
temp_celsius{room=\"b\"} 18
# HELP req_seconds Request latency.
# TYPE req_seconds histogram
req_seconds_bucket{le=\"0.1\"} 3
req_seconds_bucket{le=\"1\"} 5
req_seconds_bucket{le=\"+Inf\"} 6
req_seconds_sum 2.5
req_seconds_count 6
";

fn start() -> (Target, Server) {
    let target = Target::start(BODY);
    let server = Server::start(&format!(
        "global:\n  scrape_interval: 1s\nhost:\n  enabled: false\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n",
        target.addr
    ));
    server.wait_for("temp_celsius", 15, |r| r.len() == 2);
    (target, server)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs()
}

fn post(server: &Server, path: &str, form: &str) -> Value {
    let (status, raw) = http_post_form(&server.addr, path, form).unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let body = raw.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    assert_eq!(status, 200, "POST {path} {form}: {body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("POST {path}: {e}: {body}"))
}

/// promtool is required in CI (scripts/install-peers.sh installs it).
fn promtool(args: &[&str]) -> Option<String> {
    let out = match Command::new("promtool").args(args).output() {
        Ok(o) => o,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("promtool not installed; skipping (CI installs it)");
            return None;
        }
        Err(e) => panic!("promtool is required in CI: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "promtool {args:?} failed: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    Some(stdout)
}

#[test]
fn promtool_queries_instant_range_series_and_labels() {
    let (target, server) = start();
    let url = format!("http://{}", server.addr);

    let Some(out) = promtool(&["query", "instant", &url, "sum by (code) (http_requests_total)"]) else { return };
    assert!(out.contains("{code=\"200\"} => 10 @["), "{out}");
    assert!(out.contains("{code=\"500\"} => 2 @["), "{out}");

    // A second ahead, so the first scrape (at most a second old) is inside the range.
    let end = now_secs() + 1;
    let start = (end - 20).to_string();
    let end_s = end.to_string();
    let out = promtool(&["query", "range", "--start", &start, "--end", &end_s, "--step", "5s", &url, "temp_celsius"])
        .unwrap();
    assert!(out.contains("temp_celsius{instance=\"") && out.contains("room=\"a\"}"), "{out}");
    assert!(out.contains("21.5 @["), "{out}");

    let out = promtool(&["query", "series", "--match", "temp_celsius{room=\"b\"}", &url]).unwrap();
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("room=\"b\"") && out.contains(&target.addr), "{out}");

    let out = promtool(&["query", "labels", &url, "room"]).unwrap();
    assert_eq!(out.lines().collect::<Vec<_>>(), ["a", "b"], "{out}");
}

/// The calls Grafana's Prometheus data source makes, in its encoding:
/// "Save & test" (an instant `1+1` and buildinfo), panel range queries,
/// the query builder's label and metric lists, metadata and exemplars.
#[test]
fn grafana_data_source_requests() {
    let (_target, server) = start();
    // A second ahead, so the first scrape (at most a second old) is inside every range.
    let now = now_secs() + 1;

    let health = post(&server, "/api/v1/query", &format!("query={}&time={now}", encode("1+1")));
    assert_eq!(health["data"], json!({"resultType": "scalar", "result": [now, "2"]}));
    let build = server.api("/api/v1/status/buildinfo");
    assert!(build["data"]["version"].as_str().is_some_and(|v| !v.is_empty()));

    // Grafana aligns start and end to the step itself.
    let (start, end) = ((now - 600) / 15 * 15, (now + 15) / 15 * 15);
    let range = post(
        &server,
        "/api/v1/query_range",
        &format!("query={}&start={start}&end={end}&step=15", encode("sum by (code) (http_requests_total)")),
    );
    assert_eq!(range["data"]["resultType"], "matrix");
    let result = range["data"]["result"].as_array().unwrap();
    assert_eq!(result.len(), 2);
    for s in result {
        for point in s["values"].as_array().unwrap() {
            assert_eq!(point[0].as_u64().unwrap() % 15, 0, "aligned to the step: {point}");
        }
    }

    let labels = server.api(&format!("/api/v1/labels?start={}&end={now}", now - 3600));
    for l in ["__name__", "code", "instance", "job", "le", "method", "room"] {
        assert!(labels["data"].as_array().unwrap().iter().any(|v| v == l), "{l} in {labels}");
    }
    let names = server.api(&format!("/api/v1/label/__name__/values?start={}&end={now}", now - 3600));
    assert!(names["data"].as_array().unwrap().iter().any(|v| v == "req_seconds_bucket"), "{names}");
    let series = post(
        &server,
        "/api/v1/series",
        &format!("match%5B%5D={}&start={}&end={now}", encode("http_requests_total{code=\"500\"}"), now - 3600),
    );
    assert_eq!(series["data"].as_array().unwrap().len(), 1, "{series}");
    let values = server.api(&format!(
        "/api/v1/label/code/values?match[]={}&start={}&end={now}",
        encode("http_requests_total"),
        now - 3600
    ));
    assert_eq!(values["data"], json!(["200", "500"]));
    let limited = server.api("/api/v1/label/code/values?limit=1");
    assert_eq!(limited["data"], json!(["200"]));

    let exemplars = post(
        &server,
        "/api/v1/query_exemplars",
        &format!("query={}&start={}&end={now}", encode("req_seconds_bucket"), now - 600),
    );
    assert_eq!(exemplars["data"], json!([]));
}

#[test]
fn metadata_comes_from_what_targets_expose() {
    let (target, server) = start();
    // The host collector is off, so every entry comes from the target.
    let all = server.api("/api/v1/metadata");
    assert_eq!(all["data"]["temp_celsius"], json!([{"type": "gauge", "help": "Room temperature.", "unit": ""}]));
    assert_eq!(all["data"]["req_seconds"][0]["type"], "histogram");
    assert_eq!(all["data"]["http_requests_total"][0]["type"], "counter");

    let one = server.api("/api/v1/metadata?metric=req_seconds");
    assert_eq!(one["data"].as_object().unwrap().len(), 1);
    let limited = server.api("/api/v1/metadata?limit=2");
    assert_eq!(limited["data"].as_object().unwrap().len(), 2);
    let (status, body) = server.get("/api/v1/metadata?limit=x");
    assert_eq!(status, 400, "{body}");

    let per_target =
        server.api(&format!("/api/v1/targets/metadata?match_target={}&metric=temp_celsius", encode("{job=\"app\"}")));
    let entries = per_target["data"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{per_target}");
    assert_eq!(entries[0]["target"]["instance"], target.addr.as_str());
    assert_eq!(entries[0]["help"], "Room temperature.");
    let none = server.api(&format!("/api/v1/targets/metadata?match_target={}", encode("{job=\"other\"}")));
    assert_eq!(none["data"], json!([]));
}

#[test]
fn format_parse_and_tsdb_status() {
    let (_target, server) = start();

    let f = server.api(&format!("/api/v1/format_query?query={}", encode("sum(rate(x{a=\"b\"}[5m]))by(job)")));
    assert_eq!(f["data"], "sum by (job) (rate(x{a=\"b\"}[5m]))");
    let (status, body) = server.get(&format!("/api/v1/format_query?query={}", encode("sum(")));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("bad_data") && body.contains("parse error"), "{body}");

    let p = server.api(&format!("/api/v1/parse_query?query={}", encode("rate(x{a=\"b\"}[5m]) > bool 1")));
    let tree = &p["data"];
    assert_eq!(tree["type"], "binaryExpr");
    assert_eq!(tree["op"], ">");
    assert_eq!(tree["bool"], true);
    assert_eq!(tree["lhs"]["type"], "call");
    assert_eq!(tree["lhs"]["func"]["name"], "rate");
    let sel = &tree["lhs"]["args"][0];
    assert_eq!(sel["type"], "matrixSelector");
    assert_eq!(sel["range"], 300000);
    assert!(sel["matchers"].as_array().unwrap().iter().any(|m| m == &json!({"name": "a", "type": "=", "value": "b"})));
    assert_eq!(tree["rhs"], json!({"type": "numberLiteral", "val": "1"}));

    let tsdb = server.api("/api/v1/status/tsdb?limit=3");
    let d = &tsdb["data"];
    assert!(d["headStats"]["numSeries"].as_u64().unwrap() >= 10, "{d}");
    let by_metric = d["seriesCountByMetricName"].as_array().unwrap();
    assert_eq!(by_metric.len(), 3);
    assert_eq!(by_metric[0], json!({"name": "req_seconds_bucket", "value": 3}));
    assert!(d["labelValueCountByLabelName"].as_array().unwrap().iter().any(|e| e["name"] == "__name__"));
    let (status, _) = server.get("/api/v1/status/tsdb?limit=0");
    assert_eq!(status, 400);
}
