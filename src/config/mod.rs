//! (being written)
mod marked;
