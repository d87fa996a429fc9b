//! `/federate` as Prometheus serves it: the latest sample of every series
//! matching any `match[]` selector within the lookback, in the text
//! exposition format, with timestamps.

use crate::tsdb::{Labels, Matcher, Querier, TsdbError, METRIC_NAME};
use std::fmt::Write;

/// How far back the latest sample may be (Prometheus's default lookback delta).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// Renders the federation body for `sets` (each one a conjunction of matchers)
/// at time `now` (ms). `external` labels are added to series that lack them,
/// so the federating server can tell where the data came from.
pub fn federate(q: &dyn Querier, sets: &[Vec<Matcher>], external: &Labels, now: i64) -> Result<String, TsdbError> {
    let mut latest: std::collections::BTreeMap<String, (Labels, i64, f64)> = Default::default();
    for set in sets {
        for s in q.select(set, now - LOOKBACK_MS, now)? {
            // Series whose latest sample is a stale marker are gone, as in Prometheus.
            let Some(last) = s.samples.last() else { continue };
            if crate::tsdb::is_stale_nan(last.v) {
                continue;
            }
            let key = format!("{}\u{0}{}", s.labels.metric_name().unwrap_or(""), s.labels);
            latest.insert(key, (s.labels, last.t, last.v));
        }
    }
    let mut out = String::new();
    let mut current: Option<String> = None;
    for (mut labels, t, v) in latest.into_values() {
        for l in external.iter() {
            if labels.get(&l.name).is_none() {
                labels.set(&l.name, &l.value);
            }
        }
        let name = labels.metric_name().unwrap_or("").to_string();
        if current.as_deref() != Some(name.as_str()) {
            let _ = writeln!(out, "# TYPE {name} untyped");
            current = Some(name.clone());
        }
        out.push_str(&name);
        let rest: Vec<String> = labels
            .iter()
            .filter(|l| l.name != METRIC_NAME)
            .map(|l| format!("{}=\"{}\"", l.name, escape(&l.value)))
            .collect();
        if !rest.is_empty() {
            let _ = write!(out, "{{{}}}", rest.join(","));
        }
        let _ = writeln!(out, " {} {t}", format_value(v));
    }
    Ok(out)
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Formats like Go's `strconv.FormatFloat(v, 'g', -1, 64)`, which Prometheus uses.
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let exp = v.abs().log10().floor() as i32;
    if (-4..21).contains(&exp) {
        format!("{v}")
    } else {
        // Rust gives "1e21" / "1.5e-7"; Go writes "1e+21" / "1.5e-07".
        let s = format!("{v:e}");
        let (mant, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        format!("{mant}e{sign}{digits:0>2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Appendable, MemStore, STALE_NAN};

    #[test]
    fn latest_sample_per_series_within_lookback() {
        let store = MemStore::new();
        let now = 10_000_000;
        let mut app = store.appender();
        let up_a = Labels::from_pairs([("__name__", "up"), ("job", "a")]);
        let up_b = Labels::from_pairs([("__name__", "up"), ("job", "b\"q")]);
        let old = Labels::from_pairs([("__name__", "up"), ("job", "old")]);
        let gone = Labels::from_pairs([("__name__", "up"), ("job", "gone")]);
        let other = Labels::from_pairs([("__name__", "other"), ("job", "a")]);
        app.append(&up_a, now - 30_000, 0.0).unwrap();
        app.append(&up_a, now - 15_000, 1.0).unwrap();
        app.append(&up_b, now - 1_000, 1e21).unwrap();
        app.append(&old, now - LOOKBACK_MS - 1, 1.0).unwrap();
        app.append(&gone, now - 20_000, 1.0).unwrap();
        app.append(&gone, now - 5_000, STALE_NAN).unwrap();
        app.append(&other, now - 1_000, 2.5).unwrap();
        app.commit().unwrap();
        let body = federate(&store, &[vec![Matcher::equal(METRIC_NAME, "up")]], &Labels::new(), now).unwrap();
        assert_eq!(
            body,
            format!(
                "# TYPE up untyped\nup{{job=\"a\"}} 1 {}\nup{{job=\"b\\\"q\"}} 1e+21 {}\n",
                now - 15_000,
                now - 1_000
            )
        );
        // Two selectors: the union, each series once, grouped by name.
        let sets = [vec![Matcher::equal("job", "a")], vec![Matcher::equal(METRIC_NAME, "up")]];
        let both = federate(&store, &sets, &Labels::new(), now).unwrap();
        assert!(both.starts_with("# TYPE other untyped\nother{job=\"a\"} 2.5 "), "{both}");
        assert_eq!(both.matches("up{job=\"a\"}").count(), 1, "{both}");
        // External labels are added where missing; a series' own label wins.
        let external = Labels::from_pairs([("cluster", "eu"), ("job", "central")]);
        let tagged = federate(&store, &[vec![Matcher::equal("job", "a")]], &external, now).unwrap();
        assert!(tagged.contains("other{cluster=\"eu\",job=\"a\"} 2.5 "), "{tagged}");
        assert!(!tagged.contains("central"), "{tagged}");
    }

    #[test]
    fn values_format_like_go() {
        assert_eq!(format_value(1.0), "1");
        assert_eq!(format_value(0.5), "0.5");
        assert_eq!(format_value(1e-5), "1e-05");
        assert_eq!(format_value(123456789.0), "123456789");
        assert_eq!(format_value(f64::INFINITY), "+Inf");
        assert_eq!(format_value(f64::NAN), "NaN");
    }
}
