//! From text to [`Config`]: typed parse, then every semantic check, each
//! error placed on its line through the marked tree.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use regex::Regex;
use serde::de::DeserializeOwned;

use super::marked::{self, Kind, Node};
use super::raw::{self, RawConfig, RawRelabelConfig, RawScrapeConfig, Text};
use super::relabel::{is_valid_label_name, AnchoredRegex, RelabelAction, RelabelConfig};
use super::{
    parse_duration, parse_size, schema, AlertmanagerSource, Auth, Config, ConfigError, ConfigErrors, FileSdConfig,
    GlobalConfig, HostSettings, Loaded, QueryConfig, ScrapeConfig, StorageConfig, TargetGroup, TlsConfig, WebConfig,
    UNSUPPORTED,
};
use crate::tsdb::Labels;

/// Collects errors and warnings for one file, placing each on its line.
pub(crate) struct Ctx<'a> {
    file: &'a Path,
    tree: &'a Node,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl<'a> Ctx<'a> {
    pub fn new(file: &'a Path, tree: &'a Node) -> Self {
        Self { file, tree, errors: Vec::new(), warnings: Vec::new() }
    }

    fn make(&self, key: &str, message: String) -> ConfigError {
        let line = if key.is_empty() { Some(self.tree.line) } else { self.tree.line_of(key) };
        ConfigError { file: self.file.to_path_buf(), line, key: key.to_string(), message }
    }

    /// Records an error about `key` (a dotted path), on the line of that key.
    pub fn error(&mut self, key: &str, message: impl Into<String>) {
        let e = self.make(key, message.into());
        self.errors.push(e);
    }

    /// Records a warning that `key` is accepted but not implemented.
    fn unsupported(&mut self, key: &str) {
        let w = self.make(key, UNSUPPORTED.to_string());
        self.warnings.push(w);
    }

    /// Line of a dotted key path, when it is in the file.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        self.tree.line_of(key)
    }

    /// Records an error at a known line.
    fn error_at(&mut self, key: &str, line: Option<usize>, message: String) {
        self.errors.push(ConfigError { file: self.file.to_path_buf(), line, key: key.to_string(), message });
    }
}

/// The whole pipeline behind `parse_str`.
pub(crate) fn load(source: &str, file: &Path) -> Result<Loaded, ConfigErrors> {
    // Absolute, so resolved paths stay right if the working folder changes
    // and nobody joins them to the base a second time.
    let dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base_dir = std::path::absolute(&dir).unwrap_or(dir);
    let tree = match marked::parse(source) {
        Ok(t) => t,
        Err(e) => {
            // libyaml (through serde_yaml_ng) says more about what is open
            // where ("while parsing a flow sequence at line 4"); prefer it.
            let (line, message) = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(source) {
                Err(se) if se.location().is_some() => {
                    let line = se.location().map(|l| l.line());
                    let mut msg = se.to_string();
                    if let Some(l) = se.location() {
                        msg = msg.replacen(&format!(" at line {} column {}", l.line(), l.column()), "", 1);
                    }
                    (line, msg)
                }
                _ => (Some(e.line), e.message),
            };
            return Err(ConfigErrors(vec![ConfigError {
                file: file.to_path_buf(),
                line,
                key: String::new(),
                message: format!("invalid YAML: {message}"),
            }]));
        }
    };
    let mut ctx = Ctx::new(file, &tree);
    if !tree.is_null() && !matches!(tree.kind, Kind::Map(_)) {
        ctx.error("", "the configuration must be a mapping of sections (global:, scrape_configs:, ...)");
        return Err(ConfigErrors(ctx.errors));
    }
    for f in schema::check(&tree) {
        match f.unknown {
            Some(msg) => ctx.error_at(&f.path, Some(f.line), msg),
            None => ctx.warnings.push(ConfigError {
                file: file.to_path_buf(),
                line: Some(f.line),
                key: f.path,
                message: UNSUPPORTED.to_string(),
            }),
        }
    }
    let (raw, failed_jobs) = parse_typed(source, &tree, &mut ctx);
    let config = build(raw, &failed_jobs, base_dir, &mut ctx);
    if ctx.errors.is_empty() {
        ctx.warnings.sort_by_key(|w| w.line.unwrap_or(0));
        Ok(Loaded { config, warnings: ctx.warnings })
    } else {
        // Stable sort: errors on the same line keep the order they were found in.
        ctx.errors.sort_by_key(|e| e.line.unwrap_or(0));
        Err(ConfigErrors(ctx.errors))
    }
}

