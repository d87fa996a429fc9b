//! `sightline backup` against a running server: the copy opens as a data
//! folder and answers with the same samples; an existing file is kept.

mod util;

use std::process::Command;
use std::time::Duration;
use util::{encode, Server, Target};

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn value_at(server: &Server, q: &str, time: f64) -> f64 {
    let v = server.api(&format!("/api/v1/query?query={}&time={time:.3}", encode(q)));
    v["data"]["result"][0]["value"][1].as_str().map_or(0.0, |s| s.parse().unwrap())
}

fn backup(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sightline")).arg("backup").args(args).output().unwrap()
}

#[test]
fn backup_of_a_running_server_opens_with_the_same_samples() {
    const SERIES: usize = 2_000;
    let mut body = String::from("# TYPE backup_metric gauge\n");
    for i in 0..SERIES {
        body.push_str(&format!("backup_metric{{i=\"{i}\"}} {i}\n"));
    }
    let target = Target::start(&body);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: b\n    static_configs:\n      - targets: ['{}']\n",
        target.addr
    );
    let server = Server::start_in(&config, dir.path(), &data);
    server.wait_for("count(backup_metric)", 30, |r| r.first().is_some_and(|s| s["value"][1] == SERIES.to_string()));
    std::thread::sleep(Duration::from_secs(3));

    // The server keeps scraping while the copy is taken.
    let copy_dir = dir.path().join("copy");
    std::fs::create_dir(&copy_dir).unwrap();
    let cut = now_secs() - 2.0;
    let out = backup(&[copy_dir.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("backed up") && report.contains("sightline.db"), "{report}");
    let q = "sum(count_over_time(backup_metric[10m]))";
    let want = value_at(&server, q, cut);
    assert!(want >= 2.0 * SERIES as f64, "several scrapes before the backup: {want}");
    let sum = value_at(&server, "sum(backup_metric)", cut);

    // A second backup to the same place is refused and leaves the copy alone.
    let copy_file = copy_dir.join("sightline.db");
    let before = std::fs::read(&copy_file).unwrap();
    let out = backup(&[copy_dir.to_str().unwrap(), "--data", data.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&copy_file).unwrap(), before);
    drop(server);

    // The copy is a data folder of its own, with the same samples.
    let config = "global:\n  scrape_interval: 1h\nscrape_configs: []\nhost: {enabled: false}\n";
    let copy = Server::start_in(config, dir.path(), &copy_dir);
    assert_eq!(value_at(&copy, q, cut), want);
    assert_eq!(value_at(&copy, "sum(backup_metric)", cut), sum);
}

#[test]
fn backup_is_explained_in_help() {
    let out = Command::new(env!("CARGO_BIN_EXE_sightline")).arg("--help").output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let line = help.lines().find(|l| l.trim_start().starts_with("backup ")).expect("backup listed");
    assert!(line.len() > 30, "{line}");
    let out = backup(&["--help"]);
    let help = String::from_utf8_lossy(&out.stdout);
    for needle in ["--force", "--data", "sightline.db", "while Sightline runs"] {
        assert!(help.contains(needle), "{needle} missing from backup --help:\n{help}");
    }
}
