//! Configuration: `sightline.yml`, which is Prometheus's `prometheus.yml`
//! format plus a few Sightline-only sections (`web`, `storage.path`,
//! `storage.retention`).
//!
//! A real prometheus.yml loads unchanged: keys Prometheus knows but Sightline
//! does not implement yet (other service discoveries, `remote_read`,
//! `tracing`, ...) are accepted and come back as warnings; unknown keys are
//! errors, as in Prometheus. Loading reports every error at once, each with
//! `file:line` and the dotted key path.
//!
//! How: the file is parsed twice. `marked` builds a small tree that knows the
//! line of every key; serde (`raw`) gives the typed values; `validate` turns
//! the raw structs into the types below and uses the tree to say where each
//! problem is. When serde fails, each section and scrape job is parsed on its
//! own (with its original line numbers) so one mistake does not hide others.

pub mod datasources;
mod duration;
mod file_sd;
mod marked;
mod probes;
mod raw;
mod relabel;
mod remote_write;
mod schema;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::tsdb::Labels;

pub use duration::{format_duration, parse_duration, parse_size};
pub use file_sd::{read_file_sd, read_file_sd_for_probes};
pub use probes::ProbeJob;
pub use relabel::{
    expand, is_valid_label_name, is_valid_relabel_target, AnchoredRegex, RelabelAction, RelabelConfig, RelabelField,
    DEFAULT_REGEX, DEFAULT_REPLACEMENT, DEFAULT_SEPARATOR,
};
pub use remote_write::{default_remote_name, RemoteQueueConfig, RemoteWriteConfig, DEFAULT_QUEUE_MAX_BYTES};
pub use validate::check_target_address;

/// The built-in configuration used when no file is given: scrape Sightline
/// itself every 15 s. The target `127.0.0.1:9900` is replaced by the real
/// listen address in [`default_config`].
pub const DEFAULT_CONFIG: &str = include_str!("default.yml");

/// The shipped default alert rules (rules/sightline-defaults.yml, a
/// Prometheus rule file), embedded so the single binary carries them; the
/// rules module loads them when [`Config::default_rules`] is true.
pub const DEFAULT_RULES: &str = include_str!("../../rules/sightline-defaults.yml");

/// The name to show for [`DEFAULT_RULES`] in rule listings and errors.
pub const DEFAULT_RULES_NAME: &str = "<built-in sightline-defaults.yml>";

/// The target written in [`DEFAULT_CONFIG`] for Sightline's own job.
const DEFAULT_SELF_TARGET: &str = "127.0.0.1:9900";

/// The message of a warning about an accepted but unimplemented key.
pub const UNSUPPORTED: &str = "is not supported yet and is ignored";

/// A loaded configuration and the warnings found on the way (keys accepted
/// but not implemented yet).
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The validated configuration.
    pub config: Config,
    /// Accepted keys Sightline ignores, one per key, in file order.
    pub warnings: Vec<ConfigError>,
}

