use super::*;
use crate::tsdb::Labels;

fn run(text: &str, labels: &[(&str, &str)], value: f64) -> Result<String, TemplateError> {
    let l = Labels::from_pairs(labels.iter().copied());
    let ext = Labels::from_pairs([("cluster", "eu1")]);
    let data = AlertData { labels: &l, external_labels: &ext, external_url: "http://sl:9090/x", value };
    let q: QueryFn = Arc::new(|q: &str| {
        if q == "up" {
            Ok(vec![
                ([("instance".to_string(), "b:1".to_string())].into_iter().collect(), 0.0),
                ([("instance".to_string(), "a:1".to_string())].into_iter().collect(), 1.0),
            ])
        } else {
            Ok(vec![])
        }
    });
    expand_alert_template("__alert_T", text, &data, &FuncMap::prometheus(Some(q), "http://sl:9090/x"))
}

#[test]
fn labels_value_and_external_labels() {
    assert_eq!(run("{{ $labels.instance }} is {{ $value }}", &[("instance", "h:1")], 0.5).unwrap(), "h:1 is 0.5");
    assert_eq!(run("{{ .Labels.job }}/{{ $externalLabels.cluster }}", &[("job", "j")], 1.0).unwrap(), "j/eu1");
    assert_eq!(run("{{ $labels.missing }}|", &[], 1.0).unwrap(), "|");
    assert_eq!(run("{{$value}}", &[], 1e6).unwrap(), "1e+06");
    assert!(run("no actions {{", &[], 1.0).is_err());
}

#[test]
fn humanize_family() {
    assert_eq!(run("{{ humanize 1234567.0 }}", &[], 0.0).unwrap(), "1.235M");
    assert_eq!(run("{{ humanize 0.00123 }}", &[], 0.0).unwrap(), "1.23m");
    assert_eq!(run("{{ humanize1024 1048576.0 }}", &[], 0.0).unwrap(), "1Mi");
    assert_eq!(run("{{ humanizeDuration 90061 }}", &[], 0.0).unwrap(), "1d 1h 1m 1s");
    assert_eq!(run("{{ humanizeDuration 0.25 }}", &[], 0.0).unwrap(), "250ms");
    assert_eq!(run("{{ humanizeDuration 3.5 }}", &[], 0.0).unwrap(), "3.5s");
    assert_eq!(run("{{ humanizePercentage 0.1234 }}", &[], 0.0).unwrap(), "12.34%");
    assert_eq!(run("{{ humanizeTimestamp 1435065584.128 }}", &[], 0.0).unwrap(), "2015-06-23 13:19:44.128 +0000 UTC");
    assert_eq!(run("{{ $value | humanize }}", &[], 2048.0).unwrap(), "2.048k");
    assert_eq!(run("{{ \"1234\" | humanize }}", &[], 0.0).unwrap(), "1.234k");
}

#[test]
fn strings_and_printf() {
    assert_eq!(run("{{ title \"hello world\" }}", &[], 0.0).unwrap(), "Hello World");
    assert_eq!(run("{{ toUpper \"a\" }}{{ toLower \"B\" }}", &[], 0.0).unwrap(), "Ab");
    assert_eq!(run("{{ reReplaceAll \"(a+)b\" \"x$1\" \"aab\" }}", &[], 0.0).unwrap(), "xaa");
    assert_eq!(run("{{ printf \"%.2f\" $value }}", &[], 2.71628).unwrap(), "2.72");
    assert_eq!(run("{{ $labels.instance | stripPort }}", &[("instance", "h:9100")], 0.0).unwrap(), "h");
}

