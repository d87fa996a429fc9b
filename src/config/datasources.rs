//! Sightline-only `datasources:`: Prometheus-compatible query APIs elsewhere
//! (Prometheus, VictoriaMetrics, Mimir, Thanos, another Sightline) that
//! dashboards and Explore can query instead of the local store, so
//! dashboards keep working when the data lives in a bigger store.
//!
//! ```yaml
//! datasources:
//!   - name: central
//!     url: http://victoria.internal:8428   # the API root: /api/v1/... is appended
//!     timeout: 30s
//!     basic_auth: {username: grafana, password: secret}   # or authorization / bearer_token(_file)
//!     headers: {X-Scope-OrgID: team-a}
//! ```

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml_ng::Value;

use super::raw::{RawAuthorization, RawBasicAuth, Text};
use super::validate::{build_auth, AuthFields, Ctx};
use super::Auth;

/// The name dashboards and Explore use for Sightline's own store.
pub const LOCAL: &str = "sightline";

/// One remote query API.
#[derive(Clone, Debug)]
pub struct DataSourceConfig {
    /// What dashboards (`datasource: NAME`) and Explore call it.
    pub name: String,
    /// The API root, without a trailing slash.
    pub url: String,
    /// Per request.
    pub timeout: Duration,
    /// Credentials, with the same keys (and checks) as a scrape job's.
    pub auth: Option<Auth>,
    /// Extra request headers (tenant ids and the like).
    pub headers: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDataSource {
    name: Option<Text>,
    url: Option<Text>,
    timeout: Option<Text>,
    basic_auth: Option<RawBasicAuth>,
    authorization: Option<RawAuthorization>,
    bearer_token: Option<Text>,
    bearer_token_file: Option<Text>,
    #[serde(default)]
    headers: BTreeMap<String, Text>,
}

/// Reads `datasources:`; every bad entry is reported with its line, the good ones are returned.
pub(crate) fn build(value: Option<Value>, base_dir: &Path, ctx: &mut Ctx) -> Vec<DataSourceConfig> {
    let Some(value) = value else { return Vec::new() };
    let Value::Sequence(items) = value else {
        ctx.error("datasources", "must be a list of {name, url, ...}");
        return Vec::new();
    };
    let mut out: Vec<DataSourceConfig> = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let key = format!("datasources[{i}]");
        let raw: RawDataSource = match serde_yaml_ng::from_value(item) {
            Ok(r) => r,
            Err(e) => {
                ctx.error(&key, e.to_string());
                continue;
            }
        };
        let name = raw.name.map(|t| t.0).unwrap_or_default();
        if name.is_empty() {
            ctx.error(&key, "name is required");
            continue;
        }
        if name == LOCAL || out.iter().any(|d| d.name == name) {
            ctx.error(&format!("{key}.name"), format!("{name:?} is already taken (\"{LOCAL}\" is the local store)"));
            continue;
        }
        let url = raw.url.map(|t| t.0).unwrap_or_default();
        match reqwest::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => {
                ctx.error(&format!("{key}.url"), format!("{url:?} is not an http(s) URL"));
                continue;
            }
        }
        let timeout = match raw.timeout.map(|t| t.0) {
            None => Duration::from_secs(30),
            Some(t) => match super::parse_duration(&t) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    ctx.error(&format!("{key}.timeout"), format!("{t:?} is not a positive duration"));
                    continue;
                }
            },
        };
        let fields = AuthFields {
            basic: &raw.basic_auth,
            authz: &raw.authorization,
            bearer: &raw.bearer_token,
            bearer_file: &raw.bearer_token_file,
        };
        let auth = build_auth(fields, &key, base_dir, ctx);
        out.push(DataSourceConfig {
            name,
            url: url.trim_end_matches('/').to_string(),
            timeout,
            auth,
            headers: raw.headers.into_iter().map(|(k, v)| (k, v.0)).collect(),
        });
    }
    out
}
