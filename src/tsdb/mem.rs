//! An in-memory store with the same contract as the SQLite one, for tests
//! (PromQL scripts, rule unit tests) that load data and query it at once.

use super::{matches_all, Appendable, Appender, Labels, Matcher, Querier, Sample, Series, SeriesRef, TsdbError};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

#[derive(Clone, Default)]
pub struct MemStore {
    series: Arc<RwLock<BTreeMap<Labels, Vec<Sample>>>>,
    refs: Arc<RwLock<Refs>>,
}

/// Series references: label sets by reference, and back.
#[derive(Default)]
struct Refs {
    labels: Vec<Labels>,
    ids: HashMap<Labels, u64>,
}

impl MemStore {
    pub fn new() -> Self {
        Self::default()
    }
}

struct MemAppender {
    store: MemStore,
    pending: Vec<(Labels, Sample)>,
    last: HashMap<Labels, Sample>,
}

impl Appender for MemAppender {
    fn series_ref(&mut self, labels: &Labels) -> Result<SeriesRef, TsdbError> {
        if labels.metric_name().is_none() {
            return Err(TsdbError::NoMetricName(labels.clone()));
        }
        let mut refs = self.store.refs.write().unwrap();
        if let Some(&r) = refs.ids.get(labels) {
            return Ok(SeriesRef(r));
        }
        let r = refs.labels.len() as u64;
        refs.labels.push(labels.clone());
        refs.ids.insert(labels.clone(), r);
        Ok(SeriesRef(r))
    }

    fn append_ref(&mut self, series: SeriesRef, t: i64, v: f64) -> Result<(), TsdbError> {
        let labels = self.series_labels(series).ok_or(TsdbError::UnknownRef(series.0))?;
        self.append(&labels, t, v)
    }

    fn series_labels(&self, series: SeriesRef) -> Option<Labels> {
        self.store.refs.read().unwrap().labels.get(series.0 as usize).cloned()
    }

    fn append(&mut self, labels: &Labels, t: i64, v: f64) -> Result<(), TsdbError> {
        if labels.metric_name().is_none() {
            return Err(TsdbError::NoMetricName(labels.clone()));
        }
        let last = match self.last.get(labels) {
            Some(s) => Some(*s),
            None => self.store.series.read().unwrap().get(labels).and_then(|s| s.last().copied()),
        };
        if let Some(last) = last {
            if t < last.t {
                return Err(TsdbError::OutOfOrder { labels: labels.clone(), t, last: last.t });
            }
            if t == last.t {
                if last.v.to_bits() == v.to_bits() {
                    return Ok(());
                }
                return Err(TsdbError::Duplicate { labels: labels.clone(), t });
            }
        }
        self.last.insert(labels.clone(), Sample { t, v });
        self.pending.push((labels.clone(), Sample { t, v }));
        Ok(())
    }

    fn commit(self: Box<Self>) -> Result<(), TsdbError> {
        let mut series = self.store.series.write().unwrap();
        for (l, s) in self.pending {
            series.entry(l).or_default().push(s);
        }
        Ok(())
    }
}

impl Appendable for MemStore {
    fn appender(&self) -> Box<dyn Appender> {
        Box::new(MemAppender { store: self.clone(), pending: Vec::new(), last: HashMap::new() })
    }
}

impl Querier for MemStore {
    fn select(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Series>, TsdbError> {
        let series = self.series.read().unwrap();
        Ok(series
            .iter()
            .filter(|(l, _)| matches_all(matchers, l))
            .filter_map(|(l, samples)| {
                let lo = samples.partition_point(|s| s.t < mint);
                let hi = samples.partition_point(|s| s.t <= maxt);
                (lo < hi).then(|| Series { labels: l.clone(), samples: samples[lo..hi].to_vec() })
            })
            .collect())
    }

    fn series(&self, matchers: &[Matcher], mint: i64, maxt: i64) -> Result<Vec<Labels>, TsdbError> {
        Ok(self.select(matchers, mint, maxt)?.into_iter().map(|s| s.labels).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn append_select_and_reject_out_of_order() {
        let store = MemStore::new();
        let l = Labels::from_pairs([("__name__", "m"), ("a", "1")]);
        let mut app = store.appender();
        app.append(&l, 10, 1.0).unwrap();
        app.append(&l, 20, 2.0).unwrap();
        assert!(matches!(app.append(&l, 15, 3.0), Err(TsdbError::OutOfOrder { .. })));
        assert!(matches!(app.append(&l, 20, 3.0), Err(TsdbError::Duplicate { .. })));
        app.commit().unwrap();
        let got = store.select(&[Matcher::equal("a", "1")], 11, 20).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, vec![Sample { t: 20, v: 2.0 }]);
        assert!(store.select(&[Matcher::equal("a", "2")], 0, 100).unwrap().is_empty());
    }
}
