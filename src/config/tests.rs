//! Loader tests. Fixtures live in tests/fixtures/config and are named by
//! outcome (`*.good.yml` load, `*.bad.yml` fail), like Prometheus's
//! config/testdata; the table below says which errors each bad file gives.

use super::*;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/config")
}

fn load_fixture(name: &str) -> Result<Loaded, ConfigErrors> {
    load_file(&fixtures().join(name))
}

/// Errors as `line: key: message` (file name left out).
fn error_lines(e: &ConfigErrors) -> Vec<String> {
    e.0.iter()
        .map(|e| format!("{}: {}: {}", e.line.map(|l| l.to_string()).unwrap_or_default(), e.key, e.message))
        .collect()
}

fn load_ok(name: &str) -> Loaded {
    match load_fixture(name) {
        Ok(l) => l,
        Err(e) => panic!("{name} should load, got:\n{e}"),
    }
}

const BAD: &[(&str, &[&str])] = &[
    (
        "unknown_key.bad.yml",
        &[
            "2: global.scrape_intervall: unknown field `scrape_intervall` (did you mean `scrape_interval`?)",
            "5: scrape_configs[0].metric_path: unknown field `metric_path` (did you mean `metrics_path`?)",
            "8: scrape_configs[0].static_configs[0].lables: unknown field `lables` (did you mean `labels`?)",
            "9: alertmanagers: unknown field `alertmanagers` (did you mean `alertmanager`?)",
        ],
    ),
    ("scrape_timeout.bad.yml", &["8: scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval"]),
    ("global_timeout.bad.yml", &["3: global.scrape_timeout: global scrape timeout greater than scrape interval"]),
    (
        "duplicate_job.bad.yml",
        &["6: scrape_configs[2].job_name: found multiple scrape configs with job name \"node\" (first defined on line 2)"],
    ),
    (
        "bad_regex.bad.yml",
        &[
            "5: scrape_configs[0].relabel_configs[0].regex: invalid regex \"(unclosed\": unclosed group",
            "9: scrape_configs[0].metric_relabel_configs[0].regex: invalid regex \"a[z-a]\": invalid character class range, the start must be <= the end",
        ],
    ),
    (
        "bad_duration.bad.yml",
        &[
            "2: global.scrape_interval: not a valid duration string: \"15 seconds\"",
            "3: global.evaluation_interval: not a valid duration string: \"1m30\"",
            "6: scrape_configs[0].scrape_interval: not a valid duration string: \"1h1d\"",
            "9: scrape_configs[0].file_sd_configs[0].refresh_interval: not a valid duration string: \"5\"",
            "11: storage.retention: not a valid duration string: \"forever\"",
        ],
    ),
    (
        "bad_target.bad.yml",
        &[
            "6: scrape_configs[0].static_configs[0].targets[1]: \"http://localhost:9100\" is not a valid hostname: leave out the scheme (set `scheme: https` on the job instead)",
            "7: scrape_configs[0].static_configs[0].targets[2]: \"localhost:9100/metrics\" is not a valid hostname (a target is host:port; set the path with metrics_path)",
            "8: scrape_configs[0].static_configs[0].targets[3]: \"localhost:http\" is not a valid target address: invalid port \"http\"",
        ],
    ),
    ("bad_type.bad.yml", &["3: scrape_configs[0].honor_labels: invalid type: string \"yes please\", expected a boolean"]),
    (
        "multiple_errors.bad.yml",
        &[
            "5: scrape_configs[0].sample_limit: invalid type: string \"lots\", expected a whole number (0 or more)",
            "8: scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval",
            "12: scrape_configs[2].static_configs[0].targets: invalid type: string \"a:1\", expected a sequence",
            "13: scrape_configs[3].job_name: found multiple scrape configs with job name \"semantic\" (first defined on line 7)",
            "14: scrape_configs[3].scheme: scheme must be \"http\" or \"https\", not \"ftp\"",
        ],
    ),
    (
        "auth_conflicts.bad.yml",
        &[
            "3: scrape_configs[0].basic_auth: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            "10: scrape_configs[1].bearer_token_file: at most one of bearer_token & bearer_token_file must be configured",
            "14: scrape_configs[2].authorization.type: authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            "21: scrape_configs[3].basic_auth.password_file: at most one of basic_auth password & password_file must be configured",
        ],
    ),
    ("empty_job_name.bad.yml", &["2: scrape_configs[0]: job_name is empty", "4: scrape_configs[1]: job_name is empty"]),
    (
        "null_sections.bad.yml",
        &[
            "4: scrape_configs[0].static_configs[0]: empty or null section in static_configs",
            "6: scrape_configs[0].relabel_configs[0]: empty or null target relabeling rule in scrape config",
            "7: scrape_configs[1]: empty or null scrape config section",
        ],
    ),
    (
        "bad_label_name.bad.yml",
        &[
            "4: global.external_labels.bad-name: \"bad-name\" is not a valid label name",
            "10: scrape_configs[0].static_configs[0].labels.0zero: \"0zero\" is not a valid label name",
        ],
    ),
    (
        "paths.bad.yml",
        &[
            "2: rule_files[0]: invalid rule file path \"rules/*/alerts.yml\"",
            "6: scrape_configs[0].file_sd_configs[0].files[0]: path name \"targets/*.txt\" is not valid for file discovery",
            "7: scrape_configs[0].file_sd_configs[1]: file service discovery config must contain at least one path name",
        ],
    ),
    (
        "invalid_yaml.bad.yml",
        &["5: : invalid YAML: did not find expected ',' or ']', while parsing a flow sequence at line 4 column 15"],
    ),
    (
        "relabel_rules.bad.yml",
        &[
            "4: scrape_configs[0].relabel_configs[0]: relabel configuration for hashmod requires non-zero modulus",
            "7: scrape_configs[0].relabel_configs[1]: relabel configuration for replace action requires 'target_label' value",
            "9: scrape_configs[0].relabel_configs[2].action: unknown relabel action \"explode\"",
            "10: scrape_configs[0].relabel_configs[3]: labeldrop action requires only 'regex', and no other fields",
            "14: scrape_configs[0].relabel_configs[4].target_label: \"0bad\" is invalid 'target_label' for replace action",
            "16: scrape_configs[0].relabel_configs[5].replacement: \"-x\" is invalid 'replacement' for labelmap action",
            "17: scrape_configs[0].relabel_configs[6].source_labels: \"bad-name\" is not a valid label name",
            "19: scrape_configs[0].relabel_configs[7]: empty or null target relabeling rule in scrape config",
            "20: scrape_configs[0].relabel_configs[8].action: relabel action cannot be empty",
        ],
    ),
    (
        "body_size.bad.yml",
        &[
            "2: global.body_size_limit: size \"100\" has no unit (use B, KB, MB, GB, TB, PB or EB, e.g. 100MB)",
            "5: scrape_configs[0].body_size_limit: unknown size unit \"XB\" in \"10XB\" (use B, KB, MB, GB, TB, PB or EB)",
        ],
    ),
    ("not_a_mapping.bad.yml", &["1: : the configuration must be a mapping of sections (global:, scrape_configs:, ...)"]),
    (
        "sections_wrong_type.bad.yml",
        &[
            "1: global: invalid type: string \"15s\", expected a mapping",
            "3: scrape_configs: invalid type: map, expected a sequence",
            "5: web.listen_address: \"9900\" is not host:port (e.g. 0.0.0.0:9900 or :9900)",
        ],
    ),
];

