//! Built-in host metrics with node_exporter's exact names, types, label names
//! and units, so existing dashboards and alert rules work unchanged.
//!
//! Each collector reads `/proc` and `/sys` directly (paths configurable for
//! tests) and appends [`Family`]s. [`HostCollector::collect`] runs every enabled
//! collector; one that fails is reported as
//! `node_scrape_collector_success{collector="…"} 0` and does not stop the others,
//! as in node_exporter.
//!
//! Collectors (all on by default, see [`COLLECTOR_NAMES`]): cpu, diskstats,
//! entropy, filefd, filesystem, hwmon, loadavg, meminfo, netclass, netdev, netstat, os,
//! pressure, sockstat, stat, thermal_zone, time, timex, uname, vmstat. Defaults
//! (excluded mount points, fs types and disks; netstat and vmstat fields) are
//! node_exporter's current ones. Deliberate differences from node_exporter:
//! netdev reads /proc/net/dev (node_exporter's `--no-collector.netdev.netlink`
//! mode, so no `receive_nohandler`); `node_disk_info` and the textfile
//! collector are not implemented; Linux has no uptime metric in node_exporter, so
//! uptime is `node_time_seconds - node_boot_time_seconds` as in its dashboards.
//!
//! `tests/node_exporter_compat.rs` runs the real node_exporter beside this
//! collector and checks names, types, help texts, label names and key values.

#![warn(missing_docs)]

mod cpu;
mod diskstats;
mod entropy;
mod filefd;
mod filesystem;
mod hwmon;
mod loadavg;
mod meminfo;
mod netclass;
mod netdev;
mod netstat;
mod os;
mod pressure;
pub mod probe;
mod sockstat;
mod stat;
mod text;
mod thermal_zone;
mod time;
mod timex;
mod uname;
mod vmstat;

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::tsdb::Labels;

pub use netstat::DEFAULT_NETSTAT_FIELDS;
pub use text::render_text;
pub use vmstat::DEFAULT_VMSTAT_FIELDS;

/// The kind of a metric family, as in the text format's `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FamilyKind {
    /// Only goes up (resets to zero on restart).
    Counter,
    /// Goes up and down.
    Gauge,
    /// Unknown semantics (node_exporter uses it for netstat and vmstat fields).
    Untyped,
}

impl FamilyKind {
    /// The word used in the text format's `# TYPE` line.
    pub fn as_str(self) -> &'static str {
        match self {
            FamilyKind::Counter => "counter",
            FamilyKind::Gauge => "gauge",
            FamilyKind::Untyped => "untyped",
        }
    }
}

/// One metric family as collected.
#[derive(Debug, Clone, PartialEq)]
pub struct Family {
    /// Metric name, e.g. `node_cpu_seconds_total`.
    pub name: String,
    /// Help text (node_exporter's wording).
    pub help: String,
    /// Counter, gauge or untyped.
    pub kind: FamilyKind,
    /// Samples: label set (without `__name__`) and value.
    pub samples: Vec<(Labels, f64)>,
}

impl Family {
    /// An empty family.
    pub fn new(name: impl Into<String>, help: impl Into<String>, kind: FamilyKind) -> Self {
        Family { name: name.into(), help: help.into(), kind, samples: Vec::new() }
    }

    /// A family with one sample without labels.
    pub fn single(name: impl Into<String>, help: impl Into<String>, kind: FamilyKind, v: f64) -> Self {
        let mut f = Family::new(name, help, kind);
        f.samples.push((Labels::new(), v));
        f
    }

    /// Adds a sample with the given label pairs.
    pub fn push<'a>(&mut self, labels: impl IntoIterator<Item = (&'a str, &'a str)>, v: f64) {
        self.samples.push((Labels::from_pairs(labels), v));
    }
}

/// Flattens families into label sets (with `__name__`) and values, ready for
/// an [`crate::tsdb::Appender`] at the collection's timestamp.
pub fn to_samples(families: &[Family]) -> Vec<(Labels, f64)> {
    let mut out = Vec::with_capacity(families.iter().map(|f| f.samples.len()).sum());
    for f in families {
        for (labels, v) in &f.samples {
            let mut l = labels.clone();
            l.set(crate::tsdb::METRIC_NAME, &f.name);
            out.push((l, *v));
        }
    }
    out
}

