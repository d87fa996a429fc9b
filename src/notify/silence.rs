//! Silences: matchers plus a time range that mute matching alerts, persisted
//! in SQLite.

use super::alert::go_time;
use super::store::Store;
use crate::tsdb::{matches_all, Labels, MatchKind, Matcher};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// A silence error, worded for API clients.
#[derive(Debug, thiserror::Error)]
pub enum SilenceError {
    #[error("silence not found: {0}")]
    NotFound(String),
    #[error("invalid silence: {0}")]
    Invalid(String),
    #[error("silence {0} is already expired")]
    AlreadyExpired(String),
    #[error(transparent)]
    Store(#[from] super::store::StoreError),
}

/// A matcher as API v2 and the database spell it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SilenceMatcher {
    pub name: String,
    pub value: String,
    #[serde(rename = "isRegex")]
    pub is_regex: bool,
    /// Defaults to true (older clients omit it).
    #[serde(rename = "isEqual", default = "yes")]
    pub is_equal: bool,
}

fn yes() -> bool {
    true
}

impl SilenceMatcher {
    /// The matcher this describes.
    pub fn to_matcher(&self) -> Result<Matcher, String> {
        let kind = match (self.is_regex, self.is_equal) {
            (false, true) => MatchKind::Equal,
            (false, false) => MatchKind::NotEqual,
            (true, true) => MatchKind::Regex,
            (true, false) => MatchKind::NotRegex,
        };
        Matcher::new(kind, &self.name, &self.value)
            .map_err(|e| format!("invalid regular expression {:?}: {e}", self.value))
    }

    /// From a parsed matcher.
    pub fn from_matcher(m: &Matcher) -> SilenceMatcher {
        SilenceMatcher {
            name: m.name.clone(),
            value: m.value.clone(),
            is_regex: matches!(m.kind, MatchKind::Regex | MatchKind::NotRegex),
            is_equal: matches!(m.kind, MatchKind::Equal | MatchKind::Regex),
        }
    }
}

/// A silence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    #[serde(default)]
    pub id: String,
    pub matchers: Vec<SilenceMatcher>,
    #[serde(rename = "startsAt", with = "super::alert::rfc3339")]
    pub starts_at: DateTime<Utc>,
    #[serde(rename = "endsAt", with = "super::alert::rfc3339")]
    pub ends_at: DateTime<Utc>,
    #[serde(rename = "updatedAt", default = "Utc::now", with = "super::alert::rfc3339")]
    pub updated_at: DateTime<Utc>,
    #[serde(rename = "createdBy", default)]
    pub created_by: String,
    #[serde(default)]
    pub comment: String,
    /// "Acknowledge": the silence ends by itself once no alert it matches fires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ack: bool,
}

/// Where a silence is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    /// The API v2 spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    /// State at `now`.
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if self.ends_at <= now {
            SilenceState::Expired
        } else if self.starts_at > now {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    fn matchers(&self) -> Vec<Matcher> {
        self.matchers.iter().filter_map(|m| m.to_matcher().ok()).collect()
    }

    /// Whether the silence's matchers select `labels`.
    pub fn matches(&self, labels: &Labels) -> bool {
        let ms = self.matchers();
        ms.len() == self.matchers.len() && matches_all(&ms, labels)
    }

    /// API v2 JSON (with `status.state`).
    pub fn to_api_json(&self, now: DateTime<Utc>) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "matchers": self.matchers,
            "startsAt": go_time(self.starts_at),
            "endsAt": go_time(self.ends_at),
            "updatedAt": go_time(self.updated_at),
            "createdBy": self.created_by,
            "comment": self.comment,
            "status": {"state": self.state(now).as_str()},
        })
    }

    fn validate(&self) -> Result<(), SilenceError> {
        if self.matchers.is_empty() {
            return Err(SilenceError::Invalid("at least one matcher required".into()));
        }
        let mut all_empty = true;
        for m in &self.matchers {
            let mm = m.to_matcher().map_err(SilenceError::Invalid)?;
            if m.name.is_empty() {
                return Err(SilenceError::Invalid("matcher with empty label name".into()));
            }
            all_empty &= mm.matches_empty();
        }
        if all_empty {
            return Err(SilenceError::Invalid("at least one matcher must not match the empty string".into()));
        }
        if self.ends_at < self.starts_at {
            return Err(SilenceError::Invalid("end time must not be before start time".into()));
        }
        Ok(())
    }
}

