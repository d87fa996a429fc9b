//! The SQLite-backed store: one file, WAL mode, one writer thread that
//! batches commits into transactions, read-only connections for queries.
//!
//! The series index (label sets and their time bounds) lives in memory and is
//! loaded at start-up, so matchers are answered without touching SQLite.

use super::{matches_all, Appendable, Appender, Labels, Matcher, Querier, Sample, Series, TsdbError};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;

/// Marks a SQLite file as Sightline's (PRAGMA application_id), so a foreign
/// database at the data path is refused instead of written into.
const APPLICATION_ID: i32 = 0x5349_4748; // "SIGH"

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[include_str!("../../migrations/0001_init.sql")];

pub const DB_FILE: &str = "sightline.db";

#[derive(Clone, Debug)]
struct IndexEntry {
    labels: Labels,
    /// Committed time bounds; `None` until the first sample is committed.
    bounds: Option<(i64, i64)>,
    last_value: f64,
    persisted: bool,
}

#[derive(Default)]
struct Index {
    by_labels: HashMap<Labels, i64>,
    entries: HashMap<i64, IndexEntry>,
}

struct Batch {
    new_series: Vec<(i64, Labels)>,
    samples: Vec<(i64, i64, f64)>,
    done: mpsc::SyncSender<Result<(), String>>,
}

enum WriterMsg {
    Batch(Batch),
    Shutdown,
}

struct Inner {
    path: PathBuf,
    index: RwLock<Index>,
    next_id: AtomicI64,
    writer: Mutex<Option<(mpsc::Sender<WriterMsg>, JoinHandle<()>)>>,
    readers: Mutex<Vec<Connection>>,
    samples_appended: AtomicU64,
}

/// Figures for the status page and self-monitoring.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    pub series: usize,
    pub samples_appended: u64,
    pub size_bytes: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
}

/// The store. Cheap to clone; all clones share one writer.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> TsdbError + '_ {
    move |source| TsdbError::Sqlite { path: path.display().to_string(), source }
}

impl Db {
    /// Opens (or creates) `dir/sightline.db`, applies migrations and loads the series index.
    pub fn open(dir: &Path) -> Result<Db, TsdbError> {
        std::fs::create_dir_all(dir).map_err(|source| TsdbError::Io { path: dir.display().to_string(), source })?;
        let path = dir.join(DB_FILE);
        let err = sql_err(&path);
        let conn = Connection::open(&path).map_err(&err)?;
        // A file that is not SQLite fails here, before anything is written.
        let app_id: i32 = conn.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| TsdbError::Foreign {
            path: path.display().to_string(),
            why: e.to_string(),
        })?;
        let table_count: i64 =
            conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(&err)?;
        if app_id != APPLICATION_ID && (app_id != 0 || table_count > 0) {
            return Err(TsdbError::Foreign {
                path: path.display().to_string(),
                why: format!("application_id is {app_id:#x} with {table_count} schema objects; refusing to touch it"),
            });
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
        conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(&err)?;
        migrate(&conn).map_err(&err)?;

        let index = load_index(&conn).map_err(&err)?;
        let next_id = index.entries.keys().max().copied().unwrap_or(0) + 1;
        let (tx, rx) = mpsc::channel();
        let writer_path = path.clone();
        let handle = std::thread::Builder::new()
            .name("tsdb-writer".into())
            .spawn(move || writer_loop(conn, rx, &writer_path))
            .map_err(|source| TsdbError::Io { path: path.display().to_string(), source })?;
        drop(err);
        Ok(Db {
            inner: Arc::new(Inner {
                path,
                index: RwLock::new(index),
                next_id: AtomicI64::new(next_id),
                writer: Mutex::new(Some((tx, handle))),
                readers: Mutex::new(Vec::new()),
                samples_appended: AtomicU64::new(0),
            }),
        })
    }

