//! Remote write end to end: Debian's Prometheus scrapes a loopback target and
//! remote-writes into the real `sightline` binary; what arrives must equal
//! what Prometheus scraped. Also /federate and bad bodies over real HTTP.

mod util;

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{encode, free_port, http_get, Server, Target};

const PROMETHEUS: &str = "/usr/bin/prometheus";
const TARGET_BODY: &str = "# TYPE rw_test_gauge gauge\nrw_test_gauge{kind=\"a\"} 42\nrw_test_gauge{kind=\"b\"} -1.5\n# TYPE rw_test_total counter\nrw_test_total 7\n";

/// POST with a raw body: (status, body).
fn http_post(addr: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).ok();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    (head.split_whitespace().nth(1).unwrap().parse().unwrap(), body.to_string())
}

/// Kills Prometheus when the test ends, however it ends.
struct Child(std::process::Child);
impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn api(addr: &str, path: &str) -> Value {
    let (status, body) = http_get(addr, path).unwrap_or_else(|e| panic!("GET {addr}{path}: {e}"));
    assert_eq!(status, 200, "GET {addr}{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Samples per series (label set as JSON text -> [(t ms, value)]) of a range-vector instant query.
fn samples(addr: &str, q: &str, at: f64) -> BTreeMap<String, Vec<(i64, String)>> {
    let v = api(addr, &format!("/api/v1/query?query={}&time={at}", encode(q)));
    let mut out = BTreeMap::new();
    for r in v["data"]["result"].as_array().cloned().unwrap_or_default() {
        let pts = r["values"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (((p[0].as_f64().unwrap()) * 1000.0).round() as i64, p[1].as_str().unwrap().to_string()))
            .collect();
        out.insert(r["metric"].to_string(), pts);
    }
    out
}

#[test]
fn prometheus_remote_writes_what_it_scraped() {
    if !util::peer_installed(PROMETHEUS, "Debian package prometheus") {
        return;
    }
    let target = Target::start(TARGET_BODY);
    let server = Server::start("global:\n  scrape_interval: 15s\n");
    let dir = tempfile::tempdir().unwrap();
    let prom_addr = format!("127.0.0.1:{}", free_port());
    let cfg = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 500ms\nscrape_configs:\n  - job_name: pushed\n    static_configs:\n      - targets: ['{}']\nremote_write:\n  - url: http://{}/api/v1/write\n    queue_config:\n      batch_send_deadline: 500ms\n",
        target.addr, server.addr
    );
    std::fs::write(dir.path().join("prometheus.yml"), cfg).unwrap();
    let _prom = Child(
        Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address={prom_addr}"))
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prometheus"),
    );

    // Let Prometheus scrape a few times, then take what it has as the reference.
    let q = "{job=\"pushed\"}[10m]";
    let deadline = Instant::now() + Duration::from_secs(60);
    let (at, want) = loop {
        std::thread::sleep(Duration::from_millis(500));
        let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
        if let Ok((200, _)) = http_get(&prom_addr, "/-/ready") {
            let got = samples(&prom_addr, "rw_test_gauge[10m]", at);
            if got.values().next().is_some_and(|s| s.len() >= 3) {
                break (at, samples(&prom_addr, q, at));
            }
        }
        assert!(Instant::now() < deadline, "Prometheus did not scrape 3 times within 60s");
    };
    assert!(want.len() >= 4, "Prometheus should have the 3 target series plus up etc.: {want:?}");

    // Everything Prometheus had at `at` must arrive in Sightline, same labels, timestamps and values.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let got = samples(&server.addr, q, at);
        if got == want {
            break;
        }
        if Instant::now() > deadline {
            let want_keys: BTreeSet<_> = want.keys().collect();
            let got_keys: BTreeSet<_> = got.keys().collect();
            panic!("Sightline never matched Prometheus.\nseries only in Prometheus: {:?}\nseries only in Sightline: {:?}\nwant: {want:?}\ngot: {got:?}", want_keys.difference(&got_keys), got_keys.difference(&want_keys));
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    let a = &want[&format!(
        "{{\"__name__\":\"rw_test_gauge\",\"instance\":\"{}\",\"job\":\"pushed\",\"kind\":\"a\"}}",
        target.addr
    )];
    assert!(a.iter().all(|(_, v)| v == "42"), "{a:?}");

    // /federate answers the latest sample of what was pushed.
    let (status, body) = http_get(&server.addr, &format!("/federate?match[]={}", encode("rw_test_total"))).unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.starts_with("# TYPE rw_test_total untyped\n"), "{body}");
    let line = format!("rw_test_total{{instance=\"{}\",job=\"pushed\"}} 7 ", target.addr);
    assert!(body.contains(&line), "{body}");
}

#[test]
fn bad_bodies_get_400_with_a_message() {
    let server = Server::start("global:\n  scrape_interval: 15s\n");
    let (status, body) = http_post(&server.addr, "/api/v1/write", b"\xff\xff\xff\xff\xffnot snappy");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("snappy"), "{body}");
    // A series without __name__ refuses the request; out-of-order samples are counted, the rest stored.
    use sightline::ingest::remote_write::{encode as rw, Label, Sample, TimeSeries, WriteRequest};
    let ts = |name: &str, samples: &[(i64, f64)]| TimeSeries {
        labels: [("__name__", name), ("job", "push")]
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(n, v)| Label { name: n.to_string(), value: v.to_string() })
            .collect(),
        samples: samples.iter().map(|&(t, v)| Sample { timestamp: t, value: v }).collect(),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let (status, body) = http_post(
        &server.addr,
        "/api/v1/write",
        &rw(&WriteRequest { timeseries: vec![ts("", &[(now, 1.0)])], metadata: vec![] }),
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("without __name__"), "{body}");
    let first = WriteRequest { timeseries: vec![ts("pushed_m", &[(now - 1000, 1.0)])], metadata: vec![] };
    assert_eq!(http_post(&server.addr, "/api/v1/write", &rw(&first)).0, 204);
    let late = WriteRequest { timeseries: vec![ts("pushed_m", &[(now - 5000, 9.0), (now, 2.0)])], metadata: vec![] };
    let (status, body) = http_post(&server.addr, "/api/v1/write", &rw(&late));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("1 of 2 samples rejected"), "{body}");
    let r = server.wait_for("count_over_time(pushed_m[1m])", 10, |r| !r.is_empty());
    assert_eq!(r[0]["value"][1], "2", "{r:?}");

    let (status, body) = http_get(&server.addr, "/federate").unwrap();
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("match[]"), "{body}");
    let (status, body) = http_get(&server.addr, &format!("/federate?match[]={}", encode("sum(x)"))).unwrap();
    assert_eq!(status, 400, "{body}");
}
