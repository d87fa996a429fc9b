//! Sample encodings: the Gorilla chunk the head appends to, and the block
//! codecs compaction picks from by trial. Every codec is lossless: each float
//! decodes to the exact bit pattern written (NaNs, the stale marker, -0.0, ±Inf).
//!
//! # Byte formats
//!
//! Every blob starts with one tag byte.
//!
//! `0x00` **Gorilla chunk** (head chunks, 30 min by default):
//! `varint count`, then a big-endian bit stream:
//! - sample 0: `t0` as 64 bits, value as 64 bits;
//! - sample i ≥ 1: timestamp delta-of-delta `dod = (t_i - t_{i-1}) - (t_{i-1} - t_{i-2})`
//!   (the delta before sample 1 counts as 0) in buckets: `0` → 0; `10` + 14-bit signed;
//!   `110` + 17-bit signed; `1110` + 20-bit signed; `1111` + 64 bits;
//!   then the value XOR-ed with the previous one: `0` → same bits; `10` + the
//!   meaningful bits inside the previous leading/trailing-zero window;
//!   `11` + 5 bits leading zeros + 6 bits (meaningful length − 1) + the meaningful bits.
//!
//! `0x01` **block** (compacted, one per series per block span):
//! `flags` byte: bits 0–1 timestamp codec, bits 2–4 value codec, bit 7 set when the
//! rest is one zstd frame. The (decompressed) payload is `varint count`, the
//! timestamp section, the value section. Varints are LEB128; signed ones zig-zag.
//! - timestamps `0` regular: `svarint t0`, `varint interval` (t_i = t0 + i·interval);
//! - timestamps `1` delta-of-delta: `svarint t0`, then count−1 `svarint dod`;
//! - values `0` constant: 8 bytes (LE bit pattern);
//! - values `1` constant delta: 8 bytes v0, 8 bytes d; v_i = v_{i-1} + d in f64
//!   (chosen only when that reproduces every bit);
//! - values `2` decimal, delta-of-delta / `3` decimal, delta: `scale` byte k,
//!   `varint` exception count, each exception `varint` index gap + 8 bytes bits
//!   (values that are not exact decimals, e.g. NaN, stale markers, -0.0), then for the
//!   other values the integers n with v = n / 10^k (checked bit-exact) as `svarint`
//!   delta-of-delta (2) or delta (3);
//! - values `4` XOR: the Gorilla value bit stream above, for all values;
//! - values `5` decimal + ulps: `scale` byte k and exceptions as in `2`/`3`, then per
//!   other value two `svarint`s: the delta of n = round(v·10^k) and the delta of c, the
//!   distance in units in the last place from n / 10^k to v (the bit patterns'
//!   difference): floats summed in binary (`1234.5600000000002`) are a decimal plus a
//!   small, slowly drifting rounding error.

use super::Sample;

/// Blob tags.
pub const TAG_GORILLA: u8 = 0x00;
pub const TAG_BLOCK: u8 = 0x01;

const TS_REGULAR: u8 = 0;
const TS_DOD: u8 = 1;
const V_CONST: u8 = 0;
const V_CONST_DELTA: u8 = 1;
const V_DEC_DOD: u8 = 2;
const V_DEC_DELTA: u8 = 3;
const V_XOR: u8 = 4;
const V_DEC_ULP: u8 = 5;
const FLAG_ZSTD: u8 = 0x80;
const MAX_SCALE: u32 = 12;

/// zstd level for blocks: measured against 1, 3, 9 and 19 (README "Performance").
pub const ZSTD_LEVEL: i32 = 19;

/// A blob that does not decode.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("chunk ends early")]
    Truncated,
    #[error("unknown chunk tag or codec {0:#x}")]
    Unknown(u8),
    #[error("corrupt chunk: {0}")]
    Corrupt(&'static str),
}

// ---------------------------------------------------------------- bits and varints

/// Appends bits most-significant first.
#[derive(Clone, Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    /// Free bits in the last byte (0 = start a new byte).
    free: u8,
}

/// Where the Gorilla encoders write bits: a growable [`BitWriter`], or the
/// head's compact [`HeadChunk`]. Bits go in most-significant first; an
/// implementation only says how it adds a zero byte and where its last is.
trait BitSink {
    /// Free bits in the last byte (0 = start a new byte).
    fn free(&mut self) -> &mut u8;
    /// Appends a zero byte.
    fn push_byte(&mut self);
    /// The last byte (one was pushed before).
    fn last(&mut self) -> &mut u8;

    fn write_bit(&mut self, bit: bool) {
        if *self.free() == 0 {
            self.push_byte();
            *self.free() = 8;
        }
        *self.free() -= 1;
        if bit {
            let shift = *self.free();
            *self.last() |= 1 << shift;
        }
    }

    fn write_bits(&mut self, value: u64, n: u8) {
        let mut n = n;
        while n > 0 {
            if *self.free() == 0 {
                self.push_byte();
                *self.free() = 8;
            }
            let free = *self.free();
            let take = n.min(free);
            let chunk = ((value >> (n - take)) & ((1u64 << take) - 1)) as u8;
            *self.last() |= chunk << (free - take);
            *self.free() = free - take;
            n -= take;
        }
    }
}

impl BitSink for BitWriter {
    fn free(&mut self) -> &mut u8 {
        &mut self.free
    }

    fn push_byte(&mut self) {
        self.bytes.push(0);
    }

    fn last(&mut self) -> &mut u8 {
        let last = self.bytes.len() - 1;
        &mut self.bytes[last]
    }
}

impl BitWriter {
    fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> BitReader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        BitReader { bytes, pos: 0 }
    }

    fn read_bit(&mut self) -> Result<bool, CodecError> {
        let byte = *self.bytes.get(self.pos / 8).ok_or(CodecError::Truncated)?;
        let bit = byte & (0x80 >> (self.pos % 8)) != 0;
        self.pos += 1;
        Ok(bit)
    }

    fn read_bits(&mut self, n: u8) -> Result<u64, CodecError> {
        // Fast path: one big-endian load when 8 bytes remain and the bits fit
        // in them (byte at a time cost most of a query's decoding time).
        let used = (self.pos % 8) as u32;
        if n > 0 && used + n as u32 <= 64 {
            let at = self.pos / 8;
            if let Some(Ok(w)) = self.bytes.get(at..at + 8).map(<[u8; 8]>::try_from) {
                self.pos += n as usize;
                return Ok((u64::from_be_bytes(w) << used) >> (64 - n as u32));
            }
        }
        let mut out = 0u64;
        let mut n = n;
        while n > 0 {
            let byte = *self.bytes.get(self.pos / 8).ok_or(CodecError::Truncated)?;
            let used = (self.pos % 8) as u8;
            let avail = 8 - used;
            let take = n.min(avail);
            let chunk = (byte >> (avail - take)) & (((1u16 << take) - 1) as u8);
            out = (out << take) | chunk as u64;
            self.pos += take as usize;
            n -= take;
        }
        Ok(out)
    }
}

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_svarint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads LEB128 varints and fixed fields from a byte slice.
pub struct ByteReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteReader { bytes, pos: 0 }
    }

    #[inline]
    pub fn uvarint(&mut self) -> Result<u64, CodecError> {
        // One byte is by far the most common varint in blocks (small deltas).
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(b as u64);
            }
        }
        self.uvarint_long()
    }

    fn uvarint_long(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = *self.bytes.get(self.pos).ok_or(CodecError::Truncated)?;
            self.pos += 1;
            if shift == 63 && b > 1 {
                return Err(CodecError::Corrupt("varint overflows 64 bits"));
            }
            v |= ((b & 0x7f) as u64) << shift;
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(CodecError::Corrupt("varint too long"))
    }

    #[inline]
    pub fn svarint(&mut self) -> Result<i64, CodecError> {
        let u = self.uvarint()?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    pub fn u8(&mut self) -> Result<u8, CodecError> {
        let b = *self.bytes.get(self.pos).ok_or(CodecError::Truncated)?;
        self.pos += 1;
        Ok(b)
    }

    pub fn u64(&mut self) -> Result<u64, CodecError> {
        let s = self.bytes.get(self.pos..self.pos + 8).ok_or(CodecError::Truncated)?;
        self.pos += 8;
        Ok(u64::from_le_bytes(s.try_into().map_err(|_| CodecError::Truncated)?))
    }

    pub fn rest(&self) -> &'a [u8] {
        &self.bytes[self.pos.min(self.bytes.len())..]
    }

    pub fn is_empty(&self) -> bool {
        self.pos >= self.bytes.len()
    }
}

