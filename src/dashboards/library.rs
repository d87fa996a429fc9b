//! Every dashboard the UI can show, from three places: the built-ins, the
//! folders listed under `dashboards: {paths: [...]}` (reloaded when a file
//! changes) and dashboards saved from the UI into the `ui_dashboards` table of
//! the SQLite file. A uid belongs to the first place that claims it, in that
//! order; saving from the UI never shadows a built-in or file dashboard.

use super::{builtins, load_dir, parse_yaml, Dashboard, DashboardError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant, SystemTime};

/// How often (at most) the folders are checked for changes.
const RESCAN_EVERY: Duration = Duration::from_secs(1);

/// Where a dashboard comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Embedded in the binary.
    Builtin,
    /// A file in one of the configured folders.
    File(PathBuf),
    /// Saved from the UI into the database.
    Saved,
}

impl Source {
    /// A short word for lists: `built-in`, `file`, `saved`.
    pub fn kind(&self) -> &'static str {
        match self {
            Source::Builtin => "built-in",
            Source::File(_) => "file",
            Source::Saved => "saved",
        }
    }
}

/// One dashboard with where it came from.
#[derive(Clone, Debug)]
pub struct Entry {
    /// The parsed dashboard.
    pub dashboard: Arc<Dashboard>,
    /// Where it came from.
    pub source: Source,
}