/// Typed parse. If the whole document fails, parses each section and each
/// scrape job alone so that every broken one is reported; returns the indexes
/// of the jobs that failed (their errors are already recorded).
fn parse_typed(source: &str, tree: &Node, ctx: &mut Ctx) -> (RawConfig, Vec<usize>) {
    if tree.is_null() {
        return (RawConfig::default(), Vec::new());
    }
    if has_merge_keys(tree) {
        return (parse_merged(source, ctx), Vec::new());
    }
    let whole = match serde_yaml_ng::from_str::<RawConfig>(source) {
        Ok(raw) => return (raw, Vec::new()),
        Err(e) => e,
    };
    let before = ctx.errors.len();
    let mut raw = RawConfig::default();
    let mut failed = Vec::new();
    for (key, value) in tree.entries() {
        if value.is_null() {
            continue;
        }
        match key.text().unwrap_or_default() {
            "global" => raw.global = piece(source, value, "global", ctx),
            "rule_files" => raw.rule_files = piece(source, value, "rule_files", ctx),
            "alerting" => raw.alerting = piece(source, value, "alerting", ctx),
            "web" => raw.web = piece(source, value, "web", ctx),
            "storage" => raw.storage = piece(source, value, "storage", ctx),
            "host" => raw.host = piece(source, value, "host", ctx),
            "dashboards" => raw.dashboards = piece(source, value, "dashboards", ctx),
            "query" => raw.query = piece(source, value, "query", ctx),
            "alertmanager" => raw.alertmanager = piece(source, value, "alertmanager", ctx),
            "alertmanager_config_file" => {
                raw.alertmanager_config_file = piece(source, value, "alertmanager_config_file", ctx)
            }
            "probes" => raw.probes = piece(source, value, "probes", ctx),
            "probes_config_file" => raw.probes_config_file = piece(source, value, "probes_config_file", ctx),
            "default_rules" => raw.default_rules = piece(source, value, "default_rules", ctx),
            "remote_write" => raw.remote_write = piece(source, value, "remote_write", ctx),
            "datasources" => raw.datasources = piece(source, value, "datasources", ctx),
            "scrape_configs" if matches!(value.kind, Kind::Seq(_)) => {
                let mut jobs = Vec::new();
                for (i, item) in value.items().iter().enumerate() {
                    if item.is_null() {
                        jobs.push(None);
                        continue;
                    }
                    let job = piece::<RawScrapeConfig>(source, item, &format!("scrape_configs[{i}]"), ctx);
                    if job.is_none() {
                        failed.push(i);
                    }
                    jobs.push(job);
                }
                raw.scrape_configs = Some(jobs);
            }
            "scrape_configs" => raw.scrape_configs = piece(source, value, "scrape_configs", ctx),
            _ => {}
        }
    }
    // The whole-file error is the first one in the file: add it unless a
    // piece already reported it (pieces that use outside anchors cannot).
    let e = serde_error(whole, "", ctx.file);
    let known = ctx.errors[before..].iter().any(|x| x.line == e.line && x.message == e.message);
    if !known && !e.message.contains("duplicate field `") {
        ctx.errors.push(e);
    }
    (raw, failed)
}

/// Whether any mapping uses YAML merge keys (`<<: *defaults`).
fn has_merge_keys(node: &Node) -> bool {
    node.entries().iter().any(|(k, v)| k.text() == Some("<<") || has_merge_keys(v))
        || node.items().iter().any(has_merge_keys)
}

/// Typed parse of a file with merge keys, which serde only understands on a
/// `Value` (Prometheus's YAML library applies them). Type errors then lose
/// their line, so they name the file only.
fn parse_merged(source: &str, ctx: &mut Ctx) -> RawConfig {
    let parsed = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(source).and_then(|mut v| {
        v.apply_merge()?;
        serde_yaml_ng::from_value::<RawConfig>(v)
    });
    match parsed {
        Ok(raw) => raw,
        Err(e) => {
            let mut err = serde_error(e, "", ctx.file);
            err.message.push_str(" (no line: the file uses YAML merge keys `<<`)");
            ctx.errors.push(err);
            RawConfig::default()
        }
    }
}

/// Parses one node of the document alone, keeping its line numbers.
fn piece<T: DeserializeOwned>(source: &str, node: &Node, path: &str, ctx: &mut Ctx) -> Option<T> {
    match serde_yaml_ng::from_str::<T>(&marked::isolate(source, node)) {
        Ok(v) => Some(v),
        // A piece cut out of the file cannot see anchors defined outside
        // it; the whole-file error (reported by the caller) covers that case.
        Err(e) if e.to_string().contains("unknown anchor") => None,
        Err(e) => {
            if !is_duplicate_field(&e) {
                let err = serde_error(e, path, ctx.file);
                ctx.errors.push(err);
            }
            None
        }
    }
}

/// Duplicate keys are reported by `schema` on the right line; serde's
/// version of the same error (at the start of the mapping) is left out.
fn is_duplicate_field(e: &serde_yaml_ng::Error) -> bool {
    e.to_string().contains("duplicate field `")
}

