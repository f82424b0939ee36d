//! Every sentence the daemon writes onto a commit, into the audit log or
//! into an alert about a reconcile, in one place. The judgement's own
//! wording (its one-line summary, the denial sentence) lives with the
//! judgement: [`Judgement::summary`], [`crate::judge::Denial`].

use super::super::reconcile::{ReconcileError, Retry};
use crate::audit::DAEMON_ACTOR;
use crate::daemon::drift::{self, DriftMode, Drifted};
use crate::judge::{Identity, Judgement, Ruling};
use crate::model::Step;
use crate::spec::Code;

/// `lbops/validate` while a head is judged.
pub const JUDGING: &str = "judging";
/// `lbops/apply` once a head is admitted, before its plan runs.
pub const APPLYING: &str = "applying";
/// `lbops/apply` of a head nothing of which is applied.
pub const NOTHING_APPLIED: &str = "nothing applied: the balancers keep the trusted state";
/// `lbops/drift` once the balancers run the commit again.
pub const NO_DRIFT: &str = "no drift: the balancers run this commit again";
/// `lbops/validate` of an invalid head whose diagnostics hold no error.
const DOES_NOT_VALIDATE: &str = "does not validate";

/// The judgement's word in the audit log, the metrics and the logs.
pub fn outcome_word(judgement: &Judgement) -> &'static str {
    match &judgement.ruling {
        Ruling::Accepted => "accepted",
        Ruling::Refused { .. } => "refused",
        Ruling::Invalid { .. } => "invalid",
        Ruling::Rewound => "rewound",
    }
}

/// Who the head commit is from, as the audit log names actors.
pub fn head_actor(judgement: &Judgement) -> String {
    match judgement.commits.iter().find(|c| c.id == judgement.head) {
        Some(commit) => match &commit.identity {
            Ok(Identity::Signed(v)) => v.principal.to_string(),
            Ok(Identity::Claimed { principal }) => format!("{principal} (unverified)"),
            Ok(Identity::Api(api)) => match api.token() {
                Some(token) => format!("{} (token {})", api.principal, token.id),
                None => format!("{} (signed in)", api.principal),
            },
            Err(_) => format!("unverified {}", commit.author_email),
        },
        None => DAEMON_ACTOR.to_owned(),
    }
}

/// `lbops/validate` of a head that validates.
pub fn valid(judgement: &Judgement) -> String {
    let changes: usize = judgement.commits.iter().map(|c| c.changes.len()).sum();
    format!("valid; {changes} change(s)")
}

/// `lbops/validate` of a head that does not, and the alert about it: the
/// first error — a syntax error first, as the root cause of what follows
/// from it (a pool that no longer parses is a dangling reference) — and
/// how many there are.
pub fn invalid(invalid: &crate::spec::Invalid) -> String {
    let errors: Vec<_> = invalid
        .diagnostics
        .iter()
        .filter(|d| d.is_error())
        .collect();
    let first = errors
        .iter()
        .find(|d| d.code == Code::YamlSyntax)
        .or(errors.first())
        .map_or_else(|| DOES_NOT_VALIDATE.to_owned(), ToString::to_string);
    match errors.len() {
        0 | 1 => first,
        n => format!("{n} problems, first {first}"),
    }
}

/// The apply result on the daemon's page.
pub fn steps_applied(steps: usize) -> String {
    format!("{steps} step(s) applied")
}

/// `lbops/apply` of a head the balancers now run; `behind` names the
/// data-plane nodes that missed it though enough applied it.
pub fn applied(steps: usize, behind: Option<&str>) -> String {
    match behind {
        None => format!("applied: {steps} step(s), balancers in line with this commit"),
        Some(behind) => {
            format!("applied: {steps} step(s), {behind} (brought up to date when it answers)")
        }
    }
}

/// What lbops did about a drift, and its reverted and reported fields,
/// each naming its resource, field and values: `("partly reverted",
/// "pool/web weights: put back 127.0.0.1:9001 to 10 (was 50); left as is:
/// pool/autoscaled-web targets: …")`. `None` when every field is
/// accepted: that is no failure, and nobody is told.
pub fn drift_parts(drifted: &[Drifted]) -> Option<(&'static str, String)> {
    let reverted = drift::summary(drifted, DriftMode::Revert);
    let left = drift::summary(drifted, DriftMode::Report);
    match (reverted.is_empty(), left.is_empty()) {
        (true, true) => None,
        (false, true) => Some(("reverted", reverted)),
        (true, false) => Some(("left as is", left)),
        (false, false) => Some(("partly reverted", format!("{reverted}; left as is: {left}"))),
    }
}

/// `lbops/drift` of drift lbops found (see [`drift_parts`]).
pub fn drifted(action: &str, summary: &str) -> String {
    format!("drift ({action}): {summary}")
}

