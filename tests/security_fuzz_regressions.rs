//! Every input that once crashed a `make fuzz` target (kept under
//! `fuzz/regressions/TARGET/`) replayed through the same code as the fuzz
//! target, in-process, so a crash found once stays fixed.

use sightline::promql::{Engine, EngineOptions};
use std::path::Path;
use std::time::Duration;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/regressions").join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Runs `f` and fails the test if anything panicked inside it, even on a
/// thread whose panic the engine turns into an error (as the fuzzer does).
fn no_panic(name: &str, f: impl FnOnce()) {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let seen = Arc::new(AtomicBool::new(false));
    let s = seen.clone();
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        s.store(true, Ordering::SeqCst);
        eprintln!("panic: {info}");
    }));
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(previous);
    assert!(caught.is_ok() && !seen.load(Ordering::SeqCst), "{name} panicked");
}

#[test]
fn promql_crashes_stay_fixed() {
    let cases = inputs("promql");
    assert!(!cases.is_empty(), "fuzz/regressions/promql holds the crash found on 2026-11-21");
    let engine =
        Engine::new(EngineOptions { max_samples: 100_000, timeout: Duration::from_millis(200), ..Default::default() });
    let store = sightline::tsdb::MemStore::new();
    for (name, data) in cases {
        let Ok(q) = std::str::from_utf8(&data) else { continue };
        // The first crash: an `\x` escape followed by a multi-byte character, in a comment.
        no_panic(&name, || {
            if sightline::promql::parse(q).is_ok() {
                let _ = engine.instant_query(&store, q, 1_000_000);
                let _ = engine.range_query(&store, q, 0, 600_000, 15_000);
            }
        });
    }
}

#[test]
fn other_targets_replay_without_panicking() {
    for (name, data) in inputs("exposition") {
        let _ = sightline::scrape::exposition::parse_bytes(&data, sightline::scrape::exposition::Format::Text);
        let _ = sightline::scrape::exposition::parse_bytes(&data, sightline::scrape::exposition::Format::OpenMetrics);
        eprintln!("replayed exposition/{name}");
    }
    for (name, data) in inputs("config") {
        if let Ok(t) = std::str::from_utf8(&data) {
            let _ = sightline::config::parse_str(t, Path::new("/nonexistent/fuzz/sightline.yml"));
        }
        eprintln!("replayed config/{name}");
    }
    for (name, data) in inputs("remote_write") {
        let _ = sightline::ingest::remote_write::decode(&data);
        eprintln!("replayed remote_write/{name}");
    }
}
