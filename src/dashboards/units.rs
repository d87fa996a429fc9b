//! Display units, named by Grafana's unit ids (`bytes`, `Bps`, `s`, `percent`,
//! ...), and the humanised number formatting Grafana shows for them
//! (`1.5 KiB`, `2.3 MB/s`, `12 ms`, `3.4 h`, `95.2%`, `1.2 K`).

use std::fmt;

/// A panel's unit: how its numbers are scaled and suffixed for display.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum Unit {
    /// `none`: the number as it is.
    None,
    /// `short`: thousands shortened to K, Mil, Bil, Tri (Grafana's default).
    #[default]
    Short,
    /// `percent`: the value is already 0–100.
    Percent,
    /// `percentunit`: the value is 0–1, shown as 0–100 %.
    PercentUnit,
    /// `bytes`: IEC (1024) steps: B, KiB, MiB, ...
    Bytes,
    /// `decbytes`: SI (1000) steps: B, kB, MB, ...
    DecBytes,
    /// `kbytes`: the value is in KiB.
    KBytes,
    /// `mbytes`: the value is in MiB.
    MBytes,
    /// `gbytes`: the value is in GiB.
    GBytes,
    /// `bits`: IEC steps: b, Kib, Mib, ...
    Bits,
    /// `decbits`: SI steps: b, kb, Mb, ...
    DecBits,
    /// `Bps`: bytes per second, SI steps (kB/s, MB/s).
    BytesPerSec,
    /// `binBps`: bytes per second, IEC steps (KiB/s, MiB/s).
    BinBytesPerSec,
    /// `bps`: bits per second, SI steps (kb/s, Mb/s).
    BitsPerSec,
    /// `binbps`: bits per second, IEC steps (Kib/s, Mib/s).
    BinBitsPerSec,
    /// `ns`: nanoseconds.
    Nanoseconds,
    /// `µs` (or `us`): microseconds.
    Microseconds,
    /// `ms`: milliseconds.
    Milliseconds,
    /// `s`: seconds.
    Seconds,
    /// `m`: minutes.
    Minutes,
    /// `h`: hours.
    Hours,
    /// `d`: days.
    Days,
    /// `ops`: operations per second.
    Ops,
    /// `reqps`: requests per second.
    ReqPerSec,
    /// `rps`: reads per second.
    ReadsPerSec,
    /// `wps`: writes per second.
    WritesPerSec,
    /// `iops`: I/O operations per second.
    Iops,
    /// `pps`: packets per second.
    PacketsPerSec,
    /// `cps`: counts per second.
    CountsPerSec,
    /// `hertz`: Hz, kHz, MHz, ...
    Hertz,
    /// `celsius`: °C.
    Celsius,
    /// `fahrenheit`: °F.
    Fahrenheit,
    /// `volt`: V, kV, ...
    Volt,
    /// `watt`: W, kW, ...
    Watt,
    /// `amp`: A, kA, ...
    Ampere,
    /// `prefix:<text>`: the text, then the number.
    Prefix(String),
    /// `suffix:<text>`: the number, then the text.
    Suffix(String),
}

/// A unit id that Sightline does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown unit {0:?}")]
pub struct UnknownUnit(pub String);

