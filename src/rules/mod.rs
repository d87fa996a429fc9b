//! Rules: Prometheus rule files, recording rules and the alert state machine.
//!
//! - [`file`]: parsing and validating rule files (strict, like `promtool check rules`).
//! - [`template`]: the Go-template subset used by alert labels and annotations.

pub mod file;
pub mod template;
pub mod yaml;
