//! alertmanager.yml, read as Alertmanager reads it: strict field names,
//! defaults from `global`, the same validation, and errors that name the
//! file and line.

use super::matchers::parse_matchers;
use super::timeinterval::TimeInterval;
use crate::config::parse_duration;
use crate::tsdb::{MatchKind, Matcher};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// A configuration error: where (file and line, when known) and why.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: {reason}")]
    Io { file: String, reason: String },
    /// The YAML is malformed or has an unknown or mistyped field.
    #[error("{file}:{line}: {reason}")]
    Syntax { file: String, line: usize, reason: String },
    /// The YAML is well-formed but the configuration is invalid.
    #[error("{file}:{line}: {reason}")]
    Invalid { file: String, line: usize, reason: String },
    /// Several problems, one per line, in file order.
    #[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
    Many(Vec<ConfigError>),
}

impl ConfigError {
    /// The line the error points at (0 when unknown; the first for `Many`).
    pub fn line(&self) -> usize {
        match self {
            ConfigError::Io { .. } => 0,
            ConfigError::Syntax { line, .. } | ConfigError::Invalid { line, .. } => *line,
            ConfigError::Many(v) => v.first().map_or(0, ConfigError::line),
        }
    }

    /// All the errors as a list (one element unless `Many`).
    pub fn all(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Many(v) => v.iter().collect(),
            e => vec![e],
        }
    }

    fn many(mut v: Vec<ConfigError>) -> ConfigError {
        if v.len() == 1 {
            return v.remove(0);
        }
        v.sort_by_key(ConfigError::line);
        ConfigError::Many(v)
    }
}

/// A secret string: printed and serialised as `<secret>`, never as itself.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl Secret {
    /// The real value, for the sender only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<secret>")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<secret>")
    }
}

/// A duration written as a Prometheus duration string (`30s`, `1h`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dur(pub Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        parse_duration(&s).map(Dur).map_err(serde::de::Error::custom)
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::config::format_duration(self.0))
    }
}

/// Prometheus' common HTTP client settings (the subset senders use; the
/// rest is accepted so existing files load).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    #[serde(default)]
    pub authorization: Option<Authorization>,
    #[serde(default)]
    pub basic_auth: Option<BasicAuth>,
    #[serde(default)]
    pub bearer_token: Option<Secret>,
    #[serde(default)]
    pub bearer_token_file: Option<String>,
    #[serde(default)]
    pub proxy_url: Option<String>,
    #[serde(default)]
    pub no_proxy: Option<String>,
    #[serde(default)]
    pub proxy_from_environment: Option<bool>,
    #[serde(default)]
    pub proxy_connect_header: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub follow_redirects: Option<bool>,
    #[serde(default)]
    pub enable_http2: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub oauth2: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    pub http_headers: Option<serde_yaml_ng::Value>,
}

/// `authorization:` of an HTTP config.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Authorization {
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub credentials: Option<Secret>,
    #[serde(default)]
    pub credentials_file: Option<String>,
}

/// `basic_auth:` of an HTTP config.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BasicAuth {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub username_file: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub password_file: Option<String>,
}

/// TLS settings of an HTTP or SMTP client.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    #[serde(default)]
    pub ca: Option<String>,
    #[serde(default)]
    pub ca_file: Option<String>,
    #[serde(default)]
    pub cert: Option<String>,
    #[serde(default)]
    pub cert_file: Option<String>,
    #[serde(default)]
    pub key: Option<Secret>,
    #[serde(default)]
    pub key_file: Option<String>,
    #[serde(default)]
    pub server_name: Option<String>,
    #[serde(default)]
    pub insecure_skip_verify: bool,
    #[serde(default)]
    pub min_version: Option<String>,
    #[serde(default)]
    pub max_version: Option<String>,
}

/// The `global:` section (defaults for receivers).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Global {
    pub resolve_timeout: Option<Dur>,
    pub http_config: Option<HttpConfig>,
    pub smtp_from: Option<String>,
    pub smtp_hello: Option<String>,
    pub smtp_smarthost: Option<String>,
    pub smtp_auth_username: Option<String>,
    pub smtp_auth_password: Option<Secret>,
    pub smtp_auth_password_file: Option<String>,
    pub smtp_auth_secret: Option<Secret>,
    pub smtp_auth_secret_file: Option<String>,
    pub smtp_auth_identity: Option<String>,
    pub smtp_require_tls: Option<bool>,
    pub smtp_tls_config: Option<TlsConfig>,
    pub smtp_force_implicit_tls: Option<bool>,
    pub slack_api_url: Option<Secret>,
    pub slack_api_url_file: Option<String>,
    pub slack_app_token: Option<Secret>,
    pub slack_app_token_file: Option<String>,
    pub slack_app_url: Option<String>,
    pub pagerduty_url: Option<String>,
    pub opsgenie_api_url: Option<String>,
    pub opsgenie_api_key: Option<Secret>,
    pub opsgenie_api_key_file: Option<String>,
    pub wechat_api_url: Option<String>,
    pub wechat_api_secret: Option<Secret>,
    pub wechat_api_secret_file: Option<String>,
    pub wechat_api_corp_id: Option<String>,
    pub victorops_api_url: Option<String>,
    pub victorops_api_key: Option<Secret>,
    pub victorops_api_key_file: Option<String>,
    pub telegram_api_url: Option<String>,
    pub telegram_bot_token: Option<Secret>,
    pub telegram_bot_token_file: Option<String>,
    pub webex_api_url: Option<String>,
    pub rocketchat_api_url: Option<String>,
    pub rocketchat_token: Option<Secret>,
    pub rocketchat_token_file: Option<String>,
    pub rocketchat_token_id: Option<Secret>,
    pub rocketchat_token_id_file: Option<String>,
    pub mattermost_webhook_url: Option<Secret>,
    pub mattermost_webhook_url_file: Option<String>,
    pub jira_api_url: Option<String>,
}

