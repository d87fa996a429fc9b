//! The scrape body parser (text 0.0.4 and OpenMetrics) on arbitrary bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use sightline::scrape::exposition::{parse_bytes, Format};

fuzz_target!(|data: &[u8]| {
    let _ = parse_bytes(data, Format::Text);
    let _ = parse_bytes(data, Format::OpenMetrics);
});
