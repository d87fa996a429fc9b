//! Which keys each section may hold. A key Sightline uses is *supported*; a
//! key Prometheus knows but Sightline does not implement yet is *accepted with
//! a warning*, so a real prometheus.yml loads unchanged; anything else is an
//! error, as in Prometheus. Checked on the marked tree so that every unknown
//! key is reported at once, each with its line.

use super::marked::Node;

/// A section's keys.
struct Section {
    supported: &'static [&'static str],
    unsupported: &'static [&'static str],
    /// Sub-sections: (key, is a list of them, schema).
    children: &'static [(&'static str, bool, &'static Section)],
}

const ROOT: Section = Section {
    supported: &[
        "global",
        "rule_files",
        "scrape_configs",
        "alerting",
        "web",
        "storage",
        "host",
        "dashboards",
        "query",
        "alertmanager",
        "alertmanager_config_file",
        "probes",
        "probes_config_file",
        "default_rules",
        "remote_write",
        "datasources",
    ],
    unsupported: &["runtime", "scrape_config_files", "remote_read", "otlp", "tracing"],
    children: &[
        ("global", false, &GLOBAL),
        ("scrape_configs", true, &SCRAPE),
        ("web", false, &WEB),
        ("storage", false, &STORAGE),
        ("host", false, &HOST),
        ("dashboards", false, &DASHBOARDS),
        ("query", false, &QUERY),
        ("remote_write", true, &REMOTE_WRITE),
    ],
};

const REMOTE_WRITE: Section = Section {
    supported: &[
        "url",
        "name",
        "remote_timeout",
        "headers",
        "basic_auth",
        "authorization",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "write_relabel_configs",
        "queue_config",
        "queue_max_bytes",
    ],
    unsupported: &[
        "protobuf_message",
        "send_exemplars",
        "send_native_histograms",
        "round_robin_dns",
        "metadata_config",
        "sigv4",
        "azuread",
        "google_iam",
        "oauth2",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "follow_redirects",
        "enable_http2",
        "http_headers",
    ],
    children: &[
        ("basic_auth", false, &BASIC_AUTH),
        ("authorization", false, &AUTHORIZATION),
        ("tls_config", false, &TLS),
        ("write_relabel_configs", true, &RELABEL),
        ("queue_config", false, &QUEUE),
    ],
};

const QUEUE: Section = Section {
    supported: &[
        "capacity",
        "max_shards",
        "max_samples_per_send",
        "batch_send_deadline",
        "min_backoff",
        "max_backoff",
        "retry_on_http_429",
    ],
    unsupported: &["min_shards", "sample_age_limit"],
    children: &[],
};

const GLOBAL: Section = Section {
    supported: &[
        "scrape_interval",
        "scrape_timeout",
        "evaluation_interval",
        "external_labels",
        "body_size_limit",
        "sample_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "target_limit",
    ],
    unsupported: &[
        "scrape_protocols",
        "rule_query_offset",
        "query_log_file",
        "scrape_failure_log_file",
        "keep_dropped_targets",
        "metric_name_validation_scheme",
        "metric_name_escaping_scheme",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "scrape_native_histograms",
        "extra_scrape_metrics",
    ],
    children: &[],
};

/// Service discoveries Prometheus has and Sightline does not (yet).
const UNSUPPORTED_SD: &[&str] = &[
    "azure_sd_configs",
    "consul_sd_configs",
    "digitalocean_sd_configs",
    "docker_sd_configs",
    "dockerswarm_sd_configs",
    "dns_sd_configs",
    "ec2_sd_configs",
    "eureka_sd_configs",
    "gce_sd_configs",
    "hetzner_sd_configs",
    "http_sd_configs",
    "ionos_sd_configs",
    "kubernetes_sd_configs",
    "kuma_sd_configs",
    "lightsail_sd_configs",
    "linode_sd_configs",
    "marathon_sd_configs",
    "nerve_sd_configs",
    "nomad_sd_configs",
    "openstack_sd_configs",
    "ovhcloud_sd_configs",
    "puppetdb_sd_configs",
    "scaleway_sd_configs",
    "serverset_sd_configs",
    "stackit_sd_configs",
    "triton_sd_configs",
    "uyuni_sd_configs",
    "vultr_sd_configs",
];

