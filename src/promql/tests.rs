//! Unit tests of the engine against a small in-memory store.

use super::*;
use crate::tsdb::{Appendable, MemStore, STALE_NAN};

/// Loads `name{labels}` with values at `step_ms` intervals from t=0 (None = no sample).
fn store(series: &[(&[(&str, &str)], i64, &[Option<f64>])]) -> MemStore {
    let s = MemStore::new();
    let mut app = s.appender();
    for (labels, step, vals) in series {
        let l = Labels::from_pairs(labels.iter().copied());
        for (i, v) in vals.iter().enumerate() {
            if let Some(v) = v {
                app.append(&l, i as i64 * step, *v).unwrap();
            }
        }
    }
    app.commit().unwrap();
    s
}

fn ramp(n: usize, start: f64, inc: f64) -> Vec<Option<f64>> {
    (0..n).map(|i| Some(start + inc * i as f64)).collect()
}

fn vector(r: QueryResult) -> Vec<(String, f64)> {
    match r.value {
        Value::Vector(v) => {
            let mut out: Vec<(String, f64)> = v.into_iter().map(|s| (s.labels.to_string(), s.v)).collect();
            out.sort_by(|a, b| a.0.cmp(&b.0));
            out
        }
        other => panic!("expected vector, got {other:?}"),
    }
}

fn scalar(r: QueryResult) -> f64 {
    match r.value {
        Value::Scalar { v, .. } => v,
        other => panic!("expected scalar, got {other:?}"),
    }
}

fn engine() -> Engine {
    Engine::new(EngineOptions::default())
}

fn http() -> MemStore {
    let a = ramp(11, 0.0, 10.0);
    let b = ramp(11, 0.0, 20.0);
    let c = ramp(11, 5.0, 0.0);
    store(&[
        (&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "0")], 60_000, &a),
        (&[("__name__", "http_requests_total"), ("job", "api"), ("instance", "1")], 60_000, &b),
        (&[("__name__", "http_requests_total"), ("job", "web"), ("instance", "0")], 60_000, &c),
    ])
}

