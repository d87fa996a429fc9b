//! Sightline: scrape, store, query, alert and draw dashboards in one binary.
//!
//! The module tree is the pipeline (see DESIGN.md):
//! `config` → `scrape`/`collect` → `tsdb` → `promql` → `rules` → `notify`,
//! with `web` and `dashboards` on top and `selfmon` watching it all.

pub mod auth;
pub mod collect;
pub mod config;
pub mod dashboards;
pub mod ingest;
pub mod notify;
pub mod promql;
pub mod remote;
pub mod rules;
pub mod scrape;
pub mod selfmon;
pub mod tsdb;
pub mod web;
