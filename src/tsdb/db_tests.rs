//! Tests of the store as a whole: visibility, restart and replay,
//! compaction, retention, rejection counters, full disk.

use super::*;
use crate::tsdb::testdata::Synthetic;
use crate::tsdb::{is_stale_nan, MatchKind, STALE_NAN};

fn labels(v: &str) -> Labels {
    Labels::from_pairs([("__name__", "m"), ("i", v)])
}

fn small_opts() -> Options {
    Options {
        // Test data is from 2023; keep it.
        retention: Duration::from_secs(100 * 365 * 86_400),
        chunk_span: Duration::from_secs(3600),
        block_span: Duration::from_secs(4 * 3600),
        flush_interval: Duration::from_millis(50),
        ..Options::default()
    }
}

fn all(db: &Db) -> Vec<Series> {
    db.select(&[], i64::MIN, i64::MAX).unwrap()
}

/// Panics with the first difference (bit-exact values) between two results.
#[track_caller]
fn assert_same(got: &[Series], want: &[Series], ctx: &str) {
    for (g, w) in got.iter().zip(want) {
        assert_eq!(g.labels, w.labels, "{ctx}: series differ");
        for (i, (a, b)) in g.samples.iter().zip(&w.samples).enumerate() {
            assert!(
                a.t == b.t && a.v.to_bits() == b.v.to_bits(),
                "{ctx}: {} sample {i}: got {a:?}, want {b:?}",
                g.labels
            );
        }
        assert_eq!(g.samples.len(), w.samples.len(), "{ctx}: {} sample count", g.labels);
    }
    assert_eq!(got.len(), want.len(), "{ctx}: series count");
}

/// Appends `scrapes` scrapes of a synthetic fleet at 15 s, returning what was written.
fn ingest(db: &Db, syn: &mut Synthetic, start: i64, scrapes: usize) -> Vec<Series> {
    let mut out: Vec<Series> = syn.labels.iter().map(|l| Series { labels: l.clone(), samples: Vec::new() }).collect();
    let mut vals = Vec::new();
    for k in 0..scrapes {
        syn.scrape(&mut vals);
        let mut app = db.appender();
        let t = start + k as i64 * 15_000;
        for (i, l) in syn.labels.iter().enumerate() {
            app.append(l, t, vals[i]).unwrap();
            out[i].samples.push(Sample { t, v: vals[i] });
        }
        app.commit().unwrap();
    }
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
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
    // Order checks use the reloaded state.
    let mut app = db.appender();
    assert!(matches!(app.append(&labels("a"), 1500, 1.0), Err(TsdbError::OutOfOrder { .. })));
    assert_eq!(db.stats().series, 2);
    assert_eq!(db.stats().out_of_order, 1);
}

#[test]
fn range_bounds_are_inclusive_and_listings_come_from_the_index() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    let mut app = db.appender();
    for t in [10, 20, 30] {
        app.append(&labels("a"), t, t as f64).unwrap();
    }
    app.append(&Labels::from_pairs([("__name__", "other"), ("job", "j")]), 10, 1.0).unwrap();
    app.commit().unwrap();
    let got = db.select(&[Matcher::equal("i", "a")], 20, 30).unwrap();
    assert_eq!(got[0].samples.iter().map(|s| s.t).collect::<Vec<_>>(), [20, 30]);
    assert!(db.select(&[], 31, 40).unwrap().is_empty());
    assert!(db.select(&[], 30, 20).unwrap().is_empty());
    assert_eq!(db.label_values("i", &[], 0, 100).unwrap(), ["a"]);
    assert_eq!(db.label_names(&[], 0, 100).unwrap(), ["__name__", "i", "job"]);
    let re = Matcher::new(MatchKind::Regex, "__name__", "oth.*").unwrap();
    assert_eq!(db.label_names(&[re], 0, 100).unwrap(), ["__name__", "job"]);
    assert_eq!(db.series(&[], 25, 100).unwrap(), [labels("a")]);
}

