//! The store: one SQLite file (WAL mode) holding compressed chunks.
//!
//! - Series and their interned labels are in memory ([`Index`]) and in the
//!   `strings`/`series` tables.
//! - The head keeps each series' open Gorilla chunk in memory. Chunks are cut
//!   at fixed `chunk_span` boundaries; sealed chunks are written to `chunks`
//!   by one writer thread in key-ordered batches.
//! - Every flush interval the writer stores that interval's samples as one
//!   `head_log` row, in the same transaction as new series and sealed chunks,
//!   and deletes log rows whose samples are all in written chunks. Start-up
//!   replays what is left.
//! - Compaction folds chunks of closed `block_span` windows into one block per
//!   series with the smallest codec ([`codec::encode_block`]); retention deletes
//!   rows older than the retention period. Both run in small steps.
//! - Queries read the head under short locks, then chunks and blocks through
//!   read-only connections in one read transaction.

use super::codec::{self, HeadChunk};
use super::headlog::{self, LogSample};
use super::index::{self, Index};
use super::paged::Paged;
use super::rollup::{self, Aggr, Pick};
use super::{
    Appendable, Appender, Labels, Matcher, Querier, Sample, SelectHints, Series, SeriesRef, StepValues, TsdbError,
};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Marks a SQLite file as Sightline's (PRAGMA application_id), so a foreign
/// database at the data path is refused instead of written into.
pub(super) const APPLICATION_ID: i32 = 0x5349_4748; // "SIGH"

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[
    include_str!("../../migrations/0001_init.sql"),
    include_str!("../../migrations/0002_time_index_rollups.sql"),
    include_str!("../../migrations/0003_fewer_indexes.sql"),
];

/// The database file inside the data directory.
pub const DB_FILE: &str = "sightline.db";

/// Head shards: appends to different shards do not contend.
const SHARDS: usize = 64;
/// Series compacted per maintenance step (keeps each step short).
const COMPACT_BATCH: usize = 500;
/// Rows deleted per retention step.
const RETENTION_BATCH: usize = 20_000;
/// Raw blocks rolled up per retention step: decoding, bucketing and
/// encoding six aggregates costs ~0.3 ms a block (debug build: more).
const ROLLUP_BATCH: usize = 1_000;
/// Rows deleted per size-retention step (oldest first); measured at ~20 ms
/// for 2 000 day blocks, so ingestion's flushes are never held up for long.
const SIZE_BATCH: usize = 2_000;
/// Free pages handed back to the file system per step (4 000 pages ≈ 16 MB).
const VACUUM_PAGES: i64 = 4_000;
/// Selections of at least this many series and compressed bytes decode on
/// two threads (a thread start costs ~30 µs; a 2 000-sample block ~10 µs).
const PARALLEL_MIN_SERIES: usize = 16;
const PARALLEL_MIN_BYTES: usize = 32 << 10;
/// Series decoded ahead of the consumer, whose results wait in memory
/// (reduced series are a value per step: 64 × 11 000 steps ≈ 11 MB at most).
/// With 16 the consumer often waited for the series the helper was on.
const PARALLEL_AHEAD: usize = 64;

/// Address space a reader connection maps the database file with.
const READER_MMAP_BYTES: i64 = 1 << 30;

/// Whether a second core is there to decode on.
fn parallel_ok() -> bool {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get())) > 1
}

/// An open chunk whose window ended this long before the newest sample
/// anywhere is sealed even without a new sample (the series went quiet).
const IDLE_SEAL_GRACE_MS: i64 = 60_000;

/// Tuning knobs; [`Options::default`] is what `Db::open` uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// Blocks and chunks whose newest sample is older than this are deleted.
    pub retention: Duration,
    /// How often the head log is written: at most this much is lost on a crash.
    pub flush_interval: Duration,
    /// Head chunks are cut at multiples of this span.
    pub chunk_span: Duration,
    /// Compaction folds chunks into one block per series per this span
    /// (rounded up to a multiple of `chunk_span`).
    pub block_span: Duration,
    /// SQLite page size, used when the file is created.
    pub page_size: u32,
    /// While the database file's used pages exceed this many bytes, the
    /// oldest rows (rollups, blocks, chunks: whichever is oldest) are deleted
    /// in small steps and the freed pages beyond the limit handed back.
    pub retention_size: Option<u64>,
    /// 5-minute rollups are kept this long (raw samples: `retention`).
    pub downsample_retention: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            retention: Duration::from_secs(30 * 86_400),
            flush_interval: Duration::from_secs(1),
            chunk_span: Duration::from_secs(30 * 60),
            block_span: Duration::from_secs(86_400),
            page_size: 4096,
            retention_size: None,
            downsample_retention: Duration::from_secs(365 * 86_400),
        }
    }
}

/// Figures for the status page and self-monitoring.
#[derive(Clone, Debug, Default)]
pub struct DbStats {
    pub series: usize,
    pub samples_appended: u64,
    pub size_bytes: u64,
    pub min_time: Option<i64>,
    pub max_time: Option<i64>,
    /// Samples rejected because they were older than the series' last sample.
    pub out_of_order: u64,
    /// Samples rejected because the series already had a different value at that time.
    pub duplicates: u64,
    /// Series with an open head chunk.
    pub active_series: usize,
    /// Series with an open chunk or sealed chunks not yet written.
    pub head_series: usize,
    /// Writer transactions that failed (e.g. disk full).
    pub write_errors: u64,
    /// True while writes fail: appends are refused, queries still work.
    pub unwritable: bool,
    /// Rough heap bytes of the index and the head.
    pub memory_bytes: usize,
    /// Bytes of the database file in use (its size minus free pages).
    pub used_bytes: u64,
    /// `storage.retention_size`, when set.
    pub retention_size: Option<u64>,
    /// Rows (blocks, chunks, rollups) deleted because they were older than the retention.
    pub time_retention_rows: u64,
    /// Rows deleted because the database exceeded `retention_size`.
    pub size_retention_rows: u64,
    /// Retention steps that deleted rows because of `retention_size`.
    pub size_retentions: u64,
    /// Raw blocks turned into 5-minute rollups before age retention deleted them.
    pub rollups_written: u64,
}

struct OpenChunk {
    app: HeadChunk,
    /// The head-log row holding this chunk's first sample.
    first_seq: u64,
}

impl OpenChunk {
    /// The chunk's first sample time (its stream starts with it).
    fn mint(&self) -> i64 {
        self.app.first_t().unwrap_or(i64::MAX)
    }

    /// The end of the chunk-span window the chunk started in.
    fn window_end(&self, span: i64) -> i64 {
        self.mint().div_euclid(span).saturating_mul(span).saturating_add(span)
    }
}

#[derive(Clone)]
struct SealedChunk {
    mint: i64,
    maxt: i64,
    data: Arc<[u8]>,
    first_seq: u64,
}

/// Sealed chunks not yet written: empty almost always, so one pointer
/// instead of a vector's three words.
#[derive(Default)]
// Boxed on purpose: 8 bytes in every series' state instead of a vector's 24.
#[allow(clippy::box_collection)]
struct SealedList(Option<Box<Vec<SealedChunk>>>);

impl SealedList {
    fn iter(&self) -> std::slice::Iter<'_, SealedChunk> {
        self.0.as_deref().map_or(&[][..], |v| &v[..]).iter()
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    fn push(&mut self, c: SealedChunk) {
        self.0.get_or_insert_with(Box::default).push(c);
    }

    /// Keeps the chunks `keep` accepts; an emptied list frees its allocation.
    fn retain(&mut self, keep: impl FnMut(&SealedChunk) -> bool) {
        if let Some(v) = &mut self.0 {
            v.retain(keep);
            if v.is_empty() {
                self.0 = None;
            }
        }
    }

    /// Heap bytes of the list itself (not the chunks' data).
    fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |v| 24 + v.capacity() * std::mem::size_of::<SealedChunk>())
    }
}

impl<'a> IntoIterator for &'a SealedList {
    type Item = &'a SealedChunk;
    type IntoIter = std::slice::Iter<'a, SealedChunk>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Per-series head state, kept small (96 bytes): there is one per series.
struct MemSeries {
    /// Time bounds of everything stored (`i64::MAX`/`i64::MIN` when empty).
    mint: i64,
    /// Also the open chunk's last sample time, which the chunk does not keep.
    maxt: i64,
    /// Bits of the value at `maxt` when `last_v_known` (also the open
    /// chunk's last value); otherwise it is only on disk (looked up if needed).
    last_bits: u64,
    /// Smallest `mint` among written chunks not yet compacted.
    raw_min: i64,
    /// Inline, not boxed: most series have one, and a box costs a pointer and an allocation.
    open: Option<OpenChunk>,
    /// Sealed chunks not yet written (queries read them from here).
    sealed: SealedList,
    /// Bit-stream bytes of the last sealed chunk: the next one starts with half of it.
    last_chunk_bytes: u32,
    last_v_known: bool,
}

impl MemSeries {
    fn new() -> Self {
        MemSeries {
            mint: i64::MAX,
            maxt: i64::MIN,
            last_bits: 0,
            last_v_known: false,
            raw_min: i64::MAX,
            open: None,
            sealed: SealedList::default(),
            last_chunk_bytes: 0,
        }
    }

