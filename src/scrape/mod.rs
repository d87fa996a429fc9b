//! Scraping: target discovery (static and file_sd), relabeling, the scrape
//! loop and the exposition parser. Samples leave this module only through
//! the tsdb `Appendable` trait.

pub mod exposition;
mod plain_http;
pub mod relabel;
mod scrape_loop;
mod target;

pub use scrape_loop::{process, Health, Input, ScrapeCache, ScrapeLoop, ScrapeReport, Source, TargetHealth};
pub use target::{format_duration, targets_from_group, Target};

use crate::collect::HostCollector;
use crate::config::{read_file_sd, read_file_sd_for_probes, ScrapeConfig, TargetGroup};
use crate::selfmon::{JobLabels, Metrics};
use crate::tsdb::{Appendable, Labels};
use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Once, RwLock};
use std::time::{Duration, SystemTime};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often file_sd files are checked for changes.
const FILE_SD_POLL: Duration = Duration::from_secs(5);

/// Installs rustls's crypto provider once per process (reqwest is built without one).
pub fn ensure_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// A target as the targets page and `/api/v1/targets` show it.
#[derive(Clone, Debug)]
pub struct TargetStatus {
    pub job: String,
    pub target: Target,
    pub health: TargetHealth,
    pub scrape_interval: Duration,
    pub scrape_timeout: Duration,
}

/// A target dropped by relabeling.
#[derive(Clone, Debug)]
pub struct DroppedTarget {
    pub job: String,
    pub discovered: Labels,
}

struct RunningTarget {
    health: Arc<Mutex<TargetHealth>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

struct Pool {
    cfg: Arc<ScrapeConfig>,
    source: Source,
    active: HashMap<Target, RunningTarget>,
    dropped: Vec<Labels>,
    discovery: Option<JoinHandle<()>>,
}

struct Inner {
    store: Arc<dyn Appendable>,
    metrics: Arc<Metrics>,
    pools: RwLock<BTreeMap<String, Pool>>,
}

/// Runs one scrape loop per target of every scrape config.
#[derive(Clone)]
pub struct ScrapeManager {
    inner: Arc<Inner>,
}

impl ScrapeManager {
    pub fn new(store: Arc<dyn Appendable>, metrics: Arc<Metrics>) -> Self {
        ScrapeManager { inner: Arc::new(Inner { store, metrics, pools: RwLock::new(BTreeMap::new()) }) }
    }

    /// Starts discovery and scraping for every job. Must run inside a tokio runtime.
    pub fn start(&self, configs: &[ScrapeConfig]) -> Result<(), String> {
        for cfg in configs {
            let source = match &cfg.probe {
                Some(p) => Source::Probe(p.probe.clone()),
                None => {
                    Source::Http(scrape_loop::build_client(cfg).map_err(|e| format!("job {:?}: {e}", cfg.job_name))?)
                }
            };
            let cfg = Arc::new(cfg.clone());
            self.inner.pools.write().unwrap_or_else(|e| e.into_inner()).insert(
                cfg.job_name.clone(),
                Pool { cfg: cfg.clone(), source, active: HashMap::new(), dropped: Vec::new(), discovery: None },
            );
            let manager = self.clone();
            let job = cfg.job_name.clone();
            let task = tokio::spawn(async move { manager.discover(cfg).await });
            if let Some(pool) = self.inner.pools.write().unwrap_or_else(|e| e.into_inner()).get_mut(&job) {
                pool.discovery = Some(task);
            }
        }
        Ok(())
    }

    /// Runs the built-in host collector as one more job: its one target is
    /// this machine (`instance` = host name), scraped on the job's interval.
    pub fn start_host(&self, cfg: ScrapeConfig, collector: HostCollector, instance: &str) {
        let cfg = Arc::new(cfg);
        self.inner.pools.write().unwrap_or_else(|e| e.into_inner()).insert(
            cfg.job_name.clone(),
            Pool {
                cfg: cfg.clone(),
                source: Source::Host(Arc::new(Mutex::new(collector))),
                active: HashMap::new(),
                dropped: Vec::new(),
                discovery: None,
            },
        );
        let group = TargetGroup { targets: vec![instance.to_string()], labels: Labels::new(), source: "host".into() };
        self.sync(&cfg.job_name, &[group]);
    }

