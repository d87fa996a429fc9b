//! `os`: node_os_info and node_os_version from os-release(5) under the rootfs.

use std::collections::HashMap;

use super::{CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct OsCollector;

/// The os-release keys node_exporter turns into node_os_info labels.
const INFO_KEYS: [(&str, &str); 12] = [
    ("build_id", "BUILD_ID"),
    ("id", "ID"),
    ("id_like", "ID_LIKE"),
    ("image_id", "IMAGE_ID"),
    ("image_version", "IMAGE_VERSION"),
    ("name", "NAME"),
    ("pretty_name", "PRETTY_NAME"),
    ("variant", "VARIANT"),
    ("variant_id", "VARIANT_ID"),
    ("version", "VERSION"),
    ("version_codename", "VERSION_CODENAME"),
    ("version_id", "VERSION_ID"),
];

/// Parses os-release: `KEY=value` with optional single or double quotes.
pub(crate) fn parse_os_release(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let v = v.trim();
        let unquoted = if v.len() >= 2
            && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
        {
            &v[1..v.len() - 1]
        } else {
            v
        };
        let mut value = String::with_capacity(unquoted.len());
        let mut chars = unquoted.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                if let Some(n) = chars.next() {
                    value.push(n);
                }
            } else {
                value.push(c);
            }
        }
        out.insert(k.trim().to_string(), value);
    }
    out
}

/// The leading `major[.minor]` of VERSION_ID, if any.
fn major_minor(v: &str) -> Option<f64> {
    let end = v.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(v.len());
    let mut parts = v[..end].split('.');
    let major = parts.next().filter(|m| !m.is_empty())?;
    match parts.next().filter(|m| !m.is_empty()) {
        Some(minor) => format!("{major}.{minor}").parse().ok(),
        None => major.parse().ok(),
    }
}

impl Collector for OsCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let candidates = [paths.rootfs.join("etc/os-release"), paths.rootfs.join("usr/lib/os-release")];
        let mut last_err = None;
        let mut text = None;
        for p in &candidates {
            match std::fs::read_to_string(p) {
                Ok(t) => {
                    text = Some(t);
                    break;
                }
                Err(e) => last_err = Some(CollectError::io(p, e)),
            }
        }
        let Some(text) = text else {
            return Err(last_err.unwrap_or_else(|| CollectError::parse(&candidates[0], "no os-release file")));
        };
        let kv = parse_os_release(&text);
        let get = |k: &str| kv.get(k).map(String::as_str).unwrap_or("");
        let mut info = Family::new(
            "node_os_info",
            "A metric with a constant '1' value labeled by build_id, id, id_like, image_id, image_version, name, pretty_name, variant, variant_id, version, version_codename, version_id.",
            FamilyKind::Gauge,
        );
        info.push(INFO_KEYS.iter().map(|(label, key)| (*label, get(key))), 1.0);
        out.push(info);
        if let Some(v) = major_minor(get("VERSION_ID")) {
            let mut ver = Family::new(
                "node_os_version",
                "Metric containing the major.minor part of the OS version.",
                FamilyKind::Gauge,
            );
            ver.push([("id", get("ID")), ("id_like", get("ID_LIKE")), ("name", get("NAME"))], v);
            out.push(ver);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn golden_values_from_fixture() {
        let mut out = Vec::new();
        OsCollector.update(&fixture_paths(), &mut out).unwrap();
        let info = &family(&out, "node_os_info").samples[0].0;
        assert_eq!(info.get("pretty_name"), Some("Ubuntu 22.04.4 LTS"));
        assert_eq!(info.get("version_codename"), Some("jammy"));
        assert_eq!(info.get("variant"), Some("Server \"edition\""));
        assert_eq!(info.get("build_id"), None, "empty values are absent labels");
        assert_eq!(value(&out, "node_os_version", &[("id", "ubuntu"), ("id_like", "debian")]), Some(22.04));
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("12"), Some(12.0));
        assert_eq!(major_minor("22.04"), Some(22.04));
        assert_eq!(major_minor("3.19.1"), Some(3.19));
        assert_eq!(major_minor("rolling"), None);
        assert_eq!(major_minor(""), None);
    }
}