/// A route as written (parsed matchers, unresolved options).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouteConfig {
    pub receiver: Option<String>,
    pub group_by: Option<Vec<String>>,
    #[serde(rename = "match")]
    pub match_eq: BTreeMap<String, String>,
    pub match_re: BTreeMap<String, Option<String>>,
    pub matchers: Vec<String>,
    #[serde(rename = "continue")]
    pub continue_matching: bool,
    pub routes: Vec<RouteConfig>,
    pub group_wait: Option<Dur>,
    pub group_interval: Option<Dur>,
    pub repeat_interval: Option<Dur>,
    pub mute_time_intervals: Vec<String>,
    pub active_time_intervals: Vec<String>,
    /// Sightline accepts Alertmanager's route `labels` too (merged into matches).
    pub labels: BTreeMap<String, String>,
}

/// An inhibition rule as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawInhibit {
    source_match: BTreeMap<String, String>,
    source_match_re: BTreeMap<String, Option<String>>,
    source_matchers: Vec<String>,
    target_match: BTreeMap<String, String>,
    target_match_re: BTreeMap<String, Option<String>>,
    target_matchers: Vec<String>,
    equal: Vec<String>,
    name: Option<String>,
}

/// A resolved inhibition rule.
#[derive(Clone, Debug)]
pub struct InhibitRule {
    pub source: Vec<Matcher>,
    pub target: Vec<Matcher>,
    pub equal: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTimeIntervalSet {
    name: String,
    #[serde(default)]
    time_intervals: Vec<TimeInterval>,
}

fn yes() -> bool {
    true
}

/// `webhook_configs` item.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub url: Option<Secret>,
    #[serde(default)]
    pub url_file: Option<String>,
    #[serde(default)]
    pub max_alerts: u64,
    #[serde(default)]
    pub timeout: Option<Dur>,
}

/// `email_configs` item.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    #[serde(default)]
    pub send_resolved: bool,
    #[serde(default)]
    pub to: String,
    #[serde(default)]
    pub from: Option<String>,
    #[serde(default)]
    pub hello: Option<String>,
    #[serde(default)]
    pub smarthost: Option<String>,
    #[serde(default)]
    pub auth_username: Option<String>,
    #[serde(default)]
    pub auth_password: Option<Secret>,
    #[serde(default)]
    pub auth_password_file: Option<String>,
    #[serde(default)]
    pub auth_secret: Option<Secret>,
    #[serde(default)]
    pub auth_secret_file: Option<String>,
    #[serde(default)]
    pub auth_identity: Option<String>,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub html: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub require_tls: Option<bool>,
    #[serde(default)]
    pub force_implicit_tls: Option<bool>,
    #[serde(default)]
    pub tls_config: Option<TlsConfig>,
    #[serde(default)]
    pub threading: Option<serde_yaml_ng::Value>,
}

/// `slack_configs` item (incoming webhooks; app tokens are accepted).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SlackConfig {
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    pub api_url: Option<Secret>,
    pub api_url_file: Option<String>,
    pub app_token: Option<Secret>,
    pub app_token_file: Option<String>,
    pub app_url: Option<String>,
    pub channel: Option<String>,
    pub username: Option<String>,
    pub color: Option<String>,
    pub title: Option<String>,
    pub title_link: Option<String>,
    pub pretext: Option<String>,
    pub text: Option<String>,
    pub fields: Option<serde_yaml_ng::Value>,
    pub short_fields: bool,
    pub footer: Option<String>,
    pub fallback: Option<String>,
    pub callback_id: Option<String>,
    pub icon_emoji: Option<String>,
    pub icon_url: Option<String>,
    pub image_url: Option<String>,
    pub thumb_url: Option<String>,
    pub link_names: bool,
    pub mrkdwn_in: Option<Vec<String>>,
    pub actions: Option<serde_yaml_ng::Value>,
    pub update_message: bool,
    pub message_text: Option<String>,
    pub timeout: Option<Dur>,
}

/// `pagerduty_configs` item (Events API v2).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PagerDutyConfig {
    pub send_resolved: bool,
    pub http_config: Option<HttpConfig>,
    pub routing_key: Option<Secret>,
    pub routing_key_file: Option<String>,
    pub service_key: Option<Secret>,
    pub service_key_file: Option<String>,
    pub url: Option<String>,
    pub client: Option<String>,
    pub client_url: Option<String>,
    pub description: Option<String>,
    pub details: BTreeMap<String, String>,
    pub images: Option<serde_yaml_ng::Value>,
    pub links: Option<serde_yaml_ng::Value>,
    pub source: Option<String>,
    pub severity: Option<String>,
    pub class: Option<String>,
    pub component: Option<String>,
    pub group: Option<String>,
    pub timeout: Option<Dur>,
}

impl Default for PagerDutyConfig {
    fn default() -> Self {
        PagerDutyConfig {
            send_resolved: true,
            http_config: None,
            routing_key: None,
            routing_key_file: None,
            service_key: None,
            service_key_file: None,
            url: None,
            client: None,
            client_url: None,
            description: None,
            details: BTreeMap::new(),
            images: None,
            links: None,
            source: None,
            severity: None,
            class: None,
            component: None,
            group: None,
            timeout: None,
        }
    }
}

/// `discord_configs` item.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DiscordConfig {
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub content: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub avatar_url: Option<String>,
    #[serde(default)]
    pub timeout: Option<Dur>,
}

/// `msteams_configs` item (Office 365 connector card).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MsTeamsConfig {
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub webhook_url: Option<Secret>,
    #[serde(default)]
    pub webhook_url_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub summary: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub timeout: Option<Dur>,
}

/// `telegram_configs` item.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TelegramConfig {
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    #[serde(default)]
    pub api_url: Option<String>,
    #[serde(default)]
    pub bot_token: Option<Secret>,
    #[serde(default)]
    pub bot_token_file: Option<String>,
    #[serde(default)]
    pub chat_id: i64,
    #[serde(default)]
    pub message_thread_id: Option<i64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub disable_notifications: bool,
    #[serde(default)]
    pub parse_mode: Option<String>,
}

