//! Prometheus-style durations (`90s`, `1h30m`, `250ms`) as used in
//! dashboard files and in template variables such as `$__interval`.

const MS: i64 = 1;
const SECOND: i64 = 1000 * MS;
const MINUTE: i64 = 60 * SECOND;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
const WEEK: i64 = 7 * DAY;
const YEAR: i64 = 365 * DAY;

/// Units from largest to smallest; `ms` must come before `m` when matching.
const UNITS: [(&str, i64); 7] =
    [("y", YEAR), ("w", WEEK), ("d", DAY), ("h", HOUR), ("ms", MS), ("m", MINUTE), ("s", SECOND)];

/// Parses a Prometheus duration (`1h30m`, `5m`, `250ms`) into milliseconds.
/// Units must appear largest first, each at most once, as Prometheus requires.
pub fn parse_duration(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("empty duration".to_string());
    }
    if s == "0" {
        return Ok(0);
    }
    let mut rest = s;
    let mut total: i64 = 0;
    let mut last_factor = i64::MAX;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(format!("invalid duration {s:?}: expected a number at {rest:?}"));
        }
        let n: i64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}: number too large"))?;
        rest = &rest[digits..];
        let Some((unit, factor)) = UNITS.iter().find(|(u, _)| rest.starts_with(u)) else {
            return Err(format!("invalid duration {s:?}: unknown or missing unit (use ms, s, m, h, d, w, y)"));
        };
        if *factor >= last_factor {
            return Err(format!("invalid duration {s:?}: units must go from largest to smallest, each once"));
        }
        last_factor = *factor;
        total = n
            .checked_mul(*factor)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(|| format!("invalid duration {s:?}: too large"))?;
        rest = &rest[unit.len()..];
    }
    Ok(total)
}

/// Formats milliseconds the way Prometheus prints durations (`1h30m`, `15s`, `0s`).
pub fn format_duration(ms: i64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    let mut out = String::new();
    let mut rest = ms.unsigned_abs() as i64;
    if ms < 0 {
        out.push('-');
    }
    for (unit, factor) in [("y", YEAR), ("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE), ("s", SECOND), ("ms", MS)]
    {
        let n = rest / factor;
        if n > 0 {
            out.push_str(&n.to_string());
            out.push_str(unit);
            rest -= n * factor;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_prometheus_durations() {
        assert_eq!(parse_duration("30s"), Ok(30_000));
        assert_eq!(parse_duration("1h30m"), Ok(5_400_000));
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("1m500ms"), Ok(60_500));
        assert_eq!(parse_duration("2d"), Ok(2 * 86_400_000));
        assert_eq!(parse_duration("0"), Ok(0));
    }

    #[test]
    fn rejects_bad_durations() {
        assert!(parse_duration("").is_err());
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("1m1h").is_err());
        assert!(parse_duration("1s1s").is_err());
        assert!(parse_duration("h").is_err());
    }

    #[test]
    fn formats_like_prometheus() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(15_000), "15s");
        assert_eq!(format_duration(5_400_000), "1h30m");
        assert_eq!(format_duration(1_500), "1s500ms");
        assert_eq!(format_duration(86_400_000), "1d");
    }
}
