//! Rules: Prometheus rule files, recording rules and the alert state machine.
//!
//! - [`file`]: parsing and validating rule files (strict, like `promtool check rules`).
//! - [`template`]: the Go-template subset used by alert labels and annotations.

pub mod alertmanager;
pub mod api;
pub mod file;
pub mod group;
pub mod manager;
pub mod template;
pub mod unittest;
pub mod yaml;

pub use file::check_rules_cli;
pub use group::{Alert, AlertSink, AlertState, Group};
pub use manager::{ManagerOptions, ReloadError, RuleManager};
pub use unittest::{test_rules_cli, test_rules_cli_filtered};