#[test]
fn bad_fixtures_report_every_error_with_its_line() {
    for (name, want) in BAD {
        let err = match load_fixture(name) {
            Ok(_) => panic!("{name} should not load"),
            Err(e) => e,
        };
        assert_eq!(error_lines(&err), *want, "{name}");
        for e in &err.0 {
            assert!(e.file.ends_with(name), "{name}: error names {:?}", e.file);
        }
    }
}

#[test]
fn bad_files_that_depend_on_the_filesystem() {
    // Paths in these messages are absolute, so they are checked by pieces.
    let err = load_fixture("missing_password_file.bad.yml").expect_err("missing files");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("5: scrape_configs[0].basic_auth.password_file: cannot read "), "{}", lines[0]);
    assert!(lines[0].contains("secrets/does-not-exist"), "{}", lines[0]);
    assert!(
        lines[1].starts_with("8: scrape_configs[1].bearer_token_file: cannot read /nonexistent/token"),
        "{}",
        lines[1]
    );

    let err = load_fixture("tls_files.bad.yml").expect_err("missing ca");
    let lines = error_lines(&err);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("5: scrape_configs[0].tls_config.ca_file: cannot read "), "{}", lines[0]);
    assert!(lines[1].starts_with("6: scrape_configs[0].tls_config.cert_file: client cert file "), "{}", lines[1]);
    assert!(lines[1].ends_with("specified without client key file"), "{}", lines[1]);
}

#[test]
fn every_fixture_is_in_a_table() {
    // A new fixture must be added to a test, or it tests nothing.
    let mut covered: Vec<&str> = BAD.iter().map(|(n, _)| *n).collect();
    covered.extend([
        "missing_password_file.bad.yml",
        "tls_files.bad.yml",
        "conf.good.yml",
        "minimal.good.yml",
        "empty.good.yml",
        "global_defaults.good.yml",
        "prometheus_realworld.good.yml",
    ]);
    for entry in std::fs::read_dir(fixtures()).expect("fixtures folder") {
        let name = entry.expect("entry").file_name().to_string_lossy().into_owned();
        if name.ends_with(".yml") {
            assert!(covered.contains(&name.as_str()), "fixture {name} is not checked by any test");
        }
    }
}

#[test]
fn display_formats() {
    let err = ConfigError {
        file: PathBuf::from("sightline.yml"),
        line: Some(12),
        key: "scrape_configs[1].scrape_timeout".into(),
        message: "scrape timeout greater than scrape interval".into(),
    };
    assert_eq!(
        err.to_string(),
        "sightline.yml:12: scrape_configs[1].scrape_timeout: scrape timeout greater than scrape interval"
    );
    let warn = ConfigError {
        file: PathBuf::from("p.yml"),
        line: Some(3),
        key: "remote_write".into(),
        message: UNSUPPORTED.into(),
    };
    assert_eq!(warn.to_string(), "p.yml:3: remote_write is not supported yet and is ignored");
    let whole =
        ConfigError { file: PathBuf::from("p.yml"), line: None, key: String::new(), message: "cannot read".into() };
    assert_eq!(whole.to_string(), "p.yml: cannot read");
    let both = ConfigErrors(vec![err, warn]);
    assert_eq!(both.to_string().lines().count(), 2);
}

#[test]
fn real_world_prometheus_yml_loads_with_warnings_only() {
    let loaded = load_ok("prometheus_realworld.good.yml");
    let warnings: Vec<String> = loaded.warnings.iter().map(|w| format!("{}: {}", w.line.unwrap_or(0), w.key)).collect();
    assert_eq!(
        warnings,
        [
            "7: global.query_log_file",
            "8: global.scrape_protocols",
            "13: runtime",
            "54: remote_read",
            "59: storage.tsdb",
            "61: storage.exemplars",
            "64: tracing",
            "69: otlp",
            "79: scrape_configs[1].kubernetes_sd_configs",
            "92: scrape_configs[2].track_timestamps_staleness",
            "93: scrape_configs[2].kubernetes_sd_configs",
            "125: scrape_configs[3].consul_sd_configs",
            "152: scrape_configs[5].ec2_sd_configs",
            "158: scrape_configs[5].oauth2",
            "162: scrape_configs[5].proxy_url",
            "178: scrape_configs[7].dns_sd_configs",
        ]
    );
    assert!(loaded.warnings.iter().all(|w| w.to_string().ends_with("is not supported yet and is ignored")));
    let c = loaded.config;
    assert_eq!(c.scrape_configs.len(), 8);
    assert_eq!(c.global.external_labels.get("cluster"), Some("prod-eu-west-1"));
    assert_eq!(c.rule_files, ["/etc/prometheus/rules/*.rules.yml"]);
    // alerting is kept, unparsed, for the rules module.
    let alerting = c.raw_alerting.expect("alerting kept");
    assert!(alerting.get("alertmanagers").and_then(|a| a.as_sequence()).is_some_and(|a| a.len() == 1));
    let pods = &c.scrape_configs[2];
    assert_eq!(pods.job_name, "kubernetes-pods");
    assert_eq!(pods.relabel_configs.len(), 6);
    assert_eq!(pods.relabel_configs[2].replacement, "$1:$2");
    let federate = &c.scrape_configs[6];
    assert_eq!(federate.params.get("match[]").map(Vec::len), Some(2));
    let api = &c.scrape_configs[1];
    assert!(matches!(&api.auth, Some(Auth::Bearer(t)) if t == "tok-en"), "{:?}", api.auth);
    assert_eq!(api.scheme, "https");
}

