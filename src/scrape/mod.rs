//! Scraping: target discovery, relabeling, the scrape loop and the exposition parser.

pub mod exposition;
pub mod relabel;
