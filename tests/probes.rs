//! Probes end to end: the real binary probing loopback servers through
//! `probe:` jobs, and the shipped default alert rules checked by promtool.

mod util;

use serde_json::Value;
use std::path::Path;
use std::process::Command;
use util::{free_port, Server, Target};

fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

/// The one series `q` returns, once it exists.
fn one(server: &Server, q: &str) -> f64 {
    let r = server.wait_for(q, 20, |r| r.len() == 1);
    value(&r[0])
}

#[test]
fn probe_jobs_probe_http_and_tcp_targets() {
    let web = Target::start("hello\n");
    let dead = format!("127.0.0.1:{}", free_port());
    // The live URL comes from file_sd, which takes a probe job's targets as written.
    let sd_dir = tempfile::tempdir().unwrap();
    let sd = sd_dir.path().join("web.json");
    std::fs::write(&sd, format!(r#"[{{"targets": ["http://{}/health"], "labels": {{"team": "ops"}}}}]"#, web.addr))
        .unwrap();
    let config = format!(
        "\
global:
  scrape_interval: 1s
  scrape_timeout: 900ms
host:
  enabled: false
probes:
  modules:
    http_2xx:
      prober: http
      timeout: 5s
      http:
        preferred_ip_protocol: ip4
    tcp_connect:
      prober: tcp
scrape_configs:
  - job_name: web
    probe: http_2xx
    file_sd_configs:
      - files: ['{sd}']
    static_configs:
      - targets: ['http://{dead}/']
        labels: {{team: ops}}
  - job_name: port
    probe: tcp_connect
    static_configs:
      - targets: ['{web}']
",
        web = web.addr,
        sd = sd.display()
    );
    let server = Server::start(&config);
    let live = format!("http://{}/health", web.addr);
    let gone = format!("http://{dead}/");

    assert_eq!(one(&server, &format!("probe_success{{job=\"web\",instance=\"{live}\"}}")), 1.0);
    assert_eq!(one(&server, &format!("probe_http_status_code{{instance=\"{live}\"}}")), 200.0);
    assert_eq!(one(&server, &format!("probe_success{{job=\"web\",instance=\"{gone}\"}}")), 0.0);
    // A failed probe is still a successful scrape of the prober, as with blackbox_exporter.
    assert_eq!(one(&server, &format!("up{{job=\"web\",instance=\"{gone}\"}}")), 1.0);
    assert_eq!(one(&server, &format!("up{{job=\"web\",instance=\"{live}\"}}")), 1.0);
    // Target labels and the scrape_* series come with every probe target.
    let r = server.wait_for("probe_duration_seconds{job=\"web\"}", 20, |r| r.len() == 2);
    assert!(r.iter().all(|s| s["metric"]["team"] == "ops"), "{r:?}");
    assert!(r.iter().all(|s| value(s) >= 0.0 && value(s) < 5.0), "{r:?}");
    assert_eq!(server.query("scrape_duration_seconds{job=\"web\"}").len(), 2);
    assert!(one(&server, &format!("scrape_samples_scraped{{instance=\"{live}\"}}")) > 5.0);

    assert_eq!(one(&server, &format!("probe_success{{job=\"port\",instance=\"{}\"}}", web.addr)), 1.0);
    assert_eq!(one(&server, "probe_ip_protocol{job=\"port\"}"), 4.0);

    // The server stops: the probes fail, the jobs stay up.
    web.stop();
    server.wait_for(&format!("probe_success{{instance=\"{live}\"}} == 0"), 20, |r| r.len() == 1);
    server.wait_for("probe_success{job=\"port\"} == 0", 20, |r| r.len() == 1);
    assert_eq!(one(&server, "up{job=\"port\"}"), 1.0);

    let targets = server.api("/api/v1/targets");
    let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
    assert_eq!(active.iter().filter(|t| t["labels"]["job"] == "web").count(), 2, "{targets}");
}

#[test]
fn a_bad_probe_config_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sightline.yml");
    std::fs::write(
        &path,
        "probes:\n  modules:\n    m:\n      prober: http\nscrape_configs:\n  - job_name: a\n    probe: n\n    static_configs: [{targets: ['http://x/']}]\n",
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_sightline")).arg("check-config").arg(&path).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(
        stdout.contains("sightline.yml:7: scrape_configs[0].probe: unknown probe module \"n\"; known modules: m"),
        "{stdout}"
    );
}

fn promtool() -> Option<&'static str> {
    util::peer_installed("/usr/bin/promtool", "Debian package prometheus").then_some("/usr/bin/promtool")
}

fn rules_file() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("rules/sightline-defaults.yml")
}

