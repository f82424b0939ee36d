//! The daemon: watches a repository, judges each new head, applies what
//! is allowed to the balancers, keeps them in line with git, and reports
//! back onto the commits.

pub mod api;
pub mod audit_append;
pub mod config;
pub mod drift;
pub mod idp;
pub mod journal;
pub mod metrics;
pub mod nodes;
pub mod notify;
pub mod oidc;
pub mod pages;
pub mod readiness;
pub mod reconcile;
pub mod replica;
pub mod reporter;
pub mod run;
pub mod scim;
pub mod state;
pub mod trusted;

pub use config::{DaemonConfig, DriftMode};
pub use run::run;
