//! `sightline import` of a real Prometheus data folder: blocks written by
//! Debian's promtool, read back through `promtool tsdb dump`, then served.

mod util;

use std::process::Command;
use util::Server;

#[test]
fn a_prometheus_data_folder_imports_with_every_sample() {
    if !util::peer_installed("/usr/bin/promtool", "Debian package prometheus") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // Two hours of two counters at 15 s, ending now, as OpenMetrics (seconds).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 15 * 15;
    let mut om = String::from("# TYPE jobs counter\n");
    for worker in ["a", "b"] {
        for i in 0..480u64 {
            om.push_str(&format!("jobs_total{{worker=\"{worker}\"}} {} {}\n", i * 2, now - 7200 + i * 15));
        }
    }
    om.push_str("# EOF\n");
    let om_file = dir.path().join("in.om");
    std::fs::write(&om_file, om).unwrap();
    let prom = dir.path().join("prometheus");
    let out = Command::new("promtool")
        .args(["tsdb", "create-blocks-from", "openmetrics"])
        .arg(&om_file)
        .arg(&prom)
        .output()
        .unwrap();
    assert!(out.status.success(), "promtool: {}", String::from_utf8_lossy(&out.stderr));
    let before: Vec<_> = std::fs::read_dir(&prom).unwrap().map(|e| e.unwrap().file_name()).collect();

    // The folder has no wal (like a snapshot): Sightline must not add one.
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_sightline"))
        .arg("import")
        .arg(&prom)
        .arg("--data")
        .arg(&data)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("imported 2 series, 960 samples"), "{stdout}");
    let after: Vec<_> = std::fs::read_dir(&prom).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before, after, "the Prometheus folder is left as it was");

    let server = Server::start_in("scrape_configs: []\nhost:\n  enabled: false\n", dir.path(), &data);
    let r = server.query(&format!("count_over_time(jobs_total[3h] @ {now})"));
    assert_eq!(r.len(), 2);
    for s in &r {
        assert_eq!(s["value"][1], "480", "{s}");
    }
    let r = server.query(&format!("jobs_total{{worker=\"b\"}} @ {now}"));
    assert_eq!(r[0]["value"][1], "958");
}
