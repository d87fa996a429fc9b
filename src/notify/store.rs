//! The notifier's own SQLite tables in `<data dir>/sightline.db`: silences,
//! the notification log, firing alerts and delivery history. Kept apart from
//! the TSDB's connection on purpose (own connection, WAL, busy timeout).

use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::Mutex;

/// A store error (SQLite), with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("notification store: {what}: {source}")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: rusqlite::Error,
}

fn ctx(what: &'static str) -> impl FnOnce(rusqlite::Error) -> StoreError {
    move |source| StoreError { what, source }
}

/// One notification-log entry: what a receiver integration was last told
/// about a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NflogEntry {
    pub firing: Vec<u64>,
    pub resolved: Vec<u64>,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

/// One row of the notification history: a delivery attempt, or a
/// notification that did not happen (silenced, inhibited, time-muted).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeliveryRecord {
    pub ts_ms: i64,
    pub group_key: String,
    pub receiver: String,
    pub integration: String,
    pub ok: bool,
    pub detail: String,
    /// `delivery`, `suppressed` (silence or inhibition) or `muted` (time interval).
    pub kind: String,
    /// The route path taken, e.g. `root › {team="a"}`.
    pub route: String,
    /// The group timers that applied.
    pub timers: String,
    /// The alerts concerned, as label sets.
    pub alerts: String,
}

/// Columns added after the first release, added to older databases on open.
const HISTORY_COLUMNS: [&str; 4] = ["kind", "route", "timers", "alerts"];

/// The SQLite-backed store.
pub struct Store {
    conn: Mutex<Connection>,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS notify_silences (id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notify_nflog (
    group_key TEXT NOT NULL, receiver TEXT NOT NULL, integration INTEGER NOT NULL,
    firing TEXT NOT NULL, resolved TEXT NOT NULL, ts INTEGER NOT NULL,
    PRIMARY KEY (group_key, receiver, integration));
CREATE TABLE IF NOT EXISTS notify_alerts (fingerprint TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS notify_history (
    id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, group_key TEXT NOT NULL, receiver TEXT NOT NULL,
    integration TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL);
";

fn join(v: &[u64]) -> String {
    v.iter().map(|f| format!("{f:016x}")).collect::<Vec<_>>().join(",")
}

fn split(s: &str) -> Vec<u64> {
    s.split(',').filter(|p| !p.is_empty()).filter_map(|p| u64::from_str_radix(p, 16).ok()).collect()
}

impl Store {
    /// Opens (creating if needed) `<data_dir>/sightline.db` and the tables.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let conn = Connection::open(data_dir.join("sightline.db")).map_err(ctx("open database"))?;
        Self::init(conn)
    }

    /// An in-memory store (tests, or running without a data dir).
    pub fn in_memory() -> Result<Store, StoreError> {
        Self::init(Connection::open_in_memory().map_err(ctx("open in-memory database"))?)
    }

    fn init(conn: Connection) -> Result<Store, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5)).map_err(ctx("set busy timeout"))?;
        // In-memory databases answer "memory"; that is fine.
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(ctx("enable WAL"))?;
        conn.execute_batch(SCHEMA).map_err(ctx("create tables"))?;
        let have: Vec<String> = {
            let mut st = conn.prepare("PRAGMA table_info(notify_history)").map_err(ctx("read history schema"))?;
            let rows = st.query_map([], |r| r.get::<_, String>(1)).map_err(ctx("read history schema"))?;
            rows.collect::<Result<_, _>>().map_err(ctx("read history schema"))?
        };
        for col in HISTORY_COLUMNS.iter().filter(|c| !have.iter().any(|h| h == *c)) {
            let default = if *col == "kind" { "delivery" } else { "" };
            conn.execute_batch(&format!(
                "ALTER TABLE notify_history ADD COLUMN {col} TEXT NOT NULL DEFAULT '{default}'"
            ))
            .map_err(ctx("add history column"))?;
        }
        Ok(Store { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent; keep going.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inserts or replaces a silence (JSON body).
    pub fn put_silence(&self, id: &str, body: &str) -> Result<(), StoreError> {
        self.conn()
            .execute("INSERT OR REPLACE INTO notify_silences (id, body) VALUES (?1, ?2)", params![id, body])
            .map_err(ctx("save silence"))?;
        Ok(())
    }

    /// Deletes a silence (garbage collection of long-expired ones).
    pub fn delete_silence(&self, id: &str) -> Result<(), StoreError> {
        self.conn().execute("DELETE FROM notify_silences WHERE id = ?1", params![id]).map_err(ctx("delete silence"))?;
        Ok(())
    }

    /// All silence bodies.
    pub fn silences(&self) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT body FROM notify_silences").map_err(ctx("list silences"))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(ctx("list silences"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(ctx("list silences"))
    }

    /// The notification-log entry for a group/receiver/integration.
    pub fn nflog_get(
        &self,
        group_key: &str,
        receiver: &str,
        integration: usize,
    ) -> Result<Option<NflogEntry>, StoreError> {
        self.conn()
            .query_row(
                "SELECT firing, resolved, ts FROM notify_nflog WHERE group_key = ?1 AND receiver = ?2 AND integration = ?3",
                params![group_key, receiver, integration as i64],
                |r| {
                    Ok(NflogEntry {
                        firing: split(&r.get::<_, String>(0)?),
                        resolved: split(&r.get::<_, String>(1)?),
                        timestamp_ms: r.get(2)?,
                    })
                },
            )
            .optional()
            .map_err(ctx("read notification log"))
    }

    /// Records what was just sent.
    pub fn nflog_put(
        &self,
        group_key: &str,
        receiver: &str,
        integration: usize,
        e: &NflogEntry,
    ) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO notify_nflog (group_key, receiver, integration, firing, resolved, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![group_key, receiver, integration as i64, join(&e.firing), join(&e.resolved), e.timestamp_ms],
            )
            .map_err(ctx("write notification log"))?;
        Ok(())
    }

