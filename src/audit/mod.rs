//! The tamper-evident audit log: every decision, apply, drift, denial,
//! revert, trust change and API call is one JSON line, tied to an identity,
//! in an append-only file where each record carries the SHA-256 hash of the
//! one before.
//!
//! * [`AuditEvent`] is what happened; [`Record`] is an event sealed into the chain
//!   (format: [`record`]).
//! * [`AuditLog`] appends: verify on open, one write + `fdatasync` per
//!   record. Apply a change only after [`AuditLog::append`] returned `Ok`:
//!   no audit write, no change.
//! * [`verify`] checks a whole log and names the first bad line.
//! * [`secrets`] refuses events that would put a secret in the log.
//! * [`Filter`] picks records for `lbops audit show`.
//! * [`accept`] records, in the log, that its lost end was accepted.
//! * [`join`] checks the logs of replicas on etcd together, by epoch.
//!
//! What the chain proves: a log that verifies was not edited, cut or
//! reordered *unless it was rewritten from the edit onwards* — the hash is
//! not keyed, so whoever can write the file can recompute it. Compare the
//! head with one kept elsewhere (the daemon's state, a commit status,
//! [`verify`]'s `expected_head`) to catch that and a deleted tail: the
//! daemon opens its log with [`AuditLog::open_continuing`] and refuses to
//! start on a log that lost the head its state keeps.

pub mod accept;
mod event;
mod filter;
pub mod join;
mod log;
pub mod record;
pub mod secrets;
mod verify;

pub use accept::Accepted;
pub use event::{AuditEvent, EventKind, DAEMON_ACTOR};
pub use filter::{read_records, Filter};
pub use log::{AuditError, AuditLog, Discontinuity, Opened, Repaired};
pub use record::{Head, HeadParseError, Record, GENESIS};
pub use secrets::SecretInEvent;
pub use verify::{verify, Problem, VerifyError, VerifySummary};
