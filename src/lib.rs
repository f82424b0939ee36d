//! lbops: a GitOps reconciliation daemon for external load balancers and
//! the permissions over them.
//!
//! The flow runs one way — `source` → `spec` → identity → authz → plan →
//! provider → report — with a pure core (`spec`, and later `authz` and
//! `plan`) and I/O at the edges (`source`).
//!
//! # Module map
//!
//! Modules import in one direction. Each line names a top-level module and
//! the only modules it may use through `crate::` (or a `super::` that
//! leaves it); `*` means all of them. The map has no cycle, and
//! `tests/layering.rs` reads it from here and fails when the code imports
//! across it, so no cycle can come back: to add an arrow, add it here, and
//! if the test then reports a cycle, the arrow is the wrong way round. A
//! module's own tests (`#[cfg(test)] mod …`) are exempt, as
//! dev-dependencies would be. The binary (`main.rs`, `cli/`) may use
//! everything.
//!
//! ```text
//! fsutil:
//! spec:      fsutil
//! model:     spec
//! identity:  spec
//! authz:     spec identity model
//! source:    spec
//! judge:     spec model identity authz source provider  # provider: exception (1)
//! plan:      spec model
//! dataplane: spec model fsutil
//! provider:  spec model plan dataplane
//! report:    source
//! audit:     spec model
//! trigger:   source
//! daemon:    *
//! ```
//!
//! So: `spec` is the repository format and depends on no other part but
//! file helpers; `model` is the vocabulary `plan`, `provider` and
//! `dataplane` share (observed state, steps, capabilities, digests), and
//! neither `plan` nor `dataplane` imports another of the three; `provider`
//! may use `plan` and drives the embedded `dataplane`. `report`, `audit` and `trigger` are edges only
//! the daemon and the CLI use; `daemon` is the composition root, and
//! nothing in the library uses it.
//!
//! Known exceptions, each to remove rather than copy:
//!
//! 1. `judge` → `provider`: admission (`judge::admission`) names
//!    `provider::aws::AwsConfig` in its `Placement` and calls
//!    `provider::refusals`, so the pure judge reaches the module that
//!    holds the AWS client. It is no cycle (`provider` uses no `judge`).
//!    Issue 13 removes it when placement and its refusals are a value of
//!    `model` the caller hands to admission.
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
