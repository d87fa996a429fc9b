//! Downsampled rollups: per series per 5-minute bucket the count, sum, min,
//! max and last value, and a reset-corrected counter, as Thanos keeps them.
//!
//! Raw blocks are rolled up when age retention is about to delete them, so
//! the disk never holds both for the same time; rollups then stay for
//! `storage.downsample_retention`. Range queries whose step is at least
//! [`BUCKET_MS`] read them for times where raw samples are gone, picking the
//! aggregate by the function applied ([`Aggr::for_func`]).
//!
//! # Counter aggregate
//!
//! Each bucket's `counter` is the value of its last sample plus every value
//! lost to a counter reset since the series' first rollup (a drop from `a`
//! to `b` adds `a`), so the stream only goes up and `rate()`/`increase()`
//! over it see every increase, including those hidden inside a bucket. The
//! correction carries over from one row to the next. At query time the
//! stream is shifted so that its newest value equals the raw last value,
//! which makes it continue seamlessly into the raw samples that follow.
//!
//! # Byte format
//!
//! `0x01` (version), then six sections in the order count, sum, min, max,
//! last, counter, each `varint` length + a block blob ([`codec::encode_block`])
//! whose samples are (time of the bucket's last sample, aggregate). Stale
//! markers are left out of every aggregate.

use super::codec::{self, put_uvarint, ByteReader, CodecError};
use super::{is_stale_nan, Sample};

/// Bucket width: 5 minutes.
pub const BUCKET_MS: i64 = 300_000;
const VERSION: u8 = 1;

/// One of the stored aggregates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Aggr {
    Count = 0,
    Sum = 1,
    Min = 2,
    Max = 3,
    Last = 4,
    Counter = 5,
}

/// What a query reads from rollups: one stored aggregate, or the per-bucket average.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick {
    One(Aggr),
    /// sum / count per bucket.
    Avg,
}

impl Aggr {
    /// The aggregate that keeps a PromQL function's answer right over rollups
    /// (`None`: a plain selector or another function, which read `last`).
    pub fn for_func(func: Option<&str>) -> Pick {
        match func.unwrap_or("") {
            "rate" | "increase" | "irate" | "resets" => Pick::One(Aggr::Counter),
            "min_over_time" => Pick::One(Aggr::Min),
            "max_over_time" => Pick::One(Aggr::Max),
            "sum_over_time" => Pick::One(Aggr::Sum),
            "count_over_time" => Pick::One(Aggr::Count),
            "avg_over_time" => Pick::Avg,
            _ => Pick::One(Aggr::Last),
        }
    }
}

/// Where a series' counter stood at the end of its previous rollup row.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CounterState {
    /// The raw value of the last sample.
    pub last_raw: f64,
    /// Resets' total so far (counter = raw + offset).
    pub offset: f64,
}

/// Rolls `samples` (time-ordered) up into 5-minute buckets; `prev` continues
/// the counter correction of the previous row. Returns the encoded row (or
/// `None` when every sample is a stale marker) and the counter state at its end.
pub fn build(samples: &[Sample], prev: Option<CounterState>) -> (Option<Vec<u8>>, Option<CounterState>) {
    let mut cols: [Vec<Sample>; 6] = Default::default();
    let mut state = prev;
    let mut i = 0;
    while i < samples.len() {
        let bucket = samples[i].t.div_euclid(BUCKET_MS);
        // NaN until the first value, then NaN never wins (as in min_over_time/max_over_time).
        let (mut count, mut sum, mut min, mut max) = (0u64, 0.0f64, f64::NAN, f64::NAN);
        let mut last: Option<Sample> = None;
        while i < samples.len() && samples[i].t.div_euclid(BUCKET_MS) == bucket {
            let s = samples[i];
            i += 1;
            if is_stale_nan(s.v) {
                continue;
            }
            count += 1;
            sum += s.v;
            if s.v < min || min.is_nan() {
                min = s.v;
            }
            if s.v > max || max.is_nan() {
                max = s.v;
            }
            let st = state.get_or_insert(CounterState { last_raw: s.v, offset: 0.0 });
            if s.v < st.last_raw {
                st.offset += st.last_raw;
            }
            st.last_raw = s.v;
            last = Some(s);
        }
        let (Some(last), Some(st)) = (last, state) else { continue };
        let t = last.t;
        for (col, v) in cols.iter_mut().zip([count as f64, sum, min, max, last.v, last.v + st.offset]) {
            col.push(Sample { t, v });
        }
    }
    if cols[0].is_empty() {
        return (None, state);
    }
    let mut out = vec![VERSION];
    for col in &cols {
        let blob = codec::encode_block(col);
        put_uvarint(&mut out, blob.len() as u64);
        out.extend_from_slice(&blob);
    }
    (Some(out), state)
}

