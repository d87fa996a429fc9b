//! Web: the HTTP API, UI pages and charts.

pub mod charts;
pub mod panels;