    /// The value at `maxt`, when it is in memory.
    fn last_v(&self) -> Option<f64> {
        self.last_v_known.then(|| f64::from_bits(self.last_bits))
    }

    fn seal(&mut self) -> Option<i64> {
        let open = self.open.take()?;
        let (mint, maxt) = (open.mint(), self.maxt);
        // The blob is a fresh exact-size copy; the chunk's buffer goes with it.
        self.last_chunk_bytes = open.app.len_bytes().min(u32::MAX as usize) as u32;
        self.sealed.push(SealedChunk { mint, maxt, data: open.app.to_blob().into(), first_seq: open.first_seq });
        Some(mint)
    }

    /// Appends an in-order sample; returns the mint of a chunk it sealed.
    fn append(&mut self, t: i64, v: f64, seq: u64, span: i64) -> Option<i64> {
        let mut sealed = None;
        if self.open.as_ref().is_some_and(|o| t >= o.window_end(span) || o.app.is_full()) {
            sealed = self.seal();
        }
        match &mut self.open {
            // The open chunk's last sample is (maxt, last_bits): appends are in order.
            Some(open) => open.app.append(self.maxt, self.last_bits, t, v),
            None => {
                // Half the previous chunk: at most one reallocation per chunk, and no
                // more memory on average than growing by doubling.
                let mut app = HeadChunk::with_capacity(self.last_chunk_bytes as usize / 2 + 16);
                app.append(0, 0, t, v);
                self.open = Some(OpenChunk { app, first_seq: seq });
            }
        }
        self.mint = self.mint.min(t);
        self.maxt = t;
        self.last_bits = v.to_bits();
        self.last_v_known = true;
        sealed
    }
}

struct LogBuf {
    seq: u64,
    samples: Vec<LogSample>,
}

enum Msg {
    /// Run a tick now and report when it is written.
    Flush(mpsc::SyncSender<Result<(), String>>),
    /// Run one retention step now and report.
    Retention(mpsc::SyncSender<Result<(), String>>),
    /// Seal every open chunk and compact every window, then report.
    CompactAll(mpsc::SyncSender<Result<(), String>>),
    #[cfg(test)]
    Exec(Box<dyn FnOnce(&Connection) + Send>),
    Shutdown,
}

struct Inner {
    path: PathBuf,
    opts: Options,
    chunk_span_ms: i64,
    block_span_ms: i64,
    index: RwLock<Index>,
    shards: Vec<Mutex<Paged<MemSeries>>>,
    log: Mutex<LogBuf>,
    /// Sealed chunks waiting for the writer: (series id, mint).
    queue: Mutex<Vec<(u32, i64)>>,
    readers: Mutex<Vec<Connection>>,
    writer: Mutex<Option<(mpsc::Sender<Msg>, JoinHandle<()>)>>,
    /// Newest sample time committed anywhere.
    max_t: AtomicI64,
    samples_appended: AtomicU64,
    out_of_order: AtomicU64,
    duplicates: AtomicU64,
    write_errors: AtomicU64,
    unwritable: AtomicBool,
    last_write_error: Mutex<String>,
    used_bytes: AtomicU64,
    /// Newest sample time in any rollup (`i64::MIN`: none), so queries skip them cheaply.
    rollup_maxt: AtomicI64,
    rollups_written: AtomicU64,
    time_retention_rows: AtomicU64,
    size_retention_rows: AtomicU64,
    size_retentions: AtomicU64,
}

/// The store. Cheap to clone; all clones share one head and one writer.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn shard_of(id: u32) -> (usize, usize) {
    (id as usize % SHARDS, id as usize / SHARDS)
}

fn sql_err(path: &Path) -> impl Fn(rusqlite::Error) -> TsdbError + '_ {
    move |source| TsdbError::Sqlite { path: path.display().to_string(), source }
}

fn corrupt(path: &Path, what: String) -> TsdbError {
    TsdbError::Foreign { path: path.display().to_string(), why: what }
}

impl Db {
    /// Opens (or creates) `dir/sightline.db` with default [`Options`].
    pub fn open(dir: &Path) -> Result<Db, TsdbError> {
        Db::open_with(dir, Options::default())
    }