/// Why a collector or probe failed. Carries the path or target involved.
#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    /// A file could not be read.
    #[error("reading {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file did not look as expected.
    #[error("parsing {path}: {why}")]
    Parse {
        /// The file (`config` for a bad configured regex).
        path: PathBuf,
        /// What was wrong.
        why: String,
    },
    /// A configured regular expression does not compile.
    #[error("{what}: invalid regular expression {pattern:?}: {source}")]
    Regex {
        /// The setting.
        what: &'static str,
        /// The pattern as given.
        pattern: String,
        /// The regex crate's explanation.
        source: regex::Error,
    },
    /// A collector name not in [`COLLECTOR_NAMES`].
    #[error("unknown collector {0:?} (known: {known})", known = COLLECTOR_NAMES.join(", "))]
    UnknownCollector(String),
    /// A system call failed.
    #[error("{call} failed: {source}")]
    Sys {
        /// The call.
        call: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

impl CollectError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CollectError::Io { path: path.to_path_buf(), source }
    }
    pub(crate) fn parse(path: &Path, why: impl Into<String>) -> Self {
        CollectError::Parse { path: path.to_path_buf(), why: why.into() }
    }
}

/// Every host collector, in the order they run.
pub const COLLECTOR_NAMES: &[&str] = &[
    "cpu",
    "diskstats",
    "entropy",
    "filefd",
    "filesystem",
    "hwmon",
    "loadavg",
    "meminfo",
    "netclass",
    "netdev",
    "netstat",
    "os",
    "pressure",
    "sockstat",
    "stat",
    "thermal_zone",
    "time",
    "timex",
    "uname",
    "vmstat",
];

/// node_exporter's default `--collector.filesystem.mount-points-exclude`.
pub const DEFAULT_MOUNT_POINTS_EXCLUDE: &str =
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)";
/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
pub const DEFAULT_FS_TYPES_EXCLUDE: &str = r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs|squashfs|erofs|sysfs|tracefs)$";
/// node_exporter's default `--collector.diskstats.device-exclude` (partitions, ram, loop).
pub const DEFAULT_DISK_DEVICE_EXCLUDE: &str = r"^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$";

/// Which collectors run and where they read from.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Names of the enabled collectors (see [`COLLECTOR_NAMES`]); all by default.
    pub collectors: Vec<String>,
    /// procfs mount point (`/proc`).
    pub proc_path: PathBuf,
    /// sysfs mount point (`/sys`).
    pub sys_path: PathBuf,
    /// Where the host's root filesystem is visible (`/`; `/host` in a container).
    pub rootfs_path: PathBuf,
    /// Mount points matching this are left out of `node_filesystem_*`.
    pub mount_points_exclude: String,
    /// Filesystem types matching this are left out of `node_filesystem_*`.
    pub fs_types_exclude: String,
    /// Block devices matching this are left out of `node_disk_*`.
    pub disk_device_exclude: String,
    /// Network devices matching this are left out of the netdev metrics (none by default).
    pub netdev_device_exclude: Option<String>,
    /// Network devices matching this are left out of the netclass metrics (none by default).
    pub netclass_ignored_devices: Option<String>,
    /// How long a `statfs` may take before the mount is marked stuck.
    pub mount_timeout: std::time::Duration,
    /// `Protocol_Field` names of /proc/net/{netstat,snmp,snmp6} to report.
    pub netstat_fields: String,
    /// /proc/vmstat fields to report.
    pub vmstat_fields: String,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            collectors: COLLECTOR_NAMES.iter().map(|s| s.to_string()).collect(),
            proc_path: PathBuf::from("/proc"),
            sys_path: PathBuf::from("/sys"),
            rootfs_path: PathBuf::from("/"),
            mount_points_exclude: DEFAULT_MOUNT_POINTS_EXCLUDE.to_string(),
            fs_types_exclude: DEFAULT_FS_TYPES_EXCLUDE.to_string(),
            disk_device_exclude: DEFAULT_DISK_DEVICE_EXCLUDE.to_string(),
            netdev_device_exclude: None,
            netclass_ignored_devices: None,
            mount_timeout: std::time::Duration::from_secs(5),
            netstat_fields: DEFAULT_NETSTAT_FIELDS.to_string(),
            vmstat_fields: DEFAULT_VMSTAT_FIELDS.to_string(),
        }
    }
}

