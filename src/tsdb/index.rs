//! The series index: interned label strings, series label sets as string-id
//! pairs found by the label set's stable hash, and postings (label name/value →
//! series ids) that answer matchers and label listings without a scan.
//!
//! Series ids are dense (0, 1, 2, ...) in creation order, so per-series state
//! elsewhere lives in plain vectors.

use super::{Labels, MatchKind, Matcher};
use std::collections::HashMap;
use std::sync::Arc;

/// Interned strings: each distinct label name or value is stored once.
#[derive(Default)]
pub struct Interner {
    strings: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, u32>,
}

impl Interner {
    pub fn id(&self, s: &str) -> Option<u32> {
        self.ids.get(s).copied()
    }

    pub fn intern(&mut self, s: &str) -> u32 {
        if let Some(id) = self.ids.get(s) {
            return *id;
        }
        let id = self.strings.len() as u32;
        let a: Arc<str> = Arc::from(s);
        self.strings.push(a.clone());
        self.ids.insert(a, id);
        id
    }

    pub fn get(&self, id: u32) -> &str {
        self.strings.get(id as usize).map_or("", |s| s)
    }

    pub fn len(&self) -> usize {
        self.strings.len()
    }
}

/// The index proper.
#[derive(Default)]
pub struct Index {
    pub strings: Interner,
    /// Every series' label set, one after another, as the `series.labels`
    /// column holds it ([`put_pairs`]: varint name id, varint value id,
    /// sorted by name): ~3 bytes a pair instead of 8, and one arena instead
    /// of a box per series (no pointer, length or allocator overhead each).
    pairs: Vec<u8>,
    /// Where each series' bytes start in `pairs` (they end where the next starts).
    starts: Vec<u64>,
    hashes: Vec<u64>,
    /// Series ids by their label set's hash (from `hashes`): 4 bytes a
    /// series instead of a hash-keyed map's 16; ids with the same hash are
    /// told apart by their labels.
    by_hash: hashbrown::HashTable<u32>,
    /// name id → value id → series ids (ascending).
    postings: HashMap<u32, HashMap<u32, Vec<u32>>>,
    /// How many strings and series are already in SQLite.
    pub persisted_strings: usize,
    pub persisted_series: usize,
}

impl Index {
    pub fn len(&self) -> usize {
        self.starts.len()
    }

    fn same(&self, id: u32, labels: &Labels) -> bool {
        let mut pairs = self.pairs(id);
        let mut labels = labels.iter();
        loop {
            match (pairs.next(), labels.next()) {
                (None, None) => return true,
                (Some((n, v)), Some(l)) if self.strings.get(n) == l.name && self.strings.get(v) == l.value => {}
                _ => return false,
            }
        }
    }

    /// The id of an existing series, given its label set and its stable hash.
    pub fn get(&self, labels: &Labels, hash: u64) -> Option<u32> {
        self.by_hash.find(hash, |&id| self.hash(id) == hash && self.same(id, labels)).copied()
    }

    /// Adds a series (the caller checked it is new) and returns its id.
    pub fn insert(&mut self, labels: &Labels, hash: u64) -> u32 {
        let start = self.pairs.len();
        for l in labels.iter() {
            let pair = (self.strings.intern(&l.name), self.strings.intern(&l.value));
            put_pairs(&mut self.pairs, [pair]);
        }
        self.add(start, hash)
    }

    /// Adds a series from interned pairs (start-up load keeps the stored ids).
    pub fn insert_pairs(&mut self, pairs: &[(u32, u32)], hash: u64) -> u32 {
        let start = self.pairs.len();
        put_pairs(&mut self.pairs, pairs.iter().copied());
        self.add(start, hash)
    }

    /// Indexes the series whose pairs were just pushed from `start` on.
    fn add(&mut self, start: usize, hash: u64) -> u32 {
        let id = self.starts.len() as u32;
        self.starts.push(start as u64);
        self.hashes.push(hash);
        for (n, v) in Pairs(&self.pairs[start..]) {
            self.postings.entry(n).or_default().entry(v).or_default().push(id);
        }
        let hashes = &self.hashes;
        self.by_hash.insert_unique(hash, id, |&id| hashes.get(id as usize).copied().unwrap_or(0));
        id
    }

    /// Adds a string with a known id (start-up load, ids in order).
    pub fn load_string(&mut self, s: &str) -> u32 {
        self.strings.intern(s)
    }

    pub fn labels(&self, id: u32) -> Labels {
        Labels::from_pairs(self.pairs(id).map(|(n, v)| (self.strings.get(n), self.strings.get(v))))
    }

