//! The Prometheus API's JSON body for a query result, written straight into
//! one buffer. Building a `serde_json::Value` tree cost three allocations and
//! a formatted string per point, more than evaluating many queries.

use std::fmt::Write as _;

use super::{QueryResult, Value};
use crate::tsdb::Labels;

/// `{"status":"success","data":{"resultType":...,"result":...},"warnings":[...],"infos":[...]}`
/// for any result, with values as Prometheus writes them (Go's shortest float
/// form in strings, `NaN`, `+Inf`, `-Inf`; times in seconds).
pub fn response_body(r: &QueryResult) -> String {
    let points = match &r.value {
        Value::Matrix(series) => series.iter().map(|s| s.samples.len() + 4).sum::<usize>(),
        Value::Vector(v) => v.len() * 4,
        _ => 1,
    };
    let mut b = String::with_capacity(64 + points * 28);
    b.push_str(r#"{"status":"success","data":{"resultType":"#);
    match &r.value {
        Value::Scalar { t, v } => {
            b.push_str(r#""scalar","result":"#);
            point(&mut b, *t, *v);
        }
        Value::String { t, v } => {
            b.push_str(r#""string","result":["#);
            ts(&mut b, *t);
            b.push(',');
            string(&mut b, v);
            b.push(']');
        }
        Value::Vector(samples) => {
            b.push_str(r#""vector","result":["#);
            for (i, s) in samples.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                b.push_str(r#"{"metric":"#);
                labels(&mut b, &s.labels);
                b.push_str(r#","value":"#);
                point(&mut b, s.t, s.v);
                b.push('}');
            }
            b.push(']');
        }
        Value::Matrix(series) => {
            b.push_str(r#""matrix","result":["#);
            for (i, s) in series.iter().enumerate() {
                if i > 0 {
                    b.push(',');
                }
                b.push_str(r#"{"metric":"#);
                labels(&mut b, &s.labels);
                b.push_str(r#","values":["#);
                for (j, p) in s.samples.iter().enumerate() {
                    if j > 0 {
                        b.push(',');
                    }
                    point(&mut b, p.t, p.v);
                }
                b.push_str("]}");
            }
            b.push(']');
        }
    }
    b.push('}');
    for (key, list) in [("warnings", &r.warnings), ("infos", &r.infos)] {
        if list.is_empty() {
            continue;
        }
        let _ = write!(b, r#","{key}":["#);
        for (i, w) in list.iter().enumerate() {
            if i > 0 {
                b.push(',');
            }
            string(&mut b, w);
        }
        b.push(']');
    }
    b.push('}');
    b
}

/// `[t, "v"]`
fn point(b: &mut String, t: i64, v: f64) {
    b.push('[');
    ts(b, t);
    b.push_str(",\"");
    if v.is_nan() {
        b.push_str("NaN");
    } else if v == f64::INFINITY {
        b.push_str("+Inf");
    } else if v == f64::NEG_INFINITY {
        b.push_str("-Inf");
    } else {
        // Same digits as `format_float` (Go's 'f', -1), without a String per point.
        let _ = write!(b, "{v}");
    }
    b.push_str("\"]");
}

/// Unix seconds: integral when whole, else the float (as serde_json writes it).
fn ts(b: &mut String, ms: i64) {
    if ms % 1000 == 0 {
        let _ = write!(b, "{}", ms / 1000);
    } else {
        b.push_str(&serde_json::Value::from(ms as f64 / 1000.0).to_string());
    }
}

fn labels(b: &mut String, l: &Labels) {
    b.push('{');
    for (i, x) in l.iter().enumerate() {
        if i > 0 {
            b.push(',');
        }
        string(b, &x.name);
        b.push(':');
        string(b, &x.value);
    }
    b.push('}');
}

/// A JSON string literal with serde_json's escaping.
fn string(b: &mut String, s: &str) {
    if s.bytes().all(|c| c >= 0x20 && c != b'"' && c != b'\\') {
        b.push('"');
        b.push_str(s);
        b.push('"');
    } else {
        b.push_str(&serde_json::Value::from(s).to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::promql::InstantSample;
    use crate::tsdb::{Sample, Series};

    fn result(value: Value) -> QueryResult {
        QueryResult { value, warnings: vec!["PromQL warning: \"x\"".into()], infos: Vec::new() }
    }

    #[test]
    fn matrix_body_parses_to_what_prometheus_sends() {
        let labels = Labels::from_pairs([("__name__", "up"), ("job", "a\"b\n")]);
        let samples = vec![
            Sample { t: 1000, v: 1.5 },
            Sample { t: 2500, v: f64::NAN },
            Sample { t: 3000, v: f64::INFINITY },
            Sample { t: 4000, v: 1e21 },
            Sample { t: 5000, v: -0.000_001 },
        ];
        let body = response_body(&result(Value::Matrix(vec![Series { labels, samples }])));
        let v: serde_json::Value = serde_json::from_str(&body).expect("valid JSON");
        assert_eq!(v["status"], "success");
        assert_eq!(v["data"]["resultType"], "matrix");
        assert_eq!(v["data"]["result"][0]["metric"]["job"], "a\"b\n");
        let vals = &v["data"]["result"][0]["values"];
        assert_eq!(vals[0], serde_json::json!([1, "1.5"]));
        assert_eq!(vals[1], serde_json::json!([2.5, "NaN"]));
        assert_eq!(vals[2], serde_json::json!([3, "+Inf"]));
        assert_eq!(vals[3][1], crate::promql::format_float(1e21));
        assert_eq!(vals[4][1], crate::promql::format_float(-0.000_001));
        assert_eq!(v["warnings"][0], "PromQL warning: \"x\"");
        assert!(v.get("infos").is_none());
    }

    #[test]
    fn other_result_types() {
        let s = response_body(&result(Value::Scalar { t: 1500, v: 2.0 }));
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["data"]["result"], serde_json::json!([1.5, "2"]));
        let s = response_body(&result(Value::String { t: 1000, v: "hi".into() }));
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["data"]["result"], serde_json::json!([1, "hi"]));
        let vec = vec![InstantSample { labels: Labels::from_pairs([("a", "1")]), t: 1000, v: -1.0 }];
        let s = response_body(&result(Value::Vector(vec)));
        let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
        assert_eq!(v["data"]["result"][0], serde_json::json!({"metric": {"a": "1"}, "value": [1, "-1"]}));
    }
}
