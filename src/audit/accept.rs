//! Going on with a log that lost its end: on purpose, and on the record.
//!
//! A writer keeps the head it wrote last elsewhere (the daemon, in its
//! state) and opens the log with [`AuditLog::open_continuing`], which
//! refuses a log that does not hold that head: records deleted from the
//! end, or an older copy put back. When the missing records cannot be
//! restored, an operator accepts the log's current end with `lbops audit
//! accept-end`, which appends an [`END_ACCEPTED`] record naming the head
//! that was lost (`was`) and the end accepted (`end`). A log holding such a
//! record, right after the end it names, continues `was`: the gap stays
//! visible in the log, with who accepted it and why.
//!
//! [`AuditLog::open_continuing`]: crate::audit::AuditLog::open_continuing

use super::event::{AuditEvent, EventKind};
use super::record::{Head, Record};
use std::fmt;

/// The outcome of the record that accepts a log's end.
pub const END_ACCEPTED: &str = "audit log end accepted";

/// The record `lbops audit accept-end` appends: `actor` accepts that the
/// log ends at `end` although its writer had reached `was`, for `reason`.
#[must_use]
pub fn end_accepted(was: &Head, end: &Head, actor: &str, reason: &str) -> AuditEvent {
    AuditEvent::new(EventKind::Trust, actor, END_ACCEPTED).with_detail(serde_json::json!({
        "was": was.to_string(),
        "end": end.to_string(),
        "reason": reason,
    }))
}

/// An [`END_ACCEPTED`] record that a log was opened by.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The head the writer had reached, which the log no longer holds.
    pub was: Head,
    /// The end that was accepted in its place.
    pub end: Head,
    /// The seq of the accepting record.
    pub record: u64,
    /// Who accepted it.
    pub actor: String,
}

impl fmt::Display for Accepted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "record {} (by {}) accepts that the log ends at seq {} although lbops had written up to seq {}",
            self.record, self.actor, self.end.seq, self.was.seq
        )
    }
}

/// Whether `record` accepts the loss of `was`: an [`END_ACCEPTED`] trust
/// record naming it, sealed right after the end it names (so it was
/// written on the log as it was found, not copied in from elsewhere).
pub(crate) fn accepts(record: &Record, was: &Head) -> Option<Accepted> {
    let event = &record.event;
    if event.kind != EventKind::Trust || event.outcome != END_ACCEPTED {
        return None;
    }
    let head = |name: &str| {
        event
            .detail
            .get(name)
            .and_then(serde_json::Value::as_str)
            .and_then(|text| text.parse::<Head>().ok())
    };
    let (named, end) = (head("was")?, head("end")?);
    let follows_end = record.seq == end.seq + 1 && record.prev == end.hash;
    (named == *was && follows_end).then(|| Accepted {
        was: named,
        end,
        record: record.seq,
        actor: event.actor.clone(),
    })
}