/// Turns a serde_yaml_ng error (`path: message at line L column C`) into ours.
fn serde_error(e: serde_yaml_ng::Error, prefix: &str, file: &Path) -> ConfigError {
    let line = e.location().map(|l| l.line());
    let mut msg = e.to_string();
    if let Some(loc) = e.location() {
        if let Some(i) = msg.find(&format!(" at line {} column {}", loc.line(), loc.column())) {
            msg.truncate(i);
        }
    }
    let mut key = prefix.to_string();
    if let Some((p, rest)) = msg.split_once(": ") {
        if !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']')) {
            key = join_path(prefix, p);
            msg = rest.to_string();
        }
    }
    static RAW_NAME: OnceLock<Option<Regex>> = OnceLock::new();
    if let Some(re) = RAW_NAME.get_or_init(|| Regex::new(r"struct Raw\w+").ok()) {
        msg = re.replace_all(&msg, "a mapping").into_owned();
    }
    msg = msg.replace("expected u64", "expected a whole number (0 or more)");
    ConfigError { file: file.to_path_buf(), line, key, message: msg }
}

fn join_path(prefix: &str, p: &str) -> String {
    match (prefix.is_empty(), p.starts_with('[')) {
        (true, _) => p.to_string(),
        (false, true) => format!("{prefix}{p}"),
        (false, false) => format!("{prefix}.{p}"),
    }
}

pub(crate) fn text(t: Option<Text>) -> Option<String> {
    t.map(|t| t.0)
}

/// Parses an optional duration at `key`; None when absent, zero or invalid
/// (the error is recorded).
pub(crate) fn duration(ctx: &mut Ctx, key: &str, value: Option<Text>) -> Option<Duration> {
    let v = value?;
    match parse_duration(&v.0) {
        Ok(d) if d.is_zero() => None,
        Ok(d) => Some(d),
        Err(e) => {
            ctx.error(key, e);
            None
        }
    }
}

fn limit(v: Option<u64>) -> usize {
    v.map(|v| usize::try_from(v).unwrap_or(usize::MAX)).unwrap_or(0)
}

/// Resolves a path from the file against the config folder.
fn resolve(base_dir: &Path, p: &str) -> PathBuf {
    let path = Path::new(p);
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base_dir.join(path)
    }
}

/// Reads a secret file, trimmed like Prometheus does.
fn read_secret(ctx: &mut Ctx, key: &str, base_dir: &Path, p: &str) -> String {
    let path = resolve(base_dir, p);
    match std::fs::read_to_string(&path) {
        Ok(s) => s.trim().to_string(),
        Err(e) => {
            ctx.error(key, format!("cannot read {}: {e}", path.display()));
            String::new()
        }
    }
}

/// Builds label sets from a YAML map, reporting invalid names.
fn labels(ctx: &mut Ctx, key: &str, map: Option<BTreeMap<String, Text>>) -> Labels {
    let map = map.unwrap_or_default();
    for name in map.keys() {
        if !is_valid_label_name(name) {
            ctx.error(&format!("{key}.{name}"), format!("{name:?} is not a valid label name"));
        }
    }
    Labels::from_pairs(map.into_iter().map(|(k, v)| (k, v.0)))
}

/// Checks a scrape target address: `host` or `host:port`, no scheme, no path.
pub fn check_target_address(t: &str) -> Result<(), String> {
    if t.is_empty() {
        return Err("target address is empty".into());
    }
    if t.contains("://") {
        return Err(format!(
            "{t:?} is not a valid hostname: leave out the scheme (set `scheme: https` on the job instead)"
        ));
    }
    if t.contains('/') {
        return Err(format!("{t:?} is not a valid hostname (a target is host:port; set the path with metrics_path)"));
    }
    if t.chars().any(char::is_whitespace) {
        return Err(format!("{t:?} is not a valid target address: it contains spaces"));
    }
    let (host, port) = if let Some(rest) = t.strip_prefix('[') {
        match rest.split_once(']') {
            Some((h, "")) => (h, None),
            Some((h, p)) => match p.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None => return Err(format!("{t:?} is not a valid target address: expected [ipv6]:port")),
            },
            None => return Err(format!("{t:?} is not a valid target address: missing ']'")),
        }
    } else {
        match t.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(format!(
                    "{t:?} is not a valid target address: write IPv6 addresses in brackets, e.g. [::1]:9100"
                ))
            }
            Some((h, p)) => (h, Some(p)),
            None => (t, None),
        }
    };
    if host.is_empty() {
        return Err(format!("{t:?} is not a valid target address: the host is empty"));
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("{t:?} is not a valid target address: invalid port {p:?}")),
        }
    }
    Ok(())
}

/// Prometheus's `patRulePath`: at most one `*`, and only in the last path element.
fn valid_rule_path(p: &str) -> bool {
    match p.find('*') {
        None => true,
        Some(i) => !p[i + 1..].contains('*') && !p[i..].contains('/'),
    }
}

/// Prometheus's file_sd pattern check: like a rule path, ending in .json/.yml/.yaml.
fn valid_file_sd_path(p: &str) -> bool {
    let lower = p.to_ascii_lowercase();
    let ext_ok = [".json", ".yml", ".yaml"].iter().any(|e| lower.ends_with(e)) && p == p.trim();
    let case_ok = [".json", ".yml", ".yaml", ".JSON", ".YML", ".YAML"].iter().any(|e| p.ends_with(e));
    ext_ok && case_ok && valid_rule_path(p)
}

