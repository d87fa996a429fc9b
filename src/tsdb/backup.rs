//! `sightline backup`: a consistent copy of the live database through
//! SQLite's online backup API.
//!
//! The source is opened read-only and copied in one backup step, which reads
//! one snapshot (WAL mode lets the running server keep writing meanwhile).
//! The copy is written to a temporary file next to the destination, checked,
//! and renamed into place, so the destination is never half-written and an
//! existing file is only replaced when asked to.

use super::db::{APPLICATION_ID, DB_FILE};
use super::TsdbError;
use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// What a backup copied.
#[derive(Clone, Debug)]
pub struct BackupReport {
    /// The file written.
    pub dest: PathBuf,
    /// Its size in bytes.
    pub bytes: u64,
    /// Series in the copy.
    pub series: i64,
}

fn fail(dest: &Path, why: impl std::fmt::Display) -> TsdbError {
    TsdbError::Backup { dest: dest.display().to_string(), why: why.to_string() }
}

/// Where a backup to `dest` goes: `dest` itself, or `dest/sightline.db`
/// when `dest` is an existing folder (which then works as a data folder).
pub fn backup_target(dest: &Path) -> PathBuf {
    if dest.is_dir() {
        dest.join(DB_FILE)
    } else {
        dest.to_path_buf()
    }
}

/// Copies `data_dir/sightline.db` to `dest` (see [`backup_target`]) while a
/// server may be writing to it. Refuses to replace an existing file unless
/// `force`, and refuses a source that is not a Sightline database.
pub fn backup(data_dir: &Path, dest: &Path, force: bool) -> Result<BackupReport, TsdbError> {
    let src_path = data_dir.join(DB_FILE);
    let dest = backup_target(dest);
    if !src_path.is_file() {
        return Err(fail(&dest, format!("there is no database at {} (is --data right?)", src_path.display())));
    }
    if dest.exists() {
        if !force {
            return Err(fail(&dest, "the file already exists; pass --force to replace it"));
        }
        let same = std::fs::canonicalize(&dest).ok() == std::fs::canonicalize(&src_path).ok();
        if same {
            return Err(fail(&dest, "that is the live database itself"));
        }
    }
    let src = Connection::open_with_flags(&src_path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|source| TsdbError::Sqlite { path: src_path.display().to_string(), source })?;
    src.busy_timeout(Duration::from_secs(10))
        .map_err(|source| TsdbError::Sqlite { path: src_path.display().to_string(), source })?;
    let app_id: i32 = src.query_row("PRAGMA application_id", [], |r| r.get(0)).map_err(|e| TsdbError::Foreign {
        path: src_path.display().to_string(),
        why: format!("it cannot be read as SQLite: {e}"),
    })?;
    if app_id != APPLICATION_ID {
        return Err(TsdbError::Foreign {
            path: src_path.display().to_string(),
            why: format!("application_id is {app_id:#x}; refusing to back it up as one"),
        });
    }

    let name = dest.file_name().map(|n| n.to_string_lossy().to_string()).unwrap_or_else(|| DB_FILE.into());
    let tmp = dest.with_file_name(format!(".{name}.partial-{}", std::process::id()));
    let result = copy_to(&src, &tmp);
    drop(src);
    let series = match result {
        Ok(n) => n,
        Err(why) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(fail(&dest, why));
        }
    };
    // Not fs::rename's overwrite unless asked: a file may have appeared meanwhile.
    if !force && dest.exists() {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(&dest, "the file already exists; pass --force to replace it"));
    }
    std::fs::rename(&tmp, &dest).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(&dest, format!("moving the finished copy into place: {e}"))
    })?;
    let bytes = std::fs::metadata(&dest).map(|m| m.len()).unwrap_or(0);
    Ok(BackupReport { dest, bytes, series })
}