#[test]
fn every_supported_key_is_read() {
    let loaded = load_ok("conf.good.yml");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let c = loaded.config;
    assert_eq!(c.base_dir, fixtures());
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(30));
    assert_eq!(c.global.external_labels, Labels::from_pairs([("cluster", "eu-1"), ("replica", "0")]));
    assert_eq!(c.rule_files, ["rules/*.yml", "/etc/sightline/alerts.yml"]);
    assert_eq!(c.web.listen_address.as_deref(), Some("0.0.0.0:9900"));
    assert_eq!(c.storage.path, Some(fixtures().join("data")));
    assert_eq!(c.storage.retention, Some(Duration::from_secs(30 * 86_400)));

    let own = &c.scrape_configs[0];
    assert_eq!(own.job_name, "sightline");
    assert_eq!((own.scrape_interval, own.scrape_timeout), (Duration::from_secs(15), Duration::from_secs(5)));
    assert_eq!(own.metrics_path, "/metrics");
    assert_eq!(own.scheme, "http");
    assert!(!own.honor_labels && own.honor_timestamps && own.enable_compression);
    assert!(own.auth.is_none());
    assert_eq!(own.sample_limit, 5000, "global sample_limit is the default");
    assert_eq!(own.body_size_limit, 10 << 20, "global body_size_limit is the default");
    assert_eq!(own.line, Some(24));
    assert_eq!(own.static_configs[0].targets, ["localhost:9900"]);
    assert_eq!(own.static_configs[0].source, "0");

    let node = &c.scrape_configs[1];
    assert_eq!(node.line, Some(28));
    assert_eq!((node.scrape_interval, node.scrape_timeout), (Duration::from_secs(30), Duration::from_secs(20)));
    assert_eq!(node.metrics_path, "/custom/metrics");
    assert_eq!(node.scheme, "https");
    assert_eq!(node.params.get("module"), Some(&vec!["if_mib".to_string()]));
    assert_eq!(node.params.get("debug"), Some(&vec!["true".to_string(), "1".to_string()]));
    assert!(node.honor_labels && !node.honor_timestamps && !node.enable_compression);
    assert!(
        matches!(&node.auth, Some(Auth::Basic { username, password }) if username == "prom" && password == "s3cret")
    );
    assert_eq!(node.tls.ca_file, Some(fixtures().join("tls/ca.pem")));
    assert_eq!(node.tls.cert_file, Some(fixtures().join("tls/client.pem")));
    assert_eq!(node.tls.key_file, Some(fixtures().join("tls/client.key")));
    assert_eq!(node.tls.server_name.as_deref(), Some("node.internal"));
    assert!(node.tls.insecure_skip_verify);
    assert_eq!(
        (
            node.sample_limit,
            node.label_limit,
            node.label_name_length_limit,
            node.label_value_length_limit,
            node.target_limit
        ),
        (100, 30, 200, 1000, 50)
    );
    assert_eq!(node.body_size_limit, 1 << 20);
    assert_eq!(node.static_configs.len(), 2);
    assert_eq!(node.static_configs[0].targets.len(), 3);
    assert_eq!(node.static_configs[0].labels, Labels::from_pairs([("env", "prod"), ("port", "9100")]));
    assert_eq!(node.static_configs[1].source, "1");
    assert_eq!(node.file_sd_configs.len(), 2);
    assert_eq!(
        node.file_sd_configs[0].files,
        [fixtures().join("targets/*.json"), fixtures().join("targets/apps.yml")]
            .map(|p| p.to_string_lossy().into_owned())
    );
    assert_eq!(node.file_sd_configs[0].refresh_interval, Duration::from_secs(60));
    assert_eq!(node.file_sd_configs[1].files, ["/etc/sightline/targets/*.yaml"]);
    assert_eq!(node.file_sd_configs[1].refresh_interval, Duration::from_secs(300));

    let r = &node.relabel_configs;
    assert_eq!(r.len(), 6);
    assert_eq!(r[0].action, RelabelAction::Replace);
    assert_eq!(r[0].regex.as_str(), r"([^:]+):\d+");
    assert_eq!((r[0].target_label.as_str(), r[0].replacement.as_str()), ("host", "${1}"));
    assert_eq!((r[1].action, r[1].modulus), (RelabelAction::HashMod, 8));
    assert_eq!(r[2].action, RelabelAction::Keep);
    assert!(r[2].regex.is_match("3") && !r[2].regex.is_match("13"), "regex is anchored");
    assert_eq!(r[3].action, RelabelAction::LabelMap);
    assert_eq!(r[3].replacement, "$1");
    assert_eq!(r[4].action, RelabelAction::LabelDrop);
    assert_eq!(r[5].action, RelabelAction::Uppercase);
    let m = &node.metric_relabel_configs;
    assert_eq!(m[0].separator, "@");
    assert_eq!(m[0].source_labels, ["__name__", "le"]);
    assert_eq!((m[1].regex.as_str(), m[1].replacement.as_str()), ("200", "yes"));

    let by_name = |n: &str| c.scrape_configs.iter().find(|j| j.job_name == n).expect(n);
    assert!(matches!(&by_name("bearer-file").auth, Some(Auth::Bearer(t)) if t == "tok-en"), "token file is trimmed");
    assert!(matches!(&by_name("bearer").auth, Some(Auth::Bearer(t)) if t == "abc123"));
    assert!(
        matches!(&by_name("authz").auth, Some(Auth::Authorization { kind, credentials }) if kind == "Bearer" && credentials == "tok-en")
    );
    assert!(
        matches!(&by_name("authz-custom").auth, Some(Auth::Authorization { kind, credentials }) if kind == "Token" && credentials == "xyz")
    );
    assert!(
        matches!(&by_name("user-file").auth, Some(Auth::Basic { username, password }) if username == "admin" && password == "1234")
    );
}

#[test]
fn global_defaults_are_inherited() {
    let c = load_ok("global_defaults.good.yml").config;
    assert_eq!(c.global.scrape_interval, Duration::from_secs(5));
    assert_eq!(c.global.scrape_timeout, Duration::from_secs(5), "default 10s is capped at the interval");
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(60));
    let j: Vec<(Duration, Duration, usize)> =
        c.scrape_configs.iter().map(|j| (j.scrape_interval, j.scrape_timeout, j.sample_limit)).collect();
    assert_eq!(
        j,
        [
            (Duration::from_secs(5), Duration::from_secs(5), 1000),
            (Duration::from_secs(60), Duration::from_secs(5), 10),
            (Duration::from_secs(2), Duration::from_secs(2), 1000),
        ]
    );
}