    /// Opens (or creates) `dir/sightline.db`, applies migrations, loads the
    /// index and replays the head log.
    pub fn open_with(dir: &Path, opts: Options) -> Result<Db, TsdbError> {
        std::fs::create_dir_all(dir).map_err(|source| TsdbError::Io { path: dir.display().to_string(), source })?;
        let path = dir.join(DB_FILE);
        let err = sql_err(&path);
        let conn = Connection::open(&path).map_err(&err)?;
        // A file that is not SQLite fails here, before anything is written.
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(|e| TsdbError::Foreign { path: path.display().to_string(), why: e.to_string() })?;
        let table_count: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0)).map_err(&err)?;
        if app_id != APPLICATION_ID && (app_id != 0 || table_count > 0) {
            return Err(TsdbError::Foreign {
                path: path.display().to_string(),
                why: format!("application_id is {app_id:#x} with {table_count} schema objects; refusing to touch it"),
            });
        }
        let mut shards: Vec<Paged<MemSeries>> = (0..SHARDS).map(|_| Paged::default()).collect();
        let mut index = None;
        if table_count > 0 {
            // An existing file is read in full (index and bounds) before anything
            // is written to it, so a damaged one is refused untouched.
            let refuse = |e: TsdbError| {
                let why = match e {
                    TsdbError::Sqlite { source, .. } => source.to_string(),
                    TsdbError::Foreign { why, .. } => why,
                    other => other.to_string(),
                };
                corrupt(&path, format!("{why}; refusing to write to it (move it away, or restore a backup)"))
            };
            index = Some(load_index(&conn, &path, &mut shards).map_err(refuse)?);
            load_bounds(&conn, &mut shards).map_err(&err).map_err(refuse)?;
        } else {
            // Only takes effect before the first table exists.
            conn.pragma_update(None, "page_size", opts.page_size).map_err(&err)?;
            conn.pragma_update(None, "auto_vacuum", "INCREMENTAL").map_err(&err)?;
        }
        conn.pragma_update(None, "journal_mode", "WAL").map_err(&err)?;
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&err)?;
        conn.pragma_update(None, "journal_size_limit", 64i64 << 20).map_err(&err)?;
        if app_id != APPLICATION_ID {
            conn.pragma_update(None, "application_id", APPLICATION_ID).map_err(&err)?;
        }
        migrate(&conn).map_err(&err)?;

        let chunk_span_ms = (opts.chunk_span.as_millis() as i64).max(1000);
        let block_span_ms = ((opts.block_span.as_millis() as i64).max(chunk_span_ms) / chunk_span_ms) * chunk_span_ms;
        let index = match index {
            Some(i) => i,
            None => {
                let i = load_index(&conn, &path, &mut shards)?;
                load_bounds(&conn, &mut shards).map_err(&err)?;
                i
            }
        };
        let inner = Inner {
            path: path.clone(),
            opts,
            chunk_span_ms,
            block_span_ms,
            index: RwLock::new(index),
            shards: shards.into_iter().map(Mutex::new).collect(),
            log: Mutex::new(LogBuf { seq: 1, samples: Vec::new() }),
            queue: Mutex::new(Vec::new()),
            readers: Mutex::new(Vec::new()),
            writer: Mutex::new(None),
            max_t: AtomicI64::new(i64::MIN),
            samples_appended: AtomicU64::new(0),
            out_of_order: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            write_errors: AtomicU64::new(0),
            unwritable: AtomicBool::new(false),
            last_write_error: Mutex::new(String::new()),
            used_bytes: AtomicU64::new(0),
            rollup_maxt: AtomicI64::new(
                conn.query_row("SELECT max(maxt) FROM rollups", [], |r| r.get::<_, Option<i64>>(0))
                    .map_err(&err)?
                    .unwrap_or(i64::MIN),
            ),
            rollups_written: AtomicU64::new(0),
            time_retention_rows: AtomicU64::new(0),
            size_retention_rows: AtomicU64::new(0),
            size_retentions: AtomicU64::new(0),
        };
        let started = Instant::now();
        let replayed = replay(&conn, &inner).map_err(&err)?;
        let max_t = inner.shards.iter().flat_map(|s| lock(s).iter().map(|m| m.maxt).max()).max().unwrap_or(i64::MIN);
        inner.max_t.store(max_t, Ordering::Relaxed);
        tracing::info!(db = %path.display(), samples = replayed, ms = started.elapsed().as_millis() as u64, "head log replayed");

        let db = Db { inner: Arc::new(inner) };
        let (tx, rx) = mpsc::channel();
        let weak = Arc::downgrade(&db.inner);
        let handle = std::thread::Builder::new()
            .name("tsdb-writer".into())
            .spawn(move || writer_loop(conn, rx, weak))
            .map_err(|source| TsdbError::Io { path: path.display().to_string(), source })?;
        *lock(&db.inner.writer) = Some((tx, handle));
        Ok(db)
    }

    /// Writes pending samples and stops the writer thread. Appends after
    /// this fail with [`TsdbError::Closed`].
    pub fn close(&self) {
        let writer = lock(&self.inner.writer).take();
        if let Some((tx, handle)) = writer {
            let _ = tx.send(Msg::Shutdown);
            let _ = handle.join();
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The options the store was opened with.
    pub fn options(&self) -> &Options {
        &self.inner.opts
    }

    fn send(&self, make: impl FnOnce(mpsc::SyncSender<Result<(), String>>) -> Msg) -> Result<(), TsdbError> {
        let (done_tx, done_rx) = mpsc::sync_channel(1);
        let sent = lock(&self.inner.writer).as_ref().is_some_and(|(tx, _)| tx.send(make(done_tx)).is_ok());
        if !sent {
            return Err(TsdbError::Closed);
        }
        match done_rx.recv() {
            Ok(Ok(())) => Ok(()),
            Ok(Err(why)) => Err(TsdbError::Unwritable { path: self.inner.path.display().to_string(), why }),
            Err(_) => Err(TsdbError::Closed),
        }
    }

    /// Writes the head log and sealed chunks now instead of at the next tick.
    pub fn flush(&self) -> Result<(), TsdbError> {
        self.send(Msg::Flush)
    }

    /// Seals every open chunk and compacts every window, including the
    /// current one (later samples start new chunks, merged by a later
    /// compaction). For benchmarks and tests.
    pub fn compact_all(&self) -> Result<(), TsdbError> {
        self.send(Msg::CompactAll)
    }

    /// Runs one retention step now: age retention, then one size-retention
    /// step (both also run in the background: age every minute, size every
    /// second while over the limit).
    pub fn run_retention(&self) -> Result<(), TsdbError> {
        self.send(Msg::Retention)
    }

    #[cfg(test)]
    fn exec(&self, f: impl FnOnce(&Connection) + Send + 'static) {
        if let Some((tx, _)) = lock(&self.inner.writer).as_ref() {
            let _ = tx.send(Msg::Exec(Box::new(f)));
        }
    }

    pub fn stats(&self) -> DbStats {
        let inner = &self.inner;
        let (series, mut memory_bytes) = {
            let index = inner.index.read().unwrap_or_else(|e| e.into_inner());
            (index.len(), index.approx_bytes())
        };
        let (mut min_time, mut max_time, mut active, mut head) = (None::<i64>, None::<i64>, 0usize, 0usize);
        for shard in &inner.shards {
            let shard = lock(shard);
            memory_bytes += shard.capacity() * std::mem::size_of::<MemSeries>();
            memory_bytes += shard.iter().map(|s| s.sealed.heap_bytes()).sum::<usize>();
            for s in shard.iter() {
                if s.maxt != i64::MIN {
                    min_time = Some(min_time.map_or(s.mint, |m| m.min(s.mint)));
                    max_time = Some(max_time.map_or(s.maxt, |m| m.max(s.maxt)));
                }
                if s.open.is_some() || !s.sealed.is_empty() {
                    head += 1;
                }
                if let Some(o) = &s.open {
                    active += 1;
                    memory_bytes += o.app.heap_bytes();
                }
                memory_bytes += s.sealed.iter().map(|c| c.data.len() + 48).sum::<usize>();
            }
        }
        let size_bytes = [DB_FILE.to_string(), format!("{DB_FILE}-wal")]
            .iter()
            .filter_map(|f| std::fs::metadata(inner.path.with_file_name(f)).ok())
            .map(|m| m.len())
            .sum();
        DbStats {
            series,
            samples_appended: inner.samples_appended.load(Ordering::Relaxed),
            size_bytes,
            min_time,
            max_time,
            out_of_order: inner.out_of_order.load(Ordering::Relaxed),
            duplicates: inner.duplicates.load(Ordering::Relaxed),
            active_series: active,
            head_series: head,
            write_errors: inner.write_errors.load(Ordering::Relaxed),
            unwritable: inner.unwritable.load(Ordering::Relaxed),
            memory_bytes,
            used_bytes: inner.used_bytes.load(Ordering::Relaxed),
            retention_size: inner.opts.retention_size,
            time_retention_rows: inner.time_retention_rows.load(Ordering::Relaxed),
            size_retention_rows: inner.size_retention_rows.load(Ordering::Relaxed),
            size_retentions: inner.size_retentions.load(Ordering::Relaxed),
            rollups_written: inner.rollups_written.load(Ordering::Relaxed),
        }
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, TsdbError> {
        let err = sql_err(&self.inner.path);
        let conn = lock(&self.inner.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.inner.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(&err)?;
                c.busy_timeout(Duration::from_secs(5)).map_err(&err)?;
                // Pages read through a mapping, not a copy per read() (measured in README "Query latency").
                c.pragma_update(None, "mmap_size", READER_MMAP_BYTES).map_err(&err)?;
                c
            }
        };
        let out = f(&conn).map_err(&err);
        lock(&self.inner.readers).push(conn);
        out
    }

    /// Ids and labels of series matching `matchers` with data overlapping
    /// `[mint, maxt]`, sorted by labels.
    fn matching(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Vec<(u32, Labels)> {
        let ids = self.inner.index.read().unwrap_or_else(|e| e.into_inner()).select(matchers);
        let ids: Vec<u32> = ids
            .into_iter()
            .filter(|&id| {
                let (s, slot) = shard_of(id);
                lock(&self.inner.shards[s])
                    .get(slot)
                    .is_some_and(|m| m.maxt != i64::MIN && m.mint <= maxt && m.maxt >= mint)
            })
            .collect();
        let index = self.inner.index.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<(u32, Labels)> = ids.into_iter().map(|id| (id, index.labels(id))).collect();
        drop(index);
        out.sort_by(|a, b| a.1.cmp(&b.1));
        out
    }

    /// The label set of a series id.
    fn labels_of(&self, id: u32) -> Labels {
        self.inner.index.read().unwrap_or_else(|e| e.into_inner()).labels(id)
    }

    /// The value stored at `t` for a series whose last sample is only on disk.
    fn value_on_disk(&self, id: u32, t: i64) -> Result<Option<f64>, TsdbError> {
        let rows = self.with_snapshot(|stmt| read_pieces(stmt, id, t, t).map_err(sql_err(&self.inner.path)))?;
        let mut samples = Vec::new();
        for (_, b) in rows {
            let _ = codec::decode_range(&b, t, t, &mut samples);
        }
        Ok(samples.first().map(|s| s.v))
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

fn load_index(conn: &Connection, path: &Path, shards: &mut [Paged<MemSeries>]) -> Result<Index, TsdbError> {
    let err = sql_err(path);
    let mut index = Index::default();
    let mut stmt = conn.prepare("SELECT id, s FROM strings ORDER BY id").map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    while let Some(r) = rows.next().map_err(&err)? {
        let (id, s): (i64, String) = (r.get(0).map_err(&err)?, r.get(1).map_err(&err)?);
        if index.load_string(&s) as i64 != id {
            return Err(corrupt(path, format!("strings table is not dense or has duplicates at id {id}")));
        }
    }
    index.persisted_strings = index.strings.len();
    let mut stmt = conn.prepare("SELECT id, hash, labels FROM series ORDER BY id").map_err(&err)?;
    let mut rows = stmt.query([]).map_err(&err)?;
    while let Some(r) = rows.next().map_err(&err)? {
        let id: i64 = r.get(0).map_err(&err)?;
        let hash: i64 = r.get(1).map_err(&err)?;
        let blob: Vec<u8> = r.get(2).map_err(&err)?;
        let pairs = index::decode_pairs(&blob, index.strings.len())
            .ok_or_else(|| corrupt(path, format!("series {id} has corrupt labels")))?;
        if index.insert_pairs(&pairs, hash as u64) as i64 != id {
            return Err(corrupt(path, format!("series table is not dense at id {id}")));
        }
        shards[shard_of(id as u32).0].push(MemSeries::new());
    }
    index.persisted_series = index.len();
    Ok(index)
}

/// Per-series time bounds and uncompacted chunk starts, from the covering indexes.
fn load_bounds(conn: &Connection, shards: &mut [Paged<MemSeries>]) -> rusqlite::Result<()> {
    for (table, raw) in [("chunks", true), ("blocks", false)] {
        let mut stmt =
            conn.prepare(&format!("SELECT series_id, min(mint), max(maxt) FROM {table} GROUP BY series_id"))?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let (id, lo, hi): (i64, i64, i64) = (r.get(0)?, r.get(1)?, r.get(2)?);
            let (s, slot) = shard_of(id as u32);
            if let Some(m) = shards[s].get_mut(slot) {
                m.mint = m.mint.min(lo);
                m.maxt = m.maxt.max(hi);
                if raw {
                    m.raw_min = lo;
                }
            }
        }
    }
    Ok(())
}

/// Replays the head log into the head; returns the samples replayed.
fn replay(conn: &Connection, inner: &Inner) -> rusqlite::Result<u64> {
    let mut stmt = conn.prepare("SELECT seq, data FROM head_log ORDER BY seq")?;
    let mut rows = stmt.query([])?;
    let (mut n, mut max_seq) = (0u64, 0u64);
    let mut queue = Vec::new();
    let series_count = inner.index.read().unwrap_or_else(|e| e.into_inner()).len();
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let data: Vec<u8> = r.get(1)?;
        let seq = seq as u64;
        max_seq = max_seq.max(seq);
        let samples = match headlog::decode(&data) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(db = %inner.path.display(), seq, error = %e, "skipping a corrupt head log row");
                continue;
            }
        };
        for (id, t, v) in samples {
            if id as usize >= series_count {
                continue;
            }
            let (s, slot) = shard_of(id);
            let mut shard = lock(&inner.shards[s]);
            let Some(m) = shard.get_mut(slot) else { continue };
            // Already in a written chunk (the row outlived it) or out of order.
            if m.maxt != i64::MIN && t <= m.maxt {
                continue;
            }
            if let Some(mint) = m.append(t, v, seq, inner.chunk_span_ms) {
                queue.push((id, mint));
            }
            n += 1;
        }
    }
    lock(&inner.queue).extend(queue);
    lock(&inner.log).seq = max_seq + 1;
    Ok(n)
}