#[test]
fn refuses_foreign_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(DB_FILE);
    let c = Connection::open(&path).unwrap();
    c.execute_batch("CREATE TABLE other (x)").unwrap();
    drop(c);
    let e = Db::open(dir.path()).err().expect("refused");
    assert!(matches!(e, TsdbError::Foreign { .. }));
    assert!(e.to_string().contains("refusing"), "{e}");
    std::fs::write(&path, b"hello, this is not sqlite at all, not even close to it....").unwrap();
    assert!(Db::open(dir.path()).is_err());
    assert_eq!(std::fs::read(&path).unwrap()[..5], *b"hello");
}

#[test]
fn out_of_order_and_duplicates_are_rejected_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut app = db.appender();
    app.append(&labels("a"), 100, 1.0).unwrap();
    app.append(&labels("a"), 200, 2.0).unwrap();
    assert!(matches!(app.append(&labels("a"), 150, 9.0), Err(TsdbError::OutOfOrder { .. })));
    app.append(&labels("a"), 200, 2.0).unwrap(); // same value: ignored, as Prometheus does
    assert!(matches!(app.append(&labels("a"), 200, 3.0), Err(TsdbError::Duplicate { .. })));
    assert!(matches!(app.append(&Labels::from_pairs([("x", "y")]), 1, 1.0), Err(TsdbError::NoMetricName(_))));
    app.commit().unwrap();
    // Two appenders racing on one series: the loser's sample is dropped at commit.
    let (mut a1, mut a2) = (db.appender(), db.appender());
    a1.append(&labels("a"), 300, 3.0).unwrap();
    a2.append(&labels("a"), 250, 2.5).unwrap();
    a1.commit().unwrap();
    a2.commit().unwrap();
    let s = db.stats();
    assert_eq!((s.out_of_order, s.duplicates), (2, 1));
    let got = all(&db);
    assert_eq!(got[0].samples.iter().map(|s| (s.t, s.v)).collect::<Vec<_>>(), [(100, 1.0), (200, 2.0), (300, 3.0)]);

    // After a restart with the last sample only on disk, the duplicate check reads it back.
    db.compact_all().unwrap();
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut app = db.appender();
    app.append(&labels("a"), 300, 3.0).unwrap();
    assert!(matches!(app.append(&labels("a"), 300, 4.0), Err(TsdbError::Duplicate { .. })));
    app.commit().unwrap();
    assert_eq!(all(&db)[0].samples.len(), 3);
}

#[test]
fn appends_by_series_reference_keep_every_check() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut app = db.appender();
    let a = app.series_ref(&labels("a")).unwrap();
    assert_eq!(app.series_ref(&labels("a")).unwrap(), a, "one reference per label set");
    assert_eq!(app.series_labels(a), Some(labels("a")));
    app.append_ref(a, 100, 1.0).unwrap();
    app.append(&labels("a"), 200, 2.0).unwrap();
    assert!(matches!(app.append_ref(a, 150, 9.0), Err(TsdbError::OutOfOrder { labels: l, .. }) if l == labels("a")));
    assert!(matches!(app.append_ref(a, 200, 3.0), Err(TsdbError::Duplicate { .. })));
    assert!(matches!(app.append_ref(SeriesRef(1 << 40), 1, 1.0), Err(TsdbError::UnknownRef(_))));
    assert!(matches!(app.series_ref(&Labels::from_pairs([("x", "y")])), Err(TsdbError::NoMetricName(_))));
    app.commit().unwrap();
    // References survive a restart: series ids are stored.
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut app = db.appender();
    assert_eq!(app.series_ref(&labels("a")).unwrap(), a);
    app.append_ref(a, 300, 3.0).unwrap();
    app.commit().unwrap();
    assert_eq!(all(&db)[0].samples.iter().map(|s| s.v).collect::<Vec<_>>(), [1.0, 2.0, 3.0]);
}