/// `ntfy_configs` item (Sightline's own: server URL, topic, optional token).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NtfyConfig {
    #[serde(default = "yes")]
    pub send_resolved: bool,
    #[serde(default)]
    pub http_config: Option<HttpConfig>,
    /// Server base URL; `https://ntfy.sh` when unset.
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub topic: String,
    #[serde(default)]
    pub token: Option<Secret>,
    #[serde(default)]
    pub token_file: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub priority: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub timeout: Option<Dur>,
}

/// One integration of a receiver.
#[derive(Clone, Debug)]
pub enum Integration {
    Webhook(WebhookConfig),
    Email(EmailConfig),
    Slack(SlackConfig),
    PagerDuty(PagerDutyConfig),
    Discord(DiscordConfig),
    MsTeams(MsTeamsConfig),
    Telegram(TelegramConfig),
    Ntfy(NtfyConfig),
    /// An Alertmanager integration Sightline validates but cannot deliver to.
    Unsupported {
        kind: String,
    },
}

impl Integration {
    /// The upstream integration name (`webhook`, `email`, ...).
    pub fn kind(&self) -> &str {
        match self {
            Integration::Webhook(_) => "webhook",
            Integration::Email(_) => "email",
            Integration::Slack(_) => "slack",
            Integration::PagerDuty(_) => "pagerduty",
            Integration::Discord(_) => "discord",
            Integration::MsTeams(_) => "msteams",
            Integration::Telegram(_) => "telegram",
            Integration::Ntfy(_) => "ntfy",
            Integration::Unsupported { kind } => kind,
        }
    }

    /// Whether resolved notifications go out.
    pub fn send_resolved(&self) -> bool {
        match self {
            Integration::Webhook(c) => c.send_resolved,
            Integration::Email(c) => c.send_resolved,
            Integration::Slack(c) => c.send_resolved,
            Integration::PagerDuty(c) => c.send_resolved,
            Integration::Discord(c) => c.send_resolved,
            Integration::MsTeams(c) => c.send_resolved,
            Integration::Telegram(c) => c.send_resolved,
            Integration::Ntfy(c) => c.send_resolved,
            Integration::Unsupported { .. } => false,
        }
    }
}

/// A named receiver and its integrations.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub name: String,
    pub integrations: Vec<Integration>,
}

type Items = Vec<BTreeMap<String, serde_yaml_ng::Value>>;

/// An integration Sightline only validates: name, items, allowed fields,
/// and (error, whether `global` supplies the credential).
type UnsupportedSpec<'a> = (&'a str, &'a Items, &'a [&'a str], Option<(&'a str, bool)>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReceiver {
    name: String,
    #[serde(default)]
    webhook_configs: Vec<WebhookConfig>,
    #[serde(default)]
    email_configs: Vec<EmailConfig>,
    #[serde(default)]
    slack_configs: Vec<SlackConfig>,
    #[serde(default)]
    pagerduty_configs: Vec<PagerDutyConfig>,
    #[serde(default)]
    discord_configs: Vec<DiscordConfig>,
    #[serde(default)]
    msteams_configs: Vec<MsTeamsConfig>,
    #[serde(default)]
    telegram_configs: Vec<TelegramConfig>,
    #[serde(default)]
    ntfy_configs: Vec<NtfyConfig>,
    #[serde(default)]
    opsgenie_configs: Items,
    #[serde(default)]
    victorops_configs: Items,
    #[serde(default)]
    pushover_configs: Items,
    #[serde(default)]
    sns_configs: Items,
    #[serde(default)]
    wechat_configs: Items,
    #[serde(default)]
    webex_configs: Items,
    #[serde(default)]
    rocketchat_configs: Items,
    #[serde(default)]
    mattermost_configs: Items,
    #[serde(default)]
    jira_configs: Items,
    #[serde(default)]
    msteamsv2_configs: Items,
    #[serde(default)]
    incidentio_configs: Items,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Option<Global>,
    #[serde(default)]
    route: Option<RouteConfig>,
    #[serde(default)]
    receivers: Vec<RawReceiver>,
    #[serde(default)]
    inhibit_rules: Vec<RawInhibit>,
    #[serde(default)]
    time_intervals: Vec<RawTimeIntervalSet>,
    #[serde(default)]
    mute_time_intervals: Vec<RawTimeIntervalSet>,
    #[serde(default)]
    templates: Vec<String>,
    #[serde(default)]
    tracing: Option<serde_yaml_ng::Value>,
}

/// A loaded, validated alertmanager.yml.
#[derive(Clone, Debug)]
pub struct Config {
    pub global: Global,
    /// Resolved `global.resolve_timeout` (5m by default).
    pub resolve_timeout: Duration,
    pub route: RouteConfig,
    pub receivers: Vec<Receiver>,
    pub inhibit_rules: Vec<InhibitRule>,
    /// `time_intervals` and `mute_time_intervals`, by name.
    pub time_intervals: HashMap<String, Vec<TimeInterval>>,
    /// Template file globs, resolved against the config's folder.
    pub templates: Vec<String>,
    /// The original text with secret values replaced (for /api/v2/status).
    pub original: String,
}

impl Config {
    /// The receiver called `name`.
    pub fn receiver(&self, name: &str) -> Option<&Receiver> {
        self.receivers.iter().find(|r| r.name == name)
    }
}

/// Reads and validates an alertmanager.yml file.
pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
    let file = path.display().to_string();
    let src =
        std::fs::read_to_string(path).map_err(|e| ConfigError::Io { file: file.clone(), reason: e.to_string() })?;
    let mut cfg = parse_str(&src, &file)?;
    // Template globs are relative to the config file, as in Alertmanager.
    if let Some(dir) = path.parent() {
        cfg.templates = cfg
            .templates
            .iter()
            .map(|t| if Path::new(t).is_absolute() { t.clone() } else { dir.join(t).display().to_string() })
            .collect();
    }
    Ok(cfg)
}

