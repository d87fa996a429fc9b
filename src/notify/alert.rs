//! Alerts as Alertmanager sees them, and their fingerprints.

use crate::tsdb::Labels;
use chrono::{DateTime, SecondsFormat, Utc};

/// One alert: identity (labels), details, and its active time range.
#[derive(Clone, Debug, PartialEq)]
pub struct Alert {
    pub labels: Labels,
    pub annotations: Labels,
    pub starts_at: DateTime<Utc>,
    /// When the alert resolves (or resolved). `None` on input means "until
    /// further notice": the notifier then uses now + `resolve_timeout`.
    pub ends_at: Option<DateTime<Utc>>,
    pub generator_url: String,
    /// When the notifier last received this alert.
    pub updated_at: DateTime<Utc>,
}

impl Alert {
    /// A firing alert with the given labels, starting now.
    pub fn firing(labels: Labels) -> Alert {
        let now = Utc::now();
        Alert {
            labels,
            annotations: Labels::new(),
            starts_at: now,
            ends_at: None,
            generator_url: String::new(),
            updated_at: now,
        }
    }

    /// Alertmanager's fingerprint of the label set.
    pub fn fingerprint(&self) -> u64 {
        fingerprint(&self.labels)
    }

    /// Whether the alert has ended at `now`.
    pub fn resolved_at(&self, now: DateTime<Utc>) -> bool {
        self.ends_at.is_some_and(|e| e <= now)
    }
}

/// The same FNV-1a 64 fingerprint as Prometheus' `model.LabelSet.Fingerprint`,
/// so webhook payloads and API answers carry the IDs other tools expect.
pub fn fingerprint(labels: &Labels) -> u64 {
    const OFFSET: u64 = 14695981039346656037;
    const PRIME: u64 = 1099511628211;
    let mut h = OFFSET;
    let mut add = |b: u8| {
        h ^= b as u64;
        h = h.wrapping_mul(PRIME);
    };
    // Labels are kept sorted by name.
    for l in labels.iter() {
        l.name.bytes().for_each(&mut add);
        add(255);
        l.value.bytes().for_each(&mut add);
        add(255);
    }
    h
}

/// `%016x`, as Alertmanager prints fingerprints.
pub fn fingerprint_hex(fp: u64) -> String {
    format!("{fp:016x}")
}

/// Go's `time.RFC3339Nano` formatting (trailing zeros of the fraction dropped).
pub fn go_time(t: DateTime<Utc>) -> String {
    let s = t.to_rfc3339_opts(SecondsFormat::Nanos, true);
    // "2026-01-02T03:04:05.120000000Z" → "2026-01-02T03:04:05.12Z"
    match s.split_once('.') {
        Some((head, frac)) => {
            let digits = frac.trim_end_matches('Z').trim_end_matches('0');
            if digits.is_empty() {
                format!("{head}Z")
            } else {
                format!("{head}.{digits}Z")
            }
        }
        None => s,
    }
}

/// Go's zero time, which Alertmanager shows for "no end yet".
pub const GO_ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Go's `model.LabelSet.String()`: `{a="1", b="2"}`.
pub fn labelset_string(labels: &Labels) -> String {
    let parts: Vec<String> =
        labels.iter().map(|l| format!("{}={}", l.name, super::matchers::go_quote(&l.value))).collect();
    format!("{{{}}}", parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_matches_prometheus() {
        // Values from Prometheus' common/model signature tests (same hash).
        assert_eq!(fingerprint(&Labels::new()), 14695981039346656037);
        let l = Labels::from_pairs([("name", "garland, briggs"), ("fear", "love is not enough")]);
        assert_eq!(fingerprint(&l), 5799056148416392346);
    }

    #[test]
    fn go_formats() {
        let t = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.120Z").unwrap().with_timezone(&Utc);
        assert_eq!(go_time(t), "2026-01-02T03:04:05.12Z");
        let l = Labels::from_pairs([("b", "2"), ("a", "x\"y")]);
        assert_eq!(labelset_string(&l), r#"{a="x\"y", b="2"}"#);
    }
}

/// Parses an RFC 3339 time as API clients send it.
pub fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("invalid time {s:?}: {e}"))
}

/// Serde adapter: RFC 3339 strings as Go writes them (chrono's serde
/// feature is not enabled).
pub mod rfc3339 {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the time.
    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::go_time(*t))
    }

    /// Reads the time.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let s = String::deserialize(d)?;
        super::parse_time(&s).map_err(serde::de::Error::custom)
    }
}