#[test]
fn visible_after_commit_through_chunks_blocks_and_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(1, 300);
    // 10 hours at 15 s: crosses chunk (1 h) and block (4 h) boundaries.
    let want = ingest(&db, &mut syn, 1_700_000_000_000, 2400);
    assert_same(&all(&db), &want, "head (before any write)");
    db.flush().unwrap();
    assert_same(&all(&db), &want, "after the writer stored sealed chunks");
    let rows = table_rows(&db).unwrap();
    assert!(rows["chunks"] > 0, "{rows:?}");
    db.compact_all().unwrap();
    let rows = table_rows(&db).unwrap();
    assert!(rows["blocks"] > 0 && rows["chunks"] == 0, "{rows:?}");
    assert_same(&all(&db), &want, "after compaction");
    // A range in the middle reads the right slice.
    let (lo, hi) = (want[0].samples[700].t, want[0].samples[1900].t);
    let mid = db.select(&[], lo, hi).unwrap();
    assert_eq!(mid[0].samples.len(), 1201);
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    assert_same(&all(&db), &want, "after restart");
    // Appending continues where it stopped.
    let more = ingest(&db, &mut syn, 1_700_000_000_000 + 2400 * 15_000, 10);
    assert_eq!(all(&db)[0].samples.len(), 2410);
    assert_eq!(more[0].samples.len(), 10);
}

#[test]
fn head_log_replay_after_crash_and_log_rows_go_once_chunks_are_written() {
    let dir = tempfile::tempdir().unwrap();
    let crash = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(2, 200);
    let t0 = 1_700_000_000_000;
    let want = ingest(&db, &mut syn, t0, 100); // 25 min: inside the first chunk window
    db.flush().unwrap();
    assert!(table_rows(&db).unwrap()["head_log"] >= 1);
    assert_eq!(table_rows(&db).unwrap()["chunks"], 0);
    // A crash image: the files as they are on disk while the store runs.
    for f in [DB_FILE.to_string(), format!("{DB_FILE}-wal")] {
        let _ = std::fs::copy(dir.path().join(&f), crash.path().join(&f));
    }
    let started = Instant::now();
    let replayed = Db::open_with(crash.path(), small_opts()).unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_same(&all(&replayed), &want, "replayed from the head log");
    // Replayed samples keep order checks.
    let mut app = replayed.appender();
    assert!(matches!(app.append(&want[0].labels, t0 - 15_000, 1.0), Err(TsdbError::OutOfOrder { .. })));
    drop(replayed);

    // Crossing two chunk windows seals every chunk; the writer stores them and drops the log rows.
    ingest(&db, &mut syn, t0 + 100 * 15_000 + 2 * 3_600_000, 1);
    db.flush().unwrap();
    db.flush().unwrap();
    let rows = table_rows(&db).unwrap();
    assert!(rows["chunks"] >= 200, "{rows:?}");
    assert!(rows["head_log"] <= 2, "old log rows deleted: {rows:?}");
}

#[test]
fn many_series_property_roundtrip_with_specials() {
    // Deterministic fleets of counters, gauges and histograms, plus stale
    // markers and special floats, through every storage stage.
    for seed in [11u64, 12, 13] {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open_with(dir.path(), small_opts()).unwrap();
        let mut syn = Synthetic::new(seed, 150);
        let t0 = 1_690_000_000_000 + seed as i64 * 1_234;
        let mut want = ingest(&db, &mut syn, t0, 1500);
        let specials = [STALE_NAN, f64::NAN, -0.0, f64::INFINITY, f64::NEG_INFINITY, 0.1 + 0.2];
        let mut app = db.appender();
        for (i, w) in want.iter_mut().enumerate().take(40) {
            let t = t0 + 1500 * 15_000 + (i as i64 % 7) * 3;
            let v = specials[i % specials.len()];
            app.append(&w.labels, t, v).unwrap();
            w.samples.push(Sample { t, v });
        }
        app.commit().unwrap();
        db.compact_all().unwrap();
        assert_same(&all(&db), &want, "seed {seed}");
        let sizes = blob_bytes(&db).unwrap();
        let samples: usize = want.iter().map(|s| s.samples.len()).sum();
        let per_sample = sizes["blocks"] as f64 / samples as f64;
        assert!(per_sample < 2.0, "seed {seed}: {per_sample:.3} bytes/sample in blocks");
    }
}