/// Parses and validates alertmanager.yml text; `file` names it in errors.
pub fn parse_str(src: &str, file: &str) -> Result<Config, ConfigError> {
    let de = serde_yaml_ng::Deserializer::from_str(src);
    let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let mut line = inner.location().map_or(0, |l| l.line());
        let mut reason = inner.to_string();
        // The location goes in front; keep the reason short.
        if let Some(i) = reason.find(" at line ") {
            reason.truncate(i);
        }
        // Custom errors (bad durations, ...) point at the enclosing mapping;
        // move to the offending key itself when it can be found below.
        let key = path.rsplit('.').next().unwrap_or("").split('[').next().unwrap_or("").to_string();
        if !key.is_empty() && key != "?" {
            let needle = format!("{key}:");
            if let Some(i) =
                src.lines().enumerate().skip(line.saturating_sub(1)).find(|(_, l)| l.contains(&needle)).map(|(i, _)| i)
            {
                line = i + 1;
            }
        }
        if !path.is_empty() && path != "." && !reason.starts_with(&path) {
            reason = format!("{path}: {reason}");
        }
        ConfigError::Syntax { file: file.to_string(), line, reason }
    })?;
    Validator { src, file, errors: Default::default() }.validate(raw)
}

/// Checks a parsed config; independent problems are all collected (one per
/// receiver, route node, inhibit rule, global setting) and reported together.
struct Validator<'a> {
    src: &'a str,
    file: &'a str,
    errors: std::cell::RefCell<Vec<ConfigError>>,
}

const SLACK_APP_URL: &str = "https://slack.com/api/chat.postMessage";

