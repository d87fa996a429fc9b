//! Inhibition: a firing source alert mutes target alerts that share the
//! `equal` labels (Alertmanager's `inhibit/` semantics).

use super::config::InhibitRule;
use crate::tsdb::{matches_all, Labels};

/// Applies the configured inhibition rules.
#[derive(Clone, Debug, Default)]
pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

impl Inhibitor {
    /// From the configuration's rules.
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        Inhibitor { rules }
    }

    /// Fingerprints of the firing alerts that inhibit `target`. `firing` is
    /// every currently firing alert as (fingerprint, labels).
    pub fn inhibited_by(&self, target: &Labels, firing: &[(u64, Labels)]) -> Vec<u64> {
        let mut out = Vec::new();
        for rule in &self.rules {
            if !matches_all(&rule.target, target) {
                continue;
            }
            // An alert matching both sides must not inhibit alerts that also
            // match both sides (otherwise they would mute each other).
            let target_is_source = matches_all(&rule.source, target);
            for (fp, src) in firing {
                if !matches_all(&rule.source, src) {
                    continue;
                }
                if target_is_source && matches_all(&rule.target, src) {
                    continue;
                }
                if rule.equal.iter().all(|n| src.get(n).unwrap_or("") == target.get(n).unwrap_or("")) {
                    out.push(*fp);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tsdb::Matcher;

    fn l(p: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(p.iter().map(|(a, b)| (*a, *b)))
    }

    #[test]
    fn critical_inhibits_warning_with_equal_labels() {
        let inh = Inhibitor::new(vec![InhibitRule {
            source: vec![Matcher::equal("severity", "critical")],
            target: vec![Matcher::equal("severity", "warning")],
            equal: vec!["alertname".into(), "cluster".into()],
        }]);
        let crit = l(&[("alertname", "Down"), ("cluster", "a"), ("severity", "critical")]);
        let firing = vec![(1, crit.clone())];
        assert_eq!(
            inh.inhibited_by(&l(&[("alertname", "Down"), ("cluster", "a"), ("severity", "warning")]), &firing),
            vec![1]
        );
        assert!(inh
            .inhibited_by(&l(&[("alertname", "Down"), ("cluster", "b"), ("severity", "warning")]), &firing)
            .is_empty());
        assert!(inh.inhibited_by(&crit, &firing).is_empty());
    }

    #[test]
    fn two_sided_match_does_not_self_inhibit() {
        let inh = Inhibitor::new(vec![InhibitRule {
            source: vec![Matcher::equal("a", "1")],
            target: vec![Matcher::equal("b", "1")],
            equal: vec![],
        }]);
        let both = l(&[("a", "1"), ("b", "1")]);
        assert!(inh.inhibited_by(&both, &[(7, both.clone())]).is_empty());
        assert_eq!(inh.inhibited_by(&l(&[("b", "1")]), &[(7, both)]), vec![7]);
    }
}
