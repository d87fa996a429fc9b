//! The durable queue of the remote-write sender: one SQLite file
//! (`<data>/remote_write_queue.db`, WAL) holding, per remote, rows of
//! ready-to-send request bodies (snappy-compressed `WriteRequest`s) in the
//! order they were made. A row is deleted only once the remote accepted it,
//! so a restart or an outage of the remote loses nothing within the bound.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::RemoteError;

/// The queue file's name inside the data folder.
pub const QUEUE_FILE: &str = "remote_write_queue.db";

/// One queued request.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// Position in the queue (increasing).
    pub id: i64,
    /// Timestamp (ms) of the oldest sample in the request.
    pub oldest_ts: i64,
    /// Samples in the request.
    pub samples: u64,
    /// The HTTP body: protobuf, snappy block-compressed.
    pub body: Vec<u8>,
}

/// Size of one remote's queue.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueSize {
    /// Rows (requests) waiting.
    pub rows: u64,
    /// Bytes of request bodies waiting.
    pub bytes: u64,
    /// Timestamp (ms) of the oldest waiting sample; None when empty.
    pub oldest_ts: Option<i64>,
}

/// The SQLite-backed queue shared by every remote (rows carry the remote's name).
pub struct Queue {
    conn: Mutex<Connection>,
}

fn db(what: &'static str) -> impl FnOnce(rusqlite::Error) -> RemoteError {
    move |source| RemoteError::Queue { what, source }
}

impl Queue {
    /// Opens (or creates) the queue file in `data_dir`.
    pub fn open(data_dir: &Path) -> Result<Queue, RemoteError> {
        std::fs::create_dir_all(data_dir)
            .map_err(|e| RemoteError::Io(format!("creating {}: {e}", data_dir.display())))?;
        let conn = Connection::open(data_dir.join(QUEUE_FILE)).map_err(db("open remote_write_queue.db"))?;
        Self::init(conn)
    }

    /// An in-memory queue, for tests.
    pub fn in_memory() -> Result<Queue, RemoteError> {
        Self::init(Connection::open_in_memory().map_err(db("open in-memory queue"))?)
    }