/// Decodes one aggregate of a row into `out` (appending).
pub fn decode(row: &[u8], which: Aggr, out: &mut Vec<Sample>) -> Result<(), CodecError> {
    let mut r = ByteReader::new(row);
    match r.u8()? {
        VERSION => {}
        other => return Err(CodecError::Unknown(other)),
    }
    for k in 0..=which as usize {
        let len = r.uvarint()? as usize;
        let rest = r.rest();
        if len > rest.len() {
            return Err(CodecError::Truncated);
        }
        if k == which as usize {
            return codec::decode(&rest[..len], out);
        }
        r = ByteReader::new(&rest[len..]);
    }
    Err(CodecError::Corrupt("rollup section"))
}

/// Decodes what `pick` asks for into `out`.
pub fn decode_pick(row: &[u8], pick: Pick, out: &mut Vec<Sample>) -> Result<(), CodecError> {
    match pick {
        Pick::One(a) => decode(row, a, out),
        Pick::Avg => {
            let (mut sums, mut counts) = (Vec::new(), Vec::new());
            decode(row, Aggr::Sum, &mut sums)?;
            decode(row, Aggr::Count, &mut counts)?;
            out.extend(sums.iter().zip(&counts).map(|(s, c)| Sample { t: s.t, v: s.v / c.v }));
            Ok(())
        }
    }
}

/// The counter state at the end of a row (its last `last` and `counter`).
pub fn end_state(row: &[u8]) -> Result<Option<CounterState>, CodecError> {
    let (mut last, mut counter) = (Vec::new(), Vec::new());
    decode(row, Aggr::Last, &mut last)?;
    decode(row, Aggr::Counter, &mut counter)?;
    Ok(match (last.last(), counter.last()) {
        (Some(l), Some(c)) => Some(CounterState { last_raw: l.v, offset: c.v - l.v }),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN;

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn buckets_hold_count_sum_min_max_last() {
        let base = 1_700_000_100_000 - 1_700_000_100_000 % BUCKET_MS;
        let samples: Vec<Sample> = (0..40).map(|k| s(base + 7_000 + k * 15_000, ((k * 37) % 11) as f64)).collect();
        let (row, _) = build(&samples, None);
        let row = row.unwrap();
        let get = |a| {
            let mut v = Vec::new();
            decode(&row, a, &mut v).unwrap();
            v
        };
        // 40 samples at 15 s = 20 per bucket, two buckets.
        assert_eq!(get(Aggr::Count).iter().map(|x| x.v).collect::<Vec<_>>(), [20.0, 20.0]);
        for (b, chunk) in samples.chunks(20).enumerate() {
            let vals: Vec<f64> = chunk.iter().map(|x| x.v).collect();
            assert_eq!(get(Aggr::Sum)[b].v, vals.iter().sum::<f64>());
            assert_eq!(get(Aggr::Min)[b].v, vals.iter().cloned().fold(f64::INFINITY, f64::min));
            assert_eq!(get(Aggr::Max)[b].v, vals.iter().cloned().fold(f64::NEG_INFINITY, f64::max));
            assert_eq!(get(Aggr::Last)[b], *chunk.last().unwrap());
        }
        let mut avg = Vec::new();
        decode_pick(&row, Pick::Avg, &mut avg).unwrap();
        assert_eq!(avg[0].v, get(Aggr::Sum)[0].v / 20.0);
    }

    #[test]
    fn counter_resets_inside_a_bucket_and_across_rows_are_corrected() {
        // 10, 20, reset to 5, 15 | next row: reset to 1, 4.
        let first = [s(1_000, 10.0), s(16_000, 20.0), s(31_000, 5.0), s(46_000, 15.0)];
        let (row, st) = build(&first, None);
        let mut c = Vec::new();
        decode(&row.unwrap(), Aggr::Counter, &mut c).unwrap();
        assert_eq!(c, [s(46_000, 35.0)], "20 lost to the reset is added back");
        assert_eq!(st, Some(CounterState { last_raw: 15.0, offset: 20.0 }));
        let second = [s(BUCKET_MS + 1_000, 1.0), s(BUCKET_MS + 16_000, 4.0)];
        let (row2, _) = build(&second, st);
        let row2 = row2.unwrap();
        let mut c = Vec::new();
        decode(&row2, Aggr::Counter, &mut c).unwrap();
        assert_eq!(c, [s(BUCKET_MS + 16_000, 39.0)], "increase 10+5+10+4 since the first sample, from 10 to 39");
        assert_eq!(end_state(&row2).unwrap(), Some(CounterState { last_raw: 4.0, offset: 35.0 }));
    }

    #[test]
    fn stale_markers_are_left_out_and_garbage_is_an_error() {
        let (row, _) = build(&[s(1_000, STALE_NAN)], None);
        assert!(row.is_none());
        let (row, _) = build(&[s(1_000, 3.0), s(2_000, STALE_NAN)], None);
        let row = row.unwrap();
        let mut v = Vec::new();
        decode(&row, Aggr::Count, &mut v).unwrap();
        assert_eq!(v, [s(1_000, 1.0)]);
        for cut in 0..row.len() {
            assert!(decode(&row[..cut], Aggr::Counter, &mut Vec::new()).is_err(), "cut at {cut}");
        }
        assert!(decode(&[7], Aggr::Min, &mut Vec::new()).is_err());
    }
}