    /// Flushes pending writes and stops the writer thread. Appends after
    /// this fail with [`TsdbError::Closed`].
    pub fn close(&self) {
        let writer = self.inner.writer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((tx, handle)) = writer {
            let _ = tx.send(WriterMsg::Shutdown);
            let _ = handle.join();
        }
    }

    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    pub fn stats(&self) -> DbStats {
        let index = self.inner.index.read().unwrap_or_else(|e| e.into_inner());
        let bounds = index.entries.values().filter_map(|e| e.bounds);
        let (mut min_time, mut max_time) = (None::<i64>, None::<i64>);
        for (lo, hi) in bounds {
            min_time = Some(min_time.map_or(lo, |m| m.min(lo)));
            max_time = Some(max_time.map_or(hi, |m| m.max(hi)));
        }
        let size_bytes = [DB_FILE.to_string(), format!("{DB_FILE}-wal")]
            .iter()
            .filter_map(|f| std::fs::metadata(self.inner.path.with_file_name(f)).ok())
            .map(|m| m.len())
            .sum();
        DbStats {
            series: index.entries.len(),
            samples_appended: self.inner.samples_appended.load(Ordering::Relaxed),
            size_bytes,
            min_time,
            max_time,
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, TsdbError> {
        let err = sql_err(&self.inner.path);
        let conn = self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => Connection::open_with_flags(
                &self.inner.path,
                OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .map_err(&err)?,
        };
        let out = f(&conn).map_err(&err);
        self.inner.readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        out
    }

    /// Ids and labels of series matching `matchers` whose committed samples overlap `[mint, maxt]`.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(i64, Labels)> {
        let index = self.inner.index.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(i64, Labels)> = index
            .entries
            .iter()
            .filter(|(_, e)| e.bounds.is_some_and(|(lo, hi)| lo <= maxt && hi >= mint))
            .filter(|(_, e)| matches_all(matchers, &e.labels))
            .map(|(id, e)| (*id, e.labels.clone()))
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }
}

fn migrate(conn: &Connection) -> rusqlite::Result<()> {
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(())
}

fn load_index(conn: &Connection) -> rusqlite::Result<Index> {
    let mut index = Index::default();
    let mut stmt = conn.prepare(
        "SELECT s.id, s.labels,
                (SELECT min(t) FROM samples WHERE series_id = s.id),
                (SELECT max(t) FROM samples WHERE series_id = s.id)
         FROM series s",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<i64>>(2)?, r.get::<_, Option<i64>>(3)?))
    })?;
    for row in rows {
        let (id, json, lo, hi) = row?;
        let pairs: Vec<(String, String)> = serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&json)
            .map(|m| m.into_iter().map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string())).collect())
            .unwrap_or_default();
        let labels = Labels::from_pairs(pairs);
        let last_value = match hi {
            Some(t) => conn
                .query_row("SELECT v FROM samples WHERE series_id = ?1 AND t = ?2", params![id, t], |r| r.get::<_, i64>(0))
                .optional()?
                .map_or(f64::NAN, |bits| f64::from_bits(bits as u64)),
            None => f64::NAN,
        };
        let bounds = lo.zip(hi);
        index.by_labels.insert(labels.clone(), id);
        index.entries.insert(id, IndexEntry { labels, bounds, last_value, persisted: true });
    }
    Ok(index)
}

fn labels_json(labels: &Labels) -> String {
    let map: serde_json::Map<String, serde_json::Value> =
        labels.iter().map(|l| (l.name.clone(), serde_json::Value::String(l.value.clone()))).collect();
    serde_json::Value::Object(map).to_string()
}

/// Drains every batch waiting in the channel and writes them in one
/// transaction: many small scrapes become one fsync.
fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<WriterMsg>, path: &Path) {
    let mut shutdown = false;
    while !shutdown {
        let mut batches = match rx.recv() {
            Ok(WriterMsg::Batch(b)) => vec![b],
            Ok(WriterMsg::Shutdown) | Err(_) => break,
        };
        while let Ok(msg) = rx.try_recv() {
            match msg {
                WriterMsg::Batch(b) => batches.push(b),
                WriterMsg::Shutdown => shutdown = true,
            }
        }
        let result = write_batches(&mut conn, &batches).map_err(|e| e.to_string());
        if let Err(e) = &result {
            tracing::error!(db = %path.display(), error = %e, "writing samples failed");
        }
        for b in batches {
            let _ = b.done.send(result.clone());
        }
    }
    let _ = conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
}