/// Why the saved-dashboard store failed.
#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    /// The YAML was refused; the message names the field.
    #[error(transparent)]
    Dashboard(#[from] DashboardError),
    /// The uid is taken by a dashboard that cannot be overwritten from the UI.
    #[error("uid {uid:?} belongs to a {kind} dashboard; use \"Save as\" with another uid")]
    Taken {
        /// The uid asked for.
        uid: String,
        /// `built-in` or `file`.
        kind: &'static str,
    },
    /// "Save as" would overwrite an existing saved dashboard.
    #[error("a dashboard with uid {0:?} already exists; choose another uid")]
    Exists(String),
    /// No database was opened (tests, or a read-only data folder).
    #[error("dashboards cannot be saved: {0}")]
    NoStore(String),
    /// SQLite failed.
    #[error("saving to the database failed: {0}")]
    Sql(#[from] rusqlite::Error),
}

/// What the folder scan found.
#[derive(Default)]
struct Scan {
    /// (path, modified, size) of every dashboard file seen, to spot changes.
    fingerprint: Vec<(PathBuf, Option<SystemTime>, u64)>,
    files: Vec<Entry>,
    errors: Vec<String>,
}

/// The dashboards of a running server. Cheap to share behind an `Arc`.
pub struct Library {
    builtins: Vec<Arc<Dashboard>>,
    paths: Vec<PathBuf>,
    scan: RwLock<Scan>,
    last_scan: Mutex<Option<Instant>>,
    db: Option<Mutex<rusqlite::Connection>>,
    db_error: Option<String>,
}

impl Library {
    /// Only the given dashboards (as built-ins), no folders, no database.
    pub fn fixed(dashboards: Vec<Dashboard>) -> Library {
        Library {
            builtins: dashboards.into_iter().map(Arc::new).collect(),
            paths: Vec::new(),
            scan: RwLock::new(Scan::default()),
            last_scan: Mutex::new(None),
            db: None,
            db_error: Some("no database is open".into()),
        }
    }

    /// The built-ins, the dashboards in `paths`, and the saved dashboards in
    /// `db_file` (created if missing). A database that cannot be opened is
    /// reported on the dashboards page, not fatal.
    pub fn open(paths: Vec<PathBuf>, db_file: Option<&Path>) -> Library {
        let mut lib = Library::fixed(builtins().to_vec());
        lib.paths = paths;
        if let Some(file) = db_file {
            match open_store(file) {
                Ok(c) => {
                    lib.db = Some(Mutex::new(c));
                    lib.db_error = None;
                }
                Err(e) => lib.db_error = Some(format!("{}: {e}", file.display())),
            }
        }
        lib.rescan(true);
        lib
    }

    /// The configured folders.
    pub fn paths(&self) -> &[PathBuf] {
        &self.paths
    }

    /// Reloads the folders when a file was added, removed or changed since
    /// the last look (looked at most once a second unless `force`).
    pub fn rescan(&self, force: bool) {
        if self.paths.is_empty() {
            return;
        }
        {
            let mut last = self.last_scan.lock().unwrap_or_else(|e| e.into_inner());
            if !force && last.is_some_and(|t| t.elapsed() < RESCAN_EVERY) {
                return;
            }
            *last = Some(Instant::now());
        }
        let fingerprint = fingerprint(&self.paths);
        if !force && self.scan.read().map(|s| s.fingerprint == fingerprint).unwrap_or(false) {
            return;
        }
        let mut files: Vec<Entry> = Vec::new();
        let mut errors = Vec::new();
        for dir in &self.paths {
            let (dashes, errs) = load_dir(dir);
            errors.extend(errs.into_iter().map(|e| e.to_string()));
            for d in dashes {
                let source = Source::File(find_file(dir, &d).unwrap_or_else(|| dir.clone()));
                if self.builtins.iter().any(|b| b.uid == d.uid) {
                    errors.push(format!(
                        "{}: uid {:?} is used by a built-in dashboard; rename it",
                        dir.display(),
                        d.uid
                    ));
                } else if let Some(other) = files.iter().find(|e| e.dashboard.uid == d.uid) {
                    let Source::File(p) = &other.source else {
                        continue;
                    };
                    errors.push(format!("{}: uid {:?} is already used by {}", dir.display(), d.uid, p.display()));
                } else {
                    files.push(Entry { dashboard: Arc::new(d), source });
                }
            }
        }
        if !errors.is_empty() {
            tracing::warn!(errors = errors.len(), "some dashboard files were not loaded: {}", errors.join("; "));
        }
        if let Ok(mut s) = self.scan.write() {
            *s = Scan { fingerprint, files, errors };
        }
    }

    /// Problems found loading the folders and the database, for the dashboards page.
    pub fn errors(&self) -> Vec<String> {
        self.rescan(false);
        let mut out = self.scan.read().map(|s| s.errors.clone()).unwrap_or_default();
        if let (Some(e), false) = (&self.db_error, self.paths.is_empty() && self.db.is_none()) {
            out.push(format!("saved dashboards: {e}"));
        }
        out
    }

    /// Every dashboard: built-ins, then files, then saved ones, each group in order.
    pub fn list(&self) -> Vec<Entry> {
        self.rescan(false);
        let mut out: Vec<Entry> =
            self.builtins.iter().map(|d| Entry { dashboard: d.clone(), source: Source::Builtin }).collect();
        if let Ok(s) = self.scan.read() {
            out.extend(s.files.iter().cloned());
        }
        for (d, _) in self.saved() {
            if !out.iter().any(|e| e.dashboard.uid == d.uid) {
                out.push(Entry { dashboard: Arc::new(d), source: Source::Saved });
            }
        }
        out
    }

    /// The dashboard with this uid.
    pub fn get(&self, uid: &str) -> Option<Entry> {
        if let Some(d) = self.builtins.iter().find(|d| d.uid == uid) {
            return Some(Entry { dashboard: d.clone(), source: Source::Builtin });
        }
        self.rescan(false);
        if let Some(e) = self.scan.read().ok().and_then(|s| s.files.iter().find(|e| e.dashboard.uid == uid).cloned()) {
            return Some(e);
        }
        self.saved_one(uid).map(|(d, _)| Entry { dashboard: Arc::new(d), source: Source::Saved })
    }

    /// The YAML a user edits for this dashboard: the file or saved text when
    /// there is one, else the model written back as YAML.
    pub fn yaml(&self, uid: &str) -> Option<String> {
        let entry = self.get(uid)?;
        match &entry.source {
            Source::Saved => self.saved_one(uid).map(|(_, y)| y),
            Source::File(p) if p.extension().is_some_and(|x| x == "yml" || x == "yaml") => {
                std::fs::read_to_string(p).ok().or_else(|| to_yaml(&entry.dashboard).ok())
            }
            Source::Builtin => super::BUILTIN_SOURCES
                .iter()
                .filter_map(|(name, src)| parse_yaml(src, name).ok().filter(|d| d.uid == uid).map(|_| src.to_string()))
                .next()
                .or_else(|| to_yaml(&entry.dashboard).ok()),
            Source::File(_) => to_yaml(&entry.dashboard).ok(),
        }
    }

    /// Parses `yaml` and stores it. With `save_as`, the uid must be new;
    /// otherwise it may replace a saved dashboard with the same uid. A uid of
    /// a built-in or file dashboard is refused either way. Returns the uid.
    pub fn save(&self, yaml: &str, save_as: bool) -> Result<String, LibraryError> {
        let d = parse_yaml(yaml, "dashboard")?;
        if let Some(e) = self.get(&d.uid) {
            match e.source {
                Source::Saved if save_as => return Err(LibraryError::Exists(d.uid)),
                Source::Saved => {}
                other => return Err(LibraryError::Taken { uid: d.uid, kind: other.kind() }),
            }
        }
        let Some(db) = &self.db else {
            return Err(LibraryError::NoStore(self.db_error.clone().unwrap_or_default()));
        };
        let conn = db.lock().unwrap_or_else(|e| e.into_inner());
        conn.execute(
            "INSERT INTO ui_dashboards (uid, title, yaml, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(uid) DO UPDATE SET title = excluded.title, yaml = excluded.yaml, updated_ms = excluded.updated_ms",
            rusqlite::params![d.uid, d.title, yaml, crate::tsdb::now_millis()],
        )?;
        Ok(d.uid)
    }

    /// Deletes a saved dashboard; false when there was none with that uid.
    pub fn delete(&self, uid: &str) -> Result<bool, LibraryError> {
        let Some(db) = &self.db else {
            return Err(LibraryError::NoStore(self.db_error.clone().unwrap_or_default()));
        };
        let conn = db.lock().unwrap_or_else(|e| e.into_inner());
        Ok(conn.execute("DELETE FROM ui_dashboards WHERE uid = ?1", [uid])? > 0)
    }

    fn saved(&self) -> Vec<(Dashboard, String)> {
        self.query_saved("SELECT uid, yaml FROM ui_dashboards ORDER BY title, uid", None)
    }

    fn saved_one(&self, uid: &str) -> Option<(Dashboard, String)> {
        self.query_saved("SELECT uid, yaml FROM ui_dashboards WHERE uid = ?1", Some(uid)).into_iter().next()
    }

    fn query_saved(&self, sql: &str, uid: Option<&str>) -> Vec<(Dashboard, String)> {
        let Some(db) = &self.db else {
            return Vec::new();
        };
        let conn = db.lock().unwrap_or_else(|e| e.into_inner());
        let rows: Result<Vec<(String, String)>, rusqlite::Error> = conn.prepare_cached(sql).and_then(|mut st| {
            let map = |r: &rusqlite::Row| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?));
            let rows = match uid {
                Some(u) => st.query_map([u], map)?.collect(),
                None => st.query_map([], map)?.collect(),
            };
            rows
        });
        match rows {
            Ok(rows) => rows
                .into_iter()
                .filter_map(|(uid, yaml)| match parse_yaml(&yaml, &format!("saved dashboard {uid}")) {
                    Ok(d) => Some((d, yaml)),
                    Err(e) => {
                        tracing::warn!(error = %e, "a saved dashboard no longer parses");
                        None
                    }
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "reading saved dashboards failed");
                Vec::new()
            }
        }
    }
}

