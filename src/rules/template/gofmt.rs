//! Go's `fmt` formatting of floats and `Sprintf`, as templates print them
//! (`{{ $value }}` is `%v`, humanize uses `%.4g`).

use super::Value;

/// Decimal digits (no leading/trailing zeros) and decimal-point position of
/// `v` (finite, non-zero), rounded to `prec` significant digits or shortest.
fn digits(v: f64, prec: Option<usize>) -> (String, i32) {
    let s = match prec {
        Some(p) => format!("{:.*e}", p.max(1) - 1, v.abs()),
        None => format!("{:e}", v.abs()),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.len() > 1 && d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

fn special(v: f64) -> Option<String> {
    if v.is_nan() {
        return Some("NaN".into());
    }
    if v.is_infinite() {
        return Some(if v > 0.0 { "+Inf" } else { "-Inf" }.into());
    }
    None
}

fn exp_str(e: i32) -> String {
    if e < 0 {
        format!("e-{:02}", -e)
    } else {
        format!("e+{e:02}")
    }
}

/// `%e` with `prec` digits after the point (Go default 6).
pub fn fmt_e(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    let s = format!("{:.*e}", prec, v);
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    format!("{mant}{}", exp_str(exp.parse().unwrap_or(0)))
}

/// `%f` with `prec` digits after the point.
pub fn fmt_f(v: f64, prec: usize) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    format!("{:.*}", prec, v)
}

/// `%g` with an optional precision (`None` = shortest, as `%v` prints floats).
pub fn fmt_g(v: f64, prec: Option<usize>) -> String {
    if let Some(s) = special(v) {
        return s;
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let (d, dp) = digits(v, prec);
    let nd = d.len() as i32;
    let mut eprec = match prec {
        Some(p) => p.max(1) as i32,
        None => 6,
    };
    if prec.is_some() && eprec > nd && nd >= dp {
        eprec = nd;
    }
    if prec.is_none() {
        // Shortest: Go uses 21 as the %e threshold for large exponents in
        // %v... but only in encoding/json; fmt uses 6.
        eprec = 6;
    }
    let exp = dp - 1;
    let sign = if v < 0.0 { "-" } else { "" };
    if exp < -4 || exp >= eprec {
        let mut m = d[..1].to_string();
        if nd > 1 {
            m.push('.');
            m.push_str(&d[1..]);
        }
        return format!("{sign}{m}{}", exp_str(exp));
    }
    // Fixed notation with exactly the significant digits.
    let mut out = String::from(sign);
    if dp <= 0 {
        out.push_str("0.");
        for _ in 0..(-dp) {
            out.push('0');
        }
        out.push_str(&d);
    } else if dp >= nd {
        out.push_str(&d);
        for _ in 0..(dp - nd) {
            out.push('0');
        }
    } else {
        out.push_str(&d[..dp as usize]);
        out.push('.');
        out.push_str(&d[dp as usize..]);
    }
    out
}

/// Go `%q` of a string.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Go's `fmt.Sprintf` for the verbs templates use: `%v %s %d %f %e %g %q %x
/// %X %t %%` with flags `-+ 0`, width and precision.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::new();
    let mut chars = format.chars().peekable();
    let mut ai = 0;
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut minus, mut plus, mut zero, mut space) = (false, false, false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => minus = true,
                '+' => plus = true,
                '0' => zero = true,
                ' ' => space = true,
                '#' => {}
                _ => break,
            }
            chars.next();
        }
        let mut width = None;
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            width = Some(width.unwrap_or(0) * 10 + d.to_digit(10).unwrap_or(0) as usize);
            chars.next();
        }
        let mut prec = None;
        if chars.peek() == Some(&'.') {
            chars.next();
            let mut p = 0;
            while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                p = p * 10 + d.to_digit(10).unwrap_or(0) as usize;
                chars.next();
            }
            prec = Some(p);
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = args.get(ai) else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        ai += 1;
        let mut s = match (verb, arg) {
            ('v', a) | ('s', a) if !matches!(a, Value::Float(_)) || verb == 'v' => match (verb, a) {
                ('v', Value::Float(f)) => match prec {
                    Some(p) => fmt_g(*f, Some(p)),
                    None => fmt_g(*f, None),
                },
                ('s', Value::Int(i)) => format!("%!s(int={i})"),
                ('s', Value::Bool(b)) => format!("%!s(bool={b})"),
                _ => {
                    let t = a.to_string();
                    match prec {
                        Some(p) if verb == 's' => t.chars().take(p).collect(),
                        _ => t,
                    }
                }
            },
            ('d', Value::Int(i)) => i.to_string(),
            ('d', Value::Float(f)) => format!("%!d(float64={})", fmt_g(*f, None)),
            ('f', Value::Float(f)) | ('F', Value::Float(f)) => fmt_f(*f, prec.unwrap_or(6)),
            ('e', Value::Float(f)) => fmt_e(*f, prec.unwrap_or(6)),
            ('E', Value::Float(f)) => fmt_e(*f, prec.unwrap_or(6)).to_uppercase(),
            ('g', Value::Float(f)) => fmt_g(*f, prec),
            ('G', Value::Float(f)) => fmt_g(*f, prec).to_uppercase(),
            ('f' | 'F' | 'e' | 'g', Value::Int(i)) => format!("%!{verb}(int={i})"),
            ('q', Value::Str(s)) => quote(s),
            ('q', Value::Int(i)) => format!("'{}'", char::from_u32(*i as u32).unwrap_or('?')),
            ('x', Value::Int(i)) => format!("{i:x}"),
            ('X', Value::Int(i)) => format!("{i:X}"),
            ('x', Value::Str(s)) => s.bytes().map(|b| format!("{b:02x}")).collect(),
            ('t', Value::Bool(b)) => b.to_string(),
            ('s', Value::Float(f)) => format!("%!s(float64={})", fmt_g(*f, None)),
            (v, a) => format!("%!{v}({}={})", a.go_type(), a),
        };
        if plus && matches!(arg, Value::Int(_) | Value::Float(_)) && !s.starts_with('-') && !s.starts_with('%') {
            s.insert(0, '+');
        } else if space && matches!(arg, Value::Int(_) | Value::Float(_)) && !s.starts_with('-') {
            s.insert(0, ' ');
        }
        if let Some(w) = width {
            let len = s.chars().count();
            if len < w {
                let pad = w - len;
                if minus {
                    s.push_str(&" ".repeat(pad));
                } else if zero && matches!(arg, Value::Int(_) | Value::Float(_)) {
                    let at = usize::from(s.starts_with('-') || s.starts_with('+'));
                    s.insert_str(at, &"0".repeat(pad));
                } else {
                    s.insert_str(0, &" ".repeat(pad));
                }
            }
        }
        out.push_str(&s);
    }
    if ai < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[ai..].iter().map(|a| format!("{}={}", a.go_type(), a)).collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g_formats_like_go() {
        assert_eq!(fmt_g(1.0, None), "1");
        assert_eq!(fmt_g(0.5, None), "0.5");
        assert_eq!(fmt_g(1e6, None), "1e+06");
        assert_eq!(fmt_g(123456.0, None), "123456");
        assert_eq!(fmt_g(1234567.0, None), "1.234567e+06");
        assert_eq!(fmt_g(0.0001, None), "0.0001");
        assert_eq!(fmt_g(0.00001, None), "1e-05");
        assert_eq!(fmt_g(1234.5, Some(4)), "1234");
        assert_eq!(fmt_g(12345.0, Some(4)), "1.234e+04");
        assert_eq!(fmt_g(1.5, Some(4)), "1.5");
        assert_eq!(fmt_g(100000.0, Some(4)), "1e+05");
        assert_eq!(fmt_g(-2.0, Some(4)), "-2");
        assert_eq!(fmt_g(f64::INFINITY, None), "+Inf");
    }

    #[test]
    fn sprintf_verbs() {
        let a = [Value::Float(3.25159), Value::Str("x".into()), Value::Int(7)];
        assert_eq!(sprintf("%.2f %s %d", &a), "3.25 x 7");
        assert_eq!(sprintf("%5.1f|%-3s|%03d", &a), "  3.3|x  |007");
        assert_eq!(sprintf("%q %v", &[Value::Str("a\"b".into()), Value::Float(2.0)]), "\"a\\\"b\" 2");
        assert_eq!(sprintf("100%%", &[]), "100%");
        assert_eq!(sprintf("%d", &[]), "%!d(MISSING)");
    }
}
