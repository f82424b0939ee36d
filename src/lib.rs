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
//! support:
//! spec:      fsutil support
//! model:     spec support
//! identity:  spec support
//! authz:     spec identity model idp support  # idp: what the identity provider takes away
//! source:    spec support
//! judge:     spec model identity authz source idp
//! plan:      spec model
//! dataplane: spec model fsutil support
//! provider:  spec model plan dataplane source support  # source: the CommitId an apply tags with; support: clock and backoff of the fleet catch-up
//! admission: spec judge provider
//! report:    source support
//! audit:     spec model support
//! idp:       spec identity support  # oidc: a person is a User of the trusted policy
//! trigger:   source
//! cluster:   source spec support  # source: secrets by reference; spec: durations
//! daemon:    *
//! ```
//!
//! So: `spec` is the repository format and depends on no other part but
//! helpers (`fsutil`, `support`); `model` is the vocabulary `plan`, `provider` and
//! `dataplane` share (observed state, steps, capabilities, digests), and
//! neither `plan` nor `dataplane` imports another of the three; `provider`
//! may use `plan` and drives the embedded `dataplane`, and names the
//! commit an apply is for with `source`'s `CommitId`. `admission` joins
//! a judged range (`judge`) with where its balancers run (`provider`): the
//! one answer the daemon, `lbops authorize` and `validate --config` share.
//! `idp` is what the identity provider pushed (SCIM) or proved (OIDC),
//! pure values that the daemon keeps and serves; a person it proves is
//! looked up among the `spec` Users; and what it takes away from the
//! principals of a policy, which `authz` and `judge` ask.
//! `report`, `audit` and `trigger` are edges only
//! the daemon and the CLI use; `daemon` is the composition root, and
//! nothing in the library uses it.
#![forbid(unsafe_code)]

pub mod admission;
pub mod audit;
pub mod authz;
pub mod cluster;
pub mod daemon;
pub mod dataplane;
pub mod fsutil;
pub mod identity;
pub mod idp;
pub mod judge;
pub mod model;
pub mod plan;
pub mod provider;
pub mod report;
pub mod source;
pub mod spec;
pub mod support;
pub mod trigger;