// ---------------------------------------------------------------- writer

struct Writer {
    conn: Connection,
    /// The last retention step stopped at its batch limit: run the next one soon.
    retention_backlog: bool,
    ticks: u64,
    last_error_log: Option<Instant>,
}

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Msg>, inner: std::sync::Weak<Inner>) {
    let mut w = Writer { conn, retention_backlog: false, ticks: 0, last_error_log: None };
    let interval = match inner.upgrade() {
        Some(i) => i.opts.flush_interval.max(Duration::from_millis(10)),
        None => return,
    };
    let mut next = Instant::now() + interval;
    loop {
        let msg = rx.recv_timeout(next.saturating_duration_since(Instant::now()));
        let Some(inner) = inner.upgrade() else { return };
        match msg {
            Err(mpsc::RecvTimeoutError::Timeout) => {
                next = Instant::now() + interval;
                let _ = w.tick(&inner, w.ticks.is_multiple_of(10));
                w.ticks += 1;
                // Maintenance in small steps, never while writes fail.
                if !inner.unwritable.load(Ordering::Relaxed) {
                    if w.ticks.is_multiple_of(5) {
                        let _ = w.compact_step(&inner, false).map_err(|e| w.report(&inner, &e));
                    }
                    if w.ticks.is_multiple_of(30) {
                        let _ = w.shrink_step().map_err(|e| w.report(&inner, &e));
                    }
                    if w.ticks.is_multiple_of(60) || (w.retention_backlog && w.ticks.is_multiple_of(5)) {
                        let _ = w.retention_step(&inner).map_err(|e| w.report(&inner, &e));
                    }
                    // Without a size limit this only refreshes the used-bytes figure.
                    if inner.opts.retention_size.is_some() || w.ticks.is_multiple_of(10) {
                        let _ = w.size_step(&inner).map_err(|e| w.report(&inner, &e));
                    }
                }
            }
            Ok(Msg::Retention(done)) => {
                let r = w.retention_step(&inner).and_then(|_| w.size_step(&inner));
                let _ = done.send(r.map(|_| ()).map_err(|e| e.to_string()));
            }
            Ok(Msg::Flush(done)) => {
                let _ = done.send(w.tick(&inner, true));
            }
            Ok(Msg::CompactAll(done)) => {
                seal_all(&inner, |_| true);
                let mut r = w.tick(&inner, true);
                while r.is_ok() {
                    match w.compact_step(&inner, true) {
                        Ok(0) => break,
                        Ok(_) => {}
                        Err(e) => r = Err(e.to_string()),
                    }
                }
                // Hand the pages the raw chunks used back to the file system.
                if r.is_ok() {
                    r = vacuum(&w.conn, None).map_err(|e| e.to_string());
                }
                let _ = done.send(r);
            }
            #[cfg(test)]
            Ok(Msg::Exec(f)) => f(&w.conn),
            Ok(Msg::Shutdown) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = w.tick(&inner, true);
                let _ = w.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
                return;
            }
        }
    }
}

/// Seals open chunks for which `pred(window_end)` holds; queues them.
fn seal_all(inner: &Inner, pred: impl Fn(i64) -> bool) {
    let span = inner.chunk_span_ms;
    let mut sealed = Vec::new();
    for (s, shard) in inner.shards.iter().enumerate() {
        let mut shard = lock(shard);
        for (slot, m) in shard.iter_mut().enumerate() {
            if m.open.as_ref().is_some_and(|o| pred(o.window_end(span))) {
                if let Some(mint) = m.seal() {
                    sealed.push(((slot * SHARDS + s) as u32, mint));
                }
            }
        }
    }
    lock(&inner.queue).extend(sealed);
}

/// Frees up to `pages` free pages (all when `None`); each step of the pragma frees one.
fn vacuum(conn: &Connection, pages: Option<u32>) -> rusqlite::Result<()> {
    let sql = match pages {
        Some(n) => format!("PRAGMA incremental_vacuum({n})"),
        None => "PRAGMA incremental_vacuum".to_string(),
    };
    let mut st = conn.prepare(&sql)?;
    let mut rows = st.query([])?;
    while rows.next()?.is_some() {}
    Ok(())
}

fn is_disk_full(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::DiskFull)
}

