//! One test per case of `CASES.md` (shared conformance notes restating
//! Prometheus's textparse tests), plus the upstream sample files.

use super::*;

const T: Format = Format::Text;
const OM: Format = Format::OpenMetrics;

fn ok(f: Format, s: &str) -> Exposition {
    parse(s, f).unwrap_or_else(|e| panic!("{f:?} {s:?} should parse, got: {e}"))
}

fn ok_bytes(f: Format, s: &[u8]) -> Exposition {
    parse_bytes(s, f).unwrap_or_else(|e| panic!("{f:?} {s:?} should parse, got: {e}"))
}

/// Asserts `s` is rejected with a message containing `fragment`.
fn err(f: Format, s: &str, fragment: &str) -> ParseError {
    err_bytes(f, s.as_bytes(), fragment)
}

fn err_bytes(f: Format, s: &[u8], fragment: &str) -> ParseError {
    match parse_bytes(s, f) {
        Ok(e) => panic!("{f:?} {:?} should fail with {fragment:?}, parsed as {e:?}", String::from_utf8_lossy(s)),
        Err(e) => {
            assert!(
                e.message.contains(fragment),
                "{f:?} {:?}: expected {fragment:?} in {e}",
                String::from_utf8_lossy(s)
            );
            e
        }
    }
}

/// The series of every sample, in Prometheus's text form.
fn series(e: &Exposition) -> Vec<String> {
    e.samples.iter().map(|s| s.labels.to_string()).collect()
}

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs.iter().copied())
}

fn meta(family: &str, kind: MetricType, help: &str, unit: &str) -> Metadata {
    Metadata { family: family.into(), kind, help: help.into(), unit: unit.into() }
}

// ---- A. Lines, comments, end of input ----

#[test]
fn case_01_pt_blank_lines_are_skipped() {
    let e = ok(T, "\n\nmetric 1\n\n  \t\nother 2\n\n");
    assert_eq!(series(&e), ["metric{}", "other{}"]);
}

#[test]
fn case_02_pt_free_comments() {
    let e = ok(
        T,
        "# Hrandom comment starting with prefix of HELP\n# comment with escaped \\n newline\n#\n#nospace\n# HELPER x\n# HELP\n# TYPE\nm 1\n",
    );
    assert_eq!(series(&e), ["m{}"]);
    assert!(e.metadata.is_empty());
}

#[test]
fn case_03_loose_hash_spacing_text_only() {
    let e = ok(T, "# \tTYPE name summary\n#\tHELP name  two  spaces\n");
    assert_eq!(e.metadata, [meta("name", MetricType::Summary, " two  spaces", "")]);
    err(OM, "#\tTYPE a counter\n# EOF", "expected \"# HELP \"");
    err(OM, "#  TYPE a counter\n# EOF", "expected \"# HELP \"");
}

#[test]
fn case_04_om_has_no_free_comments() {
    for s in ["# H\n# EOF", "#\n# EOF", "# random comment\n# EOF", "#x\n# EOF"] {
        let e = err(OM, s, "OpenMetrics has no free comments");
        assert_eq!(e.line, 1);
    }
}

#[test]
fn case_05_pt_eof_is_a_comment() {
    let e = ok(T, "a 1\n# EOF\nb 2\n# EOF");
    assert_eq!(series(&e), ["a{}", "b{}"]);
}

#[test]
fn case_06_om_must_end_with_eof() {
    assert_eq!(ok(OM, "# EOF"), Exposition::default());
    assert_eq!(ok(OM, "# EOF\n"), Exposition::default());
    err(OM, "", "data does not end with # EOF");
    let e = err(OM, "metric 1\n", "data does not end with # EOF");
    assert_eq!(e.line, 2);
    err(OM, "metric 1", "data does not end with # EOF");
    err(OM, "# EOF\n\n", "unexpected data after # EOF");
    err(OM, "# EOF\nmetric 1\n", "unexpected data after # EOF");
    err(OM, "# EOFa 1", "unexpected data after # EOF");
}

#[test]
fn case_07_om_no_blank_lines_or_leading_space() {
    for s in ["\n# EOF", " a 1\n# EOF", " # EOF", "9\n# EOF"] {
        err(OM, s, "expected a metric name, '{' or '#' at the start of a line");
    }
    let e = err(OM, "a 1\n\n# EOF", "at the start of a line");
    assert_eq!(e.line, 2);
}

// ---- B. HELP / TYPE / UNIT ----

#[test]
fn case_08_metadata_order_is_free() {
    let e = ok(
        T,
        "# TYPE some_counter_total counter\n# HELP some_counter_total Help after type.\n# HELP other x\nsome_counter_total 1\n",
    );
    assert_eq!(
        e.metadata,
        [
            meta("some_counter_total", MetricType::Counter, "Help after type.", ""),
            meta("other", MetricType::Unknown, "x", "")
        ]
    );
}