#[test]
fn defaults_without_global_section() {
    for name in ["minimal.good.yml", "empty.good.yml"] {
        let loaded = load_ok(name);
        assert!(loaded.warnings.is_empty());
        let g = &loaded.config.global;
        assert_eq!(
            (g.scrape_interval, g.scrape_timeout, g.evaluation_interval),
            (Duration::from_secs(60), Duration::from_secs(10), Duration::from_secs(60))
        );
        assert!(loaded.config.raw_alerting.is_none());
        assert!(loaded.config.web.listen_address.is_none());
        assert!(loaded.config.storage.path.is_none() && loaded.config.storage.retention.is_none());
    }
    let minimal = load_ok("minimal.good.yml").config;
    let job = &minimal.scrape_configs[0];
    assert_eq!((job.scrape_interval, job.scrape_timeout), (Duration::from_secs(60), Duration::from_secs(10)));
    assert_eq!(job.sample_limit, 0);
    // An empty global section keeps the defaults too.
    let c = parse_str("global:\n", Path::new("x.yml")).expect("loads").config;
    assert_eq!(c.global.scrape_interval, Duration::from_secs(60));
    let cwd = std::env::current_dir().expect("cwd");
    assert_eq!(c.base_dir, cwd, "a bare file name means the working folder, made absolute");
    let c = parse_str("storage: {path: data}\n", Path::new("conf/x.yml")).expect("loads").config;
    assert_eq!(c.base_dir, cwd.join("conf"));
    assert_eq!(c.storage.path, Some(cwd.join("conf/data")));
}

#[test]
fn anchors_and_aliases_work() {
    let src = "\
scrape_configs:
  - job_name: a
    relabel_configs: &common
      - target_label: env
        replacement: prod
    static_configs: [{targets: ['a:1']}]
  - job_name: b
    relabel_configs: *common
    static_configs: [{targets: ['b:1']}]
";
    let c = parse_str(src, Path::new("a.yml")).expect("loads").config;
    assert_eq!(c.scrape_configs[1].relabel_configs, c.scrape_configs[0].relabel_configs);
    assert_eq!(c.scrape_configs[1].relabel_configs.len(), 1);
}

#[test]
fn warnings_for_unsupported_http_options() {
    let src = "\
scrape_configs:
  - job_name: a
    follow_redirects: false
    http_headers: {X-Thing: {values: [a]}}
    static_configs: [{targets: ['a:1']}]
";
    let loaded = parse_str(src, Path::new("w.yml")).expect("loads");
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "w.yml:3: scrape_configs[0].follow_redirects is not supported yet and is ignored",
            "w.yml:4: scrape_configs[0].http_headers is not supported yet and is ignored",
        ]
    );
}

#[test]
fn unreadable_file() {
    let err = load_file(&fixtures().join("no-such-file.yml")).expect_err("missing");
    assert_eq!(err.0.len(), 1);
    assert!(err.to_string().contains("no-such-file.yml: cannot read the configuration file"), "{err}");
}

#[test]
fn default_config_scrapes_itself() {
    let loaded = parse_str(DEFAULT_CONFIG, Path::new("default.yml")).expect("built-in config loads");
    assert!(loaded.warnings.is_empty());
    let c = default_config("0.0.0.0:12345");
    assert_eq!(c.global.scrape_interval, Duration::from_secs(15));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(15));
    assert_eq!(c.scrape_configs.len(), 1);
    assert_eq!(c.scrape_configs[0].job_name, "sightline");
    assert_eq!(c.scrape_configs[0].static_configs[0].targets, ["0.0.0.0:12345"]);
}

#[test]
fn file_sd_json_and_yaml() {
    let dir = fixtures().join("targets");
    let json = read_file_sd(&dir.join("nodes.json")).expect("json loads");
    assert_eq!(json.len(), 2);
    assert_eq!(json[0].targets, ["10.0.0.1:9100", "10.0.0.2:9100"]);
    assert_eq!(json[0].labels.get("env"), Some("prod"));
    assert_eq!(json[0].labels.get("__meta_filepath"), Some(dir.join("nodes.json").to_string_lossy().as_ref()));
    assert_eq!(json[1].source, format!("{}:1", dir.join("nodes.json").display()));
    assert_eq!(json[1].labels.len(), 1, "only __meta_filepath");

    let yaml = read_file_sd(&dir.join("apps.yml")).expect("yaml loads");
    assert_eq!(yaml.len(), 2);
    assert_eq!(yaml[0].targets, ["app-1:8080", "app-2:8080"]);
    assert_eq!(yaml[0].labels.get("port"), Some("8080"), "numbers read as text");
    assert_eq!(yaml[1].targets, ["[::1]:9090"]);

    assert!(read_file_sd(&dir.join("empty.yml")).expect("empty loads").is_empty());

    let e = read_file_sd(&dir.join("bad_label.yml")).expect_err("bad label");
    assert_eq!((e.line, e.key.as_str()), (Some(6), "[1].labels.bad-name"));
    assert_eq!(e.message, "\"bad-name\" is not a valid label name");
    let e = read_file_sd(&dir.join("bad_target.json")).expect_err("bad target");
    assert_eq!((e.line, e.key.as_str()), (Some(3), "[1].targets[0]"));
    assert!(e.message.starts_with("\"http://bad:1\" is not a valid hostname"), "{}", e.message);
    let e = read_file_sd(&dir.join("broken.json")).expect_err("broken");
    assert!(e.line.is_some(), "{e}");
    let e = read_file_sd(&dir.join("missing.json")).expect_err("missing");
    assert!(e.message.starts_with("cannot read file_sd file"), "{e}");
    let e = read_file_sd(&fixtures().join("secrets/token")).expect_err("no extension");
    assert!(e.message.contains(".json, .yml or .yaml"), "{e}");
}

