//! Targets: from a discovered address and group labels to the final target
//! labels and scrape URL, as Prometheus builds them.

use super::relabel::relabel;
use crate::config::{ScrapeConfig, TargetGroup};
use crate::tsdb::Labels;

pub const ADDRESS_LABEL: &str = "__address__";
pub const SCHEME_LABEL: &str = "__scheme__";
pub const METRICS_PATH_LABEL: &str = "__metrics_path__";
pub const SCRAPE_INTERVAL_LABEL: &str = "__scrape_interval__";
pub const SCRAPE_TIMEOUT_LABEL: &str = "__scrape_timeout__";
pub const PARAM_PREFIX: &str = "__param_";

/// One target to scrape, after relabeling.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    /// Labels attached to every scraped sample (job, instance, and the rest).
    pub labels: Labels,
    /// Labels as discovered, before relabeling (shown on the targets page).
    pub discovered: Labels,
    pub url: String,
}

/// Builds the targets of one group; targets dropped by relabeling are
/// returned in the second list (their discovered labels), as Prometheus
/// shows them under "dropped targets".
pub fn targets_from_group(cfg: &ScrapeConfig, group: &TargetGroup) -> (Vec<Target>, Vec<Labels>) {
    let mut kept = Vec::new();
    let mut dropped = Vec::new();
    for address in &group.targets {
        let mut base: Vec<(String, String)> = group.labels.iter().map(|l| (l.name.clone(), l.value.clone())).collect();
        base.push((ADDRESS_LABEL.into(), address.clone()));
        base.push(("job".into(), cfg.job_name.clone()));
        base.push((SCHEME_LABEL.into(), cfg.scheme.clone()));
        base.push((METRICS_PATH_LABEL.into(), cfg.metrics_path.clone()));
        base.push((SCRAPE_INTERVAL_LABEL.into(), format_duration(cfg.scrape_interval)));
        base.push((SCRAPE_TIMEOUT_LABEL.into(), format_duration(cfg.scrape_timeout)));
        for (name, values) in &cfg.params {
            if let Some(first) = values.first() {
                base.push((format!("{PARAM_PREFIX}{name}"), first.clone()));
            }
        }
        // Group labels win over the job defaults only where Prometheus lets them
        // (job, __scheme__, ... may be set per group).
        let mut labels = Labels::new();
        for (n, v) in base.iter().rev() {
            if labels.get(n).is_none() {
                labels.set(n, v);
            }
        }
        let discovered = labels.clone();
        match relabel(&labels, &cfg.relabel_configs) {
            Some(l) if l.get(ADDRESS_LABEL).is_some_and(|a| !a.is_empty()) => kept.push(finish(cfg, l, discovered)),
            _ => dropped.push(discovered),
        }
    }
    (kept, dropped)
}

fn finish(cfg: &ScrapeConfig, mut labels: Labels, discovered: Labels) -> Target {
    let address = labels.get(ADDRESS_LABEL).unwrap_or_default().to_string();
    if labels.get("instance").is_none() {
        labels.set("instance", &address);
    }
    let scheme = labels.get(SCHEME_LABEL).unwrap_or(&cfg.scheme).to_string();
    let path = labels.get(METRICS_PATH_LABEL).unwrap_or(&cfg.metrics_path).to_string();
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (name, values) in &cfg.params {
        // A relabeled __param_x replaces the first value, as in Prometheus.
        let relabeled = labels.get(&format!("{PARAM_PREFIX}{name}")).map(str::to_string);
        for (i, v) in values.iter().enumerate() {
            let v = if i == 0 { relabeled.clone().unwrap_or_else(|| v.clone()) } else { v.clone() };
            query.append_pair(name, &v);
        }
    }
    for l in labels.iter() {
        if let Some(name) = l.name.strip_prefix(PARAM_PREFIX) {
            if !cfg.params.contains_key(name) {
                query.append_pair(name, &l.value);
            }
        }
    }
    let query = query.finish();
    let url = if query.is_empty() {
        format!("{scheme}://{address}{path}")
    } else {
        format!("{scheme}://{address}{path}?{query}")
    };
    let public = Labels::from_pairs(
        labels.iter().filter(|l| !l.name.starts_with("__")).map(|l| (l.name.clone(), l.value.clone())),
    );
    Target { labels: public, discovered, url }
}

/// Prometheus's duration form (`15s`, `1m`, `1h30m`).
pub fn format_duration(d: std::time::Duration) -> String {
    let mut ms = d.as_millis() as u64;
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000), ("ms", 1)]
    {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}
