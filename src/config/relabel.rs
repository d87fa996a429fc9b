//! Relabeling rules as configured (`relabel_configs`, `metric_relabel_configs`):
//! the validated form. Applying them lives in `crate::scrape::relabel`.

use std::fmt;

use regex::Regex;

/// What a relabeling rule does (Prometheus's actions, same names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelabelAction {
    /// Writes `replacement` (expanded with the regex groups) to `target_label` when the regex matches.
    Replace,
    /// Drops the series or target unless the regex matches the joined source values.
    Keep,
    /// Drops the series or target when the regex matches.
    Drop,
    /// Drops unless the joined source values equal the value of `target_label`.
    KeepEqual,
    /// Drops when the joined source values equal the value of `target_label`.
    DropEqual,
    /// Sets `target_label` to md5(joined values) mod `modulus`.
    HashMod,
    /// Copies each label whose name matches the regex to the name `replacement` expands to.
    LabelMap,
    /// Removes labels whose names match the regex.
    LabelDrop,
    /// Removes labels whose names do not match the regex.
    LabelKeep,
    /// Sets `target_label` to the joined values in lower case.
    Lowercase,
    /// Sets `target_label` to the joined values in upper case.
    Uppercase,
}

impl RelabelAction {
    /// Parses an action name, case-insensitively like Prometheus.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "replace" => Self::Replace,
            "keep" => Self::Keep,
            "drop" => Self::Drop,
            "keepequal" => Self::KeepEqual,
            "dropequal" => Self::DropEqual,
            "hashmod" => Self::HashMod,
            "labelmap" => Self::LabelMap,
            "labeldrop" => Self::LabelDrop,
            "labelkeep" => Self::LabelKeep,
            "lowercase" => Self::Lowercase,
            "uppercase" => Self::Uppercase,
            _ => return Err(format!("unknown relabel action {s:?}")),
        })
    }

    /// The name as written in configuration files.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Replace => "replace",
            Self::Keep => "keep",
            Self::Drop => "drop",
            Self::KeepEqual => "keepequal",
            Self::DropEqual => "dropequal",
            Self::HashMod => "hashmod",
            Self::LabelMap => "labelmap",
            Self::LabelDrop => "labeldrop",
            Self::LabelKeep => "labelkeep",
            Self::Lowercase => "lowercase",
            Self::Uppercase => "uppercase",
        }
    }
}

impl fmt::Display for RelabelAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A regular expression anchored at both ends (`^(?:re)$`), as Prometheus
/// compiles every relabeling regex. Keeps the text as written.
#[derive(Debug, Clone)]
pub struct AnchoredRegex {
    source: String,
    regex: Regex,
}

impl AnchoredRegex {
    /// Compiles `source` anchored; the error is the regex crate's message.
    pub fn new(source: &str) -> Result<Self, String> {
        let regex = Regex::new(&format!("^(?:{source})$")).map_err(|e| {
            // The regex crate's message spans several lines; keep its last
            // line ("error: unclosed group") so errors stay one per line.
            let text = e.to_string();
            let why =
                text.lines().rev().find_map(|l| l.strip_prefix("error: ")).unwrap_or(text.lines().last().unwrap_or(""));
            format!("invalid regex {source:?}: {}", why.trim())
        })?;
        Ok(Self { source: source.to_string(), regex })
    }

    /// The expression as written (without the anchors).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The compiled, anchored expression.
    pub fn regex(&self) -> &Regex {
        &self.regex
    }

    /// Whether the whole of `s` matches.
    pub fn is_match(&self, s: &str) -> bool {
        self.regex.is_match(s)
    }
}

impl PartialEq for AnchoredRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

impl Default for AnchoredRegex {
    fn default() -> Self {
        // The default `(.*)` always compiles; build it without a fallible path.
        match Self::new(DEFAULT_REGEX) {
            Ok(r) => r,
            Err(_) => unreachable!("the default relabel regex compiles"),
        }
    }
}

/// Prometheus's default regex, separator and replacement.
pub const DEFAULT_REGEX: &str = "(.*)";
/// Joins source label values.
pub const DEFAULT_SEPARATOR: &str = ";";
/// The first capture group.
pub const DEFAULT_REPLACEMENT: &str = "$1";