    fn init(conn: Connection) -> Result<Queue, RemoteError> {
        let _: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(db("enable WAL"))?;
        conn.execute_batch(
            "PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS queue (
                 id INTEGER PRIMARY KEY AUTOINCREMENT,
                 remote TEXT NOT NULL,
                 oldest_ts INTEGER NOT NULL,
                 samples INTEGER NOT NULL,
                 body BLOB NOT NULL
             );
             CREATE INDEX IF NOT EXISTS queue_remote ON queue (remote, id);",
        )
        .map_err(db("create the queue table"))?;
        Ok(Queue { conn: Mutex::new(conn) })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends requests for `remote` in one transaction.
    pub fn push(&self, remote: &str, rows: &[(i64, u64, Vec<u8>)]) -> Result<(), RemoteError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(db("begin"))?;
        {
            let mut st = tx
                .prepare_cached("INSERT INTO queue (remote, oldest_ts, samples, body) VALUES (?1, ?2, ?3, ?4)")
                .map_err(db("prepare insert"))?;
            for (oldest, samples, body) in rows {
                st.execute(params![remote, oldest, *samples as i64, body]).map_err(db("insert a request"))?;
            }
        }
        tx.commit().map_err(db("commit"))
    }

    /// The oldest waiting request of `remote`.
    pub fn first(&self, remote: &str) -> Result<Option<Row>, RemoteError> {
        self.conn()
            .query_row(
                "SELECT id, oldest_ts, samples, body FROM queue WHERE remote = ?1 ORDER BY id LIMIT 1",
                params![remote],
                |r| {
                    Ok(Row {
                        id: r.get(0)?,
                        oldest_ts: r.get(1)?,
                        samples: r.get::<_, i64>(2)? as u64,
                        body: r.get(3)?,
                    })
                },
            )
            .optional()
            .map_err(db("read the oldest request"))
    }

    /// Removes a request (sent, or refused for good).
    pub fn delete(&self, id: i64) -> Result<(), RemoteError> {
        self.conn().execute("DELETE FROM queue WHERE id = ?1", params![id]).map_err(db("delete a request"))?;
        Ok(())
    }

    /// Rows, bytes and oldest sample of `remote`'s queue.
    pub fn size(&self, remote: &str) -> Result<QueueSize, RemoteError> {
        self.conn()
            .query_row(
                "SELECT COUNT(*), COALESCE(SUM(length(body)), 0), MIN(oldest_ts) FROM queue WHERE remote = ?1",
                params![remote],
                |r| {
                    Ok(QueueSize {
                        rows: r.get::<_, i64>(0)? as u64,
                        bytes: r.get::<_, i64>(1)? as u64,
                        oldest_ts: r.get(2)?,
                    })
                },
            )
            .map_err(db("measure the queue"))
    }

    /// Drops the oldest requests of `remote` until its bodies fit in
    /// `max_bytes`; returns the number of samples dropped.
    pub fn enforce_limit(&self, remote: &str, max_bytes: u64) -> Result<u64, RemoteError> {
        let mut bytes = self.size(remote)?.bytes;
        let mut dropped = 0;
        while bytes > max_bytes {
            let oldest: Option<(i64, i64, i64)> = self
                .conn()
                .query_row(
                    "SELECT id, samples, length(body) FROM queue WHERE remote = ?1 ORDER BY id LIMIT 1",
                    params![remote],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(db("find the oldest request"))?;
            let Some((id, samples, len)) = oldest else { break };
            self.delete(id)?;
            dropped += samples as u64;
            bytes = bytes.saturating_sub(len as u64);
        }
        Ok(dropped)
    }

    /// Deletes the rows of remotes no longer configured; returns how many rows went.
    pub fn forget_others(&self, keep: &[&str]) -> Result<usize, RemoteError> {
        let conn = self.conn();
        let names: Vec<String> = {
            let mut st = conn.prepare("SELECT DISTINCT remote FROM queue").map_err(db("list remotes"))?;
            let rows = st.query_map([], |r| r.get::<_, String>(0)).map_err(db("list remotes"))?;
            rows.collect::<Result<_, _>>().map_err(db("list remotes"))?
        };
        let mut n = 0;
        for name in names.iter().filter(|n| !keep.contains(&n.as_str())) {
            n += conn.execute("DELETE FROM queue WHERE remote = ?1", params![name]).map_err(db("forget a remote"))?;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_in_order_per_remote() {
        let q = Queue::in_memory().unwrap();
        q.push("a", &[(10, 1, vec![1]), (20, 2, vec![2, 2])]).unwrap();
        q.push("b", &[(5, 1, vec![9])]).unwrap();
        q.push("a", &[(30, 3, vec![3, 3, 3])]).unwrap();
        let mut got = Vec::new();
        while let Some(r) = q.first("a").unwrap() {
            got.push((r.oldest_ts, r.samples, r.body.clone()));
            q.delete(r.id).unwrap();
        }
        assert_eq!(got, vec![(10, 1, vec![1]), (20, 2, vec![2, 2]), (30, 3, vec![3, 3, 3])]);
        assert_eq!(q.size("b").unwrap(), QueueSize { rows: 1, bytes: 1, oldest_ts: Some(5) });
        assert_eq!(q.size("a").unwrap(), QueueSize { rows: 0, bytes: 0, oldest_ts: None });
    }

    #[test]
    fn size_bound_drops_oldest_first() {
        let q = Queue::in_memory().unwrap();
        q.push("a", &[(1, 10, vec![0; 100]), (2, 20, vec![0; 100]), (3, 30, vec![0; 100])]).unwrap();
        q.push("other", &[(1, 5, vec![0; 500])]).unwrap();
        assert_eq!(q.enforce_limit("a", 300).unwrap(), 0, "within the bound nothing goes");
        assert_eq!(q.enforce_limit("a", 150).unwrap(), 30, "the two oldest (10 + 20 samples) are dropped");
        let left = q.first("a").unwrap().unwrap();
        assert_eq!((left.oldest_ts, left.samples), (3, 30));
        assert_eq!(q.size("other").unwrap().rows, 1, "other remotes are untouched");
    }

    #[test]
    fn survives_reopen_and_forgets_removed_remotes() {
        let dir = tempfile::tempdir().unwrap();
        {
            let q = Queue::open(dir.path()).unwrap();
            q.push("a", &[(1, 1, vec![1])]).unwrap();
            q.push("gone", &[(1, 1, vec![1])]).unwrap();
        }
        let q = Queue::open(dir.path()).unwrap();
        assert_eq!(q.first("a").unwrap().map(|r| r.body), Some(vec![1]));
        assert_eq!(q.forget_others(&["a"]).unwrap(), 1);
        assert_eq!(q.size("gone").unwrap().rows, 0);
        assert_eq!(q.size("a").unwrap().rows, 1);
    }
}