impl Validator<'_> {
    /// The first line (1-based) containing `needle`, for pointing at errors.
    fn line_of(&self, needle: &str) -> usize {
        self.src.lines().position(|l| l.contains(needle)).map_or(0, |i| i + 1)
    }

    fn err(&self, needle: &str, reason: impl Into<String>) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_string(), line: self.line_of(needle), reason: reason.into() }
    }

    /// Remembers an error and goes on checking.
    fn push(&self, e: ConfigError) {
        self.errors.borrow_mut().push(e);
    }

    /// The value, or None after remembering the error.
    fn keep<T>(&self, r: Result<T, ConfigError>) -> Option<T> {
        r.map_err(|e| self.push(e)).ok()
    }

    fn both(&self, a: bool, b: bool, an: &str, bn: &str) -> Result<(), ConfigError> {
        if a && b {
            return Err(self.err(bn, format!("at most one of {an} & {bn} must be configured")));
        }
        Ok(())
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let mut g = raw.global.unwrap_or_default();
        self.keep(self.both(
            g.smtp_auth_password.is_some(),
            g.smtp_auth_password_file.is_some(),
            "smtp_auth_password",
            "smtp_auth_password_file",
        ));
        self.keep(self.both(
            g.smtp_auth_secret.is_some(),
            g.smtp_auth_secret_file.is_some(),
            "smtp_auth_secret",
            "smtp_auth_secret_file",
        ));
        self.keep(self.both(
            g.slack_api_url.is_some(),
            g.slack_api_url_file.is_some(),
            "slack_api_url",
            "slack_api_url_file",
        ));
        self.keep(self.both(
            g.slack_app_token.is_some(),
            g.slack_app_token_file.is_some(),
            "slack_app_token",
            "slack_app_token_file",
        ));
        let has_token = g.slack_app_token.is_some() || g.slack_app_token_file.is_some();
        let url_is_app = g.slack_api_url.as_ref().is_some_and(|u| u.0 == SLACK_APP_URL);
        if has_token && (g.slack_api_url_file.is_some() || (g.slack_api_url.is_some() && !url_is_app)) {
            self.push(self.err(
                "slack_app_token",
                "at most one of slack_app_token/slack_app_token_file & slack_api_url/slack_api_url_file must be configured",
            ));
        }
        self.keep(self.both(
            g.opsgenie_api_key.is_some(),
            g.opsgenie_api_key_file.is_some(),
            "opsgenie_api_key",
            "opsgenie_api_key_file",
        ));
        self.keep(self.both(
            g.victorops_api_key.is_some(),
            g.victorops_api_key_file.is_some(),
            "victorops_api_key",
            "victorops_api_key_file",
        ));
        self.keep(self.both(
            g.wechat_api_secret.is_some(),
            g.wechat_api_secret_file.is_some(),
            "wechat_api_secret",
            "wechat_api_secret_file",
        ));
        self.keep(self.both(
            g.telegram_bot_token.is_some(),
            g.telegram_bot_token_file.is_some(),
            "telegram_bot_token",
            "telegram_bot_token_file",
        ));
        self.keep(self.both(
            g.rocketchat_token.is_some(),
            g.rocketchat_token_file.is_some(),
            "rocketchat_token",
            "rocketchat_token_file",
        ));
        self.keep(self.both(
            g.rocketchat_token_id.is_some(),
            g.rocketchat_token_id_file.is_some(),
            "rocketchat_token_id",
            "rocketchat_token_id_file",
        ));
        self.keep(self.both(
            g.mattermost_webhook_url.is_some(),
            g.mattermost_webhook_url_file.is_some(),
            "mattermost_webhook_url",
            "mattermost_webhook_url_file",
        ));
        if g.smtp_require_tls.is_none() {
            g.smtp_require_tls = Some(true);
        }
        let resolve_timeout = g.resolve_timeout.map_or(Duration::from_secs(300), |d| d.0);
        g.resolve_timeout = Some(Dur(resolve_timeout));
        g.pagerduty_url.get_or_insert_with(|| "https://events.pagerduty.com/v2/enqueue".into());
        g.opsgenie_api_url.get_or_insert_with(|| "https://api.opsgenie.com/".into());
        g.wechat_api_url.get_or_insert_with(|| "https://qyapi.weixin.qq.com/cgi-bin/".into());
        g.victorops_api_url
            .get_or_insert_with(|| "https://alert.victorops.com/integrations/generic/20131114/alert/".into());
        g.telegram_api_url.get_or_insert_with(|| "https://api.telegram.org".into());
        g.webex_api_url.get_or_insert_with(|| "https://webexapis.com/v1/messages".into());
        g.rocketchat_api_url.get_or_insert_with(|| "https://open.rocket.chat/".into());
        g.slack_app_url.get_or_insert_with(|| SLACK_APP_URL.into());

        // Time intervals.
        let mut time_intervals = HashMap::new();
        for set in raw.time_intervals.iter().chain(raw.mute_time_intervals.iter()) {
            if set.name.is_empty() {
                self.push(self.err("time_intervals", "time interval must have a name"));
                continue;
            }
            if time_intervals.insert(set.name.clone(), set.time_intervals.clone()).is_some() {
                self.push(self.err(&set.name, format!("time interval {:?} is defined more than once", set.name)));
            }
        }

        // Receivers.
        let mut receivers = Vec::new();
        let mut names = HashSet::new();
        for r in raw.receivers {
            if r.name.is_empty() {
                self.push(self.err("receivers", "missing name in receiver"));
                continue;
            }
            if !names.insert(r.name.clone()) {
                self.push(
                    self.err(
                        &format!("name: {}", r.name),
                        format!("notification config name {:?} is not unique", r.name),
                    ),
                );
                continue;
            }
            receivers.extend(self.keep(self.receiver(r, &g)));
        }

        // Route tree.
        let Some(route) = raw.route else {
            self.push(self.err("receivers", "no routes provided"));
            return Err(ConfigError::many(self.errors.take()));
        };
        let root_recv = route.receiver.clone().unwrap_or_default();
        if root_recv.is_empty() {
            self.push(self.err("route", "root route must specify a default receiver"));
        }
        if !route.match_eq.is_empty() || !route.match_re.is_empty() || !route.matchers.is_empty() {
            self.push(self.err("route", "root route must not have any matchers"));
        }
        if route.continue_matching {
            self.push(self.err("continue", "cannot have continue in root route"));
        }
        if !route.mute_time_intervals.is_empty() || !route.active_time_intervals.is_empty() {
            self.push(self.err("route", "root route must not have any mute time intervals or active time intervals"));
        }
        self.check_route(&route, &names, &time_intervals);

        let mut inhibit_rules = Vec::new();
        for r in raw.inhibit_rules {
            let rule = (|| {
                let mut source = self.legacy(&r.source_match, &r.source_match_re)?;
                source.extend(self.new_style(&r.source_matchers)?);
                let mut target = self.legacy(&r.target_match, &r.target_match_re)?;
                target.extend(self.new_style(&r.target_matchers)?);
                Ok(InhibitRule { source, target, equal: r.equal.clone() })
            })();
            inhibit_rules.extend(self.keep(rule));
        }
        let _ = raw.tracing;
        let errors = self.errors.take();
        if !errors.is_empty() {
            return Err(ConfigError::many(errors));
        }
        Ok(Config {
            global: g,
            resolve_timeout,
            route,
            receivers,
            inhibit_rules,
            time_intervals,
            templates: raw.templates,
            original: redact(self.src),
        })
    }

    fn check_route(
        &self,
        r: &RouteConfig,
        receivers: &HashSet<String>,
        intervals: &HashMap<String, Vec<TimeInterval>>,
    ) {
        if let Some(name) = r.receiver.as_deref().filter(|n| !n.is_empty()) {
            if !receivers.contains(name) {
                self.push(self.err(&format!("receiver: {name}"), format!("undefined receiver {name:?} used in route")));
            }
        }
        if let Some(gb) = &r.group_by {
            let mut seen = HashSet::new();
            for l in gb {
                if l == "..." && gb.len() > 1 {
                    self.push(self.err(
                        "group_by",
                        "cannot have wildcard group_by (`...`) and other other labels at the same time",
                    ));
                    break;
                }
                if l != "..." && !valid_label_name(l) {
                    self.push(self.err("group_by", format!("invalid label name {l:?} in group_by list")));
                }
                if !seen.insert(l) {
                    self.push(self.err("group_by", format!("duplicated label {l:?} in group_by")));
                }
            }
        }
        if r.group_interval.is_some_and(|d| d.0.is_zero()) {
            self.push(self.err("group_interval", "group_interval cannot be zero"));
        }
        if r.repeat_interval.is_some_and(|d| d.0.is_zero()) {
            self.push(self.err("repeat_interval", "repeat_interval cannot be zero"));
        }
        for name in r.mute_time_intervals.iter().chain(r.active_time_intervals.iter()) {
            if !intervals.contains_key(name) {
                self.push(self.err(name, format!("undefined time interval {name:?} used in route")));
            }
        }
        self.keep(self.legacy(&r.match_eq, &r.match_re));
        self.keep(self.new_style(&r.matchers));
        for c in &r.routes {
            self.check_route(c, receivers, intervals);
        }
    }

    fn legacy(
        &self,
        eq: &BTreeMap<String, String>,
        re: &BTreeMap<String, Option<String>>,
    ) -> Result<Vec<Matcher>, ConfigError> {
        legacy_matchers(eq, re).map_err(|(name, e)| self.err(&format!("{name}:"), e))
    }

    fn new_style(&self, items: &[String]) -> Result<Vec<Matcher>, ConfigError> {
        let mut out = Vec::new();
        for s in items {
            out.extend(parse_matchers(s).map_err(|e| self.err(s, format!("bad matcher: {e}")))?);
        }
        Ok(out)
    }

    fn receiver(&self, r: RawReceiver, g: &Global) -> Result<Receiver, ConfigError> {
        let at = format!("name: {}", r.name);
        let at2 = format!("name: '{}'", r.name);
        let here = |reason: String| {
            let line = self.line_of(&at).max(self.line_of(&at2));
            ConfigError::Invalid {
                file: self.file.to_string(),
                line,
                reason: format!("receiver {:?}: {reason}", r.name),
            }
        };
        let mut out = Vec::new();
        for mut c in r.webhook_configs {
            if c.url.is_none() && c.url_file.is_none() {
                return Err(here("one of url or url_file must be configured".into()));
            }
            if c.url.is_some() && c.url_file.is_some() {
                return Err(here("at most one of url & url_file must be configured".into()));
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::Webhook(c));
        }
        for mut c in r.email_configs {
            if c.to.is_empty() {
                return Err(here("missing to address in email config".into()));
            }
            if c.smarthost.is_none() {
                c.smarthost = g.smtp_smarthost.clone();
            }
            if c.smarthost.as_deref().unwrap_or("").is_empty() {
                return Err(here("no global SMTP smarthost set".into()));
            }
            if c.from.is_none() {
                c.from = g.smtp_from.clone();
            }
            if c.from.as_deref().unwrap_or("").is_empty() {
                return Err(here("no global SMTP from set".into()));
            }
            if c.hello.is_none() {
                c.hello = Some(g.smtp_hello.clone().filter(|h| !h.is_empty()).unwrap_or_else(|| "localhost".into()));
            }
            if c.auth_username.is_none() {
                c.auth_username = g.smtp_auth_username.clone();
            }
            if c.auth_password.is_some() && c.auth_password_file.is_some() {
                return Err(here("at most one of auth_password & auth_password_file must be configured".into()));
            }
            if c.auth_password.is_none() && c.auth_password_file.is_none() {
                c.auth_password = g.smtp_auth_password.clone();
                c.auth_password_file = g.smtp_auth_password_file.clone();
            }
            if c.auth_secret.is_none() && c.auth_secret_file.is_none() {
                c.auth_secret = g.smtp_auth_secret.clone();
                c.auth_secret_file = g.smtp_auth_secret_file.clone();
            }
            if c.auth_identity.is_none() {
                c.auth_identity = g.smtp_auth_identity.clone();
            }
            if c.require_tls.is_none() {
                c.require_tls = g.smtp_require_tls;
            }
            if c.force_implicit_tls.is_none() {
                c.force_implicit_tls = g.smtp_force_implicit_tls;
            }
            if c.tls_config.is_none() {
                c.tls_config = g.smtp_tls_config.clone();
            }
            // Header names are case-insensitive; Alertmanager title-cases them.
            let mut headers = BTreeMap::new();
            for (k, v) in std::mem::take(&mut c.headers) {
                let norm = title_case_header(&k);
                if headers.insert(norm.clone(), v).is_some() {
                    return Err(here(format!("duplicate header {norm:?} in email config")));
                }
            }
            c.headers = headers;
            out.push(Integration::Email(c));
        }
        for mut c in r.slack_configs {
            if c.api_url.is_some() && c.api_url_file.is_some() {
                return Err(here("at most one of api_url & api_url_file must be configured".into()));
            }
            if c.app_token.is_some() && c.app_token_file.is_some() {
                return Err(here("at most one of app_token & app_token_file must be configured".into()));
            }
            let has_auth = c.http_config.as_ref().and_then(|h| h.authorization.as_ref()).is_some();
            let own_url = c.api_url.is_some() || c.api_url_file.is_some();
            let own_token = c.app_token.is_some() || c.app_token_file.is_some();
            if !own_url && !own_token && !has_auth {
                if g.slack_app_token.is_some() || g.slack_app_token_file.is_some() {
                    c.app_token = g.slack_app_token.clone();
                    c.app_token_file = g.slack_app_token_file.clone();
                } else {
                    c.api_url = g.slack_api_url.clone();
                    c.api_url_file = g.slack_api_url_file.clone();
                }
            }
            let token_mode = c.app_token.is_some() || c.app_token_file.is_some() || has_auth;
            if token_mode && c.app_url.is_none() && c.api_url.is_none() {
                c.app_url = g.slack_app_url.clone();
            }
            if c.api_url.is_none() && c.api_url_file.is_none() && !token_mode {
                return Err(here("no Slack API URL nor App token set either inline or in a file".into()));
            }
            if c.update_message && !token_mode {
                return Err(here(
                    "update_message can only be used with bot tokens (app_token), not with incoming webhooks".into(),
                ));
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::Slack(c));
        }
        for mut c in r.pagerduty_configs {
            let rk = c.routing_key.is_some() || c.routing_key_file.is_some();
            let sk = c.service_key.is_some() || c.service_key_file.is_some();
            if !rk && !sk {
                return Err(here("missing service or routing key in PagerDuty config".into()));
            }
            if c.routing_key.is_some() && c.routing_key_file.is_some() {
                return Err(here("at most one of routing_key & routing_key_file must be configured".into()));
            }
            if c.url.is_none() {
                c.url = g.pagerduty_url.clone();
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::PagerDuty(c));
        }
        for mut c in r.discord_configs {
            if c.webhook_url.is_none() && c.webhook_url_file.is_none() {
                return Err(here("one of webhook_url or webhook_url_file must be configured".into()));
            }
            if c.webhook_url.is_some() && c.webhook_url_file.is_some() {
                return Err(here("at most one of webhook_url & webhook_url_file must be configured".into()));
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::Discord(c));
        }
        for mut c in r.msteams_configs {
            if c.webhook_url.is_none() && c.webhook_url_file.is_none() {
                return Err(here("one of webhook_url or webhook_url_file must be configured".into()));
            }
            if c.webhook_url.is_some() && c.webhook_url_file.is_some() {
                return Err(here("at most one of webhook_url & webhook_url_file must be configured".into()));
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::MsTeams(c));
        }
        for mut c in r.telegram_configs {
            if c.bot_token.is_some() && c.bot_token_file.is_some() {
                return Err(here("at most one of bot_token & bot_token_file must be configured".into()));
            }
            if c.bot_token.is_none() && c.bot_token_file.is_none() {
                c.bot_token = g.telegram_bot_token.clone();
                c.bot_token_file = g.telegram_bot_token_file.clone();
            }
            if c.bot_token.is_none() && c.bot_token_file.is_none() {
                return Err(here("missing bot_token or bot_token_file on telegram_config".into()));
            }
            if c.chat_id == 0 {
                return Err(here("missing chat_id on telegram_config".into()));
            }
            if c.api_url.is_none() {
                c.api_url = g.telegram_api_url.clone();
            }
            if let Some(pm) = c.parse_mode.as_deref() {
                if !matches!(pm, "" | "Markdown" | "MarkdownV2" | "HTML") {
                    return Err(here(format!("unknown parse_mode {pm:?} on telegram_config")));
                }
            } else {
                c.parse_mode = Some("HTML".into());
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::Telegram(c));
        }
        for mut c in r.ntfy_configs {
            if c.topic.is_empty() {
                return Err(here("missing topic on ntfy_config".into()));
            }
            if c.token.is_some() && c.token_file.is_some() {
                return Err(here("at most one of token & token_file must be configured".into()));
            }
            inherit_http(&mut c.http_config, g);
            out.push(Integration::Ntfy(c));
        }
        // Integrations Sightline does not deliver to: validated like upstream.
        let unsupported: [UnsupportedSpec<'_>; 11] = [
            (
                "opsgenie",
                &r.opsgenie_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_key",
                    "api_key_file",
                    "api_url",
                    "message",
                    "description",
                    "source",
                    "details",
                    "entity",
                    "responders",
                    "actions",
                    "tags",
                    "note",
                    "priority",
                    "update_alerts",
                    "visible_to",
                ],
                Some((
                    "no global OpsGenie API Key set either inline or in a file",
                    g.opsgenie_api_key.is_some() || g.opsgenie_api_key_file.is_some(),
                )),
            ),
            (
                "victorops",
                &r.victorops_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_key",
                    "api_key_file",
                    "api_url",
                    "routing_key",
                    "message_type",
                    "entity_display_name",
                    "state_message",
                    "monitoring_tool",
                    "custom_fields",
                ],
                Some((
                    "no global VictorOps API Key set",
                    g.victorops_api_key.is_some() || g.victorops_api_key_file.is_some(),
                )),
            ),
            (
                "pushover",
                &r.pushover_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "user_key",
                    "user_key_file",
                    "token",
                    "token_file",
                    "title",
                    "message",
                    "url",
                    "url_title",
                    "device",
                    "sound",
                    "priority",
                    "retry",
                    "expire",
                    "ttl",
                    "html",
                    "monospace",
                ],
                None,
            ),
            (
                "sns",
                &r.sns_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_url",
                    "sigv4",
                    "topic_arn",
                    "phone_number",
                    "target_arn",
                    "subject",
                    "message",
                    "attributes",
                ],
                None,
            ),
            (
                "wechat",
                &r.wechat_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_secret",
                    "api_secret_file",
                    "corp_id",
                    "api_url",
                    "to_user",
                    "to_party",
                    "to_tag",
                    "agent_id",
                    "message",
                    "message_type",
                ],
                Some((
                    "no global Wechat Api Secret set either inline or in a file",
                    g.wechat_api_secret.is_some() || g.wechat_api_secret_file.is_some(),
                )),
            ),
            ("webex", &r.webex_configs, &["send_resolved", "http_config", "api_url", "room_id", "message"], None),
            (
                "rocketchat",
                &r.rocketchat_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_url",
                    "channel",
                    "token",
                    "token_file",
                    "token_id",
                    "token_id_file",
                    "color",
                    "emoji",
                    "icon_url",
                    "text",
                    "title",
                    "title_link",
                    "fields",
                    "short_fields",
                    "image_url",
                    "thumb_url",
                    "link_names",
                    "actions",
                ],
                Some((
                    "no global Rocketchat Token set either inline or in a file",
                    g.rocketchat_token.is_some() || g.rocketchat_token_file.is_some(),
                )),
            ),
            (
                "mattermost",
                &r.mattermost_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "webhook_url",
                    "webhook_url_file",
                    "channel",
                    "username",
                    "text",
                    "icon_url",
                    "icon_emoji",
                    "attachments",
                    "props",
                    "priority",
                ],
                Some((
                    "missing webhook_url or webhook_url_file on mattermost_config",
                    g.mattermost_webhook_url.is_some() || g.mattermost_webhook_url_file.is_some(),
                )),
            ),
            (
                "jira",
                &r.jira_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "api_url",
                    "project",
                    "summary",
                    "description",
                    "labels",
                    "priority",
                    "issue_type",
                    "reopen_transition",
                    "resolve_transition",
                    "wont_fix_resolution",
                    "reopen_duration",
                    "fields",
                    "api_type",
                ],
                None,
            ),
            (
                "msteamsv2",
                &r.msteamsv2_configs,
                &["send_resolved", "http_config", "webhook_url", "webhook_url_file", "title", "text", "timeout"],
                None,
            ),
            (
                "incidentio",
                &r.incidentio_configs,
                &[
                    "send_resolved",
                    "http_config",
                    "url",
                    "url_file",
                    "alert_source_token",
                    "alert_source_token_file",
                    "max_alerts",
                    "timeout",
                ],
                None,
            ),
        ];
        for (kind, items, fields, cred) in unsupported {
            for item in items {
                for k in item.keys() {
                    if !fields.contains(&k.as_str()) {
                        let line = self.line_of(&format!("{k}:"));
                        return Err(ConfigError::Invalid {
                            file: self.file.to_string(),
                            line,
                            reason: format!("field {k} not found in type {kind}.plain"),
                        });
                    }
                }
                let own = |a: &str| item.get(a).is_some_and(|v| !v.is_null());
                if let Some((msg, global_set)) = cred {
                    let own_set = match kind {
                        "mattermost" => own("webhook_url") || own("webhook_url_file"),
                        "wechat" => own("api_secret") || own("api_secret_file"),
                        "rocketchat" => own("token") || own("token_file"),
                        _ => own("api_key") || own("api_key_file"),
                    };
                    if !own_set && !global_set {
                        return Err(here(msg.to_string()));
                    }
                }
                if kind == "sns" && !own("topic_arn") && !own("target_arn") && !own("phone_number") {
                    return Err(here(
                        "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config".into(),
                    ));
                }
                out.push(Integration::Unsupported { kind: kind.to_string() });
            }
        }
        Ok(Receiver { name: r.name, integrations: out })
    }
}