#[test]
fn retention_deletes_old_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { retention: Duration::from_secs(86_400), ..small_opts() };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let now = crate::tsdb::now_millis();
    let mut app = db.appender();
    for k in 0..200i64 {
        // 3 days ago to now, one sample every ~22 min.
        app.append(&labels("a"), now - 3 * 86_400_000 + k * 1_300_000, k as f64).unwrap();
    }
    app.commit().unwrap();
    db.compact_all().unwrap();
    db.run_retention().unwrap();
    let got = all(&db);
    let oldest = got[0].samples[0].t;
    assert!(oldest > now - 86_400_000 - 4 * 3_600_000, "old blocks gone: oldest {}", now - oldest);
    assert_eq!(got[0].samples.last().unwrap().v, 199.0);
}

#[test]
fn full_disk_stops_appends_keeps_queries_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    // Only explicit flushes write, so the test decides when the disk "fills".
    let opts = Options { flush_interval: Duration::from_secs(3600), ..small_opts() };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let mut syn = Synthetic::new(3, 50);
    let first = ingest(&db, &mut syn, 1_700_000_000_000, 10);
    db.flush().unwrap();
    // Cap the file at its current size: the next write fails with SQLITE_FULL.
    db.exec(|c| {
        let pages: i64 = c.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
        let n: i64 = c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0)).unwrap();
        assert_eq!(n, pages);
    });
    let mut app = db.appender();
    for i in 0..3000 {
        app.append(&Labels::from_pairs([("__name__", "big"), ("i", &format!("{i:0>200}"))]), 1, 1.0).unwrap();
    }
    app.commit().unwrap();
    assert!(db.flush().is_err());
    assert!(db.stats().unwritable && db.stats().write_errors > 0);
    let mut app = db.appender();
    let e = app.append(&labels("z"), 5, 1.0).expect_err("appends refused");
    assert!(matches!(e, TsdbError::Unwritable { .. }), "{e}");
    assert!(e.to_string().contains("full"), "{e}");
    // Queries still answer, including the samples waiting in memory.
    assert_eq!(db.select(&[Matcher::equal("__name__", "big")], 0, 10).unwrap().len(), 3000);
    assert_eq!(
        db.select(&[Matcher::equal("job", "node")], 0, i64::MAX).unwrap().len(),
        first.iter().filter(|s| s.labels.get("job") == Some("node")).count()
    );
    // Space returns: the writer catches up and appends resume.
    db.exec(|c| {
        let n: i64 = c.query_row("PRAGMA max_page_count = 1000000000", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1_000_000_000);
    });
    db.flush().unwrap();
    assert!(!db.stats().unwritable);
    let mut app = db.appender();
    app.append(&labels("z"), 5, 1.0).unwrap();
    app.commit().unwrap();
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    assert_eq!(db.select(&[Matcher::equal("__name__", "big")], 0, 10).unwrap().len(), 3000);
}

#[test]
fn queries_run_beside_ingestion_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let writer = {
        let db = db.clone();
        std::thread::spawn(move || {
            let mut syn = Synthetic::new(4, 100);
            for round in 0..6 {
                ingest(&db, &mut syn, 1_700_000_000_000 + round * 400 * 15_000, 400);
                db.compact_all().unwrap();
            }
        })
    };
    let mut last_len = 0;
    while !writer.is_finished() {
        let got = db.select(&[Matcher::equal("job", "node")], i64::MIN, i64::MAX).unwrap();
        for s in &got {
            assert!(s.samples.windows(2).all(|w| w[0].t < w[1].t), "sorted, no duplicates");
        }
        // Samples never disappear while chunks move from head to disk to blocks.
        let n: usize = got.iter().map(|s| s.samples.len()).sum();
        assert!(n >= last_len, "{n} < {last_len}");
        last_len = n;
    }
    writer.join().unwrap();
    let got = all(&db);
    assert!(got.iter().all(|s| s.samples.len() == 2400));
}

