//! A judgement as people read it: per commit, who it is proven to be from
//! and each change with allowed or denied and why.

use super::{BrokeGlass, GlassRefused, Identity, JudgedCommit, Judgement, Ruling, Verdict};
use crate::authz::approvals::{Approved, Unapproved};
use crate::authz::freeze::{Frozen, BREAK_GLASS_TRAILER};
use crate::identity::{NoIdentity, Principal};
use crate::source::CommitId;
use std::fmt;

/// Who made a commit, as a denial names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author<'a> {
    /// The principal its identity names: proven by its signature, or
    /// claimed where the daemon config turned signature checks off.
    Principal(&'a Principal),
    /// Nobody proven: the author email the commit only claims, and why
    /// it is not proven.
    Unverified {
        email: &'a str,
        reason: &'a NoIdentity,
    },
}

/// The first change a refused judgement denies: which commit, by whom,
/// which action on which resource. Every report of a denial is worded
/// from this one value — the `lbops/authorize` status, the audit record
/// and the alert ([`Denial::sentence`], [`Denial::who`]) and the summary
/// line of `lbops authorize`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Denial<'a> {
    pub commit: CommitId,
    pub author: Author<'a>,
    pub action: &'static str,
    /// `pool/web`, or `the repository` for a repository-wide action.
    pub resource: String,
    /// The freeze that holds the change, when that is why it is refused.
    pub frozen: Option<&'a Frozen>,
    /// The approvals it lacks, when that is why it is refused.
    pub unapproved: Option<&'a Unapproved<CommitId>>,
    /// What the identity provider took away, when that is why: the
    /// status must say it, since git alone would have allowed it.
    pub idp: Option<IdpReason>,
}

/// The identity provider's part in a denial.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdpReason {
    /// `deprovisioned by the identity provider at T (SCIM event N)`.
    Deprovisioned(String),
    /// A rule needs these IdP groups, and the author is not in them.
    NotInGroups(Vec<String>),
}

/// The identity provider's part in a denial: the person deprovisioned
/// (with when and by which SCIM event), or not in a group a rule needs.
fn idp_part(verdict: &Verdict) -> Option<IdpReason> {
    use crate::authz::{Miss, Why};
    let Verdict::Denied { denied, .. } = verdict else {
        return None;
    };
    match denied.why.as_ref() {
        Why::Deprovisioned(deprovisioned) => {
            Some(IdpReason::Deprovisioned(deprovisioned.headline()))
        }
        Why::NotCovered { near, .. } => near.iter().find_map(|miss| match &miss.miss {
            Miss::IdpGroups { required } => Some(IdpReason::NotInGroups(required.clone())),
            Miss::Resource | Miss::Labels { .. } => None,
        }),
        _ => None,
    }
}

impl Denial<'_> {
    /// The denial in one line, for a status, the audit record and the
    /// alert: `denied: user/bob may not pool.weights.update on pool/db
    /// (commit 1a2b3c4)`.
    #[must_use]
    pub fn sentence(&self) -> String {
        let who = match self.author {
            Author::Principal(principal) => principal.to_string(),
            Author::Unverified { email, reason } => {
                format!("unverified {email} ({})", reason.reason_code())
            }
        };
        let commit = &self.commit.short()[..7];
        // A status holds 140 characters: the freeze's or the IdP's reason
        // goes where it is read, not cut off.
        if let Some(unapproved) = self.unapproved {
            return format!(
                "{}: {} on {} by {who} (commit {commit})",
                unapproved.headline(),
                self.action,
                self.resource
            );
        }
        match (self.frozen, &self.idp) {
            (Some(frozen), _) => format!(
                "{frozen}: {} on {} by {who} (commit {commit})",
                self.action, self.resource
            ),
            (None, Some(IdpReason::Deprovisioned(headline))) => {
                format!("denied: {who} {headline} (commit {commit})")
            }
            (None, Some(IdpReason::NotInGroups(groups))) => format!(
                "denied: {who} may not {} on {} (commit {commit}): not in IdP group {}",
                self.action,
                self.resource,
                groups.join(", ")
            ),
            (None, None) => format!(
                "denied: {who} may not {} on {} (commit {commit})",
                self.action, self.resource
            ),
        }
    }

    /// Who was denied, for an alert's title: `user/bob`, or
    /// `unverified bob@example.com`.
    #[must_use]
    pub fn who(&self) -> String {
        match self.author {
            Author::Principal(principal) => principal.to_string(),
            Author::Unverified { email, .. } => format!("unverified {email}"),
        }
    }
}

