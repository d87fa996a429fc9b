//! Prometheus relabeling: applies `relabel_configs` to targets and
//! `metric_relabel_configs` to scraped series, rule by rule, exactly as
//! Prometheus's model/relabel does.

use md5::{Digest, Md5};

use crate::config::{expand, is_valid_label_name, RelabelAction, DEFAULT_REGEX};
use crate::tsdb::Labels;

pub use crate::config::RelabelConfig;

/// Applies the rules in order. `None` means a rule dropped the label set.
pub fn relabel(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut lb = labels.clone();
    for cfg in configs {
        if !apply(cfg, &mut lb) {
            return None;
        }
    }
    Some(lb)
}

/// One rule; false = drop.
fn apply(cfg: &RelabelConfig, lb: &mut Labels) -> bool {
    // Runs for every scraped series: skip the join for zero or one source label.
    let val: String = match cfg.source_labels.as_slice() {
        [] => String::new(),
        [one] => lb.get(one).unwrap_or("").to_string(),
        many => many.iter().map(|n| lb.get(n).unwrap_or("")).collect::<Vec<_>>().join(&cfg.separator),
    };
    let val = val.as_str();
    let re = cfg.regex.regex();
    match cfg.action {
        RelabelAction::Drop => {
            if re.is_match(val) {
                return false;
            }
        }
        RelabelAction::Keep => {
            if !re.is_match(val) {
                return false;
            }
        }
        RelabelAction::DropEqual => {
            if lb.get(&cfg.target_label).unwrap_or("") == val {
                return false;
            }
        }
        RelabelAction::KeepEqual => {
            if lb.get(&cfg.target_label).unwrap_or("") != val {
                return false;
            }
        }
        RelabelAction::Replace => {
            // Prometheus's fast path: nothing to match or expand.
            if val.is_empty()
                && cfg.regex.as_str() == DEFAULT_REGEX
                && !cfg.target_label.contains('$')
                && !cfg.replacement.contains('$')
            {
                lb.set(&cfg.target_label, &cfg.replacement);
                return true;
            }
            // No match: no replacement.
            let Some(caps) = re.captures(val) else {
                return true;
            };
            let target = expand(&cfg.target_label, &caps, re);
            if !is_valid_label_name(&target) {
                return true;
            }
            let value = expand(&cfg.replacement, &caps, re);
            // An empty value removes the label (Labels::set does that).
            lb.set(&target, &value);
        }
        RelabelAction::Lowercase => lb.set(&cfg.target_label, &val.to_lowercase()),
        RelabelAction::Uppercase => lb.set(&cfg.target_label, &val.to_uppercase()),
        RelabelAction::HashMod => {
            let hash = Md5::digest(val.as_bytes());
            // The last 8 bytes, big-endian, as Prometheus does.
            let mut last = [0u8; 8];
            last.copy_from_slice(&hash[8..16]);
            let m = u64::from_be_bytes(last) % cfg.modulus.max(1);
            lb.set(&cfg.target_label, &m.to_string());
        }
        RelabelAction::LabelMap => {
            // Iterate over a snapshot: labels added here are not mapped again.
            let snapshot: Vec<(String, String)> = lb.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
            for (name, value) in snapshot {
                if let Some(caps) = re.captures(&name) {
                    let new_name = expand(&cfg.replacement, &caps, re);
                    if !new_name.is_empty() {
                        lb.set(&new_name, &value);
                    }
                }
            }
        }
        RelabelAction::LabelDrop | RelabelAction::LabelKeep => {
            let keep_matching = cfg.action == RelabelAction::LabelKeep;
            let names: Vec<String> = lb.iter().map(|l| l.name.clone()).collect();
            for name in names {
                if re.is_match(&name) != keep_matching {
                    lb.remove(&name);
                }
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::AnchoredRegex;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    /// A rule with Prometheus's defaults for what is not given.
    fn rule(
        action: RelabelAction,
        source: &[&str],
        regex: Option<&str>,
        target: &str,
        replacement: Option<&str>,
    ) -> RelabelConfig {
        let cfg = RelabelConfig {
            source_labels: source.iter().map(|s| s.to_string()).collect(),
            regex: regex.map(|r| AnchoredRegex::new(r).expect("test regex compiles")).unwrap_or_default(),
            target_label: target.to_string(),
            replacement: replacement.map(str::to_string).unwrap_or_else(|| "$1".to_string()),
            action,
            ..RelabelConfig::default()
        };
        // Prometheus's test validates every config before use.
        assert_eq!(cfg.validate(), Ok(()), "{cfg:?}");
        cfg
    }

    fn hashmod(source: &[&str], target: &str, modulus: u64) -> RelabelConfig {
        let cfg = RelabelConfig {
            source_labels: source.iter().map(|s| s.to_string()).collect(),
            target_label: target.to_string(),
            modulus,
            action: RelabelAction::HashMod,
            ..RelabelConfig::default()
        };
        assert_eq!(cfg.validate(), Ok(()));
        cfg
    }

    use RelabelAction::*;

    /// Prometheus's TestRelabel table (model/relabel/relabel_test.go), case by case.
    #[test]
    fn prometheus_relabel_table() {
        let abc = l(&[("a", "foo"), ("b", "bar"), ("c", "baz")]);
        let cases: Vec<(Labels, Vec<RelabelConfig>, Option<Labels>)> = vec![
            (
                abc.clone(),
                vec![rule(Replace, &["a"], Some("f(.*)"), "d", Some("ch${1}-ch${1}"))],
                Some(l(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")])),
            ),
            (
                abc.clone(),
                vec![
                    rule(Replace, &["a", "b"], Some("f(.*);(.*)r"), "a", Some("b${1}${2}m")),
                    rule(Replace, &["c", "a"], Some("(b).*b(.*)ba(.*)"), "d", Some("$1$2$2$3")),
                ],
                Some(l(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")])),
            ),
            (
                l(&[("a", "foo")]),
                vec![
                    rule(Drop, &["a"], Some(".*o.*"), "", None),
                    rule(Replace, &["a"], Some("f(.*)"), "d", Some("ch$1-ch$1")),
                ],
                None,
            ),
            (l(&[("a", "foo"), ("b", "bar")]), vec![rule(Drop, &["a"], Some(".*o.*"), "", None)], None),
            (
                l(&[("a", "abc")]),
                vec![rule(Replace, &["a"], Some(".*(b).*"), "d", Some("$1"))],
                Some(l(&[("a", "abc"), ("d", "b")])),
            ),
            (l(&[("a", "foo")]), vec![rule(Drop, &["a"], Some("no-match"), "", None)], Some(l(&[("a", "foo")]))),
            // The regex is anchored: "f|o" does not match "foo".
            (l(&[("a", "foo")]), vec![rule(Drop, &["a"], Some("f|o"), "", None)], Some(l(&[("a", "foo")]))),
            (l(&[("a", "foo")]), vec![rule(Keep, &["a"], Some("no-match"), "", None)], None),
            (l(&[("a", "foo")]), vec![rule(Keep, &["a"], Some("f.*"), "", None)], Some(l(&[("a", "foo")]))),
            // No replacement must be applied if there is no match.
            (l(&[("a", "boo")]), vec![rule(Replace, &["a"], Some("f"), "b", Some("bar"))], Some(l(&[("a", "boo")]))),
            (
                abc.clone(),
                vec![hashmod(&["c"], "d", 1000)],
                Some(l(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "976")])),
            ),
            (l(&[("a", "foo\nbar")]), vec![hashmod(&["a"], "b", 1000)], Some(l(&[("a", "foo\nbar"), ("b", "734")]))),
            (
                l(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
                vec![rule(LabelMap, &[], Some("(b.*)"), "", Some("bar_${1}"))],
                Some(l(&[("a", "foo"), ("b1", "bar"), ("b2", "baz"), ("bar_b1", "bar"), ("bar_b2", "baz")])),
            ),
            (
                l(&[("a", "foo"), ("__meta_my_bar", "aaa"), ("__meta_my_baz", "bbb"), ("__meta_other", "ccc")]),
                vec![rule(LabelMap, &[], Some("__meta_(my.*)"), "", Some("${1}"))],
                Some(l(&[
                    ("a", "foo"),
                    ("__meta_my_bar", "aaa"),
                    ("__meta_my_baz", "bbb"),
                    ("__meta_other", "ccc"),
                    ("my_bar", "aaa"),
                    ("my_baz", "bbb"),
                ])),
            ),
            // Target label from a capture group.
            (
                l(&[("a", "some-name-value")]),
                vec![rule(Replace, &["a"], Some("some-([^-]+)-([^,]+)"), "${1}", Some("${2}"))],
                Some(l(&[("a", "some-name-value"), ("name", "value")])),
            ),
            // Replacement expands to nothing: the (absent) label stays absent.
            (
                l(&[("a", "some-name-value")]),
                vec![rule(Replace, &["a"], Some("some-([^-]+)-([^,]+)"), "${1}", Some("${3}"))],
                Some(l(&[("a", "some-name-value")])),
            ),
            // Target labels that expand to invalid names do nothing.
            (
                l(&[("a", "some-name-0")]),
                vec![
                    rule(Replace, &["a"], Some("some-([^-]+)-([^,]+)"), "${3}", Some("${1}")),
                    rule(Replace, &["a"], Some("some-([^-]+)-([^,]+)"), "${3}", Some("${1}")),
                    rule(Replace, &["a"], Some("some-([^-]+)(-[^,]+)"), "${3}", Some("${1}")),
                ],
                Some(l(&[("a", "some-name-0")])),
            ),
            // A more complex real-life case.
            (
                l(&[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")]),
                vec![
                    rule(
                        Replace,
                        &["__meta_sd_tags"],
                        Some("(?:.+,|^)path:(/[^,]+).*"),
                        "__metrics_path__",
                        Some("${1}"),
                    ),
                    rule(Replace, &["__meta_sd_tags"], Some("(?:.+,|^)job:([^,]+).*"), "job", Some("${1}")),
                    rule(Replace, &["__meta_sd_tags"], Some("(?:.+,|^)label:([^=]+)=([^,]+).*"), "${1}", Some("${2}")),
                ],
                Some(l(&[
                    ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
                    ("__metrics_path__", "/secret"),
                    ("job", "some-job"),
                    ("foo", "bar"),
                ])),
            ),
            // prometheus/prometheus#12283.
            (
                l(&[
                    ("__meta_kubernetes_pod_container_port_name", "foo"),
                    ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                ]),
                vec![
                    rule(LabelDrop, &[], Some("^__meta_kubernetes_pod_container_port_name$"), "", None),
                    rule(
                        Replace,
                        &["__meta_kubernetes_pod_annotation_XXX_metrics_port"],
                        Some("(.+)"),
                        "__meta_kubernetes_pod_container_port_name",
                        Some("metrics"),
                    ),
                    rule(Keep, &["__meta_kubernetes_pod_container_port_name"], Some("^metrics$"), "", None),
                ],
                Some(l(&[
                    ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
                    ("__meta_kubernetes_pod_container_port_name", "metrics"),
                ])),
            ),
            (
                l(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
                vec![rule(LabelKeep, &[], Some("(b.*)"), "", None)],
                Some(l(&[("b1", "bar"), ("b2", "baz")])),
            ),
            (
                l(&[("a", "foo"), ("b1", "bar"), ("b2", "baz")]),
                vec![rule(LabelDrop, &[], Some("(b.*)"), "", None)],
                Some(l(&[("a", "foo")])),
            ),
            (
                l(&[("foo", "bAr123Foo")]),
                vec![
                    rule(Uppercase, &["foo"], None, "foo_uppercase", None),
                    rule(Lowercase, &["foo"], None, "foo_lowercase", None),
                ],
                Some(l(&[("foo", "bAr123Foo"), ("foo_lowercase", "bar123foo"), ("foo_uppercase", "BAR123FOO")])),
            ),
        ];
        let ports = l(&[("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")]);
        let mut cases = cases;
        cases.push((ports.clone(), vec![rule(KeepEqual, &["__tmp_port"], None, "__port1", None)], Some(ports.clone())));
        cases.push((ports.clone(), vec![rule(DropEqual, &["__tmp_port"], None, "__port1", None)], None));
        cases.push((ports.clone(), vec![rule(DropEqual, &["__tmp_port"], None, "__port2", None)], Some(ports.clone())));
        cases.push((ports.clone(), vec![rule(KeepEqual, &["__tmp_port"], None, "__port2", None)], None));

        for (i, (input, rules, want)) in cases.into_iter().enumerate() {
            assert_eq!(relabel(&input, &rules), want, "case {i}");
        }
    }

    #[test]
    fn replace_fast_path_sets_and_deletes() {
        // Empty input with the default regex writes the replacement as is.
        let set = RelabelConfig { target_label: "env".into(), replacement: "prod".into(), ..Default::default() };
        assert_eq!(relabel(&l(&[("a", "1")]), &[set]), Some(l(&[("a", "1"), ("env", "prod")])));
        // Copying an absent label deletes the target.
        let del =
            RelabelConfig { source_labels: vec!["missing".into()], target_label: "a".into(), ..Default::default() };
        assert_eq!(relabel(&l(&[("a", "1")]), &[del]), Some(Labels::new()));
    }

    #[test]
    fn typical_address_rewrite() {
        // The usual blackbox-exporter pattern.
        let rules = vec![
            RelabelConfig {
                source_labels: vec!["__address__".into()],
                target_label: "__param_target".into(),
                ..Default::default()
            },
            RelabelConfig {
                source_labels: vec!["__param_target".into()],
                target_label: "instance".into(),
                ..Default::default()
            },
            RelabelConfig {
                target_label: "__address__".into(),
                replacement: "127.0.0.1:9115".into(),
                ..Default::default()
            },
        ];
        let out = relabel(&l(&[("__address__", "example.com")]), &rules).expect("kept");
        assert_eq!(out.get("__param_target"), Some("example.com"));
        assert_eq!(out.get("instance"), Some("example.com"));
        assert_eq!(out.get("__address__"), Some("127.0.0.1:9115"));
    }

    #[test]
    fn hashmod_shards_evenly_enough() {
        let rule = hashmod(&["__address__"], "__tmp_hash", 4);
        let mut counts = [0usize; 4];
        for i in 0..400 {
            let out =
                relabel(&l(&[("__address__", &format!("host{i}:9100"))]), std::slice::from_ref(&rule)).expect("kept");
            let shard: usize = out.get("__tmp_hash").and_then(|v| v.parse().ok()).expect("numeric shard");
            counts[shard] += 1;
        }
        assert!(counts.iter().all(|c| *c > 50), "{counts:?}");
    }

    #[test]
    fn named_groups_in_replacement() {
        let r = rule(Replace, &["a"], Some("(?P<host>[^:]+):(?P<port>\\d+)"), "host", Some("${host}"));
        assert_eq!(relabel(&l(&[("a", "db1:5432")]), &[r]), Some(l(&[("a", "db1:5432"), ("host", "db1")])));
    }
}
