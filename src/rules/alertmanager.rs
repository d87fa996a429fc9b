//! Sending alerts to external Alertmanagers (`alerting.alertmanagers` with
//! `static_configs`) with Prometheus's v2 API payload, and a sink that fans
//! out to several sinks (the in-process notifier plus Alertmanagers).

use super::group::{Alert, AlertSink};
use crate::tsdb::Labels;
use std::sync::Arc;
use std::time::Duration;

/// One configured Alertmanager endpoint set.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertmanagerTarget {
    /// Full URL of the alerts endpoint (`http://host:9093/api/v2/alerts`).
    pub url: String,
    pub timeout: Duration,
}

/// Reads `alerting.alertmanagers[*].static_configs[*].targets` (with
/// `scheme`, `path_prefix`, `timeout`) from the raw `alerting` section, plus
/// `alert_relabel_configs`-free `alerting`. Unsupported service discoveries
/// are reported as errors naming them.
pub fn targets_from_config(alerting: Option<&serde_yaml_ng::Value>) -> Result<Vec<AlertmanagerTarget>, String> {
    let mut out = Vec::new();
    let Some(alerting) = alerting else {
        return Ok(out);
    };
    let Some(ams) = alerting.get("alertmanagers") else {
        return Ok(out);
    };
    let Some(ams) = ams.as_sequence() else {
        return Err("alerting.alertmanagers must be a list".into());
    };
    for (i, am) in ams.iter().enumerate() {
        let scheme = am.get("scheme").and_then(|v| v.as_str()).unwrap_or("http");
        if scheme != "http" && scheme != "https" {
            return Err(format!("alerting.alertmanagers[{i}].scheme: {scheme:?} is not http or https"));
        }
        if let Some(v) = am.get("api_version").and_then(|v| v.as_str()) {
            if v != "v2" {
                return Err(format!("alerting.alertmanagers[{i}].api_version: only v2 is supported, got {v:?}"));
            }
        }
        let prefix = am.get("path_prefix").and_then(|v| v.as_str()).unwrap_or("").trim_end_matches('/');
        let timeout = match am.get("timeout").and_then(|v| v.as_str()) {
            Some(t) => {
                crate::config::parse_duration(t).map_err(|e| format!("alerting.alertmanagers[{i}].timeout: {e}"))?
            }
            None => Duration::from_secs(10),
        };
        let Some(statics) = am.get("static_configs").and_then(|v| v.as_sequence()) else {
            continue;
        };
        for sc in statics {
            for t in sc.get("targets").and_then(|v| v.as_sequence()).map(Vec::as_slice).unwrap_or(&[]) {
                let Some(host) = t.as_str() else { continue };
                out.push(AlertmanagerTarget { url: format!("{scheme}://{host}{prefix}/api/v2/alerts"), timeout });
            }
        }
    }
    Ok(out)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".to_string())
}

fn labels_json(l: &Labels) -> serde_json::Value {
    serde_json::Value::Object(l.iter().map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone()))).collect())
}

/// The body of `POST /api/v2/alerts`, as Prometheus sends it.
pub fn v2_payload(alerts: &[Alert]) -> serde_json::Value {
    serde_json::Value::Array(
        alerts
            .iter()
            .map(|a| {
                serde_json::json!({
                    "labels": labels_json(&a.labels),
                    "annotations": labels_json(&a.annotations),
                    "startsAt": rfc3339(a.starts_at),
                    "endsAt": rfc3339(a.ends_at),
                    "generatorURL": a.generator_url,
                })
            })
            .collect(),
    )
}

/// Posts alerts to Alertmanagers from a background task; failures are logged.
pub struct AlertmanagerSink {
    targets: Vec<AlertmanagerTarget>,
    client: reqwest::Client,
    handle: tokio::runtime::Handle,
}

impl AlertmanagerSink {
    /// A sink for `targets`; must be created inside a tokio runtime.
    pub fn new(targets: Vec<AlertmanagerTarget>) -> Result<Self, String> {
        crate::scrape::ensure_crypto_provider();
        let client = reqwest::Client::builder().no_proxy().build().map_err(|e| e.to_string())?;
        let handle =
            tokio::runtime::Handle::try_current().map_err(|_| "Alertmanager sink needs a tokio runtime".to_string())?;
        Ok(AlertmanagerSink { targets, client, handle })
    }
}

impl AlertSink for AlertmanagerSink {
    fn send(&self, alerts: Vec<Alert>) {
        let body = match serde_json::to_vec(&v2_payload(&alerts)) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "encoding alerts for Alertmanager");
                return;
            }
        };
        for t in &self.targets {
            let req = self
                .client
                .post(&t.url)
                .header("content-type", "application/json")
                .timeout(t.timeout)
                .body(body.clone());
            let url = t.url.clone();
            let n = alerts.len();
            self.handle.spawn(async move {
                match req.send().await {
                    Ok(r) if r.status().is_success() => {
                        tracing::debug!(%url, alerts = n, "sent alerts")
                    }
                    Ok(r) => {
                        tracing::warn!(%url, status = %r.status(), "Alertmanager rejected alerts")
                    }
                    Err(e) => tracing::warn!(%url, error = %e, "sending alerts to Alertmanager"),
                }
            });
        }
    }
}

/// Hands every batch to each of its sinks.
pub struct FanoutSink(pub Vec<Arc<dyn AlertSink>>);

impl AlertSink for FanoutSink {
    fn send(&self, alerts: Vec<Alert>) {
        for s in &self.0 {
            s.send(alerts.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_static_alertmanagers() {
        let v: serde_yaml_ng::Value = serde_yaml_ng::from_str(
            "alertmanagers:\n- scheme: https\n  path_prefix: /am/\n  timeout: 5s\n  static_configs:\n  - targets: ['a:9093', 'b:9093']\n",
        )
        .unwrap();
        let t = targets_from_config(Some(&v)).unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].url, "https://a:9093/am/api/v2/alerts");
        assert_eq!(t[1].timeout, Duration::from_secs(5));
        let bad: serde_yaml_ng::Value = serde_yaml_ng::from_str("alertmanagers:\n- api_version: v1\n").unwrap();
        assert!(targets_from_config(Some(&bad)).is_err());
        assert!(targets_from_config(None).unwrap().is_empty());
    }

    #[test]
    fn payload_shape() {
        let a = Alert {
            labels: Labels::from_pairs([("alertname", "X"), ("job", "j")]),
            annotations: Labels::from_pairs([("summary", "s")]),
            starts_at: 1_000,
            ends_at: 61_500,
            generator_url: "http://h/graph".into(),
        };
        let p = v2_payload(&[a]);
        assert_eq!(p[0]["labels"]["alertname"], "X");
        assert_eq!(p[0]["annotations"]["summary"], "s");
        assert_eq!(p[0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(p[0]["endsAt"], "1970-01-01T00:01:01.500Z");
        assert_eq!(p[0]["generatorURL"], "http://h/graph");
    }
}
