//! A decision as people read it: per commit, who it is proven to be from
//! and each change with allowed or denied and why.

use super::{CommitVerdict, Decision, Identity, Outcome, Verdict};
use std::fmt;

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.rewritten {
            writeln!(
                f,
                "history rewritten: the trusted commit is not an ancestor of {}",
                self.head.short()
            )?;
        }
        for commit in &self.commits {
            write!(f, "{commit}")?;
        }
        match &self.outcome {
            Outcome::Accepted => {
                let changes: usize = self.commits.iter().map(|c| c.changes.len()).sum();
                writeln!(
                    f,
                    "accepted: {} commit(s), {changes} change(s), all allowed",
                    self.commits.len()
                )
            }
            Outcome::Refused { denials } => {
                write!(f, "refused: {denials} change(s) denied, nothing will be applied")?;
                if let Some((commit, change)) = self.first_denial() {
                    let who = match &commit.identity {
                        Ok(identity) => identity.principal().to_string(),
                        Err(_) => format!("unverified ({})", commit.author_email),
                    };
                    let resource = change
                        .change
                        .resource
                        .as_ref()
                        .map_or_else(|| "the repository".to_owned(), ToString::to_string);
                    write!(
                        f,
                        "; first: commit {} by {who}: {} on {resource}",
                        commit.id.short(),
                        change.change.action.name
                    )?;
                }
                writeln!(f)
            }
            Outcome::Invalid { invalid } => {
                for d in &invalid.diagnostics {
                    writeln!(f, "{d}")?;
                }
                writeln!(
                    f,
                    "invalid: {} does not validate, nothing will be applied; fix the errors above",
                    self.head.short()
                )
            }
            Outcome::Rewound => writeln!(
                f,
                "refused: the branch was moved back to {}, a commit already in the trusted history; \
                 lbops does not re-apply an old state on an old signature: push a new commit \
                 (e.g. `git revert`) instead",
                self.head.short()
            ),
        }
    }
}

impl Verdict {
    /// Why it was allowed or denied, in one sentence that says what to do.
    #[must_use]
    pub fn reason(&self) -> String {
        match self {
            Verdict::Allowed { permit } => permit.to_string(),
            Verdict::Denied {
                denied,
                revoked_in: None,
            } => denied.to_string(),
            Verdict::Denied {
                denied,
                revoked_in: Some(commit),
            } => format!(
                "{denied} (taken away by commit {} of this push: a revocation binds at once, before it is applied)",
                commit.short()
            ),
            Verdict::Unverified { reason } => format!(
                "the commit has no verified author ({})",
                reason.reason_code()
            ),
            Verdict::NotSignedForThisMove { replaces } => format!(
                "no commit of this push is signed for replacing the trusted commit {}; \
                 someone who holds repo.force_push adds a signed commit on top whose message \
                 has the line `{}: {replaces}`",
                replaces.short(),
                super::FORCE_PUSH_TRAILER
            ),
        }
    }
}

impl fmt::Display for CommitVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "commit {}  {}", self.id.short(), self.summary)?;
        match &self.identity {
            Ok(Identity::Signed(verified)) => writeln!(
                f,
                "  identity  {} ({:?} key {})",
                verified.principal, verified.key_format, verified.fingerprint
            )?,
            Ok(Identity::Claimed { principal }) => writeln!(
                f,
                "  identity  {principal} (NOT VERIFIED: signature checks are off in the daemon config)"
            )?,
            Err(reason) => writeln!(f, "  identity  none for {}: {reason}", self.author_email)?,
        }
        if let Some(invalid) = &self.invalid {
            writeln!(
                f,
                "  invalid   {} problem(s); its changes are judged with the next valid commit",
                invalid.diagnostics.len()
            )?;
        }
        if self.changes.is_empty() {
            writeln!(f, "  (no changes to balancers or access)")?;
        }
        for judged in &self.changes {
            let change = &judged.change;
            let resource = change
                .resource
                .as_ref()
                .map_or_else(|| "repository".to_owned(), ToString::to_string);
            let word = if judged.verdict.is_allowed() {
                "allowed"
            } else {
                "DENIED "
            };
            let why = judged.verdict.reason();
            writeln!(
                f,
                "  {word}   {} {resource}: {}",
                change.action.name, change.detail
            )?;
            writeln!(f, "            {why}")?;
            if let Some(because) = judged.charged_because {
                writeln!(f, "            charged to this commit because {because}")?;
            }
        }
        Ok(())
    }
}
