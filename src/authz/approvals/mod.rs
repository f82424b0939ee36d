//! k-of-n approvals: how many principals a change needs by the trusted
//! policy, what a commit message says it approves, and the count of who
//! signed for a change (pure; the judge gathers the signatures).
//!
//! An approval is a signature lbops verifies itself, never a forge's word:
//! a signed commit whose message has the line `Lbops-Approves: <tree id>`.
//! It approves exactly that tree — the whole repository state that would
//! be applied — and counts only when the head being judged has that very
//! tree. So an approval cannot be replayed onto another change (another
//! change is another tree), and any commit pushed after it, a rebase onto
//! a moved main included, needs approving again, like a forge's "dismiss
//! stale approvals" that no admin can switch off. It works with ordinary
//! pull requests: the approver adds an empty signed commit to the branch
//! (`git commit --allow-empty -S -m … -m "Lbops-Approves: $(git rev-parse
//! 'HEAD^{tree}')"`), or merges it themself with a signed merge commit
//! that carries the line for the merged tree.
//!
//! Counted are principals, not keys or commits: the author once, then each
//! other principal who holds the permission for the change by the trusted
//! policy. The author's own approval and a second key of someone already
//! counted add nothing.

#[cfg(test)]
mod tests;

use super::rules::{fit, Person, RuleFit};
use super::{Change, Denied};
use crate::identity::Principal;
use crate::spec::units::Name;
use crate::spec::Catalog;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The trailer that approves a tree: `Lbops-Approves: <tree id>` on a line
/// of a signed commit's message.
pub const APPROVES_TRAILER: &str = "Lbops-Approves";

/// At most this many names in "needs 1 more approval from: …".
const MAX_NAMES: usize = 5;

/// What the trusted policy asks of a change: the strictest rule covering
/// it that asks for approvals.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Requirement {
    /// How many distinct principals, the author included, must sign.
    pub principals: usize,
    pub role: Name,
    /// Counted from 0.
    pub rule: usize,
}

impl fmt::Display for Requirement {
    /// `rule 1 of role lb-guard asks for 2 principals`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "rule {} of role {} asks for {} principals",
            self.rule + 1,
            self.role,
            self.principals
        )
    }
}

/// How many principals `change` needs by `policy` (the trusted policy):
/// the largest `approvals.principals` of the rules whose actions,
/// resources and labels cover it, whoever holds them. Taking every rule,
/// not only the author's, means a second role that allows the change
/// without approvals (an admin's `*`) does not skip them. `None`: the
/// author's signature is enough.
#[must_use]
pub fn required(policy: &Catalog, change: &Change) -> Option<Requirement> {
    let mut strictest: Option<Requirement> = None;
    for role in policy.roles.values() {
        for (index, rule) in role.spec.rules.iter().enumerate() {
            let Some(approvals) = &rule.approvals else {
                continue;
            };
            if fit(rule, change, Person::Anyone) != RuleFit::Allows {
                continue;
            }
            let principals = usize::try_from(approvals.principals.value).unwrap_or(usize::MAX);
            if strictest.as_ref().is_none_or(|s| principals > s.principals) {
                strictest = Some(Requirement {
                    principals,
                    role: role.name.clone(),
                    rule: index,
                });
            }
        }
    }
    strictest
}

/// What a commit message says it approves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Approves {
    /// No `Lbops-Approves:` line.
    Nothing,
    /// The tree id (lowercase hex) of its first such line.
    Tree(String),
    /// The line is there, but names no tree id.
    Unreadable { problem: String },
}

/// Reads the approval trailer from a commit message (the first line that
/// starts with it counts). A tree id is 40 hex digits (SHA-1) or 64
/// (SHA-256), as `git rev-parse 'HEAD^{tree}'` prints it.
#[must_use]
pub fn approves(message: &str) -> Approves {
    let prefix = format!("{APPROVES_TRAILER}:");
    let Some(value) = message
        .lines()
        .find_map(|line| line.trim_start().strip_prefix(prefix.as_str()))
    else {
        return Approves::Nothing;
    };
    let value = value.trim();
    let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
    if hex && matches!(value.len(), 40 | 64) {
        Approves::Tree(value.to_ascii_lowercase())
    } else {
        Approves::Unreadable {
            problem: format!(
                "`{}` is not a tree id (40 or 64 hex digits)",
                value.chars().take(80).collect::<String>()
            ),
        }
    }
}

/// One approval found in the judged range, as the judge read it for one
/// change. `C` names its commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Offer<C> {
    pub commit: C,
    pub signer: Signer,
}

/// Who signed an approval, and whether they may give it for this change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "signer", rename_all = "snake_case")]
pub enum Signer {
    /// A principal who holds the permission for the change, and approved
    /// the head's tree.
    Holds { principal: Principal },
    /// An approval that cannot count for this change, whoever signed it.
    Unusable(Unusable),
}

/// Why an approval cannot count for a change, before anyone is counted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "unusable", rename_all = "snake_case")]
pub enum Unusable {
    /// Its signer may not make the change by the trusted policy (narrowed
    /// by revocations before the approval).
    Lacks { denied: Box<Denied> },
    /// It approves another tree than the head's: another change, or this
    /// one before later commits.
    OtherTree { approves: String, head: String },
    /// Its `Lbops-Approves:` line names no tree.
    Unreadable { problem: String },
    /// Its signature proves nobody (the reason code).
    Nobody { reason: String },
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unusable::Lacks { denied } => write!(f, "{denied}"),
            Unusable::OtherTree { approves, head } => write!(
                f,
                "it approves tree {approves}, and this head's tree is {head} (another change, or commits since)"
            ),
            Unusable::Unreadable { problem } => f.write_str(problem),
            Unusable::Nobody { reason } => write!(f, "its signature proves nobody ({reason})"),
        }
    }
}