impl HostConfig {
    /// Checks collector names and regexes, reporting every problem at once.
    pub fn validate(&self) -> Result<(), Vec<CollectError>> {
        let mut errs = Vec::new();
        for c in &self.collectors {
            if !COLLECTOR_NAMES.contains(&c.as_str()) {
                errs.push(CollectError::UnknownCollector(c.clone()));
            }
        }
        let regexes = [
            ("filesystem mount_points_exclude", Some(&self.mount_points_exclude)),
            ("filesystem fs_types_exclude", Some(&self.fs_types_exclude)),
            ("diskstats device_exclude", Some(&self.disk_device_exclude)),
            ("netdev device_exclude", self.netdev_device_exclude.as_ref()),
            ("netclass ignored_devices", self.netclass_ignored_devices.as_ref()),
            ("netstat fields", Some(&self.netstat_fields)),
            ("vmstat fields", Some(&self.vmstat_fields)),
        ];
        for (what, pat) in regexes {
            if let Some(p) = pat {
                if let Err(e) = compile(what, p) {
                    errs.push(e);
                }
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(errs)
        }
    }
}

pub(crate) fn compile(what: &'static str, pattern: &str) -> Result<regex::Regex, CollectError> {
    regex::Regex::new(pattern).map_err(|source| CollectError::Regex { what, pattern: pattern.to_string(), source })
}

/// A field-name regex whose answers are remembered: the set of names a kernel
/// reports never changes, so each name is matched once, not at every scrape.
pub(crate) struct FieldFilter {
    re: Result<regex::Regex, String>,
    seen: std::collections::HashMap<String, bool>,
}

impl FieldFilter {
    pub fn new(what: &'static str, pattern: &str) -> Self {
        FieldFilter { re: compile(what, pattern).map_err(|e| e.to_string()), seen: Default::default() }
    }

    /// Whether `name` is selected; fails when the configured regex was invalid.
    pub fn matches(&mut self, name: &str) -> Result<bool, CollectError> {
        if let Some(&m) = self.seen.get(name) {
            return Ok(m);
        }
        let re = self.re.as_ref().map_err(|e| CollectError::parse(Path::new("config"), e))?;
        let m = re.is_match(name);
        self.seen.insert(name.to_string(), m);
        Ok(m)
    }

