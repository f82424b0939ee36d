//! One reporter: a reconcile says what happened ([`ReconcileEvent`]), and
//! the [`Reporter`] alone turns that into the audit record, the commit
//! statuses (git notes and forges), the daemon's pages (the journal), the
//! metrics and the alerts. Every sentence it writes is built in [`text`]
//! (or, for a judgement, by the judgement itself).
//!
//! No audit, no change: an event with an audit record is recorded before
//! anything else of it that follows the record, and [`Reporter::report`]
//! stops at a failed write, so the caller changes nothing either.

pub mod outbox;
pub(super) mod text;

use super::drift::{self, DriftMode, Drifted};
use super::journal::{ApplyResult, Journal, StatusRecord};
use super::metrics::Metrics;
use super::reconcile::{ReconcileError, Retry};
use crate::audit::{AuditError, AuditEvent, AuditLog, EventKind, Head, DAEMON_ACTOR};
use crate::judge::{Judgement, Ruling};
use crate::model::Step;
use crate::report::alerts::{Alert, Alerter};
use crate::report::notes::GitNotes;
use crate::report::{Status, StatusContext, StatusSink, StatusState};
use crate::source::CommitId;
use crate::support::clock::Clock;
use outbox::Outbox;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Who the records of a change of standing name: the SCIM directory's
/// change, made by the identity provider.
const IDP_ACTOR: &str = super::scim::call::IDENTITY_PROVIDER;

