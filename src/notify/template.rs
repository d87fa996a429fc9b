//! Notification templates: Alertmanager's template data (`.Receiver`,
//! `.Status`, `.Alerts`, `.GroupLabels`, `.CommonLabels`, ...), default
//! titles and bodies, custom `templates:` files, and the webhook payload.
//! The Go-template engine itself is `crate::rules::template`.

use super::alert::{fingerprint_hex, go_time, Alert, GO_ZERO_TIME};
use crate::rules::template::{Func, FuncMap, Template, TemplateError, Value};
use crate::tsdb::Labels;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One alert in template data.
#[derive(Clone, Debug, PartialEq)]
pub struct AlertData {
    pub status: &'static str,
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: String,
    pub ends_at: String,
    pub generator_url: String,
    pub fingerprint: String,
}

/// Alertmanager's `template.Data` for one notification.
#[derive(Clone, Debug, PartialEq)]
pub struct Data {
    pub receiver: String,
    pub status: &'static str,
    pub alerts: Vec<AlertData>,
    pub group_labels: Labels,
    pub common_labels: Labels,
    pub common_annotations: Labels,
    pub external_url: String,
    pub group_key: String,
    pub truncated_alerts: u64,
    /// Charts of the alerts' expressions (email and Slack add them; not
    /// part of the template data or the webhook payload).
    pub charts: Vec<super::chart::AlertChart>,
}

fn common(sets: &[&Labels]) -> Labels {
    let Some(first) = sets.first() else { return Labels::new() };
    Labels::from_pairs(
        first
            .iter()
            .filter(|l| sets.iter().all(|s| s.get(&l.name) == Some(l.value.as_str())))
            .map(|l| (l.name.clone(), l.value.clone())),
    )
}

impl Data {
    /// Builds the data for `alerts` (firing first is not required; order is kept).
    pub fn new(
        receiver: &str,
        group_key: &str,
        group_labels: &Labels,
        alerts: &[Alert],
        external_url: &str,
        now: DateTime<Utc>,
    ) -> Data {
        let items: Vec<AlertData> = alerts
            .iter()
            .map(|a| {
                let resolved = a.resolved_at(now);
                AlertData {
                    status: if resolved { "resolved" } else { "firing" },
                    labels: a.labels.clone(),
                    annotations: a.annotations.clone(),
                    starts_at: go_time(a.starts_at),
                    // Alertmanager hides the end of alerts still firing.
                    ends_at: match a.ends_at {
                        Some(e) if resolved => go_time(e),
                        _ => GO_ZERO_TIME.to_string(),
                    },
                    generator_url: a.generator_url.clone(),
                    fingerprint: fingerprint_hex(a.fingerprint()),
                }
            })
            .collect();
        let status = if items.iter().any(|a| a.status == "firing") { "firing" } else { "resolved" };
        let labels: Vec<&Labels> = alerts.iter().map(|a| &a.labels).collect();
        let annotations: Vec<&Labels> = alerts.iter().map(|a| &a.annotations).collect();
        Data {
            receiver: receiver.to_string(),
            status,
            alerts: items,
            group_labels: group_labels.clone(),
            common_labels: common(&labels),
            common_annotations: common(&annotations),
            external_url: external_url.to_string(),
            group_key: group_key.to_string(),
            truncated_alerts: 0,
            charts: Vec::new(),
        }
    }