/// Everything wrong with a configuration file, in file order.
#[derive(Debug, thiserror::Error)]
pub struct ConfigErrors(pub Vec<ConfigError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// One problem (or warning) in a configuration file.
///
/// Displays as `sightline.yml:12: scrape_configs[1].scrape_timeout: scrape
/// timeout greater than scrape interval`; a warning about an unsupported key
/// reads `sightline.yml:3: remote_write is not supported yet and is ignored`.
#[derive(Debug, Clone)]
pub struct ConfigError {
    /// The file, as given to the loader.
    pub file: PathBuf,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `scrape_configs[1].scrape_timeout` (empty for the whole file).
    pub key: String,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        match (self.key.is_empty(), self.message == UNSUPPORTED) {
            (true, _) => write!(f, ": {}", self.message),
            (false, true) => write!(f, ": {} {}", self.key, self.message),
            (false, false) => write!(f, ": {}: {}", self.key, self.message),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The validated configuration the program runs on.
#[derive(Debug, Clone)]
pub struct Config {
    /// Folder of the config file, made absolute; relative paths resolve from here.
    pub base_dir: PathBuf,
    /// `global:` with its defaults applied.
    pub global: GlobalConfig,
    /// `scrape_configs:`, in file order.
    pub scrape_configs: Vec<ScrapeConfig>,
    /// Rule file patterns as written (globs); resolve them against `base_dir`.
    pub rule_files: Vec<String>,
    /// Sightline-only `web:` section.
    pub web: WebConfig,
    /// Prometheus's `storage:` with Sightline's `path` and `retention`.
    pub storage: StorageConfig,
    /// Sightline-only `dashboards.paths`: folders of dashboard YAML (and
    /// Grafana JSON) files, resolved against the config folder.
    pub dashboard_paths: Vec<PathBuf>,
    /// Sightline-only `alertmanager:` (an alertmanager.yml inline) or
    /// `alertmanager_config_file:` (its path); none = alerts are kept and
    /// shown but not delivered anywhere.
    pub alertmanager: Option<AlertmanagerSource>,
    /// Sightline-only `query:`: PromQL limits.
    pub query: QueryConfig,
    /// Sightline-only `host:`: the built-in host collector (on by default).
    pub host: HostSettings,
    /// Prometheus's `alerting:` section, unparsed, for the rules module.
    pub raw_alerting: Option<serde_yaml_ng::Value>,
    /// Sightline-only `probes:` (or the file named by `probes_config_file:`):
    /// blackbox_exporter modules by name, validated, for jobs with `probe:`.
    pub probe_modules: BTreeMap<String, crate::collect::probe::ProbeModule>,
    /// Sightline-only `default_rules:` (default true): whether the rules
    /// module loads the shipped rules/sightline-defaults.yml.
    pub default_rules: bool,
    /// `remote_write:`: stores every ingested sample is forwarded to.
    pub remote_write: Vec<RemoteWriteConfig>,
    /// Sightline-only `datasources:`: remote Prometheus-compatible query APIs.
    pub datasources: Vec<datasources::DataSourceConfig>,
}

/// Sightline-only `query:` section: limits that keep one query from taking
/// the server down, as Prometheus's `--query.*` flags do.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryConfig {
    /// Default 2m (`--query.timeout`).
    pub timeout: Duration,
    /// Samples one query may hold in memory; default 50 000 000 (`--query.max-samples`).
    pub max_samples: usize,
    /// Queries evaluated at once; more wait their turn. Default 20 (`--query.max-concurrency`).
    pub max_concurrency: usize,
    /// Default 5m (`--query.lookback-delta`).
    pub lookback_delta: Duration,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig {
            timeout: Duration::from_secs(120),
            max_samples: 50_000_000,
            max_concurrency: 20,
            lookback_delta: Duration::from_secs(300),
        }
    }
}

/// Where the Alertmanager configuration comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertmanagerSource {
    /// The YAML of the inline `alertmanager:` section.
    Inline(String),
    /// `alertmanager_config_file`, resolved against the config folder.
    File(PathBuf),
}

/// Sightline-only `host:` section: the built-in host collector, scraped as
/// one more job (`node` by default, like node_exporter's usual job name).
#[derive(Debug, Clone)]
pub struct HostSettings {
    /// Default true.
    pub enabled: bool,
    /// Default `node`.
    pub job_name: String,
    /// Default: the global scrape interval.
    pub scrape_interval: Option<Duration>,
    /// Collector names to run; all when left out.
    pub collectors: Option<Vec<String>>,
    /// Overrides node_exporter's default mount point exclusion regex.
    pub mount_points_exclude: Option<String>,
    /// Overrides node_exporter's default filesystem type exclusion regex.
    pub fs_types_exclude: Option<String>,
}

impl Default for HostSettings {
    fn default() -> Self {
        HostSettings {
            enabled: true,
            job_name: "node".into(),
            scrape_interval: None,
            collectors: None,
            mount_points_exclude: None,
            fs_types_exclude: None,
        }
    }
}

/// `global:`: defaults for every job and rule group.
#[derive(Debug, Clone)]
pub struct GlobalConfig {
    /// Default 1m.
    pub scrape_interval: Duration,
    /// Default 10s (or the interval, if shorter).
    pub scrape_timeout: Duration,
    /// Default 1m.
    pub evaluation_interval: Duration,
    /// Added to series and alerts sent to other systems.
    pub external_labels: Labels,
}

impl Default for GlobalConfig {
    fn default() -> Self {
        Self {
            scrape_interval: Duration::from_secs(60),
            scrape_timeout: Duration::from_secs(10),
            evaluation_interval: Duration::from_secs(60),
            external_labels: Labels::new(),
        }
    }
}