#[test]
fn durations_in_config() {
    let src = "global:\n  scrape_interval: 1m30s\n  evaluation_interval: 0\nstorage:\n  retention: 1y\n  retention_size: 10GB\n  downsample_retention: 2y\n";
    let c = parse_str(src, Path::new("d.yml")).expect("loads").config;
    assert_eq!(c.global.scrape_interval, Duration::from_secs(90));
    assert_eq!(c.global.evaluation_interval, Duration::from_secs(60), "0 means the default, as in Prometheus");
    assert_eq!(c.storage.retention, Some(Duration::from_secs(365 * 86_400)));
    assert_eq!(c.storage.retention_size, Some(10 << 30), "Prometheus's base-2 units");
    assert_eq!(c.storage.downsample_retention, Some(Duration::from_secs(2 * 365 * 86_400)));
    let e = parse_str("storage:\n  retention_size: 10 gigs\n", Path::new("d.yml")).expect_err("refused");
    assert!(e.to_string().contains("storage.retention_size"), "{e}");
}

#[test]
fn odd_yaml_is_reported_not_panicked() {
    let cases: &[(&str, &str)] = &[
        ("scrape_configs:\n  - job_name: a\n    job_name: b\n", "3: scrape_configs[0].job_name: duplicate key `job_name` (first on line 2)"),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        labels: {x: 1, x: 2}\n", "5: "),
        ("global:\n\tscrape_interval: 1m\n", "2: "),
        ("a: b\n---\nc: d\n", ""),
        ("scrape_configs:\n  - job_name: a\n    static_configs:\n      - targets: [a:1]\n        labels: [x]\n", "5: "),
        ("scrape_configs: [1, 2]\n", "1: "),
        ("global: {scrape_interval: {}}\n", "1: "),
    ];
    for (src, want_prefix) in cases {
        let err = parse_str(src, Path::new("odd.yml")).expect_err(src);
        let lines = error_lines(&err);
        assert!(!lines.is_empty());
        assert!(lines[0].starts_with(want_prefix), "{src:?}: {lines:?}");
    }
}

#[test]
fn crlf_and_non_ascii_keep_lines() {
    let crlf = "scrape_configs:\r\n  - job_name: a\r\n    static_configs: [{targets: ['a:1']}]\r\n";
    let c = parse_str(crlf, Path::new("crlf.yml")).expect("CRLF loads").config;
    assert_eq!(c.scrape_configs[0].job_name, "a");

    // Multi-byte text before a broken job: the piecewise parse works on
    // character offsets and must still point at the right line.
    let src = "\
# Überwachung – prod ✓
scrape_configs:
  - job_name: ünïcødé
    static_configs: [{targets: ['a:1']}]
  - job_name: b
    honor_labels: maybe
  - job_name: c
    scrape_interval: 1x
";
    let err = parse_str(src, Path::new("u.yml")).expect_err("two errors");
    assert_eq!(
        error_lines(&err),
        [
            "6: scrape_configs[1].honor_labels: invalid type: string \"maybe\", expected a boolean",
            "8: scrape_configs[2].scrape_interval: not a valid duration string: \"1x\"",
        ]
    );
}

#[test]
fn null_regex_is_the_empty_regex() {
    // As in Prometheus: `regex:` with no value matches only the empty string.
    let src = "\
scrape_configs:
  - job_name: a
    relabel_configs:
      - regex:
        replacement: static
        target_label: abc
      - target_label: def
    static_configs: [{targets: ['a:1']}]
";
    let c = parse_str(src, Path::new("n.yml")).expect("loads").config;
    let r = &c.scrape_configs[0].relabel_configs;
    assert_eq!(r[0].regex.as_str(), "");
    assert!(r[0].regex.is_match("") && !r[0].regex.is_match("x"));
    assert_eq!(r[1].regex.as_str(), "(.*)");
}

#[test]
fn debug_output_hides_secrets() {
    let c = load_ok("conf.good.yml").config;
    let printed = format!("{c:?}");
    for secret in ["s3cret", "tok-en", "abc123", "xyz", "1234"] {
        assert!(!printed.contains(secret), "Debug output shows {secret:?}");
    }
    assert!(printed.contains("<secret>"));
    assert!(printed.contains("prom"), "user names are not secret");
}

#[test]
fn globs_expand_from_the_config_folder() {
    let c = load_ok("conf.good.yml").config;
    let node = &c.scrape_configs[1];
    let files = node.file_sd_configs[0].paths();
    let t = fixtures().join("targets");
    assert_eq!(files, [t.join("apps.yml"), t.join("bad_target.json"), t.join("broken.json"), t.join("nodes.json")]);
    assert!(node.file_sd_configs[1].paths().is_empty(), "no match, no files");
    let mut with_rules = c.clone();
    with_rules.rule_files = vec!["targets/*.yml".into(), "targets/apps.yml".into(), "/nonexistent/*.yml".into()];
    assert_eq!(with_rules.rule_file_paths(), [t.join("apps.yml"), t.join("bad_label.yml"), t.join("empty.yml")]);
}

#[test]
fn merge_keys_are_applied() {
    let src = "\
scrape_configs:
  - job_name: base
    scrape_interval: 30s
    metrics_path: /m
    static_configs: [{targets: ['a:1']}]
    relabel_configs: &rl
      - target_label: team
        replacement: web
  - <<: &defaults
      scrape_interval: 1m
      honor_labels: true
    job_name: merged
    static_configs: [{targets: ['b:1']}]
  - <<: *defaults
    job_name: override
    scrape_interval: 2m
    relabel_configs: *rl
    static_configs: [{targets: ['c:1']}]
";
    let loaded = parse_str(src, Path::new("m.yml")).expect("merge keys load");
    assert!(loaded.warnings.is_empty());
    let jobs = &loaded.config.scrape_configs;
    assert_eq!((jobs[1].scrape_interval, jobs[1].honor_labels), (Duration::from_secs(60), true));
    assert_eq!((jobs[2].scrape_interval, jobs[2].honor_labels), (Duration::from_secs(120), true), "own keys win");
    assert_eq!(jobs[2].relabel_configs.len(), 1);

    // A semantic error still finds its job's line; a type error names the file.
    let bad = src.replace("scrape_interval: 2m", "scrape_timeout: 5m");
    let err = parse_str(&bad, Path::new("m.yml")).expect_err("timeout above interval");
    assert_eq!(
        error_lines(&err),
        ["16: scrape_configs[2].scrape_timeout: scrape timeout greater than scrape interval"]
    );
    let bad = src.replace("honor_labels: true", "honor_labels: maybe");
    let err = parse_str(&bad, Path::new("m.yml")).expect_err("type error");
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message.contains("expected a boolean"), "{err}");
    assert!(err.0[0].message.contains("merge keys"), "{err}");
    // Keys inside an inline merge are checked like the job's own.
    let bad = src.replace("honor_labels: true", "honour_labels: true");
    let err = parse_str(&bad, Path::new("m.yml")).expect_err("typo");
    assert_eq!(
        error_lines(&err),
        ["11: scrape_configs[1].honour_labels: unknown field `honour_labels` (did you mean `honor_labels`?)"]
    );
}

