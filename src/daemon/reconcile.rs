//! One reconcile: from the watched branch's head to the balancers, in the
//! kube-rs style — `reconcile` does the work and says what to do next;
//! `error_policy` beside it says when to try again after a failure.
//!
//! Per new head: source → spec → identity → authz (the judge) → plan →
//! provider apply → observe → report. Nothing of a refused or invalid
//! candidate is applied, and every decision and apply is in the audit log
//! before it takes effect.

use super::drift;
use super::journal::{ApplyResult, Journal, StatusRecord};
use super::metrics::Metrics;
use super::state::{DaemonState, JudgedHead, Judging, StateError, StateStore};
use super::DaemonConfig;
use crate::admission::{admit, keep_addresses, Admission, Placement};
use crate::audit::{AuditError, AuditLog, Event, EventKind, DAEMON_ACTOR};
use crate::identity::Keyring;
use crate::judge::{self, Decision, Identity, Outcome, TrustAnchor, Verification};
use crate::model::StepOutcome;
use crate::plan::plan;
use crate::provider::placed::Placed;
use crate::provider::{Provider, ProviderError};
use crate::report::alerts::{Alert, Alerter};
use crate::report::forge::ForgeSink;
use crate::report::notes::GitNotes;
use crate::report::ReportError;
use crate::report::{Context, State, Status, StatusSink};
use crate::source::{CommitId, GitError, GitSource};
use crate::spec::{self, Catalog};
use std::time::Duration;

/// What to do after a reconcile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Nothing until the next trigger.
    Idle,
    /// Look again after this long (targets still becoming healthy).
    RequeueAfter(Duration),
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(transparent)]
    Judge(#[from] judge::LoadError),
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
}

/// How many times the daemon may stop while judging the same head before
/// it refuses that head: twice tells a crash it causes from a restart that
/// happened to land in the middle.
pub const MAX_JUDGE_ATTEMPTS: u32 = 2;

/// How long to wait before trying again after `attempt` failures in a row:
/// exponential from one second, capped at five minutes, with up to 25%
/// jitter so that daemons restarted together do not retry together.
#[must_use]
pub fn error_policy(attempt: u32, jitter_seed: u64) -> Duration {
    const BASE_MS: u64 = 1_000;
    const CAP_MS: u64 = 300_000;
    let exponential = BASE_MS.saturating_mul(1u64 << attempt.min(20)).min(CAP_MS);
    let jitter = (jitter_seed % 1_000) * exponential / 4_000;
    Duration::from_millis(exponential - jitter)
}

/// Everything a reconcile touches.
pub struct Reconciler {
    pub(super) config: DaemonConfig,
    pub(super) source: GitSource,
    pub(super) provider: Placed,
    pub(super) notes: GitNotes,
    pub(super) audit: AuditLog,
    pub(super) store: StateStore,
    pub(super) state: DaemonState,
    pub(super) bootstrap: Option<std::sync::Arc<Keyring>>,
    /// The catalog of the trusted commit, as applied.
    pub(super) applied: Option<Catalog>,
    pub(super) alerter: std::sync::Arc<Alerter>,
    /// Forges that get the statuses too (posted in the background: a
    /// forge may retry for minutes).
    pub(super) forges: Vec<ForgeSink>,
    /// What the daemon's pages show.
    pub(super) journal: std::sync::Arc<Journal>,
    pub(super) metrics: std::sync::Arc<Metrics>,
    /// Heads of other refs already planned against the trusted commit.
    pub(super) planned: std::collections::HashSet<(CommitId, String)>,
    /// The drift last reported (and whether lbops reverted it), so the
    /// same drift is not reported every tick.
    pub(super) last_drift: Option<(String, bool)>,
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

impl Reconciler {
    fn verification(&self) -> Verification {
        if self.config.trust.verify_signatures {
            Verification::Required
        } else {
            Verification::Off
        }
    }

    /// Where balancers run, for admission.
    fn placement(&self) -> Placement<'_> {
        Placement {
            aws: self.config.provider.aws.as_ref(),
        }
    }