/// What happened during a reconcile, in the order it happens.
#[derive(Debug)]
pub enum ReconcileEvent<'a> {
    /// A new head of the watched branch is being judged.
    Judging { head: CommitId },
    /// The head was judged (and admitted or not).
    Judged {
        head: CommitId,
        judgement: &'a Judgement,
        /// The commit the balancers ran when it was judged.
        trusted: Option<CommitId>,
        /// The head's first line and author email, as git has them.
        written: Option<(String, String)>,
    },
    /// Nothing of the head is applied: refused, invalid or rewound.
    Rejected { head: CommitId },
    /// The head was admitted; applying it starts.
    Admitted { head: CommitId },
    /// One round of bringing the balancers to `commit`: these steps run
    /// next (recorded first).
    Applying { commit: CommitId, steps: &'a [Step] },
    /// The balancers run the head now.
    Applied {
        head: CommitId,
        steps: usize,
        /// Data-plane nodes that missed it, though enough applied it.
        behind: Option<&'a str>,
        took: Duration,
    },
    /// Applying the head failed; the error is returned to the loop.
    ApplyFailed {
        head: CommitId,
        error: &'a ReconcileError,
    },
    /// The balancers differ from `commit`, newly or differently; each
    /// field with the mode the policy gives it.
    Drifted {
        commit: CommitId,
        drifted: &'a [Drifted],
    },
    /// The balancers run `commit` again after a drift lbops left as is.
    DriftGone { commit: CommitId },
    /// These steps put back what drifted (recorded first).
    Reverting { commit: CommitId, steps: &'a [Step] },
    /// The head of another ref was judged, and planned when admitted.
    Planned {
        git_ref: &'a str,
        head: CommitId,
        judgement: &'a Judgement,
        /// `None` when it would be refused.
        steps: Option<&'a [Step]>,
    },
    /// The daemon stopped on `head` until a new commit or an operator
    /// clears `error`.
    Waiting {
        head: CommitId,
        error: &'a ReconcileError,
        retry: Retry,
    },
    /// Replicas on etcd: `head` waits because no replica can lead (`why`:
    /// etcd cannot be reached, say); the balancers keep what they run.
    Unled { head: CommitId, why: &'a str },
    /// A git User's standing with the identity provider changed (at the
    /// directory's change `seq`).
    Standing {
        change: &'a crate::idp::StandingChange,
        seq: u64,
    },
}

/// Where reports go.
pub struct Reporter {
    /// Shared with the API, which records every call in the same chain.
    pub(super) audit: Arc<Mutex<AuditLog>>,
    pub(super) notes: GitNotes,
    /// Forges that get the statuses too, by their [`outbox::forge_key`]:
    /// put in the outbox, and posted from there in the background (a
    /// forge may be down for minutes or hours).
    pub(super) forges: Vec<String>,
    pub(super) outbox: Arc<Outbox>,
    pub(super) alerter: Arc<Alerter>,
    /// What the daemon's pages show.
    pub(super) journal: Arc<Journal>,
    pub(super) metrics: Arc<Metrics>,
    /// The watched branch, as the pages show it.
    pub(super) branch: String,
    /// Where the daemon's pages are reachable, for links.
    pub(super) page_url: Option<String>,
    /// Where "now" comes from: audit record times and the pages' times.
    pub(super) clock: Arc<dyn Clock>,
    /// The leader's epoch while this replica leads (on etcd), stamped on
    /// every record; `None` for a daemon alone.
    pub(super) epoch: Option<u64>,
}

impl Reporter {
    /// Reports `event`. Returns the audit log's new head when the event
    /// has a record (the caller keeps it in its state), and the audit
    /// error — having reported nothing that follows the record — when
    /// that record cannot be written.
    pub async fn report(&mut self, event: ReconcileEvent<'_>) -> Result<Option<Head>, AuditError> {
        use ReconcileEvent as E;
        let mut recorded = None;
        match event {
            E::Judging { head } => {
                self.post(
                    head,
                    StatusContext::Validate,
                    StatusState::Pending,
                    text::JUDGING,
                )
                .await;
            }
            E::Judged {
                head,
                judgement,
                trusted,
                written,
            } => {
                recorded = Some(self.judged(head, judgement, trusted, written).await?);
            }
            E::Rejected { head } => {
                self.post(
                    head,
                    StatusContext::Apply,
                    StatusState::Failure,
                    text::NOTHING_APPLIED,
                )
                .await;
            }
            E::Admitted { head } => {
                self.post(
                    head,
                    StatusContext::Apply,
                    StatusState::Pending,
                    text::APPLYING,
                )
                .await;
            }
            E::Applying { commit, steps } => {
                let lines: Vec<String> = steps.iter().map(ToString::to_string).collect();
                self.journal
                    .update(commit, &self.branch, self.clock.unix_seconds(), |r| {
                        r.plan.extend(lines.iter().cloned());
                    });
                let resources: Vec<String> =
                    steps.iter().map(|s| s.resource().to_string()).collect();
                recorded = Some(
                    self.record(
                        AuditEvent::new(EventKind::Apply, DAEMON_ACTOR, "applying")
                            .with_commit(commit.to_string())
                            .with_resources(resources)
                            .with_detail(serde_json::json!({ "steps": lines })),
                    )?,
                );
            }
            E::Applied {
                head,
                steps,
                behind,
                took,
            } => {
                self.apply_result(head, true, text::steps_applied(steps));
                // Recorded before the head is trusted: if the write fails,
                // the next reconcile judges the head again (its plan is
                // empty by then) and records it, rather than finding it
                // trusted and leaving its apply status pending for good.
                recorded = Some(
                    self.record(
                        AuditEvent::new(EventKind::Apply, DAEMON_ACTOR, "applied")
                            .with_commit(head.to_string()),
                    )?,
                );
                self.metrics.applied(took, self.clock.unix_seconds());
                self.post(
                    head,
                    StatusContext::Apply,
                    StatusState::Success,
                    &text::applied(steps, behind),
                )
                .await;
                tracing::info!(commit = %head.short(), steps, "applied");
            }
            E::ApplyFailed { head, error } => {
                let why = error.to_string();
                self.apply_result(head, false, why.clone());
                self.post(head, StatusContext::Apply, StatusState::Error, &why)
                    .await;
                self.alert(Alert::apply_failure(head, &why));
            }
            E::Drifted { commit, drifted } => {
                recorded = self.drifted(commit, drifted).await?;
            }
            E::DriftGone { commit } => {
                self.post(
                    commit,
                    StatusContext::Drift,
                    StatusState::Success,
                    text::NO_DRIFT,
                )
                .await;
            }
            E::Reverting { commit, steps } => {
                recorded = Some(
                    self.record(
                        AuditEvent::new(EventKind::Revert, DAEMON_ACTOR, "reverting")
                            .with_commit(commit.to_string())
                            .with_resources(steps.iter().map(|s| s.resource().to_string()))
                            .with_detail(serde_json::json!({
                                "steps": steps.iter().map(ToString::to_string).collect::<Vec<_>>()
                            })),
                    )?,
                );
            }
            E::Planned {
                git_ref,
                head,
                judgement,
                steps,
            } => {
                let text = text::planned(judgement, steps);
                if let Some(steps) = steps {
                    let lines: Vec<String> = steps.iter().map(ToString::to_string).collect();
                    self.journal
                        .update(head, git_ref, self.clock.unix_seconds(), |r| r.plan = lines);
                }
                tracing::info!(%git_ref, commit = %head.short(), %text, "planned");
                self.journal
                    .update(head, git_ref, self.clock.unix_seconds(), |r| {
                        r.git_ref = git_ref.to_owned();
                        r.judgement = Some(judgement.clone());
                    });
                let state = if steps.is_some() {
                    StatusState::Success
                } else {
                    StatusState::Failure
                };
                self.post_on(git_ref, head, StatusContext::Plan, state, &text)
                    .await;
            }
            E::Waiting { head, error, retry } => {
                let why = text::waiting(retry, error);
                self.apply_result(head, false, why.clone());
                self.post(head, StatusContext::Apply, StatusState::Error, &why)
                    .await;
                self.alert(Alert::apply_failure(head, &why));
            }
            E::Standing { change, seq } => {
                recorded = Some(self.standing(change, seq)?);
            }
            E::Unled { head, why } => {
                let why = text::unled(why);
                self.apply_result(head, false, why.clone());
                self.post(head, StatusContext::Apply, StatusState::Pending, &why)
                    .await;
            }
        }
        Ok(recorded)
    }

    /// Drift, by mode: accepted fields get an audit record (outcome
    /// `accepted`) and nothing else; reverted and reported ones a record,
    /// the `lbops/drift` failure, an alert and the page. Returns the last
    /// record's head.
    async fn drifted(
        &mut self,
        commit: CommitId,
        drifted: &[Drifted],
    ) -> Result<Option<Head>, AuditError> {
        let mut recorded = None;
        let only = |mode: DriftMode| -> Vec<Drifted> {
            drifted
                .iter()
                .map(|d| Drifted {
                    resource: d.resource.clone(),
                    fields: d
                        .fields
                        .iter()
                        .filter(|f| f.mode == mode)
                        .cloned()
                        .collect(),
                })
                .filter(|d| !d.fields.is_empty())
                .collect()
        };
        let accepted = only(DriftMode::Accept);
        if !accepted.is_empty() {
            let summary = drift::summary(&accepted, DriftMode::Accept);
            tracing::info!(commit = %commit.short(), drift = %summary, "drift accepted");
            recorded = Some(
                self.record(
                    AuditEvent::new(EventKind::Drift, DAEMON_ACTOR, "accepted")
                        .with_commit(commit.to_string())
                        .with_resources(accepted.iter().map(|d| d.resource.to_string()))
                        .with_detail(serde_json::json!({ "fields": accepted })),
                )?,
            );
        }
        let Some((action, summary)) = text::drift_parts(drifted) else {
            return Ok(recorded);
        };
        let mut failing = only(DriftMode::Revert);
        failing.extend(only(DriftMode::Report));
        tracing::warn!(commit = %commit.short(), drift = %summary, "drift");
        recorded = Some(
            self.record(
                AuditEvent::new(EventKind::Drift, DAEMON_ACTOR, "drift")
                    .with_commit(commit.to_string())
                    .with_resources(failing.iter().map(|d| d.resource.to_string()))
                    .with_detail(serde_json::json!({ "fields": failing })),
            )?,
        );
        self.post(
            commit,
            StatusContext::Drift,
            StatusState::Failure,
            &text::drifted(action, &summary),
        )
        .await;
        self.metrics.drifted();
        self.alert(Alert::drift(commit, &format!("{action}: {summary}")));
        self.journal
            .update(commit, &self.branch, self.clock.unix_seconds(), |r| {
                r.drift = Some(summary.clone());
            });
        Ok(recorded)
    }

    /// Metrics, page, audit record, statuses and alerts of a judgement.
    async fn judged(
        &mut self,
        head: CommitId,
        judgement: &Judgement,
        trusted: Option<CommitId>,
        written: Option<(String, String)>,
    ) -> Result<Head, AuditError> {
        let outcome = text::outcome_word(judgement);
        self.metrics.decided(outcome);
        self.journal
            .update(head, &self.branch, self.clock.unix_seconds(), |r| {
                r.judgement = Some(judgement.clone());
                r.written = written;
            });
        let kind = if judgement.accepted() {
            EventKind::Judgement
        } else {
            EventKind::Denial
        };
        let resources: Vec<String> = judgement
            .commits
            .iter()
            .flat_map(|c| &c.changes)
            .filter_map(|j| j.change.resource.as_ref().map(ToString::to_string))
            .collect();
        let summary = judgement.summary();
        let recorded = self.record(
            AuditEvent::new(kind, text::head_actor(judgement), outcome)
                .with_commit(head.to_string())
                .with_resources(resources)
                .with_detail(serde_json::json!({ "reason": summary })),
        )?;
        if let Ruling::Invalid { invalid } = &judgement.ruling {
            let why = text::invalid(invalid);
            self.post(head, StatusContext::Validate, StatusState::Failure, &why)
                .await;
            self.alert(Alert::bad_config(Some(&head.to_string()), &why));
        } else {
            self.post(
                head,
                StatusContext::Validate,
                StatusState::Success,
                &text::valid(judgement),
            )
            .await;
            let state = if judgement.accepted() {
                StatusState::Success
            } else {
                StatusState::Failure
            };
            self.post(head, StatusContext::Authorize, state, &summary)
                .await;
        }
        let recorded = match self.break_glasses(judgement)? {
            Some(head) => head,
            None => recorded,
        };
        if judgement.rewritten || matches!(judgement.ruling, Ruling::Rewound) {
            let was = trusted.map(|c| c.to_string()).unwrap_or_default();
            self.alert(Alert::rewritten_history(&self.branch, was, head));
        } else if matches!(judgement.ruling, Ruling::Refused { .. }) {
            let who = judgement
                .denial()
                .map_or_else(|| "someone".to_owned(), |denial| denial.who());
            self.alert(Alert::denial(head, &who, &summary));
        }
        tracing::info!(commit = %head.short(), outcome, "judged");
        Ok(recorded)
    }

    /// The audit record and the alert of each commit of an accepted
    /// judgement that broke the glass of a freeze; the audit log's new
    /// head when there was one.
    fn break_glasses(&mut self, judgement: &Judgement) -> Result<Option<Head>, AuditError> {
        if !judgement.accepted() {
            return Ok(None);
        }
        let mut recorded = None;
        for (commit, record) in text::break_glasses(judgement) {
            recorded = Some(
                self.record(
                    AuditEvent::new(EventKind::BreakGlass, &record.who, "break_glass")
                        .with_commit(commit.to_string())
                        .with_resources(record.resources.clone())
                        .with_detail(serde_json::json!({
                            "reason": record.reason,
                            "freezes": record.freezes,
                            "changes": record.changes,
                        })),
                )?,
            );
            tracing::warn!(commit = %commit.short(), who = %record.who, reason = %record.reason, "break-glass");
            self.alert(Alert::break_glass(
                commit,
                &record.who,
                &record.reason,
                &record.freezes.join(", "),
                &record.changes.join("; "),
            ));
        }
        Ok(recorded)
    }

    /// The audit record and the alert of a change of standing.
    fn standing(
        &mut self,
        change: &crate::idp::StandingChange,
        seq: u64,
    ) -> Result<Head, AuditError> {
        use crate::idp::StandingChange as C;
        let (user, outcome, alert) = match change {
            C::Deprovisioned(d) => {
                let why = d.to_string();
                tracing::warn!(user = %d.user, %why, "deprovisioned by the identity provider");
                (
                    d.user.to_string(),
                    "deprovisioned",
                    Alert::deprovisioned(d.user.as_str(), &why),
                )
            }
            C::Restored { user } => {
                tracing::info!(%user, "re-activated by the identity provider");
                (
                    user.to_string(),
                    "restored",
                    Alert::restored(user.as_str(), seq),
                )
            }
        };
        let recorded = self.record(
            AuditEvent::new(EventKind::Deprovision, IDP_ACTOR, outcome)
                .with_resources([format!("user/{user}")])
                .with_detail(serde_json::json!({ "scim_event": seq, "standing": change })),
        )?;
        self.alert(alert);
        Ok(recorded)
    }

    /// Appends `event` to the audit log.
    fn record(&mut self, mut event: AuditEvent) -> Result<Head, AuditError> {
        event.epoch = self.epoch;
        self.audit
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .append(&event, time::OffsetDateTime::from(self.clock.now()))
    }

    /// The apply result on the daemon's page.
    fn apply_result(&self, head: CommitId, ok: bool, message: String) {
        self.journal
            .update(head, &self.branch, self.clock.unix_seconds(), |r| {
                r.apply = Some(ApplyResult { ok, message });
            });
    }

    /// The daemon's page for `commit`.
    fn page(&self, commit: impl std::fmt::Display) -> Option<String> {
        self.page_url
            .as_ref()
            .map(|url| format!("{}/commits/{commit}", url.trim_end_matches('/')))
    }

    /// Posts a status of the watched branch: see [`Reporter::post_on`].
    async fn post(
        &self,
        commit: CommitId,
        context: StatusContext,
        state: StatusState,
        description: &str,
    ) {
        self.post_on(&self.branch, commit, context, state, description)
            .await;
    }

    /// Posts a status of `commit` on `git_ref` to git notes (and shows it
    /// on the daemon's page) now, and puts it in the forges' outbox, from
    /// which they get it in the background.
    async fn post_on(
        &self,
        git_ref: &str,
        commit: CommitId,
        context: StatusContext,
        state: StatusState,
        description: &str,
    ) {
        let status = Status::new(context, state, description).on_ref(git_ref);
        let status = match self.page(commit) {
            Some(url) => status.with_url(url),
            None => status,
        };
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
            commit,
            &self.branch,
            self.clock.unix_seconds(),
            context,
            record,
        );
        for forge in &self.forges {
            self.outbox.want(forge, commit, &status);
        }
    }

    /// Announces an alert without holding up the reconcile (sinks retry
    /// for up to a minute); duplicates are dropped by the alerter.
    fn alert(&self, alert: Alert) {
        let alert = match alert.commit.as_deref().and_then(|c| self.page(c)) {
            Some(url) => alert.with_url(url),
            None => alert,
        };
        let alerter = self.alerter.clone();
        tokio::spawn(async move {
            alerter.send(&alert).await;
        });
    }
}
