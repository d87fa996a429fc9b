//! Import of Grafana dashboard JSON (schema 16+ `panels` with `gridPos`, and
//! the older `rows` with `span`) into the Sightline model. What has no
//! counterpart here is dropped with a warning rather than failing the import.

use serde_json::Value;

use super::model::{
    Dashboard, DrawStyle, DurationMs, OneOrMany, Panel, PanelType, Row, Target, Threshold, ThresholdColor, Variable,
};
use super::units::Unit;
use super::{parse_duration, DashboardError};

/// Converts a Grafana dashboard (the JSON model, or an export wrapped in
/// `{"dashboard": ...}`) into a checked [`Dashboard`], with a warning for
/// everything left out or changed.
pub fn import_grafana_json(src: &str, name: &str) -> Result<(Dashboard, Vec<String>), DashboardError> {
    let root: Value = serde_json::from_str(src).map_err(|e| DashboardError::Syntax {
        name: name.to_string(),
        path: ".".to_string(),
        message: format!("not JSON: {e}"),
    })?;
    let root = root.get("dashboard").filter(|d| d.is_object()).unwrap_or(&root);
    if !root.is_object() {
        return Err(DashboardError::Syntax {
            name: name.to_string(),
            path: ".".to_string(),
            message: "expected a Grafana dashboard object".to_string(),
        });
    }
    let mut warnings = Vec::new();
    let title = str_at(root, "title").unwrap_or("Imported dashboard").to_string();
    let uid = str_at(root, "uid")
        .filter(|u| !u.is_empty() && u.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .map(str::to_string)
        .unwrap_or_default();
    let tags = root
        .get("tags")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let time = match root.get("time").and_then(|t| t.get("from")).and_then(Value::as_str) {
        None => DurationMs(3_600_000),
        Some(from) => {
            let d = from.trim().strip_prefix("now-").unwrap_or(from).split('/').next().unwrap_or("");
            match parse_duration(d) {
                Ok(ms) if ms > 0 => DurationMs(ms),
                _ => {
                    warnings.push(format!("time.from {from:?} is not a relative range; using 1h"));
                    DurationMs(3_600_000)
                }
            }
        }
    };
    let refresh = match root.get("refresh").and_then(Value::as_str).filter(|s| !s.is_empty()) {
        None => None,
        Some(r) => match parse_duration(r) {
            Ok(ms) if ms >= 1000 => Some(DurationMs(ms)),
            _ => {
                warnings.push(format!("refresh {r:?} ignored"));
                None
            }
        },
    };
    let variables = root
        .get("templating")
        .and_then(|t| t.get("list"))
        .and_then(Value::as_array)
        .map(|list| list.iter().enumerate().filter_map(|(i, v)| variable(v, i, &mut warnings)).collect())
        .unwrap_or_default();

    let rows = if let Some(panels) = root.get("panels").and_then(Value::as_array) {
        rows_from_panels(panels, &mut warnings)
    } else if let Some(rows) = root.get("rows").and_then(Value::as_array) {
        rows_from_old_rows(rows, &mut warnings)
    } else {
        Vec::new()
    };

    let mut dash = Dashboard {
        title,
        uid,
        description: str_at(root, "description").map(str::to_string),
        tags,
        time,
        refresh,
        variables,
        rows,
        // Grafana's datasource references are uids of Grafana's own list:
        // imported dashboards query the local store unless edited.
        datasource: None,
    };
    warnings.extend(super::legacy::modernise(&mut dash));
    let problems = dash.normalise_and_check();
    if problems.is_empty() {
        Ok((dash, warnings))
    } else {
        Err(DashboardError::Invalid { name: name.to_string(), problems })
    }
}

fn str_at<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn num_at(v: &Value, key: &str) -> Option<f64> {
    match v.get(key)? {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn variable(v: &Value, i: usize, warnings: &mut Vec<String>) -> Option<Variable> {
    let name = str_at(v, "name")?.to_string();
    let kind = str_at(v, "type").unwrap_or("query");
    // Newer Grafana stores the query as an object.
    let query = match v.get("query") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o.get("query").and_then(Value::as_str).unwrap_or("").to_string(),
        _ => String::new(),
    };
    let split = |q: &str| -> Vec<String> {
        q.split(',')
            .map(|s| {
                // Custom options may be written `text : value`.
                let s = s.trim();
                s.split_once(" : ").map_or(s, |(_, value)| value.trim()).to_string()
            })
            .filter(|s| !s.is_empty() && s != "auto")
            .collect()
    };
    let (query, values) = match kind {
        "query" => (Some(query), Vec::new()),
        "custom" | "interval" => (None, split(&query)),
        "constant" | "textbox" => (None, vec![query]),
        other => {
            warnings.push(format!("templating.list[{i}] ({name}): variable type {other:?} is not supported; dropped"));
            return None;
        }
    };
    if query.as_deref().is_some_and(str::is_empty) || (query.is_none() && values.is_empty()) {
        warnings.push(format!("templating.list[{i}] ({name}): no query or options; dropped"));
        return None;
    }
    let default = v.get("current").and_then(|c| c.get("value")).and_then(|cv| match cv {
        Value::String(s) if !s.is_empty() => Some(OneOrMany::One(s.clone())),
        Value::Array(a) => {
            let vals: Vec<String> = a.iter().filter_map(Value::as_str).map(str::to_string).collect();
            (!vals.is_empty()).then_some(OneOrMany::Many(vals))
        }
        _ => None,
    });
    let multi = v.get("multi").and_then(Value::as_bool).unwrap_or(false);
    let default = match default {
        Some(OneOrMany::Many(v)) if !multi => v.into_iter().next().map(OneOrMany::One),
        other => other,
    };
    Some(Variable {
        name,
        label: str_at(v, "label").filter(|l| !l.is_empty()).map(str::to_string),
        query,
        values,
        regex: str_at(v, "regex").filter(|r| !r.is_empty()).map(str::to_string),
        multi,
        include_all: v.get("includeAll").and_then(Value::as_bool).unwrap_or(false),
        all_value: str_at(v, "allValue").filter(|a| !a.is_empty()).map(str::to_string),
        default,
    })
}

/// Schema 16+: a flat list where `row` panels start rows (collapsed rows
/// carry their panels inside).
fn rows_from_panels(panels: &[Value], warnings: &mut Vec<String>) -> Vec<Row> {
    let mut sorted: Vec<&Value> = panels.iter().collect();
    let pos = |p: &Value, k: &str| p.get("gridPos").and_then(|g| g.get(k)).and_then(Value::as_i64).unwrap_or(0);
    sorted.sort_by_key(|p| (pos(p, "y"), pos(p, "x")));
    let mut rows: Vec<Row> = Vec::new();
    for p in sorted {
        if str_at(p, "type") == Some("row") {
            let collapsed = p.get("collapsed").and_then(Value::as_bool).unwrap_or(false);
            let mut row = Row { title: str_at(p, "title").unwrap_or("").to_string(), collapsed, panels: Vec::new() };
            if let Some(inner) = p.get("panels").and_then(Value::as_array) {
                let mut inner: Vec<&Value> = inner.iter().collect();
                inner.sort_by_key(|p| (pos(p, "y"), pos(p, "x")));
                row.panels.extend(inner.into_iter().map(|q| panel(q, None, warnings)));
            }
            rows.push(row);
        } else {
            if rows.is_empty() {
                rows.push(Row { title: String::new(), collapsed: false, panels: Vec::new() });
            }
            let converted = panel(p, None, warnings);
            if let Some(last) = rows.last_mut() {
                last.panels.push(converted);
            }
        }
    }
    rows.retain(|r| !r.panels.is_empty() || !r.title.is_empty());
    rows
}

/// Before schema 16: `rows` with `panels` sized by `span` out of 12.
fn rows_from_old_rows(rows: &[Value], warnings: &mut Vec<String>) -> Vec<Row> {
    rows.iter()
        .map(|r| {
            let height = match r.get("height") {
                Some(Value::String(s)) => s.trim_end_matches("px").parse::<f64>().ok(),
                Some(Value::Number(n)) => n.as_f64(),
                _ => None,
            }
            .map(|px| ((px / 30.0).round() as u32).clamp(3, 30));
            Row {
                title: if r.get("showTitle").and_then(Value::as_bool).unwrap_or(false) {
                    str_at(r, "title").unwrap_or("").to_string()
                } else {
                    String::new()
                },
                collapsed: r.get("collapse").and_then(Value::as_bool).unwrap_or(false),
                panels: r
                    .get("panels")
                    .and_then(Value::as_array)
                    .map(|ps| ps.iter().map(|p| panel(p, height, warnings)).collect())
                    .unwrap_or_default(),
            }
        })
        .collect()
}

/// Converts one panel; unsupported ones become a text panel saying so.
fn panel(p: &Value, old_row_height: Option<u32>, warnings: &mut Vec<String>) -> Panel {
    let title = str_at(p, "title").unwrap_or("").to_string();
    let grid = p.get("gridPos");
    let width = grid
        .and_then(|g| g.get("w"))
        .and_then(Value::as_u64)
        .map(|w| w as u32)
        .or_else(|| num_at(p, "span").map(|s| (s * 2.0).round() as u32))
        .unwrap_or(12)
        .clamp(1, 24);
    let height = grid
        .and_then(|g| g.get("h"))
        .and_then(Value::as_u64)
        .map(|h| h as u32)
        .or(old_row_height)
        .unwrap_or(8)
        .clamp(1, 100);
    let kind_name = str_at(p, "type").unwrap_or("graph");
    let kind = match kind_name {
        "graph" | "timeseries" => Some(PanelType::Timeseries),
        "stat" | "singlestat" => Some(PanelType::Stat),
        "gauge" => Some(PanelType::Gauge),
        "bargauge" => Some(PanelType::Bargauge),
        "table" | "table-old" => Some(PanelType::Table),
        "heatmap" => Some(PanelType::Heatmap),
        "text" => Some(PanelType::Text),
        // Sightline has no state-band chart: the same queries are drawn as lines.
        "state-timeline" | "status-history" => {
            warnings.push(format!("panel {title:?}: {kind_name} is drawn as a time series"));
            Some(PanelType::Timeseries)
        }
        _ => None,
    };
    let placeholder = |why: String| Panel {
        title: title.clone(),
        kind: PanelType::Text,
        description: None,
        targets: Vec::new(),
        unit: Unit::Short,
        min: None,
        max: None,
        decimals: None,
        thresholds: Vec::new(),
        stack: false,
        draw: DrawStyle::Lines,
        width,
        height,
        text: Some(why),
        datasource: None,
    };
    let Some(kind) = kind else {
        warnings.push(format!("panel {title:?}: type {kind_name:?} is not supported; shown as a note"));
        return placeholder(format!("Grafana panel type `{kind_name}` is not supported by Sightline."));
    };
    if kind == PanelType::Text {
        let content = p
            .get("options")
            .and_then(|o| o.get("content"))
            .and_then(Value::as_str)
            .or_else(|| str_at(p, "content"))
            .unwrap_or("");
        let mode = p.get("options").and_then(|o| o.get("mode")).and_then(Value::as_str).or_else(|| str_at(p, "mode"));
        if mode == Some("html") {
            warnings.push(format!("panel {title:?}: HTML text is shown as plain text"));
        }
        return placeholder(content.to_string());
    }

    let targets: Vec<Target> = p
        .get("targets")
        .and_then(Value::as_array)
        .map(|ts| {
            ts.iter()
                .filter(|t| !t.get("hide").and_then(Value::as_bool).unwrap_or(false))
                .filter_map(|t| {
                    let expr = str_at(t, "expr").map(str::trim).filter(|e| !e.is_empty())?;
                    Some(Target {
                        expr: expr.to_string(),
                        legend: str_at(t, "legendFormat").filter(|l| !l.is_empty()).map(str::to_string),
                        instant: t.get("instant").and_then(Value::as_bool).unwrap_or(false)
                            || str_at(t, "format") == Some("table"),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    if targets.is_empty() {
        warnings.push(format!("panel {title:?}: no PromQL queries; shown as a note"));
        return placeholder("This panel had no Prometheus queries to import.".to_string());
    }

    let defaults = p.get("fieldConfig").and_then(|f| f.get("defaults"));
    let old_axis = p.get("yaxes").and_then(Value::as_array).and_then(|a| a.first());
    let unit_id = defaults
        .and_then(|d| str_at(d, "unit"))
        .or_else(|| old_axis.and_then(|a| str_at(a, "format")))
        .or_else(|| str_at(p, "format"));
    let unit = match unit_id {
        None | Some("") => Unit::Short,
        Some(id) => Unit::parse(id).unwrap_or_else(|e| {
            warnings.push(format!("panel {title:?}: {e}; using short"));
            Unit::Short
        }),
    };
    let min = defaults.and_then(|d| num_at(d, "min")).or_else(|| old_axis.and_then(|a| num_at(a, "min")));
    let max = defaults.and_then(|d| num_at(d, "max")).or_else(|| old_axis.and_then(|a| num_at(a, "max")));
    let (min, max) = match (min, max) {
        (Some(a), Some(b)) if a >= b => (None, None),
        other => other,
    };
    let decimals = defaults
        .and_then(|d| num_at(d, "decimals"))
        .or_else(|| num_at(p, "decimals"))
        .filter(|d| (0.0..=10.0).contains(d))
        .map(|d| d as u32);

    let mut thresholds = Vec::new();
    if let Some(steps) =
        defaults.and_then(|d| d.get("thresholds")).and_then(|t| t.get("steps")).and_then(Value::as_array)
    {
        for s in steps {
            let Some(value) = num_at(s, "value") else { continue }; // the base step
            let color = str_at(s, "color").unwrap_or("red");
            thresholds.push(Threshold { value, color: grafana_color(color, &title, warnings) });
        }
    } else if let Some(list) = str_at(p, "thresholds") {
        // singlestat: "80,90" with colours [ok, warn, crit].
        let colours = ["orange", "red"];
        for (i, v) in list.split(',').filter_map(|v| v.trim().parse::<f64>().ok()).take(2).enumerate() {
            thresholds.push(Threshold { value: v, color: grafana_color(colours[i], &title, warnings) });
        }
    }

    let custom = defaults.and_then(|d| d.get("custom"));
    let (draw, stack) = if let Some(c) = custom.filter(|_| kind_name == "timeseries") {
        let fill = num_at(c, "fillOpacity").unwrap_or(0.0);
        let draw = match str_at(c, "drawStyle") {
            Some("bars") => DrawStyle::Bars,
            _ if fill > 0.0 => DrawStyle::Area,
            _ => DrawStyle::Lines,
        };
        let mode = c.get("stacking").and_then(|s| str_at(s, "mode")).unwrap_or("none");
        if mode == "percent" {
            warnings.push(format!("panel {title:?}: percent stacking is drawn as normal stacking"));
        }
        (draw, mode != "none")
    } else if kind_name == "graph" {
        let bars = p.get("bars").and_then(Value::as_bool).unwrap_or(false);
        let fill = num_at(p, "fill").unwrap_or(0.0);
        let draw = if bars {
            DrawStyle::Bars
        } else if fill > 0.0 {
            DrawStyle::Area
        } else {
            DrawStyle::Lines
        };
        (draw, p.get("stack").and_then(Value::as_bool).unwrap_or(false))
    } else {
        (DrawStyle::Lines, false)
    };

    Panel {
        title,
        kind,
        description: str_at(p, "description").filter(|d| !d.is_empty()).map(str::to_string),
        targets,
        unit,
        min,
        max,
        decimals,
        thresholds,
        stack,
        draw,
        width,
        height,
        text: None,
        datasource: None,
    }
}

/// Maps Grafana colour names (`dark-red`, `semi-dark-orange`), hex and
/// `rgb()/rgba()` to a threshold colour; anything else becomes gray.
fn grafana_color(c: &str, title: &str, warnings: &mut Vec<String>) -> ThresholdColor {
    let lower = c.trim().to_ascii_lowercase();
    let base =
        ["super-light-", "semi-dark-", "light-", "dark-"].iter().find_map(|p| lower.strip_prefix(p)).unwrap_or(&lower);
    if let Ok(tc) = ThresholdColor::parse(base) {
        return tc;
    }
    if let Some(inner) =
        lower.strip_prefix("rgba(").or_else(|| lower.strip_prefix("rgb(")).and_then(|r| r.strip_suffix(')'))
    {
        let parts: Vec<u8> = inner.split(',').take(3).filter_map(|x| x.trim().parse::<u8>().ok()).collect();
        if let [r, g, b] = parts[..] {
            if let Ok(tc) = ThresholdColor::parse(&format!("#{r:02x}{g:02x}{b:02x}")) {
                return tc;
            }
        }
    }
    warnings.push(format!("panel {title:?}: colour {c:?} not recognised; using gray"));
    ThresholdColor::gray()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboards::Severity;

    const MODERN: &str = r##"{
      "title": "Node Exporter Full",
      "uid": "rYdddlPWk",
      "tags": ["linux"],
      "time": {"from": "now-24h", "to": "now"},
      "refresh": "1m",
      "templating": {"list": [
        {"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"},
        {"name": "job", "type": "query", "query": {"query": "label_values(node_uname_info, job)", "refId": "A"},
         "multi": true, "includeAll": true, "allValue": ".+", "current": {"text": "All", "value": ["$__all"]}},
        {"name": "node", "label": "Host", "type": "query", "query": "label_values(node_uname_info{job=~\"$job\"}, instance)",
         "current": {"value": "host:9100"}},
        {"name": "window", "type": "interval", "query": "1m,5m,auto"},
        {"name": "env", "type": "custom", "query": "Production : prod, Staging : stage"}
      ]},
      "panels": [
        {"type": "row", "title": "Quick CPU", "collapsed": false, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0}},
        {"type": "gauge", "title": "CPU Busy", "gridPos": {"h": 4, "w": 3, "x": 3, "y": 1},
         "targets": [{"expr": "100 * (1 - avg(rate(node_cpu_seconds_total{mode=\"idle\",instance=\"$node\"}[$__rate_interval])))", "refId": "A", "instant": true}],
         "fieldConfig": {"defaults": {"unit": "percent", "min": 0, "max": 100, "decimals": 1,
           "thresholds": {"mode": "absolute", "steps": [{"color": "rgba(50, 172, 45, 0.97)", "value": null},
             {"color": "rgba(237, 129, 40, 0.89)", "value": 85}, {"color": "dark-red", "value": 95}]}}}},
        {"type": "stat", "title": "Uptime", "gridPos": {"h": 4, "w": 3, "x": 0, "y": 1},
         "targets": [{"expr": "node_time_seconds - node_boot_time_seconds", "refId": "A"}],
         "fieldConfig": {"defaults": {"unit": "s"}}},
        {"type": "piechart", "title": "Pie", "gridPos": {"h": 4, "w": 6, "x": 6, "y": 1}, "targets": [{"expr": "up"}]},
        {"type": "row", "title": "Memory", "collapsed": true, "gridPos": {"h": 1, "w": 24, "x": 0, "y": 5},
         "panels": [
           {"type": "timeseries", "title": "Memory Stack", "description": "Stacked memory",
            "gridPos": {"h": 12, "w": 12, "x": 0, "y": 6},
            "targets": [{"expr": "node_memory_MemFree_bytes{instance=\"$node\"}", "legendFormat": "Free", "refId": "A"},
                        {"expr": "", "refId": "B"}],
            "fieldConfig": {"defaults": {"unit": "bytes", "custom": {"drawStyle": "line", "fillOpacity": 20, "stacking": {"mode": "normal"}}}}},
           {"type": "timeseries", "title": "Weird unit", "gridPos": {"h": 8, "w": 12, "x": 12, "y": 6},
            "targets": [{"expr": "up"}], "fieldConfig": {"defaults": {"unit": "currencyUSD"}}}
         ]},
        {"type": "text", "title": "Notes", "gridPos": {"h": 3, "w": 24, "x": 0, "y": 20},
         "options": {"mode": "markdown", "content": "# Read me"}}
      ]
    }"##;

    #[test]
    fn imports_modern_dashboard() {
        let (d, warnings) = import_grafana_json(MODERN, "node.json").unwrap();
        assert_eq!(d.title, "Node Exporter Full");
        assert_eq!(d.uid, "rYdddlPWk");
        assert_eq!(d.time, DurationMs(86_400_000));
        assert_eq!(d.refresh, Some(DurationMs(60_000)));
        let names: Vec<&str> = d.variables.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["job", "node", "window", "env"]);
        assert_eq!(d.variables[0].query.as_deref(), Some("label_values(node_uname_info, job)"));
        assert_eq!(d.variables[0].default, Some(OneOrMany::Many(vec!["$__all".into()])));
        assert_eq!(d.variables[0].all_value.as_deref(), Some(".+"));
        assert_eq!(d.variables[1].label.as_deref(), Some("Host"));
        assert_eq!(d.variables[2].values, vec!["1m", "5m"]);
        assert_eq!(d.variables[3].values, vec!["prod", "stage"]);

        // The text panel comes after the Memory row header, so it belongs to that row.
        assert_eq!(d.rows.len(), 2);
        let quick = &d.rows[0];
        assert_eq!(quick.title, "Quick CPU");
        // Sorted by position: Uptime (x=0) before CPU Busy (x=3).
        let titles: Vec<&str> = quick.panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, vec!["Uptime", "CPU Busy", "Pie"]);
        let gauge = &quick.panels[1];
        assert_eq!(
            (gauge.kind, gauge.unit.clone(), gauge.min, gauge.max, gauge.decimals),
            (PanelType::Gauge, Unit::Percent, Some(0.0), Some(100.0), Some(1))
        );
        assert_eq!(gauge.thresholds.len(), 2);
        assert_eq!(gauge.thresholds[0].color.severity(), Severity::Warn);
        assert_eq!(gauge.thresholds[1].color.severity(), Severity::Crit);
        assert!(gauge.targets[0].instant);
        assert_eq!((gauge.width, gauge.height), (3, 4));
        assert_eq!(quick.panels[2].kind, PanelType::Text, "unsupported pie chart becomes a note");

        let mem = &d.rows[1];
        assert!(mem.collapsed);
        let stack = &mem.panels[0];
        assert_eq!((stack.draw, stack.stack, stack.unit.clone()), (DrawStyle::Area, true, Unit::Bytes));
        assert_eq!(stack.targets.len(), 1, "empty expr dropped");
        assert_eq!(stack.targets[0].legend.as_deref(), Some("Free"));
        assert_eq!(stack.description.as_deref(), Some("Stacked memory"));
        assert_eq!(mem.panels[1].unit, Unit::Short);

        assert_eq!(mem.panels[2].text.as_deref(), Some("# Read me"));

        let all = warnings.join("\n");
        for want in ["DS_PROMETHEUS", "piechart", "currencyUSD"] {
            assert!(all.contains(want), "no warning about {want}: {all}");
        }
    }

    #[test]
    fn imports_old_rows_and_export_wrapper() {
        let src = r#"{"dashboard": {"title": "Old", "rows": [
            {"title": "R", "showTitle": true, "height": "250px", "panels": [
              {"type": "graph", "title": "G", "span": 6, "stack": true, "fill": 1,
               "yaxes": [{"format": "bytes", "min": 0}], "targets": [{"expr": "x", "legendFormat": "{{a}}"}]},
              {"type": "singlestat", "title": "S", "span": 6, "format": "percent", "thresholds": "80,90",
               "targets": [{"expr": "y"}]}
            ]}]}}"#;
        let (d, _) = import_grafana_json(src, "old.json").unwrap();
        assert_eq!(d.uid, "old");
        let r = &d.rows[0];
        assert_eq!(r.title, "R");
        let g = &r.panels[0];
        assert_eq!(
            (g.width, g.height, g.stack, g.draw, g.unit.clone(), g.min),
            (12, 8, true, DrawStyle::Area, Unit::Bytes, Some(0.0))
        );
        let s = &r.panels[1];
        assert_eq!(s.kind, PanelType::Stat);
        assert_eq!(s.thresholds.iter().map(|t| t.value).collect::<Vec<_>>(), vec![80.0, 90.0]);
    }

    #[test]
    fn rejects_non_dashboards() {
        assert!(matches!(import_grafana_json("{", "x.json"), Err(DashboardError::Syntax { .. })));
        assert!(matches!(import_grafana_json("[1]", "x.json"), Err(DashboardError::Syntax { .. })));
        // A dashboard without a title gets a placeholder, not a failure.
        assert_eq!(
            import_grafana_json("{}", "x.json").map(|(d, _)| d.title).ok().as_deref(),
            Some("Imported dashboard")
        );
    }

    #[test]
    fn state_timelines_become_time_series_with_a_warning() {
        let src = r#"{"title": "T", "panels": [{"type": "state-timeline", "title": "Up", "gridPos": {"w": 12, "h": 8},
            "targets": [{"expr": "up", "legendFormat": "{{instance}}"}]}]}"#;
        let (d, warnings) = import_grafana_json(src, "t.json").unwrap();
        let p = &d.rows[0].panels[0];
        assert_eq!(p.kind, PanelType::Timeseries);
        assert_eq!(p.targets[0].expr, "up");
        assert!(warnings.iter().any(|w| w.contains("state-timeline is drawn as a time series")), "{warnings:?}");
    }
}