#[test]
fn default_rules_pass_promtool_check() {
    let Some(promtool) = promtool() else { return };
    let out = Command::new(promtool).arg("check").arg("rules").arg(rules_file()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS: 6 rules found"), "{text}");
}

/// promtool's rule unit tests: each default alert fires on data that should
/// fire it, after its `for`, and not on healthy data.
const RULE_TESTS: &str = r#"
rule_files: [RULES]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'up{job="app",instance="a:1"}'
        values: '0x10'
      - series: 'up{job="app",instance="b:1"}'
        values: '1x10'
      - series: 'probe_success{job="web",instance="http://x/"}'
        values: '0x10'
      - series: 'probe_success{job="web",instance="http://y/"}'
        values: '1x10'
    alert_rule_test:
      - eval_time: 4m
        alertname: TargetDown
        exp_alerts: []
      - eval_time: 6m
        alertname: TargetDown
        exp_alerts:
          - exp_labels: {severity: warning, job: app, instance: "a:1"}
            exp_annotations:
              summary: "Target a:1 of job app is down"
              description: "Scrapes of a:1 (job app) have failed for 5 minutes."
      - eval_time: 6m
        alertname: ProbeFailed
        exp_alerts:
          - exp_labels: {severity: critical, job: web, instance: "http://x/"}
            exp_annotations:
              summary: "Probe of http://x/ (job web) is failing"
              description: "The web probe of http://x/ has failed for 5 minutes."
  - interval: 1m
    input_series:
      # Expires 10 days after the epoch (the test clock starts there).
      - series: 'probe_ssl_earliest_cert_expiry{job="web",instance="https://soon/"}'
        values: '864000x20'
      - series: 'probe_ssl_earliest_cert_expiry{job="web",instance="https://later/"}'
        values: '8640000x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: TLSCertificateExpiringSoon
        exp_alerts:
          - exp_labels: {severity: warning, job: web, instance: "https://soon/"}
            exp_annotations:
              summary: "TLS certificate of https://soon/ expires in less than 14 days"
              description: "The earliest certificate in the chain served by https://soon/ expires in 9d 23h 45m 0s."
  - interval: 1m
    input_series:
      # Loses 100 kB a minute: 144 MB a day, more than the 100 MB left.
      - series: 'node_filesystem_avail_bytes{instance="h",device="/dev/sda1",fstype="ext4",mountpoint="/"}'
        values: '100000000-100000x480'
      - series: 'node_filesystem_readonly{instance="h",device="/dev/sda1",fstype="ext4",mountpoint="/"}'
        values: '0x480'
      # The same fall on a tmpfs is ignored, and a steady disk is fine.
      - series: 'node_filesystem_avail_bytes{instance="h",device="tmpfs",fstype="tmpfs",mountpoint="/run"}'
        values: '100000000-100000x480'
      - series: 'node_filesystem_readonly{instance="h",device="tmpfs",fstype="tmpfs",mountpoint="/run"}'
        values: '0x480'
      - series: 'node_filesystem_avail_bytes{instance="h",device="/dev/sdb1",fstype="xfs",mountpoint="/data"}'
        values: '100000000x480'
      - series: 'node_filesystem_readonly{instance="h",device="/dev/sdb1",fstype="xfs",mountpoint="/data"}'
        values: '0x480'
    alert_rule_test:
      - eval_time: 30m
        alertname: DiskFillingWithin24h
        exp_alerts: []
      - eval_time: 7h
        alertname: DiskFillingWithin24h
        exp_alerts:
          - exp_labels: {severity: warning, instance: h, device: /dev/sda1, fstype: ext4, mountpoint: /}
            exp_annotations:
              summary: "Filesystem / on h will be full within 24 hours"
              description: "At the rate of the last 6 hours, / (/dev/sda1) on h runs out of space within a day."
  - interval: 1m
    input_series:
      - series: 'node_memory_MemAvailable_bytes{instance="full"}'
        values: '5x30'
      - series: 'node_memory_MemTotal_bytes{instance="full"}'
        values: '100x30'
      - series: 'node_memory_MemAvailable_bytes{instance="ok"}'
        values: '50x30'
      - series: 'node_memory_MemTotal_bytes{instance="ok"}'
        values: '100x30'
      # 3 idle seconds a minute on one CPU: 95% busy; 50 s: 17% busy.
      - series: 'node_cpu_seconds_total{instance="busy",cpu="0",mode="idle"}'
        values: '0+3x40'
      - series: 'node_cpu_seconds_total{instance="calm",cpu="0",mode="idle"}'
        values: '0+50x40'
    alert_rule_test:
      - eval_time: 10m
        alertname: MemorySaturation
        exp_alerts: []
      - eval_time: 20m
        alertname: MemorySaturation
        exp_alerts:
          - exp_labels: {severity: warning, instance: full}
            exp_annotations:
              summary: "full has less than 10% memory available"
              description: "Available memory on full has been under 10% of the total for 15 minutes (5% now)."
      - eval_time: 30m
        alertname: CPUSaturation
        exp_alerts:
          - exp_labels: {severity: warning, instance: busy}
            exp_annotations:
              summary: "busy CPUs are more than 90% busy"
              description: "The CPUs of busy have been more than 90% busy on average for 15 minutes (95% now)."
"#;

#[test]
fn default_rules_fire_when_they_should() {
    let Some(promtool) = promtool() else { return };
    let dir = tempfile::tempdir().unwrap();
    let tests = dir.path().join("defaults.test.yml");
    let rules = rules_file().to_string_lossy().into_owned();
    std::fs::write(&tests, RULE_TESTS.replace("RULES", &serde_json::to_string(&rules).unwrap())).unwrap();
    let out = Command::new(promtool).arg("test").arg("rules").arg(&tests).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SUCCESS"), "{text}");
}