impl Writer {
    fn report(&mut self, inner: &Inner, e: &rusqlite::Error) {
        inner.write_errors.fetch_add(1, Ordering::Relaxed);
        // One line per 10 s at most: a full disk must not also fill the log.
        if self.last_error_log.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            self.last_error_log = Some(Instant::now());
            let hint = if is_disk_full(e) { " (disk full: appends stop until space returns)" } else { "" };
            tracing::error!(db = %inner.path.display(), error = %e, "writing to the store failed{hint}");
        }
    }

    /// One flush, in one transaction: new strings and series, the head-log
    /// row and sealed chunks. A `full` tick also seals idle series and drops
    /// head-log rows no chunk needs: both walk every series, so periodic
    /// ticks do them every tenth time.
    fn tick(&mut self, inner: &Inner, full: bool) -> Result<(), String> {
        let max_t = inner.max_t.load(Ordering::Relaxed);
        if full && max_t != i64::MIN {
            seal_all(inner, |end| end.saturating_add(IDLE_SEAL_GRACE_MS) <= max_t);
        }
        let (seq, samples) = {
            let mut log = lock(&inner.log);
            let seq = log.seq;
            log.seq += 1;
            (seq, std::mem::take(&mut log.samples))
        };
        let mut todo = std::mem::take(&mut *lock(&inner.queue));
        todo.sort_unstable();
        todo.dedup();
        let (strings, series, n_strings, n_series) = {
            let index = inner.index.read().unwrap_or_else(|e| e.into_inner());
            let strings: Vec<(usize, String)> = (index.persisted_strings..index.strings.len())
                .map(|i| (i, index.strings.get(i as u32).to_string()))
                .collect();
            let series: Vec<(u32, u64, Vec<u8>)> = (index.persisted_series..index.len())
                .map(|i| (i as u32, index.hash(i as u32), index.encoded_pairs(i as u32).to_vec()))
                .collect();
            (strings, series, index.strings.len(), index.len())
        };
        let mut chunks: Vec<(u32, SealedChunk)> = Vec::with_capacity(todo.len());
        for &(id, mint) in &todo {
            let (s, slot) = shard_of(id);
            if let Some(c) = lock(&inner.shards[s]).get(slot).and_then(|m| m.sealed.iter().find(|c| c.mint == mint)) {
                chunks.push((id, c.clone()));
            }
        }
        // The oldest log row still needed by a chunk that is not being written now.
        // (0: nothing is dropped this tick.)
        let mut keep_from = 0;
        if full {
            keep_from = seq;
            for (s, shard) in inner.shards.iter().enumerate() {
                for (slot, m) in lock(shard).iter().enumerate() {
                    if let Some(o) = &m.open {
                        keep_from = keep_from.min(o.first_seq);
                    }
                    for c in &m.sealed {
                        let id = (slot * SHARDS + s) as u32;
                        if todo.binary_search(&(id, c.mint)).is_err() {
                            keep_from = keep_from.min(c.first_seq);
                        }
                    }
                }
            }
        }
        if samples.is_empty() && chunks.is_empty() && strings.is_empty() && series.is_empty() && !full {
            return Ok(());
        }
        let result = (|| -> rusqlite::Result<()> {
            let tx = self.conn.transaction()?;
            {
                let mut st = tx.prepare_cached("INSERT INTO strings (id, s) VALUES (?1, ?2)")?;
                for (id, s) in &strings {
                    st.execute(params![*id as i64, s])?;
                }
                let mut st = tx.prepare_cached("INSERT INTO series (id, hash, labels) VALUES (?1, ?2, ?3)")?;
                for (id, hash, blob) in &series {
                    st.execute(params![id, *hash as i64, blob])?;
                }
                if !samples.is_empty() {
                    tx.prepare_cached("INSERT INTO head_log (seq, data) VALUES (?1, ?2)")?
                        .execute(params![seq as i64, headlog::encode(&samples)])?;
                }
                let mut st = tx.prepare_cached(
                    "INSERT OR REPLACE INTO chunks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)",
                )?;
                for (id, c) in &chunks {
                    st.execute(params![id, c.mint, c.maxt, &c.data[..]])?;
                }
                if keep_from > 0 {
                    tx.prepare_cached("DELETE FROM head_log WHERE seq < ?1")?.execute(params![keep_from as i64])?;
                }
            }
            tx.commit()
        })();
        match result {
            Ok(()) => {
                {
                    let mut index = inner.index.write().unwrap_or_else(|e| e.into_inner());
                    index.persisted_strings = index.persisted_strings.max(n_strings);
                    index.persisted_series = index.persisted_series.max(n_series);
                }
                for (id, c) in &chunks {
                    let (s, slot) = shard_of(*id);
                    if let Some(m) = lock(&inner.shards[s]).get_mut(slot) {
                        // An emptied list frees its vector: most series have no sealed chunk.
                        m.sealed.retain(|x| x.mint != c.mint);
                        m.raw_min = m.raw_min.min(c.mint);
                    }
                }
                if inner.unwritable.swap(false, Ordering::Relaxed) {
                    tracing::warn!(db = %inner.path.display(), "the store is writable again; appends resume");
                }
                Ok(())
            }
            Err(e) => {
                self.report(inner, &e);
                *lock(&inner.last_write_error) = e.to_string();
                inner.unwritable.store(true, Ordering::Relaxed);
                // Keep everything for the next try.
                let mut log = lock(&inner.log);
                let newer = std::mem::replace(&mut log.samples, samples);
                log.samples.extend(newer);
                drop(log);
                lock(&inner.queue).extend(todo);
                Err(e.to_string())
            }
        }
    }

    /// Compacts up to [`COMPACT_BATCH`] series (all when `all`): every closed
    /// block window with raw chunks becomes one block. Returns series done.
    fn compact_step(&mut self, inner: &Inner, all: bool) -> rusqlite::Result<usize> {
        let max_t = inner.max_t.load(Ordering::Relaxed);
        if max_t == i64::MIN {
            return Ok(0);
        }
        let span = inner.block_span_ms;
        // Windows ending before this are closed (all = every window).
        let closed_before = if all {
            i64::MAX
        } else {
            max_t.saturating_sub(inner.chunk_span_ms + IDLE_SEAL_GRACE_MS).div_euclid(span) * span
        };
        let mut todo = Vec::new();
        'outer: for (s, shard) in inner.shards.iter().enumerate() {
            for (slot, m) in lock(shard).iter().enumerate() {
                let eligible =
                    m.raw_min != i64::MAX && (all || m.raw_min.div_euclid(span) * span + span <= closed_before);
                if eligible {
                    todo.push(((slot * SHARDS + s) as u32, m.raw_min));
                    if !all && todo.len() >= COMPACT_BATCH {
                        break 'outer;
                    }
                }
            }
        }
        if todo.is_empty() {
            return Ok(0);
        }
        // Oldest window first across the series, not series by series: a
        // catch-up over many windows then writes every series' oldest block
        // before any newer one, so pages hold rows of one age and retention,
        // deleting the oldest rows, frees whole pages (series by series it
        // freed few, and size retention deleted far more than its limit asked).
        let mut todo: std::collections::BinaryHeap<std::cmp::Reverse<(i64, u32)>> =
            todo.into_iter().map(|(id, raw)| std::cmp::Reverse((raw.div_euclid(span), id))).collect();
        let mut raw_of: HashMap<u32, i64> = HashMap::new();
        let tx = self.conn.transaction()?;
        {
            let mut sel_chunks = tx.prepare_cached(
                "SELECT mint, data FROM chunks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3 ORDER BY mint",
            )?;
            let mut sel_blocks = tx.prepare_cached(
                "SELECT mint, data FROM blocks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3 ORDER BY mint",
            )?;
            let mut del_chunks =
                tx.prepare_cached("DELETE FROM chunks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3")?;
            let mut del_blocks =
                tx.prepare_cached("DELETE FROM blocks WHERE series_id = ?1 AND mint >= ?2 AND mint < ?3")?;
            let mut ins_block =
                tx.prepare_cached("INSERT INTO blocks (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)")?;
            let mut next_raw = tx.prepare_cached("SELECT min(mint) FROM chunks WHERE series_id = ?1 AND mint >= ?2")?;
            while let Some(std::cmp::Reverse((window, id))) = todo.pop() {
                let w0 = window * span;
                let w1 = w0.saturating_add(span);
                let mut pieces: Vec<(i64, Vec<u8>)> = Vec::new();
                for st in [&mut sel_blocks, &mut sel_chunks] {
                    let rows = st.query_map(params![id, w0, w1], |r| Ok((r.get(0)?, r.get(1)?)))?;
                    for r in rows {
                        pieces.push(r?);
                    }
                }
                pieces.sort_by_key(|p| p.0);
                let mut samples: Vec<Sample> = Vec::new();
                let mut tmp = Vec::new();
                for (_, blob) in &pieces {
                    tmp.clear();
                    if let Err(e) = codec::decode(blob, &mut tmp) {
                        tracing::error!(series = id, error = %e, "skipping a corrupt chunk during compaction");
                        continue;
                    }
                    let last = samples.last().map_or(i64::MIN, |s| s.t);
                    samples.extend(tmp.iter().filter(|s| s.t > last));
                }
                del_chunks.execute(params![id, w0, w1])?;
                del_blocks.execute(params![id, w0, w1])?;
                if let (Some(first), Some(last)) = (samples.first(), samples.last()) {
                    ins_block.execute(params![id, first.t, last.t, codec::encode_block(&samples)])?;
                }
                let raw = next_raw.query_row(params![id, w1], |r| r.get::<_, Option<i64>>(0))?.unwrap_or(i64::MAX);
                raw_of.insert(id, raw);
                let next = raw.div_euclid(span);
                if raw != i64::MAX && next.saturating_mul(span).saturating_add(span) <= closed_before {
                    todo.push(std::cmp::Reverse((next, id)));
                }
            }
        }
        tx.commit()?;
        let n = raw_of.len();
        for (id, raw) in raw_of {
            let (s, slot) = shard_of(id);
            if let Some(m) = lock(&inner.shards[s]).get_mut(slot) {
                // Only this thread writes chunks, so nothing lowered it meanwhile.
                m.raw_min = raw;
            }
        }
        Ok(n)
    }

    /// Gives free pages back when more than a quarter of the file is free
    /// (after compaction or retention), a bounded number per step.
    fn shrink_step(&mut self) -> rusqlite::Result<()> {
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        let total: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        if free * 4 > total {
            vacuum(&self.conn, Some(4000))?;
        }
        Ok(())
    }

    /// Bytes of the file (page count) and of its used pages, and the page size.
    fn file_bytes(&self) -> rusqlite::Result<(i64, i64, i64)> {
        let page: i64 = self.conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        let count: i64 = self.conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let free: i64 = self.conn.query_row("PRAGMA freelist_count", [], |r| r.get(0))?;
        Ok((count * page, (count - free) * page, page))
    }

    /// One step of size retention: while the used pages exceed
    /// `retention_size`, deletes the [`SIZE_BATCH`] oldest rows of whichever
    /// table holds the oldest data; then hands free pages back until the file
    /// is within the limit (free pages below it are kept: new chunks reuse
    /// them without growing the file). Returns rows deleted.
    fn size_step(&mut self, inner: &Inner) -> rusqlite::Result<usize> {
        let (file, used, page) = self.file_bytes()?;
        inner.used_bytes.store(used as u64, Ordering::Relaxed);
        let Some(limit) = inner.opts.retention_size.map(|l| l.min(i64::MAX as u64) as i64) else { return Ok(0) };
        let mut deleted = 0;
        if used > limit {
            let mut oldest: Option<(&str, i64)> = None;
            for table in ["rollups", "blocks", "chunks"] {
                let t: Option<i64> =
                    self.conn.query_row(&format!("SELECT min(maxt) FROM {table}"), [], |r| r.get(0))?;
                if let Some(t) = t {
                    if oldest.is_none_or(|(_, o)| t < o) {
                        oldest = Some((table, t));
                    }
                }
            }
            if let Some((table, _)) = oldest {
                // The oldest rows whose sizes add up to the excess, in bounded
                // steps (an average over a few rows misjudged mixed sizes and
                // deleted far more than the limit asked).
                let excess = used - limit;
                let picked: Vec<i64> = {
                    let mut st = self.conn.prepare(&format!(
                        "SELECT rowid, length(data) FROM {table} ORDER BY maxt LIMIT {SIZE_BATCH}"
                    ))?;
                    let mut rows = st.query([])?;
                    let (mut ids, mut bytes) = (Vec::new(), 0i64);
                    while bytes < excess {
                        let Some(r) = rows.next()? else { break };
                        ids.push(r.get(0)?);
                        // ~40 bytes of row header and index entries on top of the blob.
                        bytes += r.get::<_, i64>(1)? + 40;
                    }
                    ids
                };
                let tx = self.conn.transaction()?;
                let gone: Vec<(u32, i64)> = {
                    let mut st =
                        tx.prepare(&format!("DELETE FROM {table} WHERE rowid = ?1 RETURNING series_id, maxt"))?;
                    let mut gone = Vec::with_capacity(picked.len());
                    for rowid in picked {
                        if let Some(row) = st.query_row([rowid], |r| Ok((r.get(0)?, r.get(1)?))).optional()? {
                            gone.push(row);
                        }
                    }
                    gone
                };
                tx.commit()?;
                deleted = gone.len();
                if table != "rollups" {
                    // Oldest first within each series: what is left starts after the last row deleted.
                    for (id, maxt) in gone {
                        let (s, slot) = shard_of(id);
                        if let Some(m) = lock(&inner.shards[s]).get_mut(slot) {
                            if m.maxt != i64::MIN {
                                m.mint = m.mint.max(maxt.saturating_add(1)).min(m.maxt);
                            }
                        }
                    }
                }
                inner.size_retention_rows.fetch_add(deleted as u64, Ordering::Relaxed);
                inner.size_retentions.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(table, rows = deleted, used, limit, "size retention deleted the oldest rows");
            }
        }
        let (file, used) = if deleted > 0 {
            let (f, u, _) = self.file_bytes()?;
            (f, u)
        } else {
            (file, used)
        };
        if file > limit && file > used {
            let pages = ((file - limit.max(used)) / page).clamp(1, VACUUM_PAGES);
            vacuum(&self.conn, Some(pages as u32))?;
            // In WAL mode the file only shrinks when a checkpoint copies the vacuum back.
            self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        inner.used_bytes.store(used as u64, Ordering::Relaxed);
        Ok(deleted)
    }

    /// Deletes rows whose newest sample is older than the retention period
    /// (raw rows) or the downsample retention (rollups); raw blocks become
    /// rollups first when rollups outlive raw samples.
    fn retention_step(&mut self, inner: &Inner) -> rusqlite::Result<()> {
        let cutoff = super::now_millis().saturating_sub(inner.opts.retention.as_millis() as i64);
        let roll_cutoff = super::now_millis().saturating_sub(inner.opts.downsample_retention.as_millis() as i64);
        let tx = self.conn.transaction()?;
        let mut deleted = 0;
        let mut rolled = 0u64;
        let mut backlog = false;
        if inner.opts.downsample_retention > inner.opts.retention {
            // Raw blocks about to go become rollups first (oldest first, so each
            // series' counter correction carries on from its previous row).
            let todo: Vec<(i64, u32, i64, Vec<u8>)> = {
                let mut st = tx.prepare_cached(&format!(
                    "SELECT rowid, series_id, mint, data FROM blocks WHERE maxt < ?1 ORDER BY maxt LIMIT {ROLLUP_BATCH}"
                ))?;
                let rows = st.query_map(params![cutoff], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            backlog = todo.len() == ROLLUP_BATCH;
            let mut prev_row = tx.prepare_cached(
                "SELECT data FROM rollups WHERE series_id = ?1 AND mint < ?2 ORDER BY mint DESC LIMIT 1",
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT OR REPLACE INTO rollups (series_id, mint, maxt, data) VALUES (?1, ?2, ?3, ?4)",
            )?;
            let mut del = tx.prepare_cached("DELETE FROM blocks WHERE rowid = ?1")?;
            let mut samples = Vec::new();
            let mut newest = i64::MIN;
            for (rowid, id, mint, data) in todo {
                samples.clear();
                match codec::decode(&data, &mut samples) {
                    Ok(()) => {
                        let prev: Option<Vec<u8>> = prev_row.query_row(params![id, mint], |r| r.get(0)).optional()?;
                        let state = prev.and_then(|p| rollup::end_state(&p).ok().flatten());
                        if let (Some(row), Some(last)) = (rollup::build(&samples, state).0, samples.last()) {
                            ins.execute(params![id, mint, last.t, row])?;
                            newest = newest.max(last.t);
                            rolled += 1;
                        }
                    }
                    Err(e) => tracing::error!(series = id, error = %e, "a corrupt block is deleted without a rollup"),
                }
                deleted += del.execute(params![rowid])?;
            }
            inner.rollup_maxt.fetch_max(newest, Ordering::Relaxed);
        }
        for (table, cut) in [("blocks", cutoff), ("chunks", cutoff), ("rollups", roll_cutoff)] {
            deleted += tx.execute(
                &format!(
                    "DELETE FROM {table} WHERE rowid IN
                     (SELECT rowid FROM {table} WHERE maxt < ?1 ORDER BY maxt LIMIT {RETENTION_BATCH})"
                ),
                params![cut],
            )?;
        }
        tx.commit()?;
        self.retention_backlog = backlog;
        inner.rollups_written.fetch_add(rolled, Ordering::Relaxed);
        inner.time_retention_rows.fetch_add(deleted as u64, Ordering::Relaxed);
        for shard in &inner.shards {
            for m in lock(shard).iter_mut() {
                if m.maxt != i64::MIN && m.mint < cutoff {
                    m.mint = cutoff.min(m.maxt);
                }
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- appender

type IdMap<V> = super::IntMap<u32, V>;

struct DbAppender {
    db: Db,
    samples: Vec<LogSample>,
    /// Last sample appended in this batch per series, for order checks.
    last: IdMap<(i64, f64)>,
}

impl DbAppender {
    fn unwritable(&self) -> TsdbError {
        TsdbError::Unwritable {
            path: self.db.inner.path.display().to_string(),
            why: lock(&self.db.inner.last_write_error).clone(),
        }
    }
}

impl DbAppender {
    /// The series id of a label set, created in the index if new.
    fn series_id(&self, labels: &Labels) -> u32 {
        let inner = &self.db.inner;
        let hash = labels.stable_hash();
        if let Some(id) = inner.index.read().unwrap_or_else(|e| e.into_inner()).get(labels, hash) {
            return id;
        }
        let mut index = inner.index.write().unwrap_or_else(|e| e.into_inner());
        // Another appender may have created it between the two locks.
        if let Some(id) = index.get(labels, hash) {
            return id;
        }
        let id = index.insert(labels, hash);
        let (s, slot) = shard_of(id);
        let mut shard = lock(&inner.shards[s]);
        debug_assert_eq!(shard.len(), slot);
        shard.push(MemSeries::new());
        id
    }

    /// Checks a sample's order against the series' last one and queues it.
    /// `labels` is only called to name the series in an error; an id the
    /// head has no slot for is an unknown reference.
    fn append_id(&mut self, id: u32, t: i64, v: f64, labels: impl Fn(&Db) -> Labels) -> Result<(), TsdbError> {
        let inner = &self.db.inner;
        let last = match self.last.get(&id) {
            Some(&(t, v)) => Some((t, Some(v))),
            None => {
                let (s, slot) = shard_of(id);
                let shard = lock(&inner.shards[s]);
                let m = shard.get(slot).ok_or(TsdbError::UnknownRef(id as u64))?;
                (m.maxt != i64::MIN).then_some((m.maxt, m.last_v()))
            }
        };
        if let Some((last_t, last_v)) = last {
            if t < last_t {
                inner.out_of_order.fetch_add(1, Ordering::Relaxed);
                return Err(TsdbError::OutOfOrder { labels: labels(&self.db), t, last: last_t });
            }
            if t == last_t {
                let last_v = match last_v {
                    Some(v) => Some(v),
                    None => self.db.value_on_disk(id, t)?,
                };
                if last_v.is_some_and(|lv| lv.to_bits() == v.to_bits()) {
                    return Ok(());
                }
                inner.duplicates.fetch_add(1, Ordering::Relaxed);
                return Err(TsdbError::Duplicate { labels: labels(&self.db), t });
            }
        }
        self.last.insert(id, (t, v));
        self.samples.push((id, t, v));
        Ok(())
    }
}

impl Appender for DbAppender {
    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        let id = self.series_ref(labels)?.0 as u32;
        self.append_id(id, t, v, |_| labels.clone())
    }

    fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, TsdbError> {
        if self.db.inner.unwritable.load(Ordering::Relaxed) {
            return Err(self.unwritable());
        }
        if labels.metric_name().is_none() {
            return Err(TsdbError::NoMetricName(labels.clone()));
        }
        Ok(SeriesRef(self.series_id(labels) as u64))
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), TsdbError> {
        if self.db.inner.unwritable.load(Ordering::Relaxed) {
            return Err(self.unwritable());
        }
        let id = u32::try_from(series.0).map_err(|_| TsdbError::UnknownRef(series.0))?;
        self.append_id(id, t, v, |db| db.labels_of(id))
    }

    fn series_labels(&self, series: SeriesRef) -> Option<Labels> {
        let id = u32::try_from(series.0).ok()?;
        let index = self.db.inner.index.read().unwrap_or_else(|e| e.into_inner());
        ((id as usize) < index.len()).then(|| index.labels(id))
    }

    fn commit(self: Box<Self>) -> Result<(), TsdbError> {
        if self.samples.is_empty() {
            return Ok(());
        }
        let inner = &self.db.inner;
        if lock(&inner.writer).is_none() {
            return Err(TsdbError::Closed);
        }
        if inner.unwritable.load(Ordering::Relaxed) {
            return Err(self.unwritable());
        }
        let span = inner.chunk_span_ms;
        let mut sealed = Vec::new();
        let (mut accepted, mut max_t) = (0u64, i64::MIN);
        let mut log = lock(&inner.log);
        let seq = log.seq;
        log.samples.reserve(self.samples.len());
        for &(id, t, v) in &self.samples {
            let (s, slot) = shard_of(id);
            let mut shard = lock(&inner.shards[s]);
            let Some(m) = shard.get_mut(slot) else { continue };
            // Another appender may have committed this series meanwhile.
            if m.maxt != i64::MIN && t <= m.maxt {
                if t < m.maxt {
                    inner.out_of_order.fetch_add(1, Ordering::Relaxed);
                } else if !m.last_v_known || m.last_bits != v.to_bits() {
                    inner.duplicates.fetch_add(1, Ordering::Relaxed);
                }
                continue;
            }
            if let Some(mint) = m.append(t, v, seq, span) {
                sealed.push((id, mint));
            }
            drop(shard);
            log.samples.push((id, t, v));
            accepted += 1;
            max_t = max_t.max(t);
        }
        drop(log);
        if !sealed.is_empty() {
            lock(&inner.queue).extend(sealed);
        }
        inner.max_t.fetch_max(max_t, Ordering::Relaxed);
        inner.samples_appended.fetch_add(accepted, Ordering::Relaxed);
        Ok(())
    }
}

impl Appendable for Db {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(DbAppender { db: self.clone(), samples: Vec::new(), last: IdMap::default() })
    }
}

// ---------------------------------------------------------------- querier

impl Db {
    /// Whether a selection with these hints may be answered partly from rollups.
    fn may_use_rollups(&self, mint: i64, maxt: i64, hints: &SelectHints) -> bool {
        let newest_rollup = self.inner.rollup_maxt.load(Ordering::Relaxed);
        !(hints.step < rollup::BUCKET_MS || newest_rollup == i64::MIN || mint > newest_rollup || mint > maxt)
    }

    /// Each series matching `matchers` with samples in `[mint, maxt]`,
    /// decoded into a reused buffer and turned into a `T` by `work` (on
    /// whichever thread decoded it), then handed to `f` in label order
    /// (which returns false to stop). With `latest`, only each series'
    /// newest samples need to be there.
    fn scan<T: Send>(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        latest: bool,
        work: &(dyn Fn(&mut Vec<Sample>) -> T + Sync),
        f: &mut dyn FnMut(Labels, T) -> bool,
    ) -> Result<(), TsdbError> {
        if mint > maxt {
            return Ok(());
        }
        let found = self.matching(matchers, mint, maxt);
        // The head first, then disk: a chunk written meanwhile is then on
        // disk too (and de-duplicated by time), never missed.
        let mut head: Vec<Vec<(i64, Arc<[u8]>)>> = Vec::with_capacity(found.len());
        // Whether the range reaches before the series' oldest chunk in the
        // head, into what is on disk (recent ranges, as rules ask, need no SQL).
        let mut on_disk: Vec<bool> = Vec::with_capacity(found.len());
        for (id, _) in &found {
            let (s, slot) = shard_of(*id);
            let shard = lock(&self.inner.shards[s]);
            let mut pieces = Vec::new();
            let mut head_min = i64::MAX;
            if let Some(m) = shard.get(slot) {
                for c in m.sealed.iter() {
                    head_min = head_min.min(c.mint);
                    if c.mint <= maxt && c.maxt >= mint {
                        pieces.push((c.mint, c.data.clone()));
                    }
                }
                if let Some(o) = &m.open {
                    head_min = head_min.min(o.mint());
                    if o.mint() <= maxt && m.maxt >= mint {
                        pieces.push((o.mint(), Arc::from(o.app.to_blob())));
                    }
                }
                // A head chunk starting inside the range holds a sample newer
                // than anything on disk: enough when only the newest counts
                // (rules just after a chunk was written read no SQLite).
                let head_answers = latest && head_min <= maxt;
                on_disk.push(mint < head_min && m.mint < head_min && !head_answers);
            } else {
                on_disk.push(true);
            }
            head.push(pieces);
        }
        let (ids, labels): (Vec<u32>, Vec<Labels>) = found.into_iter().unzip();
        // One series' pieces in time order (disk rows read through `stmt`, in
        // the calling thread's read transaction), decoded into `buf` and
        // handed to `work`; None when nothing is in the range.
        let decode = |i: usize, stmt: &mut rusqlite::CachedStatement<'_>, buf: &mut Vec<Sample>| -> Done<T> {
            let rows =
                if on_disk[i] { read_pieces(stmt, ids[i], mint, maxt).map_err(ReadError::Sql)? } else { Vec::new() };
            let mut pieces: Vec<(i64, &[u8])> = rows.iter().map(|(m, d)| (*m, &d[..])).collect();
            pieces.extend(head[i].iter().map(|(m, d)| (*m, &d[..])));
            pieces.sort_by_key(|p| p.0);
            buf.clear();
            for (piece_mint, blob) in pieces {
                // Later pieces only add what is newer than what is there.
                let from = buf.last().map_or(mint, |s| mint.max(s.t.saturating_add(1)));
                let salt = (ids[i] as u64) << 44 ^ piece_mint as u64;
                codec::decode_range_cached(blob, salt, from, maxt, buf).map_err(ReadError::Codec)?;
            }
            Ok((!buf.is_empty()).then(|| work(buf)))
        };
        // Series i's result to `f`; false when `f` asks to stop.
        let mut hand = |i: usize, l: Labels, done: Done<T>| -> Result<bool, TsdbError> {
            match done {
                Ok(Some(x)) => Ok(f(l, x)),
                Ok(None) => Ok(true),
                Err(ReadError::Sql(e)) => Err(sql_err(&self.inner.path)(e)),
                Err(ReadError::Codec(e)) => {
                    Err(corrupt(&self.inner.path, format!("series {} ({l}) has a corrupt chunk: {e}", ids[i])))
                }
            }
        };
        let disk_series = on_disk.iter().filter(|&&d| d).count();
        let head_bytes: usize = head.iter().flatten().map(|p| p.1.len()).sum();
        let n = ids.len();
        let small = disk_series < PARALLEL_MIN_SERIES && head_bytes < PARALLEL_MIN_BYTES;
        if n < PARALLEL_MIN_SERIES || small || !parallel_ok() {
            return self.with_snapshot(|stmt| {
                // Decoded straight into one reused buffer: growing a vector per
                // series (and faulting in its fresh pages) cost more than decoding.
                let mut buf: Vec<Sample> = Vec::new();
                for (i, l) in labels.into_iter().enumerate() {
                    if !hand(i, l, decode(i, stmt, &mut buf))? {
                        break;
                    }
                }
                Ok(())
            });
        }
        // A helper thread reads and decodes (and works on) series ahead, in
        // its own read transaction; this thread hands them to `f` in order
        // and, rather than wait for the helper, takes the next series nobody
        // has claimed: reading and decoding (most of a query's time) run on
        // two cores whichever side is slower.
        let next = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::sync_channel::<(usize, Done<T>)>(PARALLEL_AHEAD);
            let (next, decode) = (&next, &decode);
            // Should the helper not start (or find no connection), this thread claims every series.
            let _ = std::thread::Builder::new().name("tsdb-decode".into()).spawn_scoped(scope, move || {
                let _ = self.with_snapshot(|stmt| {
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::SeqCst);
                        if i >= n || tx.send((i, decode(i, stmt, &mut buf))).is_err() {
                            return Ok(());
                        }
                    }
                });
            });
            self.with_snapshot(|stmt| {
                let mut pending: HashMap<usize, Done<T>> = HashMap::new();
                let mut helper_gone = false;
                let mut buf = Vec::new();
                for (i, l) in labels.into_iter().enumerate() {
                    // Series i: done already, or decode what nobody has claimed
                    // (i itself, or later ones while the helper finishes i).
                    let done = loop {
                        if let Some(d) = pending.remove(&i) {
                            break d;
                        }
                        match rx.try_recv() {
                            Ok((j, d)) => {
                                pending.insert(j, d);
                                continue;
                            }
                            Err(mpsc::TryRecvError::Disconnected) => helper_gone = true,
                            Err(mpsc::TryRecvError::Empty) => {}
                        }
                        if helper_gone || next.load(Ordering::SeqCst) < i + PARALLEL_AHEAD {
                            let j = next.fetch_add(1, Ordering::SeqCst);
                            if j < n {
                                pending.insert(j, decode(j, stmt, &mut buf));
                                continue;
                            }
                        }
                        if helper_gone {
                            return Err(corrupt(&self.inner.path, "the decoding thread stopped".into()));
                        }
                        match rx.recv() {
                            Ok((j, d)) => {
                                pending.insert(j, d);
                            }
                            Err(_) => helper_gone = true,
                        }
                    };
                    if !hand(i, l, done)? {
                        break;
                    }
                }
                // Whatever the helper has not claimed is not needed.
                next.store(n, Ordering::SeqCst);
                Ok(())
            })
        })
    }

    /// Runs `f` with the statement that reads a series' disk pieces (blocks
    /// and chunks overlapping a range), inside one read transaction: one
    /// consistent snapshot of the file for everything `f` reads.
    fn with_snapshot<T>(
        &self,
        f: impl FnOnce(&mut rusqlite::CachedStatement<'_>) -> Result<T, TsdbError>,
    ) -> Result<T, TsdbError> {
        self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let out = {
                let mut stmt = tx.prepare_cached(
                    "SELECT mint, data FROM blocks WHERE series_id = ?1 AND mint <= ?3 AND maxt >= ?2 \
                     UNION ALL SELECT mint, data FROM chunks WHERE series_id = ?1 AND mint <= ?3 AND maxt >= ?2",
                )?;
                f(&mut stmt)
            };
            tx.commit()?;
            Ok(out)
        })?
    }
}

