//! `vmstat`: selected /proc/vmstat fields as untyped node_vmstat_* metrics.

use super::{read, CollectError, Collector, Family, FamilyKind, FieldFilter, Paths};

/// node_exporter's default `--collector.vmstat.fields`.
pub const DEFAULT_VMSTAT_FIELDS: &str = r"^(oom_kill|pgpg|pswp|pg.*fault).*";

pub(crate) struct VmstatCollector {
    fields: FieldFilter,
}

impl VmstatCollector {
    pub fn new(fields: &str) -> Self {
        VmstatCollector { fields: FieldFilter::new("vmstat fields", fields) }
    }
}

impl Collector for VmstatCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        self.fields.check()?;
        let path = paths.proc("vmstat");
        for line in read(&path)?.lines() {
            let Some((key, v)) = line.split_once(' ') else { continue };
            if !self.fields.matches(key)? {
                continue;
            }
            let v: f64 =
                v.trim().parse().map_err(|_| CollectError::parse(&path, format!("bad value in line {line:?}")))?;
            out.push(Family::single(
                format!("node_vmstat_{key}"),
                format!("/proc/vmstat information field {key}."),
                FamilyKind::Untyped,
                v,
            ));
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
        VmstatCollector::new(DEFAULT_VMSTAT_FIELDS).update(&fixture_paths(), &mut out).unwrap();
        let names: Vec<&str> = out.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "node_vmstat_pgpgin",
                "node_vmstat_pgpgout",
                "node_vmstat_pswpin",
                "node_vmstat_pswpout",
                "node_vmstat_pgfault",
                "node_vmstat_pgmajfault",
                "node_vmstat_oom_kill"
            ]
        );
        assert_eq!(value(&out, "node_vmstat_pgmajfault", &[]), Some(8290.0));
        assert_eq!(family(&out, "node_vmstat_oom_kill").help, "/proc/vmstat information field oom_kill.");
        assert_eq!(family(&out, "node_vmstat_oom_kill").kind, FamilyKind::Untyped);
    }
}
