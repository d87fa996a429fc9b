//! Label sets: the identity of a series.

use std::fmt;

/// The label that holds a series' metric name.
pub const METRIC_NAME: &str = "__name__";

/// One name/value pair.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Label {
    pub name: String,
    pub value: String,
}

/// A label set, sorted by name, without empty values (an empty value means
/// "absent" in Prometheus). Two series are the same series exactly when their
/// label sets are equal.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Labels(Vec<Label>);

impl Labels {
    pub fn new() -> Self {
        Labels(Vec::new())
    }

    /// Builds a label set from pairs in any order; empty values are dropped
    /// and a later duplicate name wins.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (N, V)>) -> Self {
        let mut v: Vec<Label> = Vec::new();
        for (n, val) in pairs {
            let (name, value) = (n.into(), val.into());
            if let Some(existing) = v.iter_mut().find(|l| l.name == name) {
                existing.value = value;
            } else {
                v.push(Label { name, value });
            }
        }
        v.retain(|l| !l.value.is_empty());
        v.sort();
        Labels(v)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.binary_search_by(|l| l.name.as_str().cmp(name)).ok().map(|i| self.0[i].value.as_str())
    }

    /// The metric name, if any.
    pub fn metric_name(&self) -> Option<&str> {
        self.get(METRIC_NAME)
    }

    /// Sets `name` to `value`; an empty value removes the label.
    pub fn set(&mut self, name: &str, value: &str) {
        match self.0.binary_search_by(|l| l.name.as_str().cmp(name)) {
            Ok(i) if value.is_empty() => {
                self.0.remove(i);
            }
            Ok(i) => self.0[i].value = value.to_string(),
            Err(_) if value.is_empty() => {}
            Err(i) => self.0.insert(i, Label { name: name.to_string(), value: value.to_string() }),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.set(name, "");
    }

    pub fn iter(&self) -> impl Iterator<Item = &Label> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A copy without the metric name.
    pub fn without_metric_name(&self) -> Labels {
        Labels(self.0.iter().filter(|l| l.name != METRIC_NAME).cloned().collect())
    }

    /// A copy keeping only the labels whose names are in `names`.
    pub fn keep_only(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels(self.0.iter().filter(|l| names.iter().any(|n| n.as_ref() == l.name)).cloned().collect())
    }

    /// A copy without the labels whose names are in `names`.
    pub fn drop_names(&self, names: &[impl AsRef<str>]) -> Labels {
        Labels(self.0.iter().filter(|l| !names.iter().any(|n| n.as_ref() == l.name)).cloned().collect())
    }

    /// A stable 64-bit hash of the label set (xxh3 over name\xff value\xff ...),
    /// the same on every platform and run, so it may be stored on disk.
    pub fn stable_hash(&self) -> u64 {
        // Streaming over the same bytes gives the same digest without a buffer.
        let mut h = xxhash_rust::xxh3::Xxh3::new();
        for l in &self.0 {
            h.update(l.name.as_bytes());
            h.update(&[0xff]);
            h.update(l.value.as_bytes());
            h.update(&[0xff]);
        }
        h.digest()
    }
}

impl<'a> IntoIterator for &'a Labels {
    type Item = &'a Label;
    type IntoIter = std::slice::Iter<'a, Label>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Prometheus's text form: `name{a="1", b="2"}`.
impl fmt::Display for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(name) = self.metric_name() {
            f.write_str(name)?;
        }
        f.write_str("{")?;
        let mut first = true;
        for l in self.0.iter().filter(|l| l.name != METRIC_NAME) {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{}=\"", l.name)?;
            for c in l.value.chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '"' => f.write_str("\\\"")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_deduplicated() {
        let l = Labels::from_pairs([("b", "2"), ("a", "1"), ("c", ""), ("a", "3")]);
        let names: Vec<_> = l.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(l.get("a"), Some("3"));
        assert_eq!(l.get("c"), None);
    }

    #[test]
    fn set_and_remove() {
        let mut l = Labels::from_pairs([("a", "1")]);
        l.set("0", "x");
        l.set("a", "");
        assert_eq!(l, Labels::from_pairs([("0", "x")]));
    }

    #[test]
    fn hash_matches_the_documented_byte_layout() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        assert_eq!(l.stable_hash(), xxhash_rust::xxh3::xxh3_64(b"__name__\xffup\xffjob\xffx\xff"));
    }

    #[test]
    fn hash_is_stable() {
        let l = Labels::from_pairs([("__name__", "up"), ("job", "x")]);
        assert_eq!(l.stable_hash(), Labels::from_pairs([("job", "x"), ("__name__", "up")]).stable_hash());
        assert_ne!(l.stable_hash(), Labels::from_pairs([("__name__", "up"), ("job", "y")]).stable_hash());
    }

    #[test]
    fn display_escapes() {
        let l = Labels::from_pairs([("__name__", "up"), ("a", "x\"y\\\n")]);
        assert_eq!(l.to_string(), r#"up{a="x\"y\\\n"}"#);
    }
}