    /// Static targets once, file_sd targets whenever their files change.
    async fn discover(&self, cfg: Arc<ScrapeConfig>) {
        let statics: Vec<TargetGroup> = cfg.static_configs.clone();
        let mut seen: Option<Vec<(PathBuf, Option<SystemTime>)>> = None;
        let mut file_groups: HashMap<PathBuf, Vec<TargetGroup>> = HashMap::new();
        let mut last_full = std::time::Instant::now();
        let read_file_sd = if cfg.probe.is_some() { read_file_sd_for_probes } else { read_file_sd };
        loop {
            let files = file_sd_files(&cfg);
            let refresh_due = cfg.file_sd_configs.iter().any(|f| last_full.elapsed() >= f.refresh_interval);
            if seen.as_ref() != Some(&files) || refresh_due {
                for (path, _) in &files {
                    match read_file_sd(path) {
                        Ok(groups) => {
                            file_groups.insert(path.clone(), groups);
                        }
                        // Keep the last good targets of a file that fails to read, as Prometheus does.
                        Err(e) => tracing::warn!(job = %cfg.job_name, error = %e, "file_sd"),
                    }
                }
                file_groups.retain(|p, _| files.iter().any(|(f, _)| f == p));
                let mut groups = statics.clone();
                let mut paths: Vec<_> = file_groups.keys().cloned().collect();
                paths.sort();
                for p in paths {
                    groups.extend(file_groups[&p].iter().cloned());
                }
                self.sync(&cfg.job_name, &groups);
                seen = Some(files);
                last_full = std::time::Instant::now();
            }
            if cfg.file_sd_configs.is_empty() {
                return;
            }
            tokio::time::sleep(FILE_SD_POLL).await;
        }
    }

    /// Starts loops for new targets and stops loops for targets that went away.
    fn sync(&self, job: &str, groups: &[TargetGroup]) {
        let mut pools = self.inner.pools.write().unwrap_or_else(|e| e.into_inner());
        let Some(pool) = pools.get_mut(job) else { return };
        let mut wanted = Vec::new();
        let mut dropped = Vec::new();
        for g in groups {
            let (mut kept, gone) = targets_from_group(&pool.cfg, g);
            if matches!(pool.source, Source::Probe(_)) {
                for t in &mut kept {
                    t.url = probe_target(&pool.cfg, t);
                }
            }
            wanted.extend(kept);
            dropped.extend(gone);
        }
        if pool.cfg.target_limit > 0 && wanted.len() > pool.cfg.target_limit {
            tracing::error!(
                job,
                limit = pool.cfg.target_limit,
                found = wanted.len(),
                "target_limit exceeded; scraping none"
            );
            wanted.clear();
        }
        pool.dropped = dropped;
        pool.active.retain(|t, running| {
            let keep = wanted.contains(t);
            if !keep {
                let _ = running.stop.send(true);
            }
            keep
        });
        for t in wanted {
            if pool.active.contains_key(&t) {
                continue;
            }
            let lp = ScrapeLoop::new(
                pool.cfg.clone(),
                t.clone(),
                pool.source.clone(),
                self.inner.store.clone(),
                self.inner.metrics.clone(),
            );
            let health = lp.health.clone();
            let (stop, stop_rx) = watch::channel(false);
            let task = tokio::spawn(lp.run(stop_rx));
            pool.active.insert(t, RunningTarget { health, stop, task });
        }
        self.inner.metrics.targets.get_or_create(&JobLabels { job: job.to_string() }).set(pool.active.len() as i64);
    }

    /// Every active target, sorted by job and labels.
    pub fn targets(&self) -> Vec<TargetStatus> {
        let pools = self.inner.pools.read().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<TargetStatus> = pools
            .values()
            .flat_map(|p| {
                p.active.iter().map(|(t, r)| TargetStatus {
                    job: p.cfg.job_name.clone(),
                    target: t.clone(),
                    health: r.health.lock().unwrap_or_else(|e| e.into_inner()).clone(),
                    scrape_interval: p.cfg.scrape_interval,
                    scrape_timeout: p.cfg.scrape_timeout,
                })
            })
            .collect();
        out.sort_by(|a, b| (&a.job, &a.target.labels).cmp(&(&b.job, &b.target.labels)));
        out
    }