fn write_batches(conn: &mut Connection, batches: &[Batch]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut ins_series = tx.prepare_cached("INSERT OR IGNORE INTO series (id, labels) VALUES (?1, ?2)")?;
        let mut ins_sample = tx.prepare_cached("INSERT OR REPLACE INTO samples (series_id, t, v) VALUES (?1, ?2, ?3)")?;
        for b in batches {
            for (id, labels) in &b.new_series {
                ins_series.execute(params![id, labels_json(labels)])?;
            }
            for (id, t, v) in &b.samples {
                ins_sample.execute(params![id, t, v.to_bits() as i64])?;
            }
        }
    }
    tx.commit()
}

struct DbAppender {
    db: Db,
    new_series: Vec<(i64, Labels)>,
    samples: Vec<(i64, i64, f64)>,
    /// Last sample appended in this batch per series, for order checks.
    last: HashMap<i64, (i64, f64)>,
}

impl Appender for DbAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        if labels.metric_name().is_none() {
            return Err(TsdbError::NoMetricName(labels.clone()));
        }
        let inner = &self.db.inner;
        let found = {
            let index = inner.index.read().unwrap_or_else(|e| e.into_inner());
            index.by_labels.get(labels).map(|id| (*id, index.entries[id].clone()))
        };
        let (id, committed_last) = match found {
            Some((id, entry)) => {
                if !entry.persisted && !self.new_series.iter().any(|(i, _)| *i == id) {
                    self.new_series.push((id, labels.clone()));
                }
                (id, entry.bounds.map(|(_, hi)| (hi, entry.last_value)))
            }
            None => {
                let mut index = inner.index.write().unwrap_or_else(|e| e.into_inner());
                // Another appender may have created it between the two locks.
                let id = match index.by_labels.get(labels) {
                    Some(id) => *id,
                    None => {
                        let id = inner.next_id.fetch_add(1, Ordering::Relaxed);
                        index.by_labels.insert(labels.clone(), id);
                        index.entries.insert(
                            id,
                            IndexEntry { labels: labels.clone(), bounds: None, last_value: f64::NAN, persisted: false },
                        );
                        id
                    }
                };
                self.new_series.push((id, labels.clone()));
                (id, None)
            }
        };
        if let Some((last_t, last_v)) = self.last.get(&id).copied().or(committed_last) {
            if t < last_t {
                return Err(TsdbError::OutOfOrder { labels: labels.clone(), t, last: last_t });
            }
            if t == last_t {
                if v.to_bits() == last_v.to_bits() {
                    return Ok(());
                }
                return Err(TsdbError::Duplicate { labels: labels.clone(), t });
            }
        }
        self.last.insert(id, (t, v));
        self.samples.push((id, t, v));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), TsdbError> {
        if self.samples.is_empty() && self.new_series.is_empty() {
            return Ok(());
        }
        let inner = &self.db.inner;
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let sent = {
            let writer = inner.writer.lock().unwrap_or_else(|e| e.into_inner());
            match writer.as_ref() {
                Some((tx, _)) => tx
                    .send(WriterMsg::Batch(Batch {
                        new_series: self.new_series.clone(),
                        samples: self.samples.clone(),
                        done: done_tx,
                    }))
                    .is_ok(),
                None => false,
            }
        };
        if !sent {
            return Err(TsdbError::Closed);
        }
        let result = done_rx.recv().map_err(|_| TsdbError::Closed)?;
        if let Err(e) = result {
            return Err(TsdbError::Sqlite {
                path: inner.path.display().to_string(),
                source: rusqlite::Error::ToSqlConversionFailure(e.into()),
            });
        }
        let mut index = inner.index.write().unwrap_or_else(|e| e.into_inner());
        for (id, _) in &self.new_series {
            if let Some(e) = index.entries.get_mut(id) {
                e.persisted = true;
            }
        }
        for (id, (t, v)) in &self.last {
            if let Some(e) = index.entries.get_mut(id) {
                let first_t = self.samples.iter().find(|s| s.0 == *id).map_or(*t, |s| s.1);
                e.bounds = Some(match e.bounds {
                    Some((lo, hi)) => (lo.min(first_t), hi.max(*t)),
                    None => (first_t, *t),
                });
                if e.bounds.is_some_and(|(_, hi)| hi == *t) {
                    e.last_value = *v;
                }
            }
        }
        inner.samples_appended.fetch_add(self.samples.len() as u64, Ordering::Relaxed);
        Ok(())
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(DbAppender { db: self.clone(), new_series: Vec::new(), samples: Vec::new(), last: HashMap::new() })
    }
}

