//! The configuration as parsed (serde), before validation. Only the keys
//! Sightline uses appear here: unknown and not-yet-supported keys are found
//! on the marked tree by `schema`, which reports every one with its line.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A scalar read as text whatever YAML thinks it is (`0`, `1234`, `true`),
/// the way Go's yaml.v2 fills a string field. Durations, passwords, label
/// values and regexes are often written unquoted.
#[derive(Debug, Clone, PartialEq, Default)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// Tells an explicit `key:` (null) from an absent key: with
/// `#[serde(default)]`, absent is `None` and null is `Some(None)`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<Text>>, D::Error> {
    Option::<Text>::deserialize(d).map(Some)
}

/// The whole file.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawConfig {
    #[serde(default)]
    pub global: Option<RawGlobal>,
    #[serde(default)]
    pub rule_files: Option<Vec<Text>>,
    #[serde(default)]
    pub scrape_configs: Option<Vec<Option<RawScrapeConfig>>>,
    #[serde(default)]
    pub alerting: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub web: Option<RawWeb>,
    #[serde(default)]
    pub storage: Option<RawStorage>,
    #[serde(default)]
    pub host: Option<RawHost>,
    #[serde(default)]
    pub dashboards: Option<RawDashboards>,
    #[serde(default)]
    pub query: Option<RawQuery>,
    #[serde(default)]
    pub alertmanager: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub alertmanager_config_file: Option<Text>,
    /// Sightline-only: a blackbox.yml's content (`modules:`), checked module by module.
    #[serde(default)]
    pub probes: Option<serde_yaml_ng::Value>,
    /// Sightline-only: a blackbox.yml to read the modules from.
    #[serde(default)]
    pub probes_config_file: Option<Text>,
    /// Sightline-only: load the shipped default alert rules (default true).
    #[serde(default)]
    pub default_rules: Option<bool>,
    /// Prometheus's `remote_write:` list (plus Sightline's `queue_max_bytes`).
    #[serde(default)]
    pub remote_write: Option<Vec<Option<RawRemoteWrite>>>,
    /// Sightline-only: remote query APIs for dashboards and Explore.
    #[serde(default)]
    pub datasources: Option<serde_yaml_ng::Value>,
}

/// One `remote_write` entry.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRemoteWrite {
    pub url: Option<Text>,
    pub name: Option<Text>,
    pub remote_timeout: Option<Text>,
    pub headers: Option<BTreeMap<String, Text>>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<Text>,
    pub bearer_token_file: Option<Text>,
    pub tls_config: Option<RawTls>,
    pub write_relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub queue_config: Option<RawQueueConfig>,
    /// Sightline-only: bound of the durable on-disk queue (`1GB`, `512MiB`).
    pub queue_max_bytes: Option<Text>,
}

/// `remote_write[].queue_config`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawQueueConfig {
    pub capacity: Option<u64>,
    pub max_shards: Option<u64>,
    pub max_samples_per_send: Option<u64>,
    pub batch_send_deadline: Option<Text>,
    pub min_backoff: Option<Text>,
    pub max_backoff: Option<Text>,
    pub retry_on_http_429: Option<bool>,
}

/// Sightline-only `query:` section: PromQL limits.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawQuery {
    pub timeout: Option<Text>,
    pub max_samples: Option<u64>,
    pub max_concurrency: Option<u64>,
    pub lookback_delta: Option<Text>,
}

