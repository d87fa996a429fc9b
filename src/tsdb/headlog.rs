//! The head log's row format: one row per flush interval holding the samples
//! committed in it, so a crash loses at most one interval.
//!
//! # Byte format
//!
//! `0x01` (version), `varint` payload length, then one zstd frame (level 1) of the
//! payload: `varint` sample count, `svarint` base time (the smallest timestamp), then
//! samples grouped by series id (ascending; commit order kept within a series), each
//! group `varint` id gap from the previous group, `varint` count, and per sample
//! `svarint` timestamp minus the previous one (the base time for the first) and the
//! value's 8-byte little-endian bit pattern.

use super::codec::{put_svarint, put_uvarint, ByteReader, CodecError};

const VERSION: u8 = 1;
const MAX_PAYLOAD: u64 = 1 << 30;

/// One logged sample: series id, timestamp, value.
pub type LogSample = (u32, i64, f64);

pub fn encode(samples: &[LogSample]) -> Vec<u8> {
    let mut sorted: Vec<&LogSample> = samples.iter().collect();
    sorted.sort_by_key(|s| s.0); // stable: keeps time order within a series
    let base = samples.iter().map(|s| s.1).min().unwrap_or(0);
    let mut p = Vec::with_capacity(samples.len() * 11 + 16);
    put_uvarint(&mut p, samples.len() as u64);
    put_svarint(&mut p, base);
    let mut i = 0;
    let mut prev_id = 0u32;
    while i < sorted.len() {
        let id = sorted[i].0;
        let n = sorted[i..].iter().take_while(|s| s.0 == id).count();
        put_uvarint(&mut p, (id - prev_id) as u64);
        put_uvarint(&mut p, n as u64);
        let mut prev_t = base;
        for s in &sorted[i..i + n] {
            put_svarint(&mut p, s.1.wrapping_sub(prev_t));
            prev_t = s.1;
            p.extend_from_slice(&s.2.to_bits().to_le_bytes());
        }
        prev_id = id;
        i += n;
    }
    let mut out = vec![VERSION];
    put_uvarint(&mut out, p.len() as u64);
    match zstd::bulk::compress(&p, 1) {
        Ok(z) => out.extend_from_slice(&z),
        Err(_) => {
            // zstd only fails on allocation; store the payload as a raw frame instead.
            out.truncate(1);
            out[0] = 0;
            out.extend_from_slice(&p);
        }
    }
    out
}

pub fn decode(data: &[u8]) -> Result<Vec<LogSample>, CodecError> {
    let mut r = ByteReader::new(data);
    let owned;
    let payload: &[u8] = match r.u8()? {
        VERSION => {
            let len = r.uvarint()?;
            if len > MAX_PAYLOAD {
                return Err(CodecError::Corrupt("head log row too large"));
            }
            owned = zstd::bulk::decompress(r.rest(), len as usize).map_err(|_| CodecError::Corrupt("zstd"))?;
            &owned
        }
        0 => r.rest(),
        other => return Err(CodecError::Unknown(other)),
    };
    let mut r = ByteReader::new(payload);
    let n = r.uvarint()?;
    if n > payload.len() as u64 / 9 + 1 {
        return Err(CodecError::Corrupt("head log count"));
    }
    let base = r.svarint()?;
    let mut out = Vec::with_capacity(n as usize);
    let mut id = 0u32;
    while (out.len() as u64) < n {
        id = id.checked_add(r.uvarint()? as u32).ok_or(CodecError::Corrupt("series id"))?;
        let count = r.uvarint()?;
        if count == 0 || out.len() as u64 + count > n {
            return Err(CodecError::Corrupt("head log group"));
        }
        let mut t = base;
        for _ in 0..count {
            t = t.wrapping_add(r.svarint()?);
            out.push((id, t, f64::from_bits(r.u64()?)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN;

    #[test]
    fn roundtrip_groups_by_series_and_keeps_bits() {
        let samples = vec![
            (5, 1_000, 1.0),
            (2, 1_001, STALE_NAN),
            (5, 2_000, -0.0),
            (900_000, 999, f64::INFINITY),
            (2, 1_500, f64::NAN),
        ];
        let enc = encode(&samples);
        let got = decode(&enc).unwrap();
        let mut want = samples.clone();
        want.sort_by_key(|s| s.0);
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(&want) {
            assert_eq!((g.0, g.1, g.2.to_bits()), (w.0, w.1, w.2.to_bits()));
        }
        assert!(decode(&encode(&[])).unwrap().is_empty());
    }

    #[test]
    fn compact_for_a_typical_second() {
        // 1000 series scraped in the same second: ~10 bytes a sample or less.
        let samples: Vec<LogSample> =
            (0..1000).map(|i| (i, 1_700_000_000_000 + (i as i64 % 3), (i * 7) as f64)).collect();
        let enc = encode(&samples);
        assert!(enc.len() < 10 * 1000, "{} bytes", enc.len());
    }

    #[test]
    fn corrupt_rows_error() {
        let enc = encode(&[(1, 2, 3.0), (4, 5, 6.0)]);
        for cut in 0..enc.len() {
            assert!(decode(&enc[..cut]).is_err());
        }
        assert!(decode(&[9, 0]).is_err());
    }
}
