//! `filesystem`: node_filesystem_*{device,fstype,mountpoint} from the mount
//! table of PID 1 and statfs(2), with node_exporter's default exclusions.
//!
//! statfs on a dead network mount can block forever, so calls run on a worker
//! thread with a timeout; a mount that times out is marked stuck and reported
//! as `node_filesystem_device_error 1` until its call returns (as node_exporter does).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use super::{compile, CollectError, Collector, Family, FamilyKind, HostConfig, Paths};

/// What statfs tells about one filesystem.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct FsStat {
    pub blocks: f64,
    pub bfree: f64,
    pub bavail: f64,
    pub files: f64,
    pub ffree: f64,
    pub bsize: f64,
}

/// A way to stat a path (the real statfs, or a fake in tests).
pub(crate) type StatFn = fn(&Path) -> std::io::Result<FsStat>;

/// statfs(2) through libc.
pub(crate) fn statfs(path: &Path) -> std::io::Result<FsStat> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: statfs is plain data; zeroed is valid and the call fills it.
    let mut buf: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: c is NUL-terminated and buf is writable.
    if unsafe { libc::statfs(c.as_ptr(), &mut buf) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // Same fields and block size (f_bsize) as node_exporter.
    Ok(FsStat {
        blocks: buf.f_blocks as f64,
        bfree: buf.f_bfree as f64,
        bavail: buf.f_bavail as f64,
        files: buf.f_files as f64,
        ffree: buf.f_ffree as f64,
        bsize: buf.f_bsize as f64,
    })
}

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
    pub read_only: bool,
}

/// Undoes the kernel's octal escapes (`\040` for space, `\011` tab, …).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            let v = (b[i + 1] - b'0') as u32 * 64 + (b[i + 2] - b'0') as u32 * 8 + (b[i + 3] - b'0') as u32;
            if let Ok(byte) = u8::try_from(v) {
                out.push(byte);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses /proc/<pid>/mountinfo:
/// `id parent major:minor root mountpoint options [optional…] - fstype source superoptions`.
pub(crate) fn parse_mountinfo(text: &str, path: &Path) -> Result<Vec<Mount>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.is_empty() {
            continue;
        }
        let sep = f.iter().position(|x| *x == "-").filter(|&i| i >= 6 && f.len() >= i + 3);
        let Some(sep) = sep else {
            return Err(CollectError::parse(path, format!("malformed mountinfo line {line:?}")));
        };
        let has_ro = |opts: &str| opts.split(',').any(|o| o == "ro");
        out.push(Mount {
            device: f[sep + 2].to_string(),
            mountpoint: unescape(f[4]),
            fstype: f[sep + 1].to_string(),
            read_only: has_ro(f[5]) || f.get(sep + 3).is_some_and(|o| has_ro(o)),
        });
    }
    Ok(out)
}

type Request = (PathBuf, String, mpsc::Sender<std::io::Result<FsStat>>);

pub(crate) struct FilesystemCollector {
    mount_exclude: Result<regex::Regex, String>,
    fstype_exclude: Result<regex::Regex, String>,
    rootfs: PathBuf,
    timeout: Duration,
    stat: StatFn,
    worker: Option<mpsc::Sender<Request>>,
    /// Mount points whose statfs has not returned yet.
    stuck: Arc<Mutex<HashSet<String>>>,
}

impl FilesystemCollector {
    pub fn new(cfg: &HostConfig) -> Self {
        Self::with_stat(cfg, statfs)
    }

    pub fn with_stat(cfg: &HostConfig, stat: StatFn) -> Self {
        FilesystemCollector {
            mount_exclude: compile("filesystem mount_points_exclude", &cfg.mount_points_exclude)
                .map_err(|e| e.to_string()),
            fstype_exclude: compile("filesystem fs_types_exclude", &cfg.fs_types_exclude).map_err(|e| e.to_string()),
            rootfs: cfg.rootfs_path.clone(),
            timeout: cfg.mount_timeout,
            stat,
            worker: None,
            stuck: Arc::default(),
        }
    }

    /// The mount point as the host sees it (node_exporter's rootfsStripPrefix).
    fn strip_rootfs(&self, mp: &str) -> String {
        let root = self.rootfs.to_string_lossy();
        if root == "/" {
            return mp.to_string();
        }
        match mp.strip_prefix(root.trim_end_matches('/')) {
            Some("") => "/".to_string(),
            Some(rest) => rest.to_string(),
            None => mp.to_string(),
        }
    }

