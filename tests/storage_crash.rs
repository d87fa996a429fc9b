//! Crash safety of the store: the real binary is killed with SIGKILL during
//! heavy ingestion, restarted, and the samples are counted.

mod util;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use util::{encode, Server, Target};

fn now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64()
}

fn count_at(server: &Server, q: &str, time: f64) -> f64 {
    let v = server.api(&format!("/api/v1/query?query={}&time={time:.3}", encode(q)));
    v["data"]["result"][0]["value"][1].as_str().map_or(0.0, |s| s.parse().unwrap())
}

#[test]
fn sigkill_during_scraping_loses_at_most_the_flush_interval() {
    const SERIES: usize = 10_000;
    let mut body = String::from("# TYPE crash_metric gauge\n");
    for i in 0..SERIES {
        body.push_str(&format!("crash_metric{{i=\"{i}\"}} {i}\n"));
    }
    let target = Target::start(&body);
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n  - job_name: heavy\n    static_configs:\n      - targets: ['{}']\n",
        target.addr
    );
    let server = Server::start_in(&config, dir.path(), &data);
    server.wait_for("count(crash_metric)", 30, |r| {
        r.first().is_some_and(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()) == Some(SERIES))
    });
    std::thread::sleep(Duration::from_secs(5));

    // Everything committed more than 2 s before the kill must survive it.
    let cut = now_secs() - 2.0;
    let q = "sum(count_over_time(crash_metric[10m]))";
    let before = count_at(&server, q, cut);
    assert!(before >= 3.0 * SERIES as f64, "several scrapes stored before the kill: {before}");
    drop(server); // SIGKILL, no shutdown

    let started = Instant::now();
    let server = Server::start_in(&config, dir.path(), &data);
    let ready = started.elapsed();
    assert!(ready < Duration::from_secs(5), "ready {ready:?} after SIGKILL");
    let after = count_at(&server, q, cut);
    assert_eq!(after, before, "samples older than the flush interval all survived");
    // And ingestion carries on in the same database.
    server.wait_for("count(crash_metric)", 15, |r| {
        r.first().is_some_and(|s| s["value"][1].as_str().and_then(|v| v.parse().ok()) == Some(SERIES))
    });
}

#[test]
fn sigkill_during_import_leaves_an_intact_database() {
    const SERIES: usize = 2_000;
    const POINTS: usize = 100;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = dir.path().join("in.om");
    let end = now_secs() as i64 - 60;
    let mut om = String::from("# TYPE imported counter\n");
    for s in 0..SERIES {
        for p in 0..POINTS {
            let t = end - (POINTS - 1 - p) as i64 * 60;
            om.push_str(&format!("imported_total{{s=\"{s}\"}} {} {t}\n", p * (s % 7 + 1)));
        }
    }
    om.push_str("# EOF\n");
    std::fs::write(&file, &om).unwrap();

    let import = || {
        Command::new(env!("CARGO_BIN_EXE_sightline"))
            .args(["import", file.to_str().unwrap(), "--data", data.to_str().unwrap()])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Kill the first import once it has started writing (the WAL grows).
    let mut child = import();
    let wal = data.join("sightline.db-wal");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if std::fs::metadata(&wal).map(|m| m.len() > 256 * 1024).unwrap_or(false) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let killed = child.try_wait().unwrap().is_none();
    child.kill().unwrap_or(());
    child.wait().unwrap();
    assert!(killed, "the import was still running when killed (make the input larger if this fails)");

    // The database opens and takes the whole file again: what survived the
    // kill is refused as out of order (older than each series' last sample),
    // the rest is added. The final count is exact only if what survived is,
    // per series, an unbroken prefix: nothing torn, nothing reordered.
    let out = import().wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    let numbers: Vec<usize> =
        report.split(|c: char| !c.is_ascii_digit()).filter_map(|w| w.parse().ok()).take(3).collect();
    assert_eq!(numbers.len(), 3, "{report}");
    assert_eq!(numbers[1] + numbers[2], SERIES * POINTS, "{report}");

    let config = "global:\n  scrape_interval: 1s\nscrape_configs: []\n";
    let server = Server::start_in(config, dir.path(), &data);
    let total = count_at(&server, "sum(count_over_time(imported_total[3h]))", end as f64);
    assert_eq!(total, (SERIES * POINTS) as f64);
    let last = count_at(&server, "sum(imported_total)", end as f64);
    let want: usize = (0..SERIES).map(|s| (POINTS - 1) * (s % 7 + 1)).sum();
    assert_eq!(last, want as f64);
}