#[test]
fn size_retention_deletes_the_oldest_rows_until_the_file_fits() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(5, 100);
    // Two days at 15 s, compacted into 4 h blocks.
    let start = 1_700_000_000_000 - 1_700_000_000_000 % 86_400_000;
    let written = ingest(&db, &mut syn, start, 2 * 5760);
    db.compact_all().unwrap();
    db.run_retention().unwrap();
    let full = db.stats().used_bytes;
    assert!(full > 200_000, "enough data to cut: {full} bytes");
    assert_eq!(db.stats().size_retention_rows, 0, "no limit, nothing deleted");
    db.close();

    let limit = full / 2;
    let opts = Options { retention_size: Some(limit), ..small_opts() };
    let db = Db::open_with(dir.path(), opts).unwrap();
    for _ in 0..50 {
        db.run_retention().unwrap();
        if db.stats().used_bytes <= limit {
            break;
        }
    }
    let st = db.stats();
    assert!(st.used_bytes <= limit, "used {} > limit {limit}", st.used_bytes);
    assert!(st.size_retention_rows > 0 && st.size_retentions > 0);
    assert_eq!(st.retention_size, Some(limit));
    // The freed pages beyond the limit went back to the file system.
    let file = std::fs::metadata(dir.path().join(DB_FILE)).unwrap().len();
    assert!(file <= limit + 64 * 1024, "file {file} bytes, limit {limit}");
    // The oldest data went, the newest stayed exactly as written.
    let got = all(&db);
    assert_eq!(got.len(), written.len());
    for (g, w) in got.iter().zip(&written) {
        assert!(g.samples[0].t > w.samples[0].t, "{}: oldest samples deleted", g.labels);
        let tail = &w.samples[w.samples.len() - g.samples.len()..];
        assert_same(
            std::slice::from_ref(g),
            &[Series { labels: w.labels.clone(), samples: tail.to_vec() }],
            "what remains is the newest, unchanged",
        );
        // The series table and the indexes stay, so halving the file takes
        // more than half of the blocks; how many more depends on how rows of
        // different ages share pages (a freed row frees no page while its
        // neighbours live), which varies with the timing of compaction. The
        // newest block always stays.
        let kept = (g.samples.len(), w.samples.len());
        assert!(kept.0 >= 960 && kept.0 < kept.1, "{}: kept {} of {} samples", g.labels, kept.0, kept.1);
    }
    // Queries for the deleted range find nothing.
    assert!(db.select(&[], start, start + 3_600_000).unwrap().is_empty());
}

#[test]
fn memory_per_active_series_is_small_and_chunks_are_presized() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(9, 10_000);
    let start = 1_700_000_000_000 - 1_700_000_000_000 % 3_600_000;
    // Just over one chunk span: every series sealed one chunk and opened the next.
    ingest(&db, &mut syn, start, 250);
    db.flush().unwrap();
    let st = db.stats();
    // Written chunks leave no spare vector behind.
    assert!(lock(&db.inner.shards[0]).iter().all(|m| m.sealed.is_empty()));
    assert_eq!(st.active_series, syn.labels.len());
    assert!(st.head_series >= st.active_series);
    let per_series = st.memory_bytes / st.active_series;
    // Index (interned labels, postings: ~180 B) + head state (~230 B) + the open
    // chunk's buffer (half the last 240-sample chunk: ~300 B). Measured: ~700 B.
    assert!(per_series < 800, "{per_series} bytes per active series");
    // The new open chunks were allocated at half the previous chunk's size.
    let shard = lock(&db.inner.shards[0]);
    let m = shard.iter().find(|m| m.open.is_some() && m.last_chunk_bytes > 0).expect("a series with a sealed chunk");
    let want = m.last_chunk_bytes as usize / 2 + 16;
    assert!((want..want + 16).contains(&m.open.as_ref().unwrap().app.heap_bytes()));
}

/// Range query results by series: (labels, points).
fn range(q: &dyn Querier, query: &str, start: i64, end: i64, step: i64) -> Vec<Series> {
    let engine = crate::promql::Engine::new(crate::promql::EngineOptions::default());
    match engine.range_query(q, query, start, end, step).unwrap().value {
        crate::promql::Value::Matrix(m) => m,
        other => panic!("{query}: {other:?}"),
    }
}

