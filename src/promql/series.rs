//! The series notation of Prometheus's test scripts and of `promtool test
//! rules` input: `name{a="b"}` descriptions and `1+2x3 _ stale 5x2 _x3`
//! value sequences. Used by rule unit tests and the PromQL conformance runner.

use crate::tsdb::Labels;

/// One expanded point of a value sequence.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SeriesPoint {
    /// `_`: no sample at this step.
    Omit,
    /// `stale`: a staleness marker.
    Stale,
    V(f64),
}

/// A number as the notation writes it (`Inf`, `-Inf`, `NaN` in any case included).
pub fn parse_float(s: &str) -> Result<f64, String> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "+inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" | "+nan" | "-nan" => return Ok(f64::NAN),
        _ => {}
    }
    s.parse::<f64>().map_err(|_| format!("bad number {s:?}"))
}

/// Expands a whitespace-separated value sequence. `a+bxN` is N+1 values
/// accumulated by repeated addition, as Prometheus's series grammar does.
pub fn expand_values(s: &str) -> Result<Vec<SeriesPoint>, String> {
    use SeriesPoint::*;
    if s.contains("{{") {
        return Err("native histograms are not supported".into());
    }
    let mut out = Vec::new();
    for it in s.split_whitespace() {
        match it {
            "_" => out.push(Omit),
            "stale" => out.push(Stale),
            _ if it.starts_with("_x") => {
                let n: usize = it[2..].parse().map_err(|_| format!("bad item {it:?}"))?;
                out.extend(std::iter::repeat_n(Omit, n));
            }
            _ => match it.rfind('x') {
                Some(xi) => {
                    let (lhs, n) = (&it[..xi], &it[xi + 1..]);
                    let n: usize = n.parse().map_err(|_| format!("bad item {it:?}"))?;
                    if n > 10_000_000 {
                        return Err(format!("too many repetitions in {it:?}"));
                    }
                    // A + or - that is neither a leading sign nor an exponent's sign.
                    let b = lhs.as_bytes();
                    let op = (1..b.len()).find(|&i| (b[i] == b'+' || b[i] == b'-') && !matches!(b[i - 1], b'e' | b'E'));
                    match op {
                        Some(i) => {
                            let mut v = parse_float(&lhs[..i])?;
                            let d = parse_float(&lhs[i + 1..])? * if b[i] == b'-' { -1.0 } else { 1.0 };
                            out.push(V(v));
                            for _ in 0..n {
                                v += d;
                                out.push(V(v));
                            }
                        }
                        None if lhs == "stale" => out.extend(std::iter::repeat_n(Stale, n + 1)),
                        None if lhs == "_" => out.extend(std::iter::repeat_n(Omit, n + 1)),
                        None => out.extend(std::iter::repeat_n(V(parse_float(lhs)?), n + 1)),
                    }
                }
                None => out.push(V(parse_float(it)?)),
            },
        }
    }
    Ok(out)
}

/// A series description such as `up{job="a"}` (or `{}`) as labels.
pub fn parse_series(series: &str) -> Result<Labels, String> {
    let t = series.trim();
    if t == "{}" || t.is_empty() {
        return Ok(Labels::new());
    }
    let super::Expr::VectorSelector(vs) = super::parse(t).map_err(|e| format!("bad series {t:?}: {e}"))? else {
        return Err(format!("{t:?} is not a series description"));
    };
    let name = vs.name.iter().map(|n| (super::super::tsdb::METRIC_NAME.to_string(), n.clone()));
    Ok(Labels::from_pairs(name.chain(vs.matchers.matchers.iter().map(|m| (m.name.clone(), m.value.clone())))))
}

#[cfg(test)]
mod tests {
    use super::SeriesPoint::*;
    use super::*;

    #[test]
    fn expands_sequences() {
        assert_eq!(
            expand_values("1+1x2 _ stale 3x1").unwrap(),
            vec![V(1.0), V(2.0), V(3.0), Omit, Stale, V(3.0), V(3.0)]
        );
        assert_eq!(expand_values("5-2x1 _x2").unwrap(), vec![V(5.0), V(3.0), Omit, Omit]);
        assert_eq!(expand_values("1e-1+1e1x1").unwrap(), vec![V(0.1), V(10.1)]);
        assert!(expand_values("1+x").is_err());
        assert!(expand_values("{{sum:1}}").is_err());
        assert_eq!(parse_series("up{job=\"a\"}").unwrap(), Labels::from_pairs([("__name__", "up"), ("job", "a")]));
        assert_eq!(parse_series("{}").unwrap(), Labels::new());
    }
}
