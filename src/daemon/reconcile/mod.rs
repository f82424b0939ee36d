//! One reconcile: from the watched branch's head to the balancers, in the
//! kube-rs style — `reconcile` does the work and says what to do next;
//! `error_policy` beside it says when to try again after a failure.
//!
//! Per new head: source → spec → identity → authz (the judge) →
//! admission → plan → provider apply → observe. Nothing of a refused or
//! invalid candidate is applied, and every judgement and apply is in the
//! audit log before it takes effect. What happens is told to the
//! [`Reporter`] as [`ReconcileEvent`]s; it alone writes statuses, the
//! journal, audit records and alerts.
//!
//! * [`converge`]: plan → audit → apply, until the provider runs a catalog;
//! * [`drift`](mod@drift): what runs against the trusted commit, reported
//!   and reverted;
//! * [`plan_refs`]: the `lbops/plan` of other refs' heads;
//! * [`error`]: why a reconcile failed, and whether to try again.
//!
//! The reconciler is generic over its [`Provider`]: the daemon drives
//! [`Placed`]; the unit tests drive an in-memory provider.

mod converge;
mod drift;
mod error;
mod plan_refs;
#[cfg(test)]
mod tests;

pub use error::{backoff, error_policy, ReconcileError, Retry, RetryPolicy};

use super::reporter::{text, ReconcileEvent, Reporter};
use super::state::{DaemonState, HeadOutcome, JudgedHead, Judging, StateStore};
use super::trusted::Trusted;
use super::DaemonConfig;
use crate::admission::{admit, keep_addresses, Admission, Placement};
use crate::judge::{self, Judgement, TrustAnchor, Verification};
use crate::provider::placed::Placed;
use crate::provider::Provider;
use crate::source::{CommitId, GitSource};
use crate::spec::{self, Catalog};
use crate::support::clock::Clock;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// What to do after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing until the next trigger.
    Idle,
    /// Look again after this long.
    RequeueAfter(Duration),
}

/// How many times the daemon may stop while judging the same head before
/// it refuses that head: twice tells a crash it causes from a restart that
/// happened to land in the middle.
pub const MAX_JUDGE_ATTEMPTS: u32 = 2;

/// The name of the replicas' shared [`DaemonState`] in etcd.
pub const SHARED_STATE: &str = "state";

/// What a reconcile works with: the daemon's parts, built once at start.
pub struct Deps<P> {
    pub config: DaemonConfig,
    pub source: GitSource,
    pub provider: P,
    pub store: StateStore,
    /// Where trust starts until a commit is applied: the pinned commit,
    /// or the admin keys that may sign the first policy.
    pub first_trust: TrustAnchor,
    /// The public half of the daemon's API signing key (`api.signing_key_file`).
    pub api_key: Option<crate::identity::ApiKey>,
    pub reporter: Reporter,
    /// Where "now" comes from: when a head arrives, for judging it.
    pub clock: Arc<dyn Clock>,
    /// What the identity provider took away, for judging.
    pub idp: super::idp::IdpHandle,
    /// The state the replicas on etcd share, written under the leader's
    /// fence; `None`: a daemon alone, its state in its state directory.
    pub shared: Option<crate::cluster::SharedStore>,
}

/// A head the daemon stopped on: trying it again cannot help until a new
/// commit or an operator clears the error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Waiting {
    pub head: CommitId,
    pub retry: Retry,
    /// What it waits for and why, as the status and `/readyz` say it.
    pub reason: String,
}

/// The reconciler: its parts, and what it knows between reconciles.
pub struct Reconciler<P = Placed> {
    deps: Deps<P>,
    /// What is saved across restarts.
    state: DaemonState,
    /// The catalog of the trusted commit, as applied; shared with a drift
    /// revert, which applies it while the reconciler reports.
    applied: Option<Arc<Catalog>>,
    /// Heads of other refs already planned against the trusted commit.
    planned: HashSet<(CommitId, CommitId)>,
    /// The drift last reported, every field in every mode (and whether
    /// its failure status is cleared once it is gone: only drift left as
    /// is, none of it reverted), so the same drift is not reported every
    /// tick.
    last_drift: Option<(String, bool)>,
    /// The head the daemon stopped on, until the branch moves.
    waiting: Option<Waiting>,
    /// The trusted commit and catalog, published for the API.
    trusted: Trusted,
    /// The git Users the identity provider deprovisioned at the last look
    /// (`None`: not looked yet), to tell what changed at the next.
    deprovisioned: Option<Vec<crate::idp::Deprovisioned>>,
    /// The head last told to wait for a leader (replicas on etcd).
    told_unled: Option<CommitId>,
}