    /// Fails when the configured regex was invalid.
    pub fn check(&self) -> Result<(), CollectError> {
        self.re.as_ref().map(|_| ()).map_err(|e| CollectError::parse(Path::new("config"), e))
    }
}

/// Where collectors read from.
pub(crate) struct Paths {
    pub proc: PathBuf,
    pub sys: PathBuf,
    pub rootfs: PathBuf,
}

impl Paths {
    pub fn proc(&self, rel: &str) -> PathBuf {
        self.proc.join(rel)
    }
    pub fn sys(&self, rel: &str) -> PathBuf {
        self.sys.join(rel)
    }
}

/// Reads a whole file, naming it in the error.
pub(crate) fn read(path: &Path) -> Result<String, CollectError> {
    std::fs::read_to_string(path).map_err(|e| CollectError::io(path, e))
}

/// One host collector: appends its families or fails as a whole.
pub(crate) trait Collector: Send {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError>;
}

/// Runs the enabled host collectors and adds node_exporter's scrape metrics.
///
/// Collection reads files and calls statfs, so it blocks: call
/// [`HostCollector::collect`] from a blocking thread (`spawn_blocking`), not on
/// the async executor. Keep one instance alive between collections: the cpu
/// collector remembers the last values to keep counters monotonic.
pub struct HostCollector {
    paths: Paths,
    collectors: Vec<(&'static str, Box<dyn Collector>)>,
}

impl HostCollector {
    /// Builds the collectors. Unknown collector names are skipped and a bad
    /// regex makes its collector fail at every collection (use
    /// [`HostCollector::try_new`] to reject such a config up front).
    pub fn new(cfg: HostConfig) -> Self {
        let paths = Paths { proc: cfg.proc_path.clone(), sys: cfg.sys_path.clone(), rootfs: cfg.rootfs_path.clone() };
        let mut collectors: Vec<(&'static str, Box<dyn Collector>)> = Vec::new();
        for &name in COLLECTOR_NAMES {
            if !cfg.collectors.iter().any(|c| c == name) {
                continue;
            }
            let c: Box<dyn Collector> = match name {
                "cpu" => Box::new(cpu::CpuCollector::default()),
                "diskstats" => Box::new(diskstats::DiskstatsCollector::new(&cfg.disk_device_exclude)),
                "entropy" => Box::new(entropy::EntropyCollector),
                "filefd" => Box::new(filefd::FilefdCollector),
                "filesystem" => Box::new(filesystem::FilesystemCollector::new(&cfg)),
                "hwmon" => Box::new(hwmon::HwmonCollector),
                "loadavg" => Box::new(loadavg::LoadavgCollector),
                "meminfo" => Box::new(meminfo::MeminfoCollector),
                "netdev" => Box::new(netdev::NetdevCollector::new(cfg.netdev_device_exclude.as_deref())),
                "netclass" => Box::new(netclass::NetclassCollector::new(cfg.netclass_ignored_devices.as_deref())),
                "netstat" => Box::new(netstat::NetstatCollector::new(&cfg.netstat_fields)),
                "os" => Box::new(os::OsCollector),
                "pressure" => Box::new(pressure::PressureCollector),
                "sockstat" => Box::new(sockstat::SockstatCollector),
                "stat" => Box::new(stat::StatCollector),
                "thermal_zone" => Box::new(thermal_zone::ThermalZoneCollector),
                "time" => Box::new(time::TimeCollector),
                "timex" => Box::new(timex::TimexCollector),
                "uname" => Box::new(uname::UnameCollector),
                "vmstat" => Box::new(vmstat::VmstatCollector::new(&cfg.vmstat_fields)),
                _ => continue,
            };
            collectors.push((name, c));
        }
        HostCollector { paths, collectors }
    }

    /// Like [`HostCollector::new`] but rejects unknown collectors and bad regexes.
    pub fn try_new(cfg: HostConfig) -> Result<Self, Vec<CollectError>> {
        cfg.validate()?;
        Ok(Self::new(cfg))
    }

    /// Runs every enabled collector; a failing collector is reported in
    /// node_scrape_collector_success{collector} = 0 and does not fail the others.
    /// Families come out sorted by name, samples by label set.
    pub fn collect(&mut self) -> Vec<Family> {
        let mut out = Vec::new();
        let mut duration = Family::new(
            "node_scrape_collector_duration_seconds",
            "node_exporter: Duration of a collector scrape.",
            FamilyKind::Gauge,
        );
        let mut success = Family::new(
            "node_scrape_collector_success",
            "node_exporter: Whether a collector succeeded.",
            FamilyKind::Gauge,
        );
        for (name, c) in &mut self.collectors {
            let start = Instant::now();
            let mut fams = Vec::new();
            let ok = match c.update(&self.paths, &mut fams) {
                Ok(()) => {
                    out.append(&mut fams);
                    1.0
                }
                Err(e) => {
                    tracing::debug!(collector = *name, error = %e, "host collector failed");
                    0.0
                }
            };
            duration.push([("collector", *name)], start.elapsed().as_secs_f64());
            success.push([("collector", *name)], ok);
        }
        out.push(duration);
        out.push(success);
        out.retain(|f| !f.samples.is_empty());
        for f in &mut out {
            f.samples.sort_by(|a, b| a.0.cmp(&b.0));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        out
    }
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    /// The fake /proc and /sys checked into tests/fixtures/proc.
    pub fn fixture_paths() -> Paths {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc");
        Paths { proc: root.join("proc"), sys: root.join("sys"), rootfs: root.join("rootfs") }
    }

    pub fn fixture_config() -> HostConfig {
        let p = fixture_paths();
        HostConfig { proc_path: p.proc, sys_path: p.sys, rootfs_path: p.rootfs, ..HostConfig::default() }
    }

    /// The value of the sample of `name` whose labels include all of `want`.
    pub fn value(fams: &[Family], name: &str, want: &[(&str, &str)]) -> Option<f64> {
        let f = fams.iter().find(|f| f.name == name)?;
        f.samples.iter().find(|(l, _)| want.iter().all(|(k, v)| l.get(k) == Some(*v))).map(|(_, v)| *v)
    }

    pub fn family<'a>(fams: &'a [Family], name: &str) -> &'a Family {
        fams.iter().find(|f| f.name == name).unwrap_or_else(|| panic!("family {name} missing"))
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn to_samples_adds_the_metric_name() {
        let mut f = Family::new("node_x", "h", FamilyKind::Gauge);
        f.push([("device", "sda")], 2.0);
        let g = Family::single("node_y", "h", FamilyKind::Counter, 3.0);
        let s = to_samples(&[f, g]);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].0.to_string(), "node_x{device=\"sda\"}");
        assert_eq!(s[1].0.metric_name(), Some("node_y"));
        assert_eq!(s[1].1, 3.0);
    }