#[test]
fn type_errors_in_jobs_that_use_outside_anchors() {
    let src = "\
scrape_configs:
  - job_name: a
    relabel_configs: &rl
      - target_label: env
        replacement: prod
    static_configs: [{targets: ['a:1']}]
  - job_name: b
    relabel_configs: *rl
    honor_labels: perhaps
    static_configs: [{targets: ['b:1']}]
  - job_name: c
    sample_limit: many
    static_configs: [{targets: ['c:1']}]
";
    let err = parse_str(src, Path::new("x.yml")).expect_err("two type errors");
    assert_eq!(
        error_lines(&err),
        [
            "9: scrape_configs[1].honor_labels: invalid type: string \"perhaps\", expected a boolean",
            "12: scrape_configs[2].sample_limit: invalid type: string \"many\", expected a whole number (0 or more)",
        ]
    );
}

#[test]
fn file_sd_unknown_keys_are_errors() {
    let dir = tempfile::tempdir().expect("temp dir");
    let yml = dir.path().join("t.yml");
    std::fs::write(&yml, "- targets: [a:1]\n  lables: {x: y}\n").expect("write");
    let e = read_file_sd(&yml).expect_err("unknown key");
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("unknown field `lables`"), "{e}");
    let json = dir.path().join("t.json");
    std::fs::write(&json, "[\n  {\"targets\": [\"a:1\"],\n   \"label\": {}}\n]\n").expect("write");
    let e = read_file_sd(&json).expect_err("unknown key");
    assert_eq!(e.line, Some(3), "{e}");
    assert!(e.message.contains("unknown field `label`"), "{e}");
}

#[test]
fn host_section() {
    let p = Path::new("s.yml");
    let c = parse_str("global:\n  scrape_interval: 10s\n", p).unwrap().config;
    assert!(c.host.enabled);
    assert_eq!(c.host.job_name, "node");
    let src = "host:\n  enabled: false\n  job_name: machine\n  scrape_interval: 30s\n  collectors: [cpu, meminfo]\n";
    let c = parse_str(src, p).unwrap().config;
    assert!(!c.host.enabled);
    assert_eq!(c.host.job_name, "machine");
    assert_eq!(c.host.scrape_interval, Some(Duration::from_secs(30)));
    assert_eq!(c.host.collectors.as_deref(), Some(&["cpu".to_string(), "meminfo".to_string()][..]));
    let err = parse_str("host:\n  enabeld: true\n", p).unwrap_err().to_string();
    assert!(err.contains("s.yml:2") && err.contains("enabeld"), "{err}");
    let err = parse_str("host:\n  fs_types_exclude: '('\n", p).unwrap_err().to_string();
    assert!(err.contains("host.fs_types_exclude"), "{err}");
}

#[test]
fn dashboards_section() {
    let c = parse_str("dashboards:\n  paths: [dash, /abs/dash]\n", Path::new("/etc/s/s.yml")).unwrap().config;
    assert_eq!(c.dashboard_paths, vec![PathBuf::from("/etc/s/dash"), PathBuf::from("/abs/dash")]);
    assert!(parse_str("dashboards:\n  path: x\n", Path::new("s.yml")).is_err());
}

#[test]
fn alertmanager_sections() {
    let p = Path::new("/etc/s/s.yml");
    let c = parse_str("alertmanager:\n  route: {receiver: x}\n  receivers: [{name: x}]\n", p).unwrap().config;
    match c.alertmanager {
        Some(AlertmanagerSource::Inline(y)) => assert!(y.contains("receiver: x"), "{y}"),
        other => panic!("{other:?}"),
    }
    let err = parse_str("alertmanager_config_file: /nonexistent/am.yml\n", p).unwrap_err().to_string();
    assert!(err.contains("s.yml:1") && err.contains("alertmanager_config_file"), "{err}");
}

const PROBES: &str = "\
global:
  scrape_interval: 10s
  scrape_timeout: 3s
probes:
  modules:
    http_2xx:
      prober: http
      timeout: 5s
      http:
        valid_status_codes: [200]
        method: GET
    tcp_connect:
      prober: tcp
      timeout: 1s
scrape_configs:
  - job_name: web
    probe: http_2xx
    static_configs:
      - targets: ['https://example.com/health', 'http://[::1]:8080/']
  - job_name: ports
    probe: tcp_connect
    file_sd_configs:
      - files: [ports.json]
    relabel_configs:
      - source_labels: [__address__]
        target_label: port
        regex: '.*:(\\d+)'
";

#[test]
fn probe_modules_and_probe_jobs() {
    let c = parse_str(PROBES, Path::new("/etc/s/s.yml")).unwrap().config;
    assert_eq!(c.probe_modules.keys().collect::<Vec<_>>(), ["http_2xx", "tcp_connect"]);
    assert_eq!(c.probe_modules["http_2xx"].http.valid_status_codes, [200]);
    let web = &c.scrape_configs[0];
    let p = web.probe.as_ref().expect("web is a probe job");
    assert_eq!(p.module, "http_2xx");
    // The module's 5s is capped by the job's 3s scrape timeout.
    assert_eq!(p.probe.timeout(), Duration::from_secs(3));
    // URLs are fine as probe targets (they are not host:port).
    assert_eq!(web.static_configs[0].targets, ["https://example.com/health", "http://[::1]:8080/"]);
    let ports = c.scrape_configs[1].probe.as_ref().expect("ports is a probe job");
    assert_eq!(ports.probe.timeout(), Duration::from_secs(1), "the module's shorter timeout wins");
    assert_eq!(c.scrape_configs[1].relabel_configs.len(), 1);
    assert!(c.default_rules, "default rules are on unless turned off");

    // Without probe:, a URL target is still an error.
    let plain = PROBES.replace("    probe: http_2xx\n", "");
    let err = error_lines(&parse_str(&plain, Path::new("s.yml")).unwrap_err());
    assert_eq!(err.len(), 2, "{err:?}");
    assert!(err[0].starts_with("18: scrape_configs[0].static_configs[0].targets[0]: "), "{err:?}");
}

