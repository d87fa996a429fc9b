//! Sightline-only probe settings: the top-level `probes:` section (a
//! blackbox.yml's content as it is) or `probes_config_file:` (a blackbox.yml
//! beside the config), and a scrape job's `probe: MODULE`, which makes the job
//! probe each of its targets instead of scraping it.
//!
//! Modules are validated here (`Probe::new`: prober, regexes, CA and secret
//! files) so that a bad module is a load error with its line, like the rest
//! of the file, rather than a failed probe later.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_yaml_ng::Value;

use super::marked;
use super::validate::Ctx;
use super::ConfigError;
use crate::collect::probe::{Probe, ProbeModule};

/// A scrape job's `probe: MODULE`: each target (a URL for http, `host:port`
/// for tcp, the DNS server for dns) is probed with the module instead of scraped.
#[derive(Clone, Debug)]
pub struct ProbeJob {
    /// The module's name, as written.
    pub module: String,
    /// The module, built with the job's deadline: its own `timeout` when set,
    /// but never longer than the job's scrape_timeout (as blackbox_exporter
    /// caps it by the scrape timeout Prometheus sends).
    pub probe: Arc<Probe>,
}

/// The prober names `Probe::new` knows.
const PROBERS: [&str; 3] = ["http", "tcp", "dns"];

/// Reads the modules from `probes:` or from `probes_config_file:` (resolved
/// against the config folder). Every bad module is reported; the good ones
/// are returned.
pub(crate) fn build_modules(
    inline: Option<Value>,
    file: Option<String>,
    base_dir: &Path,
    ctx: &mut Ctx,
) -> BTreeMap<String, ProbeModule> {
    match (inline, file) {
        (Some(_), Some(_)) => {
            ctx.error("probes_config_file", "set either probes (the modules inline) or probes_config_file, not both");
            BTreeMap::new()
        }
        (Some(v), None) => modules_from_value(v, "probes", base_dir, ctx),
        (None, Some(f)) if f.is_empty() => BTreeMap::new(),
        (None, Some(f)) => {
            let path = if Path::new(&f).is_absolute() { PathBuf::from(&f) } else { base_dir.join(&f) };
            let source = match std::fs::read_to_string(&path) {
                Ok(s) => s,
                Err(e) => {
                    ctx.error("probes_config_file", format!("cannot read {}: {e}", path.display()));
                    return BTreeMap::new();
                }
            };
            match parse_blackbox_file(&path, &source) {
                Ok((tree, value)) => {
                    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| base_dir.to_path_buf());
                    let mut sub = Ctx::new(&path, &tree);
                    let modules = modules_from_value(value, "", &dir, &mut sub);
                    ctx.errors.extend(sub.errors);
                    modules
                }
                Err(e) => {
                    ctx.errors.push(e);
                    BTreeMap::new()
                }
            }
        }
        (None, None) => BTreeMap::new(),
    }
}

/// Parses a blackbox.yml into its marked tree (for lines) and its value.
fn parse_blackbox_file(path: &Path, source: &str) -> Result<(marked::Node, Value), ConfigError> {
    let syntax = |line: Option<usize>, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        key: String::new(),
        message: format!("invalid YAML: {message}"),
    };
    let tree = marked::parse(source).map_err(|e| syntax(Some(e.line), e.message))?;
    let value =
        serde_yaml_ng::from_str::<Value>(source).map_err(|e| syntax(e.location().map(|l| l.line()), e.to_string()))?;
    Ok((tree, value))
}