// ---------------------------------------------------------------- XOR values

#[derive(Clone, Copy, Debug, Default)]
struct XorState {
    prev: u64,
    leading: u8,
    trailing: u8,
    /// False until a window (leading/trailing) has been written.
    has_window: bool,
}

impl XorState {
    fn write(&mut self, w: &mut impl BitSink, bits: u64) {
        let xor = bits ^ self.prev;
        self.prev = bits;
        if xor == 0 {
            w.write_bit(false);
            return;
        }
        w.write_bit(true);
        let leading = (xor.leading_zeros() as u8).min(31);
        let trailing = xor.trailing_zeros() as u8;
        if self.has_window && leading >= self.leading && trailing >= self.trailing {
            w.write_bit(false);
            let sig = 64 - self.leading - self.trailing;
            w.write_bits(xor >> self.trailing, sig);
        } else {
            self.leading = leading;
            self.trailing = trailing;
            self.has_window = true;
            let sig = 64 - leading - trailing;
            w.write_bit(true);
            w.write_bits(leading as u64, 5);
            w.write_bits((sig - 1) as u64, 6);
            w.write_bits(xor >> trailing, sig);
        }
    }

    fn read(&mut self, r: &mut BitReader) -> Result<u64, CodecError> {
        if !r.read_bit()? {
            return Ok(self.prev);
        }
        if r.read_bit()? {
            self.leading = r.read_bits(5)? as u8;
            let sig = r.read_bits(6)? as u8 + 1;
            if self.leading + sig > 64 {
                return Err(CodecError::Corrupt("xor window beyond 64 bits"));
            }
            self.trailing = 64 - self.leading - sig;
            self.has_window = true;
        } else if !self.has_window {
            return Err(CodecError::Corrupt("xor window reused before set"));
        }
        let sig = 64 - self.leading - self.trailing;
        let xor = r.read_bits(sig)? << self.trailing;
        self.prev ^= xor;
        Ok(self.prev)
    }
}

// ---------------------------------------------------------------- Gorilla chunk

/// A Gorilla chunk built one sample at a time in O(1) (for batch encoding
/// and tests; the head keeps a [`HeadChunk`] and the last sample itself).
#[derive(Clone, Debug, Default)]
pub struct GorillaAppender {
    chunk: HeadChunk,
    last_t: i64,
    last_bits: u64,
}

fn write_dod(w: &mut impl BitSink, dod: i64) {
    let fits = |bits: u32| dod >= -(1i64 << (bits - 1)) && dod < (1i64 << (bits - 1));
    if dod == 0 {
        w.write_bit(false);
    } else if fits(14) {
        w.write_bits(0b10, 2);
        w.write_bits(dod as u64 & ((1 << 14) - 1), 14);
    } else if fits(17) {
        w.write_bits(0b110, 3);
        w.write_bits(dod as u64 & ((1 << 17) - 1), 17);
    } else if fits(20) {
        w.write_bits(0b1110, 4);
        w.write_bits(dod as u64 & ((1 << 20) - 1), 20);
    } else {
        w.write_bits(0b1111, 4);
        w.write_bits(dod as u64, 64);
    }
}

fn read_dod(r: &mut BitReader) -> Result<i64, CodecError> {
    let signed = |v: u64, bits: u32| -> i64 { ((v << (64 - bits)) as i64) >> (64 - bits) };
    if !r.read_bit()? {
        return Ok(0);
    }
    if !r.read_bit()? {
        return Ok(signed(r.read_bits(14)?, 14));
    }
    if !r.read_bit()? {
        return Ok(signed(r.read_bits(17)?, 17));
    }
    if !r.read_bit()? {
        return Ok(signed(r.read_bits(20)?, 20));
    }
    Ok(r.read_bits(64)? as i64)
}

impl GorillaAppender {
    /// Appends a sample; the caller guarantees `t` is after the last one.
    pub fn append(&mut self, t: i64, v: f64) {
        self.chunk.append(self.last_t, self.last_bits, t, v);
        self.last_t = t;
        self.last_bits = v.to_bits();
    }

    pub fn count(&self) -> u32 {
        self.chunk.count()
    }

    /// The chunk as a blob (tag, count, bit stream).
    pub fn to_blob(&self) -> Vec<u8> {
        self.chunk.to_blob()
    }
}

/// The head's open Gorilla chunk in as few bytes as it can be kept (40): the
/// bit stream in an exactly sized buffer with 32-bit lengths, and no copy of
/// the last sample, which the caller keeps anyway and passes to
/// [`HeadChunk::append`]. One per active series, so every byte here counts
/// 100 000 times at 100 000 series.
#[derive(Clone, Debug, Default)]
pub struct HeadChunk {
    /// The bit stream; bytes past `len` are zero (bits are OR-ed in).
    buf: Box<[u8]>,
    len: u32,
    count: u32,
    last_delta: i64,
    /// Free bits in the last byte (0 = start a new byte).
    free: u8,
    leading: u8,
    trailing: u8,
    has_window: bool,
}

/// A head chunk never grows beyond this: 32-bit lengths stay exact, and the
/// head seals a chunk that reaches it (see [`HeadChunk::is_full`]).
const HEAD_CHUNK_MAX_BYTES: usize = (u32::MAX / 2) as usize;

/// `bytes` rounded up to a size glibc's malloc hands out without slack
/// (16 k + 8 on 64-bit: a block is the request plus 8, in 16-byte steps).
fn alloc_size(bytes: usize) -> usize {
    ((bytes.max(24) - 8).div_ceil(16) * 16 + 8).min(HEAD_CHUNK_MAX_BYTES)
}

impl HeadChunk {
    /// An empty chunk whose buffer holds `bytes` before it must grow (the
    /// head sizes it from the series' previous chunk: one allocation per chunk).
    pub fn with_capacity(bytes: usize) -> Self {
        HeadChunk { buf: vec![0; alloc_size(bytes)].into_boxed_slice(), ..HeadChunk::default() }
    }

    /// Appends a sample; the caller guarantees `t` is after the last one and
    /// passes the last sample's time and value bits (ignored for the first).
    pub fn append(&mut self, last_t: i64, last_bits: u64, t: i64, v: f64) {
        if self.count == 0 {
            self.write_bits(t as u64, 64);
            self.write_bits(v.to_bits(), 64);
            self.last_delta = 0;
        } else {
            let delta = t.wrapping_sub(last_t);
            write_dod(self, delta.wrapping_sub(self.last_delta));
            self.last_delta = delta;
            let mut x = XorState {
                prev: last_bits,
                leading: self.leading,
                trailing: self.trailing,
                has_window: self.has_window,
            };
            x.write(self, v.to_bits());
            (self.leading, self.trailing, self.has_window) = (x.leading, x.trailing, x.has_window);
        }
        self.count = self.count.saturating_add(1);
    }

    /// Whether the chunk must be sealed before another sample (its
    /// 32-bit count or length would overflow; never at real scrape rates).
    pub fn is_full(&self) -> bool {
        self.count >= u32::MAX - 1 || self.len as usize >= HEAD_CHUNK_MAX_BYTES - 64
    }

    /// The first sample's time (the stream starts with it, raw), or `None` when empty.
    pub fn first_t(&self) -> Option<i64> {
        let head: [u8; 8] = self.buf.get(..8)?.try_into().ok()?;
        (self.count > 0).then(|| i64::from_be_bytes(head))
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Bytes of the bit stream so far.
    pub fn len_bytes(&self) -> usize {
        self.len as usize
    }

    /// The chunk as a blob (tag, count, bit stream), as [`encode_gorilla`] writes it.
    pub fn to_blob(&self) -> Vec<u8> {
        let bytes = &self.buf[..self.len as usize];
        let mut out = Vec::with_capacity(bytes.len() + 6);
        out.push(TAG_GORILLA);
        put_uvarint(&mut out, self.count as u64);
        out.extend_from_slice(bytes);
        out
    }

    /// Heap bytes held (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        self.buf.len()
    }

    /// Adds a zero byte, growing a full buffer by a quarter (at least 16
    /// bytes) instead of doubling it: every active series has one, all
    /// growing at once, and doubling leaves a quarter of them unused on
    /// average (up to half right after the step). A few more small copies
    /// per chunk cost next to nothing.
    fn next_byte(&mut self) {
        let len = self.buf.len();
        if self.len as usize == len {
            let cap = alloc_size(len + (len / 4).max(16));
            let mut grown = std::mem::take(&mut self.buf).into_vec();
            // Exact: the buffer's length is its capacity.
            grown.reserve_exact(cap.saturating_sub(len));
            grown.resize(cap, 0);
            self.buf = grown.into_boxed_slice();
        }
        self.len += 1;
    }
}

