//! `filefd`: node_filefd_allocated and node_filefd_maximum from /proc/sys/fs/file-nr.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct FilefdCollector;

impl Collector for FilefdCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        let path = paths.proc("sys/fs/file-nr");
        let text = read(&path)?;
        // "allocated  unused(always 0)  maximum"
        let f: Vec<&str> = text.split_whitespace().collect();
        if f.len() != 3 {
            return Err(CollectError::parse(&path, format!("expected 3 fields, found {}", f.len())));
        }
        let num = |s: &str| s.parse::<f64>().map_err(|_| CollectError::parse(&path, format!("bad number {s:?}")));
        out.push(Family::single(
            "node_filefd_allocated",
            "File descriptor statistics: allocated.",
            FamilyKind::Gauge,
            num(f[0])?,
        ));
        out.push(Family::single(
            "node_filefd_maximum",
            "File descriptor statistics: maximum.",
            FamilyKind::Gauge,
            num(f[2])?,
        ));
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
        FilefdCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_filefd_allocated", &[]), Some(1024.0));
        assert_eq!(value(&out, "node_filefd_maximum", &[]), Some(1631329.0));
    }
}