impl Judgement {
    /// The first denied change, as every report names it.
    #[must_use]
    pub fn denial(&self) -> Option<Denial<'_>> {
        let (commit, change) = self.first_denial()?;
        let author = match &commit.identity {
            Ok(identity) => Author::Principal(identity.principal()),
            Err(reason) => Author::Unverified {
                email: &commit.author_email,
                reason,
            },
        };
        Some(Denial {
            commit: commit.id,
            author,
            action: change.change.action.name,
            resource: change
                .change
                .resource
                .as_ref()
                .map_or_else(|| "the repository".to_owned(), ToString::to_string),
            frozen: match &change.verdict {
                Verdict::Frozen { frozen, .. } => frozen.first(),
                _ => None,
            },
            unapproved: match &change.verdict {
                Verdict::Unapproved { unapproved } => Some(unapproved),
                _ => None,
            },
            idp: idp_part(&change.verdict),
        })
    }

    /// Every change let through a freeze by breaking its glass, with its
    /// commit and author, in commit order: what the alert and the audit
    /// record of a break-glass name.
    #[must_use]
    pub fn break_glasses(&self) -> Vec<(&JudgedCommit, &crate::authz::Change, &BrokeGlass)> {
        self.commits
            .iter()
            .flat_map(|commit| {
                commit
                    .changes
                    .iter()
                    .filter_map(move |judged| match &judged.verdict {
                        Verdict::Allowed {
                            break_glass: Some(glass),
                            ..
                        } => Some((commit, &judged.change, glass)),
                        _ => None,
                    })
            })
            .collect()
    }

    /// The judgement in one line, for the `lbops/authorize` status, the
    /// audit record, the alert and the daemon's memory of the head: why
    /// it was refused, or how much was allowed.
    #[must_use]
    pub fn summary(&self) -> String {
        match &self.ruling {
            Ruling::Accepted => {
                let changes: usize = self.commits.iter().map(|c| c.changes.len()).sum();
                format!("{changes} change(s) allowed by the trusted policy")
            }
            Ruling::Rewound => {
                "the branch moved back to an old commit; push a revert instead".to_owned()
            }
            Ruling::Invalid { .. } => "does not validate".to_owned(),
            Ruling::Refused { .. } => self
                .denial()
                .map_or_else(|| "refused".to_owned(), |denial| denial.sentence()),
        }
    }
}

impl fmt::Display for Judgement {
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
        match &self.ruling {
            Ruling::Accepted => {
                let changes: usize = self.commits.iter().map(|c| c.changes.len()).sum();
                writeln!(
                    f,
                    "accepted: {} commit(s), {changes} change(s), all allowed",
                    self.commits.len()
                )
            }
            Ruling::Refused { denials } => {
                write!(f, "refused: {denials} change(s) denied, nothing will be applied")?;
                if let Some(denial) = self.denial() {
                    let who = match denial.author {
                        Author::Principal(principal) => principal.to_string(),
                        Author::Unverified { email, .. } => format!("unverified ({email})"),
                    };
                    write!(
                        f,
                        "; first: commit {} by {who}: {} on {}",
                        denial.commit.short(),
                        denial.action,
                        denial.resource
                    )?;
                    if let Some(unapproved) = denial.unapproved {
                        write!(f, ": {}", unapproved.headline())?;
                    }
                }
                writeln!(f)
            }
            Ruling::Invalid { invalid } => {
                for d in &invalid.diagnostics {
                    writeln!(f, "{d}")?;
                }
                writeln!(
                    f,
                    "invalid: {} does not validate, nothing will be applied; fix the errors above",
                    self.head.short()
                )
            }
            Ruling::Rewound => writeln!(
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
            Verdict::Allowed {
                permit,
                break_glass,
                approved,
            } => {
                let mut text = permit.to_string();
                if let Some(approved) = approved {
                    text.push_str(&format!("; {}", approved_text(approved)));
                }
                if let Some(glass) = break_glass {
                    let freezes: Vec<String> =
                        glass.freezes.iter().map(|f| f.to_string()).collect();
                    text.push_str(&format!(
                        "; BREAK-GLASS through {} (reason: {})",
                        freezes.join(", "),
                        glass.reason
                    ));
                }
                text
            }
            Verdict::Unapproved { unapproved } => unapproved.to_string(),
            Verdict::Frozen { frozen, glass } => frozen_reason(frozen, glass.as_ref()),
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

/// `approved by bob (commit 1a2b3c4d5e6f; rule 1 of role lb-guard asks
/// for 2 principals)`.
fn approved_text(approved: &Approved<CommitId>) -> String {
    let by: Vec<String> = approved
        .approvers
        .iter()
        .map(|(commit, principal)| format!("{principal} in commit {}", commit.short()))
        .collect();
    format!("approved by {} ({})", by.join(", "), approved.requirement)
}

/// Why a frozen change is refused, and what to do: wait, or break the
/// glass (and what that needs).
fn frozen_reason(frozen: &[Frozen], glass: Option<&GlassRefused>) -> String {
    let Some(first) = frozen.first() else {
        return "frozen".to_owned();
    };
    let mut text = first.to_string();
    if frozen.len() > 1 {
        let others: Vec<String> = frozen[1..].iter().map(|f| f.freeze.to_string()).collect();
        text.push_str(&format!(" (and by {})", others.join(", ")));
    }
    let needs = |f: &Frozen| format!("freeze.break_glass on {}", f.freeze);
    let all: Vec<String> = frozen.iter().map(needs).collect();
    match glass {
        None => text.push_str(&format!(
            "; wait until then, or someone who holds {} commits the change with the line `{BREAK_GLASS_TRAILER}: <reason>` in its message",
            all.join(" and ")
        )),
        Some(GlassRefused::Unreadable { problem }) => text.push_str(&format!(
            "; the commit's `{BREAK_GLASS_TRAILER}:` line does not count: {problem}; write one line `{BREAK_GLASS_TRAILER}: <why, at most {} characters>`",
            crate::authz::freeze::MAX_REASON
        )),
        Some(GlassRefused::Denied { denied, revoked_in }) => {
            text.push_str(&format!("; the break-glass is refused: {denied}"));
            if let Some(commit) = revoked_in {
                text.push_str(&format!(
                    " (taken away by commit {} of this push)",
                    commit.short()
                ));
            }
        }
    }
    text
}

impl fmt::Display for JudgedCommit {
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
            Ok(Identity::Api(api)) => writeln!(
                f,
                "  identity  {} ({}, request {}; signed with the daemon's API key {})",
                api.principal, api.via, api.request, api.fingerprint
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
            let word = match &judged.verdict {
                Verdict::Frozen { .. } => "FROZEN ",
                Verdict::Unapproved { .. } => "UNAPPROVED",
                v if v.is_allowed() => "allowed",
                _ => "DENIED ",
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