#[test]
fn case_09_empty_help_and_unit() {
    let e = ok(T, "# HELP nohelp1\n# HELP nohelp2 \n");
    assert_eq!(
        e.metadata,
        [meta("nohelp1", MetricType::Unknown, "", ""), meta("nohelp2", MetricType::Unknown, "", "")]
    );
    let e = ok(OM, "# HELP nohelp1 \n# UNIT nounit \n# EOF");
    assert_eq!(e.metadata, [meta("nohelp1", MetricType::Unknown, "", ""), meta("nounit", MetricType::Unknown, "", "")]);
    err(OM, "# HELP m\n# EOF", "expected a space and text in HELP");
    err(OM, "# UNIT m\n# EOF", "expected a space and text in UNIT");
}

#[test]
fn case_10_metadata_without_metric_name() {
    err(T, "# TYPE #\n", "expected metric name after TYPE");
    err(T, "# HELP #\n", "expected metric name after HELP");
    err(OM, "# TYPE \n# EOF", "expected metric name after TYPE");
    err(OM, "# HELP \n# EOF", "expected metric name after HELP");
    err(OM, "# UNIT \n# EOF", "expected metric name after UNIT");
    err(OM, "# TYPE m\n# EOF", "expected a space and text in TYPE");
}

#[test]
fn case_11_allowed_type_words() {
    for (word, kind) in [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("summary", MetricType::Summary),
        ("untyped", MetricType::Unknown),
    ] {
        assert_eq!(ok(T, &format!("# TYPE m {word}\n")).metadata[0].kind, kind, "{word}");
    }
    for word in ["gaugehistogram", "unknown", "info", "Counter", "counter ", ""] {
        err(T, &format!("# TYPE m {word}x\n").replace("x\n", "\n"), "invalid metric type");
    }
    for (word, kind) in [
        ("counter", MetricType::Counter),
        ("gauge", MetricType::Gauge),
        ("histogram", MetricType::Histogram),
        ("gaugehistogram", MetricType::GaugeHistogram),
        ("summary", MetricType::Summary),
        ("info", MetricType::Info),
        ("stateset", MetricType::StateSet),
        ("unknown", MetricType::Unknown),
    ] {
        assert_eq!(ok(OM, &format!("# TYPE m {word}\n# EOF")).metadata[0].kind, kind, "{word}");
    }
    err(OM, "# TYPE m untyped\n# EOF", "invalid metric type \"untyped\"");
    err(OM, "# TYPE c counter \n# EOF", "invalid metric type \"counter \"");
    err(OM, "# TYPE c  counter\n# EOF", "invalid metric type \" counter\"");
}

#[test]
fn case_12_om_unit_must_be_a_name_suffix() {
    let e = ok(OM, "# UNIT go_gc_duration_seconds seconds\n# EOF");
    assert_eq!(e.metadata, [meta("go_gc_duration_seconds", MetricType::Unknown, "", "seconds")]);
    for s in ["# UNIT metric suffix\n# EOF", "# UNIT metricsuffix suffix\n# EOF", "# UNIT m suffix\n# EOF"] {
        err(OM, s, "unit \"suffix\" is not a suffix of metric");
    }
}

#[test]
fn case_13_help_escaping() {
    let input = r#"# HELP help2 escape \ \n \\ \" \x chars"#;
    let e = ok(T, &format!("{input}\n"));
    assert_eq!(e.metadata[0].help, "escape \\ \n \\ \\\" \\x chars");
    let e = ok(OM, &format!("{input}\n# EOF"));
    assert_eq!(e.metadata[0].help, "escape \\ \n \\ \" \\x chars");
}

#[test]
fn case_14_odd_bytes_in_help() {
    assert_eq!(ok(T, "# HELP metric foo\0bar\n").metadata[0].help, "foo\0bar");
    assert_eq!(ok(OM, "# HELP metric foo\0bar\n# EOF").metadata[0].help, "foo\0bar");
    err_bytes(T, b"# HELP metric foo\xffbar\n", "invalid UTF-8 in HELP text");
    // Free comments may hold anything.
    assert_eq!(ok_bytes(T, b"# comment \xff\nm 1\n").samples.len(), 1);
}

#[test]
fn case_15_samples_need_not_match_last_type() {
    let e = ok(T, "# TYPE x histogram\nwind_speed{A=\"2\",c=\"3\"} 12345\n");
    assert_eq!(e.samples[0].labels, labels(&[("__name__", "wind_speed"), ("A", "2"), ("c", "3")]));
    assert_eq!(e.samples[0].value, 12345.0);
}

// ---- C. Names and label sets ----

#[test]
fn case_16_legacy_names() {
    let body = "some:aggregate:rate5m{a_b=\"c\"} 1\n_metric_starting_with_underscore{_label_starting_with_underscore=\"x\"} 2\n";
    for f in [T, OM] {
        let b = if f == OM { format!("{body}# EOF") } else { body.to_string() };
        let e = ok(f, &b);
        assert_eq!(
            series(&e),
            [
                r#"some:aggregate:rate5m{a_b="c"}"#,
                r#"_metric_starting_with_underscore{_label_starting_with_underscore="x"}"#
            ]
        );
    }
    err(T, "1metric 1\n", "at the start of a line");
    err(T, "a{1b=\"c\"} 1\n", "expected label name");
    err(T, "a{b:c=\"c\"} 1\n", "expected '='");
}