/// One scrape job, with the global defaults already applied.
#[derive(Debug, Clone)]
pub struct ScrapeConfig {
    /// Unique across the file; the `job` label of every target.
    pub job_name: String,
    /// How often each target is scraped (job value, else global).
    pub scrape_interval: Duration,
    /// Per-scrape timeout, never above the interval.
    pub scrape_timeout: Duration,
    /// Default `/metrics`.
    pub metrics_path: String,
    /// `http` (default) or `https`.
    pub scheme: String,
    /// URL query parameters sent with every scrape.
    pub params: BTreeMap<String, Vec<String>>,
    /// Keep the target's own `job`/`instance`/... labels on conflict instead of renaming them `exported_*`.
    pub honor_labels: bool,
    /// Default true.
    pub honor_timestamps: bool,
    /// Credentials, with any `*_file` already read.
    pub auth: Option<Auth>,
    /// `tls_config`.
    pub tls: TlsConfig,
    /// `static_configs`, one group per entry.
    pub static_configs: Vec<TargetGroup>,
    /// `file_sd_configs`; read the files with [`read_file_sd`].
    pub file_sd_configs: Vec<FileSdConfig>,
    /// Applied to targets before scraping.
    pub relabel_configs: Vec<RelabelConfig>,
    /// Applied to every scraped series.
    pub metric_relabel_configs: Vec<RelabelConfig>,
    /// 0 = no limit (the same for the other limits). Job value, else global.
    pub sample_limit: usize,
    /// Most labels a series may have.
    pub label_limit: usize,
    /// Longest label name.
    pub label_name_length_limit: usize,
    /// Longest label value.
    pub label_value_length_limit: usize,
    /// Most targets after relabeling.
    pub target_limit: usize,
    /// Bytes of uncompressed body; 0 = no limit.
    pub body_size_limit: u64,
    /// Default true: ask for gzip.
    pub enable_compression: bool,
    /// Line where the job is defined.
    pub line: Option<usize>,
    /// Sightline-only `probe: MODULE`: probe each target with this module
    /// instead of scraping it (None for an ordinary job).
    pub probe: Option<ProbeJob>,
}

/// How a scrape authenticates. `Debug` prints `<secret>` instead of
/// passwords and tokens, so a logged config leaks nothing.
#[derive(Clone)]
pub enum Auth {
    /// `basic_auth` (password or password_file).
    Basic {
        /// User name.
        username: String,
        /// Password (read from password_file at load).
        password: String,
    },
    /// `bearer_token` or `bearer_token_file`.
    Bearer(String),
    /// `authorization: {type, credentials | credentials_file}`; type defaults to `Bearer`.
    Authorization {
        /// The scheme word, e.g. `Bearer`.
        kind: String,
        /// What follows it in the header.
        credentials: String,
    },
}

impl Auth {
    /// Adds the credentials to an outgoing request (scrapes, remote write, datasources).
    pub fn apply(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::Basic { username, password } => req.basic_auth(username, Some(password)),
            Auth::Bearer(token) => req.bearer_auth(token),
            Auth::Authorization { kind, credentials } => req.header("Authorization", format!("{kind} {credentials}")),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HIDDEN: &str = "<secret>";
        match self {
            Auth::Basic { username, .. } => {
                f.debug_struct("Basic").field("username", username).field("password", &HIDDEN).finish()
            }
            Auth::Bearer(_) => f.debug_tuple("Bearer").field(&HIDDEN).finish(),
            Auth::Authorization { kind, .. } => {
                f.debug_struct("Authorization").field("kind", kind).field("credentials", &HIDDEN).finish()
            }
        }
    }
}

/// `tls_config`, with paths resolved against the config folder.
#[derive(Debug, Clone, Default)]
pub struct TlsConfig {
    /// CA bundle to verify the server with (default: system roots).
    pub ca_file: Option<PathBuf>,
    /// Client certificate for mutual TLS.
    pub cert_file: Option<PathBuf>,
    /// Key of the client certificate.
    pub key_file: Option<PathBuf>,
    /// Name to verify the certificate against (default: the target's host).
    pub server_name: Option<String>,
    /// Skip certificate verification.
    pub insecure_skip_verify: bool,
}

/// A group of targets sharing labels (a `static_configs` entry or one group of a file_sd file).
#[derive(Debug, Clone)]
pub struct TargetGroup {
    /// `host:port` addresses.
    pub targets: Vec<String>,
    /// Labels every target of the group gets.
    pub labels: Labels,
    /// Where the group comes from: its index for static configs, `file:index` for file_sd.
    pub source: String,
}

/// `file_sd_configs` entry.
#[derive(Debug, Clone)]
pub struct FileSdConfig {
    /// File patterns (globs), already resolved against the config folder.
    pub files: Vec<String>,
    /// Default 5m.
    pub refresh_interval: Duration,
}