    /// Firing alerts only.
    pub fn firing(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "firing")
    }

    /// Resolved alerts only.
    pub fn resolved(&self) -> impl Iterator<Item = &AlertData> {
        self.alerts.iter().filter(|a| a.status == "resolved")
    }

    /// The template engine's view (`.Alerts.Firing` is offered as `.FiringAlerts`).
    pub fn to_value(&self) -> Value {
        let alert_list = |it: &mut dyn Iterator<Item = &AlertData>| Value::List(it.map(alert_value).collect());
        let mut m = BTreeMap::new();
        m.insert("Receiver".into(), Value::Str(self.receiver.clone()));
        m.insert("Status".into(), Value::Str(self.status.into()));
        m.insert("Alerts".into(), alert_list(&mut self.alerts.iter()));
        m.insert("FiringAlerts".into(), alert_list(&mut self.firing()));
        m.insert("ResolvedAlerts".into(), alert_list(&mut self.resolved()));
        m.insert("GroupLabels".into(), labels_value(&self.group_labels));
        m.insert("CommonLabels".into(), labels_value(&self.common_labels));
        m.insert("CommonAnnotations".into(), labels_value(&self.common_annotations));
        m.insert("ExternalURL".into(), Value::Str(self.external_url.clone()));
        m.insert("GroupKey".into(), Value::Str(self.group_key.clone()));
        m.insert("TruncatedAlerts".into(), Value::Int(self.truncated_alerts as i64));
        Value::Map(m)
    }

    /// The webhook body: Alertmanager's payload version 4, byte for byte as
    /// Go's encoder writes it (field order, HTML escaping, final newline).
    pub fn webhook_json(&self) -> String {
        let mut o = String::with_capacity(512);
        o.push_str("{\"receiver\":");
        o.push_str(&go_json_string(&self.receiver));
        o.push_str(",\"status\":");
        o.push_str(&go_json_string(self.status));
        o.push_str(",\"alerts\":[");
        for (i, a) in self.alerts.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"status\":");
            o.push_str(&go_json_string(a.status));
            o.push_str(",\"labels\":");
            o.push_str(&go_json_labels(&a.labels));
            o.push_str(",\"annotations\":");
            o.push_str(&go_json_labels(&a.annotations));
            o.push_str(",\"startsAt\":");
            o.push_str(&go_json_string(&a.starts_at));
            o.push_str(",\"endsAt\":");
            o.push_str(&go_json_string(&a.ends_at));
            o.push_str(",\"generatorURL\":");
            o.push_str(&go_json_string(&a.generator_url));
            o.push_str(",\"fingerprint\":");
            o.push_str(&go_json_string(&a.fingerprint));
            o.push('}');
        }
        o.push_str("],\"groupLabels\":");
        o.push_str(&go_json_labels(&self.group_labels));
        o.push_str(",\"commonLabels\":");
        o.push_str(&go_json_labels(&self.common_labels));
        o.push_str(",\"commonAnnotations\":");
        o.push_str(&go_json_labels(&self.common_annotations));
        o.push_str(",\"externalURL\":");
        o.push_str(&go_json_string(&self.external_url));
        o.push_str(",\"version\":\"4\",\"groupKey\":");
        o.push_str(&go_json_string(&self.group_key));
        o.push_str(&format!(",\"truncatedAlerts\":{}}}\n", self.truncated_alerts));
        o
    }
}

fn alert_value(a: &AlertData) -> Value {
    let mut m = BTreeMap::new();
    m.insert("Status".into(), Value::Str(a.status.into()));
    m.insert("Labels".into(), labels_value(&a.labels));
    m.insert("Annotations".into(), labels_value(&a.annotations));
    m.insert("StartsAt".into(), Value::Str(a.starts_at.clone()));
    m.insert("EndsAt".into(), Value::Str(a.ends_at.clone()));
    m.insert("GeneratorURL".into(), Value::Str(a.generator_url.clone()));
    m.insert("Fingerprint".into(), Value::Str(a.fingerprint.clone()));
    Value::Map(m)
}

fn labels_value(l: &Labels) -> Value {
    Value::StrMap(l.iter().map(|l| (l.name.clone(), l.value.clone())).collect())
}

