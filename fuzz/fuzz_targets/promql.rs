//! The PromQL front door: parse (promql-parser plus our typed errors), then
//! evaluate the query against a small in-memory store, as the API does.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sightline::promql::{Engine, EngineOptions};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(q) = std::str::from_utf8(data) else { return };
    if sightline::promql::parse(q).is_err() {
        return;
    }
    let store = sightline::tsdb::MemStore::new();
    // Small limits: the fuzzer looks for panics, not slow queries.
    let engine = Engine::new(EngineOptions { max_samples: 100_000, timeout: Duration::from_millis(200), ..Default::default() });
    let _ = engine.instant_query(&store, q, 1_000_000);
    let _ = engine.range_query(&store, q, 0, 600_000, 15_000);
});