/// Sightline-only `web:` section: where to listen, and the security settings.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// `host:port` to listen on; None = the command line or built-in default.
    pub listen_address: Option<String>,
    /// Role (`viewer`, `editor`, `admin`) of requests without credentials;
    /// None (the default) = they must sign in.
    pub anonymous_role: Option<String>,
    /// How long a browser login lasts (default 12h).
    pub session_max_age: Duration,
    /// PEM certificate chain and key: serve HTTPS (both or neither), reloaded when they change.
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key for `tls_cert_file`.
    pub tls_key_file: Option<PathBuf>,
    /// Largest request body accepted, in bytes (default 10 MiB).
    pub max_request_body_bytes: usize,
    /// Sign-in attempts per minute per client IP (default 10).
    pub login_rate_limit: u32,
    /// API requests (`/api/`, `/federate`) per minute per client IP (default 6000).
    pub api_rate_limit: u32,
    /// `/metrics` requests per minute per client IP (default 100).
    pub metrics_rate_limit: u32,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            listen_address: None,
            anonymous_role: None,
            session_max_age: Duration::from_secs(12 * 3600),
            tls_cert_file: None,
            tls_key_file: None,
            max_request_body_bytes: 10 << 20,
            login_rate_limit: 10,
            api_rate_limit: 6000,
            metrics_rate_limit: 100,
        }
    }
}

/// `storage:`: Sightline's data folder and retention (Prometheus's `tsdb`
/// and `exemplars` sub-sections are accepted with a warning).
#[derive(Debug, Clone, Default)]
pub struct StorageConfig {
    /// Data folder, resolved against the config folder.
    pub path: Option<PathBuf>,
    /// How long samples are kept.
    pub retention: Option<Duration>,
    /// Oldest data is deleted while the database is larger than this (bytes).
    pub retention_size: Option<u64>,
    /// How long 5-minute rollups are kept (beyond `retention`).
    pub downsample_retention: Option<Duration>,
}

impl Config {
    /// The rule files the `rule_files` patterns match now (relative patterns
    /// from the config folder), sorted, without duplicates. A pattern that
    /// matches nothing adds nothing, as in Prometheus.
    pub fn rule_file_paths(&self) -> Vec<PathBuf> {
        expand_globs(&self.base_dir, &self.rule_files)
    }
}

impl FileSdConfig {
    /// The files the `files` patterns match now, sorted, without duplicates.
    pub fn paths(&self) -> Vec<PathBuf> {
        expand_globs(Path::new("."), &self.files)
    }
}

/// Expands glob patterns (relative ones against `base`).
fn expand_globs(base: &Path, patterns: &[String]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for p in patterns {
        // The folder is taken literally even if its name has `[` or `*`.
        let full = if Path::new(p).is_absolute() {
            p.clone()
        } else {
            Path::new(&glob::Pattern::escape(&base.to_string_lossy())).join(p).to_string_lossy().into_owned()
        };
        // A bad pattern was already rejected at load; skip rather than fail here.
        if let Ok(paths) = glob::glob(&full) {
            out.extend(paths.flatten().filter(|p| p.is_file()));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Reads, parses and validates a configuration file.
pub fn load_file(path: &Path) -> Result<Loaded, ConfigErrors> {
    match std::fs::read_to_string(path) {
        Ok(source) => parse_str(&source, path),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: path.to_path_buf(),
            line: None,
            key: String::new(),
            message: format!("cannot read the configuration file: {e}"),
        }])),
    }
}

/// Parses and validates configuration text; `file` names it in messages and
/// its folder is the base for relative paths.
pub fn parse_str(source: &str, file: &Path) -> Result<Loaded, ConfigErrors> {
    validate::load(source, file)
}

/// The built-in configuration with Sightline's own job scraping `listen`
/// (the address the web server really listens on).
pub fn default_config(listen: &str) -> Config {
    let mut config = match parse_str(DEFAULT_CONFIG, Path::new("<built-in sightline.yml>")) {
        Ok(loaded) => loaded.config,
        // The embedded file is tested; this is only reachable if it is broken.
        Err(e) => unreachable!("built-in configuration is invalid: {e}"),
    };
    for job in &mut config.scrape_configs {
        for group in &mut job.static_configs {
            for t in &mut group.targets {
                if t == DEFAULT_SELF_TARGET {
                    *t = listen.to_string();
                }
            }
        }
    }
    config
}
