//! Why a reconcile failed, whether trying again can help, and when to.

use super::super::state::StateError;
use super::Next;
use crate::audit::AuditError;
use crate::judge::LoadError;
use crate::provider::ProviderError;
use crate::source::GitError;
use crate::support::backoff::{Backoff, Jitter};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Judge(#[from] LoadError),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error("step {index} of the plan failed: {reason}")]
    Step { index: usize, reason: String },
    #[error("the balancers did not converge after {0} plans; see the audit log")]
    NotConverged(usize),
    /// No audit write, no change.
    #[error("cannot write the audit log, so nothing is applied: {0}")]
    Audit(#[from] AuditError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error("the trusted commit {commit} does not validate any more: {first}")]
    TrustedInvalid { commit: String, first: String },
    #[error("judging stopped unexpectedly ({0}); this is a bug in lbops, please report it")]
    JudgePanicked(String),
    /// Replicas on etcd: the shared state could not be written, or not
    /// under this replica's epoch.
    #[error("shared state: {0}")]
    Shared(#[from] crate::cluster::SharedError),
    #[error("this replica does not hold the leader lease (or too little of it is left to start a step), so it applies nothing")]
    NotLeading,
}

/// Whether trying a failed reconcile again can help, and what it waits
/// for when it cannot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retry {
    /// The cause may pass by itself (a network blip, a provider that is
    /// restarting, a busy disk): try again after a growing delay.
    Transient,
    /// The audit log cannot be written now (a full disk, a directory
    /// lbops may not write). Nothing changes until it can; once it can,
    /// pending changes go on at once: try again by the next poll.
    AuditWrite,
    /// Trying the same head again gives the same answer: wait for a new
    /// commit (an event for the audit log that looks like a secret).
    NeedsChange,
    /// Only an operator can clear it (a trusted commit that no longer
    /// validates, a damaged state, an audit log changed behind lbops'
    /// back, a bug): wait for one, and say so.
    NeedsOperator,
}

impl Retry {
    /// Whether the daemon stops on the head until something changes.
    #[must_use]
    pub fn waits(self) -> bool {
        matches!(self, Retry::NeedsChange | Retry::NeedsOperator)
    }
}

impl ReconcileError {
    /// Whether trying again can help.
    #[must_use]
    pub fn retry(&self) -> Retry {
        match self {
            ReconcileError::Git(e) | ReconcileError::Judge(LoadError::Git(e)) => git_retry(e),
            ReconcileError::Judge(LoadError::TrustedInvalid { .. })
            | ReconcileError::TrustedInvalid { .. } => Retry::NeedsOperator,
            ReconcileError::Judge(LoadError::OverBudget { .. })
            | ReconcileError::Provider(_)
            | ReconcileError::Step { .. }
            | ReconcileError::NotConverged(_)
            // Judging the head again ends in refusing it: the state
            // counts the judgements a stop interrupted.
            | ReconcileError::JudgePanicked(_)
            // etcd back, or the lease won again: the run loop knows.
            | ReconcileError::Shared(_)
            | ReconcileError::NotLeading => Retry::Transient,
            ReconcileError::Audit(e) => audit_retry(e),
            ReconcileError::State(e) => match e {
                StateError::Write { .. } => Retry::Transient,
                StateError::Read { .. }
                | StateError::Damaged { .. } => Retry::NeedsOperator,
            },
        }
    }
}

fn git_retry(error: &GitError) -> Retry {
    match error {
        // A commit id lbops keeps (the state's trusted commit, the pinned
        // one) that is not one: the state or the config is damaged.
        GitError::BadCommitId(_) => Retry::NeedsOperator,
        _ => Retry::Transient,
    }
}

fn audit_retry(error: &AuditError) -> Retry {
    match error {
        AuditError::Io { .. } => Retry::AuditWrite,
        AuditError::Secret(_) => Retry::NeedsChange,
        AuditError::Broken { .. }
        | AuditError::EndChanged { .. }
        | AuditError::Discontinued(_)
        | AuditError::Time { .. }
        | AuditError::Encode(_) => Retry::NeedsOperator,
    }
}

/// How often to try again after failures, as the daemon config sets it.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// The poll interval (zero: no polling): a failed audit write is tried
    /// again by the next poll at the latest.
    pub poll: Duration,
    /// A number that varies between daemons and attempts, for jitter.
    pub jitter_seed: u64,
}

/// What to do after `attempt` failed reconciles in a row, the last with
/// `error`: try again after a backoff, or — when trying again cannot help
/// — nothing until the next trigger (a new commit; the reconciler does not
/// judge the head it stopped on again).
#[must_use]
pub fn error_policy(error: &ReconcileError, attempt: u32, policy: RetryPolicy) -> Next {
    let delay = backoff(attempt, policy.jitter_seed);
    match error.retry() {
        Retry::Transient => Next::RequeueAfter(delay),
        // "No audit, no change" holds while the log cannot be written;
        // once it can (a full disk freed), pending changes go on within a
        // poll, not after a backoff of up to five minutes.
        Retry::AuditWrite if !policy.poll.is_zero() => Next::RequeueAfter(delay.min(policy.poll)),
        Retry::AuditWrite => Next::RequeueAfter(delay),
        Retry::NeedsChange | Retry::NeedsOperator => Next::Idle,
    }
}

/// How long reconciles back off: from one second, doubling, to five
/// minutes.
const BACKOFF: Backoff = Backoff {
    base: Duration::from_secs(1),
    cap: Duration::from_secs(300),
};