impl BitSink for HeadChunk {
    fn free(&mut self) -> &mut u8 {
        &mut self.free
    }

    fn push_byte(&mut self) {
        self.next_byte();
    }

    fn last(&mut self) -> &mut u8 {
        &mut self.buf[self.len as usize - 1]
    }
}

/// Encodes samples as a Gorilla chunk blob.
pub fn encode_gorilla(samples: &[Sample]) -> Vec<u8> {
    let mut a = GorillaAppender::default();
    for s in samples {
        a.append(s.t, s.v);
    }
    a.to_blob()
}

// ---------------------------------------------------------------- block codecs

fn encode_ts(samples: &[Sample], out: &mut Vec<u8>) -> u8 {
    let t0 = samples[0].t;
    put_svarint(out, t0);
    let interval = if samples.len() > 1 { samples[1].t - t0 } else { 0 };
    let regular = interval >= 0 && samples.windows(2).all(|w| w[1].t - w[0].t == interval);
    if regular {
        put_uvarint(out, interval as u64);
        return TS_REGULAR;
    }
    let mut prev_delta = 0i64;
    for w in samples.windows(2) {
        let d = w[1].t - w[0].t;
        put_svarint(out, d - prev_delta);
        prev_delta = d;
    }
    TS_DOD
}

/// Whether v_i = v_{i-1} + d reproduces every value bit for bit.
fn const_delta(samples: &[Sample]) -> Option<(f64, f64)> {
    if samples.len() < 2 {
        return None;
    }
    let v0 = samples[0].v;
    let d = samples[1].v - v0;
    let mut acc = v0;
    for s in &samples[1..] {
        acc += d;
        if acc.to_bits() != s.v.to_bits() {
            return None;
        }
    }
    Some((v0, d))
}

const POW10: [f64; 13] = [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12];

fn dec_value(n: i64, k: u32) -> f64 {
    if k == 0 {
        n as f64
    } else {
        n as f64 / POW10[k as usize]
    }
}

/// The integer n with n / 10^k == v bit for bit, if any.
fn as_decimal(v: f64, k: u32) -> Option<i64> {
    // Rounded, not required to be whole: v·10^k may miss the integer by the
    // product's rounding; the round trip below decides.
    let x = (v * POW10[k as usize]).round();
    if !x.is_finite() || x.abs() >= 9.0e15 {
        return None;
    }
    let n = x as i64;
    (dec_value(n, k).to_bits() == v.to_bits()).then_some(n)
}

fn smallest_scale(v: f64) -> Option<u32> {
    (0..=MAX_SCALE).find(|&k| as_decimal(v, k).is_some())
}

/// Values that are not decimals at the chosen scale: (index, float bits).
type Exceptions = Vec<(usize, u64)>;

/// Decimal encoding: (scale, exceptions, integers of the rest).
fn decimal_split(samples: &[Sample]) -> Option<(u32, Exceptions, Vec<i64>)> {
    let k = samples.iter().filter_map(|s| smallest_scale(s.v)).max()?;
    let mut exceptions = Vec::new();
    let mut ints = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        match as_decimal(s.v, k) {
            Some(n) => ints.push(n),
            None => exceptions.push((i, s.v.to_bits())),
        }
    }
    // Mostly non-decimal data is XOR's job.
    if exceptions.len() * 4 > samples.len() {
        return None;
    }
    Some((k, exceptions, ints))
}

fn encode_decimal(k: u32, exceptions: &[(usize, u64)], ints: &[i64], dod: bool, out: &mut Vec<u8>) {
    encode_scale_and_exceptions(k, exceptions, out);
    let (mut prev, mut prev_delta) = (0i64, 0i64);
    for &n in ints {
        let d = n.wrapping_sub(prev);
        if dod {
            put_svarint(out, d.wrapping_sub(prev_delta));
        } else {
            put_svarint(out, d);
        }
        prev = n;
        prev_delta = d;
    }
}

fn encode_scale_and_exceptions(k: u32, exceptions: &[(usize, u64)], out: &mut Vec<u8>) {
    out.push(k as u8);
    put_uvarint(out, exceptions.len() as u64);
    let mut last = 0usize;
    for (i, bits) in exceptions {
        put_uvarint(out, (i - last) as u64);
        last = *i;
        out.extend_from_slice(&bits.to_le_bytes());
    }
}

/// `v` as (n, c): the nearest n / 10^k and the ulps from it to `v`
/// (exact by construction: decoding adds c back to the bit pattern).
fn as_decimal_ulp(v: f64, k: u32) -> Option<(i64, i64)> {
    let x = (v * POW10[k as usize]).round();
    if !v.is_finite() || !x.is_finite() || x.abs() >= 9.0e15 {
        return None;
    }
    let n = x as i64;
    Some((n, (v.to_bits() as i64).wrapping_sub(dec_value(n, k).to_bits() as i64)))
}

fn svarint_len(v: i64) -> usize {
    let u = ((v << 1) ^ (v >> 63)) as u64;
    (64 - (u | 1).leading_zeros() as usize).div_ceil(7)
}

/// Samples looked at to choose the scale of [`V_DEC_ULP`].
const ULP_SCALE_PROBE: usize = 512;

/// Decimal + ulps encoding (see the module docs), at the scale whose first
/// [`ULP_SCALE_PROBE`] values encode shortest.
fn encode_decimal_ulp(samples: &[Sample], out: &mut Vec<u8>) {
    let probe = &samples[..samples.len().min(ULP_SCALE_PROBE)];
    let cost = |k: u32| -> usize {
        let (mut prev, mut total) = ((0i64, 0i64), 0usize);
        for s in probe {
            match as_decimal_ulp(s.v, k) {
                Some((n, c)) => {
                    total += svarint_len(n.wrapping_sub(prev.0)) + svarint_len(c.wrapping_sub(prev.1));
                    prev = (n, c);
                }
                None => total += 10,
            }
        }
        total
    };
    let k = (0..=MAX_SCALE).min_by_key(|&k| cost(k)).unwrap_or(0);
    let mut exceptions = Vec::new();
    let mut pairs = Vec::with_capacity(samples.len());
    for (i, s) in samples.iter().enumerate() {
        match as_decimal_ulp(s.v, k) {
            Some(nc) => pairs.push(nc),
            None => exceptions.push((i, s.v.to_bits())),
        }
    }
    encode_scale_and_exceptions(k, &exceptions, out);
    let mut prev = (0i64, 0i64);
    for (n, c) in pairs {
        put_svarint(out, n.wrapping_sub(prev.0));
        put_svarint(out, c.wrapping_sub(prev.1));
        prev = (n, c);
    }
}

fn encode_xor_values(samples: &[Sample], out: &mut Vec<u8>) {
    let mut w = BitWriter::default();
    let mut x = XorState::default();
    for (i, s) in samples.iter().enumerate() {
        if i == 0 {
            w.write_bits(s.v.to_bits(), 64);
            x.prev = s.v.to_bits();
        } else {
            x.write(&mut w, s.v.to_bits());
        }
    }
    out.extend_from_slice(w.bytes());
}

/// Encodes samples as a block, trying every value codec and zstd on top,
/// and keeping the smallest. `samples` must be non-empty and time-ordered.
pub fn encode_block(samples: &[Sample]) -> Vec<u8> {
    encode_block_level(samples, ZSTD_LEVEL)
}