/// A random UUID v4 in the usual text form.
pub fn new_id() -> String {
    let b: [u8; 16] = rand::random();
    let mut b = b;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// All silences, in memory and in the store.
pub struct Silences {
    store: Arc<Store>,
    by_id: RwLock<HashMap<String, Silence>>,
}

impl Silences {
    /// Loads saved silences; unreadable rows are skipped with a warning.
    pub fn load(store: Arc<Store>) -> Result<Silences, SilenceError> {
        let mut by_id = HashMap::new();
        for body in store.silences()? {
            match serde_json::from_str::<Silence>(&body) {
                Ok(s) => {
                    by_id.insert(s.id.clone(), s);
                }
                Err(e) => tracing::warn!("skipping unreadable saved silence: {e}"),
            }
        }
        Ok(Silences { store, by_id: RwLock::new(by_id) })
    }

    fn save(&self, s: &Silence) -> Result<(), SilenceError> {
        let body = serde_json::to_string(s).map_err(|e| SilenceError::Invalid(e.to_string()))?;
        self.store.put_silence(&s.id, &body)?;
        Ok(())
    }

    /// Creates a silence, or updates the one with `s.id`. Like Alertmanager,
    /// changing the matchers or start of an active silence expires it and
    /// creates a new one. Returns the ID.
    pub fn set(&self, mut s: Silence, now: DateTime<Utc>) -> Result<String, SilenceError> {
        s.validate()?;
        s.updated_at = now;
        if s.starts_at < now {
            s.starts_at = now;
        }
        if s.ends_at <= now {
            return Err(SilenceError::Invalid("end time can't be in the past".into()));
        }
        if !s.id.is_empty() {
            let existing = self.get(&s.id).ok_or_else(|| SilenceError::NotFound(s.id.clone()))?;
            let state = existing.state(now);
            let same = existing.matchers == s.matchers;
            if state == SilenceState::Pending || (state == SilenceState::Active && same) {
                if state == SilenceState::Active {
                    s.starts_at = existing.starts_at;
                }
                self.save(&s)?;
                self.write().insert(s.id.clone(), s.clone());
                return Ok(s.id);
            }
            if state == SilenceState::Active {
                self.expire(&existing.id, now)?;
            }
        }
        s.id = new_id();
        self.save(&s)?;
        let id = s.id.clone();
        self.write().insert(id.clone(), s);
        Ok(id)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Silence>> {
        self.by_id.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Silence>> {
        self.by_id.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Ends a silence now.
    pub fn expire(&self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let mut s = self.get(id).ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match s.state(now) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Pending => s.starts_at = now,
            SilenceState::Active => {}
        }
        s.ends_at = now;
        s.updated_at = now;
        self.save(&s)?;
        self.write().insert(s.id.clone(), s);
        Ok(())
    }

    /// One silence.
    pub fn get(&self, id: &str) -> Option<Silence> {
        self.read().get(id).cloned()
    }

    /// All silences, newest first.
    pub fn list(&self) -> Vec<Silence> {
        let mut v: Vec<Silence> = self.read().values().cloned().collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.updated_at));
        v
    }

    /// IDs of active silences muting `labels` at `now`.
    pub fn muted_by(&self, labels: &Labels, now: DateTime<Utc>) -> Vec<String> {
        let mut ids: Vec<String> = self
            .read()
            .values()
            .filter(|s| s.state(now) == SilenceState::Active && s.matches(labels))
            .map(|s| s.id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Ends acknowledgements whose alerts no longer fire, and forgets
    /// silences that expired more than `retention` ago.
    pub fn maintain(&self, firing: &[Labels], now: DateTime<Utc>, retention: chrono::Duration) {
        let acks: Vec<String> = self
            .read()
            .values()
            .filter(|s| s.ack && s.state(now) == SilenceState::Active && !firing.iter().any(|l| s.matches(l)))
            .map(|s| s.id.clone())
            .collect();
        for id in acks {
            if let Err(e) = self.expire(&id, now) {
                tracing::warn!("cannot end acknowledgement {id}: {e}");
            }
        }
        let old: Vec<String> =
            self.read().values().filter(|s| s.ends_at + retention < now).map(|s| s.id.clone()).collect();
        for id in old {
            if self.store.delete_silence(&id).is_ok() {
                self.write().remove(&id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sil(ms: Vec<SilenceMatcher>, now: DateTime<Utc>) -> Silence {
        Silence {
            id: String::new(),
            matchers: ms,
            starts_at: now,
            ends_at: now + chrono::Duration::hours(1),
            updated_at: now,
            created_by: "me".into(),
            comment: "c".into(),
            ack: false,
        }
    }

    fn eq(n: &str, v: &str) -> SilenceMatcher {
        SilenceMatcher { name: n.into(), value: v.into(), is_regex: false, is_equal: true }
    }

    #[test]
    fn create_match_expire_persist() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let s = Silences::load(store.clone()).unwrap();
        let id = s.set(sil(vec![eq("alertname", "A")], now), now).unwrap();
        let a = Labels::from_pairs([("alertname", "A"), ("x", "1")]);
        assert_eq!(s.muted_by(&a, now), vec![id.clone()]);
        assert!(s.muted_by(&Labels::from_pairs([("alertname", "B")]), now).is_empty());
        let reloaded = Silences::load(store.clone()).unwrap();
        assert_eq!(reloaded.get(&id).unwrap().comment, "c");
        s.expire(&id, now + chrono::Duration::seconds(1)).unwrap();
        assert!(s.muted_by(&a, now + chrono::Duration::seconds(2)).is_empty());
        assert!(matches!(s.expire(&id, now + chrono::Duration::seconds(3)), Err(SilenceError::AlreadyExpired(_))));
        assert_eq!(
            Silences::load(store).unwrap().get(&id).unwrap().state(now + chrono::Duration::seconds(2)),
            SilenceState::Expired
        );
    }

    #[test]
    fn rejects_invalid() {
        let now = Utc::now();
        let s = Silences::load(Arc::new(Store::in_memory().unwrap())).unwrap();
        assert!(s.set(sil(vec![], now), now).is_err());
        let empty = SilenceMatcher { name: "a".into(), value: ".*".into(), is_regex: true, is_equal: true };
        assert!(s.set(sil(vec![empty], now), now).is_err());
        let bad = SilenceMatcher { name: "a".into(), value: "(".into(), is_regex: true, is_equal: true };
        assert!(s.set(sil(vec![bad], now), now).is_err());
    }

    #[test]
    fn ack_ends_when_alert_resolves() {
        let now = Utc::now();
        let s = Silences::load(Arc::new(Store::in_memory().unwrap())).unwrap();
        let mut ack = sil(vec![eq("alertname", "A")], now);
        ack.ack = true;
        let id = s.set(ack, now).unwrap();
        let a = Labels::from_pairs([("alertname", "A")]);
        s.maintain(std::slice::from_ref(&a), now, chrono::Duration::days(5));
        assert_eq!(s.get(&id).unwrap().state(now), SilenceState::Active);
        s.maintain(&[], now, chrono::Duration::days(5));
        assert_eq!(s.get(&id).unwrap().state(now), SilenceState::Expired);
    }
}