/// `lbops/plan` of another ref's head: what applying it would do, or why
/// it would be refused.
pub fn planned(judgement: &Judgement, steps: Option<&[Step]>) -> String {
    match steps {
        Some([]) => "would change nothing on the balancers".to_owned(),
        Some(steps) => format!("would apply {} step(s): {}", steps.len(), steps[0]),
        None => format!("would be refused: {}", judgement.summary()),
    }
}

/// `lbops/apply` of a head the daemon stopped on, and the alert: what it
/// waits for, and the error (which says what to do).
pub fn waiting(retry: Retry, error: &ReconcileError) -> String {
    match retry {
        Retry::NeedsChange => format!("waiting for a new commit: {error}"),
        _ => format!("waiting for an operator: {error}"),
    }
}

/// Why a head waits while no replica leads.
pub fn unled(why: &str) -> String {
    format!(
        "not applied yet: no replica holds the leader lease ({why}); nothing is applied without \
         it, and the balancers keep serving what they run"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::CommitId;

    fn judgement(ruling: Ruling) -> Judgement {
        Judgement {
            head: CommitId::parse(&"ab".repeat(20)).unwrap(),
            rewritten: false,
            ruling,
            commits: Vec::new(),
        }
    }

    /// Every sentence with its inputs filled in, so that a reviewer reads
    /// the wording in one place (`cargo test -- --nocapture`).
    #[test]
    fn every_sentence_reads_well() {
        let accepted = judgement(Ruling::Accepted);
        let error = ReconcileError::NotConverged(3);
        let lines = [
            JUDGING.to_owned(),
            APPLYING.to_owned(),
            NOTHING_APPLIED.to_owned(),
            NO_DRIFT.to_owned(),
            outcome_word(&accepted).to_owned(),
            head_actor(&accepted),
            valid(&accepted),
            steps_applied(2),
            applied(2, None),
            applied(
                2,
                Some("applied on 2 of 3 nodes; dp-3 is behind: connection refused"),
            ),
            drifted(
                "reverted",
                "pool/web weights: put back 127.0.0.1:9001 to 10 (was 50)",
            ),
            drifted(
                "partly reverted",
                "pool/web weights: put back 127.0.0.1:9001 to 10 (was 50); left as is: \
                 pool/autoscaled-web targets: 127.0.0.1:9003 running, not in git",
            ),
            drifted(
                "left as is",
                "pool/autoscaled-web targets: 127.0.0.1:9003 (weight 1) in git, missing",
            ),
            planned(&accepted, Some(&[])),
            planned(&judgement(Ruling::Rewound), None),
            waiting(Retry::NeedsChange, &error),
            waiting(Retry::NeedsOperator, &error),
        ];
        for line in &lines {
            println!("{line}");
        }
        assert_eq!(head_actor(&accepted), DAEMON_ACTOR);
        assert_eq!(
            planned(&judgement(Ruling::Rewound), None),
            "would be refused: the branch moved back to an old commit; push a revert instead"
        );
        assert_eq!(
            waiting(Retry::NeedsOperator, &error),
            "waiting for an operator: the balancers did not converge after 3 plans; see the audit log"
        );
    }
}

/// One commit's break-glass, as its audit record and alert name it.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct BreakGlassRecord {
    /// `user/alice`.
    pub who: String,
    pub reason: String,
    /// `frozen by freeze/holiday (window christmas) until …`, once each.
    pub freezes: Vec<String>,
    /// `pool.weights.update on pool/web: …`.
    pub changes: Vec<String>,
    pub resources: Vec<String>,
}

/// The break-glass commits of a judgement, in commit order, each once.
pub fn break_glasses(judgement: &Judgement) -> Vec<(crate::source::CommitId, BreakGlassRecord)> {
    let mut out: Vec<(crate::source::CommitId, BreakGlassRecord)> = Vec::new();
    for (commit, change, glass) in judgement.break_glasses() {
        if out.last().is_none_or(|(id, _)| *id != commit.id) {
            let who = match &commit.identity {
                Ok(identity) => identity.principal().to_string(),
                Err(_) => format!("unverified {}", commit.author_email),
            };
            let record = BreakGlassRecord {
                who,
                reason: glass.reason.clone(),
                ..BreakGlassRecord::default()
            };
            out.push((commit.id, record));
        }
        let Some((_, record)) = out.last_mut() else {
            continue;
        };
        for frozen in &glass.freezes {
            let text = frozen.to_string();
            if !record.freezes.contains(&text) {
                record.freezes.push(text);
            }
        }
        record.changes.push(change.to_string());
        if let Some(id) = &change.resource {
            record.resources.push(id.to_string());
        }
    }
    out
}