/// Raw → validated, recording every problem.
fn build(raw: RawConfig, failed_jobs: &[usize], base_dir: PathBuf, ctx: &mut Ctx) -> Config {
    let global = build_global(raw.global.unwrap_or_default(), ctx);
    // Before the jobs, which name these modules.
    let probe_modules = super::probes::build_modules(raw.probes, text(raw.probes_config_file), &base_dir, ctx);
    let datasources = super::datasources::build(raw.datasources, &base_dir, ctx);

    let mut rule_files = Vec::new();
    for (i, f) in raw.rule_files.unwrap_or_default().into_iter().enumerate() {
        if !valid_rule_path(&f.0) {
            ctx.error(&format!("rule_files[{i}]"), format!("invalid rule file path {:?}", f.0));
        }
        rule_files.push(f.0);
    }

    let mut scrape_configs = Vec::new();
    let mut first_line: HashMap<String, Option<usize>> = HashMap::new();
    for (i, job) in raw.scrape_configs.unwrap_or_default().into_iter().enumerate() {
        let path = format!("scrape_configs[{i}]");
        let Some(job) = job else {
            if !failed_jobs.contains(&i) {
                ctx.error(&path, "empty or null scrape config section");
            }
            continue;
        };
        let Some(sc) = build_scrape(job, &path, &global, &base_dir, &probe_modules, ctx) else {
            continue;
        };
        if let Some(first) = first_line.get(&sc.job_name) {
            let at = first.map(|l| format!(" (first defined on line {l})")).unwrap_or_default();
            ctx.error(
                &format!("{path}.job_name"),
                format!("found multiple scrape configs with job name {:?}{at}", sc.job_name),
            );
        } else {
            first_line.insert(sc.job_name.clone(), sc.line);
        }
        scrape_configs.push(sc);
    }

    let web = match raw.web {
        Some(w) => {
            let listen_address = text(w.listen_address);
            if let Some(a) = &listen_address {
                if !a.contains(':') {
                    ctx.error("web.listen_address", format!("{a:?} is not host:port (e.g. 0.0.0.0:9900 or :9900)"));
                }
            }
            let defaults = WebConfig::default();
            let anonymous_role = text(w.anonymous_role).filter(|r| !r.is_empty());
            if let Some(r) = &anonymous_role {
                if !["viewer", "editor", "admin"].contains(&r.as_str()) {
                    ctx.error("web.anonymous_role", format!("{r:?} is not a role; use viewer, editor or admin"));
                }
            }
            let tls_cert_file = text(w.tls_cert_file).filter(|p| !p.is_empty()).map(|p| resolve(&base_dir, &p));
            let tls_key_file = text(w.tls_key_file).filter(|p| !p.is_empty()).map(|p| resolve(&base_dir, &p));
            if tls_cert_file.is_some() != tls_key_file.is_some() {
                ctx.error("web.tls_cert_file", "tls_cert_file and tls_key_file go together: set both or neither");
            }
            let per_minute = |ctx: &mut Ctx, key: &str, v: Option<u64>, default: u32| match v {
                None => default,
                Some(0) => {
                    ctx.error(key, "must be at least 1 (requests per minute per client IP)");
                    default
                }
                Some(n) => u32::try_from(n).unwrap_or(u32::MAX),
            };
            WebConfig {
                listen_address,
                anonymous_role,
                session_max_age: duration(ctx, "web.session_max_age", w.session_max_age)
                    .unwrap_or(defaults.session_max_age),
                tls_cert_file,
                tls_key_file,
                max_request_body_bytes: match w.max_request_body_bytes {
                    None => defaults.max_request_body_bytes,
                    Some(n) if n < 1024 => {
                        ctx.error("web.max_request_body_bytes", "must be at least 1024");
                        defaults.max_request_body_bytes
                    }
                    Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
                },
                login_rate_limit: per_minute(
                    ctx,
                    "web.login_rate_limit",
                    w.login_rate_limit,
                    defaults.login_rate_limit,
                ),
                api_rate_limit: per_minute(ctx, "web.api_rate_limit", w.api_rate_limit, defaults.api_rate_limit),
                metrics_rate_limit: per_minute(
                    ctx,
                    "web.metrics_rate_limit",
                    w.metrics_rate_limit,
                    defaults.metrics_rate_limit,
                ),
            }
        }
        None => WebConfig::default(),
    };

    let storage = match raw.storage {
        Some(s) => StorageConfig {
            path: text(s.path).filter(|p| !p.is_empty()).map(|p| resolve(&base_dir, &p)),
            retention: duration(ctx, "storage.retention", s.retention),
            retention_size: s.retention_size.and_then(|v| match parse_size(&v.0) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(e) => {
                    ctx.error("storage.retention_size", e);
                    None
                }
            }),
            downsample_retention: duration(ctx, "storage.downsample_retention", s.downsample_retention),
        },
        None => StorageConfig::default(),
    };

    let host = match raw.host {
        Some(h) => {
            let scrape_interval = duration(ctx, "host.scrape_interval", h.scrape_interval);
            let mut settings = HostSettings {
                enabled: h.enabled.unwrap_or(true),
                job_name: text(h.job_name).unwrap_or_else(|| "node".into()),
                scrape_interval,
                collectors: h.collectors.map(|c| c.into_iter().filter_map(|t| text(Some(t))).collect()),
                mount_points_exclude: text(h.mount_points_exclude),
                fs_types_exclude: text(h.fs_types_exclude),
            };
            for (key, re) in [
                ("host.mount_points_exclude", &settings.mount_points_exclude),
                ("host.fs_types_exclude", &settings.fs_types_exclude),
            ] {
                if let Some(Err(e)) = re.as_deref().map(regex::Regex::new) {
                    ctx.error(key, format!("invalid regular expression: {e}"));
                }
            }
            if settings.job_name.is_empty() {
                settings.job_name = "node".into();
            }
            settings
        }
        None => HostSettings::default(),
    };

    let dashboard_paths = raw
        .dashboards
        .and_then(|d| d.paths)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|t| text(Some(t)))
        .map(|p| resolve(&base_dir, &p))
        .collect();

    let alertmanager = match (raw.alertmanager, text(raw.alertmanager_config_file)) {
        (Some(_), Some(_)) => {
            ctx.error(
                "alertmanager_config_file",
                "set either alertmanager (inline) or alertmanager_config_file, not both",
            );
            None
        }
        (Some(inline), None) => match serde_yaml_ng::to_string(&inline) {
            Ok(yaml) => Some(AlertmanagerSource::Inline(yaml)),
            Err(e) => {
                ctx.error("alertmanager", e.to_string());
                None
            }
        },
        (None, Some(path)) => {
            let path = resolve(&base_dir, &path);
            if !path.is_file() {
                ctx.error("alertmanager_config_file", format!("{} is not a readable file", path.display()));
            }
            Some(AlertmanagerSource::File(path))
        }
        (None, None) => None,
    };

    let query = match raw.query {
        Some(q) => {
            let defaults = QueryConfig::default();
            let positive = |ctx: &mut Ctx, key: &str, v: Option<u64>, default: usize| match v {
                Some(0) => {
                    ctx.error(key, "must be at least 1");
                    default
                }
                Some(n) => n as usize,
                None => default,
            };
            QueryConfig {
                timeout: duration(ctx, "query.timeout", q.timeout).unwrap_or(defaults.timeout),
                max_samples: positive(ctx, "query.max_samples", q.max_samples, defaults.max_samples),
                max_concurrency: positive(ctx, "query.max_concurrency", q.max_concurrency, defaults.max_concurrency),
                lookback_delta: duration(ctx, "query.lookback_delta", q.lookback_delta)
                    .unwrap_or(defaults.lookback_delta),
            }
        }
        None => QueryConfig::default(),
    };

    let remote_write = super::remote_write::build_remote_writes(raw.remote_write, &base_dir, ctx);

    Config {
        base_dir,
        remote_write,
        host,
        query,
        alertmanager,
        dashboard_paths,
        global: global.config,
        scrape_configs,
        rule_files,
        web,
        storage,
        raw_alerting: raw.alerting,
        probe_modules,
        default_rules: raw.default_rules.unwrap_or(true),
        datasources,
    }
}

