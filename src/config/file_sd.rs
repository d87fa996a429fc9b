//! file_sd files: Prometheus's `[{targets: [...], labels: {...}}]` in JSON or YAML.

use std::path::Path;

use super::marked;
use super::raw::RawFileSdGroup;
use super::relabel::is_valid_label_name;
use super::{check_target_address, ConfigError, TargetGroup};
use crate::tsdb::Labels;

/// The label file_sd adds to every target: the file it came from.
pub const FILEPATH_LABEL: &str = "__meta_filepath";

/// Reads one file_sd file (JSON for `.json`, YAML for `.yml`/`.yaml`) into
/// target groups. Each group gets the `__meta_filepath` label and the source
/// `path:index`, as in Prometheus. An empty file has no groups.
pub fn read_file_sd(path: &Path) -> Result<Vec<TargetGroup>, ConfigError> {
    read(path, true)
}

/// Like [`read_file_sd`] for a job with `probe:`, whose targets are URLs or
/// names rather than `host:port`: addresses are taken as written.
pub fn read_file_sd_for_probes(path: &Path) -> Result<Vec<TargetGroup>, ConfigError> {
    read(path, false)
}

fn read(path: &Path, check_addresses: bool) -> Result<Vec<TargetGroup>, ConfigError> {
    let err = |line: Option<usize>, key: String, message: String| ConfigError {
        file: path.to_path_buf(),
        line,
        key,
        message,
    };
    let source = std::fs::read_to_string(path)
        .map_err(|e| err(None, String::new(), format!("cannot read file_sd file: {e}")))?;
    if source.trim().is_empty() {
        return Ok(Vec::new());
    }
    let ext = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let groups: Vec<RawFileSdGroup> = match ext.as_deref() {
        Some("json") => serde_json::from_str(&source).map_err(|e| err(Some(e.line()), String::new(), e.to_string()))?,
        Some("yml") | Some("yaml") => serde_yaml_ng::from_str(&source).map_err(|e| {
            let line = e.location().map(|l| l.line());
            let mut msg = e.to_string();
            if let Some(i) = msg.find(" at line ") {
                msg.truncate(i);
            }
            err(line, String::new(), msg)
        })?,
        _ => {
            return Err(err(None, String::new(), "file_sd files must end in .json, .yml or .yaml".to_string()));
        }
    };
    // JSON is YAML too, so one marked tree gives lines for both formats.
    let tree = marked::parse(&source).ok();
    let line_of = |key: &str| tree.as_ref().and_then(|t| t.line_of(key));
    let path_str = path.to_string_lossy().into_owned();
    let mut out = Vec::with_capacity(groups.len());
    for (i, g) in groups.into_iter().enumerate() {
        for (j, t) in g.targets.iter().enumerate().filter(|_| check_addresses) {
            if let Err(e) = check_target_address(&t.0) {
                let key = format!("[{i}].targets[{j}]");
                return Err(err(line_of(&key), key, e));
            }
        }
        for name in g.labels.keys() {
            if !is_valid_label_name(name) {
                let key = format!("[{i}].labels.{name}");
                return Err(err(line_of(&key), key, format!("{name:?} is not a valid label name")));
            }
        }
        let mut labels = Labels::from_pairs(g.labels.into_iter().map(|(k, v)| (k, v.0)));
        labels.set(FILEPATH_LABEL, &path_str);
        out.push(TargetGroup {
            targets: g.targets.into_iter().map(|t| t.0).collect(),
            labels,
            source: format!("{path_str}:{i}"),
        });
    }
    Ok(out)
}