/// Builds matchers from legacy `match`/`match_re` maps; regexes are stored
/// anchored as `^(?:...)$`, as Alertmanager does. Errors carry the label name.
pub fn legacy_matchers(
    eq: &BTreeMap<String, String>,
    re: &BTreeMap<String, Option<String>>,
) -> Result<Vec<Matcher>, (String, String)> {
    let mut out = Vec::new();
    for (k, v) in eq {
        if !valid_label_name(k) {
            return Err((k.clone(), format!("invalid label name {k:?}")));
        }
        out.push(Matcher::equal(k, v));
    }
    for (k, v) in re {
        if !valid_label_name(k) {
            return Err((k.clone(), format!("invalid label name {k:?}")));
        }
        let v = v
            .as_ref()
            .ok_or_else(|| (k.clone(), format!("invalid_label: regular expression for {k:?} is empty (null)")))?;
        let m = Matcher::new(MatchKind::Regex, k, format!("^(?:{v})$"))
            .map_err(|e| (k.clone(), format!("invalid regular expression for {k:?}: {e}")))?;
        out.push(m);
    }
    Ok(out)
}

/// Route matchers in the order Alertmanager builds them (match, match_re, matchers).
pub fn route_matchers(r: &RouteConfig) -> Vec<Matcher> {
    let mut out = legacy_matchers(&r.match_eq, &r.match_re).unwrap_or_default();
    for s in &r.matchers {
        out.extend(parse_matchers(s).unwrap_or_default());
    }
    out
}

