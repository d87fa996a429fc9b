//! Rules: Prometheus rule files, recording rules and the alert state machine.
//!
//! - [`file`]: parsing and validating rule files strictly, like `promtool
//!   check rules` (with [`check_rules_cli`]).
//! - [`group`]: groups and rules evaluated at an explicit time: recording
//!   series, alerts (inactive → pending → firing → resolved, `for`,
//!   `keep_firing_for`), ALERTS / ALERTS_FOR_STATE, restore, and the
//!   [`AlertSink`] that receives firing and resolved alerts.
//! - [`manager`]: [`RuleManager`] runs each group on its interval in its own
//!   task, reloads without losing state, and keeps metrics.
//! - [`alertmanager`]: external Alertmanagers (v2 API) as an [`AlertSink`].
//! - [`api`]: `/api/v1/rules` and `/api/v1/alerts` bodies.
//! - [`template`]: the Go-template subset used by labels and annotations.
//! - [`unittest`]: `promtool test rules` files (with [`test_rules_cli`]).

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