/// A JSON string as Go's `encoding/json` writes it (HTML-safe escapes).
pub fn go_json_string(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            '\u{8}' => o.push_str("\\b"),
            '\u{c}' => o.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => o.push_str(&format!("\\u{:04x}", c as u32)),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn go_json_labels(l: &Labels) -> String {
    let parts: Vec<String> =
        l.iter().map(|l| format!("{}:{}", go_json_string(&l.name), go_json_string(&l.value))).collect();
    format!("{{{}}}", parts.join(","))
}

/// Sightline's default templates, under Alertmanager's template names.
pub const DEFAULT_TEMPLATES: &str = r#"
{{ define "__alertmanager" }}Sightline{{ end }}
{{ define "__alertmanagerURL" }}{{ .ExternalURL }}/alerts?receiver={{ .Receiver | urlquery }}{{ end }}
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ len .FiringAlerts }}{{ end }}] {{ join " " (labelValues .GroupLabels) }}{{ if gt (len .CommonLabels) (len .GroupLabels) }} ({{ join " " (labelValues (removeLabels .CommonLabels (labelNames .GroupLabels))) }}){{ end }}{{ end }}
{{ define "__description" }}{{ end }}
{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range sortedPairs .Labels }} - {{ .Name }} = {{ .Value }}
{{ end }}Annotations:
{{ range sortedPairs .Annotations }} - {{ .Name }} = {{ .Value }}
{{ end }}Source: {{ .GeneratorURL }}
{{ end }}{{ end }}
{{ define "__text_alerts" }}{{ if gt (len .FiringAlerts) 0 }}Alerts Firing:
{{ template "__text_alert_list" .FiringAlerts }}{{ end }}{{ if gt (len .ResolvedAlerts) 0 }}Alerts Resolved:
{{ template "__text_alert_list" .ResolvedAlerts }}{{ end }}{{ end }}

{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" }}{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}{{ end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.text" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}

{{ define "pagerduty.default.description" }}{{ template "__subject" . }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}

{{ define "email.default.subject" }}{{ template "__subject" . }}{{ end }}
{{ define "email.default.html" }}<!DOCTYPE html>
<html><head><meta charset="UTF-8"><title>{{ template "__subject" . }}</title></head>
<body style="font-family: sans-serif">
<h2 style="color: {{ if eq .Status "firing" }}#c0392b{{ else }}#27ae60{{ end }}">{{ template "__subject" . }}</h2>
{{ if gt (len .FiringAlerts) 0 }}<h3>{{ len .FiringAlerts }} firing</h3>{{ range .FiringAlerts }}
<p>{{ range sortedPairs .Labels }}<b>{{ .Name }}</b> = {{ .Value }}<br>{{ end }}{{ range sortedPairs .Annotations }}<i>{{ .Name }}</i>: {{ .Value }}<br>{{ end }}{{ if .GeneratorURL }}<a href="{{ .GeneratorURL }}">Source</a>{{ end }}</p>{{ end }}{{ end }}
{{ if gt (len .ResolvedAlerts) 0 }}<h3>{{ len .ResolvedAlerts }} resolved</h3>{{ range .ResolvedAlerts }}
<p>{{ range sortedPairs .Labels }}<b>{{ .Name }}</b> = {{ .Value }}<br>{{ end }}{{ if .GeneratorURL }}<a href="{{ .GeneratorURL }}">Source</a>{{ end }}</p>{{ end }}{{ end }}
<p><a href="{{ template "__alertmanagerURL" . }}">View in Sightline</a></p>
</body></html>{{ end }}
{{ define "email.default.text" }}{{ template "__subject" . }}

{{ template "__text_alerts" . }}{{ end }}

