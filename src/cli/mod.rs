//! Subcommands of the `lbops` binary that are more than a few lines.

pub mod audit;
pub mod authorize;
pub mod client;
pub mod dataplane;
pub mod demo;
pub mod plan;
pub mod run;
pub mod token;