/// Global limits that become each job's defaults.
#[derive(Default)]
struct GlobalLimits {
    sample_limit: Option<u64>,
    label_limit: Option<u64>,
    label_name_length_limit: Option<u64>,
    label_value_length_limit: Option<u64>,
    target_limit: Option<u64>,
    body_size_limit: u64,
}

struct Global {
    config: GlobalConfig,
    limits: GlobalLimits,
}

fn build_global(g: raw::RawGlobal, ctx: &mut Ctx) -> Global {
    let defaults = GlobalConfig::default();
    let scrape_interval =
        duration(ctx, "global.scrape_interval", g.scrape_interval).unwrap_or(defaults.scrape_interval);
    let scrape_timeout = match duration(ctx, "global.scrape_timeout", g.scrape_timeout) {
        Some(t) => {
            if t > scrape_interval {
                ctx.error("global.scrape_timeout", "global scrape timeout greater than scrape interval");
            }
            t
        }
        None => defaults.scrape_timeout.min(scrape_interval),
    };
    let evaluation_interval =
        duration(ctx, "global.evaluation_interval", g.evaluation_interval).unwrap_or(defaults.evaluation_interval);
    let external_labels = labels(ctx, "global.external_labels", g.external_labels);
    let body_size_limit = match g.body_size_limit {
        Some(s) => parse_size(&s.0).unwrap_or_else(|e| {
            ctx.error("global.body_size_limit", e);
            0
        }),
        None => 0,
    };
    Global {
        config: GlobalConfig { scrape_interval, scrape_timeout, evaluation_interval, external_labels },
        limits: GlobalLimits {
            sample_limit: g.sample_limit,
            label_limit: g.label_limit,
            label_name_length_limit: g.label_name_length_limit,
            label_value_length_limit: g.label_value_length_limit,
            target_limit: g.target_limit,
            body_size_limit,
        },
    }
}