    pub fn dropped_targets(&self) -> Vec<DroppedTarget> {
        let pools = self.inner.pools.read().unwrap_or_else(|e| e.into_inner());
        pools
            .values()
            .flat_map(|p| {
                p.dropped.iter().map(|d| DroppedTarget { job: p.cfg.job_name.clone(), discovered: d.clone() })
            })
            .collect()
    }

    /// Stops every loop and waits for the last appends (stale markers) to land.
    pub async fn stop(&self) {
        let tasks: Vec<JoinHandle<()>> = {
            let mut pools = self.inner.pools.write().unwrap_or_else(|e| e.into_inner());
            let mut tasks = Vec::new();
            for pool in pools.values_mut() {
                if let Some(d) = pool.discovery.take() {
                    d.abort();
                }
                for (_, r) in pool.active.drain() {
                    let _ = r.stop.send(true);
                    tasks.push(r.task);
                }
            }
            tasks
        };
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// What a probe job probes for `target`: its `__address__` after relabeling,
/// as written (a URL, `host:port` or name), rather than a scrape URL built
/// from scheme, address, metrics_path and params.
fn probe_target(cfg: &ScrapeConfig, target: &Target) -> String {
    // Relabeling is deterministic, so running it again on the discovered
    // labels gives the address `targets_from_group` kept.
    relabel::relabel(&target.discovered, &cfg.relabel_configs)
        .and_then(|l| l.get(target::ADDRESS_LABEL).map(str::to_string))
        .unwrap_or_else(|| target.url.clone())
}

/// The files the job's file_sd patterns match now, with their modification times.
fn file_sd_files(cfg: &ScrapeConfig) -> Vec<(PathBuf, Option<SystemTime>)> {
    let mut out = Vec::new();
    for sd in &cfg.file_sd_configs {
        for pattern in &sd.files {
            match glob::glob(pattern) {
                Ok(paths) => {
                    for p in paths.flatten() {
                        let mtime = std::fs::metadata(&p).and_then(|m| m.modified()).ok();
                        out.push((p, mtime));
                    }
                }
                Err(e) => tracing::warn!(job = %cfg.job_name, pattern, error = %e, "bad file_sd pattern"),
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// The job that runs the built-in host collector: named `node` by default,
/// like node_exporter's usual job, so existing dashboards and rules match it.
pub fn host_scrape_config(global: &crate::config::GlobalConfig, host: &crate::config::HostSettings) -> ScrapeConfig {
    let interval = host.scrape_interval.unwrap_or(global.scrape_interval);
    ScrapeConfig {
        job_name: host.job_name.clone(),
        scrape_interval: interval,
        scrape_timeout: global.scrape_timeout.min(interval),
        metrics_path: "/metrics".into(),
        scheme: "builtin".into(),
        params: Default::default(),
        honor_labels: false,
        honor_timestamps: true,
        auth: None,
        tls: Default::default(),
        static_configs: Vec::new(),
        file_sd_configs: Vec::new(),
        relabel_configs: Vec::new(),
        metric_relabel_configs: Vec::new(),
        sample_limit: 0,
        label_limit: 0,
        label_name_length_limit: 0,
        label_value_length_limit: 0,
        target_limit: 0,
        body_size_limit: 0,
        enable_compression: false,
        line: None,
        probe: None,
    }
}

/// This machine's name, for the host job's `instance` label.
pub fn host_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_jobs_probe_the_relabeled_address_as_written() {
        let src = "probes: {modules: {m: {prober: http}}}\nscrape_configs:\n  - job_name: p\n    probe: m\n    static_configs: [{targets: ['example.com/health']}]\n    relabel_configs:\n      - {source_labels: [__address__], target_label: __address__, replacement: 'https://$1'}\n";
        let cfg = crate::config::parse_str(src, std::path::Path::new("s.yml")).unwrap().config.scrape_configs.remove(0);
        let (kept, _) = targets_from_group(&cfg, &cfg.static_configs[0]);
        assert_eq!(
            kept[0].url, "http://https://example.com/health/metrics",
            "the scrape URL is not what a probe wants"
        );
        assert_eq!(probe_target(&cfg, &kept[0]), "https://example.com/health");
        assert_eq!(kept[0].labels.get("instance"), Some("https://example.com/health"));
    }
}