{{ define "msteams.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "msteams.default.summary" }}{{ template "__subject" . }}{{ end }}
{{ define "msteams.default.text" }}{{ if gt (len .FiringAlerts) 0 }}# Alerts Firing:
{{ range .FiringAlerts }}{{ range sortedPairs .Labels }}- {{ .Name }} = {{ .Value }}
{{ end }}{{ range sortedPairs .Annotations }}- {{ .Name }} = {{ .Value }}
{{ end }}{{ end }}{{ end }}{{ if gt (len .ResolvedAlerts) 0 }}# Alerts Resolved:
{{ range .ResolvedAlerts }}{{ range sortedPairs .Labels }}- {{ .Name }} = {{ .Value }}
{{ end }}{{ end }}{{ end }}{{ end }}

{{ define "discord.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "discord.default.message" }}{{ template "__text_alerts" . }}{{ end }}
{{ define "telegram.default.message" }}{{ if gt (len .FiringAlerts) 0 }}Alerts Firing:
{{ range .FiringAlerts }}{{ range sortedPairs .Labels }} - {{ .Name }} = {{ html .Value }}
{{ end }}{{ range sortedPairs .Annotations }} - {{ .Name }} = {{ html .Value }}
{{ end }}{{ end }}{{ end }}{{ if gt (len .ResolvedAlerts) 0 }}Alerts Resolved:
{{ range .ResolvedAlerts }}{{ range sortedPairs .Labels }} - {{ .Name }} = {{ html .Value }}
{{ end }}{{ end }}{{ end }}{{ end }}
{{ define "ntfy.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "ntfy.default.message" }}{{ template "__text_alerts" . }}{{ end }}
"#;

fn f(func: impl Fn(&[Value]) -> Result<Value, String> + Send + Sync + 'static) -> Func {
    Arc::new(func)
}

fn as_map(v: &Value) -> BTreeMap<String, String> {
    match v {
        Value::StrMap(m) => m.clone(),
        Value::Map(m) => m.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
        _ => BTreeMap::new(),
    }
}

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l.iter().map(|v| v.to_string()).collect(),
        Value::Nil => Vec::new(),
        other => vec![other.to_string()],
    }
}

/// The Prometheus functions plus Alertmanager's (`join`, `trimSpace`,
/// `stringSlice`, `safeUrl`) and helpers standing in for Go methods on
/// label sets (`sortedPairs`, `labelNames`, `labelValues`, `removeLabels`).
pub fn funcs(external_url: &str) -> FuncMap {
    let mut m = FuncMap::prometheus(None, external_url);
    m.insert(
        "join",
        f(|a| match a {
            [sep, list] => Ok(Value::Str(as_strings(list).join(&sep.to_string()))),
            _ => Err("wrong number of args for join: want 2".into()),
        }),
    );
    m.insert(
        "trimSpace",
        f(|a| Ok(Value::Str(a.first().map(|v| v.to_string().trim().to_string()).unwrap_or_default()))),
    );
    m.insert("stringSlice", f(|a| Ok(Value::List(a.iter().map(|v| Value::Str(v.to_string())).collect()))));
    m.insert("safeUrl", f(|a| Ok(a.first().cloned().unwrap_or(Value::Nil))));
    m.insert(
        "sortedPairs",
        f(|a| {
            let m = a.first().map(as_map).unwrap_or_default();
            Ok(Value::List(
                m.into_iter()
                    .map(|(k, v)| {
                        let mut p = BTreeMap::new();
                        p.insert("Name".to_string(), Value::Str(k));
                        p.insert("Value".to_string(), Value::Str(v));
                        Value::Map(p)
                    })
                    .collect(),
            ))
        }),
    );
    m.insert(
        "labelNames",
        f(|a| Ok(Value::List(a.first().map(as_map).unwrap_or_default().into_keys().map(Value::Str).collect()))),
    );
    m.insert(
        "labelValues",
        f(|a| Ok(Value::List(a.first().map(as_map).unwrap_or_default().into_values().map(Value::Str).collect()))),
    );
    m.insert(
        "removeLabels",
        f(|a| match a {
            [labels, names] => {
                let drop = as_strings(names);
                Ok(Value::StrMap(as_map(labels).into_iter().filter(|(k, _)| !drop.contains(k)).collect()))
            }
            _ => Err("wrong number of args for removeLabels: want 2".into()),
        }),
    );
    m
}

/// Rewrites Go method calls our engine cannot call into function calls:
/// `.Alerts.Firing` → `.FiringAlerts`, `X.SortedPairs` → `(sortedPairs X)`,
/// `X.SortedPairs.Values`/`X.Values` → `(labelValues X)`, `.Names` likewise,
/// and `X.Remove ARG` → `removeLabels X ARG`.
fn rewrite(text: &str) -> String {
    use std::sync::LazyLock;
    const PATH: &str = r"(\$?[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)";
    static PAIRS_LIST: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(&format!(r"{PATH}\.SortedPairs\.(Names|Values)\b")).expect("static regex"));
    static PAIRS: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(&format!(r"{PATH}\.SortedPairs\b")).expect("static regex"));
    static LIST: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(
            r"(\$?[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.[A-Za-z_]*(?:Labels|Annotations))\.(Names|Values)\b",
        )
        .expect("static regex")
    });
    static BARE: LazyLock<regex::Regex> =
        LazyLock::new(|| regex::Regex::new(r"(^|[\s(|])\.(Names|Values)\b").expect("static regex"));
    static REMOVE: LazyLock<regex::Regex> = LazyLock::new(|| {
        regex::Regex::new(r"(\$?[A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)\.Remove\s+(\([^()]*\)|\S+)")
            .expect("static regex")
    });
    let base = |c: &regex::Captures<'_>| if c[1].is_empty() { ".".to_string() } else { c[1].to_string() };
    let list_fn = |kind: &str| if kind == "Names" { "labelNames" } else { "labelValues" };
    let t = text.replace(".Alerts.Firing", ".FiringAlerts").replace(".Alerts.Resolved", ".ResolvedAlerts");
    let t = PAIRS_LIST.replace_all(&t, |c: &regex::Captures<'_>| format!("({} {})", list_fn(&c[2]), base(c)));
    let t = PAIRS.replace_all(&t, |c: &regex::Captures<'_>| format!("(sortedPairs {})", base(c)));
    let t = LIST.replace_all(&t, |c: &regex::Captures<'_>| format!("({} {})", list_fn(&c[2]), &c[1]));
    // Template data has no field called Names or Values: on dot they are the KV methods.
    let t = BARE.replace_all(&t, |c: &regex::Captures<'_>| format!("{}({} .)", &c[1], list_fn(&c[2])));
    let t = REMOVE.replace_all(&t, |c: &regex::Captures<'_>| format!("removeLabels {} {}", base(c), &c[2]));
    t.into_owned()
}

/// A template error with the template's origin.
#[derive(Debug, thiserror::Error)]
#[error("{origin}: {source}")]
pub struct TemplatesError {
    origin: String,
    #[source]
    source: TemplateError,
}

/// The defaults plus the user's `templates:` files, ready to expand texts.
#[derive(Clone)]
pub struct Templates {
    base: Template,
    funcs: FuncMap,
}

impl Templates {
    /// Loads the defaults and every file matched by `globs` (later files
    /// override earlier definitions).
    pub fn load(globs: &[String], external_url: &str) -> Result<Templates, TemplatesError> {
        let funcs = funcs(external_url);
        let mut base = Template::parse("default.tmpl", DEFAULT_TEMPLATES, &funcs)
            .map_err(|source| TemplatesError { origin: "default templates".into(), source })?;
        for g in globs {
            let paths = glob::glob(g)
                .map_err(|e| TemplatesError { origin: g.clone(), source: TemplateError(e.to_string()) })?;
            for p in paths.flatten() {
                let name = p.display().to_string();
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| TemplatesError { origin: name.clone(), source: TemplateError(e.to_string()) })?;
                let t = Template::parse(&name, &rewrite(&text), &funcs)
                    .map_err(|source| TemplatesError { origin: name.clone(), source })?;
                base.add_defines(&t);
            }
        }
        Ok(Templates { base, funcs })
    }

    /// Expands one config text (e.g. a Slack `title`) against `data`.
    pub fn expand(&self, text: &str, data: &Value) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        let mut t = Template::parse("text", &rewrite(text), &self.funcs)?;
        let own = t.clone();
        t.add_defines(&self.base);
        // Definitions in the text itself win over the files.
        t.add_defines(&own);
        t.execute(data, &self.funcs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> Data {
        let now = Utc::now();
        let mut a = Alert::firing(Labels::from_pairs([("alertname", "Down"), ("job", "node"), ("instance", "a")]));
        a.annotations = Labels::from_pairs([("summary", "node a <down>")]);
        let mut b = Alert::firing(Labels::from_pairs([("alertname", "Down"), ("job", "node"), ("instance", "b")]));
        b.ends_at = Some(now - chrono::Duration::seconds(1));
        Data::new(
            "team",
            "{}:{alertname=\"Down\"}",
            &Labels::from_pairs([("alertname", "Down")]),
            &[a, b],
            "http://sl",
            now,
        )
    }

    #[test]
    fn default_subject_and_lists() {
        let t = Templates::load(&[], "http://sl").unwrap();
        let d = data();
        let v = d.to_value();
        assert_eq!(t.expand(r#"{{ template "__subject" . }}"#, &v).unwrap(), "[FIRING:1] Down (node)");
        let text = t.expand(r#"{{ template "__text_alerts" . }}"#, &v).unwrap();
        assert!(text.starts_with("Alerts Firing:\nLabels:\n - alertname = Down\n"), "{text}");
        assert!(text.contains("Alerts Resolved:"), "{text}");
        assert_eq!(t.expand("{{ .Alerts.Firing | len }}/{{ len .Alerts }}", &v).unwrap(), "1/2");
        assert_eq!(
            t.expand("{{ range .CommonLabels.SortedPairs }}{{ .Name }};{{ end }}", &v).unwrap(),
            "alertname;job;"
        );
        assert!(t.expand(r#"{{ template "email.default.html" . }}"#, &v).unwrap().contains("<h3>1 firing</h3>"));
        // Go methods on label sets, as copied Alertmanager templates use them.
        let subject = r#"{{ .GroupLabels.SortedPairs.Values | join " " }} ({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }})"#;
        assert_eq!(t.expand(subject, &v).unwrap(), "Down (node)");
        assert_eq!(
            t.expand(r#"{{ range .Alerts }}{{ .Labels.Names | join "," }};{{ end }}"#, &v).unwrap(),
            "alertname,instance,job;alertname,instance,job;"
        );
    }

    #[test]
    fn custom_template_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("a.tmpl"),
            r#"{{ define "my.title" }}{{ .CommonLabels.alertname }}!{{ .ExternalURL }}{{ end }}"#,
        )
        .unwrap();
        let glob = dir.path().join("*.tmpl").display().to_string();
        let t = Templates::load(&[glob], "http://sl").unwrap();
        assert_eq!(t.expand(r#"{{ template "my.title" . }}"#, &data().to_value()).unwrap(), "Down!http://sl");
        let bad = dir.path().join("b.tmpl");
        std::fs::write(&bad, "{{ if }}").unwrap();
        assert!(Templates::load(&[bad.display().to_string()], "").is_err());
    }

    #[test]
    fn webhook_payload_shape() {
        let d = data();
        let j = d.webhook_json();
        assert!(j.starts_with(r#"{"receiver":"team","status":"firing","alerts":[{"status":"firing","labels":{"alertname":"Down","instance":"a","job":"node"},"annotations":{"summary":"node a \u003cdown\u003e"},"startsAt":""#), "{j}");
        assert!(j.contains(r#""endsAt":"0001-01-01T00:00:00Z","generatorURL":"","fingerprint":""#));
        assert!(
            j.ends_with("\"version\":\"4\",\"groupKey\":\"{}:{alertname=\\\"Down\\\"}\",\"truncatedAlerts\":0}\n"),
            "{j}"
        );
        let v: serde_json::Value = serde_json::from_str(&j).unwrap();
        assert_eq!(v["alerts"][1]["status"], "resolved");
        assert_eq!(v["commonLabels"], serde_json::json!({"alertname": "Down", "job": "node"}));
    }
}