const SCRAPE: Section = Section {
    supported: &[
        "job_name",
        "scrape_interval",
        "scrape_timeout",
        "metrics_path",
        "scheme",
        "params",
        "honor_labels",
        "honor_timestamps",
        "enable_compression",
        "basic_auth",
        "authorization",
        "bearer_token",
        "bearer_token_file",
        "tls_config",
        "follow_redirects",
        "enable_http2",
        "static_configs",
        "file_sd_configs",
        "relabel_configs",
        "metric_relabel_configs",
        "sample_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "target_limit",
        "body_size_limit",
        "probe",
    ],
    unsupported: &[
        "scrape_protocols",
        "fallback_scrape_protocol",
        "scrape_classic_histograms",
        "always_scrape_classic_histograms",
        "convert_classic_histograms_to_nhcb",
        "scrape_native_histograms",
        "track_timestamps_staleness",
        "scrape_failure_log_file",
        "metric_name_validation_scheme",
        "metric_name_escaping_scheme",
        "keep_dropped_targets",
        "native_histogram_bucket_limit",
        "native_histogram_min_bucket_factor",
        "extra_scrape_metrics",
        "oauth2",
        "proxy_url",
        "no_proxy",
        "proxy_from_environment",
        "proxy_connect_header",
        "http_headers",
    ],
    children: &[
        ("basic_auth", false, &BASIC_AUTH),
        ("authorization", false, &AUTHORIZATION),
        ("tls_config", false, &TLS),
        ("static_configs", true, &STATIC),
        ("file_sd_configs", true, &FILE_SD),
        ("relabel_configs", true, &RELABEL),
        ("metric_relabel_configs", true, &RELABEL),
    ],
};

const BASIC_AUTH: Section = Section {
    supported: &["username", "username_file", "password", "password_file"],
    unsupported: &["username_ref", "password_ref"],
    children: &[],
};

const AUTHORIZATION: Section = Section {
    supported: &["type", "credentials", "credentials_file"],
    unsupported: &["credentials_ref"],
    children: &[],
};

const TLS: Section = Section {
    supported: &["ca_file", "cert_file", "key_file", "server_name", "insecure_skip_verify"],
    unsupported: &["ca", "cert", "key", "min_version", "max_version", "ca_ref", "cert_ref", "key_ref"],
    children: &[],
};

const STATIC: Section = Section { supported: &["targets", "labels"], unsupported: &[], children: &[] };

const FILE_SD: Section = Section { supported: &["files", "refresh_interval"], unsupported: &[], children: &[] };

const RELABEL: Section = Section {
    supported: &["source_labels", "separator", "regex", "modulus", "target_label", "replacement", "action"],
    unsupported: &[],
    children: &[],
};

const QUERY: Section = Section {
    supported: &["timeout", "max_samples", "max_concurrency", "lookback_delta"],
    unsupported: &[],
    children: &[],
};

const DASHBOARDS: Section = Section { supported: &["paths"], unsupported: &[], children: &[] };

const HOST: Section = Section {
    supported: &["enabled", "job_name", "scrape_interval", "collectors", "mount_points_exclude", "fs_types_exclude"],
    unsupported: &[],
    children: &[],
};

const WEB: Section = Section {
    supported: &[
        "listen_address",
        "anonymous_role",
        "session_max_age",
        "tls_cert_file",
        "tls_key_file",
        "max_request_body_bytes",
        "login_rate_limit",
        "api_rate_limit",
        "metrics_rate_limit",
    ],
    unsupported: &[],
    children: &[],
};

const STORAGE: Section = Section {
    supported: &["path", "retention", "retention_size", "downsample_retention"],
    unsupported: &["tsdb", "exemplars"],
    children: &[],
};

/// A finding: the dotted key path, its line, and the message (None = an
/// accepted-but-unsupported key, reported as a warning).
pub(crate) struct Finding {
    pub path: String,
    pub line: usize,
    pub unknown: Option<String>,
}

/// Walks the document and reports unknown keys (errors) and known but
/// unsupported keys (warnings), in document order.
pub(crate) fn check(root: &Node) -> Vec<Finding> {
    let mut out = Vec::new();
    duplicates(root, "", &mut out);
    walk(root, &ROOT, "", &mut out);
    out.sort_by_key(|f| f.line);
    out
}

/// Reports repeated keys in any mapping, as Go's strict YAML does (serde
/// would keep the last one for maps, or point at the mapping's start).
fn duplicates(node: &Node, path: &str, out: &mut Vec<Finding>) {
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (key_node, value) in node.entries() {
        let key = key_node.text().unwrap_or_default();
        let key_path = if path.is_empty() { key.to_string() } else { format!("{path}.{key}") };
        if let Some((_, first)) = seen.iter().find(|(k, _)| *k == key) {
            out.push(Finding {
                path: key_path.clone(),
                line: key_node.line,
                unknown: Some(format!("duplicate key `{key}` (first on line {first})")),
            });
        } else {
            seen.push((key, key_node.line));
        }
        duplicates(value, &key_path, out);
    }
    for (i, item) in node.items().iter().enumerate() {
        duplicates(item, &format!("{path}[{i}]"), out);
    }
}