    fn status(
        &self,
        context: Context,
        state: State,
        description: &str,
        commit: CommitId,
    ) -> Status {
        let status = Status::new(context, state, description);
        match &self.config.statuses.page_url {
            Some(url) => status.with_url(format!("{}/commits/{commit}", url.trim_end_matches('/'))),
            None => status,
        }
    }

    async fn post(&self, commit: CommitId, context: Context, state: State, description: &str) {
        let status = self.status(context, state, description, commit);
        let mut sink_error = None;
        if let Err(e) = self.notes.post(commit, &status).await {
            tracing::warn!(commit = %commit.short(), context = context.as_str(), error = %e, "cannot post a status");
            sink_error = Some(e.to_string());
        }
        let record = StatusRecord {
            state,
            description: status.description.clone(),
            sink_error,
        };
        self.journal.status(
            &commit.to_string(),
            &self.config.repository.branch,
            now(),
            context,
            record,
        );
        for forge in &self.forges {
            self.post_to_forge(forge.clone(), commit, status.clone());
        }
    }

    /// Posts to a forge in the background (it may retry for minutes); a
    /// failure shows on the daemon's page as an error beside the status,
    /// and one that retrying cannot fix (a 401) is also alerted.
    fn post_to_forge(&self, forge: ForgeSink, commit: CommitId, status: Status) {
        let journal = self.journal.clone();
        let alerter = self.alerter.clone();
        let branch = self.config.repository.branch.clone();
        tokio::spawn(async move {
            let Err(e) = forge.post(commit, &status).await else {
                return;
            };
            tracing::warn!(commit = %commit.short(), sink = forge.name(), error = %e, "cannot post a status");
            let record = StatusRecord {
                state: status.state,
                description: status.description.clone(),
                sink_error: Some(e.to_string()),
            };
            journal.status(&commit.to_string(), &branch, now(), status.context, record);
            if let ReportError::Permanent { .. } = e {
                let alert = Alert::bad_config(Some(&commit.to_string()), &e.to_string());
                alerter.send(&alert).await;
            }
        });
    }

    /// Announces an alert without holding up the reconcile (sinks retry
    /// for up to a minute); duplicates are dropped by the alerter.
    fn alert(&self, alert: Alert) {
        let alert = match (&self.config.statuses.page_url, &alert.commit) {
            (Some(url), Some(commit)) => {
                let url = format!("{}/commits/{commit}", url.trim_end_matches('/'));
                alert.with_url(url)
            }
            _ => alert,
        };
        let alerter = self.alerter.clone();
        tokio::spawn(async move {
            alerter.send(&alert).await;
        });
    }

    fn record(&mut self, event: Event) -> Result<(), ReconcileError> {
        let head = self.audit.append(&event, time::OffsetDateTime::now_utc())?;
        self.state.audit_head = Some(head.to_string());
        Ok(())
    }

    /// The catalog of the trusted commit, with the addresses balancers
    /// held before. It is validated as of its own date, as the judge does:
    /// a certificate that expired since must not stop a restarted daemon
    /// from serving what it already served (the expiry warning is the
    /// validate step's job, on new commits).
    fn catalog_at(&self, commit: CommitId) -> Result<Catalog, ReconcileError> {
        let files = self.source.files_at(commit)?;
        let written = self.source.commit(commit)?.time;
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
        let Some(trusted) = self.state.trusted.as_deref() else {
            return Ok(());
        };
        let commit = CommitId::parse(trusted)?;
        let catalog = self.catalog_at(commit)?;
        let steps = self.converge(&catalog, commit).await?;
        self.state.allocation = catalog.allocation.clone();
        if steps > 0 {
            tracing::info!(commit = %commit.short(), steps, "resumed the trusted commit");
        }
        self.applied = Some(catalog);
        Ok(())
    }