#[test]
fn rollups_replace_old_raw_blocks_and_answer_range_queries() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        retention: Duration::from_secs(86_400),
        downsample_retention: Duration::from_secs(30 * 86_400),
        ..small_opts()
    };
    let db = Db::open_with(dir.path(), opts).unwrap();
    let raw = crate::tsdb::MemStore::new();
    let now = crate::tsdb::now_millis();
    let start = (now - 3 * 86_400_000) / 300_000 * 300_000 + 7_000;
    let (c, g) = (
        Labels::from_pairs([("__name__", "c_total"), ("job", "x")]),
        Labels::from_pairs([("__name__", "g"), ("job", "x")]),
    );
    let (mut counter, mut k) = (0.0, 0i64);
    let mut t = start;
    while t <= now {
        // A counter growing by 1..=7 per scrape, reset every ~7 h; a wandering gauge.
        counter = if k % 1700 == 1699 { 3.0 } else { counter + (1 + k * 13 % 7) as f64 };
        let gauge = ((k * 37) % 101) as f64 - 50.0 + (k / 500) as f64;
        for store in [&db as &dyn Appendable, &raw] {
            let mut app = store.appender();
            app.append(&c, t, counter).unwrap();
            app.append(&g, t, gauge).unwrap();
            app.commit().unwrap();
        }
        t += 15_000;
        k += 1;
    }
    db.compact_all().unwrap();
    for _ in 0..20 {
        db.run_retention().unwrap();
    }
    let st = db.stats();
    assert!(st.rollups_written >= 2 * 10, "{st:?}");
    assert_eq!(table_rows(&db).unwrap()["rollups"] as u64, st.rollups_written);
    // Raw samples older than the retention are gone ...
    let cut = now - 86_400_000 - 4 * 3_600_000;
    assert!(db.select(&[Matcher::equal("__name__", "g")], start, cut).unwrap().is_empty());

    // ... yet a range query at a 1 h step still sees them, through the rollups.
    let (q0, q1, step) = (start - 7_000 + 2 * 3_600_000, cut, 3_600_000);
    let gauges = |q: &str| (range(&db, q, q0, q1, step), range(&raw, q, q0, q1, step));
    for q in ["min_over_time(g[1h])", "max_over_time(g[1h])", "sum_over_time(g[1h])"] {
        let (got, want) = gauges(q);
        assert_eq!(got.len(), 1, "{q}");
        assert_eq!(got[0].samples.len(), want[0].samples.len(), "{q}");
        assert_same(&got, &want, q);
    }
    let (got, want) = gauges("avg_over_time(g[1h])");
    for (a, b) in got[0].samples.iter().zip(&want[0].samples) {
        assert!((a.v - b.v).abs() < 1e-9, "avg at {}: {} vs {}", a.t, a.v, b.v);
    }
    // rate() and increase() over the counter, resets included, within 2 %.
    for q in ["rate(c_total[1h])", "increase(c_total[2h])"] {
        let got = range(&db, q, q0, q1, step);
        let want = range(&raw, q, q0, q1, step);
        assert_eq!(got[0].samples.len(), want[0].samples.len(), "{q}");
        for (a, b) in got[0].samples.iter().zip(&want[0].samples) {
            assert!((a.v - b.v).abs() <= 0.02 * b.v.abs(), "{q} at {}: rollups {} vs raw {}", a.t, a.v, b.v);
        }
    }
    // Across the boundary from rollups into raw samples the counter continues:
    // no false reset. The one window holding both (5 m rollup points, then 15 s
    // raw ones) extrapolates to its start by half the *average* interval only,
    // so it can miss up to 5 of its 60 minutes: up to ~8 % low (known limitation).
    let (b0, b1) = (cut - 6 * 3_600_000, now - 3_600_000);
    let got = range(&db, "increase(c_total[1h])", b0, b1, step);
    let want = range(&raw, "increase(c_total[1h])", b0, b1, step);
    assert_eq!(got[0].samples.len(), want[0].samples.len());
    let mut off = 0;
    for (a, b) in got[0].samples.iter().zip(&want[0].samples) {
        let err = (a.v / b.v - 1.0).abs();
        assert!(err <= 0.09, "increase at {}: {} vs raw {}", a.t, a.v, b.v);
        off += usize::from(err > 0.02);
    }
    assert!(off <= 1, "{off} windows more than 2 % off");
    // A step under 5 m reads raw samples only.
    assert!(range(&db, "max_over_time(g[1h])", q0, q0 + 3_600_000, 60_000).is_empty());
    // Rollups outlive a restart.
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let (got, want) =
        (range(&db, "max_over_time(g[1h])", q0, q1, step), range(&raw, "max_over_time(g[1h])", q0, q1, step));
    assert_same(&got, &want, "after restart");
}