/// Replaces the values of secret-bearing keys with `<secret>` line by line,
/// so the status API can show the configuration without leaking anything.
pub fn redact(src: &str) -> String {
    const SECRET_KEYS: [&str; 12] = [
        "password",
        "secret",
        "token",
        "api_key",
        "credentials",
        "routing_key",
        "service_key",
        "url",
        "user_key",
        "key",
        "token_id",
        "bearer_token",
    ];
    let mut out = String::with_capacity(src.len());
    for line in src.lines() {
        let trimmed = line.trim_start().trim_start_matches("- ");
        let redacted = trimmed.split_once(':').and_then(|(k, v)| {
            let k = k.trim();
            let secret = SECRET_KEYS.iter().any(|s| k.ends_with(s)) && !k.ends_with("_file");
            (secret && !v.trim().is_empty()).then(|| format!("{}{k}: <secret>", &line[..line.len() - trimmed.len()]))
        });
        out.push_str(redacted.as_deref().unwrap_or(line));
        out.push('\n');
    }
    out
}

fn valid_label_name(s: &str) -> bool {
    let mut c = s.chars();
    matches!(c.next(), Some(f) if f == '_' || f.is_ascii_alphabetic())
        && c.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn inherit_http(h: &mut Option<HttpConfig>, g: &Global) {
    if h.is_none() {
        *h = g.http_config.clone();
    }
}

fn title_case_header(k: &str) -> String {
    k.split('-')
        .map(|p| {
            let mut c = p.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + &c.as_str().to_ascii_lowercase(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_and_unknown_field() {
        let c = parse_str("route:\n  receiver: a\nreceivers:\n  - name: a\n", "am.yml").unwrap();
        assert_eq!(c.receivers.len(), 1);
        assert_eq!(c.resolve_timeout, Duration::from_secs(300));
        let e = parse_str("route:\n  receiver: a\n  bogus: 1\nreceivers:\n  - name: a\n", "am.yml").unwrap_err();
        let s = e.to_string();
        assert!(s.starts_with("am.yml:3:"), "{s}");
        assert!(s.contains("bogus"), "{s}");
    }

    #[test]
    fn undefined_receiver_named_with_line() {
        let e = parse_str("route:\n  receiver: a\n  routes:\n    - receiver: nope\nreceivers:\n  - name: a\n", "x.yml")
            .unwrap_err();
        assert_eq!(e.to_string(), "x.yml:4: undefined receiver \"nope\" used in route");
    }

    #[test]
    fn every_independent_error_is_reported_with_its_line() {
        let yaml = "route:\n  receiver: a\n  routes:\n    - receiver: nope\n      group_interval: 0s\nreceivers:\n  - name: a\n    webhook_configs:\n      - send_resolved: true\n  - name: b\n    email_configs:\n      - to: x@example.org\ninhibit_rules:\n  - source_matchers: ['a=~\"(\"']\n";
        let e = parse_str(yaml, "x.yml").unwrap_err();
        let all: Vec<String> = e.all().iter().map(|e| e.to_string()).collect();
        assert_eq!(
            all[..4],
            [
                "x.yml:4: undefined receiver \"nope\" used in route",
                "x.yml:5: group_interval cannot be zero",
                "x.yml:7: receiver \"a\": one of url or url_file must be configured",
                "x.yml:10: receiver \"b\": no global SMTP smarthost set",
            ],
            "{e}"
        );
        assert!(all[4].starts_with("x.yml:14: bad matcher"), "{}", all[4]);
        assert_eq!(all.len(), 5);
        assert!(e.to_string().starts_with("x.yml:4: undefined receiver"));
        assert_eq!(e.line(), 4);
    }

    #[test]
    fn secrets_hidden() {
        let c = parse_str(
            "route:\n  receiver: a\nreceivers:\n  - name: a\n    webhook_configs:\n      - url: http://user:pw@x/\n",
            "x.yml",
        )
        .unwrap();
        let dbg = format!("{:?}", c.receivers);
        assert!(!dbg.contains("pw@"), "{dbg}");
        assert!(dbg.contains("<secret>"));
    }
}