/// `{modules: {NAME: module}}` → validated modules. `prefix` is the key path
/// of the mapping (`probes`, or empty for a file of its own).
fn modules_from_value(v: Value, prefix: &str, dir: &Path, ctx: &mut Ctx) -> BTreeMap<String, ProbeModule> {
    let key = |k: &str| {
        if prefix.is_empty() {
            k.to_string()
        } else {
            format!("{prefix}.{k}")
        }
    };
    let mut out = BTreeMap::new();
    let top = match v {
        Value::Null => return out,
        Value::Mapping(m) => m,
        _ => {
            ctx.error(prefix, "expected a mapping with `modules:` (the content of a blackbox.yml)");
            return out;
        }
    };
    for (k, v) in top {
        match k.as_str() {
            Some("modules") => {}
            Some(other) => {
                ctx.error(&key(other), format!("unknown field `{other}`, expected `modules`"));
                continue;
            }
            None => {
                ctx.error(prefix, "keys must be plain strings");
                continue;
            }
        }
        let modules = match v {
            Value::Null => continue,
            Value::Mapping(m) => m,
            _ => {
                ctx.error(&key("modules"), "expected a mapping of module names to modules");
                continue;
            }
        };
        for (name, m) in modules {
            let Some(name) = name.as_str().map(str::to_string) else {
                ctx.error(&key("modules"), "module names must be plain strings");
                continue;
            };
            let mpath = key(&format!("modules.{name}"));
            let mut module: ProbeModule = match serde_path_to_error::deserialize(m) {
                Ok(m) => m,
                Err(e) => {
                    let at = e.path().to_string();
                    let k = if at == "." || at.is_empty() { mpath.clone() } else { format!("{mpath}.{at}") };
                    ctx.error(&k, e.into_inner().to_string());
                    continue;
                }
            };
            resolve_paths(&mut module, dir);
            match Probe::new(&module) {
                Ok(_) => {
                    out.insert(name, module);
                }
                Err(e) => {
                    let k = if PROBERS.contains(&module.prober.as_str()) { mpath } else { format!("{mpath}.prober") };
                    ctx.error(&k, e.to_string());
                }
            }
        }
    }
    out
}

/// Relative CA and secret files are read from the folder of the file that
/// names them, as blackbox_exporter does.
fn resolve_paths(m: &mut ProbeModule, dir: &Path) {
    let fix = |p: &mut Option<PathBuf>| {
        if let Some(path) = p.as_mut() {
            if path.is_relative() {
                *path = dir.join(&*path);
            }
        }
    };
    fix(&mut m.http.tls_config.ca_file);
    fix(&mut m.http.bearer_token_file);
    if let Some(b) = m.http.basic_auth.as_mut() {
        fix(&mut b.password_file);
    }
    fix(&mut m.tcp.tls_config.ca_file);
}

/// A job's `probe: MODULE` → the module built with the job's deadline, or an
/// error at `key` naming the modules there are.
pub(crate) fn build_probe_job(
    name: &str,
    modules: &BTreeMap<String, ProbeModule>,
    scrape_timeout: Duration,
    key: &str,
    ctx: &mut Ctx,
) -> Option<ProbeJob> {
    let Some(module) = modules.get(name) else {
        let known = if modules.is_empty() {
            "no probe modules are defined (add them under `probes: {modules: ...}` or name a blackbox.yml with `probes_config_file:`)".to_string()
        } else {
            format!("known modules: {}", modules.keys().map(String::as_str).collect::<Vec<_>>().join(", "))
        };
        ctx.error(key, format!("unknown probe module {name:?}; {known}"));
        return None;
    };
    let timeout = module.timeout.map_or(scrape_timeout, |t| t.min(scrape_timeout));
    match Probe::new(module) {
        Ok(p) => Some(ProbeJob { module: name.to_string(), probe: Arc::new(p.with_timeout(timeout)) }),
        // Only if a secret file vanished since the module was checked.
        Err(e) => {
            ctx.error(key, format!("probe module {name:?}: {e}"));
            None
        }
    }
}

/// Keys of a scrape job that have no effect once it probes: the module holds
/// the HTTP and TLS settings, and the target is probed as written.
pub(crate) const NOT_FOR_PROBE_JOBS: [&str; 8] = [
    "metrics_path",
    "scheme",
    "params",
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
];
