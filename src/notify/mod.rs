//! Notifications: Alertmanager built in. Alerts come in through
//! [`Notifier::receive`] (from rules or the API v2), are routed by the tree
//! in alertmanager.yml, grouped, inhibited, silenced, deduplicated against a
//! persisted notification log, and delivered by receivers with retries.

pub mod config;
pub mod matchers;
pub mod route;
pub mod timeinterval;
pub mod alert;
pub mod inhibit;
pub mod silence;
pub mod store;
pub mod template;
pub mod receivers;
