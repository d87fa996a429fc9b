//! Rule files in Prometheus's format, read strictly like `promtool check
//! rules`: unknown keys, type mismatches, bad expressions, bad templates,
//! duplicate group names and invalid names are errors, reported with the
//! `line:col` and wording promtool uses.

use super::template::check_alert_template;
use super::yaml::{self, Kind, Node};
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Which label and metric names are valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NameValidation {
    /// Prometheus 3's default: any non-empty UTF-8 name.
    #[default]
    Utf8,
    /// `[a-zA-Z_][a-zA-Z0-9_]*` (metric names may also contain `:`).
    Legacy,
}

/// Whether a rule records or alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    Recording,
    Alerting,
}

/// One rule as written in the file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDef {
    pub kind: RuleKind,
    /// The `record` or `alert` name.
    pub name: String,
    /// The PromQL expression text.
    pub expr: String,
    /// `for` (alerting rules; zero otherwise).
    pub for_: Duration,
    /// `keep_firing_for` (alerting rules; zero otherwise).
    pub keep_firing_for: Duration,
    /// Extra labels (templates for alerting rules), group labels merged in.
    pub labels: BTreeMap<String, String>,
    /// Annotation templates (alerting rules).
    pub annotations: BTreeMap<String, String>,
    /// Line of the rule in its file.
    pub line: usize,
}

/// One group as written in the file, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupDef {
    pub name: String,
    /// `interval`, if set (otherwise the global evaluation interval).
    pub interval: Option<Duration>,
    /// `query_offset`, if set.
    pub query_offset: Option<Duration>,
    /// `limit`: most series a rule may produce (0 = no limit).
    pub limit: usize,
    /// Group-level `labels`.
    pub labels: BTreeMap<String, String>,
    pub rules: Vec<RuleDef>,
    /// The file the group comes from.
    pub file: PathBuf,
    /// Line of the group in its file.
    pub line: usize,
}

/// A whole rule file.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFile {
    pub path: PathBuf,
    pub groups: Vec<GroupDef>,
}

impl RuleFile {
    /// Number of rules in all groups.
    pub fn rule_count(&self) -> usize {
        self.groups.iter().map(|g| g.rules.len()).sum()
    }
}

/// Why a rule file was rejected: every problem found, each worded as
/// promtool words it (without the leading `file: `).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct RuleFileError {
    pub file: PathBuf,
    pub errors: Vec<String>,
}

impl fmt::Display for RuleFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.errors.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}: {e}", self.file.display())?;
        }
        Ok(())
    }
}

/// Reads and validates one rule file.
pub fn load_rule_file(path: &Path, scheme: NameValidation) -> Result<RuleFile, RuleFileError> {
    let src = std::fs::read_to_string(path).map_err(|e| RuleFileError {
        file: path.to_path_buf(),
        errors: vec![format!("open {}: {e}", path.display())],
    })?;
    parse_rule_file(&src, path, scheme)
}