/// A series' blocks and chunks overlapping `[mint, maxt]` as (mint, blob),
/// through [`Db::with_snapshot`]'s statement.
fn read_pieces(
    stmt: &mut rusqlite::CachedStatement<'_>,
    id: u32,
    mint: i64,
    maxt: i64,
) -> rusqlite::Result<Vec<(i64, Vec<u8>)>> {
    stmt.query_map(params![id, mint, maxt], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
}

/// Why a series could not be read: its rows, or a blob in them.
enum ReadError {
    Sql(rusqlite::Error),
    Codec(codec::CodecError),
}

/// One series read by [`Db::scan`].
type Done<T> = Result<Option<T>, ReadError>;

impl Querier for Db {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError> {
        let mut out = Vec::new();
        self.scan(matchers, mint, maxt, false, &|buf| buf.as_slice().to_vec(), &mut |labels, samples| {
            out.push(Series { labels, samples });
            true
        })?;
        Ok(out)
    }

    fn select_reduce(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
        reduce: &(dyn Fn(&mut Vec<Sample>) -> Option<StepValues> + Sync),
        f: &mut dyn FnMut(Labels, usize, Option<StepValues>) -> bool,
    ) -> Result<(), TsdbError> {
        if self.may_use_rollups(mint, maxt, hints) {
            // Rollups merge into the raw series: that needs them all at once.
            super::reduce_each(self.select_hinted(matchers, mint, maxt, hints)?, reduce, f);
            return Ok(());
        }
        self.scan(matchers, mint, maxt, hints.latest, &|buf| (buf.len(), reduce(buf)), &mut |labels, (n, r)| {
            f(labels, n, r)
        })
    }

    fn select_hinted(
        &self,
        matchers: &[Matcher],
        mint: i64,
        maxt: i64,
        hints: &SelectHints,
    ) -> Result<Vec<Series>, TsdbError> {
        let mut out = self.select(matchers, mint, maxt)?;
        if !self.may_use_rollups(mint, maxt, hints) {
            return Ok(out);
        }
        let pick = Aggr::for_func(hints.func.as_deref());
        // Every matching series: those whose raw samples are all gone have no head bounds.
        let found: Vec<(u32, Labels)> = {
            let index = self.inner.index.read().unwrap_or_else(|e| e.into_inner());
            index.select(matchers).into_iter().map(|id| (id, index.labels(id))).collect()
        };
        let rows: Vec<Vec<Vec<u8>>> = self.with_reader(|conn| {
            let tx = conn.unchecked_transaction()?;
            let mut all = Vec::with_capacity(found.len());
            {
                let mut st = tx.prepare_cached(
                    "SELECT data FROM rollups WHERE series_id = ?1 AND mint <= ?3 AND maxt >= ?2 ORDER BY mint",
                )?;
                for (id, _) in &found {
                    let rows = st.query_map(params![id, mint, maxt], |r| r.get(0))?;
                    all.push(rows.collect::<rusqlite::Result<Vec<Vec<u8>>>>()?);
                }
            }
            tx.commit()?;
            Ok(all)
        })?;
        let mut added = Vec::new();
        for ((id, labels), rows) in found.into_iter().zip(rows) {
            if rows.is_empty() {
                continue;
            }
            let mut samples = Vec::new();
            for row in &rows {
                rollup::decode_pick(row, pick, &mut samples).map_err(|e| {
                    corrupt(&self.inner.path, format!("series {id} ({labels}) has a corrupt rollup: {e}"))
                })?;
            }
            if pick == Pick::One(Aggr::Counter) {
                // Continue into the raw samples: the newest rollup value becomes the raw last value.
                let end = rows.last().and_then(|r| rollup::end_state(r).ok().flatten());
                if let Some(end) = end {
                    samples.iter_mut().for_each(|s| s.v -= end.offset);
                }
            }
            let pos = out.binary_search_by(|s| s.labels.cmp(&labels));
            let raw_start = pos.ok().and_then(|i| out[i].samples.first()).map_or(i64::MAX, |s| s.t);
            samples.retain(|s| s.t >= mint && s.t <= maxt && s.t < raw_start);
            if samples.is_empty() {
                continue;
            }
            match pos {
                Ok(i) => {
                    samples.append(&mut out[i].samples);
                    out[i].samples = samples;
                }
                Err(_) => added.push(Series { labels, samples }),
            }
        }
        if !added.is_empty() {
            out.extend(added);
            out.sort_by(|a, b| a.labels.cmp(&b.labels));
        }
        Ok(out)
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError> {
        Ok(self.matching(matchers, mint, maxt).into_iter().map(|(_, l)| l).collect())
    }

    fn label_names(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        if matchers.is_empty() {
            return Ok(self.inner.index.read().unwrap_or_else(|e| e.into_inner()).label_names());
        }
        let mut names: Vec<String> =
            self.series(matchers, mint, maxt)?.iter().flat_map(|l| l.iter().map(|l| l.name.clone())).collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn label_values(&self, name: &str, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<String>, TsdbError> {
        if matchers.is_empty() {
            return Ok(self.inner.index.read().unwrap_or_else(|e| e.into_inner()).label_values(name));
        }
        let mut values: Vec<String> =
            self.series(matchers, mint, maxt)?.iter().filter_map(|l| l.get(name).map(str::to_string)).collect();
        values.sort();
        values.dedup();
        Ok(values)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some((tx, handle)) = self.writer.get_mut().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = tx.send(Msg::Shutdown);
            let _ = handle.join();
        }
    }
}

/// Counts rows per table (for tests and the benchmark).
pub fn table_rows(db: &Db) -> Result<HashMap<String, i64>, TsdbError> {
    db.with_reader(|c| {
        let mut out = HashMap::new();
        for t in ["strings", "series", "chunks", "blocks", "head_log", "rollups"] {
            out.insert(t.to_string(), c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?);
        }
        Ok(out)
    })
}

/// Total bytes of the `data` column per table: what the encoded samples cost
/// before SQLite's page overhead.
pub fn blob_bytes(db: &Db) -> Result<HashMap<String, i64>, TsdbError> {
    db.with_reader(|c| {
        let mut out = HashMap::new();
        for t in ["chunks", "blocks", "head_log", "rollups"] {
            let n: Option<i64> =
                c.query_row(&format!("SELECT sum(length(data)) FROM {t}"), [], |r| r.get(0)).optional()?.flatten();
            out.insert(t.to_string(), n.unwrap_or(0));
        }
        Ok(out)
    })
}

#[cfg(test)]
#[path = "db_tests.rs"]
mod tests;