impl<P: Provider> Reconciler<P> {
    /// A reconciler that goes on from `state` (the saved state).
    #[must_use]
    pub fn new(deps: Deps<P>, state: DaemonState) -> Self {
        Reconciler {
            deps,
            state,
            applied: None,
            planned: HashSet::new(),
            last_drift: None,
            waiting: None,
            trusted: Trusted::default(),
            deprovisioned: None,
            told_unled: None,
        }
    }

    /// A read handle on the trusted commit and its catalog, updated when
    /// a commit is applied or resumed.
    #[must_use]
    pub fn trusted(&self) -> Trusted {
        self.trusted.clone()
    }

    /// What is saved across restarts, as it stands.
    #[must_use]
    pub fn state(&self) -> &DaemonState {
        &self.state
    }

    /// The head the daemon stopped on, if it did, and why.
    #[must_use]
    pub fn waiting(&self) -> Option<&Waiting> {
        self.waiting.as_ref()
    }

    fn verification(&self) -> Verification {
        if self.deps.config.trust.verify_signatures {
            Verification::Required
        } else {
            Verification::Off
        }
    }

    /// Where balancers run, for admission.
    fn placement(&self) -> Placement<'_> {
        Placement {
            aws: self.deps.config.provider.aws.as_ref(),
        }
    }

    /// Saves the state: in the state directory, and — on etcd — as the
    /// replicas' shared state, only while this replica still leads. The
    /// audit head stays local: each replica's log is its own chain.
    async fn save(&self) -> Result<(), ReconcileError> {
        self.deps.store.save(&self.state)?;
        if let Some(shared) = &self.deps.shared {
            let state = DaemonState {
                audit_head: None,
                ..self.state.clone()
            };
            let json = serde_json::to_vec(&state).unwrap_or_default();
            shared.write(SHARED_STATE, json).await?;
        }
        Ok(())
    }

    /// The epoch to start a step under: `None` for a daemon alone; an
    /// error when this replica does not lead, or its lease is too close to
    /// lapsing to start anything.
    pub(super) fn epoch_for_step(&self) -> Result<Option<u64>, ReconcileError> {
        match &self.deps.shared {
            None => Ok(None),
            Some(shared) => shared
                .leadership()
                .epoch_for_step(tokio::time::Instant::now())
                .map(Some)
                .ok_or(ReconcileError::NotLeading),
        }
    }

    /// Asks, each time it is called, whether this replica may still start
    /// a step: while it holds more than the last part of its lease; always
    /// for a daemon alone. For providers that cannot compare an epoch.
    pub(super) fn may_start(&self) -> impl Fn() -> bool + Sync + use<P> {
        let leadership = self.deps.shared.as_ref().map(|s| s.leadership().clone());
        move || {
            leadership
                .as_ref()
                .is_none_or(|l| l.epoch_for_step(tokio::time::Instant::now()).is_some())
        }
    }

    /// This replica leads from now on, under `epoch`: it goes on from the
    /// state the last leader left in etcd (`shared`; `None` when no leader
    /// wrote any yet, then from its own), keeping its own audit head, and
    /// brings the balancers to the trusted commit at the next reconcile.
    pub fn lead(&mut self, shared: Option<DaemonState>, epoch: u64) {
        if let Some(shared) = shared {
            let audit_head = self.state.audit_head.take();
            self.state = DaemonState {
                audit_head,
                ..shared
            };
        }
        self.applied = None;
        self.waiting = None;
        self.last_drift = None;
        self.planned.clear();
        self.deps.reporter.epoch = Some(epoch);
    }

    /// This replica stands by: it records and applies nothing.
    pub fn stand_by(&mut self) {
        self.deps.reporter.epoch = None;
    }

    /// Tells on the branch's head, when it is not the trusted commit,
    /// that it waits for a leader (`why`): for when etcd cannot be
    /// reached and so no replica may apply.
    pub async fn unled(&mut self, why: &str) -> Result<(), ReconcileError> {
        self.deps.source.fetch()?;
        let head = self.deps.source.head()?;
        if self.state.trusted != Some(head) && self.told_unled != Some(head) {
            self.report(ReconcileEvent::Unled { head, why }).await?;
            self.told_unled = Some(head);
        }
        Ok(())
    }

    /// A standby follows the leader: publishes the trusted commit of the
    /// shared state for the pages and API reads, applying nothing.
    pub fn follow(&mut self, shared: DaemonState) -> Result<(), ReconcileError> {
        let published = self.trusted.load().map(|view| view.commit);
        let audit_head = self.state.audit_head.take();
        self.state = DaemonState {
            audit_head,
            ..shared
        };
        if let Some(commit) = self.state.trusted.filter(|c| Some(*c) != published) {
            self.deps.source.fetch()?;
            let catalog = Arc::new(self.catalog_at(commit)?);
            self.trusted.publish(commit, catalog);
        }
        Ok(())
    }

    /// Reports `event`, keeping the audit log's new head in the state.
    async fn report(&mut self, event: ReconcileEvent<'_>) -> Result<(), ReconcileError> {
        if let Some(head) = self.deps.reporter.report(event).await? {
            self.state.audit_head = Some(head.to_string());
        }
        Ok(())
    }

    /// The catalog of the trusted commit, with the addresses balancers
    /// held before. It is validated as of its own date, as the judge does:
    /// a certificate that expired since must not stop a restarted daemon
    /// from serving what it already served (the expiry warning is the
    /// validate step's job, on new commits).
    fn catalog_at(&self, commit: CommitId) -> Result<Catalog, ReconcileError> {
        let files = self.deps.source.files_at(commit)?;
        let written = self.deps.source.commit(commit)?.time;
        spec::load(&files, &spec::Options::at(written))
            .map(|v| {
                let mut catalog = v.catalog;
                keep_addresses(&mut catalog, &self.state.allocation);
                catalog
            })
            .map_err(|invalid| ReconcileError::TrustedInvalid {
                commit: commit.short(),
                first: invalid
                    .diagnostics
                    .first()
                    .map_or_else(String::new, ToString::to_string),
            })
    }

    /// Brings the balancers back to the trusted commit after a start, and
    /// remembers its catalog for drift.
    pub async fn resume(&mut self) -> Result<(), ReconcileError> {
        let Some(commit) = self.state.trusted else {
            return Ok(());
        };
        let catalog = self.catalog_at(commit)?;
        let steps = self.converge(&catalog, commit).await?.steps;
        self.state.allocation = catalog.allocation.clone();
        if steps > 0 {
            tracing::info!(commit = %commit.short(), steps, "resumed the trusted commit");
        }
        let catalog = Arc::new(catalog);
        self.trusted.publish(commit, catalog.clone());
        self.applied = Some(catalog);
        self.look_at_idp_quietly();
        Ok(())
    }

    /// Sets what the next [`Reconciler::idp_changed`] compares with, for a
    /// newly trusted policy: whom git added or removed is git's change,
    /// not the identity provider's.
    fn look_at_idp_quietly(&mut self) {
        if let Some(catalog) = &self.applied {
            let snapshot = self.deps.idp.snapshot();
            self.deprovisioned = Some(crate::idp::deprovisioned_users(snapshot.idp(), catalog));
        }
    }

    /// Tells, as audit records and alerts, how the standing of the
    /// trusted policy's Users with the identity provider changed since the
    /// last look. The first look (at start, or before any commit is
    /// trusted) only sets what later looks compare with: a start is not a
    /// change. The checks themselves need none of this: each decision
    /// reads the directory as it is.
    pub async fn idp_changed(&mut self) -> Result<(), ReconcileError> {
        let Some(catalog) = self.applied.clone() else {
            return Ok(());
        };
        let snapshot = self.deps.idp.snapshot();
        let now = crate::idp::deprovisioned_users(snapshot.idp(), &catalog);
        let seq = match snapshot.idp() {
            crate::idp::Idp::Pushed { view, .. } => view.seq(),
            crate::idp::Idp::Absent => 0,
        };
        let Some(before) = self.deprovisioned.replace(now.clone()) else {
            return Ok(());
        };
        for change in crate::idp::standing_changes(&before, &now) {
            self.report(ReconcileEvent::Standing {
                change: &change,
                seq,
            })
            .await?;
        }
        Ok(())
    }

    /// One pass: judge a new head and apply it if it is allowed. A head
    /// whose error trying again cannot clear ([`Retry::waits`]) is
    /// reported once, and not tried again until the branch moves.
    pub async fn reconcile(&mut self) -> Result<Next, ReconcileError> {
        // A replica whose lease lapsed (paused past it, cut off from etcd)
        // judges and records nothing: the next leader does.
        self.epoch_for_step()?;
        self.deps.source.fetch()?;
        let head = self.deps.source.head()?;
        if self.waiting.as_ref().is_some_and(|w| w.head == head) {
            return Ok(Next::Idle);
        }
        self.waiting = None;
        let result = self.reconcile_head(head).await;
        if let Err(error) = &result {
            let retry = error.retry();
            if retry.waits() {
                self.waiting = Some(Waiting {
                    head,
                    retry,
                    reason: text::waiting(retry, error),
                });
                self.report(ReconcileEvent::Waiting { head, error, retry })
                    .await?;
            }
        }
        result
    }

    async fn reconcile_head(&mut self, head: CommitId) -> Result<Next, ReconcileError> {
        let refused_before = self
            .state
            .judged(head)
            .is_some_and(|j| j.outcome != HeadOutcome::Applied);
        if self.state.trusted == Some(head) || refused_before {
            if self.applied.is_none() {
                self.resume().await?;
            }
            return Ok(Next::Idle);
        }
        let anchor = match self.state.trusted {
            Some(trusted) => TrustAnchor::Commit(trusted),
            None => self.deps.first_trust.clone(),
        };
        self.report(ReconcileEvent::Judging { head }).await?;
        let judged = self.judge(anchor, head).await?;
        let (judgement, admission) = admit(judged, &self.placement(), &self.state.allocation);
        let written = self
            .deps
            .source
            .commit(head)
            .ok()
            .map(|info| (info.summary, info.author_email));
        self.report(ReconcileEvent::Judged {
            head,
            judgement: &judgement,
            trusted: self.state.trusted,
            written,
        })
        .await?;
        let Admission::Apply(catalog) = admission else {
            let outcome = HeadOutcome::of_rejected(&judgement.ruling);
            self.remember(head, outcome, &judgement.summary());
            self.report(ReconcileEvent::Rejected { head }).await?;
            self.save().await?;
            if self.applied.is_none() {
                self.resume().await?;
            }
            return Ok(Next::Idle);
        };

        self.report(ReconcileEvent::Admitted { head }).await?;
        let started = std::time::Instant::now();
        match self.converge(&catalog, head).await {
            Ok(converge::Converged { steps, behind }) => {
                self.state.allocation = catalog.allocation.clone();
                self.applied = Some(Arc::from(catalog));
                self.last_drift = None;
                // The apply is recorded before the head is trusted, and
                // its status goes out before the state that says the
                // commit is done: a failed write or a crash in between
                // makes the next reconcile judge the commit again (its
                // plan is empty by then), record it and post the status,
                // where the other order would lose them for good.
                self.report(ReconcileEvent::Applied {
                    head,
                    steps,
                    behind: behind.as_deref(),
                    took: started.elapsed(),
                })
                .await?;
                self.state.trusted = Some(head);
                self.remember(head, HeadOutcome::Applied, &text::steps_applied(steps));
                self.save().await?;
                // Trusted now: API calls are judged by its policy.
                if let Some(catalog) = &self.applied {
                    self.trusted.publish(head, catalog.clone());
                }
                self.look_at_idp_quietly();
                Ok(Next::Idle)
            }
            // One that waits is reported once, as such, by `reconcile`.
            Err(error) if error.retry().waits() => Err(error),
            Err(error) => {
                self.report(ReconcileEvent::ApplyFailed {
                    head,
                    error: &error,
                })
                .await?;
                Err(error)
            }
        }
    }

    /// Judges `head` on a blocking thread, so that the daemon's pages,
    /// webhook and in-process balancer keep running, within the configured
    /// budget. The head is marked as being judged in the state file first:
    /// if the daemon stops while judging it [`MAX_JUDGE_ATTEMPTS`] times,
    /// the next start refuses it as invalid instead of judging it again.
    async fn judge(
        &mut self,
        anchor: TrustAnchor,
        head: CommitId,
    ) -> Result<judge::Judged, ReconcileError> {
        let attempts = match &self.state.judging {
            Some(j) if j.commit == head => j.attempts,
            _ => 0,
        };
        if attempts >= MAX_JUDGE_ATTEMPTS {
            tracing::error!(commit = %head.short(), attempts, "the daemon stopped while judging this head before; refusing it");
            self.state.judging = None;
            let why = format!(
                "the daemon stopped {attempts} time(s) while judging {} (a crash or a kill), so it is refused rather than judged again",
                head.short()
            );
            return Ok(judge::Judged {
                judgement: Judgement::aborted(head, why),
                head: None,
            });
        }
        self.state.judging = Some(Judging {
            commit: head,
            attempts: attempts + 1,
        });
        self.save().await?;
        let source = self.deps.source.reader()?;
        let verification = self.verification();
        let budget = judge::Budget::starting_now(self.deps.config.trust.judge_budget.0);
        let now = self.deps.clock.unix_seconds();
        let api_key = self.deps.api_key.clone();
        // The directory as of now: a person deprovisioned since the push
        // is refused, one re-activated has again what git grants.
        let idp = self.deps.idp.snapshot();
        let judged = tokio::task::spawn_blocking(move || {
            let api = api_key.as_ref();
            let checks = judge::Checks {
                verification,
                api,
                idp: idp.idp(),
            };
            judge::judge_range(&source, &anchor, head, now, checks, budget)
        })
        .await
        .map_err(|e| ReconcileError::JudgePanicked(e.to_string()))?;
        self.state.judging = None;
        Ok(judged?)
    }

    fn remember(&mut self, head: CommitId, outcome: HeadOutcome, summary: &str) {
        self.state.remember(JudgedHead {
            commit: head,
            outcome,
            summary: summary.to_owned(),
            at: self.deps.clock.unix_seconds(),
        });
    }
}
