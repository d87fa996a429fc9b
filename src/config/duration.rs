//! Prometheus durations (`1h30m`) and byte sizes (`100MB`).

use std::time::Duration;

/// Units in the order Prometheus requires them, with their length in ms.
const UNITS: [(&str, u64); 7] = [
    ("y", 365 * 24 * 3600 * 1000),
    ("w", 7 * 24 * 3600 * 1000),
    ("d", 24 * 3600 * 1000),
    ("h", 3600 * 1000),
    ("m", 60 * 1000),
    ("s", 1000),
    ("ms", 1),
];

/// Parses a Prometheus duration: units `y w d h m s ms`, each at most once and
/// in that order (`1h30m`, `90s`, `1d`), or `0`. Years are 365 days.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let invalid = || format!("not a valid duration string: {s:?}");
    match s {
        "" => return Err("empty duration string".to_string()),
        "0" => return Ok(Duration::ZERO),
        _ => {}
    }
    let bytes = s.as_bytes();
    let mut pos = 0;
    let mut next_unit = 0; // index into UNITS of the smallest unit still allowed
    let mut total: u64 = 0;
    while pos < bytes.len() {
        let digits = bytes[pos..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err(invalid());
        }
        let n: u64 = s[pos..pos + digits].parse().map_err(|_| invalid())?;
        pos += digits;
        let letters = bytes[pos..].iter().take_while(|b| b.is_ascii_alphabetic()).count();
        let unit = &s[pos..pos + letters];
        pos += letters;
        let idx = UNITS[next_unit..].iter().position(|(u, _)| *u == unit).map(|i| i + next_unit).ok_or_else(invalid)?;
        next_unit = idx + 1;
        total = n
            .checked_mul(UNITS[idx].1)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("duration {s:?} is too large"))?;
    }
    // Prometheus stores durations as int64 nanoseconds.
    if total > (i64::MAX as u64) / 1_000_000 {
        return Err(format!("duration {s:?} is too large"));
    }
    Ok(Duration::from_millis(total))
}

/// Formats a duration the way Prometheus prints it (`1h30m`, `15s`, `0s`).
pub fn format_duration(d: Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    for (unit, len) in UNITS {
        // Prometheus only uses weeks and years when they divide exactly.
        if (unit == "y" || unit == "w") && !ms.is_multiple_of(len) {
            continue;
        }
        if ms >= len {
            out.push_str(&format!("{}{unit}", ms / len));
            ms %= len;
        }
    }
    out
}

/// Parses a byte size with a unit: `512MB`, `1GiB`, `100KB`, `10B`, or `0`.
/// Like Prometheus, `KB`, `MB`, ... are powers of 1024 and a unit is required.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    if t == "0" {
        return Ok(0);
    }
    let digits = t.bytes().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 {
        return Err(format!("not a valid size: {s:?} (expected a number with a unit such as 100MB)"));
    }
    let n: u64 = t[..digits].parse().map_err(|_| format!("size {s:?} is too large"))?;
    let shift = match t[digits..].trim() {
        "" => return Err(format!("size {s:?} has no unit (use B, KB, MB, GB, TB, PB or EB, e.g. 100MB)")),
        "B" => 0,
        "KB" | "KiB" | "K" => 10,
        "MB" | "MiB" | "M" => 20,
        "GB" | "GiB" | "G" => 30,
        "TB" | "TiB" | "T" => 40,
        "PB" | "PiB" | "P" => 50,
        "EB" | "EiB" | "E" => 60,
        other => return Err(format!("unknown size unit {other:?} in {s:?} (use B, KB, MB, GB, TB, PB or EB)")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size {s:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_durations() {
        let cases: &[(&str, u64)] = &[
            ("0", 0),
            ("0s", 0),
            ("324ms", 324),
            ("3s", 3_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("4d", 4 * 86_400_000),
            ("4d1h", 4 * 86_400_000 + 3_600_000),
            ("14d", 14 * 86_400_000),
            ("3w", 21 * 86_400_000),
            ("3w2d1h", 23 * 86_400_000 + 3_600_000),
            ("10y", 3650 * 86_400_000),
            ("1y2w3d4h5m6s7ms", (365 + 14 + 3) * 86_400_000 + 4 * 3_600_000 + 5 * 60_000 + 6_000 + 7),
            ("1h30m", 5_400_000),
        ];
        for (s, ms) in cases {
            assert_eq!(parse_duration(s), Ok(Duration::from_millis(*ms)), "{s}");
        }
    }

    #[test]
    fn invalid_durations() {
        for s in ["", "1", "1.5m", "-1s", "1m1h", "1s1s", "3ms1s", "5x", "m", "1 m", " 1m", "1mm", "1h-2m"] {
            assert!(parse_duration(s).is_err(), "{s:?} should be rejected");
        }
        assert_eq!(parse_duration("5x"), Err("not a valid duration string: \"5x\"".to_string()));
        assert_eq!(parse_duration(""), Err("empty duration string".to_string()));
        assert!(parse_duration("99999999999y").is_err());
    }

    #[test]
    fn format_round_trips() {
        for s in ["15s", "1m", "1h30m", "2w", "1d", "500ms", "1y"] {
            let d = parse_duration(s).expect(s);
            assert_eq!(format_duration(d), s);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(8 * 86_400)), "8d");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("512B"), Ok(512));
        assert_eq!(parse_size("100KB"), Ok(100 * 1024));
        assert_eq!(parse_size("10MB"), Ok(10 << 20));
        assert_eq!(parse_size("1GiB"), Ok(1 << 30));
        assert!(parse_size("MB").is_err());
        assert!(parse_size("100").is_err(), "a unit is required, as in Prometheus");
        assert!(parse_size("10XB").is_err());
        assert!(parse_size("100000EB").is_err());
    }
}