const SIMPLE_IDS: &[(&str, Unit)] = &[
    ("none", Unit::None),
    ("short", Unit::Short),
    ("percent", Unit::Percent),
    ("percentunit", Unit::PercentUnit),
    ("bytes", Unit::Bytes),
    ("decbytes", Unit::DecBytes),
    ("kbytes", Unit::KBytes),
    ("mbytes", Unit::MBytes),
    ("gbytes", Unit::GBytes),
    ("bits", Unit::Bits),
    ("decbits", Unit::DecBits),
    ("Bps", Unit::BytesPerSec),
    ("binBps", Unit::BinBytesPerSec),
    ("bps", Unit::BitsPerSec),
    ("binbps", Unit::BinBitsPerSec),
    ("ns", Unit::Nanoseconds),
    ("µs", Unit::Microseconds),
    ("us", Unit::Microseconds),
    ("ms", Unit::Milliseconds),
    ("s", Unit::Seconds),
    ("m", Unit::Minutes),
    ("h", Unit::Hours),
    ("d", Unit::Days),
    ("ops", Unit::Ops),
    ("reqps", Unit::ReqPerSec),
    ("rps", Unit::ReadsPerSec),
    ("wps", Unit::WritesPerSec),
    ("iops", Unit::Iops),
    ("pps", Unit::PacketsPerSec),
    ("cps", Unit::CountsPerSec),
    ("hertz", Unit::Hertz),
    ("celsius", Unit::Celsius),
    ("fahrenheit", Unit::Fahrenheit),
    ("volt", Unit::Volt),
    ("watt", Unit::Watt),
    ("amp", Unit::Ampere),
];

const SHORT: &[&str] = &["", " K", " Mil", " Bil", " Tri", " Quadr", " Quint", " Sext", " Sept"];
const IEC_BYTES: &[&str] = &[" B", " KiB", " MiB", " GiB", " TiB", " PiB", " EiB"];
const SI_BYTES: &[&str] = &[" B", " kB", " MB", " GB", " TB", " PB", " EB"];
const IEC_BITS: &[&str] = &[" b", " Kib", " Mib", " Gib", " Tib", " Pib", " Eib"];
const SI_BITS: &[&str] = &[" b", " kb", " Mb", " Gb", " Tb", " Pb", " Eb"];
const SI_BYTE_RATE: &[&str] = &[" B/s", " kB/s", " MB/s", " GB/s", " TB/s", " PB/s"];
const IEC_BYTE_RATE: &[&str] = &[" B/s", " KiB/s", " MiB/s", " GiB/s", " TiB/s", " PiB/s"];
const SI_BIT_RATE: &[&str] = &[" b/s", " kb/s", " Mb/s", " Gb/s", " Tb/s", " Pb/s"];
const IEC_BIT_RATE: &[&str] = &[" b/s", " Kib/s", " Mib/s", " Gib/s", " Tib/s", " Pib/s"];
const COUNT: &[&str] = &["", "K", "M", "B", "T"];

impl Unit {
    /// Parses a Grafana unit id (`bytes`, `Bps`, `percentunit`, `suffix:req`, ...).
    pub fn parse(id: &str) -> Result<Unit, UnknownUnit> {
        if let Some(p) = id.strip_prefix("prefix:") {
            return Ok(Unit::Prefix(p.to_string()));
        }
        if let Some(s) = id.strip_prefix("suffix:") {
            return Ok(Unit::Suffix(s.to_string()));
        }
        SIMPLE_IDS.iter().find(|(k, _)| *k == id).map(|(_, u)| u.clone()).ok_or_else(|| UnknownUnit(id.to_string()))
    }

    /// The Grafana id of this unit (the inverse of [`Unit::parse`]).
    pub fn id(&self) -> String {
        match self {
            Unit::Prefix(p) => format!("prefix:{p}"),
            Unit::Suffix(s) => format!("suffix:{s}"),
            other => SIMPLE_IDS.iter().find(|(_, u)| u == other).map(|(k, _)| k.to_string()).unwrap_or_default(),
        }
    }