    fn spawn_worker(&self) -> Option<mpsc::Sender<Request>> {
        let (tx, rx) = mpsc::channel::<Request>();
        let (stat, stuck) = (self.stat, Arc::clone(&self.stuck));
        let spawned = std::thread::Builder::new().name("sightline-statfs".into()).spawn(move || {
            for (path, mountpoint, reply) in rx {
                let r = stat(&path);
                // If this call had timed out, the mount has recovered.
                if let Ok(mut s) = stuck.lock() {
                    s.remove(&mountpoint);
                }
                let _ = reply.send(r);
            }
        });
        spawned.ok().map(|_| tx)
    }

    /// statfs with a timeout; None when it timed out (the mount is now stuck).
    fn stat_with_timeout(&mut self, path: PathBuf, mountpoint: &str) -> Option<std::io::Result<FsStat>> {
        if self.worker.is_none() {
            self.worker = self.spawn_worker();
        }
        let Some(worker) = &self.worker else {
            return Some((self.stat)(&path)); // no thread available: stat inline
        };
        let (tx, rx) = mpsc::channel();
        if let Ok(mut s) = self.stuck.lock() {
            s.insert(mountpoint.to_string());
        }
        if worker.send((path.clone(), mountpoint.to_string(), tx)).is_err() {
            self.worker = None;
            if let Ok(mut s) = self.stuck.lock() {
                s.remove(mountpoint);
            }
            return Some((self.stat)(&path));
        }
        match rx.recv_timeout(self.timeout) {
            Ok(r) => Some(r),
            Err(_) => {
                // The worker is blocked in the kernel: leave it (it clears the stuck
                // mark when it returns) and use a fresh one for the next mounts.
                tracing::debug!(mountpoint, "statfs timed out; marking mount as stuck");
                self.worker = None;
                None
            }
        }
    }
}