    #[test]
    fn default_regexes_compile_and_config_validates() {
        assert!(HostConfig::default().validate().is_ok());
    }

    #[test]
    fn validate_reports_every_error() {
        let cfg = HostConfig {
            collectors: vec!["cpu".into(), "nope".into()],
            fs_types_exclude: "(".into(),
            netdev_device_exclude: Some("[".into()),
            ..HostConfig::default()
        };
        let errs = cfg.validate().unwrap_err();
        assert_eq!(errs.len(), 3, "{errs:?}");
        assert!(errs[0].to_string().contains("unknown collector \"nope\""));
        assert!(errs.iter().any(|e| e.to_string().contains("fs_types_exclude")));
    }

    #[test]
    fn failing_collector_does_not_fail_others() {
        let mut cfg = fixture_config();
        cfg.proc_path = cfg.proc_path.join("does-not-exist");
        cfg.collectors = vec!["loadavg".into(), "uname".into()];
        let fams = HostCollector::new(cfg).collect();
        assert_eq!(value(&fams, "node_scrape_collector_success", &[("collector", "loadavg")]), Some(0.0));
        assert_eq!(value(&fams, "node_scrape_collector_success", &[("collector", "uname")]), Some(1.0));
        assert!(fams.iter().any(|f| f.name == "node_uname_info"));
        assert!(!fams.iter().any(|f| f.name == "node_load1"));
    }

    #[test]
    fn bad_regex_fails_only_its_collector() {
        let mut cfg = fixture_config();
        cfg.disk_device_exclude = "(".into();
        cfg.collectors = vec!["diskstats".into(), "meminfo".into()];
        assert!(HostCollector::try_new(cfg.clone()).is_err());
        let fams = HostCollector::new(cfg).collect();
        assert_eq!(value(&fams, "node_scrape_collector_success", &[("collector", "diskstats")]), Some(0.0));
        assert_eq!(value(&fams, "node_scrape_collector_success", &[("collector", "meminfo")]), Some(1.0));
    }

    #[test]
    fn collectors_and_probes_can_move_across_threads() {
        fn send<T: Send>() {}
        fn sync<T: Sync>() {}
        send::<HostCollector>();
        send::<probe::Probe>();
        sync::<probe::Probe>();
    }

    /// The whole text output for the fixture, compared with a checked-in file
    /// (like node_exporter's end-to-end test). Run with UPDATE_GOLDEN=1 to rewrite
    /// it after an intended change, and review the diff.
    #[test]
    fn golden_text_output() {
        let mut cfg = fixture_config();
        // Left out: filesystem, uname and timex read the real machine, time is the clock,
        // sockstat's mem_bytes depends on the page size.
        cfg.collectors.retain(|c| !["filesystem", "uname", "time", "timex", "sockstat"].contains(&c.as_str()));
        let mut fams = HostCollector::new(cfg).collect();
        fams.retain(|f| f.name != "node_scrape_collector_duration_seconds");
        let text = render_text(&fams);
        let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/proc/golden.prom");
        if std::env::var_os("UPDATE_GOLDEN").is_some() {
            std::fs::write(&golden, &text).unwrap();
        }
        let want = std::fs::read_to_string(&golden).expect("golden file (run with UPDATE_GOLDEN=1 to create it)");
        if text != want {
            let diff: Vec<String> = want
                .lines()
                .zip(text.lines())
                .filter(|(a, b)| a != b)
                .take(10)
                .map(|(a, b)| format!("- {a}\n+ {b}"))
                .collect();
            panic!("output differs from {}:\n{}", golden.display(), diff.join("\n"));
        }
    }

    #[test]
    fn fixture_collection_is_sorted_and_complete() {
        let mut cfg = fixture_config();
        // filesystem statfs()es real paths; it has its own golden test with a fake statfs.
        cfg.collectors.retain(|c| c != "filesystem");
        let fams = HostCollector::new(cfg).collect();
        let names: Vec<&str> = fams.iter().map(|f| f.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for c in COLLECTOR_NAMES.iter().filter(|c| **c != "filesystem") {
            assert_eq!(
                value(&fams, "node_scrape_collector_success", &[("collector", c)]),
                Some(1.0),
                "collector {c} failed on the fixture"
            );
        }
    }
}