/// Parses and validates rule-file text; `path` names it in errors.
pub fn parse_rule_file(src: &str, path: &Path, scheme: NameValidation) -> Result<RuleFile, RuleFileError> {
    let fail = |errors: Vec<String>| RuleFileError { file: path.to_path_buf(), errors };
    let root = yaml::parse(src).map_err(|e| fail(vec![format!("yaml: line {}: {}", e.line, e.message)]))?;
    // Pass 1: shapes, like yaml.v3's KnownFields decoding.
    let mut shape = Vec::new();
    let raw = decode_groups(&root, &mut shape);
    if !shape.is_empty() {
        let mut msg = String::from("yaml: unmarshal errors:");
        for s in shape {
            msg.push_str("\n  ");
            msg.push_str(&s);
        }
        return Err(fail(vec![msg]));
    }
    // Pass 2: validation, like rulefmt's RuleGroups.Validate.
    let mut errs = Vec::new();
    let mut seen = HashSet::new();
    let mut groups = Vec::new();
    for g in raw {
        if g.name.text.is_empty() {
            errs.push(format!("{}:{}: Groupname must not be empty", g.pos.0, g.pos.1));
        }
        if !seen.insert(g.name.text.clone()) {
            errs.push(format!("{}:{}: groupname: {:?} is repeated in the same file", g.pos.0, g.pos.1, g.name.text));
        }
        for (k, v) in &g.labels {
            if !valid_label_name(k, scheme) || k == "__name__" {
                errs.push(format!("invalid label name: {k}"));
            }
            let _ = v;
        }
        let mut rules = Vec::new();
        for (i, r) in g.rules.iter().enumerate() {
            let rule_name = if !r.alert.text.is_empty() { &r.alert.text } else { &r.record.text };
            for (pos, e) in validate_rule(r, scheme) {
                let prefix = pos.map(|p| format!("{p}: ")).unwrap_or_default();
                errs.push(format!("{prefix}group {:?}, rule {}, {:?}: {e}", g.name.text, i + 1, rule_name));
            }
            let kind = if r.record.text.is_empty() { RuleKind::Alerting } else { RuleKind::Recording };
            let mut labels = g.labels.clone();
            labels.extend(r.labels.clone());
            rules.push(RuleDef {
                kind,
                name: rule_name.clone(),
                expr: r.expr.text.clone(),
                for_: r.for_.unwrap_or_default(),
                keep_firing_for: r.keep_firing_for.unwrap_or_default(),
                labels,
                annotations: r.annotations.clone(),
                line: r.line,
            });
        }
        groups.push(GroupDef {
            name: g.name.text.clone(),
            interval: g.interval,
            query_offset: g.query_offset,
            limit: g.limit,
            labels: g.labels.clone(),
            rules,
            file: path.to_path_buf(),
            line: g.pos.0,
        });
    }
    if !errs.is_empty() {
        return Err(fail(errs));
    }
    Ok(RuleFile { path: path.to_path_buf(), groups })
}

/// A scalar with its position (0:0 when absent, as yaml.v3's zero Node).
#[derive(Debug, Clone, Default)]
struct Pos {
    text: String,
    line: usize,
    col: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

#[derive(Debug, Default)]
struct RawGroup {
    pos: (usize, usize),
    name: Pos,
    interval: Option<Duration>,
    query_offset: Option<Duration>,
    limit: usize,
    labels: BTreeMap<String, String>,
    rules: Vec<RawRule>,
}

#[derive(Debug, Default)]
struct RawRule {
    line: usize,
    record: Pos,
    alert: Pos,
    expr: Pos,
    for_: Option<Duration>,
    keep_firing_for: Option<Duration>,
    labels: BTreeMap<String, String>,
    annotations: BTreeMap<String, String>,
}

/// Checks that `node` is a mapping, reporting unknown and repeated keys.
fn fields<'a>(node: &'a Node, known: &[&str], ty: &str, errs: &mut Vec<String>) -> Vec<(&'a str, &'a Node)> {
    let mut out: Vec<(&str, &Node)> = Vec::new();
    if node.is_null() {
        return out;
    }
    let Kind::Map(entries) = &node.kind else {
        errs.push(format!("line {}: cannot unmarshal {} into {ty}", node.line, node.type_name()));
        return out;
    };
    for (k, v) in entries {
        let key = k.text().unwrap_or("");
        if let Some((_, prev)) = out.iter().find(|(n, _)| *n == key) {
            errs.push(format!("line {}: mapping key {key:?} already defined at line {}", k.line, prev.line));
            continue;
        }
        if !known.contains(&key) {
            errs.push(format!("line {}: field {key} not found in type {ty}", k.line));
            continue;
        }
        out.push((key, v));
    }
    out
}

fn scalar(node: &Node, errs: &mut Vec<String>) -> Pos {
    match &node.kind {
        Kind::Scalar { text, null, .. } => {
            Pos { text: if *null { String::new() } else { text.clone() }, line: node.line, col: node.col }
        }
        _ => {
            errs.push(format!("line {}: cannot unmarshal {} into string", node.line, node.type_name()));
            Pos::default()
        }
    }
}

fn duration(node: &Node, errs: &mut Vec<String>) -> Option<Duration> {
    let p = scalar(node, errs);
    if p.text.is_empty() {
        return None;
    }
    match crate::config::parse_duration(&p.text) {
        Ok(d) => Some(d),
        Err(e) => {
            errs.push(format!("line {}: {e}", node.line));
            None
        }
    }
}