fn build_scrape(
    mut job: RawScrapeConfig,
    path: &str,
    global: &Global,
    base_dir: &Path,
    probe_modules: &BTreeMap<String, crate::collect::probe::ProbeModule>,
    ctx: &mut Ctx,
) -> Option<ScrapeConfig> {
    let line = ctx.tree.line_of(path);
    let probe_module = text(job.probe.take());
    if probe_module.is_some() {
        for k in super::probes::NOT_FOR_PROBE_JOBS {
            if ctx.tree.find(&format!("{path}.{k}")).is_some() {
                ctx.error(
                    &format!("{path}.{k}"),
                    "has no effect in a job with `probe:` (targets are probed as written; HTTP and TLS settings belong in the probe module)",
                );
            }
        }
    }
    let job_name = text(job.job_name.take()).unwrap_or_default();
    if job_name.is_empty() {
        ctx.error(path, "job_name is empty");
        return None;
    }
    let auth = build_auth(
        AuthFields {
            basic: &job.basic_auth,
            authz: &job.authorization,
            bearer: &job.bearer_token,
            bearer_file: &job.bearer_token_file,
        },
        path,
        base_dir,
        ctx,
    );
    let key = |k: &str| format!("{path}.{k}");

    let scrape_interval =
        duration(ctx, &key("scrape_interval"), job.scrape_interval).unwrap_or(global.config.scrape_interval);
    let scrape_timeout = match duration(ctx, &key("scrape_timeout"), job.scrape_timeout) {
        Some(t) => {
            if t > scrape_interval {
                ctx.error(&key("scrape_timeout"), "scrape timeout greater than scrape interval");
            }
            t
        }
        None => global.config.scrape_timeout.min(scrape_interval),
    };

    let metrics_path = text(job.metrics_path).filter(|p| !p.is_empty()).unwrap_or_else(|| "/metrics".to_string());
    let scheme = text(job.scheme).filter(|s| !s.is_empty()).unwrap_or_else(|| "http".to_string());
    if scheme != "http" && scheme != "https" {
        ctx.error(&key("scheme"), format!("scheme must be \"http\" or \"https\", not {scheme:?}"));
    }
    let params =
        job.params.unwrap_or_default().into_iter().map(|(k, v)| (k, v.into_iter().map(|t| t.0).collect())).collect();

    // Redirects are always followed and HTTP/1.1 is always used; say so
    // only when the file asks for something else.
    if job.follow_redirects == Some(false) {
        ctx.unsupported(&key("follow_redirects"));
    }
    if job.enable_http2 == Some(true) {
        ctx.unsupported(&key("enable_http2"));
    }
    let tls = build_tls(job.tls_config, &key("tls_config"), base_dir, ctx);

    let relabel_configs = build_relabels(job.relabel_configs, &key("relabel_configs"), "target", ctx);
    let metric_relabel_configs =
        build_relabels(job.metric_relabel_configs, &key("metric_relabel_configs"), "metric", ctx);

    let mut static_configs = Vec::new();
    for (i, group) in job.static_configs.unwrap_or_default().into_iter().enumerate() {
        let gpath = format!("{path}.static_configs[{i}]");
        let Some(group) = group else {
            ctx.error(&gpath, "empty or null section in static_configs");
            continue;
        };
        let targets: Vec<String> = group.targets.unwrap_or_default().into_iter().map(|t| t.0).collect();
        // Relabeling may still turn a strange address into a good one, so
        // Prometheus only checks addresses of jobs without relabel rules.
        // A probe job's targets are URLs or names, not host:port.
        if relabel_configs.is_empty() && probe_module.is_none() {
            for (j, t) in targets.iter().enumerate() {
                if let Err(e) = check_target_address(t) {
                    ctx.error(&format!("{gpath}.targets[{j}]"), e);
                }
            }
        }
        let labels = labels(ctx, &format!("{gpath}.labels"), group.labels);
        static_configs.push(TargetGroup { targets, labels, source: i.to_string() });
    }

    let mut file_sd_configs = Vec::new();
    for (i, sd) in job.file_sd_configs.unwrap_or_default().into_iter().enumerate() {
        let spath = format!("{path}.file_sd_configs[{i}]");
        let Some(sd) = sd else {
            ctx.error(&spath, "empty or null section in file_sd_configs");
            continue;
        };
        let files: Vec<String> = sd.files.unwrap_or_default().into_iter().map(|t| t.0).collect();
        if files.is_empty() {
            ctx.error(&spath, "file service discovery config must contain at least one path name");
        }
        for (j, f) in files.iter().enumerate() {
            if !valid_file_sd_path(f) {
                ctx.error(&format!("{spath}.files[{j}]"), format!("path name {f:?} is not valid for file discovery"));
            }
        }
        let refresh_interval = duration(ctx, &format!("{spath}.refresh_interval"), sd.refresh_interval)
            .unwrap_or(Duration::from_secs(300));
        let files = files.iter().map(|f| resolve(base_dir, f).to_string_lossy().into_owned()).collect();
        file_sd_configs.push(FileSdConfig { files, refresh_interval });
    }

    let probe = match &probe_module {
        Some(name) => Some(super::probes::build_probe_job(name, probe_modules, scrape_timeout, &key("probe"), ctx)?),
        None => None,
    };

    let gl = &global.limits;
    let body_size_limit = match job.body_size_limit {
        Some(s) => parse_size(&s.0).unwrap_or_else(|e| {
            ctx.error(&key("body_size_limit"), e);
            0
        }),
        None => gl.body_size_limit,
    };

    Some(ScrapeConfig {
        job_name,
        scrape_interval,
        scrape_timeout,
        metrics_path,
        scheme,
        params,
        honor_labels: job.honor_labels.unwrap_or(false),
        honor_timestamps: job.honor_timestamps.unwrap_or(true),
        auth,
        tls,
        static_configs,
        file_sd_configs,
        relabel_configs,
        metric_relabel_configs,
        sample_limit: limit(job.sample_limit.or(gl.sample_limit)),
        label_limit: limit(job.label_limit.or(gl.label_limit)),
        label_name_length_limit: limit(job.label_name_length_limit.or(gl.label_name_length_limit)),
        label_value_length_limit: limit(job.label_value_length_limit.or(gl.label_value_length_limit)),
        target_limit: limit(job.target_limit.or(gl.target_limit)),
        body_size_limit,
        enable_compression: job.enable_compression.unwrap_or(true),
        line,
        probe,
    })
}