#[test]
fn probe_errors_have_lines() {
    let src = "\
probes:
  modules:
    ok:
      prober: http
    typo:
      prober: http
      http:
        fail_if_body_not_match_regexp: [x]
    badre:
      prober: http
      http:
        fail_if_body_matches_regexp: ['(']
    icmp:
      prober: icmp
    slow:
      prober: tcp
      timeout: 5 s
  extra: 1
scrape_configs:
  - job_name: a
    probe: htp_2xx
    static_configs: [{targets: [x]}]
  - job_name: b
    probe: ok
    metrics_path: /probe
    params: {module: [ok]}
    static_configs: [{targets: [x]}]
";
    let err = error_lines(&parse_str(src, Path::new("s.yml")).unwrap_err());
    let want = [
        "8: probes.modules.typo.http.fail_if_body_not_match_regexp: unknown field `fail_if_body_not_match_regexp`",
        "9: probes.modules.badre: ",
        "14: probes.modules.icmp.prober: invalid configuration: unknown prober \"icmp\" (expected http, tcp or dns)",
        "17: probes.modules.slow.timeout: invalid unit \" s\" in duration \"5 s\"",
        "18: probes.extra: unknown field `extra`, expected `modules`",
        "21: scrape_configs[0].probe: unknown probe module \"htp_2xx\"; known modules: ok",
        "25: scrape_configs[1].metrics_path: has no effect in a job with `probe:`",
        "26: scrape_configs[1].params: has no effect in a job with `probe:`",
    ];
    assert_eq!(err.len(), want.len(), "{err:#?}");
    for (got, want) in err.iter().zip(want) {
        assert!(got.starts_with(want), "got {got:?}, want it to start with {want:?}");
    }
    assert!(err[1].contains("fail_if_body_matches_regexp"), "{}", err[1]);

    let err =
        parse_str("scrape_configs:\n  - job_name: a\n    probe: m\n", Path::new("s.yml")).unwrap_err().to_string();
    assert!(
        err.contains("s.yml:3: scrape_configs[0].probe: unknown probe module \"m\"; no probe modules are defined"),
        "{err}"
    );
    let err = parse_str("probes: {}\nprobes_config_file: b.yml\n", Path::new("s.yml")).unwrap_err().to_string();
    assert!(err.contains("s.yml:2: probes_config_file: set either probes"), "{err}");
    let err = parse_str("probes: [a]\n", Path::new("s.yml")).unwrap_err().to_string();
    assert!(err.contains("s.yml:1: probes: expected a mapping"), "{err}");
}

#[test]
fn probes_config_file_is_read_from_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bb")).unwrap();
    std::fs::write(dir.path().join("bb/token"), "s3cret\n").unwrap();
    let blackbox = "modules:\n  http_auth:\n    prober: http\n    http:\n      bearer_token_file: token\n  dns_a:\n    prober: dns\n    dns:\n      query_name: example.com\n";
    std::fs::write(dir.path().join("bb/blackbox.yml"), blackbox).unwrap();
    let src = "probes_config_file: bb/blackbox.yml\ndefault_rules: false\nscrape_configs:\n  - job_name: dns\n    probe: dns_a\n    static_configs: [{targets: ['127.0.0.1:53']}]\n";
    let cfg_path = dir.path().join("sightline.yml");
    let c = parse_str(src, &cfg_path).unwrap().config;
    assert_eq!(c.probe_modules.len(), 2);
    // The token file is found beside blackbox.yml, where blackbox_exporter looks.
    assert_eq!(c.probe_modules["http_auth"].http.bearer_token_file, Some(dir.path().join("bb/token")));
    assert_eq!(c.scrape_configs[0].probe.as_ref().map(|p| p.module.as_str()), Some("dns_a"));
    assert!(!c.default_rules);

    // Errors in the blackbox file name that file and its line.
    std::fs::write(dir.path().join("bb/blackbox.yml"), "modules:\n  a:\n    prober: dns\n").unwrap();
    let e = parse_str(src, &cfg_path).unwrap_err();
    assert_eq!(e.0.len(), 2, "{e}");
    let bad = e.0.iter().find(|e| e.file.ends_with("bb/blackbox.yml")).expect("an error in blackbox.yml");
    assert_eq!((bad.line, bad.key.as_str()), (Some(2), "modules.a"), "{bad}");
    assert!(bad.message.contains("query_name is required"), "{bad}");

    // file_sd targets of probe jobs are taken as written, too.
    let sd = dir.path().join("sd.json");
    std::fs::write(&sd, r#"[{"targets": ["https://example.com/"], "labels": {"team": "web"}}]"#).unwrap();
    assert!(read_file_sd(&sd).unwrap_err().message.contains("leave out the scheme"));
    let groups = read_file_sd_for_probes(&sd).unwrap();
    assert_eq!(groups[0].targets, ["https://example.com/"]);
    assert_eq!(groups[0].labels.get("team"), Some("web"));

    let e = parse_str("probes_config_file: nope.yml\n", &cfg_path).unwrap_err().to_string();
    assert!(e.contains("sightline.yml:1: probes_config_file: cannot read ") && e.contains("nope.yml"), "{e}");
    std::fs::write(dir.path().join("bb/blackbox.yml"), "modules: [\n").unwrap();
    let e = parse_str(src, &cfg_path).unwrap_err().to_string();
    assert!(e.contains("blackbox.yml") && e.contains("invalid YAML"), "{e}");
}

#[test]
fn default_rules_are_embedded() {
    let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(DEFAULT_RULES).unwrap();
    let rules = v["groups"][0]["rules"].as_sequence().expect("one group of rules");
    let names: Vec<&str> = rules.iter().filter_map(|r| r["alert"].as_str()).collect();
    assert_eq!(
        names,
        [
            "TargetDown",
            "ProbeFailed",
            "TLSCertificateExpiringSoon",
            "DiskFillingWithin24h",
            "MemorySaturation",
            "CPUSaturation"
        ]
    );
    for r in rules {
        assert!(crate::promql::parse(r["expr"].as_str().unwrap()).is_ok(), "{:?}", r["expr"]);
    }
}

