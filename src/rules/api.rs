//! `/api/v1/rules` and `/api/v1/alerts` bodies in Prometheus's JSON shape
//! (the handlers in `web::rules_api` only parse parameters and call these).

use super::file::RuleKind;
use super::group::{ActiveAlert, AlertState, Group, Rule};
use super::manager::{lock, RuleManager};
use crate::tsdb::Labels;
use serde_json::{json, Map, Value};

/// Filters of `/api/v1/rules` (`type`, `rule_name[]`, `rule_group[]`,
/// `file[]`, `exclude_alerts`).
#[derive(Debug, Clone, Default)]
pub struct RulesFilter {
    /// `Some(Alerting)` for `type=alert`, `Some(Recording)` for `type=record`.
    pub kind: Option<RuleKind>,
    pub rule_names: Vec<String>,
    pub groups: Vec<String>,
    pub files: Vec<String>,
    pub exclude_alerts: bool,
}

impl RulesFilter {
    /// Reads the filter from query pairs; errors name the bad parameter.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, String> {
        let mut f = RulesFilter::default();
        for (k, v) in pairs {
            match k {
                "type" => {
                    f.kind = match v {
                        "alert" => Some(RuleKind::Alerting),
                        "record" => Some(RuleKind::Recording),
                        "" => None,
                        other => return Err(format!("invalid parameter \"type\": not supported value {other:?}")),
                    }
                }
                "rule_name[]" => f.rule_names.push(v.to_string()),
                "rule_group[]" => f.groups.push(v.to_string()),
                "file[]" => f.files.push(v.to_string()),
                "exclude_alerts" => {
                    f.exclude_alerts = match v {
                        "true" | "1" => true,
                        "false" | "0" | "" => false,
                        other => {
                            return Err(format!("invalid parameter \"exclude_alerts\": {other:?} is not a boolean"))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(f)
    }
}

fn labels_obj(l: &Labels) -> Value {
    Value::Object(l.iter().map(|l| (l.name.clone(), Value::String(l.value.clone()))).collect())
}

fn map_obj(m: &std::collections::BTreeMap<String, String>) -> Value {
    Value::Object(m.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect())
}

/// RFC 3339 with nanosecond-style precision as Go prints it.
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
        .unwrap_or_else(|| "0001-01-01T00:00:00Z".into())
}

/// Go's `strconv.FormatFloat(v, 'e', -1, 64)`, as the API prints alert values.
pub fn value_string(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    let s = format!("{v:e}");
    let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
    let e: i32 = e.parse().unwrap_or(0);
    format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
}

/// One alert as the API shows it.
pub fn alert_json(a: &ActiveAlert) -> Value {
    let mut m = Map::new();
    m.insert("labels".into(), labels_obj(&a.labels));
    m.insert("annotations".into(), labels_obj(&a.annotations));
    m.insert("state".into(), json!(a.state.as_str()));
    m.insert("activeAt".into(), json!(rfc3339(a.active_at)));
    if let Some(k) = a.keep_firing_since {
        m.insert("keepFiringSince".into(), json!(rfc3339(k)));
    }
    m.insert("value".into(), json!(value_string(a.value)));
    Value::Object(m)
}

fn rule_json(r: &Rule, exclude_alerts: bool) -> Value {
    let mut m = Map::new();
    let active: Vec<&ActiveAlert> = r.active.values().filter(|a| a.state != AlertState::Inactive).collect();
    if r.def.kind == RuleKind::Alerting {
        m.insert("state".into(), json!(r.state().as_str()));
    }
    m.insert("name".into(), json!(r.def.name));
    m.insert("query".into(), json!(r.def.expr.trim_end()));
    if r.def.kind == RuleKind::Alerting {
        m.insert("duration".into(), json!(r.def.for_.as_secs_f64()));
        m.insert("keepFiringFor".into(), json!(r.def.keep_firing_for.as_secs_f64()));
    }
    m.insert("labels".into(), map_obj(&r.def.labels));
    if r.def.kind == RuleKind::Alerting {
        m.insert("annotations".into(), map_obj(&r.def.annotations));
        if !exclude_alerts {
            m.insert("alerts".into(), Value::Array(active.iter().map(|a| alert_json(a)).collect()));
        }
    }
    m.insert("health".into(), json!(r.status.health.as_str()));
    if let Some(e) = &r.status.last_error {
        m.insert("lastError".into(), json!(e));
    }
    m.insert("evaluationTime".into(), json!(r.status.evaluation_seconds));
    m.insert(
        "lastEvaluation".into(),
        json!(r.status.last_evaluation.map_or("0001-01-01T00:00:00Z".to_string(), rfc3339)),
    );
    m.insert("type".into(), json!(if r.def.kind == RuleKind::Alerting { "alerting" } else { "recording" }));
    Value::Object(m)
}

/// The `data` of `/api/v1/rules` for a list of groups.
pub fn rules_data(groups: &[&Group], f: &RulesFilter) -> Value {
    let mut out = Vec::new();
    for g in groups {
        if !f.groups.is_empty() && !f.groups.contains(&g.name) {
            continue;
        }
        let file = g.file.to_string_lossy().to_string();
        if !f.files.is_empty() && !f.files.contains(&file) {
            continue;
        }
        let rules: Vec<Value> = g
            .rules
            .iter()
            .filter(|r| f.kind.is_none_or(|k| k == r.def.kind))
            .filter(|r| f.rule_names.is_empty() || f.rule_names.contains(&r.def.name))
            .map(|r| rule_json(r, f.exclude_alerts))
            .collect();
        // With rule filters, Prometheus drops groups left empty.
        if rules.is_empty() && (f.kind.is_some() || !f.rule_names.is_empty()) {
            continue;
        }
        out.push(json!({
            "name": g.name,
            "file": file,
            "rules": rules,
            "interval": g.interval_ms as f64 / 1000.0,
            "limit": g.limit,
            "evaluationTime": g.last_duration,
            "lastEvaluation": g.last_evaluation.map_or("0001-01-01T00:00:00Z".to_string(), rfc3339),
        }));
    }
    json!({ "groups": out })
}

/// The `data` of `/api/v1/alerts`: pending and firing alerts of all rules.
pub fn alerts_data(groups: &[&Group]) -> Value {
    let alerts: Vec<Value> = groups
        .iter()
        .flat_map(|g| g.alerts())
        .filter(|(_, a)| a.state != AlertState::Inactive)
        .map(|(_, a)| alert_json(a))
        .collect();
    json!({ "alerts": alerts })
}

/// `/api/v1/rules` data straight from a manager.
pub fn manager_rules(m: &RuleManager, f: &RulesFilter) -> Value {
    let shared = m.groups();
    let guards: Vec<_> = shared.iter().map(|g| lock(g)).collect();
    let refs: Vec<&Group> = guards.iter().map(|g| &**g).collect();
    rules_data(&refs, f)
}

/// `/api/v1/alerts` data straight from a manager.
pub fn manager_alerts(m: &RuleManager) -> Value {
    let shared = m.groups();
    let guards: Vec<_> = shared.iter().map(|g| lock(g)).collect();
    let refs: Vec<&Group> = guards.iter().map(|g| &**g).collect();
    alerts_data(&refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_and_filters() {
        assert_eq!(value_string(1.0), "1e+00");
        assert_eq!(value_string(0.5), "5e-01");
        assert_eq!(value_string(1234.0), "1.234e+03");
        let f = RulesFilter::from_pairs([("type", "alert"), ("rule_name[]", "A"), ("exclude_alerts", "true")]).unwrap();
        assert_eq!(f.kind, Some(RuleKind::Alerting));
        assert_eq!(f.rule_names, vec!["A"]);
        assert!(f.exclude_alerts);
        assert!(RulesFilter::from_pairs([("type", "x")]).is_err());
        assert_eq!(rfc3339(1_500), "1970-01-01T00:00:01.500Z");
    }
}