/// Sightline-only `dashboards:` section.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawDashboards {
    pub paths: Option<Vec<Text>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawGlobal {
    pub scrape_interval: Option<Text>,
    pub scrape_timeout: Option<Text>,
    pub evaluation_interval: Option<Text>,
    pub external_labels: Option<BTreeMap<String, Text>>,
    pub body_size_limit: Option<Text>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawScrapeConfig {
    pub job_name: Option<Text>,
    pub scrape_interval: Option<Text>,
    pub scrape_timeout: Option<Text>,
    pub metrics_path: Option<Text>,
    pub scheme: Option<Text>,
    pub params: Option<BTreeMap<String, Vec<Text>>>,
    pub honor_labels: Option<bool>,
    pub honor_timestamps: Option<bool>,
    pub enable_compression: Option<bool>,
    pub basic_auth: Option<RawBasicAuth>,
    pub authorization: Option<RawAuthorization>,
    pub bearer_token: Option<Text>,
    pub bearer_token_file: Option<Text>,
    pub tls_config: Option<RawTls>,
    // Accepted as Prometheus does; redirects are always followed.
    pub follow_redirects: Option<bool>,
    pub enable_http2: Option<bool>,
    pub static_configs: Option<Vec<Option<RawStaticConfig>>>,
    pub file_sd_configs: Option<Vec<Option<RawFileSdConfig>>>,
    pub relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub metric_relabel_configs: Option<Vec<Option<RawRelabelConfig>>>,
    pub sample_limit: Option<u64>,
    pub label_limit: Option<u64>,
    pub label_name_length_limit: Option<u64>,
    pub label_value_length_limit: Option<u64>,
    pub target_limit: Option<u64>,
    pub body_size_limit: Option<Text>,
    /// Sightline-only: probe each target with this module instead of scraping it.
    pub probe: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawBasicAuth {
    pub username: Option<Text>,
    pub username_file: Option<Text>,
    pub password: Option<Text>,
    pub password_file: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawAuthorization {
    #[serde(rename = "type")]
    pub kind: Option<Text>,
    pub credentials: Option<Text>,
    pub credentials_file: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawTls {
    pub ca_file: Option<Text>,
    pub cert_file: Option<Text>,
    pub key_file: Option<Text>,
    pub server_name: Option<Text>,
    pub insecure_skip_verify: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawStaticConfig {
    pub targets: Option<Vec<Text>>,
    pub labels: Option<BTreeMap<String, Text>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawFileSdConfig {
    pub files: Option<Vec<Text>>,
    pub refresh_interval: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawRelabelConfig {
    pub source_labels: Option<Vec<Text>>,
    pub separator: Option<Text>,
    /// Absent = the default `(.*)`; an explicit null = the empty regex, as in Prometheus.
    #[serde(default, deserialize_with = "present")]
    pub regex: Option<Option<Text>>,
    pub modulus: Option<u64>,
    pub target_label: Option<Text>,
    pub replacement: Option<Text>,
    /// An explicit null is an error ("relabel action cannot be empty").
    #[serde(default, deserialize_with = "present")]
    pub action: Option<Option<Text>>,
}

/// Sightline-only `host:` section: the built-in host collector.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawHost {
    pub enabled: Option<bool>,
    pub job_name: Option<Text>,
    pub scrape_interval: Option<Text>,
    pub collectors: Option<Vec<Text>>,
    pub mount_points_exclude: Option<Text>,
    pub fs_types_exclude: Option<Text>,
}

/// Sightline-only `web:` section.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawWeb {
    pub listen_address: Option<Text>,
    pub anonymous_role: Option<Text>,
    pub session_max_age: Option<Text>,
    pub tls_cert_file: Option<Text>,
    pub tls_key_file: Option<Text>,
    pub max_request_body_bytes: Option<u64>,
    pub login_rate_limit: Option<u64>,
    pub api_rate_limit: Option<u64>,
    pub metrics_rate_limit: Option<u64>,
}

/// Prometheus's `storage:` section plus Sightline's `path` and `retention`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct RawStorage {
    pub path: Option<Text>,
    pub retention: Option<Text>,
    pub retention_size: Option<Text>,
    pub downsample_retention: Option<Text>,
}

/// One group of a file_sd file (JSON or YAML). Unknown keys are errors, as
/// in Prometheus's strict decoding of these files.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawFileSdGroup {
    #[serde(default)]
    pub targets: Vec<Text>,
    #[serde(default)]
    pub labels: BTreeMap<String, Text>,
}