fn string_map(node: &Node, errs: &mut Vec<String>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    if node.is_null() {
        return out;
    }
    let Kind::Map(entries) = &node.kind else {
        errs.push(format!("line {}: cannot unmarshal {} into map[string]string", node.line, node.type_name()));
        return out;
    };
    for (k, v) in entries {
        let key = scalar(k, errs).text;
        if out.contains_key(&key) {
            errs.push(format!("line {}: mapping key {key:?} already defined", k.line));
        }
        out.insert(key, scalar(v, errs).text);
    }
    out
}

fn decode_groups(root: &Node, errs: &mut Vec<String>) -> Vec<RawGroup> {
    let mut groups = Vec::new();
    for (k, v) in fields(root, &["groups"], "rulefmt.RuleGroups", errs) {
        if k != "groups" || v.is_null() {
            continue;
        }
        let Kind::Seq(items) = &v.kind else {
            errs.push(format!("line {}: cannot unmarshal {} into []rulefmt.RuleGroup", v.line, v.type_name()));
            continue;
        };
        for g in items {
            groups.push(decode_group(g, errs));
        }
    }
    groups
}

fn decode_group(g: &Node, errs: &mut Vec<String>) -> RawGroup {
    let mut out = RawGroup { pos: (g.line, g.col), ..Default::default() };
    let known = ["name", "interval", "query_offset", "limit", "rules", "labels"];
    for (k, v) in fields(g, &known, "rulefmt.RuleGroup", errs) {
        match k {
            "name" => out.name = scalar(v, errs),
            "interval" => out.interval = duration(v, errs),
            "query_offset" => out.query_offset = duration(v, errs),
            "limit" => {
                let p = scalar(v, errs);
                match p.text.parse::<i64>() {
                    Ok(n) => out.limit = n.max(0) as usize,
                    Err(_) if p.text.is_empty() => {}
                    Err(_) => errs.push(format!("line {}: cannot unmarshal !!str `{}` into int", v.line, p.text)),
                }
            }
            "labels" => out.labels = string_map(v, errs),
            "rules" => {
                if v.is_null() {
                    continue;
                }
                let Kind::Seq(items) = &v.kind else {
                    errs.push(format!("line {}: cannot unmarshal {} into []rulefmt.RuleNode", v.line, v.type_name()));
                    continue;
                };
                for r in items {
                    out.rules.push(decode_rule(r, errs));
                }
            }
            _ => {}
        }
    }
    out
}

fn decode_rule(r: &Node, errs: &mut Vec<String>) -> RawRule {
    let mut out = RawRule { line: r.line, ..Default::default() };
    let known = ["record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations"];
    for (k, v) in fields(r, &known, "rulefmt.RuleNode", errs) {
        match k {
            "record" => out.record = scalar(v, errs),
            "alert" => out.alert = scalar(v, errs),
            "expr" => out.expr = scalar(v, errs),
            "for" => out.for_ = duration(v, errs),
            "keep_firing_for" => out.keep_firing_for = duration(v, errs),
            "labels" => out.labels = string_map(v, errs),
            "annotations" => out.annotations = string_map(v, errs),
            _ => {}
        }
    }
    out
}

/// Label name validity under `scheme`.
pub fn valid_label_name(name: &str, scheme: NameValidation) -> bool {
    match scheme {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => crate::config::is_valid_label_name(name),
    }
}

/// Metric name validity under `scheme`.
pub fn valid_metric_name(name: &str, scheme: NameValidation) -> bool {
    match scheme {
        NameValidation::Utf8 => !name.is_empty(),
        NameValidation::Legacy => {
            let mut c = name.chars();
            matches!(c.next(), Some(f) if f.is_ascii_alphabetic() || f == '_' || f == ':')
                && c.all(|x| x.is_ascii_alphanumeric() || x == '_' || x == ':')
        }
    }
}