    /// One pass: judge a new head and apply it if it is allowed.
    pub async fn reconcile(&mut self) -> Result<Next, ReconcileError> {
        self.source.fetch()?;
        let head = self.source.head()?;
        let head_hex = head.to_string();
        let refused_before = self
            .state
            .judged(&head_hex)
            .is_some_and(|j| j.outcome != "applied");
        if self.state.trusted.as_deref() == Some(head_hex.as_str()) || refused_before {
            if self.applied.is_none() {
                self.resume().await?;
            }
            return Ok(Next::Idle);
        }
        let anchor = match (
            &self.state.trusted,
            &self.config.trust.pinned_commit,
            &self.bootstrap,
        ) {
            (Some(trusted), _, _) => TrustAnchor::Commit(CommitId::parse(trusted)?),
            (None, Some(pinned), _) => TrustAnchor::Commit(CommitId::parse(pinned)?),
            (None, None, Some(keyring)) => TrustAnchor::AdminKeys(keyring.clone()),
            (None, None, None) => unreachable!("the config check requires one trust anchor"),
        };
        self.post(head, Context::Validate, State::Pending, "judging")
            .await;
        let judged = self.judge(anchor, head).await?;
        let (decision, admission) = admit(judged, &self.placement(), &self.state.allocation);
        self.report_decision(head, &decision).await?;
        let Admission::Apply(catalog) = admission else {
            let outcome = match decision.outcome {
                Outcome::Invalid { .. } => "invalid",
                Outcome::Rewound => "rewound",
                _ => "refused",
            };
            self.remember(head, outcome, &short_reason(&decision));
            self.post(
                head,
                Context::Apply,
                State::Failure,
                "nothing applied: the balancers keep the trusted state",
            )
            .await;
            self.store.save(&self.state)?;
            if self.applied.is_none() {
                self.resume().await?;
            }
            return Ok(Next::Idle);
        };

        self.post(head, Context::Apply, State::Pending, "applying")
            .await;
        let started = std::time::Instant::now();
        let result = self.converge(&catalog, head).await;
        let apply = ApplyResult {
            ok: result.is_ok(),
            message: match &result {
                Ok(steps) => format!("{steps} step(s) applied"),
                Err(e) => e.to_string(),
            },
        };
        let branch = self.config.repository.branch.clone();
        self.journal
            .update(&head_hex, &branch, now(), |r| r.apply = Some(apply));
        match result {
            Ok(steps) => {
                self.state.allocation = catalog.allocation.clone();
                self.applied = Some(*catalog);
                self.last_drift = None;
                // Recorded before the head is trusted: if the write fails,
                // the next reconcile judges the head again (its plan is
                // empty by then) and records it, rather than finding it
                // trusted and leaving its apply status pending for good.
                self.record(
                    Event::new(EventKind::Apply, DAEMON_ACTOR, "applied")
                        .with_commit(head.to_string()),
                )?;
                self.metrics.applied(started.elapsed(), now());
                self.state.trusted = Some(head_hex);
                self.remember(head, "applied", &format!("{steps} step(s) applied"));
                // The status goes out before the state that says the commit
                // is done: a crash in between makes the next start judge
                // the commit again (its plan is empty by then) and post the
                // status, where the other order would lose it for good.
                self.post(
                    head,
                    Context::Apply,
                    State::Success,
                    &format!("applied: {steps} step(s), balancers in line with this commit"),
                )
                .await;
                self.store.save(&self.state)?;
                tracing::info!(commit = %head.short(), steps, "applied");
                Ok(Next::Idle)
            }
            Err(e) => {
                self.post(head, Context::Apply, State::Error, &e.to_string())
                    .await;
                self.alert(Alert::apply_failure(head, &e.to_string()));
                Err(e)
            }
        }
    }

