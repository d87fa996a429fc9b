//! Old Grafana dashboards written for node_exporter before 0.16 use metric
//! names that no current exporter (nor Sightline's host collector) exposes,
//! and split `instance` into `$node:$port`, which breaks when an instance has
//! no port. On import we rename the metrics whose meaning and unit did not
//! change, and loosen the `host:port` idiom, reporting every change.

use super::model::Dashboard;
use regex::Regex;
use std::sync::OnceLock;

/// Pre-0.16 node_exporter names and their current names (same meaning and unit).
const RENAMES: &[(&str, &str)] = &[
    ("node_cpu", "node_cpu_seconds_total"),
    ("node_boot_time", "node_boot_time_seconds"),
    ("node_time", "node_time_seconds"),
    ("node_context_switches", "node_context_switches_total"),
    ("node_forks", "node_forks_total"),
    ("node_intr", "node_intr_total"),
    ("node_filesystem_size", "node_filesystem_size_bytes"),
    ("node_filesystem_free", "node_filesystem_free_bytes"),
    ("node_filesystem_avail", "node_filesystem_avail_bytes"),
    ("node_disk_bytes_read", "node_disk_read_bytes_total"),
    ("node_disk_bytes_written", "node_disk_written_bytes_total"),
    ("node_disk_reads_completed", "node_disk_reads_completed_total"),
    ("node_disk_writes_completed", "node_disk_writes_completed_total"),
    ("node_disk_reads_merged", "node_disk_reads_merged_total"),
    ("node_disk_writes_merged", "node_disk_writes_merged_total"),
    ("node_network_receive_bytes", "node_network_receive_bytes_total"),
    ("node_network_transmit_bytes", "node_network_transmit_bytes_total"),
    ("node_network_receive_packets", "node_network_receive_packets_total"),
    ("node_network_transmit_packets", "node_network_transmit_packets_total"),
    ("node_network_receive_errs", "node_network_receive_errs_total"),
    ("node_network_transmit_errs", "node_network_transmit_errs_total"),
    ("node_network_receive_drop", "node_network_receive_drop_total"),
    ("node_network_transmit_drop", "node_network_transmit_drop_total"),
];

/// `/proc/meminfo` fields that are counts, not bytes; they kept their names.
const MEMINFO_COUNTS: &[&str] = &["HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp"];

fn meminfo_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"\bnode_memory_([A-Za-z0-9_()]+?)\b").expect("static regex"))
}

fn rename_re() -> &'static [(Regex, &'static str, &'static str)] {
    static RE: OnceLock<Vec<(Regex, &'static str, &'static str)>> = OnceLock::new();
    RE.get_or_init(|| {
        RENAMES
            .iter()
            .map(|(old, new)| (Regex::new(&format!(r"\b{old}\b")).expect("static regex"), *old, *new))
            .collect()
    })
}

/// Renames legacy metrics in one expression; returns the renames made.
pub fn rename_metrics(expr: &str) -> (String, Vec<(String, String)>) {
    let mut out = expr.to_string();
    let mut done = Vec::new();
    for (re, old, new) in rename_re() {
        if re.is_match(&out) {
            out = re.replace_all(&out, *new).into_owned();
            done.push((old.to_string(), new.to_string()));
        }
    }
    let mut mem = Vec::new();
    let replaced = meminfo_re().replace_all(&out, |c: &regex::Captures| {
        let field = &c[1];
        if field.ends_with("_bytes") || field.ends_with("_total") || MEMINFO_COUNTS.contains(&field) {
            c[0].to_string()
        } else {
            mem.push((c[0].to_string(), format!("{}_bytes", &c[0])));
            format!("{}_bytes", &c[0])
        }
    });
    out = replaced.into_owned();
    done.extend(mem);
    (out, done)
}

/// Whether the dashboard looks written for node_exporter < 0.16.
fn is_legacy(d: &Dashboard) -> bool {
    let uses = |name: &str| {
        let re = Regex::new(&format!(r"\b{name}\b")).expect("static regex");
        d.panels().any(|(_, _, p)| p.targets.iter().any(|t| re.is_match(&t.expr)))
            || d.variables.iter().any(|v| v.query.as_deref().is_some_and(|q| re.is_match(q)))
    };
    uses("node_cpu") || uses("node_boot_time") || uses("node_memory_MemTotal")
}

/// Modernises a legacy node_exporter dashboard in place; returns warnings.
pub fn modernise(d: &mut Dashboard) -> Vec<String> {
    let mut warnings = Vec::new();
    if !is_legacy(d) {
        return warnings;
    }
    let mut renamed: Vec<(String, String)> = Vec::new();
    let mut fix = |s: &str| -> String {
        let (out, done) = rename_metrics(s);
        for r in done {
            if !renamed.contains(&r) {
                renamed.push(r);
            }
        }
        // `instance=~"$node:$port"` fails for instances without a port.
        out.replace("\"$node:$port\"", "\"$node(:$port)?\"")
    };
    for v in &mut d.variables {
        if let Some(q) = &v.query {
            v.query = Some(fix(q));
        }
    }
    for row in &mut d.rows {
        for p in &mut row.panels {
            for t in &mut p.targets {
                t.expr = fix(&t.expr);
            }
        }
    }
    let mut loosened = false;
    for v in &mut d.variables {
        if v.regex.as_deref() == Some("/([^:]+):.*/") {
            v.regex = Some("/([^:]+)(?::.*)?/".into());
            loosened = true;
        }
    }
    if !renamed.is_empty() {
        let list: Vec<String> = renamed.iter().map(|(a, b)| format!("{a} → {b}")).collect();
        warnings.push(format!("renamed node_exporter < 0.16 metrics to current names: {}", list.join(", ")));
    }
    if loosened {
        warnings
            .push("instances without a port are accepted where the dashboard splits instance into $node:$port".into());
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renames_whole_names_only() {
        let (e, done) = rename_metrics("irate(node_cpu{mode='idle'}[5m]) + node_cpu_seconds_total + node_memory_MemTotal - node_memory_HugePages_Total + node_memory_Active_bytes");
        assert_eq!(
            e,
            "irate(node_cpu_seconds_total{mode='idle'}[5m]) + node_cpu_seconds_total + node_memory_MemTotal_bytes - node_memory_HugePages_Total + node_memory_Active_bytes"
        );
        assert_eq!(done.len(), 2);
        let (e, _) = rename_metrics("node_disk_io_time_ms + node_load1");
        assert_eq!(e, "node_disk_io_time_ms + node_load1", "unit changes are not renamed");
    }

    #[test]
    fn modern_dashboards_are_left_alone() {
        let mut d = super::super::parse_yaml(
            "title: X\nrows:\n  - panels:\n    - {title: a, targets: [{expr: 'node_memory_MemTotal_bytes{instance=\"$node:$port\"}'}]}\n",
            "x",
        )
        .unwrap();
        let before = d.clone();
        assert!(modernise(&mut d).is_empty());
        assert_eq!(d, before);
    }
}
