//! OTLP/HTTP metrics receiver against the real binary: the OpenTelemetry
//! Python SDK's exporter pushing as an instrumented service does, the JSON
//! and gzip encodings, and refusals with the right status and body.

mod util;

use sightline::ingest::otlp;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;
use util::Server;

/// POSTs `body` with the given headers: (status, response headers, body bytes).
fn post(addr: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut req =
        format!("POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {}\r\nConnection: close\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("header end");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    (status, head, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = b.windows(2).position(|w| w == b"\r\n").unwrap();
        let size = usize::from_str_radix(std::str::from_utf8(&b[..line_end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[line_end + 2..line_end + 2 + size]);
        b = &b[line_end + 2 + size + 2..];
    }
}

fn value(server: &Server, q: &str) -> f64 {
    let r = server.wait_for(q, 10, |r| r.len() == 1);
    r[0]["value"][1].as_str().unwrap().parse().unwrap()
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
}

#[test]
fn opentelemetry_sdk_pushes_and_series_are_translated() {
    let sdk = format!("{}/target/otel-python", env!("CARGO_MANIFEST_DIR"));
    if !util::peer_installed(&format!("{sdk}/opentelemetry"), "the OpenTelemetry Python SDK from PyPI") {
        return;
    }
    let server = Server::start("scrape_configs: []\nhost:\n  enabled: false\n");
    let out = Command::new("python3")
        .arg(format!("{}/tests/fixtures/otlp/push.py", env!("CARGO_MANIFEST_DIR")))
        .arg(format!("http://{}/v1/metrics", server.addr))
        .env("PYTHONPATH", &sdk)
        .output()
        .unwrap();
    assert!(out.status.success(), "push.py: {}", String::from_utf8_lossy(&out.stderr));

    let sel = "job=\"shop/checkout\",instance=\"pod-7\"";
    assert_eq!(
        value(&server, &format!("http_server_requests_total{{{sel},http_method=\"GET\",http_status_code=\"200\"}}")),
        5.0
    );
    assert_eq!(value(&server, &format!("http_server_requests_total{{{sel},http_method=\"POST\"}}")), 2.0);
    assert_eq!(value(&server, &format!("http_server_duration_milliseconds_count{{{sel}}}")), 4.0);
    assert_eq!(value(&server, &format!("http_server_duration_milliseconds_sum{{{sel}}}")), 300.0);
    // The SDK's default boundaries include 5, 10, 50 and 250 ms (cumulative here).
    assert_eq!(value(&server, &format!("http_server_duration_milliseconds_bucket{{{sel},le=\"5\"}}")), 1.0);
    assert_eq!(value(&server, &format!("http_server_duration_milliseconds_bucket{{{sel},le=\"50\"}}")), 3.0);
    assert_eq!(value(&server, &format!("http_server_duration_milliseconds_bucket{{{sel},le=\"+Inf\"}}")), 4.0);
    assert_eq!(value(&server, &format!("jobs_queued{{{sel}}}")), 5.0);
    assert_eq!(value(&server, &format!("memory_utilization_ratio{{{sel}}}")), 0.25);
    assert_eq!(value(&server, &format!("target_info{{{sel},deployment_environment=\"test\"}}")), 1.0);
    // A quantile over the translated buckets works as over scraped ones.
    let q = format!("histogram_quantile(0.5, http_server_duration_milliseconds_bucket{{{sel}}})");
    assert!(value(&server, &q) > 5.0);
}

#[test]
fn json_gzip_partial_success_and_refusals() {
    let server = Server::start("scrape_configs: []\nhost:\n  enabled: false\n");
    let t = now_nanos();
    let json = format!(
        r#"{{"resourceMetrics":[{{"resource":{{"attributes":[{{"key":"service.name","value":{{"stringValue":"api"}}}}]}},
        "scopeMetrics":[{{"metrics":[
          {{"name":"queue.size","gauge":{{"dataPoints":[{{"timeUnixNano":"{t}","asInt":"12"}}]}}}},
          {{"name":"bytes.sent","unit":"By","sum":{{"aggregationTemporality":1,"isMonotonic":true,
            "dataPoints":[{{"timeUnixNano":"{t}","asDouble":5}}]}}}}]}}]}}]}}"#
    );
    let (status, head, body) =
        post(&server.addr, "/v1/metrics", &[("Content-Type", "application/json")], json.as_bytes());
    assert_eq!(status, 200, "{head}");
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(answer["partialSuccess"]["rejectedDataPoints"], "1", "the delta sum is refused: {answer}");
    assert!(answer["partialSuccess"]["errorMessage"].as_str().unwrap().contains("delta"));
    assert_eq!(value(&server, "queue_size{job=\"api\"}"), 12.0);

    // Protobuf, gzip-compressed, on Prometheus's path.
    let req = otlp::ExportMetricsServiceRequest {
        resource_metrics: vec![otlp::ResourceMetrics {
            resource: None,
            scope_metrics: vec![otlp::ScopeMetrics {
                metrics: vec![otlp::Metric {
                    name: "temp".into(),
                    unit: "Cel".into(),
                    data: Some(otlp::Data::Gauge(otlp::Gauge {
                        data_points: vec![otlp::NumberDataPoint {
                            time_unix_nano: t,
                            value: Some(otlp::NumberValue::AsDouble(21.5)),
                            ..Default::default()
                        }],
                    })),
                    ..Default::default()
                }],
            }],
        }],
    };
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&prost::Message::encode_to_vec(&req)).unwrap();
    let (status, head, body) = post(
        &server.addr,
        "/api/v1/otlp/v1/metrics",
        &[("Content-Type", "application/x-protobuf"), ("Content-Encoding", "gzip")],
        &gz.finish().unwrap(),
    );
    assert_eq!(status, 200, "{head}");
    let answer: otlp::ExportMetricsServiceResponse = prost::Message::decode(body.as_slice()).unwrap();
    assert_eq!(answer.partial_success, None);
    assert_eq!(value(&server, "temp_celsius"), 21.5);

    // Malformed protobuf: 400 with a google.rpc.Status body.
    let (status, _, body) =
        post(&server.addr, "/v1/metrics", &[("Content-Type", "application/x-protobuf")], b"\xff\xff\xff\xff");
    assert_eq!(status, 400);
    let st: otlp::Status = prost::Message::decode(body.as_slice()).unwrap();
    assert_eq!(st.code, 3);
    assert!(st.message.contains("protobuf"), "{}", st.message);
    // Bad gzip, unknown encodings and media types.
    let (status, _, _) =
        post(&server.addr, "/v1/metrics", &[("Content-Type", "application/json"), ("Content-Encoding", "gzip")], b"{}");
    assert_eq!(status, 400);
    let (status, _, body) = post(&server.addr, "/v1/metrics", &[("Content-Type", "text/plain")], b"x");
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) =
        post(&server.addr, "/v1/metrics", &[("Content-Type", "application/json"), ("Content-Encoding", "br")], b"{}");
    assert_eq!(status, 415);

    let (_, metrics) = server.get("/metrics");
    assert!(metrics.contains("sightline_otlp_requests_total 4"), "{metrics}");
    assert!(metrics.contains("sightline_otlp_bad_requests_total 2"), "{metrics}");
}