impl Collector for FilesystemCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let cfg_err = |e: &String| CollectError::parse(Path::new("config"), e.clone());
        let mount_exclude = self.mount_exclude.as_ref().map_err(cfg_err)?.clone();
        let fstype_exclude = self.fstype_exclude.as_ref().map_err(cfg_err)?.clone();
        // PID 1's mount table is the host's even when we run in a container with
        // the host's /proc; fall back to our own when hidepid hides PID 1.
        let mut path = paths.proc("1/mountinfo");
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound || e.kind() == std::io::ErrorKind::PermissionDenied => {
                path = paths.proc("self/mountinfo");
                super::read(&path)?
            }
            Err(e) => return Err(CollectError::io(&path, e)),
        };
        let mounts = parse_mountinfo(&text, &path)?;

        const LABELS: [(&str, &str); 7] = [
            ("node_filesystem_size_bytes", "Filesystem size in bytes."),
            ("node_filesystem_free_bytes", "Filesystem free space in bytes."),
            ("node_filesystem_avail_bytes", "Filesystem space available to non-root users in bytes."),
            ("node_filesystem_files", "Filesystem total file nodes."),
            ("node_filesystem_files_free", "Filesystem total free file nodes."),
            ("node_filesystem_readonly", "Filesystem read-only status."),
            (
                "node_filesystem_device_error",
                "Whether an error occurred while getting statistics for the given device.",
            ),
        ];
        let mut fams: Vec<Family> = LABELS.iter().map(|(n, h)| Family::new(*n, *h, FamilyKind::Gauge)).collect();
        let mut seen = HashSet::new();
        for m in mounts {
            let mountpoint = self.strip_rootfs(&m.mountpoint);
            if mount_exclude.is_match(&mountpoint) || fstype_exclude.is_match(&m.fstype) {
                continue;
            }
            // The same filesystem mounted twice at one place is reported once.
            if !seen.insert((m.device.clone(), mountpoint.clone(), m.fstype.clone())) {
                continue;
            }
            let labels =
                [("device", m.device.as_str()), ("fstype", m.fstype.as_str()), ("mountpoint", mountpoint.as_str())];
            let already_stuck = self.stuck.lock().map(|s| s.contains(&mountpoint)).unwrap_or(false);
            let full = self.rootfs.join(mountpoint.trim_start_matches('/'));
            let result = if already_stuck { None } else { self.stat_with_timeout(full, &mountpoint) };
            match result {
                Some(Ok(s)) => {
                    let ro = if m.read_only { 1.0 } else { 0.0 };
                    let vals = [s.blocks * s.bsize, s.bfree * s.bsize, s.bavail * s.bsize, s.files, s.ffree, ro, 0.0];
                    for (f, v) in fams.iter_mut().zip(vals) {
                        f.push(labels, v);
                    }
                }
                Some(Err(e)) => {
                    tracing::debug!(mountpoint = %mountpoint, error = %e, "statfs failed");
                    fams[6].push(labels, 1.0);
                }
                None => fams[6].push(labels, 1.0),
            }
        }
        out.append(&mut fams);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn fake_stat(path: &Path) -> std::io::Result<FsStat> {
        let p = path.to_string_lossy();
        if p.ends_with("/boot") {
            return Ok(FsStat { blocks: 1000.0, bfree: 400.0, bavail: 300.0, files: 50.0, ffree: 20.0, bsize: 1024.0 });
        }
        if p.ends_with("/run") {
            return Err(std::io::Error::from_raw_os_error(libc::EACCES));
        }
        if p.ends_with("space") {
            std::thread::sleep(Duration::from_millis(400));
        }
        Ok(FsStat { blocks: 100.0, bfree: 50.0, bavail: 40.0, files: 10.0, ffree: 5.0, bsize: 4096.0 })
    }

    fn collect(c: &mut FilesystemCollector) -> Vec<Family> {
        let mut out = Vec::new();
        c.update(&fixture_paths(), &mut out).unwrap();
        out
    }

    #[test]
    fn golden_values_and_default_exclusions() {
        let cfg = HostConfig { mount_timeout: Duration::from_secs(5), ..fixture_config() };
        let out = collect(&mut FilesystemCollector::with_stat(&cfg, fake_stat));
        let errs = family(&out, "node_filesystem_device_error");
        let mps: Vec<&str> = errs.samples.iter().filter_map(|(l, _)| l.get("mountpoint")).collect();
        // /proc, /sys, /dev, docker overlay, cgroup2 and squashfs are excluded.
        assert_eq!(mps, ["/", "/run", "/boot", "/mnt/with space"]);
        let boot = [("device", "/dev/sda1"), ("fstype", "ext2"), ("mountpoint", "/boot")];
        assert_eq!(value(&out, "node_filesystem_size_bytes", &boot), Some(1024000.0));
        assert_eq!(value(&out, "node_filesystem_free_bytes", &boot), Some(409600.0));
        assert_eq!(value(&out, "node_filesystem_avail_bytes", &boot), Some(307200.0));
        assert_eq!(value(&out, "node_filesystem_files", &boot), Some(50.0));
        assert_eq!(value(&out, "node_filesystem_files_free", &boot), Some(20.0));
        assert_eq!(value(&out, "node_filesystem_readonly", &boot), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_readonly", &[("mountpoint", "/")]), Some(0.0));
        assert_eq!(value(&out, "node_filesystem_device_error", &boot), Some(0.0));
        // A failing statfs gives device_error 1 and no other samples for that mount.
        assert_eq!(value(&out, "node_filesystem_device_error", &[("mountpoint", "/run")]), Some(1.0));
        assert_eq!(value(&out, "node_filesystem_size_bytes", &[("mountpoint", "/run")]), None);
    }

    #[test]
    fn slow_mount_is_marked_stuck_and_recovers() {
        let cfg = HostConfig { mount_timeout: Duration::from_millis(50), ..fixture_config() };
        let mut c = FilesystemCollector::with_stat(&cfg, fake_stat);
        let out = collect(&mut c);
        let sp = [("mountpoint", "/mnt/with space")];
        assert_eq!(value(&out, "node_filesystem_device_error", &sp), Some(1.0));
        // Mounts after the stuck one are still reported (by a fresh worker).
        assert_eq!(value(&out, "node_filesystem_size_bytes", &[("mountpoint", "/boot")]), Some(1024000.0));
        assert!(c.stuck.lock().unwrap().contains("/mnt/with space"));
        std::thread::sleep(Duration::from_millis(600));
        assert!(c.stuck.lock().unwrap().is_empty(), "the stuck mark is cleared once statfs returns");
    }

    #[test]
    fn rootfs_prefix_is_stripped() {
        let cfg = HostConfig { rootfs_path: PathBuf::from("/host"), ..fixture_config() };
        let c = FilesystemCollector::with_stat(&cfg, fake_stat);
        assert_eq!(c.strip_rootfs("/host"), "/");
        assert_eq!(c.strip_rootfs("/host/boot"), "/boot");
        assert_eq!(c.strip_rootfs("/other"), "/other");
    }

    #[test]
    fn mountinfo_parsing() {
        let p = Path::new("mountinfo");
        let m =
            parse_mountinfo("36 35 98:0 /mnt1 /mnt\\0402 rw,noatime master:1 - ext3 /dev/root ro,errors=continue\n", p)
                .unwrap();
        assert_eq!(
            m,
            vec![Mount {
                device: "/dev/root".into(),
                mountpoint: "/mnt 2".into(),
                fstype: "ext3".into(),
                read_only: true
            }]
        );
        assert!(parse_mountinfo("1 2 3 4\n", p).is_err());
        assert_eq!(unescape("a\\011b\\\\c\\9"), "a\tb\\\\c\\9");
    }

    #[test]
    fn real_statfs_of_root() {
        let s = statfs(Path::new("/")).unwrap();
        assert!(s.blocks > 0.0 && s.bsize > 0.0);
        assert!(statfs(Path::new("/definitely/not/here")).is_err());
    }
}