    /// A series' interned label pairs (none for an unknown id).
    pub fn pairs(&self, id: u32) -> Pairs<'_> {
        Pairs(self.encoded_pairs(id))
    }

    /// A series' pairs as the `series.labels` column stores them ([`put_pairs`]).
    pub fn encoded_pairs(&self, id: u32) -> &[u8] {
        let i = id as usize;
        let Some(&start) = self.starts.get(i) else { return &[] };
        let end = self.starts.get(i + 1).map_or(self.pairs.len(), |&e| e as usize);
        self.pairs.get(start as usize..end).unwrap_or(&[])
    }

    pub fn hash(&self, id: u32) -> u64 {
        self.hashes.get(id as usize).copied().unwrap_or(0)
    }

    /// Series ids (ascending) with a value of `name` accepted by `m`.
    fn postings_for(&self, name: u32, m: &Matcher) -> Vec<u32> {
        let Some(values) = self.postings.get(&name) else { return Vec::new() };
        let mut lists: Vec<&Vec<u32>> = Vec::new();
        if m.kind == MatchKind::Equal {
            if let Some(v) = self.strings.id(&m.value).and_then(|v| values.get(&v)) {
                lists.push(v);
            }
        } else {
            lists.extend(values.iter().filter(|(v, _)| m.matches(self.strings.get(**v))).map(|(_, l)| l));
        }
        if lists.len() == 1 {
            return lists[0].clone();
        }
        let mut out: Vec<u32> = lists.into_iter().flatten().copied().collect();
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Ids of the series every matcher accepts, ascending. Matchers that
    /// reject the empty string narrow the candidates through postings; the
    /// rest filter those candidates.
    pub fn select(&self, matchers: &[Matcher]) -> Vec<u32> {
        let mut candidates: Option<Vec<u32>> = None;
        for m in matchers.iter().filter(|m| !m.matches_empty()) {
            let list = match self.strings.id(&m.name) {
                Some(name) => self.postings_for(name, m),
                None => Vec::new(),
            };
            candidates = Some(match candidates {
                None => list,
                Some(c) => intersect(&c, &list),
            });
            if candidates.as_ref().is_some_and(|c| c.is_empty()) {
                return Vec::new();
            }
        }
        let rest: Vec<&Matcher> = matchers.iter().filter(|m| m.matches_empty()).collect();
        let candidates = candidates.unwrap_or_else(|| (0..self.len() as u32).collect());
        if rest.is_empty() {
            return candidates;
        }
        let rest_names: Vec<Option<u32>> = rest.iter().map(|m| self.strings.id(&m.name)).collect();
        candidates
            .into_iter()
            .filter(|&id| {
                rest.iter().zip(&rest_names).all(|(m, name)| {
                    let value =
                        name.and_then(|n| self.pairs(id).find(|p| p.0 == n)).map_or("", |(_, v)| self.strings.get(v));
                    m.matches(value)
                })
            })
            .collect()
    }

    /// Every label name in use, sorted.
    pub fn label_names(&self) -> Vec<String> {
        let mut out: Vec<String> = self.postings.keys().map(|&n| self.strings.get(n).to_string()).collect();
        out.sort();
        out
    }

    /// Every value of `name` in use, sorted.
    pub fn label_values(&self, name: &str) -> Vec<String> {
        let Some(values) = self.strings.id(name).and_then(|n| self.postings.get(&n)) else { return Vec::new() };
        let mut out: Vec<String> = values.keys().map(|&v| self.strings.get(v).to_string()).collect();
        out.sort();
        out
    }

    /// Heap bytes used, roughly (for the memory figure in stats).
    pub fn approx_bytes(&self) -> usize {
        let strings: usize = self.strings.strings.iter().map(|s| s.len() + 16 + 16 + 24).sum();
        let series = self.pairs.capacity() + self.starts.capacity() * 8;
        let postings: usize = self.postings.values().flat_map(|m| m.values()).map(|l| l.capacity() * 4 + 40).sum();
        strings + series + postings + self.by_hash.capacity() * 5 + self.hashes.capacity() * 8
    }
}

fn intersect(a: &[u32], b: &[u32]) -> Vec<u32> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(a[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

/// Iterates pairs stored by [`put_pairs`] (the index wrote them, so
/// they are well formed; a truncated varint ends the iteration).
#[derive(Clone)]
pub struct Pairs<'a>(&'a [u8]);

impl Iterator for Pairs<'_> {
    type Item = (u32, u32);

    fn next(&mut self) -> Option<(u32, u32)> {
        if self.0.is_empty() {
            return None;
        }
        let mut r = super::codec::ByteReader::new(self.0);
        let pair = (r.uvarint(), r.uvarint());
        self.0 = r.rest();
        match pair {
            (Ok(n), Ok(v)) => Some((u32::try_from(n).ok()?, u32::try_from(v).ok()?)),
            _ => {
                self.0 = &[];
                None
            }
        }
    }
}

