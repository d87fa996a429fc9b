//! The config loader (sightline.yml / prometheus.yml) on arbitrary text.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = sightline::config::parse_str(text, std::path::Path::new("/nonexistent/fuzz/sightline.yml"));
});