/// [`encode_block`] with an explicit zstd level (0 disables zstd), for measuring.
pub fn encode_block_level(samples: &[Sample], zstd_level: i32) -> Vec<u8> {
    if samples.is_empty() {
        return vec![TAG_BLOCK, TS_REGULAR, 0];
    }
    let mut ts = Vec::new();
    let ts_codec = encode_ts(samples, &mut ts);

    let mut candidates: Vec<(u8, Vec<u8>)> = Vec::new();
    let first = samples[0].v.to_bits();
    if samples.iter().all(|s| s.v.to_bits() == first) {
        candidates.push((V_CONST, first.to_le_bytes().to_vec()));
    } else {
        if let Some((v0, d)) = const_delta(samples) {
            let mut b = v0.to_bits().to_le_bytes().to_vec();
            b.extend_from_slice(&d.to_bits().to_le_bytes());
            candidates.push((V_CONST_DELTA, b));
        }
        let decimal = decimal_split(samples);
        // Values that are mostly not decimals may be decimals off by a few ulps.
        if decimal.as_ref().is_none_or(|(_, exc, _)| exc.len() * 100 > samples.len()) {
            let mut b = Vec::new();
            encode_decimal_ulp(samples, &mut b);
            candidates.push((V_DEC_ULP, b));
        }
        if let Some((k, exc, ints)) = decimal {
            for (codec, dod) in [(V_DEC_DOD, true), (V_DEC_DELTA, false)] {
                let mut b = Vec::new();
                encode_decimal(k, &exc, &ints, dod, &mut b);
                candidates.push((codec, b));
            }
        }
        let mut b = Vec::new();
        encode_xor_values(samples, &mut b);
        candidates.push((V_XOR, b));
    }

    let mut best: Option<Vec<u8>> = None;
    for (vcodec, values) in candidates {
        let flags = ts_codec | (vcodec << 2);
        let mut payload = Vec::with_capacity(ts.len() + values.len() + 10);
        put_uvarint(&mut payload, samples.len() as u64);
        payload.extend_from_slice(&ts);
        payload.extend_from_slice(&values);
        let mut plain = vec![TAG_BLOCK, flags];
        plain.extend_from_slice(&payload);
        let mut consider = |blob: Vec<u8>| {
            if best.as_ref().is_none_or(|b| blob.len() < b.len()) {
                best = Some(blob);
            }
        };
        if zstd_level > 0 && payload.len() > 16 {
            if let Ok(z) = zstd::bulk::compress(&payload, zstd_level) {
                let mut blob = vec![TAG_BLOCK, flags | FLAG_ZSTD];
                put_uvarint(&mut blob, payload.len() as u64);
                blob.extend_from_slice(&z);
                consider(blob);
            }
        }
        consider(plain);
    }
    best.unwrap_or_default()
}

/// Largest payload a block may claim to decompress to (a guard against corrupt sizes).
const MAX_PAYLOAD: u64 = 256 << 20;

thread_local! {
    /// One zstd decompression context per thread: creating one per block cost
    /// as much as decoding the block (a tenth of a query's time).
    static ZSTD_DCTX: std::cell::RefCell<Option<zstd::bulk::Decompressor<'static>>> =
        const { std::cell::RefCell::new(None) };
    /// The decompressed payload, reused: a fresh buffer per block cost page
    /// faults and allocator time comparable to the decompression itself.
    static ZSTD_BUF: std::cell::Cell<Vec<u8>> = const { std::cell::Cell::new(Vec::new()) };
}

/// Decompresses `src` (whose payload is `size` bytes) into a per-thread
/// buffer and runs `f` on it.
fn with_zstd_payload<T>(
    src: &[u8],
    size: usize,
    f: impl FnOnce(&[u8]) -> Result<T, CodecError>,
) -> Result<T, CodecError> {
    // Taken out of the cell (not borrowed), so a nested call would only allocate.
    let mut buf = ZSTD_BUF.with(|c| c.take());
    buf.clear();
    buf.reserve(size);
    let done = ZSTD_DCTX.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = zstd::bulk::Decompressor::new().ok();
        }
        match slot.as_mut() {
            Some(d) => d.decompress_to_buffer(src, &mut buf).map(|_| ()),
            None => zstd::bulk::decompress(src, size).map(|v| buf = v),
        }
    });
    let out = match done {
        Ok(()) => f(&buf),
        Err(_) => Err(CodecError::Corrupt("zstd")),
    };
    // A rare huge payload is not kept for the thread's lifetime.
    if buf.capacity() <= 1 << 20 {
        ZSTD_BUF.with(|c| c.set(buf));
    }
    out
}

/// Decodes the block's samples with `mint <= t <= maxt`, appending them to `out`.
fn decode_block(body: &[u8], mint: i64, maxt: i64, out: &mut Vec<Sample>, seek: Seek) -> Result<(), CodecError> {
    let mut br = ByteReader::new(body);
    let flags = br.u8()?;
    if flags & FLAG_ZSTD != 0 {
        let size = br.uvarint()?;
        if size > MAX_PAYLOAD {
            return Err(CodecError::Corrupt("block payload too large"));
        }
        return with_zstd_payload(br.rest(), size as usize, |p| decode_payload(flags, p, mint, maxt, out, seek));
    }
    decode_payload(flags, br.rest(), mint, maxt, out, seek)
}

/// Samples between two points of a [`SeekIndex`].
pub const SEEK_STRIDE: usize = 512;

/// Where decoding a block's values can resume without reading the ones
/// before: every [`SEEK_STRIDE`] samples, the payload position and the
/// decoder's state there (running integers for decimal codecs, the previous
/// bits and window for XOR). Learned on one read of a block (it costs
/// nothing extra to note), kept by the caller, used by later reads that
/// start deep inside the block (a 6 h window of a day block).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SeekIndex {
    /// Ascending by sample index: (sample index, payload position, prev,
    /// prev_delta, next exception) for decimal codecs, (sample index, bit
    /// position, previous bits, leading | trailing << 8, window set) for XOR.
    points: Vec<(usize, usize, i64, i64, usize)>,
}

impl SeekIndex {
    /// Heap bytes held (for bounding a cache of them).
    pub fn heap_bytes(&self) -> usize {
        self.points.capacity() * std::mem::size_of::<(usize, usize, i64, i64, usize)>()
    }
}