    /// Judges and plans the heads of other configured refs (pull-request
    /// branches) against the trusted commit and what runs; posts
    /// `lbops/plan`; never applies anything.
    pub async fn plan_other_refs(&mut self) -> Result<(), ReconcileError> {
        let Some(trusted) = self.state.trusted.clone() else {
            return Ok(());
        };
        let anchor = TrustAnchor::Commit(CommitId::parse(&trusted)?);
        for (name, head) in self.source.other_heads(&self.config.repository.plan_refs)? {
            if head.to_string() == trusted || !self.planned.insert((head, trusted.clone())) {
                continue;
            }
            let judged = self.judge(anchor.clone(), head).await?;
            let (decision, admission) = admit(judged, &self.placement(), &self.state.allocation);
            let (state, text) = match admission {
                Admission::Apply(catalog) => {
                    let observed = self.provider.observe().await?;
                    let steps = plan(&catalog, &observed).steps;
                    let text = match steps.first() {
                        None => "would change nothing on the balancers".to_owned(),
                        Some(first) => format!("would apply {} step(s): {first}", steps.len()),
                    };
                    let lines: Vec<String> = steps.iter().map(ToString::to_string).collect();
                    self.journal
                        .update(&head.to_string(), &name, now(), |r| r.plan = lines);
                    (State::Success, text)
                }
                _ => (
                    State::Failure,
                    format!("would be refused: {}", short_reason(&decision)),
                ),
            };
            tracing::info!(git_ref = %name, commit = %head.short(), %text, "planned");
            self.journal.update(&head.to_string(), &name, now(), |r| {
                r.git_ref = name.clone();
                r.decision = Some(decision);
            });
            self.post(head, Context::Plan, state, &text).await;
        }
        Ok(())
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
        let commit = head.to_string();
        let attempts = match &self.state.judging {
            Some(j) if j.commit == commit => j.attempts,
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
                decision: Decision::aborted(head, why),
                head: None,
            });
        }
        self.state.judging = Some(Judging {
            commit,
            attempts: attempts + 1,
        });
        self.store.save(&self.state)?;
        let source = self.source.reader()?;
        let verification = self.verification();
        let budget = judge::Budget::starting_now(self.config.trust.judge_budget.0);
        let judged = tokio::task::spawn_blocking(move || {
            judge::judge_range(&source, &anchor, head, now(), verification, budget)
        })
        .await
        .map_err(|e| ReconcileError::JudgePanicked(e.to_string()))?;
        self.state.judging = None;
        Ok(judged?)
    }

    fn remember(&mut self, head: CommitId, outcome: &str, summary: &str) {
        self.state.remember(JudgedHead {
            commit: head.to_string(),
            outcome: outcome.to_owned(),
            summary: summary.to_owned(),
            at: now(),
        });
    }

    /// Statuses and the audit record of a decision.
    async fn report_decision(
        &mut self,
        head: CommitId,
        decision: &Decision,
    ) -> Result<(), ReconcileError> {
        let actor = head_actor(decision);
        let resources: Vec<String> = decision
            .commits
            .iter()
            .flat_map(|c| &c.changes)
            .filter_map(|j| j.change.resource.as_ref().map(ToString::to_string))
            .collect();
        let outcome = match &decision.outcome {
            Outcome::Accepted => "accepted",
            Outcome::Refused { .. } => "refused",
            Outcome::Invalid { .. } => "invalid",
            Outcome::Rewound => "rewound",
        };
        self.metrics.decided(outcome);
        let branch = self.config.repository.branch.clone();
        let written = self
            .source
            .commit(head)
            .ok()
            .map(|info| (info.summary, info.author_email));
        self.journal.update(&head.to_string(), &branch, now(), |r| {
            r.decision = Some(decision.clone());
            r.written = written;
        });
        let kind = if decision.accepted() {
            EventKind::Decision
        } else {
            EventKind::Denial
        };
        self.record(
            Event::new(kind, actor, outcome)
                .with_commit(head.to_string())
                .with_resources(resources)
                .with_detail(serde_json::json!({ "reason": short_reason(decision) })),
        )?;
        match &decision.outcome {
            Outcome::Invalid { invalid } => {
                // A syntax error is the root cause of what follows from it
                // (a pool that no longer parses is a dangling reference).
                let errors: Vec<_> = invalid
                    .diagnostics
                    .iter()
                    .filter(|d| d.is_error())
                    .collect();
                let first = errors
                    .iter()
                    .find(|d| d.code == crate::spec::Code::YamlSyntax)
                    .or(errors.first())
                    .map_or_else(|| "does not validate".to_owned(), ToString::to_string);
                let text = match errors.len() {
                    0 | 1 => first,
                    n => format!("{n} problems, first {first}"),
                };
                self.post(head, Context::Validate, State::Failure, &text)
                    .await;
                self.alert(Alert::bad_config(Some(&head.to_string()), &text));
            }
            _ => {
                let changes: usize = decision.commits.iter().map(|c| c.changes.len()).sum();
                self.post(
                    head,
                    Context::Validate,
                    State::Success,
                    &format!("valid; {changes} change(s)"),
                )
                .await;
                let state = if decision.accepted() {
                    State::Success
                } else {
                    State::Failure
                };
                self.post(head, Context::Authorize, state, &short_reason(decision))
                    .await;
            }
        }
        if decision.rewritten || matches!(decision.outcome, Outcome::Rewound) {
            let was = self.state.trusted.clone().unwrap_or_default();
            let branch = self.config.repository.branch.clone();
            self.alert(Alert::rewritten_history(&branch, was, head));
        } else if matches!(decision.outcome, Outcome::Refused { .. }) {
            let who = match decision.first_denial() {
                Some((commit, _)) => match &commit.identity {
                    Ok(identity) => identity.principal().to_string(),
                    Err(_) => format!("unverified {}", commit.author_email),
                },
                None => "someone".to_owned(),
            };
            self.alert(Alert::denial(head, &who, &short_reason(decision)));
        }
        tracing::info!(commit = %head.short(), outcome, "judged");
        Ok(())
    }

    /// Plans and applies until the provider runs `desired`; returns how
    /// many steps it took. Each plan is in the audit log before it runs.
    async fn converge(
        &mut self,
        desired: &Catalog,
        commit: CommitId,
    ) -> Result<usize, ReconcileError> {
        const ROUNDS: usize = 3;
        let mut total = 0;
        self.provider.prepare(desired, &commit.to_string());
        for _ in 0..ROUNDS {
            let observed = self.provider.observe().await?;
            let steps = plan(desired, &observed).steps;
            if steps.is_empty() {
                return Ok(total);
            }
            let lines: Vec<String> = steps.iter().map(ToString::to_string).collect();
            let branch = self.config.repository.branch.clone();
            self.journal
                .update(&commit.to_string(), &branch, now(), |r| {
                    r.plan.extend(lines.iter().cloned());
                });
            let resources: Vec<String> = steps.iter().map(|s| s.resource().to_string()).collect();
            self.record(
                Event::new(EventKind::Apply, DAEMON_ACTOR, "applying")
                    .with_commit(commit.to_string())
                    .with_resources(resources)
                    .with_detail(serde_json::json!({ "steps": lines })),
            )?;
            self.store.save(&self.state)?;
            let outcomes = self.provider.apply(&steps).await;
            if let Some((index, StepOutcome::Failed { reason })) = outcomes
                .iter()
                .enumerate()
                .find(|(_, o)| matches!(o, StepOutcome::Failed { .. }))
            {
                return Err(ReconcileError::Step {
                    index: index + 1,
                    reason: reason.clone(),
                });
            }
            total += steps.len();
        }
        Err(ReconcileError::NotConverged(ROUNDS))
    }

    /// Compares what runs with the applied commit; reports drift once per
    /// distinct drift, and reverts it where the config says `revert`.
    pub async fn check_drift(&mut self) -> Result<(), ReconcileError> {
        let (Some(applied), Some(trusted)) = (&self.applied, self.state.trusted.clone()) else {
            return Ok(());
        };
        let commit = CommitId::parse(&trusted)?;
        let observed = self.provider.observe().await?;
        let config = &self.config;
        let (drifted, revert) = drift::detect(applied, &observed, |kind| config.drift_mode(kind));
        if drifted.is_empty() {
            // A drift lbops reverted stays on the commit as a failure: it
            // happened, and someone should find out who changed the balancer.
            if let Some((_, false)) = self.last_drift.take() {
                self.post(
                    commit,
                    Context::Drift,
                    State::Success,
                    "no drift: the balancers run this commit again",
                )
                .await;
            }
            return Ok(());
        }
        let summary = drift::summary(&drifted);
        let reverting = !revert.is_empty();
        if self.last_drift.as_ref().map(|(s, _)| s) != Some(&summary) {
            tracing::warn!(commit = %commit.short(), drift = %summary, "drift");
            self.record(
                Event::new(EventKind::Drift, DAEMON_ACTOR, "drift")
                    .with_commit(trusted.clone())
                    .with_resources(drifted.iter().map(|d| d.resource.to_string()))
                    .with_detail(serde_json::json!({ "fields": drifted })),
            )?;
            self.store.save(&self.state)?;
            let action = if reverting { "reverted" } else { "left as is" };
            self.post(
                commit,
                Context::Drift,
                State::Failure,
                &format!("drift ({action}): {summary}"),
            )
            .await;
            self.metrics.drifted();
            self.alert(Alert::drift(&trusted, &summary));
            let branch = self.config.repository.branch.clone();
            let shown = summary.clone();
            self.journal
                .update(&trusted, &branch, now(), |r| r.drift = Some(shown));
            self.last_drift = Some((summary, reverting));
        }
        if !revert.is_empty() {
            self.record(
                Event::new(EventKind::Revert, DAEMON_ACTOR, "reverting")
                    .with_commit(trusted)
                    .with_resources(revert.iter().map(|s| s.resource().to_string()))
                    .with_detail(serde_json::json!({ "steps": revert.iter().map(ToString::to_string).collect::<Vec<_>>() })),
            )?;
            self.store.save(&self.state)?;
            if let Some(applied) = &self.applied {
                self.provider.prepare(applied, &commit.to_string());
            }
            let outcomes = self.provider.apply(&revert).await;
            if let Some(StepOutcome::Failed { reason }) = outcomes
                .iter()
                .find(|o| matches!(o, StepOutcome::Failed { .. }))
            {
                return Err(ReconcileError::Step {
                    index: 0,
                    reason: reason.clone(),
                });
            }
            tracing::info!(commit = %commit.short(), steps = revert.len(), "drift reverted");
        }
        Ok(())
    }
}