#[test]
fn case_17_empty_braces() {
    assert_eq!(ok(T, "metric{} 1\n").samples[0].labels, labels(&[("__name__", "metric")]));
    assert_eq!(ok(OM, "metric{} 1\n# EOF").samples[0].labels, labels(&[("__name__", "metric")]));
}

#[test]
fn case_18_trailing_comma() {
    let want = labels(&[("__name__", "go_gc_duration_seconds"), ("quantile", "0.25")]);
    assert_eq!(ok(T, "go_gc_duration_seconds{quantile=\"0.25\",} 7.4e-05\n").samples[0].labels, want);
    assert_eq!(ok(OM, "go_gc_duration_seconds{quantile=\"0.25\",} 7.4e-05\n# EOF").samples[0].labels, want);
}

#[test]
fn case_19_whitespace_inside_braces() {
    let e = ok(T, "go_gc_duration_seconds { quantile = \"1.0\", a = \"b\" } 8.3835e-05\n");
    assert_eq!(e.samples[0].labels, labels(&[("__name__", "go_gc_duration_seconds"), ("quantile", "1.0"), ("a", "b")]));
    assert_eq!(e.samples[0].value, 8.3835e-05);
    let e = ok(T, "go_gc_duration_seconds { quantile = \"2.0\" a = \"b\" } 1\n");
    assert_eq!(e.samples[0].labels, labels(&[("__name__", "go_gc_duration_seconds"), ("quantile", "2.0"), ("a", "b")]));
    err(OM, "a{b=\"c\",d=\"e\" } 1\n# EOF", "expected ',' or '}'");
    err(OM, "a{b=\"c\", d=\"e\"} 1\n# EOF", "expected label name");
    err(OM, "a {b=\"c\"} 1\n# EOF", "invalid value \"{b=\\\"c\\\"}\"");
    err(OM, "a{b=\"c\"d=\"e\"} 1\n# EOF", "expected ',' or '}' after label value");
}

#[test]
fn case_20_stray_commas() {
    for f in [T, OM] {
        err(f, "a{,b=\"c\"} 1\n# EOF", "expected label name");
        err(f, "a{b=\"c\",,d=\"e\"} 1\n# EOF", "expected label name");
    }
}

#[test]
fn case_21_label_values_must_be_double_quoted() {
    for f in [T, OM] {
        err(f, "a{b='c'} 1\n# EOF", "expected label value");
        err(f, "a{b=\n", "expected label value");
        err(f, "something_weird{problem=\"", "expected label value");
        err(f, "a{b=c} 1\n# EOF", "expected label value");
    }
}