/// Why an approval did not count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "ignored", rename_all = "snake_case")]
pub enum Ignored {
    /// By the change's own author: nobody approves their own change.
    ByTheAuthor { principal: Principal },
    /// By a principal already counted (another key, another commit).
    Again { principal: Principal },
    /// Not a usable approval for this change.
    Unusable(Unusable),
}

/// Enough principals signed: the approvers, besides the author.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Approved<C> {
    pub requirement: Requirement,
    pub approvers: Vec<(C, Principal)>,
}

/// Too few principals signed, and who could still approve.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Unapproved<C> {
    pub requirement: Requirement,
    /// The author, then each approver counted.
    pub signed: Vec<Principal>,
    /// How many more approvals it needs (at least 1).
    pub missing: usize,
    /// Who holds the permission and has not signed, by name.
    pub could: Vec<Principal>,
    /// The approvals that did not count, and why.
    pub ignored: Vec<(C, Ignored)>,
}

/// Counts who signed for a change that needs `requirement`: `author`
/// (already allowed the change) once, then the principal of each offer
/// that holds the permission, each principal once, never the author.
/// `holders` are those the trusted policy allows the change (for naming
/// who could still approve).
pub fn tally<C: Clone>(
    requirement: &Requirement,
    author: &Principal,
    offers: &[Offer<C>],
    holders: &[Principal],
) -> Result<Approved<C>, Unapproved<C>> {
    let mut counted: BTreeSet<&Principal> = BTreeSet::from([author]);
    let mut approvers = Vec::new();
    let mut ignored = Vec::new();
    for offer in offers {
        let why = match &offer.signer {
            Signer::Holds { principal } if principal == author => Ignored::ByTheAuthor {
                principal: principal.clone(),
            },
            Signer::Holds { principal } if counted.contains(principal) => Ignored::Again {
                principal: principal.clone(),
            },
            Signer::Holds { principal } => {
                counted.insert(principal);
                approvers.push((offer.commit.clone(), principal.clone()));
                continue;
            }
            Signer::Unusable(unusable) => Ignored::Unusable(unusable.clone()),
        };
        ignored.push((offer.commit.clone(), why));
    }
    let missing = requirement.principals.saturating_sub(counted.len());
    if missing == 0 {
        return Ok(Approved {
            requirement: requirement.clone(),
            approvers,
        });
    }
    Err(Unapproved {
        requirement: requirement.clone(),
        signed: std::iter::once(author.clone())
            .chain(approvers.into_iter().map(|(_, p)| p))
            .collect(),
        missing,
        could: holders
            .iter()
            .filter(|p| !counted.contains(p))
            .cloned()
            .collect(),
        ignored,
    })
}

/// A principal as a person reads it in a list: `alice`, `serviceaccount
/// deploy-bot` (as a denial's holders are named).
fn name_of(principal: &Principal) -> String {
    match principal {
        Principal::User(name) => name.to_string(),
        Principal::ServiceAccount(name) => format!("serviceaccount {name}"),
        Principal::BootstrapAdmin { fingerprint } => format!("bootstrap admin {fingerprint}"),
    }
}

impl<C> Unapproved<C> {
    /// `needs 1 more approval from: alice, carol` — what a status leads
    /// with, so it is read before the 140 characters run out.
    #[must_use]
    pub fn headline(&self) -> String {
        let approvals = if self.missing == 1 {
            "approval"
        } else {
            "approvals"
        };
        if self.could.is_empty() {
            return format!(
                "needs {} more {approvals}, and nobody else holds the permission",
                self.missing
            );
        }
        let mut names: Vec<String> = self.could.iter().take(MAX_NAMES).map(name_of).collect();
        if self.could.len() > MAX_NAMES {
            names.push(format!("and {} more", self.could.len() - MAX_NAMES));
        }
        format!(
            "needs {} more {approvals} from: {}",
            self.missing,
            names.join(", ")
        )
    }
}

impl<C: fmt::Display> fmt::Display for Unapproved<C> {
    /// The headline, what the rule asks and who signed, each approval that
    /// did not count and why, and what to do.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let signed: Vec<String> = self.signed.iter().map(name_of).collect();
        write!(
            f,
            "{} ({}; signed by {})",
            self.headline(),
            self.requirement,
            signed.join(", ")
        )?;
        for (commit, why) in &self.ignored {
            write!(f, "; the approval in commit {commit} does not count: ")?;
            match why {
                Ignored::ByTheAuthor { principal } => write!(
                    f,
                    "{} wrote the change, and nobody approves their own",
                    name_of(principal)
                )?,
                Ignored::Again { principal } => write!(
                    f,
                    "{} is counted already (one person counts once, whichever key signs)",
                    name_of(principal)
                )?,
                Ignored::Unusable(unusable) => write!(f, "{unusable}")?,
            }
        }
        if self.could.is_empty() {
            f.write_str("; someone allowed access.roles.update must grant the permission to another principal first")
        } else {
            write!(
                f,
                "; another principal who holds it commits the line `{APPROVES_TRAILER}: <tree id of the head>` (git rev-parse 'HEAD^{{tree}}'), signed"
            )
        }
    }
}