/// Who the head commit is from, as the audit log names actors.
fn head_actor(decision: &Decision) -> String {
    match decision.commits.iter().find(|c| c.id == decision.head) {
        Some(commit) => match &commit.identity {
            Ok(Identity::Signed(v)) => v.principal.to_string(),
            Ok(Identity::Claimed { principal }) => format!("{principal} (unverified)"),
            Err(_) => format!("unverified {}", commit.author_email),
        },
        None => DAEMON_ACTOR.to_owned(),
    }
}

/// The decision in one line for a status: why it was refused, or who did
/// what when it was accepted.
fn short_reason(decision: &Decision) -> String {
    match &decision.outcome {
        Outcome::Accepted => {
            let changes: usize = decision.commits.iter().map(|c| c.changes.len()).sum();
            format!("{changes} change(s) allowed by the trusted policy")
        }
        Outcome::Rewound => {
            "the branch moved back to an old commit; push a revert instead".to_owned()
        }
        Outcome::Invalid { .. } => "does not validate".to_owned(),
        Outcome::Refused { .. } => match decision.first_denial() {
            Some((commit, change)) => {
                let who = match &commit.identity {
                    Ok(identity) => identity.principal().to_string(),
                    Err(reason) => format!(
                        "unverified {} ({})",
                        commit.author_email,
                        reason.reason_code()
                    ),
                };
                let resource = change
                    .change
                    .resource
                    .as_ref()
                    .map_or_else(|| "the repository".to_owned(), ToString::to_string);
                format!(
                    "denied: {who} may not {} on {resource} (commit {})",
                    change.change.action.name,
                    &commit.id.short()[..7]
                )
            }
            None => "refused".to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_jittered_down_only() {
        assert_eq!(error_policy(0, 0), Duration::from_secs(1));
        assert_eq!(error_policy(3, 0), Duration::from_secs(8));
        assert_eq!(error_policy(30, 0), Duration::from_secs(300));
        let jittered = error_policy(3, 999);
        assert!(jittered < Duration::from_secs(8) && jittered >= Duration::from_secs(6));
    }
}
