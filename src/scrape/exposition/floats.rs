//! Float reading and writing the way Prometheus's Go code does it.
//!
//! Sample values and OpenMetrics timestamps go through Prometheus's
//! `parseFloat` (Go's `strconv.ParseFloat` minus the post-Go-1.13 forms), and
//! `le`/`quantile` label values are rewritten with `formatOpenMetricsFloat`
//! (Go's shortest `%g`, plus `.0` on integral values).

/// The one NaN bit pattern every parsed NaN becomes (Prometheus's
/// `value.NormalNaN`); distinct from the staleness marker.
pub const NORMAL_NAN_BITS: u64 = 0x7ff8_0000_0000_0001;

/// Why a value did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FloatError {
    /// `_`, `p` or `P`: digit separators and hex floats, which Prometheus refuses.
    Unsupported,
    /// Not a float at all.
    Syntax,
    /// Too large for an f64 (Go reports a range error; Prometheus rejects it).
    Range,
}

/// Parses a sample value or OpenMetrics timestamp as Prometheus does:
/// Go decimal float syntax, `Inf`/`Infinity` with optional sign and `NaN`
/// (any case, unsigned), no digit separators and no hex. Every NaN comes back
/// with the canonical bit pattern.
pub fn parse_value(s: &[u8]) -> Result<f64, FloatError> {
    if s.iter().any(|&c| matches!(c, b'_' | b'p' | b'P')) {
        return Err(FloatError::Unsupported);
    }
    parse_decimal_or_special(s)
}

/// Go's `strconv.ParseFloat` as used for `le`/`quantile` normalisation: like
/// [`parse_value`] but underscores between digits are allowed. Hex floats are
/// not supported here (Go accepts them); such label values are left as written.
pub fn parse_go_float(s: &[u8]) -> Option<f64> {
    if s.contains(&b'_') {
        if !underscores_ok(s) {
            return None;
        }
        let stripped: Vec<u8> = s.iter().copied().filter(|&c| c != b'_').collect();
        return parse_decimal_or_special(&stripped).ok();
    }
    parse_decimal_or_special(s).ok()
}

fn parse_decimal_or_special(s: &[u8]) -> Result<f64, FloatError> {
    let (neg, body) = match s.first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Ok(if neg { f64::NEG_INFINITY } else { f64::INFINITY });
    }
    // Go accepts NaN only without a sign.
    if body.len() == s.len() && body.eq_ignore_ascii_case(b"nan") {
        return Ok(f64::from_bits(NORMAL_NAN_BITS));
    }
    // Rust's grammar for the remaining decimal forms equals Go's; the byte check
    // keeps out the words ("nan", "inf", ...) that Rust would take with a sign.
    if body.is_empty() || !body.iter().all(|&c| matches!(c, b'0'..=b'9' | b'.' | b'e' | b'E' | b'+' | b'-')) {
        return Err(FloatError::Syntax);
    }
    // Safe: checked to be ASCII above.
    let text = std::str::from_utf8(s).map_err(|_| FloatError::Syntax)?;
    let v: f64 = text.parse().map_err(|_| FloatError::Syntax)?;
    if v.is_infinite() {
        return Err(FloatError::Range);
    }
    Ok(v)
}

/// Go's `underscoreOK` for a base-10 literal: underscores only between digits.
fn underscores_ok(s: &[u8]) -> bool {
    let s = match s.first() {
        Some(b'+' | b'-') => &s[1..],
        _ => s,
    };
    if s.len() >= 2 && s[0] == b'0' && matches!(s[1] | 0x20, b'x' | b'b' | b'o') {
        return false; // hex and friends are not handled here
    }
    // saw: '^' start, '0' digit, '_' underscore, '!' other
    let mut saw = b'^';
    for &c in s {
        if c.is_ascii_digit() {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
    }
    saw != b'_'
}

/// Prometheus's `formatOpenMetricsFloat`: `NaN`, `+Inf`, `-Inf`, otherwise Go's
/// shortest `%g` with `.0` appended when it has neither `.` nor `e`.
pub fn format_openmetrics_float(f: f64) -> String {
    if f.is_nan() {
        return "NaN".to_string();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let mut s = format_go_g(f);
    if !s.contains(['.', 'e']) {
        s.push_str(".0");
    }
    s
}

/// Go's `strconv.FormatFloat(f, 'g', -1, 64)` for finite `f`.
fn format_go_g(f: f64) -> String {
    // Rust's `{:e}` gives the same shortest round-trip digits Go uses.
    let sci = format!("{:e}", f.abs());
    let (mant, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mant.chars().filter(|c| *c != '.').collect();
    let mut out = String::with_capacity(digits.len() + 8);
    if f.is_sign_negative() {
        out.push('-');
    }
    // With the shortest precision Go switches to %e outside [-4, 6).
    if !(-4..6).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        let e = exp.unsigned_abs();
        if e < 10 {
            out.push('0');
        }
        out.push_str(&e.to_string());
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            out.extend(std::iter::repeat_n('0', int_len - digits.len()));
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
        out.push_str(&digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_prometheus_accepts() {
        for (s, want) in [
            ("4.9351e-05", 4.9351e-05),
            ("7.424100000000001e-05", 7.424100000000001e-05),
            ("17", 17.0),
            ("1.0", 1.0),
            ("-1.5E+3", -1500.0),
            (".5", 0.5),
            ("5.", 5.0),
            ("+Inf", f64::INFINITY),
            ("-Inf", f64::NEG_INFINITY),
            ("Inf", f64::INFINITY),
            ("-infinity", f64::NEG_INFINITY),
            ("1e-400", 0.0),
        ] {
            assert_eq!(parse_value(s.as_bytes()), Ok(want), "{s}");
        }
        for s in ["NaN", "nan", "NAN"] {
            assert_eq!(parse_value(s.as_bytes()).map(f64::to_bits), Ok(NORMAL_NAN_BITS), "{s}");
        }
    }

    #[test]
    fn values_prometheus_rejects() {
        for s in ["1_2", "0x1p-3", "0x1P-3"] {
            assert_eq!(parse_value(s.as_bytes()), Err(FloatError::Unsupported), "{s}");
        }
        for s in ["", "true", "1z", "+nan", "-NaN", "e5", "1e", ".", "infin", "0x10", "1,5", "--1"] {
            assert_eq!(parse_value(s.as_bytes()), Err(FloatError::Syntax), "{s}");
        }
        assert_eq!(parse_value(b"1e400"), Err(FloatError::Range));
    }

    #[test]
    fn go_float_with_underscores() {
        assert_eq!(parse_go_float(b"1_000"), Some(1000.0));
        assert_eq!(parse_go_float(b"1__0"), None);
        assert_eq!(parse_go_float(b"_1"), None);
        assert_eq!(parse_go_float(b"1_"), None);
        assert_eq!(parse_go_float(b"c"), None);
    }

    #[test]
    fn openmetrics_float_format() {
        for (f, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (2.0, "2.0"),
            (0.25, "0.25"),
            (0.2, "0.2"),
            (100000.0, "100000.0"),
            (1e6, "1e+06"),
            (1234567.0, "1.234567e+06"),
            (1e-5, "1e-05"),
            (0.0001, "0.0001"),
            (-8.999999999999979e-05, "-8.999999999999979e-05"),
            (123.456, "123.456"),
            (1e21, "1e+21"),
            (1.5e-300, "1.5e-300"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
        ] {
            assert_eq!(format_openmetrics_float(f), want, "{f:e}");
        }
    }
}