/// Writes a dashboard as YAML (what `import-dashboard` prints).
pub fn to_yaml(d: &Dashboard) -> Result<String, String> {
    serde_yaml_ng::to_string(d).map_err(|e| e.to_string())
}

fn open_store(file: &Path) -> Result<rusqlite::Connection, rusqlite::Error> {
    let c = rusqlite::Connection::open(file)?;
    c.busy_timeout(Duration::from_secs(5))?;
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS ui_dashboards (
            uid TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            yaml TEXT NOT NULL,
            updated_ms INTEGER NOT NULL
        )",
    )?;
    Ok(c)
}

fn is_dashboard_file(p: &Path) -> bool {
    p.is_file() && matches!(p.extension().and_then(|x| x.to_str()), Some("yml" | "yaml" | "json"))
}

fn fingerprint(dirs: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut out = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(dir) else {
            out.push((dir.clone(), None, 0));
            continue;
        };
        for p in entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| is_dashboard_file(p)) {
            let meta = std::fs::metadata(&p).ok();
            out.push((p, meta.as_ref().and_then(|m| m.modified().ok()), meta.map_or(0, |m| m.len())));
        }
    }
    out.sort();
    out
}

/// The file in `dir` a dashboard came from (load_dir does not say).
fn find_file(dir: &Path, d: &Dashboard) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).ok()?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files.into_iter().filter(|p| is_dashboard_file(p)).find(|p| {
        let Ok(src) = std::fs::read_to_string(p) else {
            return false;
        };
        let name = p.display().to_string();
        if p.extension().is_some_and(|x| x == "json") {
            super::import_grafana_json(&src, &name).is_ok_and(|(x, _)| x.uid == d.uid)
        } else {
            parse_yaml(&src, &name).is_ok_and(|x| x.uid == d.uid)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folders_reload_and_report_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.yml"), "title: Mine A\n").unwrap();
        std::fs::write(
            dir.path().join("bad.yml"),
            "title: X\nrows:\n  - panels:\n    - {title: a, targets: [{expr: up}], unit: bytez}\n",
        )
        .unwrap();
        std::fs::write(dir.path().join("host.yml"), "title: Clash\nuid: host\n").unwrap();
        let lib = Library::open(vec![dir.path().to_path_buf()], None);
        let e = lib.get("mine-a").expect("file dashboard");
        assert_eq!(e.source, Source::File(dir.path().join("a.yml")));
        assert_eq!(lib.get("host").map(|e| e.source), Some(Source::Builtin));
        let errs = lib.errors().join("\n");
        assert!(errs.contains("rows[0].panels[0].unit: unknown unit"), "{errs}");
        assert!(errs.contains("\"host\" is used by a built-in"), "{errs}");

        std::fs::write(dir.path().join("b.yml"), "title: Mine B\n").unwrap();
        std::fs::remove_file(dir.path().join("a.yml")).unwrap();
        lib.rescan(true);
        assert!(lib.get("mine-a").is_none());
        assert!(lib.get("mine-b").is_some());
    }

    #[test]
    fn saves_and_refuses_clashes() {
        let dir = tempfile::tempdir().unwrap();
        let lib = Library::open(Vec::new(), Some(&dir.path().join("sightline.db")));
        let uid = lib.save("title: Saved One\n", true).unwrap();
        assert_eq!(uid, "saved-one");
        assert_eq!(lib.get("saved-one").map(|e| e.source), Some(Source::Saved));
        assert!(matches!(lib.save("title: Saved One\n", true), Err(LibraryError::Exists(_))));
        lib.save("title: Saved One\ndescription: changed\n", false).unwrap();
        assert_eq!(lib.get("saved-one").unwrap().dashboard.description.as_deref(), Some("changed"));
        assert!(lib.yaml("saved-one").unwrap().contains("changed"));
        assert!(matches!(lib.save("title: H\nuid: host\n", false), Err(LibraryError::Taken { kind: "built-in", .. })));
        let err = lib.save("title: X\nrowz: []\n", true).unwrap_err().to_string();
        assert!(err.contains("unknown field `rowz`"), "{err}");
        assert!(lib.list().iter().any(|e| e.dashboard.uid == "saved-one"));
        // A second connection sees it: it is in the file, not in memory.
        let again = Library::open(Vec::new(), Some(&dir.path().join("sightline.db")));
        assert!(again.get("saved-one").is_some());
        assert!(again.delete("saved-one").unwrap());
        assert!(again.get("saved-one").is_none());
    }

    #[test]
    fn builtin_yaml_is_its_source() {
        let lib = Library::fixed(builtins().to_vec());
        let y = lib.yaml("host").unwrap();
        assert_eq!(parse_yaml(&y, "host").unwrap().uid, "host");
        let d = Dashboard::find("overview").unwrap();
        assert_eq!(&parse_yaml(&to_yaml(d).unwrap(), "x").unwrap(), d, "YAML round trip");
    }
}
