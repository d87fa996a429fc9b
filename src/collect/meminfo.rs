//! `meminfo`: one node_memory_* gauge per line of /proc/meminfo.
//!
//! Names follow node_exporter: `Active(anon)` becomes `Active_anon`, and a
//! value with a unit (always kB) is multiplied by 1024 and gets `_bytes`.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct MeminfoCollector;

/// Parses /proc/meminfo into (node_exporter key, value) pairs in file order.
pub(crate) fn parse_meminfo(text: &str, path: &std::path::Path) -> Result<Vec<(String, f64)>, CollectError> {
    let mut out = Vec::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if parts.is_empty() {
            continue; // some old kernels emit blank lines
        }
        if parts.len() < 2 || parts.len() > 3 {
            return Err(CollectError::parse(path, format!("invalid line {line:?}")));
        }
        let mut v: f64 =
            parts[1].parse().map_err(|_| CollectError::parse(path, format!("invalid value in line {line:?}")))?;
        let raw = parts[0].strip_suffix(':').unwrap_or(parts[0]);
        let mut key = String::with_capacity(raw.len() + 6);
        for c in raw.chars() {
            match c {
                '(' => key.push('_'),
                ')' => {}
                c => key.push(c),
            }
        }
        if parts.len() == 3 {
            v *= 1024.0;
            key.push_str("_bytes");
        }
        out.push((key, v));
    }
    Ok(out)
}

impl Collector for MeminfoCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let path = paths.proc("meminfo");
        for (key, v) in parse_meminfo(&read(&path)?, &path)? {
            let kind = if key.ends_with("_total") { FamilyKind::Counter } else { FamilyKind::Gauge };
            let help = format!("Memory information field {key}.");
            out.push(Family::single(format!("node_memory_{key}"), help, kind, v));
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
        MeminfoCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(out.len(), 19);
        assert_eq!(value(&out, "node_memory_MemTotal_bytes", &[]), Some(15666184.0 * 1024.0));
        assert_eq!(value(&out, "node_memory_Active_anon_bytes", &[]), Some(267256.0 * 1024.0));
        assert_eq!(value(&out, "node_memory_HugePages_Total", &[]), Some(0.0));
        assert_eq!(value(&out, "node_memory_Hugepagesize_bytes", &[]), Some(2048.0 * 1024.0));
        let f = family(&out, "node_memory_Inactive_file_bytes");
        assert_eq!(f.help, "Memory information field Inactive_file_bytes.");
        assert_eq!(f.kind, FamilyKind::Gauge);
    }

    #[test]
    fn bad_lines_are_errors() {
        let p = std::path::Path::new("meminfo");
        assert!(parse_meminfo("MemTotal: abc kB\n", p).is_err());
        assert!(parse_meminfo("MemTotal: 1 kB extra\n", p).is_err());
        assert_eq!(parse_meminfo("\nX: 1\n", p).unwrap(), vec![("X".to_string(), 1.0)]);
    }
}