impl Querier for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError> {
        let ids = self.matching(matchers, mint, maxt);
        self.with_reader(|conn| {
            let mut stmt =
                conn.prepare_cached("SELECT t, v FROM samples WHERE series_id = ?1 AND t >= ?2 AND t <= ?3 ORDER BY t")?;
            let mut out = Vec::with_capacity(ids.len());
            for (id, labels) in ids {
                let samples = stmt
                    .query_map(params![id, mint, maxt], |r| {
                        Ok(Sample { t: r.get(0)?, v: f64::from_bits(r.get::<_, i64>(1)? as u64) })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                if !samples.is_empty() {
                    out.push(Series { labels, samples });
                }
            }
            Ok(out)
        })
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError> {
        Ok(self.matching(matchers, mint, maxt).into_iter().map(|(_, l)| l).collect())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.writer.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(WriterMsg::Shutdown);
            let _ = handle.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{is_stale_nan, STALE_NAN};

    fn labels(v: &str) -> Labels {
        Labels::from_pairs([("__name__", "m"), ("i", v)])
    }

    #[test]
    fn roundtrip_survives_reopen_bit_exact() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = Db::open(dir.path()).unwrap();
            let mut app = db.appender();
            app.append(&labels("a"), 1000, 1.5).unwrap();
            app.append(&labels("a"), 2000, STALE_NAN).unwrap();
            app.append(&labels("b"), 1000, -0.0).unwrap();
            app.commit().unwrap();
            db.close();
        }
        let db = Db::open(dir.path()).unwrap();
        let got = db.select(&[Matcher::equal("__name__", "m")], 0, 5000).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].samples[0], Sample { t: 1000, v: 1.5 });
        assert!(is_stale_nan(got[0].samples[1].v));
        assert_eq!(got[1].samples[0].v.to_bits(), (-0.0f64).to_bits());
        // Order checks use the reloaded index.
        let mut app = db.appender();
        assert!(matches!(app.append(&labels("a"), 1500, 1.0), Err(TsdbError::OutOfOrder { .. })));
        assert_eq!(db.stats().series, 2);
    }

    #[test]
    fn range_bounds_are_inclusive() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(dir.path()).unwrap();
        let mut app = db.appender();
        for t in [10, 20, 30] {
            app.append(&labels("a"), t, t as f64).unwrap();
        }
        app.commit().unwrap();
        let got = db.select(&[], 20, 30).unwrap();
        assert_eq!(got[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(), [20, 30]);
        assert!(db.select(&[], 31, 40).unwrap().is_empty());
        assert_eq!(db.label_values("i", &[], 0, 100).unwrap(), ["a"]);
    }

    #[test]
    fn refuses_foreign_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DB_FILE);
        let c = Connection::open(&path).unwrap();
        c.execute_batch("CREATE TABLE other (x)").unwrap();
        drop(c);
        assert!(matches!(Db::open(dir.path()), Err(TsdbError::Foreign { .. })));
        std::fs::write(&path, b"hello, this is not sqlite at all, not even close to it....").unwrap();
        assert!(Db::open(dir.path()).is_err());
        assert_eq!(std::fs::read(&path).unwrap()[..5], *b"hello");
    }
}