/// The credential keys of an HTTP client section (a scrape job or a remote_write entry).
pub(crate) struct AuthFields<'a> {
    pub basic: &'a Option<raw::RawBasicAuth>,
    pub authz: &'a Option<raw::RawAuthorization>,
    pub bearer: &'a Option<Text>,
    pub bearer_file: &'a Option<Text>,
}

/// Prometheus's HTTP client checks (at most one way to authenticate, at most
/// one source per secret), then reads the secret files.
pub(crate) fn build_auth(f: AuthFields, path: &str, base_dir: &Path, ctx: &mut Ctx) -> Option<Auth> {
    let (basic, authz, bearer, bearer_file) = (f.basic, f.authz, f.bearer, f.bearer_file);
    let key = |k: &str| format!("{path}.{k}");
    let has_bearer = bearer.is_some() || bearer_file.is_some();
    if bearer.is_some() && bearer_file.is_some() {
        ctx.error(&key("bearer_token_file"), "at most one of bearer_token & bearer_token_file must be configured");
    }
    if basic.is_some() && has_bearer {
        ctx.error(
            &key("basic_auth"),
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        );
    }
    if authz.is_some() && has_bearer {
        ctx.error(&key("authorization"), "authorization is not compatible with bearer_token & bearer_token_file");
    }
    if basic.is_some() && authz.is_some() {
        ctx.error(&key("authorization"), "at most one of basic_auth, oauth2 & authorization must be configured");
    }

    if let Some(b) = basic {
        let bkey = key("basic_auth");
        if b.username.is_some() && b.username_file.is_some() {
            ctx.error(
                &format!("{bkey}.username_file"),
                "at most one of basic_auth username & username_file must be configured",
            );
        }
        if b.password.is_some() && b.password_file.is_some() {
            ctx.error(
                &format!("{bkey}.password_file"),
                "at most one of basic_auth password & password_file must be configured",
            );
        }
        let username = match (&b.username, &b.username_file) {
            (Some(u), _) => u.0.clone(),
            (None, Some(f)) => read_secret(ctx, &format!("{bkey}.username_file"), base_dir, &f.0),
            (None, None) => String::new(),
        };
        let password = match (&b.password, &b.password_file) {
            (Some(p), _) => p.0.clone(),
            (None, Some(f)) => read_secret(ctx, &format!("{bkey}.password_file"), base_dir, &f.0),
            (None, None) => String::new(),
        };
        return Some(Auth::Basic { username, password });
    }
    if let Some(a) = authz {
        let akey = key("authorization");
        let kind =
            a.kind.as_ref().map(|t| t.0.clone()).filter(|k| !k.is_empty()).unwrap_or_else(|| "Bearer".to_string());
        if kind.eq_ignore_ascii_case("basic") {
            ctx.error(
                &format!("{akey}.type"),
                "authorization type cannot be set to \"basic\", use \"basic_auth\" instead",
            );
        }
        if a.credentials.is_some() && a.credentials_file.is_some() {
            ctx.error(
                &format!("{akey}.credentials_file"),
                "at most one of authorization credentials & credentials_file must be configured",
            );
        }
        let credentials = match (&a.credentials, &a.credentials_file) {
            (Some(c), _) => c.0.clone(),
            (None, Some(f)) => read_secret(ctx, &format!("{akey}.credentials_file"), base_dir, &f.0),
            (None, None) => String::new(),
        };
        return Some(Auth::Authorization { kind, credentials });
    }
    match (bearer, bearer_file) {
        (Some(t), _) => Some(Auth::Bearer(t.0.clone())),
        (None, Some(f)) => Some(Auth::Bearer(read_secret(ctx, &key("bearer_token_file"), base_dir, &f.0))),
        (None, None) => None,
    }
}

