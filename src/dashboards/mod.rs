//! Dashboards: the model (written as YAML), the built-ins embedded from the
//! top-level `dashboards/` folder, loading a folder of user dashboards, and
//! template variable expansion. Rendering lives in `web::panels`.

mod duration;
mod grafana;
mod legacy;
mod library;
mod model;
mod template;
pub mod units;

use std::path::Path;
use std::sync::OnceLock;

pub use duration::{format_duration, parse_duration};
pub use grafana::import_grafana_json;
pub use library::{to_yaml, Entry, Library, LibraryError, Source};
pub use model::{
    slugify, Dashboard, DrawStyle, DurationMs, OneOrMany, Panel, PanelType, Row, Severity, Target, Threshold,
    ThresholdColor, Variable, VariableSource,
};
pub use template::{
    auto_step, expand_expr, expand_text, resolve_options, select_value, selector_matchers, InstantEval, TimeRange,
    VarValue, VarValues, VariableError, DEFAULT_SCRAPE_INTERVAL_MS, NICE_STEPS_MS,
};
pub use units::Unit;

/// Why a dashboard could not be loaded. `name` is the file (or built-in) name.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The YAML does not fit the model; `path` names the field, e.g. `rows[1].panels[2].unit`.
    #[error("{name}: {}{message}", path_prefix(path))]
    Syntax {
        /// File or built-in name.
        name: String,
        /// Path of the offending field (`.` for the whole document).
        path: String,
        /// What is wrong, with the line and column when known.
        message: String,
    },
    /// The dashboard parsed but makes no sense; every problem, each `path: message`.
    #[error("{name}: {}", problems.join("; "))]
    Invalid {
        /// File or built-in name.
        name: String,
        /// Every problem found.
        problems: Vec<String>,
    },
    /// Two dashboards claim the same uid.
    #[error("{name}: uid {uid:?} is already used by {other}")]
    DuplicateUid {
        /// The later file.
        name: String,
        /// The uid both use.
        uid: String,
        /// The earlier file.
        other: String,
    },
    /// A file or folder could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
}

fn path_prefix(path: &str) -> String {
    if path.is_empty() || path == "." {
        String::new()
    } else {
        format!("{path}: ")
    }
}

/// Parses and checks one dashboard. `name` (usually the file name) prefixes
/// every error message.
pub fn parse_yaml(src: &str, name: &str) -> Result<Dashboard, DashboardError> {
    let de = serde_yaml_ng::Deserializer::from_str(src);
    let mut dash: Dashboard = serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = strip_yaml_path(&e.inner().to_string(), &path);
        DashboardError::Syntax { name: name.to_string(), path, message }
    })?;
    let problems = dash.normalise_and_check();
    if problems.is_empty() {
        Ok(dash)
    } else {
        Err(DashboardError::Invalid { name: name.to_string(), problems })
    }
}

/// serde_yaml_ng starts its messages with the (shorter) path it tracked
/// itself; we print the full path from serde_path_to_error instead.
fn strip_yaml_path(message: &str, path: &str) -> String {
    match message.split_once(": ") {
        Some((prefix, rest)) if !prefix.is_empty() && path.starts_with(prefix) => rest.to_string(),
        _ => message.to_string(),
    }
}

/// Loads every `*.yml`/`*.yaml` dashboard and every `*.json` Grafana
/// dashboard in `dir` (not recursive), in file-name order. Bad files are
/// reported and skipped; a uid seen twice keeps the first. What a Grafana
/// import leaves out is logged as a warning.
pub fn load_dir(dir: &Path) -> (Vec<Dashboard>, Vec<DashboardError>) {
    let mut errors = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(source) => {
            errors.push(DashboardError::Io { path: dir.display().to_string(), source });
            return (Vec::new(), errors);
        }
    };
    let mut files: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml" | "json")))
        .collect();
    files.sort();
    let mut out: Vec<(Dashboard, String)> = Vec::new();
    for path in files {
        let name = path.display().to_string();
        let src = match std::fs::read_to_string(&path) {
            Ok(s) => s,
            Err(source) => {
                errors.push(DashboardError::Io { path: name, source });
                continue;
            }
        };
        let parsed = if path.extension().and_then(|x| x.to_str()) == Some("json") {
            import_grafana_json(&src, &name).map(|(d, warnings)| {
                for w in warnings {
                    tracing::warn!(file = %name, "Grafana import: {w}");
                }
                d
            })
        } else {
            parse_yaml(&src, &name)
        };
        match parsed {
            Ok(d) => {
                if let Some((_, other)) = out.iter().find(|(o, _)| o.uid == d.uid) {
                    errors.push(DashboardError::DuplicateUid { name, uid: d.uid.clone(), other: other.clone() });
                } else {
                    out.push((d, name));
                }
            }
            Err(e) => errors.push(e),
        }
    }
    (out.into_iter().map(|(d, _)| d).collect(), errors)
}