/// What a read does with seek points: none, use a known index, or note one.
enum Seek<'a> {
    None,
    Use(&'a SeekIndex),
    Learn(&'a mut SeekIndex),
}

/// Number of `i` in `0..count` with `t0 + i·interval < x` (`interval > 0`).
fn regular_index(t0: i64, interval: i64, count: usize, x: i128) -> usize {
    let d = x - t0 as i128;
    if d <= 0 {
        return 0;
    }
    let n = (d + interval as i128 - 1) / interval as i128;
    n.min(count as i128) as usize
}

/// Decodes a block payload, keeping samples in `[mint, maxt]`: timestamps
/// first (regular ones by arithmetic), then values only up to the last
/// sample kept, written in place. The unused head of the value stream is
/// walked without storing anything, its tail not at all.
fn decode_payload(
    flags: u8,
    payload: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
    mut seek: Seek,
) -> Result<(), CodecError> {
    let mut r = ByteReader::new(payload);
    let count = r.uvarint()?;
    if count == 0 {
        return Ok(());
    }
    if count > payload.len() as u64 * 8 + 1_000_000_000 {
        return Err(CodecError::Corrupt("count too large"));
    }
    let count = count as usize;
    let start = out.len();
    // Samples lo..hi (indexes into the block) are kept, at out[start..].
    let t0 = r.svarint()?;
    let (lo, hi) = match flags & 0x03 {
        TS_REGULAR => {
            let interval = r.uvarint()? as i64;
            if interval == 0 && count > 1 {
                return Err(CodecError::Corrupt("zero interval"));
            }
            if count > 20_000_000 {
                return Err(CodecError::Corrupt("count too large"));
            }
            let last = (count as i128 - 1) * interval as i128 + t0 as i128;
            if interval <= 0 || last > i64::MAX as i128 {
                // One sample (or a corrupt interval): every timestamp, then the range.
                out.extend((0..count as i64).map(|i| Sample { t: t0.wrapping_add(i.wrapping_mul(interval)), v: 0.0 }));
                let lo = out[start..].partition_point(|s| s.t < mint);
                let hi = out[start..].partition_point(|s| s.t <= maxt).max(lo);
                out.truncate(start + hi);
                out.drain(start..start + lo);
                (lo, hi)
            } else {
                let lo = regular_index(t0, interval, count, mint as i128);
                let hi = regular_index(t0, interval, count, maxt as i128 + 1).max(lo);
                out.extend((lo as i64..hi as i64).map(|i| Sample { t: t0 + i * interval, v: 0.0 }));
                (lo, hi)
            }
        }
        TS_DOD => {
            if count > payload.len() + 1 {
                return Err(CodecError::Corrupt("count larger than the block"));
            }
            // Every delta is read (the values follow them); only kept ones are stored.
            let (mut t, mut d) = (t0, 0i64);
            let (mut lo, mut hi) = (count, count);
            for i in 0..count {
                if i > 0 {
                    d = d.wrapping_add(r.svarint()?);
                    t = t.wrapping_add(d);
                }
                if t < mint || t > maxt {
                    if lo != count && hi == count {
                        hi = i;
                    }
                    continue;
                }
                if lo == count {
                    lo = i;
                } else if hi != count {
                    return Err(CodecError::Corrupt("timestamps out of order"));
                }
                out.push(Sample { t, v: 0.0 });
            }
            if lo == count {
                lo = 0;
                hi = 0;
            }
            (lo, hi)
        }
        other => return Err(CodecError::Unknown(other)),
    };
    if hi <= lo {
        return Ok(());
    }
    let vals = &mut out[start..];
    match (flags >> 2) & 0x07 {
        V_CONST => {
            let v = f64::from_bits(r.u64()?);
            vals.iter_mut().for_each(|s| s.v = v);
        }
        V_CONST_DELTA => {
            // Repeated addition, as encoded: v0 + i·d would round differently.
            let mut acc = f64::from_bits(r.u64()?);
            let d = f64::from_bits(r.u64()?);
            for i in 0..hi {
                if i > 0 {
                    acc += d;
                }
                if i >= lo {
                    vals[i - lo].v = acc;
                }
            }
        }
        c @ (V_DEC_DOD | V_DEC_DELTA | V_DEC_ULP) => {
            let k = r.u8()? as u32;
            if k > MAX_SCALE {
                return Err(CodecError::Corrupt("decimal scale"));
            }
            let n_exc = r.uvarint()? as usize;
            if n_exc > count {
                return Err(CodecError::Corrupt("more exceptions than samples"));
            }
            // Indexes ascend (gaps are unsigned); a repeated index keeps the last value.
            let mut exc: Vec<(usize, u64)> = Vec::with_capacity(n_exc);
            let mut idx = 0usize;
            for _ in 0..n_exc {
                idx = idx.checked_add(r.uvarint()? as usize).ok_or(CodecError::Corrupt("exception index"))?;
                if idx >= count {
                    return Err(CodecError::Corrupt("exception index"));
                }
                exc.push((idx, r.u64()?));
            }
            // For V_DEC_ULP, `prev` is n and `prev_delta` the ulps c.
            let mut st = DecState { prev: 0, prev_delta: 0, dod: c == V_DEC_DOD };
            let (mut i, mut e) = (0usize, 0usize);
            // Resume at the last known point at or before the window.
            if let Seek::Use(ix) = &seek {
                let at = ix.points.partition_point(|p| p.0 <= lo);
                if let Some(&(pi, pos, prev, prev_delta, pe)) = at.checked_sub(1).and_then(|j| ix.points.get(j)) {
                    if pos > payload.len() || pe > exc.len() || pi > count {
                        return Err(CodecError::Corrupt("seek point beyond the block"));
                    }
                    (i, e, r.pos, st.prev, st.prev_delta) = (pi, pe, pos, prev, prev_delta);
                }
            }
            while i < hi {
                if let Seek::Learn(ix) = &mut seek {
                    if i > 0 && i.is_multiple_of(SEEK_STRIDE) && ix.points.last().is_none_or(|p| p.0 < i) {
                        ix.points.push((i, r.pos, st.prev, st.prev_delta, e));
                    }
                }
                // The integers up to the next exception (or seek point to
                // note): those before `lo` only advance the state.
                let mut next = exc.get(e).map_or(hi, |x| x.0.min(hi));
                if matches!(seek, Seek::Learn(_)) {
                    next = next.min((i / SEEK_STRIDE + 1) * SEEK_STRIDE);
                }
                if next < i {
                    // An exception behind the position: a seek point from another block.
                    return Err(CodecError::Corrupt("seek point does not match the block"));
                }
                if i < next {
                    let mid = lo.clamp(i, next);
                    if c == V_DEC_ULP {
                        ulp_run::<false>(&mut r, &mut st, i, mid, lo, k, vals)?;
                        ulp_run::<true>(&mut r, &mut st, mid, next, lo, k, vals)?;
                    } else {
                        dec_run::<false>(&mut r, &mut st, i, mid, lo, k, vals)?;
                        dec_run::<true>(&mut r, &mut st, mid, next, lo, k, vals)?;
                    }
                    i = next;
                    continue;
                }
                if e < exc.len() && exc[e].0 == i {
                    let mut bits = exc[e].1;
                    while e < exc.len() && exc[e].0 == i {
                        bits = exc[e].1;
                        e += 1;
                    }
                    if i >= lo {
                        vals[i - lo].v = f64::from_bits(bits);
                    }
                    i += 1;
                }
            }
        }
        V_XOR => {
            let mut br = BitReader::new(r.rest());
            let mut x = XorState::default();
            let mut i = 0usize;
            // A point holds the bit position, the previous bits and the window
            // (leading | trailing << 8, and whether it is set).
            if let Seek::Use(ix) = &seek {
                let at = ix.points.partition_point(|p| p.0 <= lo);
                if let Some(&(pi, pos, prev, window, set)) = at.checked_sub(1).and_then(|j| ix.points.get(j)) {
                    let (leading, trailing) = ((window & 0xff) as u8, ((window >> 8) & 0xff) as u8);
                    if pi == 0 || pi > count || pos > br.bytes.len() * 8 || leading as u32 + trailing as u32 >= 64 {
                        return Err(CodecError::Corrupt("seek point does not match the block"));
                    }
                    (i, br.pos) = (pi, pos);
                    x = XorState { prev: prev as u64, leading, trailing, has_window: set == 1 };
                }
            }
            while i < hi {
                if let Seek::Learn(ix) = &mut seek {
                    if i > 0 && i.is_multiple_of(SEEK_STRIDE) && ix.points.last().is_none_or(|p| p.0 < i) {
                        let window = x.leading as i64 | (x.trailing as i64) << 8;
                        ix.points.push((i, br.pos, x.prev as i64, window, x.has_window as usize));
                    }
                }
                let bits = if i == 0 {
                    let b = br.read_bits(64)?;
                    x.prev = b;
                    b
                } else {
                    x.read(&mut br)?
                };
                if i >= lo {
                    vals[i - lo].v = f64::from_bits(bits);
                }
                i += 1;
            }
        }
        other => return Err(CodecError::Unknown(other)),
    }
    Ok(())
}

/// Running integer of the decimal value codecs.
struct DecState {
    prev: i64,
    prev_delta: i64,
    /// Delta-of-delta (else plain delta) encoding.
    dod: bool,
}

impl DecState {
    #[inline(always)]
    fn step(&mut self, x: i64) -> i64 {
        let d = if self.dod { self.prev_delta.wrapping_add(x) } else { x };
        self.prev = self.prev.wrapping_add(d);
        self.prev_delta = d;
        self.prev
    }
}

/// Reads the integers of samples `a..b` (no exception among them); with
/// `STORE` their values go to `vals[i - lo]`, without it they only advance
/// the state (the part of a block before a query's window). Varints are
/// taken from 8-byte loads: eight one-byte ones (small deltas) at once,
/// else every varint that ends inside the load, without a bounds check per byte.
#[inline(always)]
fn dec_run<const STORE: bool>(
    r: &mut ByteReader,
    st: &mut DecState,
    a: usize,
    b: usize,
    lo: usize,
    k: u32,
    vals: &mut [Sample],
) -> Result<(), CodecError> {
    let mut i = a;
    while i < b {
        if let Some(w) = r.bytes.get(r.pos..r.pos + 8).and_then(|s| <[u8; 8]>::try_from(s).ok()) {
            let w = u64::from_le_bytes(w);
            let stops = !w & 0x8080_8080_8080_8080;
            if stops == 0x8080_8080_8080_8080 && b - i >= 8 {
                for j in 0..8 {
                    let u = (w >> (8 * j)) & 0x7f;
                    let v = st.step(((u >> 1) as i64) ^ -((u & 1) as i64));
                    if STORE {
                        vals[i + j - lo].v = dec_value(v, k);
                    }
                }
                r.pos += 8;
                i += 8;
                continue;
            }
            if stops != 0 {
                // Every varint that ends inside the load (mixed one- and
                // two-byte ones are common), without loading again.
                let mut stops = stops;
                let mut used = 0u32;
                while stops != 0 && i < b {
                    let end = (stops.trailing_zeros() / 8 + 1) * 8;
                    let c = (w >> used) & (u64::MAX >> (64 - (end - used)));
                    let u = gather7(c);
                    used = end;
                    stops &= stops - 1;
                    let v = st.step(((u >> 1) as i64) ^ -((u & 1) as i64));
                    if STORE {
                        vals[i - lo].v = dec_value(v, k);
                    }
                    i += 1;
                }
                r.pos += (used / 8) as usize;
                continue;
            }
        }
        let v = st.step(r.svarint()?);
        if STORE {
            vals[i - lo].v = dec_value(v, k);
        }
        i += 1;
    }
    Ok(())
}

/// The value of a varint's bytes (at most 8, little-endian in `c`, the rest
/// zero): their low 7 bits side by side.
#[inline(always)]
fn gather7(c: u64) -> u64 {
    (c & 0x7f)
        | ((c >> 1) & (0x7f << 7))
        | ((c >> 2) & (0x7f << 14))
        | ((c >> 3) & (0x7f << 21))
        | ((c >> 4) & (0x7f << 28))
        | ((c >> 5) & (0x7f << 35))
        | ((c >> 6) & (0x7f << 42))
        | ((c >> 7) & (0x7f << 49))
}

/// [`dec_run`] for [`V_DEC_ULP`]: two varints per value, n's and c's deltas.
#[inline(always)]
fn ulp_run<const STORE: bool>(
    r: &mut ByteReader,
    st: &mut DecState,
    a: usize,
    b: usize,
    lo: usize,
    k: u32,
    vals: &mut [Sample],
) -> Result<(), CodecError> {
    for i in a..b {
        st.prev = st.prev.wrapping_add(r.svarint()?);
        st.prev_delta = st.prev_delta.wrapping_add(r.svarint()?);
        if STORE {
            let base = dec_value(st.prev, k).to_bits() as i64;
            vals[i - lo].v = f64::from_bits(base.wrapping_add(st.prev_delta) as u64);
        }
    }
    Ok(())
}

/// Decodes a Gorilla chunk's samples in `[mint, maxt]`, stopping at the first one past `maxt`.
fn decode_gorilla(body: &[u8], mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Result<(), CodecError> {
    let mut br = ByteReader::new(body);
    let count = br.uvarint()?;
    let bits = br.rest();
    if count > bits.len() as u64 * 8 {
        return Err(CodecError::Corrupt("count larger than the chunk can hold"));
    }
    let mut r = BitReader::new(bits);
    let mut xor = XorState::default();
    let (mut t, mut delta) = (0i64, 0i64);
    for i in 0..count {
        let v = if i == 0 {
            t = r.read_bits(64)? as i64;
            let v = r.read_bits(64)?;
            xor.prev = v;
            v
        } else {
            delta = delta.wrapping_add(read_dod(&mut r)?);
            t = t.wrapping_add(delta);
            xor.read(&mut r)?
        };
        if t > maxt {
            break;
        }
        if t >= mint {
            out.push(Sample { t, v: f64::from_bits(v) });
        }
    }
    Ok(())
}

/// Decodes any blob, appending its samples to `out`.
pub fn decode(blob: &[u8], out: &mut Vec<Sample>) -> Result<(), CodecError> {
    decode_range(blob, i64::MIN, i64::MAX, out)
}

/// Decodes the samples of `blob` within `[mint, maxt]` (a seek into the
/// chunk), appending them to `out`. Samples past `maxt` are not decoded.
pub fn decode_range(blob: &[u8], mint: i64, maxt: i64, out: &mut Vec<Sample>) -> Result<(), CodecError> {
    decode_with(blob, mint, maxt, out, Seek::None)
}

/// [`decode_range`] resuming from `index` (learned from the same blob) when
/// given; otherwise returns the seek points noted on the way when the block
/// has any (decimal value codecs), for the caller to keep.
pub fn decode_range_indexed(
    blob: &[u8],
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
    index: Option<&SeekIndex>,
) -> Result<Option<SeekIndex>, CodecError> {
    if let Some(ix) = index {
        decode_with(blob, mint, maxt, out, Seek::Use(ix))?;
        return Ok(None);
    }
    let mut ix = SeekIndex::default();
    decode_with(blob, mint, maxt, out, Seek::Learn(&mut ix))?;
    Ok((!ix.points.is_empty()).then_some(ix))
}

/// Most seek-point bytes kept by [`decode_range_cached`] (all of them are
/// dropped when it is full: ~0.5 KB per day block, so 32 MB covers ~60 000).
const SEEK_CACHE_BYTES: usize = 32 << 20;

/// Seek indexes of blocks read before, by content (a 128-bit hash of all of
/// it and of the caller's name for it): a block rewritten by compaction simply misses.
type SeekCache = std::collections::HashMap<u128, std::sync::Arc<SeekIndex>>;

static SEEK_CACHE: std::sync::LazyLock<std::sync::Mutex<(SeekCache, usize)>> =
    std::sync::LazyLock::new(|| std::sync::Mutex::new((SeekCache::new(), 0)));

/// A block's cache key: every byte counts (a sampled hash could give two
/// blocks one key and a read the wrong seek points); hashing is cheap next
/// to decoding. `salt` is the caller's name for the block (series, start).
fn content_key(b: &[u8], salt: u64) -> u128 {
    xxhash_rust::xxh3::xxh3_128_with_seed(b, salt)
}

/// [`decode_range`] for blocks read again and again (dashboards): the
/// first read of a block notes its seek points in a process-wide cache
/// (bounded by [`SEEK_CACHE_BYTES`]), later reads of the same bytes start
/// from the last point before `mint` instead of the block's first sample.
pub fn decode_range_cached(
    blob: &[u8],
    salt: u64,
    mint: i64,
    maxt: i64,
    out: &mut Vec<Sample>,
) -> Result<(), CodecError> {
    // Only decimal and XOR blocks have points; small ones are not worth a lookup.
    if blob.first() != Some(&TAG_BLOCK) || blob.len() < 256 {
        return decode_range(blob, mint, maxt, out);
    }
    let key = content_key(blob, salt);
    let known = SEEK_CACHE.lock().unwrap_or_else(|e| e.into_inner()).0.get(&key).cloned();
    if let Some(ix) = known {
        return decode_range_indexed(blob, mint, maxt, out, Some(&ix)).map(|_| ());
    }
    if let Some(ix) = decode_range_indexed(blob, mint, maxt, out, None)? {
        let mut cache = SEEK_CACHE.lock().unwrap_or_else(|e| e.into_inner());
        let bytes = ix.heap_bytes() + 64;
        if cache.1 + bytes > SEEK_CACHE_BYTES {
            cache.0.clear();
            cache.1 = 0;
        }
        // A partial index (the read stopped early) is replaced by a longer one later.
        let longer = cache.0.get(&key).is_none_or(|old| old.points.len() < ix.points.len());
        if longer {
            cache.1 += bytes;
            cache.0.insert(key, std::sync::Arc::new(ix));
        }
    }
    Ok(())
}

fn decode_with(blob: &[u8], mint: i64, maxt: i64, out: &mut Vec<Sample>, seek: Seek) -> Result<(), CodecError> {
    if mint > maxt {
        return Ok(());
    }
    match blob.first() {
        Some(&TAG_GORILLA) => decode_gorilla(&blob[1..], mint, maxt, out),
        Some(&TAG_BLOCK) => decode_block(&blob[1..], mint, maxt, out, seek),
        Some(&other) => Err(CodecError::Unknown(other)),
        None => Err(CodecError::Truncated),
    }
}

/// A short name of the block's codecs, e.g. `regular+dec-dod+zstd`, for measurements.
pub fn describe(blob: &[u8]) -> String {
    match blob {
        [TAG_GORILLA, ..] => "gorilla".into(),
        [TAG_BLOCK, flags, ..] => {
            let ts = if flags & 3 == TS_REGULAR { "regular" } else { "dod" };
            let v = match (flags >> 2) & 7 {
                V_CONST => "const",
                V_CONST_DELTA => "const-delta",
                V_DEC_DOD => "dec-dod",
                V_DEC_DELTA => "dec-delta",
                V_DEC_ULP => "dec-ulp",
                _ => "xor",
            };
            format!("{ts}+{v}{}", if flags & FLAG_ZSTD != 0 { "+zstd" } else { "" })
        }
        _ => "unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::STALE_NAN;

    fn same(a: &[Sample], b: &[Sample]) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.t == y.t && x.v.to_bits() == y.v.to_bits())
    }

    fn regular(n: usize, mut f: impl FnMut(usize) -> f64) -> Vec<Sample> {
        (0..n).map(|i| Sample { t: 1_700_000_000_000 + i as i64 * 15_000, v: f(i) }).collect()
    }

    fn specials() -> Vec<Sample> {
        let vals = [1.0, f64::NAN, STALE_NAN, -0.0, 0.0, f64::INFINITY, f64::NEG_INFINITY, 1e300, -1e-300, 3.25];
        vals.iter().enumerate().map(|(i, &v)| Sample { t: i as i64 * 1000 - 5000, v }).collect()
    }

    fn all_encodings(s: &[Sample]) -> Vec<Vec<u8>> {
        vec![encode_gorilla(s), encode_block(s), encode_block_level(s, 0)]
    }

    fn roundtrip(s: &[Sample]) {
        for blob in all_encodings(s) {
            let mut out = Vec::new();
            decode(&blob, &mut out).unwrap();
            assert!(same(&out, s), "{} lost bits", describe(&blob));
        }
    }

    #[test]
    fn special_values_roundtrip_bit_exact_in_every_codec() {
        roundtrip(&specials());
        // Specials embedded in otherwise decimal data go to exceptions.
        let mut s = regular(200, |i| i as f64 * 2.0);
        s[50].v = STALE_NAN;
        s[51].v = -0.0;
        s[52].v = f64::INFINITY;
        roundtrip(&s);
        let blob = encode_block_level(&s, 0);
        assert!(describe(&blob).contains("dec"), "{}", describe(&blob));
    }

    #[test]
    fn float_counters_with_many_decimals_are_decimals() {
        // A CPU-seconds counter summed in binary floats: 7734.21000000004, ...
        // needs 11 decimals; it is stored as integers, and reads back bit-exact.
        let steps: Vec<f64> = (0..500)
            .scan(7734.0, |acc, i| {
                *acc += 0.01 * (i % 7) as f64 + 0.03;
                Some(*acc)
            })
            .collect();
        let s = regular(500, |i| steps[i]);
        assert!(s.iter().any(|x| format!("{}", x.v).len() > 12), "the data has long decimals");
        let blob = encode_block_level(&s, 0);
        assert!(describe(&blob).contains("dec"), "{}", describe(&blob));
        roundtrip(&s);
        // Past 12 decimals, or past 2^53, values stay exceptions or XOR: still exact.
        roundtrip(&regular(100, |i| 1e-13 * i as f64 + 0.1));
        roundtrip(&regular(100, |i| 9.1e15 + i as f64));
    }

    /// A CPU-seconds counter summed in binary from 9500 s on, 0.01 s at a
    /// time: past 2^53 at 12 decimals, so not a decimal, but always within a
    /// few ulps of one.
    fn float_sum(n: usize) -> Vec<Sample> {
        let mut v = 9500.0f64;
        regular(n, |i| {
            for _ in 0..(i * 7919 % 13) {
                v += 0.01;
            }
            v
        })
    }

    #[test]
    fn float_sums_are_decimals_plus_ulps() {
        let s = float_sum(2000);
        assert!(s.iter().filter(|x| as_decimal(x.v, MAX_SCALE).is_none()).count() > 1500, "not decimals");
        for blob in [encode_block_level(&s, 0), encode_block(&s)] {
            assert!(describe(&blob).contains("dec-ulp"), "{}", describe(&blob));
            let mut out = Vec::new();
            decode(&blob, &mut out).unwrap();
            assert!(same(&out, &s));
        }
        // Two bytes per value for n's delta and one for the ulps' before zstd; XOR needed ~6.
        assert!(encode_block_level(&s, 0).len() < 3 * s.len(), "{}", encode_block_level(&s, 0).len());
        // Specials and values far from any decimal are exceptions, still bit-exact.
        let mut s = float_sum(300);
        s[3].v = f64::NAN;
        s[4].v = STALE_NAN;
        s[100].v = f64::INFINITY;
        s[101].v = -0.0;
        s[299].v = 1e300;
        roundtrip(&s);
    }

    #[test]
    fn each_value_codec_is_chosen_where_it_wins() {
        let cases: Vec<(Vec<Sample>, &str)> = vec![
            (regular(300, |_| 1.0), "regular+const"),
            (regular(300, |i| 10.0 + i as f64 * 0.5), "regular+const-delta"),
            (regular(300, |i| (i * i % 97) as f64 + 1000.0), "regular+dec-delta"),
            // Floats that repeat: one XOR bit per repeat.
            (regular(300, |i| ((i / 10) as f64 * 0.37).sin()), "regular+xor"),
            (float_sum(300), "regular+dec-ulp"),
        ];
        for (s, want) in cases {
            let blob = encode_block_level(&s, 0);
            assert_eq!(describe(&blob), want);
            roundtrip(&s);
        }
        // Counter growing by a steady-ish rate with decimals: dod wins.
        let s = regular(300, |i| ((i as f64 * 1234.5).floor() * 100.0).round() / 100.0 + 0.25);
        roundtrip(&s);
        // Irregular timestamps fall back to delta-of-delta.
        let mut s = regular(50, |i| i as f64);
        s[10].t += 3;
        assert!(describe(&encode_block_level(&s, 0)).starts_with("dod+"));
        roundtrip(&s);
    }

    #[test]
    fn timestamps_with_extreme_deltas_roundtrip() {
        let ts = [i64::MIN / 4, -1, 0, 1, 8191, 8192 + 70_000, 1 << 40, (1 << 40) + 1, i64::MAX / 4];
        let s: Vec<Sample> = ts.iter().map(|&t| Sample { t, v: t as f64 }).collect();
        roundtrip(&s);
        roundtrip(&s[..1]);
        roundtrip(&[]);
    }

    #[test]
    fn seek_returns_exactly_the_inclusive_range() {
        let mut s = regular(500, |i| (i % 7) as f64);
        s[100].v = STALE_NAN;
        let jittered: Vec<Sample> =
            s.iter().enumerate().map(|(i, x)| Sample { t: x.t + (i as i64 * 7919 % 13), v: x.v }).collect();
        for data in [&s, &jittered] {
            for blob in all_encodings(data) {
                for (lo, hi) in [(0, 499), (10, 10), (99, 101), (0, 0), (499, 499), (250, 260)] {
                    let mut out = Vec::new();
                    decode_range(&blob, data[lo].t, data[hi].t, &mut out).unwrap();
                    assert!(same(&out, &data[lo..=hi]), "{} [{lo},{hi}]", describe(&blob));
                    // Bounds between samples select nothing extra.
                    let mut out = Vec::new();
                    decode_range(&blob, data[lo].t + 1, data[hi].t - 1, &mut out).unwrap();
                    assert_eq!(out.len(), hi.saturating_sub(lo).saturating_sub(1));
                }
                let mut out = vec![Sample { t: -1, v: 9.0 }];
                decode_range(&blob, data[499].t + 1, i64::MAX, &mut out).unwrap();
                assert_eq!(out.len(), 1, "seek past the end keeps what was there");
            }
        }
    }

    #[test]
    fn range_decoding_matches_the_samples_for_every_codec_and_window() {
        let mut dec_exc = regular(40, |i| (i * 3) as f64 + 0.5);
        dec_exc[0].v = f64::NAN;
        dec_exc[7].v = STALE_NAN;
        dec_exc[8].v = -0.0;
        dec_exc[39].v = f64::INFINITY;
        let cases: Vec<Vec<Sample>> = vec![
            regular(40, |_| 2.5),
            regular(40, |i| 10.0 + i as f64 * 0.1),
            regular(40, |i| (i * i % 17) as f64 * 100.0),
            regular(40, |i| (i as f64 * 1.5).floor()),
            dec_exc,
            regular(40, |i| (i as f64 * 0.37).sin()),
            float_sum(40),
        ];
        for s in cases {
            let jittered: Vec<Sample> =
                s.iter().enumerate().map(|(i, x)| Sample { t: x.t + (i as i64 * 31 % 7), v: x.v }).collect();
            for data in [s.clone(), jittered] {
                for blob in all_encodings(&data) {
                    for lo in 0..data.len() {
                        for hi in lo..data.len() {
                            let mut out = vec![Sample { t: 0, v: 1.0 }];
                            decode_range(&blob, data[lo].t, data[hi].t, &mut out).unwrap();
                            assert!(same(&out[1..], &data[lo..=hi]), "{} [{lo},{hi}]", describe(&blob));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn long_decimal_runs_decode_in_any_window() {
        // Runs of one-byte varints (read eight at a time) broken by multi-byte
        // ones and by exceptions, in both decimal codecs.
        let mut counter = regular(700, |i| ((i * 3 + (i / 50) * 1000 + (i * i) % 5) as f64) / 100.0);
        counter[123].v = f64::NAN;
        counter[124].v = STALE_NAN;
        counter[400].v = -0.0;
        let wobble = regular(700, |i| ((i % 9) as f64 - 4.0) * if i % 100 == 0 { 1e6 } else { 1.0 });
        for data in [counter, wobble] {
            let blob = encode_block_level(&data, 0);
            assert!(describe(&blob).contains("dec"), "{}", describe(&blob));
            for blob in [blob, encode_block(&data)] {
                for lo in (0..data.len()).step_by(37) {
                    for hi in (lo..data.len()).step_by(29) {
                        let mut out = Vec::new();
                        decode_range(&blob, data[lo].t, data[hi].t, &mut out).unwrap();
                        assert!(same(&out, &data[lo..=hi]), "{} [{lo},{hi}]", describe(&blob));
                    }
                }
            }
        }
    }

    #[test]
    fn seek_index_reads_equal_plain_reads() {
        let mut counter = regular(3000, |i| ((i * 7 + (i / 300) * 100_000 + (i * i) % 11) as f64) / 10.0);
        for j in [5, 511, 512, 513, 1024, 1500, 2999] {
            counter[j].v = if j % 2 == 0 { STALE_NAN } else { f64::NAN };
        }
        let gauge = regular(3000, |i| ((i % 13) as f64 - 6.0) * 4096.0);
        let mut floats = regular(3000, |i| (i as f64 * 0.37).sin() * if i % 700 < 300 { 1.0 } else { 1e-3 });
        floats[1024].v = STALE_NAN;
        floats[1536].v = f64::NAN;
        let mut float_sum = float_sum(3000);
        float_sum[700].v = STALE_NAN;
        for data in [counter, gauge, floats, float_sum] {
            for blob in [encode_block_level(&data, 0), encode_block(&data)] {
                assert!(describe(&blob).contains("dec") || describe(&blob).contains("xor"), "{}", describe(&blob));
                // Learned on a full read, and on a read that stops early.
                let mut out = Vec::new();
                let full = decode_range_indexed(&blob, i64::MIN, i64::MAX, &mut out, None).unwrap().unwrap();
                assert!(same(&out, &data));
                assert!(full.points.len() >= 5);
                let part =
                    decode_range_indexed(&blob, data[0].t, data[1100].t, &mut Vec::new(), None).unwrap().unwrap();
                assert!(part.points.len() < full.points.len());
                for ix in [&full, &part] {
                    for (lo, hi) in
                        [(0, 10), (511, 513), (512, 2999), (1023, 1025), (1600, 2400), (2998, 2999), (700, 700)]
                    {
                        let mut out = Vec::new();
                        assert_eq!(decode_range_indexed(&blob, data[lo].t, data[hi].t, &mut out, Some(ix)), Ok(None));
                        assert!(same(&out, &data[lo..=hi]), "{} [{lo},{hi}]", describe(&blob));
                    }
                }
                // An index from another block is refused or harmless, never a panic or a hang.
                let other = encode_block(&regular(3000, |i| (i * 3) as f64));
                let mut out = Vec::new();
                let _ = decode_range_indexed(&other, data[2000].t, data[2999].t, &mut out, Some(&full));
            }
        }
    }

    #[test]
    fn cached_reads_learn_the_index_once_and_answer_the_same() {
        // Irregular enough that the block stays above the size worth indexing.
        let data = regular(4000, |i| (((i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) % 100_000) as f64 / 100.0);
        let blob = encode_block(&data);
        let key = content_key(&blob, 42);
        let mut out = Vec::new();
        decode_range_cached(&blob, 42, data[100].t, data[3999].t, &mut out).unwrap();
        assert!(same(&out, &data[100..]));
        let noted = SEEK_CACHE.lock().unwrap().0.get(&key).map(|ix| ix.points.len());
        assert!(noted.is_some_and(|n| n >= 7), "index noted: {noted:?}");
        for (lo, hi) in [(3000, 3999), (2047, 2049), (0, 5)] {
            let mut out = Vec::new();
            decode_range_cached(&blob, 42, data[lo].t, data[hi].t, &mut out).unwrap();
            assert!(same(&out, &data[lo..=hi]), "[{lo},{hi}]");
        }
        // A different block with the same length, or another series' block, is a different key.
        let mut other = blob.clone();
        let last = other.len() - 1;
        other[last] ^= 1;
        assert_ne!(content_key(&other, 42), key);
        assert_ne!(content_key(&blob, 43), key);
    }

    #[test]
    fn block_timestamps_out_of_order_are_an_error_in_a_range_read() {
        // A dod block whose third timestamp steps back: inside a window it is reported, not misread.
        let s = vec![
            Sample { t: 1000, v: 1.0 },
            Sample { t: 2000, v: 2.0 },
            Sample { t: 1500, v: 3.0 },
            Sample { t: 3000, v: 4.0 },
        ];
        let blob = encode_block_level(&s, 0);
        assert!(describe(&blob).starts_with("dod+"));
        assert_eq!(
            decode_range(&blob, 1000, 1800, &mut Vec::new()),
            Err(CodecError::Corrupt("timestamps out of order"))
        );
    }

    #[test]
    fn bit_reader_word_loads_match_bit_by_bit_reads() {
        let bytes: Vec<u8> = (0..40u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        for start in 0..80usize {
            for n in 1..=64u8 {
                let mut fast = BitReader { bytes: &bytes, pos: start };
                let mut slow = BitReader { bytes: &bytes, pos: start };
                let mut want = 0u64;
                let mut ok = true;
                for _ in 0..n {
                    match slow.read_bit() {
                        Ok(b) => want = (want << 1) | b as u64,
                        Err(_) => ok = false,
                    }
                }
                match fast.read_bits(n) {
                    Ok(got) => {
                        assert!(ok, "read past the end at {start}+{n}");
                        assert_eq!(got, want, "bits {start}..{}", start + n as usize);
                        assert_eq!(fast.pos, start + n as usize);
                    }
                    Err(e) => assert!(!ok, "{e:?} at {start}+{n}"),
                }
            }
        }
        // Near the end the byte-wise path reports truncation.
        let mut r = BitReader { bytes: &bytes[..3], pos: 20 };
        assert_eq!(r.read_bits(8), Err(CodecError::Truncated));
    }

    #[test]
    fn gorilla_appender_matches_batch_encoding() {
        let s = regular(100, |i| i as f64 * 1.1);
        let mut a = GorillaAppender::default();
        for x in &s {
            a.append(x.t, x.v);
        }
        assert_eq!(a.to_blob(), encode_gorilla(&s));
        assert_eq!(a.count(), 100);
    }

    #[test]
    fn head_chunk_writes_the_batch_encoding_from_any_capacity() {
        let mut samples = specials();
        samples.extend(regular(300, |i| (i as f64).sqrt()));
        let last = samples.last().map_or(0, |s| s.t);
        samples.extend([i64::MAX / 2, i64::MAX - 1, i64::MAX].iter().map(|&t| Sample { t: t.max(last + 1), v: 1.5 }));
        samples.dedup_by_key(|s| s.t);
        for cap in [0, 1, 16, 5000] {
            let mut c = HeadChunk::with_capacity(cap);
            assert_eq!(c.first_t(), None);
            let (mut lt, mut lb) = (0, 0);
            for s in &samples {
                c.append(lt, lb, s.t, s.v);
                (lt, lb) = (s.t, s.v.to_bits());
            }
            assert_eq!(c.to_blob(), encode_gorilla(&samples), "capacity {cap}");
            assert_eq!(c.first_t(), Some(samples[0].t));
            assert_eq!(c.count() as usize, samples.len());
            assert!(c.heap_bytes() >= c.len_bytes() && !c.is_full());
        }
        assert_eq!(std::mem::size_of::<HeadChunk>(), 40);
        // Buffers grow by about a quarter, in sizes malloc has no slack for.
        let mut c = HeadChunk::with_capacity(16);
        let mut sizes = vec![c.heap_bytes()];
        for i in 0..200 {
            c.append(i, 0, i + 1, i as f64 * 0.1);
            if c.heap_bytes() != *sizes.last().unwrap() {
                sizes.push(c.heap_bytes());
            }
        }
        assert_eq!(sizes[..6], [24, 40, 56, 72, 104, 136]);
        assert!(sizes.windows(2).all(|w| w[1] >= w[0] + 16 && w[1] <= w[0] + w[0] / 4 + 32), "{sizes:?}");
        assert!(sizes.iter().all(|s| s % 16 == 8));
    }

    #[test]
    fn corrupt_blobs_error_instead_of_panicking() {
        let s = regular(300, |i| (i as f64 * 0.37).sin());
        for blob in all_encodings(&s) {
            for cut in [0, 1, 2, 5, blob.len() / 2, blob.len() - 1] {
                let mut out = Vec::new();
                let _ = decode(&blob[..cut], &mut out); // must not panic
            }
            let mut flipped = blob.clone();
            for i in 0..flipped.len() {
                flipped[i] ^= 0x5a;
                let _ = decode(&flipped, &mut Vec::new());
                flipped[i] ^= 0x5a;
            }
        }
        assert_eq!(decode(&[7, 1, 2], &mut Vec::new()), Err(CodecError::Unknown(7)));
        assert_eq!(decode(&[], &mut Vec::new()), Err(CodecError::Truncated));
    }
}