/// Appends interned pairs as the `series.labels` column holds them: varint
/// name id, varint value id, ...
pub fn put_pairs(out: &mut Vec<u8>, pairs: impl IntoIterator<Item = (u32, u32)>) {
    for (n, v) in pairs {
        super::codec::put_uvarint(out, n as u64);
        super::codec::put_uvarint(out, v as u64);
    }
}

/// Decodes [`put_pairs`]'s bytes; `None` when corrupt or naming unknown strings.
pub fn decode_pairs(bytes: &[u8], strings: usize) -> Option<Box<[(u32, u32)]>> {
    let mut r = super::codec::ByteReader::new(bytes);
    let mut out = Vec::new();
    while !r.is_empty() {
        let n = r.uvarint().ok()?;
        let v = r.uvarint().ok()?;
        if n as usize >= strings || v as usize >= strings {
            return None;
        }
        out.push((n as u32, v as u32));
    }
    Some(out.into_boxed_slice())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        Labels::from_pairs(pairs.iter().copied())
    }

    fn index() -> Index {
        let mut ix = Index::default();
        for (i, lbls) in [
            l(&[("__name__", "up"), ("job", "a"), ("instance", "x")]),
            l(&[("__name__", "up"), ("job", "b")]),
            l(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "200")]),
            l(&[("__name__", "http_requests_total"), ("job", "a"), ("code", "500")]),
        ]
        .iter()
        .enumerate()
        {
            assert_eq!(ix.insert(lbls, lbls.stable_hash()), i as u32);
        }
        ix
    }

    #[test]
    fn lookup_by_hash_and_labels() {
        let ix = index();
        let up_b = l(&[("__name__", "up"), ("job", "b")]);
        assert_eq!(ix.get(&up_b, up_b.stable_hash()), Some(1));
        assert_eq!(ix.labels(1), up_b);
        let other = l(&[("__name__", "up"), ("job", "c")]);
        assert_eq!(ix.get(&other, other.stable_hash()), None);
        // A forced hash collision still tells the two apart.
        let mut ix = index();
        let id = ix.insert(&other, up_b.stable_hash());
        assert_eq!(ix.get(&other, up_b.stable_hash()), Some(id));
        assert_eq!(ix.get(&up_b, up_b.stable_hash()), Some(1));
    }

    #[test]
    fn matchers_use_postings_and_agree_with_matches_all() {
        let ix = index();
        let cases: Vec<Vec<Matcher>> = vec![
            vec![Matcher::equal("__name__", "up")],
            vec![Matcher::equal("job", "a")],
            vec![Matcher::equal("job", "a"), Matcher::new(MatchKind::NotEqual, "code", "200").unwrap()],
            vec![Matcher::new(MatchKind::Regex, "code", "2..|5..").unwrap()],
            vec![Matcher::equal("instance", "")],
            vec![Matcher::new(MatchKind::NotRegex, "job", "a").unwrap()],
            vec![Matcher::equal("nope", "x")],
            vec![],
        ];
        for ms in cases {
            let want: Vec<u32> =
                (0..ix.len() as u32).filter(|&id| super::super::matches_all(&ms, &ix.labels(id))).collect();
            assert_eq!(ix.select(&ms), want, "{ms:?}");
        }
        assert_eq!(ix.label_values("job"), ["a", "b"]);
        assert_eq!(ix.label_names(), ["__name__", "code", "instance", "job"]);
    }

    #[test]
    fn pairs_roundtrip_and_reject_garbage() {
        let ix = index();
        let pairs: Vec<(u32, u32)> = ix.pairs(2).collect();
        assert_eq!(pairs.len(), 3);
        let mut enc = Vec::new();
        put_pairs(&mut enc, pairs.iter().copied());
        assert_eq!(enc, ix.encoded_pairs(2));
        assert_eq!(decode_pairs(&enc, ix.strings.len()).unwrap().as_ref(), &pairs[..]);
        // Ids past one varint byte come back too.
        let big = [(0, 127), (128, 16_384), (u32::MAX, 1)];
        let mut enc = Vec::new();
        put_pairs(&mut enc, big);
        assert_eq!(Pairs(&enc).collect::<Vec<_>>(), big);
        assert_eq!(Pairs(&[0x80]).count(), 0);
        assert!(decode_pairs(&enc, 1).is_none());
        assert!(decode_pairs(&[0xff], 100).is_none());
    }
}