#[test]
fn control_flow_and_query() {
    assert_eq!(
        run("{{ if gt $value 1.0 }}big{{ else if eq $value 1.0 }}one{{ else }}small{{ end }}", &[], 1.0).unwrap(),
        "one"
    );
    assert_eq!(
        run("{{ range $i, $s := query \"up\" }}{{$i}}={{ $s.Labels.instance }} {{ end }}", &[], 0.0).unwrap(),
        "0=b:1 1=a:1 "
    );
    assert_eq!(
        run("{{ range query \"up\" | sortByLabel \"instance\" }}{{ .Labels.instance }},{{ end }}", &[], 0.0).unwrap(),
        "a:1,b:1,"
    );
    assert_eq!(run("{{ with query \"up\" }}{{ . | first | value }}{{ end }}", &[], 0.0).unwrap(), "0");
    assert_eq!(run("{{ query \"up\" | first | label \"instance\" }}", &[], 0.0).unwrap(), "b:1");
    assert_eq!(run("{{ range query \"none\" }}x{{ else }}empty{{ end }}", &[], 0.0).unwrap(), "empty");
    assert!(run("{{ query \"none\" | first | value }}", &[], 0.0)
        .unwrap_err()
        .0
        .contains("first() called on vector with no elements"));
    assert_eq!(run("a  {{- \" b \" -}}  c", &[], 0.0).unwrap(), "a b c");
    assert_eq!(run("{{/* note */}}{{ $x := 1 }}{{ $x = 2 }}{{ $x }}", &[], 0.0).unwrap(), "2");
    assert_eq!(run("{{ define \"t\" }}[{{ . }}]{{ end }}{{ template \"t\" \"v\" }}", &[], 0.0).unwrap(), "[v]");
}

#[test]
fn parse_errors_like_go() {
    let e = check_alert_template("__alert_InstanceDown", "{{ $label.foo }}").unwrap_err();
    assert_eq!(e.0, "template: __alert_InstanceDown:1: undefined variable \"$label\"");
    let e = check_alert_template("__alert_X", "line\n{{ nosuch 1 }}").unwrap_err();
    assert_eq!(e.0, "template: __alert_X:2: function \"nosuch\" not defined");
    assert!(check_alert_template("x", "{{ if 1 }}").is_err());
    assert!(check_alert_template("x", "{{ end }}").is_err());
    assert!(check_alert_template("x", "{{ $labels.x }} {{ $value }} {{ $externalURL }}").is_ok());
}

#[test]
fn hostile_templates_fail_cleanly() {
    let deep = format!("{{{{ {}1{} }}}}", "(".repeat(5000), ")".repeat(5000));
    assert!(check_alert_template("x", &deep).is_err());
    let deep_if = format!("{}{}", "{{ if 1 }}".repeat(5000), "{{ end }}".repeat(5000));
    assert!(check_alert_template("x", &deep_if).is_err());
    assert!(run("{{ range 100000000000 }}{{ end }}", &[], 0.0).is_err());
    assert!(run("{{ define \"a\" }}{{ template \"a\" }}{{ end }}{{ template \"a\" }}", &[], 0.0).is_err());
}

#[test]
fn random_templates_never_panic() {
    use rand::{Rng, SeedableRng};
    let pieces = [
        "{{",
        "}}",
        "{{-",
        "-}}",
        " ",
        "$labels",
        "$value",
        ".Labels",
        ".x",
        "|",
        "(",
        ")",
        "\"s\"",
        "`r`",
        "1",
        "1.5",
        "-2",
        "if",
        "else",
        "end",
        "range",
        "with",
        "define",
        "template",
        "break",
        "continue",
        ":=",
        "=",
        ",",
        "$x",
        "humanize",
        "printf",
        "\"%d %s %.2f %q %v\"",
        "query",
        "first",
        "value",
        "label",
        "eq",
        "lt",
        "and",
        "or",
        "not",
        "len",
        "index",
        "'c'",
        "/*",
        "*/",
        "é",
        "\n",
        "{",
        "}",
        "\\",
        "\"",
        "0x1F",
        "nil",
        "true",
        "title",
        "reReplaceAll",
        "\"(\"",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for _ in 0..20_000 {
        let n = rng.random_range(1..24);
        let s: String = (0..n).map(|_| pieces[rng.random_range(0..pieces.len())]).collect();
        let _ = check_alert_template("fuzz", &s);
        let _ = run(&s, &[("instance", "h:1")], 1.5);
    }
}