#[test]
fn query_limits() {
    let p = Path::new("s.yml");
    assert_eq!(parse_str("global: {}\n", p).unwrap().config.query, QueryConfig::default());
    let q = parse_str("query:\n  timeout: 30s\n  max_samples: 1000\n  max_concurrency: 4\n  lookback_delta: 2m\n", p)
        .unwrap()
        .config
        .query;
    assert_eq!(q.timeout, Duration::from_secs(30));
    assert_eq!((q.max_samples, q.max_concurrency), (1000, 4));
    assert_eq!(q.lookback_delta, Duration::from_secs(120));
    let err = parse_str("query:\n  max_concurrency: 0\n  timeout: soon\n", p).unwrap_err().to_string();
    assert!(err.contains("query.max_concurrency") && err.contains("query.timeout"), "{err}");
}

#[test]
fn remote_write_is_read_with_prometheus_defaults() {
    let src = "\
global:
  external_labels: {cluster: eu}
remote_write:
  - url: http://vm:8428/api/v1/write
  - url: https://mimir.example.com/api/v1/push
    name: mimir
    remote_timeout: 10s
    headers: {X-Scope-OrgID: team-a}
    basic_auth: {username: writer, password: s3cret}
    write_relabel_configs:
      - source_labels: [__name__]
        regex: 'go_.*'
        action: drop
    queue_config:
      capacity: 500
      max_samples_per_send: 100
      batch_send_deadline: 2s
      min_backoff: 100ms
      max_backoff: 10s
      retry_on_http_429: false
      min_shards: 2
    queue_max_bytes: 64MiB
    send_exemplars: true
";
    let loaded = parse_str(src, Path::new("rw.yml")).expect("loads");
    let rw = &loaded.config.remote_write;
    assert_eq!(rw.len(), 2);
    assert_eq!(rw[0].name, default_remote_name("http://vm:8428/api/v1/write"));
    assert_eq!(rw[0].name.len(), 6);
    assert_eq!(rw[0].remote_timeout, Duration::from_secs(30));
    assert_eq!(rw[0].queue, RemoteQueueConfig::default());
    assert_eq!(rw[0].queue.max_samples_per_send, 2000);
    assert_eq!(rw[0].queue_max_bytes, DEFAULT_QUEUE_MAX_BYTES);
    assert!(rw[0].auth.is_none());
    let m = &rw[1];
    assert_eq!((m.name.as_str(), m.remote_timeout, m.line), ("mimir", Duration::from_secs(10), Some(5)));
    assert_eq!(m.headers.get("X-Scope-OrgID").map(String::as_str), Some("team-a"));
    assert!(
        matches!(&m.auth, Some(Auth::Basic { username, password }) if username == "writer" && password == "s3cret")
    );
    assert_eq!(m.write_relabel_configs.len(), 1);
    assert_eq!(m.write_relabel_configs[0].action, RelabelAction::Drop);
    assert_eq!(
        m.queue,
        RemoteQueueConfig {
            capacity: 500,
            max_shards: 50,
            max_samples_per_send: 100,
            batch_send_deadline: Duration::from_secs(2),
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(10),
            retry_on_http_429: false,
        }
    );
    assert_eq!(m.queue_max_bytes, 64 << 20);
    let w: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        w,
        [
            "rw.yml:21: remote_write[1].queue_config.min_shards is not supported yet and is ignored",
            "rw.yml:23: remote_write[1].send_exemplars is not supported yet and is ignored",
        ]
    );
}

#[test]
fn bad_remote_write_errors_have_lines() {
    let src = "\
remote_write:
  - name: nourl
  - url: ftp://x/write
    bearer_token: t
    basic_auth: {username: u}
  - url: http://a/write
    name: dup
    remote_timeout: soon
    queue_config: {max_samples_per_send: 0, min_backoff: 10s, max_backoff: 1s}
    queue_max_bytes: lots
    write_relabel_configs:
      - action: explode
  - url: http://b/write
    name: dup
    headers: {User-Agent: me}
    urll: x
";
    let err = parse_str(src, Path::new("bad.yml")).expect_err("must fail");
    assert_eq!(
        error_lines(&err),
        [
            "2: remote_write[0]: url for remote_write is empty",
            "3: remote_write[1].url: url \"ftp://x/write\": scheme must be http or https, not \"ftp\"",
            "5: remote_write[1].basic_auth: at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
            "8: remote_write[2].remote_timeout: not a valid duration string: \"soon\"",
            "9: remote_write[2].queue_config.max_samples_per_send: must be at least 1",
            "9: remote_write[2].queue_config.max_backoff: max_backoff must not be less than min_backoff",
            "10: remote_write[2].queue_max_bytes: not a valid size: \"lots\" (expected a number with a unit such as 100MB)",
            "12: remote_write[2].write_relabel_configs[0].action: unknown relabel action \"explode\"",
            "14: remote_write[3].name: found multiple remote write configs with name \"dup\" (first on line 6)",
            "15: remote_write[3].headers.User-Agent: User-Agent is a reserved header. It must not be changed",
            "16: remote_write[3].urll: unknown field `urll` (did you mean `url`?)",
        ]
    );
}

#[test]
fn web_security_settings_are_read_and_checked() {
    let ok = "web:\n  anonymous_role: viewer\n  session_max_age: 1h\n  tls_cert_file: c.pem\n  tls_key_file: k.pem\n  max_request_body_bytes: 4096\n  login_rate_limit: 3\n  api_rate_limit: 50\n  metrics_rate_limit: 7\n";
    let c = parse_str(ok, Path::new("/etc/sightline/sightline.yml")).expect("valid").config.web;
    assert_eq!(c.anonymous_role.as_deref(), Some("viewer"));
    assert_eq!(c.session_max_age, std::time::Duration::from_secs(3600));
    assert_eq!(c.tls_cert_file.as_deref(), Some(Path::new("/etc/sightline/c.pem")));
    assert_eq!(
        (c.max_request_body_bytes, c.login_rate_limit, c.api_rate_limit, c.metrics_rate_limit),
        (4096, 3, 50, 7)
    );
    let d = parse_str("global: {}\n", Path::new("x.yml")).unwrap().config.web;
    assert_eq!((d.anonymous_role, d.login_rate_limit, d.metrics_rate_limit), (None, 10, 100));
    let bad = "web:\n  anonymous_role: root\n  tls_cert_file: c.pem\n  login_rate_limit: 0\n";
    let e = parse_str(bad, Path::new("x.yml")).unwrap_err().to_string();
    assert!(e.contains("web.anonymous_role") && e.contains("not a role"), "{e}");
    assert!(e.contains("tls_key_file go together"), "{e}");
    assert!(e.contains("web.login_rate_limit"), "{e}");
}