/// Rule checks in rulefmt's order; each error with its position prefix.
fn validate_rule(r: &RawRule, scheme: NameValidation) -> Vec<(Option<String>, String)> {
    let mut out = Vec::new();
    if !r.record.text.is_empty() && !r.alert.text.is_empty() {
        out.push((
            Some(format!("{}: {}", r.record, r.alert)),
            "only one of 'record' and 'alert' must be set".to_string(),
        ));
    }
    if r.record.text.is_empty() && r.alert.text.is_empty() {
        out.push((Some(r.record.to_string()), "one of 'record' or 'alert' must be set".to_string()));
    }
    if r.expr.text.is_empty() {
        out.push((Some(r.expr.to_string()), "field 'expr' must be set in rule".to_string()));
    } else if let Err(e) = crate::promql::parse(&r.expr.text) {
        // Prometheus words it `1:6: parse error: ...`.
        let msg = match e.position {
            Some(p) => format!("1:{}: parse error: {}", p + 1, e.message),
            None if e.message.contains("parse error") => e.message.clone(),
            None => format!("parse error: {}", e.message),
        };
        out.push((Some(r.expr.to_string()), format!("could not parse expression: {msg}")));
    }
    if !r.record.text.is_empty() {
        let at = Some(r.record.to_string());
        if !r.annotations.is_empty() {
            out.push((at.clone(), "invalid field 'annotations' in recording rule".to_string()));
        }
        if r.for_.is_some_and(|d| !d.is_zero()) {
            out.push((at.clone(), "invalid field 'for' in recording rule".to_string()));
        }
        if r.keep_firing_for.is_some_and(|d| !d.is_zero()) {
            out.push((at.clone(), "invalid field 'keep_firing_for' in recording rule".to_string()));
        }
        if !valid_metric_name(&r.record.text, scheme) {
            out.push((at.clone(), format!("invalid recording rule name: {}", r.record.text)));
        } else if r.record.text.contains('{') || r.record.text.contains('}') {
            out.push((
                at,
                format!("braces present in the recording rule name; should it be in expr?: {}", r.record.text),
            ));
        }
    }
    for k in r.labels.keys() {
        if !valid_label_name(k, scheme) || k == "__name__" {
            out.push((None, format!("invalid label name: {k}")));
        }
    }
    for k in r.annotations.keys() {
        if !valid_label_name(k, scheme) {
            out.push((None, format!("invalid annotation name: {k}")));
        }
    }
    if !r.alert.text.is_empty() {
        let tname = format!("__alert_{}", r.alert.text);
        for (k, v) in &r.labels {
            if let Err(e) = check_alert_template(&tname, v) {
                out.push((None, format!("label {k:?}: {e}")));
            }
        }
        for (k, v) in &r.annotations {
            if let Err(e) = check_alert_template(&tname, v) {
                out.push((None, format!("annotation {k:?}: {e}")));
            }
        }
    }
    out
}

/// Rules that appear more than once with the same name and labels
/// (promtool's duplicate-rules lint): (name, labels) of each, once.
pub fn duplicate_rules(groups: &[GroupDef]) -> Vec<(String, BTreeMap<String, String>)> {
    let mut all: Vec<(String, BTreeMap<String, String>)> =
        groups.iter().flat_map(|g| g.rules.iter().map(|r| (r.name.clone(), r.labels.clone()))).collect();
    all.sort();
    let mut dups: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for w in all.windows(2) {
        if w[0] == w[1] && dups.last() != Some(&w[1]) {
            dups.push(w[1].clone());
        }
    }
    dups
}

/// Expands `rule_files` glob patterns (relative ones against `base_dir`),
/// sorted, without duplicates.
pub fn expand_rule_files(patterns: &[String], base_dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in patterns {
        let full = if Path::new(p).is_absolute() { PathBuf::from(p) } else { base_dir.join(p) };
        let text = full.to_string_lossy().to_string();
        let paths = glob::glob(&text).map_err(|e| format!("rule_files: bad pattern {p:?}: {e}"))?;
        let mut found: Vec<PathBuf> = paths.filter_map(Result::ok).collect();
        found.sort();
        for f in found {
            if !out.contains(&f) {
                out.push(f);
            }
        }
    }
    Ok(out)
}