    /// Drops log entries older than `before_ms` (retention).
    pub fn nflog_gc(&self, before_ms: i64) -> Result<usize, StoreError> {
        self.conn()
            .execute("DELETE FROM notify_nflog WHERE ts < ?1", params![before_ms])
            .map_err(ctx("clean notification log"))
    }

    /// Saves an alert (JSON body) so firing alerts survive a restart.
    pub fn put_alert(&self, fingerprint: u64, body: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT OR REPLACE INTO notify_alerts (fingerprint, body) VALUES (?1, ?2)",
                params![format!("{fingerprint:016x}"), body],
            )
            .map_err(ctx("save alert"))?;
        Ok(())
    }

    /// Saves many alerts in one transaction (one receive call).
    pub fn put_alerts(&self, alerts: &[(u64, String)]) -> Result<(), StoreError> {
        let mut c = self.conn();
        let tx = c.transaction().map_err(ctx("save alerts"))?;
        {
            let mut st = tx
                .prepare_cached("INSERT OR REPLACE INTO notify_alerts (fingerprint, body) VALUES (?1, ?2)")
                .map_err(ctx("save alerts"))?;
            for (fp, body) in alerts {
                st.execute(params![format!("{fp:016x}"), body]).map_err(ctx("save alerts"))?;
            }
        }
        tx.commit().map_err(ctx("save alerts"))
    }

    /// Forgets an alert.
    pub fn delete_alert(&self, fingerprint: u64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM notify_alerts WHERE fingerprint = ?1", params![format!("{fingerprint:016x}")])
            .map_err(ctx("delete alert"))?;
        Ok(())
    }

    /// All saved alert bodies.
    pub fn alerts(&self) -> Result<Vec<String>, StoreError> {
        let c = self.conn();
        let mut st = c.prepare("SELECT body FROM notify_alerts").map_err(ctx("list alerts"))?;
        let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(ctx("list alerts"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(ctx("list alerts"))
    }

    /// Appends a delivery attempt; keeps the newest 10 000.
    pub fn record_delivery(&self, d: &DeliveryRecord) -> Result<(), StoreError> {
        let c = self.conn();
        let kind = if d.kind.is_empty() { "delivery" } else { d.kind.as_str() };
        c.execute(
            "INSERT INTO notify_history (ts, group_key, receiver, integration, ok, detail, kind, route, timers, alerts) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            params![d.ts_ms, d.group_key, d.receiver, d.integration, d.ok as i64, d.detail, kind, d.route, d.timers, d.alerts],
        )
        .map_err(ctx("record delivery"))?;
        c.execute("DELETE FROM notify_history WHERE id <= (SELECT MAX(id) FROM notify_history) - 10000", [])
            .map_err(ctx("trim delivery history"))?;
        Ok(())
    }

    /// The newest `limit` delivery attempts, newest first.
    pub fn history(&self, limit: usize) -> Result<Vec<DeliveryRecord>, StoreError> {
        self.history_matching(limit, "")
    }

    /// The newest `limit` history rows whose alerts, group key, receiver or
    /// route contain `filter` (case-insensitive; all rows when empty).
    pub fn history_matching(&self, limit: usize, filter: &str) -> Result<Vec<DeliveryRecord>, StoreError> {
        let c = self.conn();
        let mut st = c
            .prepare(
                "SELECT ts, group_key, receiver, integration, ok, detail, kind, route, timers, alerts FROM notify_history \
                 WHERE ?2 = '' OR instr(lower(alerts || ' ' || group_key || ' ' || receiver || ' ' || route), lower(?2)) > 0 \
                 ORDER BY id DESC LIMIT ?1",
            )
            .map_err(ctx("read history"))?;
        let rows = st
            .query_map(params![limit as i64, filter], |r| {
                Ok(DeliveryRecord {
                    ts_ms: r.get(0)?,
                    group_key: r.get(1)?,
                    receiver: r.get(2)?,
                    integration: r.get(3)?,
                    ok: r.get::<_, i64>(4)? != 0,
                    detail: r.get(5)?,
                    kind: r.get(6)?,
                    route: r.get(7)?,
                    timers: r.get(8)?,
                    alerts: r.get(9)?,
                })
            })
            .map_err(ctx("read history"))?;
        rows.collect::<Result<Vec<_>, _>>().map_err(ctx("read history"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nflog_round_trip_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let e = NflogEntry { firing: vec![1, u64::MAX], resolved: vec![], timestamp_ms: 42 };
        {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.nflog_get("g", "r", 0).unwrap(), None);
            s.nflog_put("g", "r", 0, &e).unwrap();
            s.put_silence("a", "{}").unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.nflog_get("g", "r", 0).unwrap(), Some(e));
        assert_eq!(s.silences().unwrap(), vec!["{}".to_string()]);
        assert_eq!(s.nflog_gc(100).unwrap(), 1);
    }

    #[test]
    fn history_filters_and_upgrades_old_tables() {
        let dir = tempfile::tempdir().unwrap();
        {
            // A database written before the route/timers/alerts columns existed.
            let c = Connection::open(dir.path().join("sightline.db")).unwrap();
            c.execute_batch(
                "CREATE TABLE notify_history (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL, group_key TEXT NOT NULL, \
                 receiver TEXT NOT NULL, integration TEXT NOT NULL, ok INTEGER NOT NULL, detail TEXT NOT NULL); \
                 INSERT INTO notify_history (ts, group_key, receiver, integration, ok, detail) VALUES (1, 'g', 'r', 'webhook[0]', 1, 'old');",
            )
            .unwrap();
        }
        let s = Store::open(dir.path()).unwrap();
        let old = s.history(10).unwrap();
        assert_eq!((old[0].kind.as_str(), old[0].detail.as_str()), ("delivery", "old"));
        s.record_delivery(&DeliveryRecord {
            ts_ms: 2,
            group_key: "{}:{}".into(),
            receiver: "pager".into(),
            integration: "-".into(),
            detail: "suppressed by silence abc".into(),
            kind: "suppressed".into(),
            route: "root › {team=\"a\"}".into(),
            alerts: "{alertname=\"DiskFull\"}".into(),
            ..Default::default()
        })
        .unwrap();
        let rows = s.history_matching(10, "diskfull").unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].route, "root › {team=\"a\"}");
        assert_eq!(s.history_matching(10, "").unwrap().len(), 2);
        assert!(s.history_matching(10, "nothing-like-this").unwrap().is_empty());
    }
}
