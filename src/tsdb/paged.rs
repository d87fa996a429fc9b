//! A vector kept in fixed-size pages, for the head's per-series state:
//! growing never copies the elements, and at most one page is spare, where
//! a doubling `Vec` leaves up to half its capacity unused.

/// Elements per page.
const PAGE: usize = 64;

pub struct Paged<T> {
    pages: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Paged<T> {
    fn default() -> Self {
        Paged { pages: Vec::new(), len: 0 }
    }
}

impl<T> Paged<T> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.pages.get(i / PAGE)?.get(i % PAGE)
    }

    pub fn get_mut(&mut self, i: usize) -> Option<&mut T> {
        self.pages.get_mut(i / PAGE)?.get_mut(i % PAGE)
    }

    pub fn push(&mut self, v: T) {
        if self.len.is_multiple_of(PAGE) {
            self.pages.push(Vec::with_capacity(PAGE));
        }
        if let Some(page) = self.pages.last_mut() {
            page.push(v);
            self.len += 1;
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.pages.iter().flatten()
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.pages.iter_mut().flatten()
    }

    /// Elements the allocated pages can hold.
    pub fn capacity(&self) -> usize {
        self.pages.len() * PAGE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_across_pages() {
        let mut p = Paged::default();
        for i in 0..PAGE * 2 + 3 {
            p.push(i);
        }
        assert_eq!(p.len(), PAGE * 2 + 3);
        assert_eq!(p.capacity(), PAGE * 3);
        assert_eq!(p.get(PAGE + 1), Some(&(PAGE + 1)));
        assert_eq!(p.get(PAGE * 2 + 3), None);
        *p.get_mut(PAGE * 2).unwrap() = 0;
        assert_eq!(p.iter().copied().sum::<usize>(), (0..PAGE * 2 + 3).sum::<usize>() - PAGE * 2);
        assert_eq!(p.iter_mut().count(), PAGE * 2 + 3);
    }
}