/// The built-in dashboards' sources, embedded at build time.
const BUILTIN_SOURCES: &[(&str, &str)] = &[
    ("sightline.yml", include_str!("../../dashboards/sightline.yml")),
    ("overview.yml", include_str!("../../dashboards/overview.yml")),
    ("host.yml", include_str!("../../dashboards/host.yml")),
    ("targets.yml", include_str!("../../dashboards/targets.yml")),
    ("http.yml", include_str!("../../dashboards/http.yml")),
];

/// The built-in dashboards, parsed once. A built-in that fails to parse is
/// logged and left out (the tests make sure none does).
pub fn builtins() -> &'static [Dashboard] {
    static BUILTINS: OnceLock<Vec<Dashboard>> = OnceLock::new();
    BUILTINS.get_or_init(|| {
        BUILTIN_SOURCES
            .iter()
            .filter_map(|(name, src)| match parse_yaml(src, name) {
                Ok(d) => Some(d),
                Err(e) => {
                    tracing::error!(error = %e, "built-in dashboard does not parse");
                    None
                }
            })
            .collect()
    })
}

impl Dashboard {
    /// The built-in dashboard with this uid.
    pub fn find(uid: &str) -> Option<&'static Dashboard> {
        builtins().iter().find(|d| d.uid == uid)
    }

    /// The dashboard with this uid among `list`.
    pub fn find_in<'a>(list: &'a [Dashboard], uid: &str) -> Option<&'a Dashboard> {
        list.iter().find(|d| d.uid == uid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_parses() {
        for (name, src) in BUILTIN_SOURCES {
            if let Err(e) = parse_yaml(src, name) {
                panic!("built-in {name} does not parse: {e}");
            }
        }
        assert_eq!(builtins().len(), BUILTIN_SOURCES.len());
        let mut uids: Vec<&str> = builtins().iter().map(|d| d.uid.as_str()).collect();
        uids.sort();
        uids.dedup();
        assert_eq!(uids.len(), BUILTIN_SOURCES.len(), "built-in uids must be unique");
    }

    #[test]
    fn builtin_exprs_are_valid_promql_after_expansion() {
        let range = TimeRange::new(0, 3_600_000);
        for d in builtins() {
            // Give every variable a value, as the page would.
            let mut vars = VarValues::new();
            for v in &d.variables {
                if let Some(first) = v.values.first() {
                    vars.set_single(&v.name, first);
                } else if v.multi || v.include_all {
                    vars.set_multi(&v.name, &["x", "y"]);
                } else {
                    vars.set_single(&v.name, "x");
                }
            }
            for (r, p, panel) in d.panels() {
                for t in &panel.targets {
                    let e = expand_expr(&t.expr, &vars, range, 15_000);
                    if let Err(err) = promql_parser::parser::parse(&e) {
                        panic!("{} rows[{r}].panels[{p}] {:?}: {err}", d.uid, e);
                    }
                }
            }
        }
    }

    #[test]
    fn sightline_builtin_covers_self_metrics() {
        let d = Dashboard::find("sightline").expect("sightline dashboard");
        let exprs: Vec<&str> = d.panels().flat_map(|(_, _, p)| p.targets.iter().map(|t| t.expr.as_str())).collect();
        for metric in [
            "scrape_duration_seconds",
            "up",
            "sightline_samples_appended_total",
            "sightline_tsdb_series",
            "sightline_query_duration_seconds",
            "sightline_http_requests_total",
            "process_resident_memory_bytes",
            "process_cpu_seconds_total",
            "sightline_tsdb_size_bytes",
        ] {
            assert!(exprs.iter().any(|e| e.contains(metric)), "no panel queries {metric}");
        }
    }

    #[test]
    fn minimal_dashboard_gets_defaults() {
        let d =
            parse_yaml("title: My Board\nrows:\n  - panels:\n      - title: Up\n        targets: [{expr: up}]\n", "t")
                .unwrap();
        assert_eq!(d.uid, "my-board");
        assert_eq!(d.time, DurationMs(3_600_000));
        let p = &d.rows[0].panels[0];
        assert_eq!((p.kind, p.width, p.height, p.unit.clone()), (PanelType::Timeseries, 12, 8, Unit::Short));
    }

    #[test]
    fn full_dashboard_parses() {
        let src = r##"
title: Demo
uid: demo
tags: [a, b]
time: now-6h
refresh: 30s
variables:
  - name: job
    query: label_values(up, job)
    multi: true
    include_all: true
  - name: mode
    values: [user, system]
    default: user
rows:
  - title: First
    collapsed: true
    panels:
      - title: CPU
        type: timeseries
        description: CPU by mode
        targets:
          - expr: rate(node_cpu_seconds_total{job=~"$job",mode="$mode"}[$__rate_interval])
            legend: "{{instance}}"
        unit: percentunit
        min: 0
        max: 1
        decimals: 1
        thresholds:
          - {value: 0.8, color: orange}
          - {value: 0.9, color: red}
        stack: true
        draw: area
        width: 24
        height: 10
      - title: Notes
        type: text
        text: "# Hello"
"##;
        let d = parse_yaml(src, "demo.yml").unwrap();
        assert_eq!(d.time, DurationMs(6 * 3_600_000));
        assert_eq!(d.refresh, Some(DurationMs(30_000)));
        assert_eq!(d.variables.len(), 2);
        assert!(d.rows[0].collapsed);
        let p = &d.rows[0].panels[0];
        assert_eq!(p.unit, Unit::PercentUnit);
        assert_eq!(p.draw, DrawStyle::Area);
        assert!(p.stack);
        assert_eq!(p.threshold_for(0.85).map(|t| t.color.severity()), Some(Severity::Warn));
        assert_eq!(p.threshold_for(0.95).map(|t| t.color.severity()), Some(Severity::Crit));
        assert!(p.threshold_for(0.5).is_none());
        assert_eq!(d.rows[0].panels[1].kind, PanelType::Text);
    }

    #[test]
    fn errors_name_the_field_path() {
        let src = "title: X\nrows:\n  - panels: []\n  - panels:\n    - {title: a, targets: [{expr: up}]}\n    - {title: b, targets: [{expr: up}]}\n    - {title: c, targets: [{expr: up}], unit: bytez}\n";
        let err = parse_yaml(src, "x.yml").unwrap_err().to_string();
        assert!(err.contains(r#"rows[1].panels[2].unit: unknown unit "bytez""#), "{err}");
        assert!(err.starts_with("x.yml: "), "{err}");
        assert!(err.contains("line 7"), "{err}");

        let err = parse_yaml("title: X\nrowz: []\n", "x.yml").unwrap_err().to_string();
        assert!(err.contains("unknown field `rowz`"), "{err}");

        let err =
            parse_yaml("title: X\nrows:\n  - panels:\n    - {title: a, targets: [{expr: up}], type: pie}\n", "x.yml")
                .unwrap_err()
                .to_string();
        assert!(err.contains("rows[0].panels[0].type: unknown variant `pie`"), "{err}");

        let err = parse_yaml("title: X\ntime: 5 minutes\n", "x.yml").unwrap_err().to_string();
        assert!(err.contains("time: invalid duration"), "{err}");

        let err = parse_yaml(
            "title: X\nrows:\n  - panels:\n    - {title: a, targets: [{expr: up}], thresholds: [{value: 1, color: rouge}]}\n",
            "x.yml",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("rows[0].panels[0].thresholds[0].color: unknown colour \"rouge\""), "{err}");
    }

    #[test]
    fn semantic_errors_are_all_reported() {
        let src = r#"
title: X
variables:
  - {name: job, query: "label_values(job)"}
  - {name: job, values: [a]}
  - {name: bad, regex: "(", values: [a]}
rows:
  - panels:
      - {title: a, width: 30, targets: [{expr: up}]}
      - {title: b}
      - {title: c, type: text}
"#;
        let err = parse_yaml(src, "x.yml").unwrap_err();
        let DashboardError::Invalid { problems, .. } = &err else { panic!("{err}") };
        let all = problems.join("\n");
        for want in [
            "variables[1].name: variable \"job\" is defined twice",
            "variables[2].regex: invalid regex",
            "rows[0].panels[0].width: 30 is outside 1..=24",
            "rows[0].panels[1].targets: needs at least one query",
            "rows[0].panels[2].text: a text panel needs text",
        ] {
            assert!(all.contains(want), "missing {want:?} in\n{all}");
        }
    }

    #[test]
    fn load_dir_reports_bad_files_and_duplicates() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "title: A\n").unwrap();
        std::fs::write(dir.path().join("b.yaml"), "title: B\nuid: a\n").unwrap();
        std::fs::write(dir.path().join("c.yml"), "title: [\n").unwrap();
        std::fs::write(dir.path().join("d.txt"), "not a dashboard").unwrap();
        std::fs::write(dir.path().join("e.yml"), "title: E\n").unwrap();
        std::fs::write(dir.path().join("f.json"), r#"{"title": "F", "panels": []}"#).unwrap();
        let (dashes, errs) = load_dir(dir.path());
        let uids: Vec<&str> = dashes.iter().map(|d| d.uid.as_str()).collect();
        assert_eq!(uids, vec!["a", "e", "f"]);
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(matches!(&errs[0], DashboardError::DuplicateUid { uid, .. } if uid == "a"));
        assert!(errs[1].to_string().contains("c.yml"));
        let (none, errs) = load_dir(&dir.path().join("missing"));
        assert!(none.is_empty());
        assert!(matches!(errs.as_slice(), [DashboardError::Io { .. }]));
    }

    #[test]
    fn find_by_uid() {
        assert!(Dashboard::find("host").is_some());
        assert!(Dashboard::find("nope").is_none());
        assert_eq!(Dashboard::find_in(builtins(), "http").map(|d| d.uid.as_str()), Some("http"));
    }
}