/// One validated relabeling rule. Build it from YAML through the config
/// loader, or directly (tests) with `..RelabelConfig::default()` and then
/// [`RelabelConfig::validate`].
#[derive(Debug, Clone, PartialEq)]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` to form the input.
    pub source_labels: Vec<String>,
    /// Between joined source values (default `;`).
    pub separator: String,
    /// Matched against the joined values (default `(.*)`), anchored.
    pub regex: AnchoredRegex,
    /// For `hashmod`.
    pub modulus: u64,
    /// May contain `$1`/`${name}` for `replace`.
    pub target_label: String,
    /// Written to the target (default `$1`); `$1`/`${name}` expand.
    pub replacement: String,
    /// What the rule does (default `replace`).
    pub action: RelabelAction,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        Self {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.to_string(),
            regex: AnchoredRegex::default(),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.to_string(),
            action: RelabelAction::Replace,
        }
    }
}

/// Which field a relabel validation error is about (for pointing at its line).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RelabelField {
    /// The rule as a whole.
    Rule,
    /// `source_labels`.
    SourceLabels,
    /// `regex`.
    Regex,
    /// `modulus`.
    Modulus,
    /// `target_label`.
    TargetLabel,
    /// `replacement`.
    Replacement,
    /// `action`.
    Action,
}

impl RelabelField {
    /// The YAML key of the field (`None` for the whole rule).
    pub fn key(self) -> Option<&'static str> {
        match self {
            Self::Rule => None,
            Self::SourceLabels => Some("source_labels"),
            Self::Regex => Some("regex"),
            Self::Modulus => Some("modulus"),
            Self::TargetLabel => Some("target_label"),
            Self::Replacement => Some("replacement"),
            Self::Action => Some("action"),
        }
    }
}

impl RelabelConfig {
    /// Prometheus's checks (model/relabel `Validate`), with the same messages.
    pub fn validate(&self) -> Result<(), (RelabelField, String)> {
        use RelabelAction::*;
        let a = self.action;
        let err = |field, msg: String| Err((field, msg));
        for name in &self.source_labels {
            if !is_valid_label_name(name) {
                return err(RelabelField::SourceLabels, format!("{name:?} is not a valid label name"));
            }
        }
        if a == HashMod && self.modulus == 0 {
            return err(RelabelField::Modulus, "relabel configuration for hashmod requires non-zero modulus".into());
        }
        if matches!(a, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual)
            && self.target_label.is_empty()
        {
            return err(
                RelabelField::TargetLabel,
                format!("relabel configuration for {a} action requires 'target_label' value"),
            );
        }
        let invalid_target = || {
            err(RelabelField::TargetLabel, format!("{:?} is invalid 'target_label' for {a} action", self.target_label))
        };
        if a == Replace {
            let ok = if self.target_label.contains('$') {
                is_valid_relabel_target(&self.target_label)
            } else {
                is_valid_label_name(&self.target_label)
            };
            if !ok {
                return invalid_target();
            }
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual | HashMod)
            && !is_valid_label_name(&self.target_label)
        {
            return invalid_target();
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual) && self.replacement != DEFAULT_REPLACEMENT {
            return err(RelabelField::Replacement, format!("'replacement' can not be set for {a} action"));
        }
        if a == LabelMap && !is_valid_relabel_target(&self.replacement) {
            return err(
                RelabelField::Replacement,
                format!("{:?} is invalid 'replacement' for {a} action", self.replacement),
            );
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex.as_str() != DEFAULT_REGEX || self.modulus != 0 || self.separator != DEFAULT_SEPARATOR)
        {
            return err(
                RelabelField::Rule,
                format!("{a} action requires only 'source_labels' and `target_label`, and no other fields"),
            );
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(RelabelField::Rule, format!("{a} action requires only 'regex', and no other fields"));
        }
        Ok(())
    }
}