fn walk(node: &Node, section: &Section, path: &str, out: &mut Vec<Finding>) {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_string()
        } else {
            format!("{path}.{key}")
        }
    };
    let mut seen: Vec<&str> = Vec::new();
    for (key_node, value) in node.entries() {
        let Some(key) = key_node.text() else {
            out.push(Finding {
                path: path.to_string(),
                line: key_node.line,
                unknown: Some("keys must be plain strings".into()),
            });
            continue;
        };
        // Merge keys: an inline `<<: {...}` holds keys of this section; an
        // alias (`<<: *defaults`) was checked where its anchor is.
        if key == "<<" {
            walk(value, section, path, out);
            for item in value.items() {
                walk(item, section, path, out);
            }
            continue;
        }
        let key_path = join(key);
        // Duplicates are reported by `duplicates`; check the first one only.
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        if section.supported.contains(&key) {
            if let Some((_, list, child)) = section.children.iter().find(|(k, _, _)| *k == key) {
                if *list {
                    for (i, item) in value.items().iter().enumerate() {
                        walk(item, child, &format!("{key_path}[{i}]"), out);
                    }
                } else {
                    walk(value, child, &key_path, out);
                }
            }
        } else if section.unsupported.contains(&key) || (std::ptr::eq(section, &SCRAPE) && is_unsupported_sd(key)) {
            out.push(Finding { path: key_path, line: key_node.line, unknown: None });
        } else {
            let known = section.supported.iter().chain(section.unsupported);
            let hint = known
                .filter(|k| edit_distance(k, key) <= 2.max(key.len() / 4))
                .min_by_key(|k| edit_distance(k, key))
                .map(|k| format!(" (did you mean `{k}`?)"))
                .unwrap_or_default();
            out.push(Finding {
                path: key_path,
                line: key_node.line,
                unknown: Some(format!("unknown field `{key}`{hint}")),
            });
        }
    }
}

/// Service discoveries: the known list, plus any other `*_sd_configs`
/// (Prometheus keeps adding them; a new one should not stop a file loading).
fn is_unsupported_sd(key: &str) -> bool {
    UNSUPPORTED_SD.contains(&key) || (key.ends_with("_sd_configs") && key.len() > "_sd_configs".len())
}

/// Levenshtein distance, for "did you mean" hints.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb)).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::super::marked;
    use super::*;

    #[test]
    fn finds_unknown_and_unsupported_keys() {
        let doc = "\
global:
  scrape_intervl: 1m
  query_log_file: q.log
remote_read:
  - url: http://x
scrape_configs:
  - job_name: a
    kubernetes_sd_configs: [{role: pod}]
    basic_auth: {username: u, pasword: p}
    static_configs:
      - targets: [a]
        lables: {}
    oci_compute_sd_configs: [{}]
bogus: 1
";
        let root = marked::parse(doc).expect("parses");
        let got: Vec<(String, usize, Option<String>)> =
            check(&root).into_iter().map(|f| (f.path, f.line, f.unknown)).collect();
        assert_eq!(
            got,
            vec![
                (
                    "global.scrape_intervl".to_string(),
                    2,
                    Some("unknown field `scrape_intervl` (did you mean `scrape_interval`?)".to_string())
                ),
                ("global.query_log_file".to_string(), 3, None),
                ("remote_read".to_string(), 4, None),
                ("scrape_configs[0].kubernetes_sd_configs".to_string(), 8, None),
                (
                    "scrape_configs[0].basic_auth.pasword".to_string(),
                    9,
                    Some("unknown field `pasword` (did you mean `password`?)".to_string())
                ),
                (
                    "scrape_configs[0].static_configs[0].lables".to_string(),
                    12,
                    Some("unknown field `lables` (did you mean `labels`?)".to_string())
                ),
                ("scrape_configs[0].oci_compute_sd_configs".to_string(), 13, None),
                ("bogus".to_string(), 14, Some("unknown field `bogus`".to_string())),
            ]
        );
    }

    #[test]
    fn distance() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "ab"), 2);
        assert_eq!(edit_distance("same", "same"), 0);
    }
}
