//! `entropy`: the kernel's entropy pool from /proc/sys/kernel/random.

use super::{read, CollectError, Collector, Family, FamilyKind, Paths};

pub(crate) struct EntropyCollector;

impl Collector for EntropyCollector {
    fn update(&mut self, paths: &Paths, out: &mut Vec<Family>) -> Result<(), CollectError> {
        for (file, name, help) in [
            ("sys/kernel/random/entropy_avail", "node_entropy_available_bits", "Bits of available entropy."),
            ("sys/kernel/random/poolsize", "node_entropy_pool_size_bits", "Bits of entropy pool."),
        ] {
            let path = paths.proc(file);
            let text = read(&path)?;
            let v: f64 =
                text.trim().parse().map_err(|_| CollectError::parse(&path, format!("bad number {:?}", text.trim())))?;
            out.push(Family::single(name, help, FamilyKind::Gauge, v));
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
        EntropyCollector.update(&fixture_paths(), &mut out).unwrap();
        assert_eq!(value(&out, "node_entropy_available_bits", &[]), Some(256.0));
        assert_eq!(value(&out, "node_entropy_pool_size_bits", &[]), Some(4096.0));
    }
}