#[test]
fn corrupt_database_is_refused_with_a_clear_message_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Db::open_with(dir.path(), small_opts()).unwrap();
        let mut syn = Synthetic::new(4, 300);
        ingest(&db, &mut syn, 1_700_000_000_000, 20);
        db.close();
    }
    let path = dir.path().join(DB_FILE);
    // Keep the header page, overwrite the rest with garbage: the schema and tables are unreadable.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 3 * 4096);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i % 251) as u8;
    }
    std::fs::write(&path, &bytes).unwrap();
    let e = Db::open_with(dir.path(), small_opts()).err().expect("refused");
    let msg = e.to_string();
    assert!(msg.contains(&path.display().to_string()), "{msg}");
    assert!(msg.contains("malformed") || msg.contains("not a Sightline database") || msg.contains("corrupt"), "{msg}");
    assert!(std::fs::read(&path).unwrap() == bytes, "the file is untouched");

    // A data path that is a file, not a folder, is refused too and kept.
    let file = dir.path().join("notadir");
    std::fs::write(&file, b"keep me").unwrap();
    let e = Db::open(&file).err().expect("refused");
    assert!(e.to_string().contains("notadir"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");
}

#[test]
fn two_thread_decoding_gives_every_series_in_order_and_stops_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(11, 300);
    let start = 1_700_000_000_000;
    // 6 h: compacted blocks, written chunks and the open head chunk.
    let want = ingest(&db, &mut syn, start, 6 * 240);
    db.flush().unwrap();
    db.compact_all().unwrap();
    let more = ingest(&db, &mut syn, start + 6 * 3_600_000, 40);
    let want: Vec<Series> = want
        .into_iter()
        .zip(more)
        .map(|(mut a, b)| {
            a.samples.extend(b.samples);
            a
        })
        .collect();
    let (lo, hi) = (start + 1_000_000, start + 6 * 3_600_000 + 300_000);
    let clip = |s: &[Series]| -> Vec<Series> {
        s.iter()
            .map(|x| Series {
                labels: x.labels.clone(),
                samples: x.samples.iter().copied().filter(|p| p.t >= lo && p.t <= hi).collect(),
            })
            .collect()
    };
    let bytes: i64 = blob_bytes(&db).unwrap().values().sum();
    assert!(bytes as usize >= PARALLEL_MIN_BYTES, "enough data to decode on two threads ({bytes} bytes)");
    // Many series at once (the two-thread path) equal one series at a time (one thread).
    let got = db.select(&[], lo, hi).unwrap();
    assert!(got.len() >= PARALLEL_MIN_SERIES);
    assert_same(&got, &clip(&want), "all series");
    for w in want.iter().step_by(37) {
        let one = db.select(&[Matcher::equal("series", w.labels.get("series").unwrap_or(""))], lo, hi);
        let one: Vec<Series> = one.unwrap().into_iter().filter(|s| s.labels == w.labels).collect();
        assert_same(&one, &clip(std::slice::from_ref(w)), "one series");
    }
    // Stopping early hands over exactly the series asked for, in order.
    let mut seen = Vec::new();
    let reduce = |s: &mut Vec<Sample>| Some(vec![Some(s.len() as f64), s.last().map(|p| p.v)]);
    db.select_reduce(&[], lo, hi, &SelectHints::default(), &reduce, &mut |l, n, r| {
        seen.push((l, n, r));
        seen.len() < 25
    })
    .unwrap();
    let want: Vec<_> = got
        .iter()
        .take(25)
        .map(|s| {
            (s.labels.clone(), s.samples.len(), Some(vec![Some(s.samples.len() as f64), s.samples.last().map(|p| p.v)]))
        })
        .collect();
    assert_eq!(seen.len(), 25);
    for (a, b) in seen.iter().zip(&want) {
        assert_eq!((&a.0, a.1), (&b.0, b.1));
        let bits = |r: &Option<StepValues>| r.iter().flatten().map(|x| x.map(f64::to_bits)).collect::<Vec<_>>();
        assert_eq!(bits(&a.2), bits(&b.2));
    }
}