/// The most of a backoff that jitter takes off, in percent.
const JITTER_PERCENT: u8 = 25;

/// How long to wait before trying again after `attempt` failures in a
/// row (0 for the first): exponential from one second, capped at five
/// minutes, with up to 25% jitter so that daemons restarted together do
/// not retry together.
#[must_use]
pub fn backoff(attempt: u32, jitter_seed: u64) -> Duration {
    BACKOFF.wait(
        attempt.saturating_add(1),
        Jitter::up_to(JITTER_PERCENT, jitter_seed),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::Head;
    use std::path::PathBuf;

    fn io(errno: i32) -> ReconcileError {
        ReconcileError::Audit(AuditError::Io {
            action: "write",
            path: PathBuf::from("audit.jsonl"),
            source: std::io::Error::from_raw_os_error(errno),
        })
    }

    fn end_changed() -> ReconcileError {
        ReconcileError::Audit(AuditError::EndChanged {
            path: PathBuf::from("audit.jsonl"),
            head: Head {
                seq: 3,
                hash: "ab".repeat(32),
            },
            found: "2 byte(s) follow it that lbops did not write".into(),
        })
    }

    const POLICY: RetryPolicy = RetryPolicy {
        poll: Duration::from_secs(10),
        jitter_seed: 0,
    };

    #[test]
    fn backoff_runs_from_a_second_to_five_minutes_less_a_quarter() {
        assert_eq!(backoff(0, 0), Duration::from_secs(1));
        assert_eq!(backoff(3, 0), Duration::from_secs(8));
        assert_eq!(backoff(30, 0), Duration::from_secs(300));
        let jittered = backoff(3, 999);
        assert!(jittered < Duration::from_secs(8) && jittered >= Duration::from_secs(6));
    }

    #[test]
    fn errors_say_whether_trying_again_can_help() {
        let cases = [
            (
                ReconcileError::Git(GitError::Fetch {
                    url: "https://git.example/estate".into(),
                    message: "connection reset".into(),
                }),
                Retry::Transient,
            ),
            (
                ReconcileError::Provider(ProviderError::Unreachable {
                    endpoint: "http://127.0.0.1:9".into(),
                    reason: "connection refused".into(),
                }),
                Retry::Transient,
            ),
            (
                ReconcileError::Step {
                    index: 2,
                    reason: "no such pool".into(),
                },
                Retry::Transient,
            ),
            (ReconcileError::NotConverged(3), Retry::Transient),
            (
                ReconcileError::JudgePanicked("boom".into()),
                Retry::Transient,
            ),
            (io(28), Retry::AuditWrite),
            (io(13), Retry::AuditWrite),
            (end_changed(), Retry::NeedsOperator),
            (
                ReconcileError::TrustedInvalid {
                    commit: "0123456789ab".into(),
                    first: "pools.yaml:3:5: error".into(),
                },
                Retry::NeedsOperator,
            ),
            (
                ReconcileError::Judge(LoadError::TrustedInvalid {
                    commit: "0123456789ab".into(),
                    first: "pools.yaml:3:5: error".into(),
                }),
                Retry::NeedsOperator,
            ),
            (
                ReconcileError::Git(GitError::BadCommitId("not-a-commit".into())),
                Retry::NeedsOperator,
            ),
            (
                ReconcileError::State(StateError::Write {
                    path: PathBuf::from("daemon-state.json"),
                    source: std::io::Error::from_raw_os_error(28),
                }),
                Retry::Transient,
            ),
            (
                ReconcileError::State(StateError::Damaged {
                    path: PathBuf::from("daemon-state.json"),
                    reason: "expected value".into(),
                }),
                Retry::NeedsOperator,
            ),
        ];
        for (error, retry) in cases {
            assert_eq!(error.retry(), retry, "{error}");
            // The message of one that waits says what to do.
            println!("{retry:?}: {error}");
        }
    }

    #[test]
    fn transient_errors_back_off_and_the_rest_wait_for_a_change() {
        let transient = ReconcileError::NotConverged(3);
        assert_eq!(
            error_policy(&transient, 0, POLICY),
            Next::RequeueAfter(Duration::from_secs(1))
        );
        assert_eq!(
            error_policy(&transient, 30, POLICY),
            Next::RequeueAfter(Duration::from_secs(300))
        );
        assert_eq!(error_policy(&end_changed(), 0, POLICY), Next::Idle);
        assert_eq!(error_policy(&end_changed(), 30, POLICY), Next::Idle);
        let trusted = ReconcileError::TrustedInvalid {
            commit: "0123456789ab".into(),
            first: "x".into(),
        };
        assert_eq!(error_policy(&trusted, 5, POLICY), Next::Idle);
    }

    #[test]
    fn a_failed_audit_write_is_tried_again_by_the_next_poll() {
        // After many failures the backoff is minutes; the audit retry is not.
        assert_eq!(
            error_policy(&io(28), 30, POLICY),
            Next::RequeueAfter(POLICY.poll)
        );
        // Shorter backoffs stay as they are.
        assert_eq!(
            error_policy(&io(28), 0, POLICY),
            Next::RequeueAfter(Duration::from_secs(1))
        );
        // Without polling, the backoff it is.
        let no_poll = RetryPolicy {
            poll: Duration::ZERO,
            ..POLICY
        };
        assert_eq!(
            error_policy(&io(28), 30, no_poll),
            Next::RequeueAfter(Duration::from_secs(300))
        );
    }
}
