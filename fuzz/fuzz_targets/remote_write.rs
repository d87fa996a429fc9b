//! The remote-write decoder (snappy + protobuf) on arbitrary bytes, raw
//! and snappy-framed so the protobuf decoder is reached too.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = sightline::ingest::remote_write::decode(data);
    if let Ok(compressed) = snap::raw::Encoder::new().compress_vec(data) {
        let _ = sightline::ingest::remote_write::decode(&compressed);
    }
});
