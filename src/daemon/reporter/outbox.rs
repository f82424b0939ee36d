//! The forge outbox: the latest status lbops wants on each forge for each
//! (commit, context), kept in the state directory until the forge has it.
//!
//! A forge may be down for longer than one post retries (a few minutes
//! at most); without the outbox such a status was lost, and a commit kept
//! `lbops/apply: pending` for good. Now [`Outbox::want`] records the
//! status (replacing an older one of the same commit and context, which
//! need never be sent) and saves the outbox atomically before it returns;
//! one [`deliver`] task per forge posts what is waiting, oldest first,
//! and forgets an entry only once the forge took it (or refused it for
//! good). A restart reads the file and goes on where it stopped.
//!
//! Order: entries are numbered as they are wanted; each pass posts them
//! in that order, and a commit whose post fails is left for the next
//! pass, so a newer status of a commit never goes out before an older
//! one, and an older one is never posted over a newer (it was replaced).

use super::super::journal::Journal;
use crate::fsutil::write_atomically;
use crate::report::alerts::{Alert, Alerter};
use crate::report::forge::ForgeSink;
use crate::report::{ReportError, Status, StatusContext, StatusSink, StatusState};
use crate::source::CommitId;
use crate::support::backoff::{random_seed, Backoff, Jitter};
use crate::support::clock::{Clock, Sleeper};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::Notify;

/// The outbox file in the state directory.
pub const FILE: &str = "forge-outbox.json";

/// The most statuses kept waiting; past it the oldest are dropped (a
/// forge down for days need not get every status of every commit since).
pub const MAX_WAITING: usize = 2_000;

/// The waits between passes while a forge keeps failing: a minute (what
/// GitHub asks after a secondary rate limit), doubling up to ten.
pub const RETRY: Backoff = Backoff {
    base: Duration::from_secs(60),
    cap: Duration::from_secs(600),
};

/// One status waiting for one forge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Which forge: [`forge_key`] of its config.
    pub forge: String,
    pub commit: CommitId,
    pub context: StatusContext,
    pub state: StatusState,
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// When it was wanted, in order: larger is newer.
    pub seq: u64,
}

impl Entry {
    fn status(&self) -> Status {
        let mut status = Status::new(self.context, self.state, &self.description);
        status.target_url.clone_from(&self.target_url);
        status.branch.clone_from(&self.branch);
        status
    }

    fn same_slot(&self, other: &Entry) -> bool {
        (&self.forge, self.commit, self.context) == (&other.forge, other.commit, other.context)
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    next_seq: u64,
    waiting: Vec<Entry>,
}

/// Why the outbox cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("cannot read the forge outbox {}: {source}", path.display())]
    Read { path: PathBuf, source: io::Error },
    #[error("the forge outbox {} is damaged ({reason}); move it away to start without the statuses it held (the next reconcile posts the current ones again)", path.display())]
    Damaged { path: PathBuf, reason: String },
}

/// The statuses waiting for the forges, saved in one file.
#[derive(Debug)]
pub struct Outbox {
    path: PathBuf,
    saved: Mutex<Saved>,
    /// Woken when a status is wanted.
    wanted: Notify,
}

impl Outbox {
    /// The outbox saved at `path` (empty when there is none yet), keeping
    /// only the entries of `forges` still configured.
    pub fn open(path: &Path, forges: &[String]) -> Result<Outbox, OutboxError> {
        let mut saved: Saved = match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| OutboxError::Damaged {
                path: path.to_owned(),
                reason: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Saved::default(),
            Err(source) => {
                return Err(OutboxError::Read {
                    path: path.to_owned(),
                    source,
                })
            }
        };
        let before = saved.waiting.len();
        saved.waiting.retain(|e| forges.contains(&e.forge));
        if saved.waiting.len() < before {
            tracing::info!(
                dropped = before - saved.waiting.len(),
                "statuses waiting for forges no longer configured dropped"
            );
        }
        if !saved.waiting.is_empty() {
            tracing::info!(
                waiting = saved.waiting.len(),
                "statuses still to post to forges"
            );
        }
        Ok(Outbox {
            path: path.to_owned(),
            saved: Mutex::new(saved),
            wanted: Notify::new(),
        })
    }

    /// Records that `forge` should show `status` on `commit`, in place of
    /// any status of the same context still waiting, and saves the outbox.
    pub fn want(&self, forge: &str, commit: CommitId, status: &Status) {
        {
            let mut saved = self.lock();
            let entry = Entry {
                forge: forge.to_owned(),
                commit,
                context: status.context,
                state: status.state,
                description: status.description.clone(),
                target_url: status.target_url.clone(),
                branch: status.branch.clone(),
                seq: saved.next_seq,
            };
            saved.next_seq += 1;
            saved.waiting.retain(|e| !e.same_slot(&entry));
            saved.waiting.push(entry);
            let excess = saved.waiting.len().saturating_sub(MAX_WAITING);
            if excess > 0 {
                tracing::warn!(
                    dropped = excess,
                    "the forge outbox is full; the oldest statuses are dropped"
                );
                saved.waiting.drain(..excess);
            }
            self.save(&saved);
        }
        self.wanted.notify_waiters();
    }

