//! Unit tests of the engine against a small in-memory store.

use super::*;
use crate::tsdb::{Appendable, MemStore, STALE_NAN};

/// Loads `name{labels}` with values at `step_ms` intervals from t=0 (None = no sample).
/// (labels, step in ms, values) of one test series.
type TestSeries<'a> = (&'a [(&'a str, &'a str)], i64, &'a [Option<f64>]);

fn store(series: &[TestSeries]) -> MemStore {
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
    let r =
        vector(e.instant_query(&s, r#"increase(http_requests_total{job="api",instance="0"}[5m])"#, 600_000).unwrap());
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

#[test]
fn one_day_window_rate_over_a_day_of_steps() {
    // Two days of a counter scraped every 15 s, rising 1 per scrape.
    let n = 2 * 86_400 / 15;
    let vals = ramp(n, 0.0, 1.0);
    let s = store(&[(&[("__name__", "c_total")], 15_000, &vals)]);
    let e = engine();
    let start = 86_400_000;
    let end = 2 * 86_400_000 - 60_000;
    let r = e.range_query(&s, "rate(c_total[1d])", start, end, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].samples.len(), 1440);
    // One per 15 s is 1/15 per second; the window is fully covered, so no extrapolation error.
    assert!(m[0].samples.iter().all(|p| (p.v - 1.0 / 15.0).abs() < 1e-9), "{:?}", &m[0].samples[..3]);
    let r = e.range_query(&s, "count_over_time(c_total[1d])", start, end, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert!(m[0].samples.iter().all(|p| p.v == 5760.0));
}

#[test]
fn vector_matching_on_group_left_and_set_operators() {
    let s = store(&[
        (&[("__name__", "req"), ("job", "a"), ("code", "200")], 60_000, &[Some(10.0)]),
        (&[("__name__", "req"), ("job", "a"), ("code", "500")], 60_000, &[Some(2.0)]),
        (&[("__name__", "req"), ("job", "b"), ("code", "200")], 60_000, &[Some(4.0)]),
        (&[("__name__", "tot"), ("job", "a")], 60_000, &[Some(12.0)]),
        (&[("__name__", "info"), ("job", "a"), ("team", "x")], 60_000, &[Some(1.0)]),
    ]);
    let e = engine();
    let r = vector(e.instant_query(&s, "req / on(job) group_left tot", 0).unwrap());
    assert_eq!(r.len(), 2);
    assert!((r[0].1 - 10.0 / 12.0).abs() < 1e-12 && r[0].0 == r#"{code="200", job="a"}"#);
    let r = vector(e.instant_query(&s, "req * on(job) group_left(team) info", 0).unwrap());
    assert!(r.iter().all(|x| x.0.contains(r#"team="x""#)), "{r:?}");
    // Many-to-one without group_left is an error.
    let err = e.instant_query(&s, "req / on(job) tot", 0).unwrap_err();
    assert!(err.to_string().contains("many-to-one matching must be explicit"), "{err}");
    assert_eq!(vector(e.instant_query(&s, "req and on(job) tot", 0).unwrap()).len(), 2);
    assert_eq!(vector(e.instant_query(&s, "req unless on(job) tot", 0).unwrap()).len(), 1);
    assert_eq!(vector(e.instant_query(&s, "tot or on(job) req", 0).unwrap()).len(), 2);
}

#[test]
fn aggregations_with_parameters() {
    let s = http();
    let e = engine();
    let r = e.instant_query(&s, "topk(2, http_requests_total)", 600_000).unwrap();
    let Value::Vector(v) = r.value else { panic!() };
    assert_eq!(v.iter().map(|x| x.v).collect::<Vec<_>>(), vec![200.0, 100.0], "topk is ordered");
    let r = vector(e.instant_query(&s, "quantile(0.5, http_requests_total)", 600_000).unwrap());
    assert_eq!(r[0].1, 100.0);
    let r = vector(e.instant_query(&s, r#"count_values("v", http_requests_total)"#, 600_000).unwrap());
    assert_eq!(r.len(), 3);
    assert!(r.iter().any(|x| x.0 == r#"{v="5"}"#));
    let r = vector(e.instant_query(&s, "stddev(http_requests_total)", 600_000).unwrap());
    assert!((r[0].1 - 79.61713941664125).abs() < 1e-9, "{r:?}");
    let r = e.instant_query(&s, "quantile(2, http_requests_total)", 600_000).unwrap();
    assert_eq!(r.warnings.len(), 1, "out-of-range quantile warns");
}

#[test]
fn label_functions_absent_and_histogram_quantile() {
    let s = store(&[
        (&[("__name__", "h_bucket"), ("le", "1")], 60_000, &[Some(10.0)]),
        (&[("__name__", "h_bucket"), ("le", "2")], 60_000, &[Some(20.0)]),
        (&[("__name__", "h_bucket"), ("le", "+Inf")], 60_000, &[Some(20.0)]),
        (&[("__name__", "up"), ("instance", "a:9090")], 60_000, &[Some(1.0)]),
    ]);
    let e = engine();
    let r = vector(e.instant_query(&s, "histogram_quantile(0.75, h_bucket)", 0).unwrap());
    assert_eq!(r, vec![("{}".to_string(), 1.5)]);
    let r = vector(e.instant_query(&s, r#"label_replace(up, "host", "$1", "instance", "(.*):.*")"#, 0).unwrap());
    assert_eq!(r[0].0, r#"up{host="a", instance="a:9090"}"#);
    let r = vector(e.instant_query(&s, r#"label_join(up, "x", "-", "instance", "__name__")"#, 0).unwrap());
    assert_eq!(r[0].0, r#"up{instance="a:9090", x="a:9090-up"}"#);
    let r = vector(e.instant_query(&s, r#"absent(nope{job="j"})"#, 0).unwrap());
    assert_eq!(r, vec![(r#"{job="j"}"#.to_string(), 1.0)]);
    assert!(vector(e.instant_query(&s, "absent(up)", 0).unwrap()).is_empty());
    let r = vector(e.instant_query(&s, "clamp(up * 5, 2, 3)", 0).unwrap());
    assert_eq!(r[0].1, 3.0);
}

#[test]
fn subqueries_and_at_start_end() {
    let s = store(&[(&[("__name__", "m")], 60_000, &ramp(11, 0.0, 1.0))]);
    let e = engine();
    // Inner steps at 6m..10m (left-open 5m window).
    let r = vector(e.instant_query(&s, "sum_over_time(m[5m:1m])", 600_000).unwrap());
    assert_eq!(r[0].1, 6.0 + 7.0 + 8.0 + 9.0 + 10.0);
    let r = vector(e.instant_query(&s, "max_over_time(rate(m[2m])[5m:1m])", 600_000).unwrap());
    assert!((r[0].1 - 1.0 / 60.0).abs() < 1e-12);
    let r = e.range_query(&s, "m @ end()", 0, 300_000, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert!(m[0].samples.iter().all(|p| p.v == 5.0), "{m:?}");
    let r = e.range_query(&s, "m @ start()", 120_000, 300_000, 60_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!() };
    assert!(m[0].samples.iter().all(|p| p.v == 2.0));
}

#[test]
fn timeout_and_time_functions() {
    let s = http();
    let e = Engine::new(EngineOptions { timeout: std::time::Duration::ZERO, ..Default::default() });
    let err = e.instant_query(&s, "http_requests_total", 0).unwrap_err();
    assert_eq!(err.error_type(), "timeout");
    let e = engine();
    // 2024-02-29T13:45:00Z
    let t = 1_709_214_300_000;
    assert_eq!(vector(e.instant_query(&s, "month()", t).unwrap())[0].1, 2.0);
    assert_eq!(vector(e.instant_query(&s, "days_in_month()", t).unwrap())[0].1, 29.0);
    assert_eq!(vector(e.instant_query(&s, "hour()", t).unwrap())[0].1, 13.0);
    assert_eq!(scalar(e.instant_query(&s, "time()", t).unwrap()), 1_709_214_300.0);
}

/// Many generated queries over awkward data: every one must return a value or
/// a clean error, never an internal error (a caught panic).
#[test]
fn generated_queries_never_panic() {
    let s = store(&[
        (
            &[("__name__", "a"), ("x", "1")],
            30_000,
            &[Some(1.0), Some(f64::NAN), None, Some(STALE_NAN), Some(-3.0), Some(f64::INFINITY), Some(2.0)],
        ),
        (&[("__name__", "a"), ("x", "2")], 30_000, &[Some(0.0), Some(0.0), Some(5.0)]),
        (&[("__name__", "b_bucket"), ("le", "0.5")], 30_000, &[Some(1.0), Some(2.0), Some(1.0)]),
        (&[("__name__", "b_bucket"), ("le", "+Inf")], 30_000, &[Some(2.0), Some(2.0), Some(f64::NAN)]),
    ]);
    let vecs =
        ["a", "a{x=\"1\"}", "b_bucket", "-a", "(a > 1)", "sum(a)", "vector(1)", "absent(z)", "a @ 60", "a offset -1m"];
    let ranges = ["a[1m]", "a[5m:30s]", "b_bucket[2m]", "a[10s]", "sum(a)[3m:1m] offset 1m"];
    let funcs_v = ["abs", "ceil", "sqrt", "ln", "sgn", "timestamp", "sort", "sort_desc", "scalar", "hour", "absent"];
    let funcs_r = [
        "rate",
        "irate",
        "increase",
        "delta",
        "idelta",
        "deriv",
        "resets",
        "changes",
        "avg_over_time",
        "stddev_over_time",
        "mad_over_time",
        "ts_of_max_over_time",
        "absent_over_time",
        "present_over_time",
        "last_over_time",
    ];
    let aggs = ["sum", "avg", "min", "max", "count", "stddev", "group"];
    let mut queries: Vec<String> = Vec::new();
    for v in vecs {
        for f in funcs_v {
            queries.push(format!("{f}({v})"));
        }
        for a in aggs {
            queries.push(format!("{a} by (x) ({v})"));
            queries.push(format!("{a} without (le) ({v})"));
        }
        for w in vecs {
            queries.push(format!("{v} + on(x) group_left {w}"));
            queries.push(format!("{v} / ignoring(le) {w}"));
            queries.push(format!("{v} or {w}"));
            queries.push(format!("{v} unless on() {w}"));
            queries.push(format!("{v} >= bool {w}"));
        }
        queries.push(format!("topk(1, {v})"));
        queries.push(format!("bottomk(scalar({v}), {v})"));
        queries.push(format!("quantile(0.3, {v})"));
        queries.push(format!("count_values(\"c\", {v})"));
        queries.push(format!("limitk(1, {v})"));
        queries.push(format!("limit_ratio(0.5, {v})"));
        queries.push(format!("histogram_quantile(0.9, {v})"));
        queries.push(format!("histogram_fraction(0, 0.7, {v})"));
        queries.push(format!("label_replace({v}, \"y\", \"$1\", \"x\", \"(.*)\")"));
        queries.push(format!("clamp({v}, 1, 0)"));
        queries.push(format!("round({v}, 0)"));
    }
    for r in ranges {
        for f in funcs_r {
            queries.push(format!("{f}({r})"));
        }
        queries.push(format!("quantile_over_time(2, {r})"));
        queries.push(format!("predict_linear({r}, 60)"));
        queries.push(format!("double_exponential_smoothing({r}, 0.5, 0.5)"));
        queries.push(r.to_string());
    }
    let e = engine();
    let mut n = 0;
    // Every step of a range query must equal the instant query at that time.
    for q in &queries {
        let Ok(r) = e.range_query(&s, q, -60_000, 240_000, 30_000) else { continue };
        let Value::Matrix(m) = r.value else { panic!("{q}: range query must give a matrix") };
        for k in 0..11 {
            let t = -60_000 + k * 30_000;
            let mut from_range: Vec<(String, f64)> = m
                .iter()
                .filter_map(|ser| ser.samples.iter().find(|p| p.t == t).map(|p| (ser.labels.to_string(), p.v)))
                .collect();
            from_range.sort_by(|a, b| a.0.cmp(&b.0));
            let inst = match e.instant_query(&s, q, t) {
                Ok(r) => match r.value {
                    Value::Vector(_) => vector(r),
                    Value::Scalar { v, .. } => vec![("{}".to_string(), v)],
                    other => panic!("{q}: unexpected {other:?}"),
                },
                Err(err) => panic!("{q} at {t}: instant failed ({err}) but range succeeded"),
            };
            let same = inst.len() == from_range.len()
                && inst
                    .iter()
                    .zip(&from_range)
                    .all(|(a, b)| a.0 == b.0 && (a.1 == b.1 || (a.1.is_nan() && b.1.is_nan())));
            assert!(same, "{q} at {t}: instant {inst:?} != range {from_range:?}");
        }
    }
    for q in &queries {
        for (start, end, step) in [(0, 0, 1), (-60_000, 240_000, 30_000), (90_000, 95_000, 1_000)] {
            let r = if start == end { e.instant_query(&s, q, start) } else { e.range_query(&s, q, start, end, step) };
            if let Err(QueryError::Execution(m)) = &r {
                assert!(!m.contains("internal error"), "{q} at {start}..{end}: {m}");
            }
            n += 1;
        }
    }
    assert!(n > 500);
}

#[test]
fn parse_errors_carry_positions_when_known() {
    let e = parse("rate(x[5m)").unwrap_err();
    assert_eq!(e.position, Some(9), "{e}");
    let e = parse("sum(rate(x[5m])").unwrap_err();
    assert_eq!(e.position, Some(3));
    let e = parse("foo(x)").unwrap_err();
    assert_eq!(e.position, Some(0));
    assert_eq!(e.to_string(), e.message);
    let e = parse(r#"x{a="b""#).unwrap_err();
    assert_eq!(e.position, Some(7));
}

#[test]
fn long_string_literals_are_not_mistaken_for_deep_queries() {
    let s = http();
    let e = engine();
    // Thousands of `-`, `/` and words inside a regex are fine...
    let alts: Vec<String> = (0..3000).map(|i| format!("/api/v1/item-{i} x")).collect();
    let q = format!(r#"http_requests_total{{job=~"{}"}}"#, alts.join("|"));
    assert!(e.instant_query(&s, &q, 600_000).is_ok());
    // ...but that many operators outside strings are refused.
    let q = vec!["http_requests_total"; 2000].join(" - ");
    assert_eq!(e.instant_query(&s, &q, 600_000).unwrap_err().error_type(), "bad_data");
}

#[test]
fn deepest_accepted_queries_fit_a_small_thread_stack() {
    // Tokio's blocking threads have 2 MiB stacks; the deepest query we accept must fit.
    let handle = std::thread::Builder::new()
        .stack_size(2 * 1024 * 1024)
        .spawn(|| {
            let s = http();
            let e = engine();
            let chain = vec!["http_requests_total"; MAX_EXPR_DEPTH].join(" + ");
            let r1 = e.range_query(&s, &chain, 0, 600_000, 60_000).map(|_| ());
            let nested = format!("{}http_requests_total{}", "abs(".repeat(190), ")".repeat(190));
            let r2 = e.instant_query(&s, &nested, 600_000).map(|_| ());
            let sub = format!("{}http_requests_total{}", "max_over_time((".repeat(60), ")[2m:1m])".repeat(60));
            let r3 = e.instant_query(&s, &sub, 600_000).map(|_| ());
            // Just shallow enough to run on the caller's stack.
            let edge = format!("{}http_requests_total{}", "max_over_time((abs(".repeat(4), "))[2m:1m])".repeat(4));
            let parsed = parse(&edge).expect("parses");
            assert!(expr_depth(&parsed, 0) <= 24);
            e.instant_query_expr(&s, &parsed, 600_000).expect("evaluates inline");
            (r1.is_ok(), r2.is_ok(), r3.map_err(|e| e.to_string()))
        })
        .unwrap();
    let (a, b, c) = handle.join().expect("no stack overflow");
    assert!(a && b, "deep chains evaluate");
    assert!(c.is_ok(), "{c:?}");
}

#[test]
fn info_adds_target_info_labels() {
    let s = store(&[
        (&[("__name__", "up"), ("instance", "a"), ("job", "j")], 60_000, &[Some(1.0), Some(1.0)]),
        (&[("__name__", "up"), ("instance", "b"), ("job", "j")], 60_000, &[Some(0.0), Some(0.0)]),
        (
            &[("__name__", "target_info"), ("instance", "a"), ("job", "j"), ("region", "eu")],
            60_000,
            &[Some(1.0), Some(1.0)],
        ),
    ]);
    let e = engine();
    let r = vector(e.instant_query(&s, "info(up)", 60_000).unwrap());
    assert_eq!(
        r,
        vec![
            (r#"up{instance="a", job="j", region="eu"}"#.to_string(), 1.0),
            (r#"up{instance="b", job="j"}"#.to_string(), 0.0)
        ]
    );
    // A data matcher that needs a value drops series without an info match.
    let r = vector(e.instant_query(&s, r#"info(up, {region=~".+"})"#, 60_000).unwrap());
    assert_eq!(r.len(), 1);
}

#[test]
fn sparse_steps_read_only_their_windows() {
    // 30 days of a counter scraped every 15 s: 172,800 samples.
    let n = 30 * 86_400 / 15;
    let s = store(&[(&[("__name__", "c_total")], 15_000, &ramp(n, 0.0, 1.0))]);
    // Far fewer samples than the series holds: only the 5 m windows at 1 h steps fit.
    let e = Engine::new(EngineOptions { max_samples: 50_000, ..Default::default() });
    let end = 30 * 86_400_000 - 3_600_000;
    let r = e.range_query(&s, "rate(c_total[5m])", 3_600_000, end, 3_600_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert_eq!(m[0].samples.len(), 719);
    assert!(m[0].samples.iter().all(|p| (p.v - 1.0 / 15.0).abs() < 1e-9));
    let r = e.range_query(&s, "c_total", 3_600_000, end, 3_600_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    assert_eq!(m[0].samples[0].v, 240.0);
    // Overlapping windows are one read: the whole month does not fit.
    assert!(matches!(
        e.range_query(&s, "rate(c_total[2h])", 3_600_000, end, 3_600_000),
        Err(QueryError::TooManySamples)
    ));
}

#[test]
fn topk_breaks_ties_as_prometheus_heap_does() {
    // In label order: 1, 2, 2, 5, 3. Prometheus's heap ends up keeping the
    // second 2 (a stable sort would keep the first).
    let vals = [1.0, 2.0, 2.0, 5.0, 3.0];
    let names: Vec<String> = (0..vals.len()).map(|i| i.to_string()).collect();
    let labels: Vec<[(&str, &str); 2]> = names.iter().map(|n| [("__name__", "m"), ("s", n.as_str())]).collect();
    let one: Vec<[Option<f64>; 1]> = vals.iter().map(|&v| [Some(v)]).collect();
    let series: Vec<TestSeries> = labels.iter().zip(&one).map(|(l, v)| (&l[..], 60_000, &v[..])).collect();
    let s = store(&series);
    let r = engine().instant_query(&s, "topk(3, m)", 0).unwrap();
    let Value::Vector(v) = r.value else { panic!("vector expected") };
    let picked: Vec<(&str, f64)> = v.iter().map(|x| (x.labels.get("s").unwrap_or(""), x.v)).collect();
    assert_eq!(picked, vec![("3", 5.0), ("4", 3.0), ("2", 2.0)]);
    // bottomk: the heap's root is the largest kept value.
    let r = engine().instant_query(&s, "bottomk(2, m)", 0).unwrap();
    let Value::Vector(v) = r.value else { panic!("vector expected") };
    assert_eq!(v.iter().map(|x| x.v).collect::<Vec<_>>(), vec![1.0, 2.0]);
}

#[test]
fn rate_adds_reset_corrections_in_prometheus_order() {
    // A float counter with several resets: the window's corrections must be
    // added one by one to (last - first), bit for bit as Prometheus does.
    let vals: Vec<Option<f64>> = (0..200)
        .map(|i| {
            let x = (i % 37) as f64 * 0.1 + (i / 37) as f64 * 0.01;
            Some(x + 0.3)
        })
        .collect();
    let s = store(&[(&[("__name__", "c_total")], 15_000, &vals)]);
    let r = engine().range_query(&s, "increase(c_total[20m])", 1_200_000, 2_985_000, 15_000).unwrap();
    let Value::Matrix(m) = r.value else { panic!("matrix expected") };
    let samples: Vec<(i64, f64)> =
        vals.iter().enumerate().map(|(i, v)| (i as i64 * 15_000, v.unwrap_or(0.0))).collect();
    let mut checked = 0;
    for p in &m[0].samples {
        let w: Vec<(i64, f64)> = samples.iter().copied().filter(|&(t, _)| t > p.t - 1_200_000 && t <= p.t).collect();
        let mut result = w[w.len() - 1].1 - w[0].1;
        for k in 1..w.len() {
            if w[k].1 < w[k - 1].1 {
                result += w[k - 1].1;
            }
        }
        // Whole window covered: extrapolation only to the window edges.
        let (first, last) = (w[0], w[w.len() - 1]);
        let sampled = (last.0 - first.0) as f64 / 1000.0;
        let avg = sampled / (w.len() - 1) as f64;
        let mut to_start = (first.0 - (p.t - 1_200_000)) as f64 / 1000.0;
        let mut to_end = (p.t - last.0) as f64 / 1000.0;
        if to_start >= avg * 1.1 {
            to_start = avg / 2.0;
        }
        if result > 0.0 && first.1 >= 0.0 {
            to_start = to_start.min(sampled * (first.1 / result));
        }
        if to_end >= avg * 1.1 {
            to_end = avg / 2.0;
        }
        let want = result * ((sampled + to_start + to_end) / sampled);
        assert_eq!(p.v.to_bits(), want.to_bits(), "at {}: {} vs {}", p.t, p.v, want);
        checked += 1;
    }
    assert!(checked > 100);
}

#[test]
fn store_streaming_gives_the_same_answers_as_the_collected_path() {
    // The same samples in the SQLite store (partly compacted into blocks,
    // partly head chunks: read one series at a time) and in a MemStore
    // (collected): every query must agree bit for bit.
    use crate::tsdb::testdata::Synthetic;
    use crate::tsdb::{Db, Options};
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { block_span: std::time::Duration::from_secs(3600), ..Options::default() };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let mem = MemStore::new();
    let mut syn = Synthetic::new(7, 120);
    let mut vals = Vec::new();
    let t0 = 1_700_000_000_000i64;
    let scrapes = 4 * 240; // 4 h at 15 s
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let t = t0 + k as i64 * 15_000 + 125;
        let (mut a, mut b) = (db.appender(), mem.appender());
        for (i, (labels, &v)) in syn.labels.iter().zip(&vals).enumerate() {
            // A gap and a stale marker in a few series.
            if i % 17 == 3 && (300..320).contains(&k) {
                continue;
            }
            let v = if i % 13 == 5 && k == 400 { STALE_NAN } else { v };
            a.append(labels, t, v).unwrap();
            b.append(labels, t, v).unwrap();
        }
        a.commit().unwrap();
        b.commit().unwrap();
        if k == 700 {
            db.flush().unwrap();
            db.compact_all().unwrap();
        }
    }
    db.flush().unwrap();
    let queries = [
        "sum by (job) (rate(http_requests_total[5m]))",
        "rate(http_requests_total[5m])",
        "increase(http_requests_total{job=~\"node|db\", series!=\"3\"}[1h])",
        "histogram_quantile(0.9, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))",
        "avg_over_time(node_hwmon_temp_celsius[10m])",
        "max_over_time(process_resident_memory_bytes[30m])",
        "topk(3, rate(node_cpu_seconds_total[5m]))",
        "count by (job) (open_connections > 5)",
        "open_connections",
        "last_over_time(open_connections[2m])",
        "http_requests_total or open_connections",
        "deriv(node_hwmon_temp_celsius[15m] offset 10m)",
    ];
    let e = engine();
    let (start, end) = (t0 + 1_800_000, t0 + scrapes as i64 * 15_000);
    for q in queries {
        for step in [60_000, 600_000, 3_600_000] {
            let a = e.range_query(&db, q, start, end, step).unwrap();
            let b = e.range_query(&mem, q, start, end, step).unwrap();
            let (Value::Matrix(a), Value::Matrix(b)) = (&a.value, &b.value) else { panic!("{q}: not matrices") };
            assert!(!a.is_empty(), "{q}: empty answer");
            assert_eq!(a.len(), b.len(), "{q} step {step}: series");
            for (x, y) in a.iter().zip(b) {
                assert_eq!(x.labels, y.labels, "{q}");
                let bits = |s: &crate::tsdb::Series| s.samples.iter().map(|p| (p.t, p.v.to_bits())).collect::<Vec<_>>();
                assert_eq!(bits(x), bits(y), "{q} step {step} {}", x.labels);
            }
        }
    }
    // The sample limit holds on the streaming path too.
    let small = Engine::new(EngineOptions { max_samples: 1000, ..EngineOptions::default() });
    let err = small.range_query(&db, "rate(http_requests_total[5m])", start, end, 60_000).unwrap_err();
    assert!(matches!(err, QueryError::TooManySamples), "{err:?}");
    db.close();
}