    /// Humanises `v` in this unit: scaled to a readable magnitude, with `decimals`
    /// places when given, else about three significant digits with trailing zeros cut.
    pub fn format(&self, v: f64, decimals: Option<u32>) -> String {
        if v.is_nan() {
            return "NaN".to_string();
        }
        if v.is_infinite() {
            return if v > 0.0 { "+Inf".to_string() } else { "-Inf".to_string() };
        }
        match self {
            Unit::None => num(v, decimals),
            Unit::Short => scaled(v, 1000.0, SHORT, 0, decimals),
            Unit::Percent => format!("{}%", num(v, decimals)),
            Unit::PercentUnit => format!("{}%", num(v * 100.0, decimals)),
            Unit::Bytes => scaled(v, 1024.0, IEC_BYTES, 0, decimals),
            Unit::KBytes => scaled(v, 1024.0, IEC_BYTES, 1, decimals),
            Unit::MBytes => scaled(v, 1024.0, IEC_BYTES, 2, decimals),
            Unit::GBytes => scaled(v, 1024.0, IEC_BYTES, 3, decimals),
            Unit::DecBytes => scaled(v, 1000.0, SI_BYTES, 0, decimals),
            Unit::Bits => scaled(v, 1024.0, IEC_BITS, 0, decimals),
            Unit::DecBits => scaled(v, 1000.0, SI_BITS, 0, decimals),
            Unit::BytesPerSec => scaled(v, 1000.0, SI_BYTE_RATE, 0, decimals),
            Unit::BinBytesPerSec => scaled(v, 1024.0, IEC_BYTE_RATE, 0, decimals),
            Unit::BitsPerSec => scaled(v, 1000.0, SI_BIT_RATE, 0, decimals),
            Unit::BinBitsPerSec => scaled(v, 1024.0, IEC_BIT_RATE, 0, decimals),
            Unit::Nanoseconds => duration(v * 1e-9, " ns", decimals),
            Unit::Microseconds => duration(v * 1e-6, " µs", decimals),
            Unit::Milliseconds => duration(v * 1e-3, " ms", decimals),
            Unit::Seconds => duration(v, " s", decimals),
            Unit::Minutes => duration(v * 60.0, " min", decimals),
            Unit::Hours => duration(v * 3600.0, " h", decimals),
            Unit::Days => duration(v * 86400.0, " d", decimals),
            Unit::Ops => format!("{} ops", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::ReqPerSec => format!("{} req/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::ReadsPerSec => format!("{} rd/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::WritesPerSec => format!("{} wr/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::Iops => format!("{} io/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::PacketsPerSec => format!("{} p/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::CountsPerSec => format!("{} c/s", scaled(v, 1000.0, COUNT, 0, decimals)),
            Unit::Hertz => scaled(v, 1000.0, &[" Hz", " kHz", " MHz", " GHz", " THz"], 0, decimals),
            Unit::Celsius => format!("{}°C", num(v, decimals)),
            Unit::Fahrenheit => format!("{}°F", num(v, decimals)),
            Unit::Volt => scaled(v, 1000.0, &[" V", " kV", " MV", " GV"], 0, decimals),
            Unit::Watt => scaled(v, 1000.0, &[" W", " kW", " MW", " GW"], 0, decimals),
            Unit::Ampere => scaled(v, 1000.0, &[" A", " kA", " MA"], 0, decimals),
            Unit::Prefix(p) => format!("{p}{}", num(v, decimals)),
            Unit::Suffix(s) => format!("{}{s}", num(v, decimals)),
        }
    }

    /// Whether the unit scales in steps of 1024 (KiB, MiB), so axis ticks
    /// should be multiples of powers of 1024.
    pub fn is_binary(&self) -> bool {
        matches!(
            self,
            Unit::Bytes
                | Unit::KBytes
                | Unit::MBytes
                | Unit::GBytes
                | Unit::Bits
                | Unit::BinBytesPerSec
                | Unit::BinBitsPerSec
        )
    }

    /// Formats axis ticks so neighbouring labels differ: automatic precision first,
    /// then a fixed number of decimals, growing until the labels are distinct.
    pub fn format_ticks(&self, ticks: &[f64], decimals: Option<u32>) -> Vec<String> {
        let distinct = |labels: &[String]| labels.windows(2).all(|w| w[0] != w[1]);
        let labels: Vec<String> = ticks.iter().map(|&t| self.format(t, decimals)).collect();
        if decimals.is_some() || distinct(&labels) {
            return labels;
        }
        for d in 1..=6 {
            let labels: Vec<String> = ticks.iter().map(|&t| self.format(t, Some(d))).collect();
            if distinct(&labels) {
                return labels;
            }
        }
        labels
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

impl std::str::FromStr for Unit {
    type Err = UnknownUnit;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Unit::parse(s)
    }
}

impl<'de> serde::Deserialize<'de> for Unit {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Unit::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl serde::Serialize for Unit {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.id())
    }
}

/// A number with `decimals` places, or about three significant digits with
/// trailing zeros removed.
fn num(v: f64, decimals: Option<u32>) -> String {
    let out = match decimals {
        Some(d) => format!("{:.*}", d as usize, v),
        None => {
            if v == 0.0 {
                return "0".to_string();
            }
            // Beyond what the scaled units cover, exponent form stays short.
            if v.abs() >= 1e15 || v.abs() < 1e-9 {
                let s = format!("{v:.2e}");
                return match s.split_once('e') {
                    Some((m, e)) if m.contains('.') => {
                        format!("{}e{e}", m.trim_end_matches('0').trim_end_matches('.'))
                    }
                    _ => s,
                };
            }
            let mag = v.abs().log10().floor() as i32;
            let d = (2 - mag).clamp(0, 12) as usize;
            let s = format!("{v:.d$}");
            if s.contains('.') {
                s.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                s
            }
        }
    };
    // "-0" and "-0.0" read as noise.
    if out.starts_with('-') && out[1..].chars().all(|c| c == '0' || c == '.') {
        out[1..].to_string()
    } else {
        out
    }
}

/// Divides by `step` until the value fits the suffix table, starting at `start`.
fn scaled(v: f64, step: f64, suffixes: &[&str], start: usize, decimals: Option<u32>) -> String {
    let mut idx = start.min(suffixes.len() - 1);
    let mut x = v;
    while x.abs() >= step && idx + 1 < suffixes.len() {
        x /= step;
        idx += 1;
    }
    // Rounding can carry 1023.97 up to "1024": move to the next step instead.
    let rounded = num(x, decimals);
    if let Ok(r) = rounded.parse::<f64>() {
        if r.abs() >= step && idx + 1 < suffixes.len() {
            return format!("{}{}", num(x / step, decimals), suffixes[idx + 1]);
        }
    }
    format!("{rounded}{}", suffixes[idx])
}

/// A duration given in seconds, in the largest unit that keeps it above 1.
/// Zero keeps the panel's own unit (`0 ms` rather than `0 s`).
fn duration(secs: f64, zero_suffix: &str, decimals: Option<u32>) -> String {
    let a = secs.abs();
    if a == 0.0 {
        return format!("{}{zero_suffix}", num(0.0, decimals));
    }
    let (factor, suffix) = if a < 1e-6 {
        (1e9, " ns")
    } else if a < 1e-3 {
        (1e6, " µs")
    } else if a < 1.0 {
        (1e3, " ms")
    } else if a < 60.0 {
        (1.0, " s")
    } else if a < 3600.0 {
        (1.0 / 60.0, " min")
    } else if a < 86400.0 {
        (1.0 / 3600.0, " h")
    } else if a < 7.0 * 86400.0 {
        (1.0 / 86400.0, " d")
    } else if a < 365.0 * 86400.0 {
        (1.0 / (7.0 * 86400.0), " w")
    } else {
        (1.0 / (365.0 * 86400.0), " y")
    };
    format!("{}{suffix}", num(secs * factor, decimals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_unit_table() {
        let cases: &[(&str, f64, Option<u32>, &str)] = &[
            ("bytes", 1536.0, None, "1.5 KiB"),
            ("bytes", 512.0, None, "512 B"),
            ("bytes", 3.0 * 1024.0 * 1024.0 * 1024.0, None, "3 GiB"),
            ("bytes", 1023.99, None, "1 KiB"),
            ("decbytes", 1500.0, None, "1.5 kB"),
            ("kbytes", 2048.0, None, "2 MiB"),
            ("bits", 2048.0, None, "2 Kib"),
            ("Bps", 2_300_000.0, None, "2.3 MB/s"),
            ("binBps", 1536.0, None, "1.5 KiB/s"),
            ("bps", 1_000_000.0, None, "1 Mb/s"),
            ("s", 0.012, None, "12 ms"),
            ("s", 12_240.0, None, "3.4 h"),
            ("s", 90.0, None, "1.5 min"),
            ("s", 0.0, None, "0 s"),
            ("s", 3.0 * 86400.0, None, "3 d"),
            ("ms", 12.0, None, "12 ms"),
            ("ms", 1500.0, None, "1.5 s"),
            ("ms", 0.0, None, "0 ms"),
            ("µs", 250.0, None, "250 µs"),
            ("us", 2500.0, None, "2.5 ms"),
            ("ns", 5.0, None, "5 ns"),
            ("percent", 95.2, None, "95.2%"),
            ("percent", 95.24, Some(0), "95%"),
            ("percentunit", 0.952, None, "95.2%"),
            ("short", 1200.0, None, "1.2 K"),
            ("short", 2_500_000.0, None, "2.5 Mil"),
            ("short", 42.0, None, "42"),
            ("short", -1200.0, None, "-1.2 K"),
            ("none", 1234.6, None, "1235"),
            ("none", 0.00123, None, "0.00123"),
            ("none", 1.23456, Some(2), "1.23"),
            ("ops", 1200.0, None, "1.2K ops"),
            ("reqps", 5.0, None, "5 req/s"),
            ("hertz", 2_400_000_000.0, None, "2.4 GHz"),
            ("celsius", 21.5, None, "21.5°C"),
            ("suffix: req", 3.0, None, "3 req"),
            ("prefix:$", 3.5, Some(2), "$3.50"),
        ];
        for (id, v, d, want) in cases {
            let unit = Unit::parse(id).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(unit.format(*v, *d), *want, "unit {id} value {v} decimals {d:?}");
        }
    }

    #[test]
    fn special_values() {
        assert_eq!(Unit::Bytes.format(f64::NAN, None), "NaN");
        assert_eq!(Unit::Bytes.format(f64::INFINITY, None), "+Inf");
        assert_eq!(Unit::None.format(-0.0001, Some(2)), "0.00");
        assert_eq!(Unit::None.format(0.0, None), "0");
        assert_eq!(Unit::None.format(1.5e300, None), "1.5e300");
        assert_eq!(Unit::None.format(2e-12, None), "2e-12");
        assert_eq!(Unit::Seconds.format(1e-12, None), "0.001 ns");
    }

    #[test]
    fn parse_rejects_unknown_and_round_trips_ids() {
        assert_eq!(Unit::parse("bytez"), Err(UnknownUnit("bytez".into())));
        assert_eq!(Unit::parse("bytez").unwrap_err().to_string(), "unknown unit \"bytez\"");
        // Case matters: bps is bits, Bps is bytes.
        assert_eq!(Unit::parse("bps"), Ok(Unit::BitsPerSec));
        assert_eq!(Unit::parse("Bps"), Ok(Unit::BytesPerSec));
        for (id, unit) in SIMPLE_IDS {
            if *id != "us" {
                assert_eq!(unit.id(), *id);
            }
        }
    }

    #[test]
    fn ticks_are_made_distinct() {
        let labels = Unit::Short.format_ticks(&[1000.0, 1200.0, 1400.0], None);
        assert_eq!(labels, vec!["1 K", "1.2 K", "1.4 K"]);
        let labels = Unit::None.format_ticks(&[1.001, 1.002, 1.003], None);
        assert_eq!(labels, vec!["1.001", "1.002", "1.003"]);
    }
}
