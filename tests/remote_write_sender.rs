//! Remote-write sender end to end: the real `sightline` binary scrapes a
//! loopback target whose counter keeps rising and remote-writes to Debian's
//! victoria-metrics. VictoriaMetrics is stopped mid-run for ~10 s while
//! Sightline keeps scraping, then restarted on the same port and data folder;
//! every sample Sightline stored for the series must end up in VictoriaMetrics.

mod util;

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use util::{encode, free_port, http_get, Server, Target};

const VM: &str = "/usr/bin/victoria-metrics";
const SERIES: &str = "rw_sender_test_total{job=\"app\"}";

/// Kills VictoriaMetrics when the test ends, however it ends.
struct Vm(std::process::Child);

impl Vm {
    fn start(addr: &str, data: &Path) -> Vm {
        let child = Command::new(VM)
            .arg(format!("-httpListenAddr={addr}"))
            .arg(format!("-storageDataPath={}", data.display()))
            .arg("-loggerLevel=ERROR")
            .arg("-search.latencyOffset=0s")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start victoria-metrics");
        let vm = Vm(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok((200, _)) = http_get(addr, "/health") {
                return vm;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("victoria-metrics on {addr} did not become ready");
    }

    /// A clean stop (SIGTERM), so VictoriaMetrics keeps what it acknowledged.
    fn stop(mut self) {
        let _ = Command::new("kill").arg("-15").arg(self.0.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

impl Drop for Vm {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// (timestamp ms, value) of every sample VictoriaMetrics has for the series.
fn vm_samples(addr: &str) -> BTreeSet<(i64, u64)> {
    let path = format!("/api/v1/export?match[]={}&start=0", encode(SERIES));
    let Ok((200, body)) = http_get(addr, &path) else { return BTreeSet::new() };
    let mut out = BTreeSet::new();
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("export line {line:?}: {e}"));
        let ts = v["timestamps"].as_array().cloned().unwrap_or_default();
        let vals = v["values"].as_array().cloned().unwrap_or_default();
        for (t, x) in ts.iter().zip(&vals) {
            // Stale markers (written when scraping stops) come back as non-numbers; queries skip them too.
            if let Some(x) = x.as_f64() {
                out.insert((t.as_i64().unwrap(), x.to_bits()));
            }
        }
    }
    out
}

/// (timestamp ms, value) of every sample Sightline stored for the series in the last 10 minutes.
fn sightline_samples(server: &Server) -> BTreeSet<(i64, u64)> {
    let r = server.query(&format!("{SERIES}[10m]"));
    let mut out = BTreeSet::new();
    for s in &r {
        for p in s["values"].as_array().cloned().unwrap_or_default() {
            let t = (p[0].as_f64().unwrap() * 1000.0).round() as i64;
            let v: f64 = p[1].as_str().unwrap().parse().unwrap();
            out.insert((t, v.to_bits()));
        }
    }
    out
}

/// One value from Sightline's /metrics (first line starting with `prefix`).
fn metric(server: &Server, prefix: &str) -> f64 {
    let (_, body) = server.get("/metrics");
    body.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1.0)
}

#[test]
fn every_sample_reaches_victoria_metrics_across_an_outage() {
    if !util::peer_installed(VM, "Debian package victoria-metrics") {
        return;
    }
    let started = Instant::now();
    let vm_dir = tempfile::tempdir().unwrap();
    let vm_addr = format!("127.0.0.1:{}", free_port());
    let vm = Vm::start(&vm_addr, vm_dir.path());

    // A counter that rises on its own, so every scrape stores a new value.
    let target = Arc::new(Target::start("rw_sender_test_total 0\n"));
    let stop = Arc::new(AtomicBool::new(false));
    let (t2, s2) = (target.clone(), stop.clone());
    let ticker = std::thread::spawn(move || {
        let mut n = 0u64;
        while !s2.load(Ordering::SeqCst) {
            n += 1;
            t2.set_body(&format!("# TYPE rw_sender_test_total counter\nrw_sender_test_total {n}\n"));
            std::thread::sleep(Duration::from_millis(100));
        }
    });

    let config = format!(
        "global: {{scrape_interval: 1s}}
host: {{enabled: false}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{}']}}]
remote_write:
  - url: http://{vm_addr}/api/v1/write
    name: vm
    remote_timeout: 2s
    queue_config: {{min_backoff: 50ms, max_backoff: 1s}}
",
        target.addr
    );
    let server = Server::start(&config);

    // Samples flow before the outage.
    let deadline = Instant::now() + Duration::from_secs(15);
    while vm_samples(&vm_addr).len() < 3 {
        assert!(Instant::now() < deadline, "no samples reached victoria-metrics");
        std::thread::sleep(Duration::from_millis(300));
    }
    let before = vm_samples(&vm_addr).len();

    // Outage: Sightline keeps scraping and queues on disk.
    vm.stop();
    std::thread::sleep(Duration::from_secs(10));
    assert!(metric(&server, "sightline_remote_storage_failed_sends_total{remote_name=\"vm\"") > 0.0);
    assert!(metric(&server, "sightline_remote_storage_queue_rows{remote_name=\"vm\"") > 0.0, "requests are queued");
    assert!(metric(&server, "sightline_remote_storage_lag_seconds{remote_name=\"vm\"") >= 5.0, "lag grows");
    let (_, m) = server.get("/metrics");
    assert!(m.contains("sightline_remote_storage_last_send_error{remote_name=\"vm\""), "last error shown:\n{m}");

    // Back up on the same port and data folder: the queue drains.
    let vm = Vm::start(&vm_addr, vm_dir.path());
    let want = sightline_samples(&server);
    assert!(want.len() >= before + 8, "Sightline kept scraping during the outage: {} samples", want.len());
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let have = vm_samples(&vm_addr);
        let missing: Vec<_> = want.difference(&have).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    stop.store(true, Ordering::SeqCst);
    let _ = ticker.join();
    assert!(
        missing.is_empty(),
        "{} of {} samples Sightline stored never reached victoria-metrics, e.g. {:?}",
        missing.len(),
        want.len(),
        &missing[..missing.len().min(5)]
    );
    assert!(metric(&server, "sightline_remote_storage_samples_sent_total{remote_name=\"vm\"") >= want.len() as f64);
    drop(vm);
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}

#[test]
fn queue_survives_a_restart_of_sightline() {
    if !util::peer_installed(VM, "Debian package victoria-metrics") {
        return;
    }
    let started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let vm_dir = tempfile::tempdir().unwrap();
    let vm_addr = format!("127.0.0.1:{}", free_port());
    let target = Target::start("# TYPE rw_sender_test_total counter\nrw_sender_test_total 1\n");
    let config = format!(
        "global: {{scrape_interval: 1s}}
host: {{enabled: false}}
scrape_configs:
  - job_name: app
    static_configs: [{{targets: ['{}']}}]
remote_write:
  - url: http://{vm_addr}/api/v1/write
    name: vm
    queue_config: {{min_backoff: 50ms, max_backoff: 500ms}}
",
        target.addr
    );
    // First run: the remote is down the whole time; everything is queued on disk.
    let server = Server::start_in(&config, dir.path(), &data);
    std::thread::sleep(Duration::from_secs(4));
    let first_run = sightline_samples(&server);
    assert!(first_run.len() >= 2, "scraped: {first_run:?}");
    let status = server.terminate();
    assert!(status.success(), "sightline exited with {status}");
    assert!(data.join("remote_write_queue.db").exists());

    // Second run with the remote up: the queued samples of the first run arrive.
    target.stop();
    let vm = Vm::start(&vm_addr, vm_dir.path());
    let _server = Server::start_in(&config, dir.path(), &data);
    let deadline = Instant::now() + Duration::from_secs(20);
    let missing = loop {
        let have = vm_samples(&vm_addr);
        let missing: Vec<_> = first_run.difference(&have).cloned().collect();
        if missing.is_empty() || Instant::now() > deadline {
            break missing;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(missing.is_empty(), "{} of {} queued samples never arrived: {missing:?}", missing.len(), first_run.len());
    drop(vm);
    assert!(started.elapsed() < Duration::from_secs(60), "took {:?}", started.elapsed());
}
