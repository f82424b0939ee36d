//! lbops: a GitOps reconciliation daemon for external load balancers and
//! the permissions over them.
//!
//! The flow runs one way — `source` → `spec` → identity → authz → plan →
//! provider → report — with a pure core (`spec`, and later `authz` and
//! `plan`) and I/O at the edges (`source`).
#![forbid(unsafe_code)]

pub mod audit;
pub mod authz;
pub mod daemon;
pub mod dataplane;
pub mod fsutil;
pub mod identity;
pub mod judge;
pub mod model;
pub mod plan;
pub mod provider;
pub mod report;
pub mod source;
pub mod spec;
pub mod trigger;