pub(crate) fn build_tls(tls: Option<raw::RawTls>, key: &str, base_dir: &Path, ctx: &mut Ctx) -> TlsConfig {
    let Some(t) = tls else {
        return TlsConfig::default();
    };
    let mut file = |name: &str, v: Option<Text>| -> Option<PathBuf> {
        let p = resolve(base_dir, &v?.0);
        if let Err(e) = std::fs::metadata(&p) {
            ctx.error(&format!("{key}.{name}"), format!("cannot read {}: {e}", p.display()));
        }
        Some(p)
    };
    let ca_file = file("ca_file", t.ca_file);
    let cert_file = file("cert_file", t.cert_file);
    let key_file = file("key_file", t.key_file);
    match (&cert_file, &key_file) {
        (Some(c), None) => ctx.error(
            &format!("{key}.cert_file"),
            format!("client cert file {:?} specified without client key file", c.display().to_string()),
        ),
        (None, Some(k)) => ctx.error(
            &format!("{key}.key_file"),
            format!("client key file {:?} specified without client cert file", k.display().to_string()),
        ),
        _ => {}
    }
    TlsConfig {
        ca_file,
        cert_file,
        key_file,
        server_name: text(t.server_name).filter(|s| !s.is_empty()),
        insecure_skip_verify: t.insecure_skip_verify.unwrap_or(false),
    }
}

pub(crate) fn build_relabels(
    list: Option<Vec<Option<RawRelabelConfig>>>,
    path: &str,
    kind: &str,
    ctx: &mut Ctx,
) -> Vec<RelabelConfig> {
    let mut out = Vec::new();
    for (i, r) in list.unwrap_or_default().into_iter().enumerate() {
        let rpath = format!("{path}[{i}]");
        let Some(r) = r else {
            ctx.error(&rpath, format!("empty or null {kind} relabeling rule in scrape config"));
            continue;
        };
        if let Some(c) = build_relabel(r, &rpath, ctx) {
            out.push(c);
        }
    }
    out
}

/// One relabel rule with Prometheus's defaults, compiled and validated.
pub(crate) fn build_relabel(r: RawRelabelConfig, path: &str, ctx: &mut Ctx) -> Option<RelabelConfig> {
    let mut ok = true;
    let action = match r.action {
        Some(Some(a)) => RelabelAction::parse(&a.0).map_err(|e| ctx.error(&format!("{path}.action"), e)).ok(),
        Some(None) => {
            ctx.error(&format!("{path}.action"), "relabel action cannot be empty");
            None
        }
        None => Some(RelabelAction::Replace),
    };
    let regex = match r.regex {
        Some(re) => {
            let re = re.map(|t| t.0).unwrap_or_default();
            AnchoredRegex::new(&re).map_err(|e| ctx.error(&format!("{path}.regex"), e)).ok()
        }
        None => Some(AnchoredRegex::default()),
    };
    let source_labels: Vec<String> = r.source_labels.unwrap_or_default().into_iter().map(|t| t.0).collect();
    let (Some(action), Some(regex)) = (action, regex) else {
        return None;
    };
    let defaults = RelabelConfig::default();
    let cfg = RelabelConfig {
        source_labels,
        separator: text(r.separator).unwrap_or(defaults.separator),
        regex,
        modulus: r.modulus.unwrap_or(0),
        target_label: text(r.target_label).unwrap_or_default(),
        replacement: text(r.replacement).unwrap_or(defaults.replacement),
        action,
    };
    if let Err((field, msg)) = cfg.validate() {
        let key = match field.key() {
            Some(k) if ctx.tree.find(&format!("{path}.{k}")).is_some() => format!("{path}.{k}"),
            _ => path.to_string(),
        };
        ctx.error(&key, msg);
        ok = false;
    }
    ok.then_some(cfg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn target_addresses() {
        for good in
            ["localhost:9100", "10.0.0.1:80", "[::1]:9090", "example.com", "[fe80::1]", "node-1.example.com:65535"]
        {
            assert_eq!(check_target_address(good), Ok(()), "{good}");
        }
        for bad in ["", "http://x:1", "x:1/metrics", "x:0", "x:99999", "x:port", "::1:9090", "[::1", ":9090", "a b:1"] {
            assert!(check_target_address(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn rule_and_file_sd_paths() {
        assert!(valid_rule_path("rules/*.yml"));
        assert!(valid_rule_path("rules/alerts.yml"));
        assert!(!valid_rule_path("rules/*/a.yml"));
        assert!(!valid_rule_path("rules/**.yml"));
        assert!(valid_file_sd_path("targets/*.json"));
        assert!(valid_file_sd_path("t.YAML"));
        assert!(!valid_file_sd_path("targets/*.txt"));
        assert!(!valid_file_sd_path("*/x.json"));
    }
}
