//! Label matchers: `=`, `!=`, `=~`, `!~`.

use regex::Regex;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MatchKind {
    Equal,
    NotEqual,
    Regex,
    NotRegex,
}

/// Selects series by one label. A missing label matches as the empty string,
/// as in Prometheus (`{a=""}` selects series without `a`).
#[derive(Clone, Debug)]
pub struct Matcher {
    pub name: String,
    pub kind: MatchKind,
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher; regexes are fully anchored, as in Prometheus.
    pub fn new(kind: MatchKind, name: impl Into<String>, value: impl Into<String>) -> Result<Self, regex::Error> {
        let value = value.into();
        let regex = match kind {
            MatchKind::Regex | MatchKind::NotRegex => Some(Regex::new(&format!("^(?s:{value})$"))?),
            _ => None,
        };
        Ok(Matcher { name: name.into(), kind, value, regex })
    }

    /// An equality matcher (never fails).
    pub fn equal(name: impl Into<String>, value: impl Into<String>) -> Self {
        Matcher { name: name.into(), kind: MatchKind::Equal, value: value.into(), regex: None }
    }

    pub fn matches(&self, v: &str) -> bool {
        match self.kind {
            MatchKind::Equal => v == self.value,
            MatchKind::NotEqual => v != self.value,
            MatchKind::Regex => self.regex.as_ref().is_some_and(|r| r.is_match(v)),
            MatchKind::NotRegex => !self.regex.as_ref().is_some_and(|r| r.is_match(v)),
        }
    }

    /// Whether the matcher accepts the empty string (i.e. series lacking the label).
    pub fn matches_empty(&self) -> bool {
        self.matches("")
    }
}

/// True when every matcher accepts `labels`.
pub fn matches_all(matchers: &[Matcher], labels: &super::Labels) -> bool {
    matchers.iter().all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let re = Matcher::new(MatchKind::Regex, "a", "fo+|x").unwrap();
        assert!(re.matches("foo") && re.matches("x") && !re.matches("xfoo"));
        let nre = Matcher::new(MatchKind::NotRegex, "a", "fo+").unwrap();
        assert!(!nre.matches("foo") && nre.matches(""));
        assert!(Matcher::new(MatchKind::NotEqual, "a", "x").unwrap().matches(""));
        assert!(Matcher::new(MatchKind::Regex, "a", "(").is_err());
    }
}