#[test]
fn case_22_label_value_escaping() {
    for f in [T, OM] {
        let e = ok(f, "testmetric{label=\"\\\"bar\\\"\"} 1\n# EOF");
        assert_eq!(e.samples[0].labels.get("label"), Some("\"bar\""));
        let e = ok(f, &format!("{}\n# EOF", r#"m{a="x\\y\nz\q\"w"} 1"#));
        assert_eq!(e.samples[0].labels.get("a"), Some("x\\y\nz\\q\"w"));
    }
}

#[test]
fn case_23_invalid_utf8() {
    for f in [T, OM] {
        err_bytes(f, b"a{b=\"\xff\"} 1\n# EOF", "invalid UTF-8 label value");
        err_bytes(f, b"a{\xff=\"foo\"} 1\n# EOF", "expected label name");
    }
}

#[test]
fn case_24_nul_bytes() {
    for f in [T, OM] {
        let e = ok(f, "null_byte_metric{a=\"abc\0\"} 1\na{b=\"\0\"} 1\n# EOF");
        assert_eq!(e.samples[0].labels.get("a"), Some("abc\0"));
        assert_eq!(e.samples[1].labels.get("b"), Some("\0"));
        err(f, "a\0 1\n# EOF", "found a NUL byte");
        err(f, "a{b\0=\"c\"} 1\n# EOF", "found a NUL byte");
        err(f, "a{b=\0\"c\"} 1\n# EOF", "expected label value");
        err(f, "a 1 123\0\n# EOF", "NUL byte");
        err(f, "a{\"b\0\"=\"c\"} 1\n# EOF", "expected label name");
    }
    err(T, "\0a 1\n", "at the start of a line");
}

#[test]
fn case_25_empty_and_bare_label_names() {
    for f in [T, OM] {
        err(f, "empty_label_name{=\"\"} 0\n# EOF", "expected label name");
        err(f, "{A}0\n# EOF", "expected '='");
        err(f, "{A} 0\n# EOF", "expected '='");
        err(f, "{\"\"=\"x\",\"m\"} 0\n# EOF", "label name is empty");
    }
}

#[test]
fn case_26_missing_metric_name() {
    for f in [T, OM] {
        err(f, "{a=\"ok\"} 1\n# EOF", "metric name not set");
        err(f, "{b=\"c\",} 1\n# EOF", "metric name not set");
        err(f, "{\"\"} 1\n# EOF", "metric name is empty");
    }
}

#[test]
fn case_27_duplicate_label_names_reject_the_body() {
    for f in [T, OM] {
        let e = err(
            f,
            "test_metric{le=\"500\"} 1\ntest_metric{le=\"600\",le=\"700\"} 1\n# EOF",
            "label name \"le\" is not unique",
        );
        assert_eq!(e.line, 2);
        err(f, "a{__name__=\"b\"} 1\n# EOF", "label name \"__name__\" is not unique");
        err(f, "{\"a\",x=\"1\",\"x\"=\"2\"} 1\n# EOF", "label name \"x\" is not unique");
    }
}

#[test]
fn case_28_quoted_metric_names() {
    for f in [T, OM] {
        let body = "# HELP \"go.gc_duration_seconds\" A summary.\n# TYPE \"go.gc_duration_seconds\" summary\n\
                    {\"go.gc_duration_seconds\",quantile=\"0\"} 4.9e-05\n\
                    {q=\"0.9\",\"http.status\",a=\"b\"} 1\n{\"http.status\",q=\"0.9\",a=\"b\"} 2\n# EOF";
        let e = ok(f, body);
        assert_eq!(e.metadata, [meta("go.gc_duration_seconds", MetricType::Summary, "A summary.", "")]);
        assert_eq!(e.samples[0].labels, labels(&[("__name__", "go.gc_duration_seconds"), ("quantile", "0.0")]));
        assert_eq!(e.samples[1].labels, e.samples[2].labels);
        assert_eq!(e.samples[1].labels.metric_name(), Some("http.status"));
        err(f, "{\"a\",\"b\"} 1\n# EOF", "metric name already set");
        err(f, "a{\"b\"} 1\n# EOF", "metric name already set");
    }
    let e = ok(OM, "# UNIT \"go.gc_duration_seconds\" seconds\n# EOF");
    assert_eq!(e.metadata[0].unit, "seconds");
}

#[test]
fn case_29_quoted_label_names_with_escapes() {
    let line = r#"{"Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}","strange©™\n'quoted' \"name\""="6"} 10.0"#;
    for f in [T, OM] {
        let e = ok(f, &format!("{line}\n# EOF"));
        assert_eq!(
            e.samples[0].labels,
            labels(&[
                ("__name__", "Heizölrückstoßabdämpfung 10€ metric with \"interesting\" {character\nchoices}"),
                ("strange©™\n'quoted' \"name\"", "6"),
            ])
        );
        assert_eq!(e.samples[0].value, 10.0);
    }
}

#[test]
fn case_30_broken_quoting() {
    err(T, "{\"a\", \"b = \"c\"}\n", "expected '='");
    err(OM, "{\"a\", \"b = \"c\"}\n# EOF", "expected label name");
    for f in [T, OM] {
        err(f, "{\"a\",b\\nc=\"d\"} 1\n# EOF", "expected '='");
    }
}

#[test]
fn case_31_dotted_names_are_accepted_by_the_parser() {
    let e = ok(T, "{\"my.metric\", \"label.name\"=\"v\"} 1\n");
    assert_eq!(e.samples[0].labels, labels(&[("__name__", "my.metric"), ("label.name", "v")]));
    let e = ok(OM, "{\"my.metric\",\"label.name\"=\"v\"} 1\n# EOF");
    assert_eq!(e.samples[0].labels, labels(&[("__name__", "my.metric"), ("label.name", "v")]));
}

// ---- D. Values ----

#[test]
fn case_32_accepted_values() {
    let cases = [
        ("4.9351e-05", 4.9351e-05),
        ("7.424100000000001e-05", 7.424100000000001e-05),
        ("17", 17.0),
        ("1.0", 1.0),
        ("+Inf", f64::INFINITY),
        ("-Inf", f64::NEG_INFINITY),
        ("Inf", f64::INFINITY),
    ];
    for f in [T, OM] {
        for (v, want) in cases {
            assert_eq!(ok(f, &format!("m {v}\n# EOF")).samples[0].value, want, "{v}");
        }
        for v in ["NaN", "nan"] {
            let got = ok(f, &format!("m {v}\n# EOF")).samples[0].value;
            assert_eq!(got.to_bits(), NORMAL_NAN_BITS, "{v}");
            assert!(!crate::tsdb::is_stale_nan(got));
        }
    }
}

#[test]
fn case_33_rejected_values() {
    for f in [T, OM] {
        for s in ["foo 1_2", "foo 0x1p-3", "foo 0x1P-3"] {
            err(f, &format!("{s}\n# EOF"), "unsupported character in float");
        }
        err(f, "a true\n# EOF", "invalid value \"true\": not a number");
        err(f, "a 1z\n# EOF", "invalid value \"1z\"");
    }
}

#[test]
fn case_34_missing_value() {
    err(T, "a\n", "expected value after metric, found end of line");
    err(T, "a", "expected value after metric, found end of input");
    err(OM, "a\t1\n# EOF", "found a tab");
    err(OM, "a  1\n# EOF", "expected a single space and the value after metric");
    err(OM, "a\n# EOF", "expected a single space and the value after metric");
}

// ---- E. Timestamps ----

#[test]
fn case_35_text_timestamps_are_integer_ms() {
    let e = ok(T, "go_goroutines 33  \t123123\n");
    assert_eq!((e.samples[0].value, e.samples[0].timestamp_ms), (33.0, Some(123123)));
    assert_eq!(ok(T, "b 2").samples[0].timestamp_ms, None);
    err(T, "foo 0 1_2\n", "expected end of line after timestamp");
    err(T, "foo 0 1.5\n", "expected end of line after timestamp");
    err(T, "foo 0 -5\n", "expected timestamp");
    err(T, "foo 0 99999999999999999999\n", "out of range");
}

#[test]
fn case_36_om_timestamps_are_float_seconds() {
    let e = ok(OM, "go_goroutines 33 123.123\nfoo_total 17.0 1520879607.789\nneg 1 -1.5\n# EOF");
    let ts: Vec<_> = e.samples.iter().map(|s| s.timestamp_ms).collect();
    assert_eq!(ts, [Some(123123), Some(1520879607789), Some(-1500)]);
    for s in ["a 1 NaN", "a 1 Inf", "a 1 -Inf"] {
        err(OM, &format!("{s}\n# EOF"), "invalid timestamp");
    }
    err(OM, "a 1\t2\n# EOF", "invalid value \"1\\t2\"");
    err(OM, "a 1 2 \n# EOF", "expected end of line or exemplar after timestamp");
    err(OM, "a 1 2 #\n# EOF", "expected end of line or exemplar");
    err(OM, "a 1 1 1\n# EOF", "expected end of line or exemplar after timestamp");
    err(OM, "a 1 1e300\n# EOF", "out of range");
}

#[test]
fn case_37_same_series_repeated_is_returned_each_time() {
    let e = ok(T, "test_metric 1\ntest_metric 2\ntest_metric 3\n");
    assert_eq!(e.samples.iter().map(|s| s.value).collect::<Vec<_>>(), [1.0, 2.0, 3.0]);
    let e = ok(T, "test_metric 1 1001\ntest_metric 2 1002\ntest_metric 3 1003\n");
    assert_eq!(e.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), [Some(1001), Some(1002), Some(1003)]);
}

// ---- F. Exemplars ----

#[test]
fn case_38_exemplar_syntax() {
    let e = ok(
        OM,
        "# TYPE hhh histogram\nhhh_bucket{le=\"+Inf\"} 1 # {id=\"histogram-bucket-test\"} 4\n\
         # TYPE ggh gaugehistogram\nggh_bucket{le=\"+Inf\"} 1 # {id=\"gaugehistogram-bucket-test\",xx=\"yy\"} 4 123.123\n\
         # TYPE foo counter\nfoo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\n\
         hhh_count 1 # {\"id.thing\"=\"histogram-count-test\"} 4\n# EOF",
    );
    assert_eq!(series(&e), [r#"hhh_bucket{le="+Inf"}"#, r#"ggh_bucket{le="+Inf"}"#, "foo_total{}", "hhh_count{}"]);
    assert_eq!(e.samples[2].timestamp_ms, Some(1520879607789));
    assert_eq!(e.samples[2].value, 17.0);
    assert_eq!(e.samples[0].timestamp_ms, None);
}

#[test]
fn case_39_exemplars_on_every_carrier() {
    let e = ok(
        OM,
        "# TYPE h histogram\nh_bucket{le=\"1\"} 1 # {a=\"b\"} 0.5\nh_count 1 # {a=\"b\"} 0.5\nh_sum 1\n\
         # TYPE g gaugehistogram\ng_bucket{le=\"1\"} 1 # {a=\"b\"} 0.5\ng_gcount 1 # {a=\"b\"} 0.5\n\
         # TYPE s summary\ns_count 1 # {a=\"b\"} 0.5 1\ns_sum 2 # {a=\"b\"} 0.5\n\
         # TYPE c counter\nc_total 1 # {} 0.5\n# EOF",
    );
    assert_eq!(e.samples.len(), 8);
    assert_eq!(e.samples[0].labels.get("le"), Some("1.0"));
}

#[test]
fn case_40_malformed_exemplars() {
    let bad = [
        ("# {aa=bb}", "expected label value"),
        ("# {aa=\"bb\"}", "expected a single space and the value after exemplar labels"),
        ("# {bb}", "expected '='"),
        ("# {bb, a=\"dd\"}", "expected '='"),
        ("# {aa=\"bb\",,cc=\"dd\"} 1", "expected label name"),
        ("# {aa=\"bb\",cc=}", "expected label value"),
        ("# {aa=\"bb\"} 1_2", "unsupported character"),
        ("# {aa=\"bb\"} 0x1p-3", "unsupported character"),
        ("# {aa=\"bb\"} true", "not a number"),
        ("# {aa=\"b\0b\"} 1", "expected label value"),
        ("# {aa=\0\"bb\"} 1", "expected label value"),
        ("# {aa=\"bb\"} 1 NaN", "invalid exemplar timestamp"),
        ("# {aa=\"bb\"} 1 -Inf", "invalid exemplar timestamp"),
        ("# {aa=\"bb\"} 1 2 3", "expected end of line after exemplar timestamp"),
        ("# {\"aa\"} 1", "expected '=' after exemplar label name"),
    ];
    for (ex, fragment) in bad {
        err(OM, &format!("# TYPE c counter\nc_total 1 {ex}\n# EOF"), fragment);
    }
    // Without the final newline the line is unfinished.
    err(OM, "c_total 1 # {aa=\"bb\"}", "expected a single space and the value after exemplar labels");
    err(OM, "c_total 1 # {aa=\"bb\"} 1", "data does not end with # EOF");
}

#[test]
fn case_41_text_format_has_no_exemplars() {
    err(T, "foo_total 1 # {id=\"x\"} 2\n", "expected timestamp");
}

// ---- G. _created ----

#[test]
fn case_42_created_lines_are_consumed() {
    let e = ok(
        OM,
        "# TYPE foo counter\nfoo_total 17.0 1520879607.789 # {id=\"counter-test\"} 5\nfoo_created 1520872607.123\n\
         foo_total{a=\"b\"} 17.0\nfoo_created{a=\"b\"} 1520872607.123\nfoo_total{le=\"1\"} 1\n# EOF",
    );
    assert_eq!(series(&e), ["foo_total{}", r#"foo_total{a="b"}"#, r#"foo_total{le="1"}"#]);
}

#[test]
fn case_43_created_anywhere_in_the_family() {
    let e = ok(
        OM,
        "# TYPE bar summary\nbar_count 17.0\nbar_sum 324789.3\nbar_created 1520872607.123\nbar{quantile=\"0.95\"} 123.7\n\
         # TYPE baz histogram\nbaz_count 17\nbaz_sum 3\nbaz_created 1520872607.123\nbaz_bucket{le=\"+Inf\"} 17\n\
         # TYPE \"go.gc_duration_seconds\" summary\n{\"go.gc_duration_seconds\",quantile=\"0\"} 4.9e-05\n\
         {\"go.gc_duration_seconds\",quantile=\"0.25\"} 5e-05\n{\"go.gc_duration_seconds_created\"} 1520872607.123\n\
         {\"go.gc_duration_seconds\",quantile=\"0.5\",a=\"b\"} 8e-05\n# EOF",
    );
    assert_eq!(e.samples.len(), 9);
    assert!(e.samples.iter().all(|s| !s.labels.metric_name().unwrap_or("").ends_with("_created")));
}

#[test]
fn case_44_created_is_a_sample_for_other_types() {
    let e = ok(OM, "# TYPE fizz_created gauge\nfizz_created 17.0\n# EOF");
    assert_eq!(series(&e), ["fizz_created{}"]);
    let e = ok(OM, "foo_total 17.0\nfoo_created 1520872607.123\n# EOF");
    assert_eq!(series(&e), ["foo_total{}", "foo_created{}"]);
    let e = ok(OM, "# TYPE gh gaugehistogram\ngh_bucket{le=\"+Inf\"} 1\ngh_created 1520872607.123\n# EOF");
    assert_eq!(series(&e), [r#"gh_bucket{le="+Inf"}"#, "gh_created{}"]);
}

#[test]
fn case_45_created_first_in_family_is_consumed_too() {
    let e = ok(OM, "# TYPE foo counter\nfoo_created 1520872607.123\nfoo_total 17.0\n# EOF");
    assert_eq!(series(&e), ["foo_total{}"]);
}

#[test]
fn case_46_created_means_nothing_in_text_format() {
    let e = ok(T, "# TYPE x counter\nx_created 1\nprometheus_tsdb_head_series_created_total 18541\n");
    assert_eq!(series(&e), ["x_created{}", "prometheus_tsdb_head_series_created_total{}"]);
}

// ---- H. le / quantile normalisation ----

#[test]
fn case_47_le_and_quantile_are_canonicalised() {
    let body = "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"0.25\"} 1\nh_bucket{le=\"+Inf\"} 1\n\
                h_bucket{le=\"1e0\"} 1\nh_bucket{le=\".2\"} 1\nh_bucket{le=\"1e6\"} 1\nh_bucket{le=\"x\"} 1\n\
                # TYPE s summary\ns{quantile=\"0\"} 1\ns{quantile=\"0.0\"} 1\ns{quantile=\"0.25\"} 1\n# EOF";
    for f in [T, OM] {
        let e = ok(f, body);
        let values: Vec<_> =
            e.samples.iter().map(|s| s.labels.get("le").or(s.labels.get("quantile")).unwrap_or("")).collect();
        assert_eq!(values, ["1.0", "2.0", "0.25", "+Inf", "1.0", "0.2", "1e+06", "x", "0.0", "0.0", "0.25"], "{f:?}");
    }
}

#[test]
fn case_48_normalisation_only_under_the_right_type() {
    for f in [T, OM] {
        let e = ok(
            f,
            "# TYPE foo counter\nfoo_total{le=\"c\"} 1\nfoo_total{le=\"1\"} 1\n# TYPE testmetric untyped\ntestmetric{le=\"10\"} 1\n\
             # TYPE h histogram\nother{le=\"1\",quantile=\"1\"} 1\n# EOF"
                .replace("untyped", if f == OM { "unknown" } else { "untyped" })
                .as_str(),
        );
        let got: Vec<_> = e.samples.iter().map(|s| s.labels.get("le").unwrap_or("")).collect();
        assert_eq!(got, ["c", "1", "10", "1.0"]);
        assert_eq!(e.samples[3].labels.get("quantile"), Some("1"));
    }
    let e = ok(OM, "# TYPE gh gaugehistogram\ngh_bucket{le=\"1\"} 1\n# EOF");
    assert_eq!(e.samples[0].labels.get("le"), Some("1"));
}

// ---- I. OpenMetrics-only types ----

#[test]
fn case_49_om_only_types() {
    let e = ok(
        OM,
        "# TYPE ss stateset\nss{ss=\"foo\"} 1\nss{ss=\"bar\"} 0\nss{A=\"a\"} 0\n# TYPE ii info\nii{foo=\"bar\"} 1\n\
         # TYPE un unknown\n# TYPE gh gaugehistogram\ngh_bucket{le=\"+Inf\"} 1\n# EOF",
    );
    assert_eq!(e.samples.len(), 5);
    let kinds: Vec<_> = e.metadata.iter().map(|m| (m.family.as_str(), m.kind)).collect();
    assert_eq!(
        kinds,
        [
            ("ss", MetricType::StateSet),
            ("ii", MetricType::Info),
            ("un", MetricType::Unknown),
            ("gh", MetricType::GaugeHistogram)
        ]
    );
}

// ---- J. Content-Type ----

#[test]
fn case_50_format_from_content_type() {
    for ct in
        ["text/plain", "text/plain; version=0.0.4", "text/html", "", "invalid/", "application/vnd.google.protobuf"]
    {
        assert_eq!(format_from_content_type(Some(ct)), Format::Text, "{ct}");
    }
    assert_eq!(format_from_content_type(None), Format::Text);
    for ct in [
        "application/openmetrics-text",
        "application/openmetrics-text; version=1.0.0",
        "application/openmetrics-text; version=1.0.0; charset=utf-8",
        " Application/OpenMetrics-Text ;charset=utf-8",
    ] {
        assert_eq!(format_from_content_type(Some(ct)), Format::OpenMetrics, "{ct}");
    }
}

// ---- Error reporting ----

#[test]
fn errors_name_the_line_and_quote_it() {
    let e = parse("a 1\nb 2\nc{d='x'} 3\n", T).expect_err("bad label value");
    assert_eq!(e.line, 3);
    assert_eq!(
        e.to_string(),
        "line 3: expected label value (a double-quoted string), found \"'x'}\" in \"c{d='x'} 3\""
    );
}

#[test]
fn crlf_line_ends_are_named_in_the_error() {
    err(T, "a 1\r\nb 2\r\n", "Windows line endings");
}

#[test]
fn text_label_values_may_span_lines_and_line_numbers_follow() {
    let e = ok(T, "a{b=\"x\ny\"} 1\nc 2\n");
    assert_eq!(e.samples[0].labels.get("b"), Some("x\ny"));
    let e = err(T, "a{b=\"x\ny\"} 1\nc{ 2\n", "expected label name");
    assert_eq!(e.line, 3);
    // OpenMetrics label values may not hold a raw newline.
    err(OM, "a{b=\"x\ny\"} 1\n# EOF", "expected label value");
}

#[test]
fn om_timestamps_truncate_toward_zero_like_go() {
    let e = ok(OM, "a 1 -1.0005\nb 1 1.0009\n# EOF");
    assert_eq!(e.samples.iter().map(|s| s.timestamp_ms).collect::<Vec<_>>(), [Some(-1000), Some(1000)]);
}

#[test]
fn om_metadata_cut_off_at_end_of_input() {
    err(OM, "# HELP a some text", "data does not end with # EOF");
}

#[test]
fn metadata_lines_merge_per_family_and_later_lines_win() {
    let e = ok(OM, "# TYPE a gauge\n# HELP a first\n# UNIT a_bytes bytes\n# HELP a second\n# EOF");
    assert_eq!(
        e.metadata,
        [meta("a", MetricType::Gauge, "second", ""), meta("a_bytes", MetricType::Unknown, "", "bytes")]
    );
}

/// Mutated bodies must be rejected or accepted, never crash the parser; an
/// accepted OpenMetrics body always ends with `# EOF`.
#[test]
fn random_mutations_never_panic() {
    use rand::{Rng, SeedableRng};
    let seeds: [&[u8]; 3] = [
        include_bytes!("testdata/promtool-metrics-test.prom"),
        include_bytes!("testdata/alltypes.5mfs.om.txt"),
        "{\"a.b\",c=\"d\\\"\\n\"} 1 2 # {x=\"y\"} 3 4\n# HELP \"a.b\" h\\\\\n# EOF\n".as_bytes(),
    ];
    assert!(parse_bytes(seeds[0], T).is_ok() && parse_bytes(seeds[1], OM).is_ok() && parse_bytes(seeds[2], OM).is_ok());
    let alphabet = b" \t\n\0\"\\{}=,#_.:aZ09eE+-pxNI\xff";
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut accepted = 0;
    for i in 0..3000 {
        let mut body = seeds[i % seeds.len()].to_vec();
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..body.len());
            let c = alphabet[rng.random_range(0..alphabet.len())];
            match rng.random_range(0..3) {
                0 => body[at] = c,
                1 => body.insert(at, c),
                _ => {
                    body.remove(at);
                }
            }
        }
        for f in [T, OM] {
            if parse_bytes(&body, f).is_ok() {
                accepted += 1;
                if f == OM {
                    let end = body.strip_suffix(b"\n").unwrap_or(&body);
                    assert!(
                        end.ends_with(b"# EOF"),
                        "accepted OM body without # EOF: {:?}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
        }
    }
    // Some mutations (inside HELP text, say) keep the body valid.
    assert!(accepted > 0);
}

// ---- Upstream sample files ----

fn count_by_kind(e: &Exposition, kind: MetricType) -> usize {
    e.metadata.iter().filter(|m| m.kind == kind).count()
}

#[test]
fn testdata_alltypes_237mfs() {
    let e = ok(T, include_str!("testdata/alltypes.237mfs.prom.txt"));
    assert_eq!(e.samples.len(), 1857);
    assert_eq!(e.metadata.len(), 237);
    assert_eq!(count_by_kind(&e, MetricType::Counter), 112);
    assert_eq!(count_by_kind(&e, MetricType::Gauge), 97);
    assert_eq!(count_by_kind(&e, MetricType::Histogram), 15);
    assert_eq!(count_by_kind(&e, MetricType::Summary), 13);
    assert!(e.metadata.iter().all(|m| !m.help.is_empty()), "every family has HELP");

    // The same samples without HELP/TYPE lines: identical apart from the
    // le/quantile rewriting that only typed families get.
    let bare = ok(T, include_str!("testdata/alltypes.237mfs.nometa.prom.txt"));
    assert!(bare.metadata.is_empty());
    assert_eq!(bare.samples.len(), e.samples.len());
    for (a, b) in e.samples.iter().zip(&bare.samples) {
        assert_eq!(a.labels.drop_names(&["le", "quantile"]), b.labels.drop_names(&["le", "quantile"]));
        assert_eq!(a.value.to_bits(), b.value.to_bits());
        assert_eq!(a.timestamp_ms, b.timestamp_ms);
    }
}

#[test]
fn testdata_alltypes_5mfs_om() {
    let e = ok(OM, include_str!("testdata/alltypes.5mfs.om.txt"));
    assert_eq!(e.samples.len(), 44);
    assert_eq!(e.metadata.len(), 5);
    assert_eq!(count_by_kind(&e, MetricType::Counter), 2);
    assert_eq!(count_by_kind(&e, MetricType::Histogram), 1);
    assert_eq!(count_by_kind(&e, MetricType::Summary), 1);
    assert_eq!(count_by_kind(&e, MetricType::Gauge), 1);
    let le: Vec<_> = e.samples.iter().filter_map(|s| s.labels.get("le")).collect();
    assert!(le.contains(&"-0.00099"), "negative le kept: {le:?}");
}

#[test]
fn testdata_1histogram_om_without_final_newline() {
    let body = include_str!("testdata/1histogram.om.txt");
    assert!(body.ends_with("# EOF"));
    let e = ok(OM, body);
    assert_eq!(e.samples.len(), 42);
    assert_eq!(e.metadata.len(), 1);
}

#[test]
fn testdata_promtool_metrics() {
    let e = ok(T, include_str!("testdata/promtool-metrics-test.prom"));
    assert_eq!(e.samples.len(), 27);
    let family_size = |family: &str| {
        e.samples
            .iter()
            .filter(|s| {
                let n = s.labels.metric_name().unwrap_or("");
                n == family || ["_bucket", "_sum", "_count"].iter().any(|suf| n.strip_suffix(suf) == Some(family))
            })
            .count()
    };
    assert_eq!(family_size("prometheus_tsdb_compaction_chunk_size_bytes"), 15);
    assert_eq!(family_size("go_gc_duration_seconds"), 7);
    assert_eq!(family_size("net_conntrack_dialer_conn_attempted_total"), 4);
    assert_eq!(family_size("go_info"), 1);
}

/// Not a benchmark (see DESIGN.md): prints how long a ~1 MB body takes.
/// Run with `cargo test --lib exposition -- --ignored --nocapture`.
#[test]
#[ignore]
fn timing_one_megabyte() {
    let one = include_str!("testdata/alltypes.237mfs.prom.txt");
    let body = one.repeat(1_000_000 / one.len() + 1);
    // Best of a few runs: the first one mostly measures page faults.
    let mut best = std::time::Duration::MAX;
    let mut samples = 0;
    for _ in 0..5 {
        let start = std::time::Instant::now();
        let e = ok(T, &body);
        best = best.min(start.elapsed());
        samples = e.samples.len();
    }
    assert_eq!(samples % 1857, 0);
    println!("{} bytes, {samples} samples, best of 5: {best:?}", body.len());
}