/// A legacy Prometheus label name: `[a-zA-Z_][a-zA-Z0-9_]*`.
pub fn is_valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Prometheus's `relabelTarget`: `^(?:(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))+\w*)+$`, a
/// label name in which `$1`, `${1}` or `${name}` may stand for parts.
pub fn is_valid_relabel_target(s: &str) -> bool {
    let b = s.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    if b.is_empty() {
        return false;
    }
    let mut i = 0;
    // The pattern boils down to: starts with a letter, `_` or a `$` reference,
    // and every `$` begins a well-formed reference.
    let mut first = true;
    while i < b.len() {
        let c = b[i];
        if c == b'$' {
            if b.get(i + 1) == Some(&b'{') {
                let n = b[i + 2..].iter().take_while(|c| word(**c)).count();
                if n == 0 || b.get(i + 2 + n) != Some(&b'}') {
                    return false;
                }
                i += n + 3;
            } else {
                let n = b[i + 1..].iter().take_while(|c| word(**c)).count();
                if n == 0 {
                    return false;
                }
                i += n + 1;
            }
        } else if !word(c) || (first && c.is_ascii_digit()) {
            return false;
        } else {
            i += 1;
        }
        first = false;
    }
    true
}

/// Go's `regexp.Expand`: `$1`, `${1}`, `$name`, `${name}` become the matching
/// group (empty if it does not exist or did not take part), `$$` is `$`, and a
/// malformed `$` is copied as is. `$1x` means the group named `1x`, as in Go.
pub fn expand(template: &str, caps: &regex::Captures<'_>, regex: &Regex) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        rest = &rest[pos + 1..];
        if let Some(r) = rest.strip_prefix('$') {
            out.push('$');
            rest = r;
            continue;
        }
        let (brace, body) = match rest.strip_prefix('{') {
            Some(b) => (true, b),
            None => (false, rest),
        };
        let len: usize = body.chars().take_while(|c| c.is_alphanumeric() || *c == '_').map(char::len_utf8).sum();
        if len == 0 || (brace && !body[len..].starts_with('}')) {
            out.push('$');
            continue;
        }
        let name = &body[..len];
        rest = &body[len + usize::from(brace)..];
        let num = if name.bytes().all(|c| c.is_ascii_digit()) && !(name.len() > 1 && name.starts_with('0')) {
            name.parse::<usize>().ok()
        } else {
            None
        };
        let group = match num {
            Some(n) => caps.get(n),
            None if regex.capture_names().any(|n| n == Some(name)) => caps.name(name),
            None => None,
        };
        if let Some(m) = group {
            out.push_str(m.as_str());
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(re: &str, input: &str, template: &str) -> String {
        let r = AnchoredRegex::new(re).expect("regex");
        let caps = r.regex().captures(input).expect("matches");
        expand(template, &caps, r.regex())
    }

    #[test]
    fn expand_like_go() {
        assert_eq!(exp("f(.*)", "foo", "ch${1}-ch${1}"), "choo-choo");
        assert_eq!(exp("f(.*)", "foo", "ch$1-ch$1"), "choo-choo");
        assert_eq!(exp("(b).*b(.*)ba(.*)", "baz;boobam", "$1$2$2$3"), "boooom");
        // `$1x` is the (missing) group named "1x".
        assert_eq!(exp("(a)", "a", "$1x"), "");
        assert_eq!(exp("(a)", "a", "$$1"), "$1");
        assert_eq!(exp("(a)", "a", "${1"), "${1");
        assert_eq!(exp("(a)", "a", "cost: $"), "cost: $");
        assert_eq!(exp("(?P<word>a)", "a", "<${word}>"), "<a>");
        assert_eq!(exp("(?P<word>a)", "a", "<$word>"), "<a>");
        assert_eq!(exp("(a)", "a", "${3}"), "");
        assert_eq!(exp("(a)", "a", "$01"), "");
        assert_eq!(exp("(a)|(b)", "a", "[$2]"), "[]");
    }

    #[test]
    fn target_label_validity() {
        // Prometheus's TestTargetLabelValidity table.
        let cases = [
            ("-label", false),
            ("label", true),
            ("label${1}", true),
            ("${1}label", true),
            ("${1}", true),
            ("${", false),
            ("$", false),
            ("${}", false),
            ("foo${", false),
            ("$1", true),
            ("asd$2asd", true),
            ("-foo${1}bar-", false),
            ("_${1}_", true),
            ("foo${bar}foo", true),
        ];
        for (s, valid) in cases {
            assert_eq!(is_valid_relabel_target(s), valid, "{s:?}");
        }
    }

    #[test]
    fn validate_messages() {
        // Prometheus's TestRelabelValidate table (an empty action cannot
        // exist here: the loader defaults it to replace).
        let cases: Vec<(RelabelConfig, Option<&str>)> = vec![
            (
                RelabelConfig { action: RelabelAction::Replace, ..Default::default() },
                Some("requires 'target_label' value"),
            ),
            (
                RelabelConfig { action: RelabelAction::Lowercase, ..Default::default() },
                Some("requires 'target_label' value"),
            ),
            (
                RelabelConfig { action: RelabelAction::Lowercase, target_label: "${3}".into(), ..Default::default() },
                Some("\"${3}\" is invalid 'target_label'"),
            ),
            (
                RelabelConfig {
                    source_labels: vec!["a".into()],
                    regex: AnchoredRegex::new("some-([^-]+)-([^,]+)").expect("regex"),
                    replacement: "${1}".into(),
                    target_label: "${3}".into(),
                    ..Default::default()
                },
                None,
            ),
            (
                RelabelConfig {
                    source_labels: vec!["a".into()],
                    regex: AnchoredRegex::new("some-([^-]+)-([^,]+)").expect("regex"),
                    replacement: "${1}".into(),
                    target_label: "0${3}".into(),
                    ..Default::default()
                },
                Some("\"0${3}\" is invalid 'target_label'"),
            ),
            (
                RelabelConfig { target_label: "-${3}".into(), replacement: "${1}".into(), ..Default::default() },
                Some("\"-${3}\" is invalid 'target_label' for replace action"),
            ),
            (
                RelabelConfig { action: RelabelAction::HashMod, target_label: "x".into(), ..Default::default() },
                Some("requires non-zero modulus"),
            ),
            (
                RelabelConfig { action: RelabelAction::LabelDrop, target_label: "x".into(), ..Default::default() },
                Some("labeldrop action requires only 'regex', and no other fields"),
            ),
            (
                RelabelConfig {
                    action: RelabelAction::KeepEqual,
                    target_label: "x".into(),
                    regex: AnchoredRegex::new("a").expect("regex"),
                    ..Default::default()
                },
                Some("keepequal action requires only 'source_labels' and `target_label`, and no other fields"),
            ),
            (
                RelabelConfig { action: RelabelAction::LabelMap, replacement: "-x".into(), ..Default::default() },
                Some("\"-x\" is invalid 'replacement' for labelmap action"),
            ),
            (
                RelabelConfig {
                    action: RelabelAction::Uppercase,
                    target_label: "x".into(),
                    replacement: "y".into(),
                    ..Default::default()
                },
                Some("'replacement' can not be set for uppercase action"),
            ),
        ];
        for (i, (cfg, want)) in cases.into_iter().enumerate() {
            match (cfg.validate(), want) {
                (Ok(()), None) => {}
                (Err((_, msg)), Some(w)) => {
                    assert!(msg.contains(w), "case {i}: {msg:?} lacks {w:?}")
                }
                (got, want) => panic!("case {i}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn actions_parse_case_insensitively() {
        assert_eq!(RelabelAction::parse("LabelMap"), Ok(RelabelAction::LabelMap));
        assert_eq!(RelabelAction::parse("keep"), Ok(RelabelAction::Keep));
        assert_eq!(RelabelAction::parse("explode"), Err("unknown relabel action \"explode\"".into()));
    }

    #[test]
    fn regex_is_anchored() {
        let r = AnchoredRegex::new("f|o").expect("regex");
        assert!(!r.is_match("foo"));
        assert!(r.is_match("o"));
        assert!(AnchoredRegex::new("(").is_err());
        assert_eq!(r.as_str(), "f|o");
    }
}