#[test]
fn ranges_starting_in_the_head_or_before_it_read_every_sample_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    let mut syn = Synthetic::new(5, 40);
    let start = 1_700_000_000_000;
    // 3 h compacted into blocks, then 100 min in the head and in written chunks.
    let mut want = ingest(&db, &mut syn, start, 3 * 240);
    db.flush().unwrap();
    db.compact_all().unwrap();
    let more = ingest(&db, &mut syn, start + 3 * 3_600_000, 400);
    for (a, b) in want.iter_mut().zip(more) {
        a.samples.extend(b.samples);
    }
    let end = start + (3 * 240 + 400) * 15_000;
    let clip = |lo: i64, hi: i64| -> Vec<Series> {
        want.iter()
            .map(|x| Series {
                labels: x.labels.clone(),
                samples: x.samples.iter().copied().filter(|p| p.t >= lo && p.t <= hi).collect(),
            })
            .filter(|s| !s.samples.is_empty())
            .collect()
    };
    let latest = SelectHints { latest: true, ..SelectHints::default() };
    let check = |db: &Db, ctx: &str| {
        // Window starts on both sides of every chunk and block boundary, and inside the open chunk.
        for lo in (start..end).step_by(7 * 60_000 + 500) {
            for hi in [lo + 60_000, lo + 3_600_000, end] {
                let want = clip(lo, hi);
                assert_same(&db.select(&[], lo, hi).unwrap(), &want, &format!("{ctx} [{lo}, {hi}]"));
                // When only the newest sample counts, it is there (older ones may not be).
                let newest = |s: &mut Vec<Sample>| s.last().map(|p| vec![Some(p.t as f64), Some(p.v)]);
                let mut got = Vec::new();
                db.select_reduce(&[], lo, hi, &latest, &newest, &mut |l, _, r| {
                    got.push((l, r));
                    true
                })
                .unwrap();
                let want: Vec<_> = want.iter().map(|s| (s.labels.clone(), newest(&mut s.samples.clone()))).collect();
                assert_eq!(got, want, "{ctx} newest in [{lo}, {hi}]");
            }
        }
    };
    check(&db, "live");
    db.flush().unwrap();
    check(&db, "after the writer stored sealed chunks");
    db.close();
    let db = Db::open_with(dir.path(), small_opts()).unwrap();
    check(&db, "after restart");
}

#[test]
fn head_state_per_series_stays_small() {
    // One per series: 100 000 series × every byte here is 100 KB of RSS.
    assert_eq!(std::mem::size_of::<MemSeries>(), 96);
    let mut m = MemSeries::new();
    let span = 1_800_000;
    // NaN payloads (stale markers) come back bit-exact from the head's last value.
    assert_eq!(m.append(1_000, super::super::STALE_NAN, 1, span), None);
    assert_eq!(m.last_v().map(f64::to_bits), Some(super::super::STALE_NAN.to_bits()));
    assert_eq!(m.append(2_000, -0.0, 1, span), None);
    assert_eq!(m.last_v().map(f64::to_bits), Some((-0.0f64).to_bits()));
    // Crossing the window seals the first chunk with its own bounds.
    assert_eq!(m.append(span + 5, 7.0, 2, span), Some(1_000));
    assert!(m.sealed.iter().all(|c| c.mint == 1_000 && c.maxt == 2_000 && c.first_seq == 1));
    assert_eq!(m.open.as_ref().map(|o| (o.mint(), o.window_end(span), o.first_seq)), Some((span + 5, 2 * span, 2)));
    assert_eq!((m.mint, m.maxt), (1_000, span + 5));
    m.sealed.retain(|_| false);
    assert!(m.sealed.is_empty() && m.sealed.heap_bytes() == 0);
}