    /// What waits for `forge`, oldest first.
    #[must_use]
    pub fn waiting(&self, forge: &str) -> Vec<Entry> {
        let mut waiting: Vec<Entry> = self
            .lock()
            .waiting
            .iter()
            .filter(|e| e.forge == forge)
            .cloned()
            .collect();
        waiting.sort_by_key(|e| e.seq);
        waiting
    }

    /// Forgets `entry`, unless a newer status took its place meanwhile.
    fn done(&self, entry: &Entry) {
        let mut saved = self.lock();
        let before = saved.waiting.len();
        saved.waiting.retain(|e| e != entry);
        if saved.waiting.len() != before {
            self.save(&saved);
        }
    }

    /// Saves the outbox; a failure is logged, and the statuses stay
    /// waiting in memory (the state directory's own checks alert on it).
    fn save(&self, saved: &Saved) {
        let text = serde_json::to_string_pretty(saved).unwrap_or_default();
        if let Err(e) = write_atomically(&self.path, text.as_bytes()) {
            tracing::warn!(path = %self.path.display(), error = %e, "cannot save the forge outbox; waiting statuses are lost if lbops stops now");
        }
    }

    fn lock(&self) -> MutexGuard<'_, Saved> {
        // Each change is whole before the lock is let go.
        self.saved
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The outbox key of a forge: its kind, API and repository, so that a
/// status waits for the forge it was meant for, across restarts.
#[must_use]
pub fn forge_key(kind: &str, api: &str, repository: &str) -> String {
    format!("{kind} {api} {repository}")
}

/// What a delivery tells the daemon's pages and alerts.
#[derive(Clone)]
pub struct Tell {
    pub journal: Arc<Journal>,
    pub alerter: Arc<Alerter>,
    pub clock: Arc<dyn Clock>,
}

/// Posts what waits in `outbox` for `forge` (known there as `key`),
/// for ever: a pass over everything waiting, oldest first; after a pass
/// with a transient failure, a wait from [`RETRY`] on `sleeper`; with
/// nothing waiting, a wait for the next [`Outbox::want`].
///
/// A refusal (a 401, a redirect, a full context) drops the entry: posting
/// it again would be refused again. It shows on the daemon's page and is
/// alerted as a config problem.
pub async fn deliver(
    outbox: Arc<Outbox>,
    forge: ForgeSink,
    key: String,
    sleeper: Arc<dyn Sleeper>,
    tell: Tell,
) {
    let mut failures: u32 = 0;
    loop {
        let wanted = outbox.wanted.notified();
        tokio::pin!(wanted);
        wanted.as_mut().enable();
        let waiting = outbox.waiting(&key);
        if waiting.is_empty() {
            failures = 0;
            wanted.await;
            continue;
        }
        let mut stalled: HashSet<CommitId> = HashSet::new();
        for entry in waiting {
            if stalled.contains(&entry.commit) {
                continue;
            }
            let status = entry.status();
            match forge.post(entry.commit, &status).await {
                Ok(()) => {
                    outbox.done(&entry);
                    tell.journal
                        .sink_delivered(entry.commit, &status, forge.name());
                }
                Err(e) => {
                    tracing::warn!(commit = %entry.commit.short(), sink = forge.name(), error = %e, "cannot post a status");
                    tell.journal.sink_failed(
                        entry.commit,
                        tell.clock.unix_seconds(),
                        &status,
                        e.to_string(),
                    );
                    match e {
                        ReportError::Transient { .. } => {
                            stalled.insert(entry.commit);
                        }
                        ReportError::Permanent { .. } => {
                            outbox.done(&entry);
                            let alert =
                                Alert::bad_config(Some(&entry.commit.to_string()), &e.to_string());
                            tell.alerter.send(&alert).await;
                        }
                    }
                }
            }
        }
        if stalled.is_empty() {
            failures = 0;
            continue;
        }
        failures = failures.saturating_add(1);
        // Jitter apart, so daemons failing together do not retry together,
        // but never under the first step: a secondary limit asks a minute.
        let wait = RETRY
            .wait(failures, Jitter::up_to(25, random_seed()))
            .max(RETRY.base);
        tracing::info!(
            sink = forge.name(),
            wait_s = wait.as_secs(),
            "statuses wait for the forge; trying again later"
        );
        sleeper.sleep(wait).await;
    }
}

#[cfg(test)]
mod tests;