#[test]
fn selector_matchers_all_four_kinds() {
    let s = http();
    let e = engine();
    assert_eq!(vector(e.instant_query(&s, r#"http_requests_total{job="api"}"#, 600_000).unwrap()).len(), 2);
    assert_eq!(vector(e.instant_query(&s, r#"http_requests_total{job!="api"}"#, 600_000).unwrap()).len(), 1);
    assert_eq!(vector(e.instant_query(&s, r#"http_requests_total{job=~"a.*"}"#, 600_000).unwrap()).len(), 2);
    assert_eq!(vector(e.instant_query(&s, r#"http_requests_total{job!~"a.*"}"#, 600_000).unwrap()).len(), 1);
    // Regexes are anchored.
    assert_eq!(vector(e.instant_query(&s, r#"http_requests_total{job=~"p"}"#, 600_000).unwrap()).len(), 0);
}

#[test]
fn lookback_is_five_minutes_left_open() {
    let s = store(&[(&[("__name__", "m")], 10_000, &[Some(1.0)])]);
    let e = engine();
    assert_eq!(vector(e.instant_query(&s, "m", 299_999).unwrap()), vec![("m{}".to_string(), 1.0)]);
    assert!(vector(e.instant_query(&s, "m", 310_000).unwrap()).is_empty());
    assert!(vector(e.instant_query(&s, "m", 300_000 + 10_000).unwrap()).is_empty());
}

#[test]
fn stale_marker_ends_series() {
    let s = store(&[(&[("__name__", "m")], 10_000, &[Some(0.0), Some(1.0), Some(STALE_NAN), Some(2.0)])]);
    let e = engine();
    assert_eq!(vector(e.instant_query(&s, "m", 10_000).unwrap())[0].1, 1.0);
    assert!(vector(e.instant_query(&s, "m", 20_000).unwrap()).is_empty());
    assert_eq!(vector(e.instant_query(&s, "m", 30_000).unwrap())[0].1, 2.0);
    // Range vectors skip stale markers.
    assert_eq!(vector(e.instant_query(&s, "count_over_time(m[1m])", 30_000).unwrap())[0].1, 3.0);
}

#[test]
fn range_window_is_left_open_and_offset_applies() {
    let s = store(&[(&[("__name__", "m")], 10_000, &ramp(10, 0.0, 1.0))]);
    let e = engine();
    // (20s, 40s] holds samples at 30s and 40s.
    assert_eq!(vector(e.instant_query(&s, "count_over_time(m[20s])", 40_000).unwrap())[0].1, 2.0);
    assert_eq!(vector(e.instant_query(&s, "m offset 20s", 60_000).unwrap())[0].1, 4.0);
    assert_eq!(vector(e.instant_query(&s, "m @ 30", 90_000).unwrap())[0].1, 3.0);
}

#[test]
fn rate_increase_irate_extrapolate_like_prometheus() {
    // Counter going up 10 per minute, sampled every minute, 0..100.
    let s = http();
    let e = engine();
    let r = vector(e.instant_query(&s, r#"rate(http_requests_total{job="api",instance="0"}[5m])"#, 600_000).unwrap());
    assert_eq!(r.len(), 1);
    assert!((r[0].1 - 10.0 / 60.0).abs() < 1e-9, "{r:?}");
    assert_eq!(r[0].0, r#"{instance="0", job="api"}"#);
    let r = vector(e.instant_query(&s, r#"increase(http_requests_total{job="api",instance="0"}[5m])"#, 600_000).unwrap());
    assert!((r[0].1 - 50.0).abs() < 1e-9, "{r:?}");
    let r = vector(e.instant_query(&s, r#"irate(http_requests_total{job="api",instance="1"}[5m])"#, 600_000).unwrap());
    assert!((r[0].1 - 20.0 / 60.0).abs() < 1e-9);
    // A counter reset is corrected for.
    let s = store(&[(&[("__name__", "c_total")], 60_000, &[Some(0.0), Some(10.0), Some(20.0), Some(5.0), Some(15.0)])]);
    let r = vector(e.instant_query(&s, "increase(c_total[4m])", 240_000).unwrap());
    // The window (0, 4m] holds 10 20 5 15: increase 5 plus the reset's 20, over 3 m
    // sampled, extrapolated one average interval (1 m) back to the window start.
    assert!((r[0].1 - 25.0 * 4.0 / 3.0).abs() < 1e-9, "{r:?}");
}

#[test]
fn aggregations_by_and_without() {
    let s = http();
    let e = engine();
    let r = vector(e.instant_query(&s, "sum by (job) (http_requests_total)", 600_000).unwrap());
    assert_eq!(r, vec![(r#"{job="api"}"#.to_string(), 300.0), (r#"{job="web"}"#.to_string(), 5.0)]);
    let r = vector(e.instant_query(&s, "max without (instance) (http_requests_total)", 600_000).unwrap());
    assert_eq!(r, vec![(r#"{job="api"}"#.to_string(), 200.0), (r#"{job="web"}"#.to_string(), 5.0)]);
    let r = vector(e.instant_query(&s, "min(http_requests_total)", 600_000).unwrap());
    assert_eq!(r, vec![("{}".to_string(), 5.0)]);
    let r = vector(e.instant_query(&s, "count(http_requests_total)", 600_000).unwrap());
    assert_eq!(r[0].1, 3.0);
    let r = vector(e.instant_query(&s, "avg by (job) (http_requests_total)", 600_000).unwrap());
    assert_eq!(r[0].1, 150.0);
}

#[test]
fn scalar_and_vector_arithmetic_and_comparison() {
    let s = http();
    let e = engine();
    assert_eq!(scalar(e.instant_query(&s, "1 + 2 * 3", 0).unwrap()), 7.0);
    assert_eq!(scalar(e.instant_query(&s, "-(2 ^ 3) % 5", 0).unwrap()), -3.0);
    assert_eq!(scalar(e.instant_query(&s, "2 > bool 1", 0).unwrap()), 1.0);
    let r = vector(e.instant_query(&s, r#"http_requests_total{job="web"} * 2"#, 600_000).unwrap());
    assert_eq!(r, vec![(r#"{instance="0", job="web"}"#.to_string(), 10.0)]);
    let r = vector(e.instant_query(&s, r#"http_requests_total > 50"#, 600_000).unwrap());
    assert_eq!(r.len(), 2);
    assert!(r[0].0.starts_with("http_requests_total"), "filter keeps the name");
    let r = vector(e.instant_query(&s, r#"http_requests_total > bool 50"#, 600_000).unwrap());
    assert_eq!(r.iter().map(|x| x.1).sum::<f64>(), 2.0);
    let r = vector(e.instant_query(&s, r#"http_requests_total - http_requests_total"#, 600_000).unwrap());
    assert!(r.iter().all(|x| x.1 == 0.0) && r.len() == 3);
}

#[test]
fn range_query_returns_sorted_matrix() {
    let s = http();
    let e = engine();
    let r = e.range_query(&s, "http_requests_total", 0, 600_000, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert_eq!(m.len(), 3);
    assert!(m.windows(2).all(|w| w[0].labels < w[1].labels));
    assert_eq!(m[0].samples.len(), 11);
    let r = e.range_query(&s, "sum(rate(http_requests_total[2m]))", 120_000, 600_000, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert_eq!(m.len(), 1);
    assert!(m[0].samples.iter().all(|p| (p.v - 0.5).abs() < 1e-9), "{m:?}");
}

#[test]
fn errors_are_typed() {
    let s = http();
    let e = engine();
    let err = e.instant_query(&s, "sum(", 0).unwrap_err();
    assert_eq!(err.error_type(), "bad_data");
    let err = e.range_query(&s, "http_requests_total[5m]", 0, 10, 1).unwrap_err();
    assert_eq!(err.error_type(), "execution");
    let deep = format!("{}1{}", "(".repeat(5000), ")".repeat(5000));
    assert!(e.instant_query(&s, &deep, 0).is_err());
    let long = vec!["1"; 5000].join(" + ");
    assert!(e.instant_query(&s, &long, 0).is_err());
    let tight = Engine::new(EngineOptions { max_samples: 5, ..Default::default() });
    assert!(matches!(tight.instant_query(&s, "http_requests_total[10m]", 600_000), Err(QueryError::TooManySamples)));
}