/// `sightline check-rules FILE...`: prints like `promtool check rules` and
/// returns its exit code (0 fine, 1 a file failed).
pub fn check_rules_cli(files: &[PathBuf]) -> i32 {
    let mut code = 0;
    for f in files {
        println!("Checking {}", f.display());
        match load_rule_file(f, NameValidation::Utf8) {
            Ok(rf) => {
                let dups = duplicate_rules(&rf.groups);
                if dups.is_empty() {
                    println!("  SUCCESS: {} rules found", rf.rule_count());
                } else {
                    eprintln!("  FAILED:");
                    let mut msg = format!("lint error {} duplicate rule(s) found.\n", dups.len());
                    for (name, labels) in &dups {
                        msg.push_str(&format!("Metric: {name}\nLabel(s):\n"));
                        for (k, v) in labels {
                            msg.push_str(&format!("\t{k}: {v}\n"));
                        }
                    }
                    msg.push_str("Might cause inconsistency while recording expressions");
                    eprintln!("{msg}");
                }
            }
            Err(e) => {
                eprintln!("  FAILED:");
                eprintln!("{e}");
                code = 1;
            }
        }
        println!();
    }
    code
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<RuleFile, Vec<String>> {
        parse_rule_file(src, Path::new("f.yml"), NameValidation::Utf8).map_err(|e| e.errors)
    }

    #[test]
    fn valid_file_with_everything() {
        let src = "groups:\n- name: g\n  interval: 30s\n  limit: 5\n  labels: {team: a}\n  rules:\n  - record: job:up:sum\n    expr: sum by (job) (up)\n  - alert: Down\n    expr: up == 0\n    for: 5m\n    keep_firing_for: 1m\n    labels: {severity: page}\n    annotations:\n      summary: '{{ $labels.instance }} down'\n";
        let f = parse(src).unwrap();
        let g = &f.groups[0];
        assert_eq!(g.interval, Some(Duration::from_secs(30)));
        assert_eq!(g.limit, 5);
        assert_eq!(g.rules[0].kind, RuleKind::Recording);
        assert_eq!(g.rules[0].labels.get("team").map(String::as_str), Some("a"));
        assert_eq!(g.rules[1].for_, Duration::from_secs(300));
        assert_eq!(g.rules[1].keep_firing_for, Duration::from_secs(60));
        assert_eq!(g.rules[1].labels.get("severity").map(String::as_str), Some("page"));
        assert_eq!(g.rules[1].line, 9);
    }

    #[test]
    fn errors_read_like_promtool() {
        assert_eq!(
            parse("groups:\n  - name: yolo\n    rules:\n      - record: Hi\n        alert: Hello\n        expr: 1\n")
                .unwrap_err(),
            vec!["4:17: 5:16: group \"yolo\", rule 1, \"Hello\": only one of 'record' and 'alert' must be set"]
        );
        assert_eq!(
            parse("groups:\n  - name: yolo\n  - name: yolo\n").unwrap_err(),
            vec!["3:5: groupname: \"yolo\" is repeated in the same file"]
        );
        assert_eq!(
            parse("groups:\n  - name: yolo\n    rules:\n      - alert: A\n        expr: 1\n        annotation: {}\n")
                .unwrap_err(),
            vec!["yaml: unmarshal errors:\n  line 6: field annotation not found in type rulefmt.RuleNode"]
        );
        let e =
            parse("groups:\n  - name: yolo\n    rules:\n      - record: yolo\n        expr: rate(hi)\n").unwrap_err();
        assert!(e[0].starts_with("5:15: group \"yolo\", rule 1, \"yolo\": could not parse expression: "), "{e:?}");
        let e = parse(
            "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    annotations:\n      s: '{{ $label.x }}'\n",
        )
        .unwrap_err();
        assert_eq!(
            e,
            vec!["group \"g\", rule 1, \"X\": annotation \"s\": template: __alert_X:1: undefined variable \"$label\""]
        );
        let e = parse("groups:\n- name: g\n  rules:\n  - record: r\n    expr: up\n    for: 1m\n").unwrap_err();
        assert_eq!(e, vec!["4:13: group \"g\", rule 1, \"r\": invalid field 'for' in recording rule"]);
        assert!(parse("groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    for: 5x\n").is_err());
        assert!(parse("groups: [").is_err());
    }

    #[test]
    fn legacy_names_are_stricter() {
        let src = "groups:\n- name: g\n  rules:\n  - alert: X\n    expr: up\n    labels: {a-b: c}\n";
        assert!(parse(src).is_ok());
        assert!(parse_rule_file(src, Path::new("f"), NameValidation::Legacy).is_err());
    }

    #[test]
    fn duplicates_are_found_once() {
        let src = "groups:\n- name: a\n  rules:\n  - record: r\n    expr: up\n  - record: r\n    expr: up\n- name: b\n  rules:\n  - record: r\n    expr: up\n  - record: s\n    expr: up\n";
        let f = parse(src).unwrap();
        assert_eq!(duplicate_rules(&f.groups), vec![("r".to_string(), BTreeMap::new())]);
    }
}