/// Copies the whole database into a new file at `tmp`, checks it and
/// returns its series count.
fn copy_to(src: &Connection, tmp: &Path) -> Result<i64, String> {
    let _ = std::fs::remove_file(tmp);
    let mut dst = Connection::open(tmp).map_err(|e| format!("creating {}: {e}", tmp.display()))?;
    {
        let backup = Backup::new(src, &mut dst).map_err(|e| format!("starting the backup: {e}"))?;
        // One step copies every page from one read snapshot; a busy source is retried.
        let mut tries = 0;
        loop {
            match backup.step(-1).map_err(|e| format!("copying: {e}"))? {
                StepResult::Done => break,
                StepResult::More => {}
                StepResult::Busy | StepResult::Locked => {
                    tries += 1;
                    if tries > 200 {
                        return Err("the database stayed locked for 10 s".into());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {}
            }
        }
    }
    // The copy is a plain rollback-journal file until it is opened as a store.
    dst.pragma_update(None, "journal_mode", "DELETE").map_err(|e| format!("finishing the copy: {e}"))?;
    let check: String =
        dst.query_row("PRAGMA quick_check", [], |r| r.get(0)).map_err(|e| format!("checking the copy: {e}"))?;
    if check != "ok" {
        return Err(format!("the copy failed its integrity check: {check}"));
    }
    let series: i64 =
        dst.query_row("SELECT count(*) FROM series", [], |r| r.get(0)).map_err(|e| format!("reading the copy: {e}"))?;
    dst.close().map_err(|(_, e)| format!("closing the copy: {e}"))?;
    std::fs::File::open(tmp).and_then(|f| f.sync_all()).map_err(|e| format!("syncing the copy: {e}"))?;
    Ok(series)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::{Appendable, Db, Labels, Matcher, Querier};

    fn write_some(db: &Db, ids: std::ops::Range<usize>) {
        let mut app = db.appender();
        for i in ids {
            let l = Labels::from_pairs([("__name__", "m"), ("i", &i.to_string())]);
            for k in 0..10i64 {
                app.append(&l, 1_700_000_000_000 + k * 15_000, (i as i64 * 100 + k) as f64).unwrap();
            }
        }
        app.commit().unwrap();
    }

    #[test]
    fn backup_of_an_open_store_opens_with_the_same_samples() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("live")).unwrap();
        write_some(&db, 0..50);
        db.flush().unwrap();
        let copy_dir = dir.path().join("copy");
        std::fs::create_dir(&copy_dir).unwrap();
        // The store stays open (and writable) during the backup.
        let report = backup(&dir.path().join("live"), &copy_dir, false).unwrap();
        assert_eq!(report.dest, copy_dir.join(DB_FILE));
        assert_eq!(report.series, 50);
        assert!(report.bytes > 0);
        write_some(&db, 50..60);
        let want = db.select(&[Matcher::equal("__name__", "m")], 0, i64::MAX).unwrap();
        let copy = Db::open(&copy_dir).unwrap();
        let got = copy.select(&[Matcher::equal("__name__", "m")], 0, i64::MAX).unwrap();
        assert_eq!(got.len(), 50);
        assert_eq!(got, want.iter().filter(|s| got.iter().any(|g| g.labels == s.labels)).cloned().collect::<Vec<_>>());
        // No temporary file left behind.
        let names: Vec<String> =
            std::fs::read_dir(&copy_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        assert!(names.iter().all(|n| !n.contains("partial")), "{names:?}");
    }

    #[test]
    fn never_overwrites_without_force_and_refuses_foreign_sources() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("live")).unwrap();
        write_some(&db, 0..3);
        db.flush().unwrap();
        let dest = dir.path().join("b.db");
        std::fs::write(&dest, b"precious").unwrap();
        let e = backup(&dir.path().join("live"), &dest, false).unwrap_err();
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read(&dest).unwrap(), b"precious");
        let r = backup(&dir.path().join("live"), &dest, true).unwrap();
        assert_eq!(r.series, 3);
        assert_ne!(std::fs::read(&dest).unwrap(), b"precious");
        // The live file as destination is refused even with --force.
        let e = backup(&dir.path().join("live"), &dir.path().join("live").join(DB_FILE), true).unwrap_err();
        assert!(e.to_string().contains("live database"), "{e}");

        let e = backup(&dir.path().join("nowhere"), &dir.path().join("c.db"), false).unwrap_err();
        assert!(e.to_string().contains("no database"), "{e}");
        let foreign = dir.path().join("foreign");
        std::fs::create_dir(&foreign).unwrap();
        Connection::open(foreign.join(DB_FILE)).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
        let e = backup(&foreign, &dir.path().join("d.db"), false).unwrap_err();
        assert!(matches!(e, TsdbError::Foreign { .. }), "{e}");
        assert!(!dir.path().join("d.db").exists());
    }
}
