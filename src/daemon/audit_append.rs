//! The daemon's one way for a request handler to write an audit record:
//! the log is shared by the reconcile loop and every endpoint, and
//! appending syncs a file, so it happens on a blocking thread, never on
//! the async runtime's.

use crate::audit::{AuditEvent, AuditLog};
use std::sync::{Arc, Mutex};

/// Appends `event`, stamped `at`, to `audit`; the error as text, for the
/// caller's log line (the caller refuses what it could not record).
pub async fn append(
    audit: &Arc<Mutex<AuditLog>>,
    event: AuditEvent,
    at: time::OffsetDateTime,
) -> Result<(), String> {
    let audit = audit.clone();
    tokio::task::spawn_blocking(move || {
        audit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .append(&event, at)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await
    .unwrap_or_else(|e| Err(e.to_string()))
}
