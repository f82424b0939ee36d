//! The all-or-nothing judgement over a pushed range of commits (pure).
//!
//! Every change a commit makes (and the range does not undo again) is
//! attributed to that commit and judged for its verified author against
//! the TRUSTED policy — never against the
//! policy the range writes, so a grant takes effect only once the granting
//! commit has been applied. On top of the per-commit changes, each net
//! change (trusted → head, what would really be applied) is judged once
//! more for the commits responsible for it with the trusted and the head
//! labels, so that stale labels on an old branch point cannot smuggle a
//! change out of scope. Attribution is by value: a net change is covered
//! only by a commit that wrote the very value the head holds for that
//! aspect; a net value no commit of the range wrote (a merge that picked
//! an old value, the undoing of a rewritten history) is charged to the
//! merges that chose it, or else to the head commit. One denial refuses
//! the whole candidate.

mod load;
mod report;
#[cfg(test)]
mod tests;

pub use load::{judge_range, Budget, Checks, Judged, LoadError, TrustAnchor, Verification};
pub use report::{Author, Denial, IdpReason};

use crate::authz::approvals::{self, Approved, Approves, Offer, Signer, Unapproved, Unusable};
use crate::authz::freeze::{self, Frozen, Glass};
use crate::authz::{self, Authorizer, Change, Denied, Permit};
use crate::identity::{ApiVerified, NoIdentity, Principal, Verified};
use crate::idp::Idp;
use crate::source::{CommitId, CommitInfo};
use crate::spec::actions;
use crate::spec::yaml::Pos;
use crate::spec::{Catalog, Code, Diagnostic, Invalid};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// Who a commit is from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Identity {
    /// Its signature verified with a key the trusted policy lists.
    Signed(Verified),
    /// Signature checks are off in the daemon config: the author email
    /// was taken at its word.
    Claimed { principal: Principal },
    /// Written by the daemon for an API call and signed with its API key:
    /// the token's ServiceAccount, narrowed by the token's scopes and
    /// resources as the trusted policy lists them; or a signed-in person's
    /// User, judged as their own signed commits are.
    Api(ApiVerified),
}

impl Identity {
    #[must_use]
    pub fn principal(&self) -> &Principal {
        match self {
            Identity::Signed(verified) => &verified.principal,
            Identity::Claimed { principal } => principal,
            Identity::Api(api) => &api.principal,
        }
    }

    /// This identity with its token as `policy` lists it (the same for a
    /// person): a token's scopes or resources narrowed by a commit before
    /// this one in the push bind at once, like any revocation. A token
    /// removed there has already taken the identity away (`load`); a
    /// widening does not help, since the trusted policy must allow too.
    fn as_listed_in(&self, policy: &Catalog) -> std::borrow::Cow<'_, Identity> {
        match self {
            Identity::Api(api) => match api
                .token()
                .and_then(|token| Some((token, crate::identity::token::listed(policy, token)?)))
            {
                Some((token, listed)) if listed != *token => {
                    std::borrow::Cow::Owned(Identity::Api(ApiVerified {
                        via: crate::identity::ApiVia::Token(listed),
                        ..api.clone()
                    }))
                }
                _ => std::borrow::Cow::Borrowed(self),
            },
            Identity::Signed(_) | Identity::Claimed { .. } => std::borrow::Cow::Borrowed(self),
        }
    }

    /// Whether this author may make `change` under `authorizer`'s policy
    /// (`policy` is the same catalog): a token only within its scopes.
    fn authorize(
        &self,
        authorizer: &Authorizer<'_>,
        policy: &Catalog,
        idp: Idp<'_>,
        change: &Change,
    ) -> Result<Permit, Denied> {
        match self {
            Identity::Api(ApiVerified {
                via: crate::identity::ApiVia::Token(token),
                ..
            }) => authz::authorize_token(policy, idp, token, change),
            Identity::Api(_) | Identity::Signed(_) | Identity::Claimed { .. } => {
                authorizer.authorize(self.principal(), change)
            }
        }
    }
}

/// A commit of the range, with who (if anyone) it is proven to be from.
#[derive(Clone, Debug)]
pub struct CandidateCommit {
    pub info: CommitInfo,
    pub identity: Result<Identity, NoIdentity>,
}

/// Everything the judgement looks at, read from git beforehand.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub head: CommitId,
    /// The commits to judge, parents before children.
    pub commits: Vec<CandidateCommit>,
    /// The validated state of every commit of the range and of each of
    /// their parents, or why it does not validate.
    pub states: HashMap<CommitId, Result<Catalog, Invalid>>,
    /// The trusted commit, when it is not an ancestor of the head
    /// (history rewritten).
    pub rewritten: Option<CommitId>,
    /// The judging time (Unix seconds): which Freezes are in force.
    pub now: i64,
}

/// Why a change is (not) allowed.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    Allowed {
        permit: Permit,
        /// Set when a Freeze in force covers the change and the commit
        /// broke its glass: reported as an alert and an audit record.
        #[serde(skip_serializing_if = "Option::is_none")]
        break_glass: Option<BrokeGlass>,
        /// Set when a rule asks for approvals: who approved, besides the
        /// author.
        #[serde(skip_serializing_if = "Option::is_none")]
        approved: Option<Approved<CommitId>>,
    },
    Denied {
        denied: Denied,
        /// The commit of the range whose access rules, not yet applied,
        /// took away what the trusted policy allowed (a revocation takes
        /// effect at once; a grant only once applied).
        #[serde(skip_serializing_if = "Option::is_none")]
        revoked_in: Option<CommitId>,
    },
    /// The author may make the change, but a rule of the trusted policy
    /// asks for more principals to sign for it than have: how many more,
    /// and who could.
    Unapproved { unapproved: Unapproved<CommitId> },
    /// The author may make the change, but a Freeze of the trusted
    /// policy in force covers it (the one over last first), and the commit
    /// did not break the glass, or could not.
    Frozen {
        frozen: Vec<Frozen>,
        #[serde(skip_serializing_if = "Option::is_none")]
        glass: Option<GlassRefused>,
    },
    /// The commit has no verified author, so it may change nothing.
    Unverified { reason: NoIdentity },
    /// History was rewritten, but no commit of the range was signed for
    /// replacing this trusted commit: an old signature is no licence to
    /// move the branch again (a replayed, once-trusted head; a stale
    /// pull-request head of an admin).
    NotSignedForThisMove { replaces: CommitId },
}

/// A change let through Freezes in force by a break-glass commit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BrokeGlass {
    /// The reason its `Lbops-Break-Glass:` line gives.
    pub reason: String,
    /// The freezes it went through.
    pub freezes: Vec<Frozen>,
}

/// Why a commit that tried to break the glass did not.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "refused", rename_all = "snake_case")]
pub enum GlassRefused {
    /// The `Lbops-Break-Glass:` line is there but unusable.
    Unreadable { problem: String },
    /// The author does not hold `freeze.break_glass` on a freeze it needs.
    Denied {
        denied: Denied,
        #[serde(skip_serializing_if = "Option::is_none")]
        revoked_in: Option<CommitId>,
    },
}

/// The trailer that makes a commit's signature authorize rewriting
/// history away from one trusted commit, and only from that one.
pub const FORCE_PUSH_TRAILER: &str = "Lbops-Force-Push";

/// Whether a commit's message carries `Lbops-Force-Push: <replaces>`. It
/// is read from the signed bytes themselves: the commit object after its
/// headers, so the line is covered by the signature.
fn signed_for_replacing(info: &CommitInfo, replaces: CommitId) -> bool {
    let Some(body) = signed_message(info) else {
        return false;
    };
    let wanted = format!("{FORCE_PUSH_TRAILER}: {replaces}");
    body.split(|&b| b == b'\n')
        .any(|line| line.trim_ascii() == wanted.as_bytes())
}

/// The commit message as signed: the commit object after its headers, so
/// a trailer read from it is covered by the signature.
fn signed_message(info: &CommitInfo) -> Option<&[u8]> {
    let data = &info.signed_data;
    data.windows(2)
        .position(|w| w == b"\n\n")
        .map(|at| &data[at + 2..])
}

/// The tree a commit records: the first header of the signed object.
fn tree_of(info: &CommitInfo) -> Option<String> {
    let header = info.signed_data.split(|&b| b == b'\n').next()?;
    let hex = header.strip_prefix(b"tree ")?;
    Some(String::from_utf8_lossy(hex).into_owned())
}

/// What a commit's signed message says it approves.
fn approves_of(info: &CommitInfo) -> Approves {
    signed_message(info).map_or(Approves::Nothing, |body| {
        approvals::approves(&String::from_utf8_lossy(body))
    })
}

/// What a commit's signed message says about breaking the glass.
fn glass_of(info: &CommitInfo) -> Glass {
    signed_message(info).map_or(Glass::Intact, |body| {
        freeze::glass(&String::from_utf8_lossy(body))
    })
}

impl Verdict {
    #[must_use]
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed { .. })
    }
}

/// One change charged to one commit.
#[derive(Clone, Debug, Serialize)]
pub struct JudgedChange {
    pub change: Change,
    pub verdict: Verdict,
    /// Why this commit answers for a change it did not write itself (a
    /// merge's choice, history rewritten); `None` for its own changes.
    pub charged_because: Option<&'static str>,
}

/// A commit and the changes charged to it.
#[derive(Clone, Debug, Serialize)]
pub struct JudgedCommit {
    pub id: CommitId,
    pub summary: String,
    pub author_email: String,
    pub identity: Result<Identity, NoIdentity>,
    /// Validation errors when this commit's tree does not validate; its
    /// changes are then charged to it together with the next valid commit.
    pub invalid: Option<Invalid>,
    pub changes: Vec<JudgedChange>,
}

/// The answer for a candidate head.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Ruling {
    /// Every change is allowed: apply the head.
    Accepted,
    /// At least one change is denied: apply nothing.
    Refused { denials: usize },
    /// The head does not validate: apply nothing.
    Invalid { invalid: Invalid },
    /// The branch was moved back to a commit that is already part of the
    /// trusted history. Its old signature proves nobody wants it now, so
    /// nothing is applied: push a new (revert) commit instead.
    Rewound,
}

#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub head: CommitId,
    pub rewritten: bool,
    #[serde(rename = "outcome")]
    pub ruling: Ruling,
    pub commits: Vec<JudgedCommit>,
}

impl Judgement {
    /// A head refused as invalid without a verdict on its commits, because
    /// judging it could not finish: it took longer than its budget, or the
    /// daemon stopped while judging it. Refusing (and remembering that) is
    /// what keeps one hostile push from stalling or crash-looping the
    /// daemon; a new commit gets a judgement of its own.
    #[must_use]
    pub fn aborted(head: CommitId, why: String) -> Judgement {
        let diagnostic = Diagnostic::error(
            &format!("commit {}", head.short()),
            Pos::new(1, 1),
            Code::JudgementAborted,
            why,
        )
        .hint("find what is outsized in the push (`lbops authorize` shows the same), then push new commits without it");
        Judgement {
            head,
            rewritten: false,
            ruling: Ruling::Invalid {
                invalid: Invalid {
                    diagnostics: vec![diagnostic],
                },
            },
            commits: Vec::new(),
        }
    }

    #[must_use]
    pub fn accepted(&self) -> bool {
        matches!(self.ruling, Ruling::Accepted)
    }

    /// The first denied change, with its commit: what a status names.
    #[must_use]
    pub fn first_denial(&self) -> Option<(&JudgedCommit, &JudgedChange)> {
        self.commits.iter().find_map(|commit| {
            commit
                .changes
                .iter()
                .find(|c| !c.verdict.is_allowed())
                .map(|c| (commit, c))
        })
    }
}

/// Identifies an aspect of a resource: the same action on the same
/// resource. Two catalogs agree on an aspect when `authz::changes` between
/// them notes no change with its key.
type ChangeKey = (&'static str, Option<crate::spec::kinds::ResourceId>);

fn key(change: &Change) -> ChangeKey {
    (change.action.name, change.resource.clone())
}

/// Decides a candidate: `trusted` is the state of the trusted commit (an
/// empty catalog before any), `policy` what judges (the same catalog, or
/// empty under bootstrap admin keys, which identities carry themselves).
///
/// `idp` narrows like a revocation in the range, and only narrows: the
/// changes of a commit whose author (or whose ServiceAccount's owner) the
/// identity provider deprovisioned are denied, saying when and by which
/// SCIM event, and a rule requiring IdP groups fits only their members.
/// It is the directory as of this judgement: commits already applied
/// stay applied, and a re-activated person has again what git grants.
#[must_use]
pub fn judge_candidate(
    trusted: &Catalog,
    policy: &Catalog,
    idp: Idp<'_>,
    candidate: &Candidate,
) -> Judgement {
    let head_state = candidate.states.get(&candidate.head);
    let Some(Ok(head)) = head_state else {
        let invalid = match head_state {
            Some(Err(invalid)) => invalid.clone(),
            _ => Invalid {
                diagnostics: Vec::new(),
            },
        };
        return Judgement {
            head: candidate.head,
            rewritten: candidate.rewritten.is_some(),
            ruling: Ruling::Invalid { invalid },
            commits: Vec::new(),
        };
    };
    if candidate.rewritten.is_some()
        && candidate
            .commits
            .iter()
            .all(|c| c.info.id != candidate.head)
    {
        return Judgement {
            head: candidate.head,
            rewritten: true,
            ruling: Ruling::Rewound,
            commits: Vec::new(),
        };
    }
    let authorizer = Authorizer::new(policy, idp);
    let narrowing = narrowing(trusted, policy, candidate);
    let narrowers: HashMap<CommitId, (Authorizer<'_>, &Catalog)> = narrowing
        .iter()
        .flatten()
        .filter_map(|id| {
            state_of(candidate, id).map(|catalog| (*id, (Authorizer::new(catalog, idp), catalog)))
        })
        .collect();
    let in_range: HashMap<CommitId, usize> = candidate
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.info.id, i))
        .collect();
    let state = |id: &CommitId| state_of(candidate, id);

    // The valid state a commit's parent stands for, and the invalid commits
    // of the range skipped on the way, which share the next valid change.
    let base = |parent: CommitId| -> (&Catalog, Vec<usize>) {
        let mut skipped = Vec::new();
        let mut at = parent;
        loop {
            if let Some(catalog) = state(&at) {
                return (catalog, skipped);
            }
            match in_range.get(&at) {
                Some(&i) => {
                    skipped.push(i);
                    match candidate.commits[i].info.parents.first() {
                        Some(p) => at = *p,
                        None => return (&EMPTY, skipped),
                    }
                }
                // An invalid state outside the range was never applied;
                // compare with what is trusted instead.
                None => return (trusted, skipped),
            }
        }
    };

    // Each commit's own changes, keyed for attribution; `chosen` holds the
    // keys a merge differs on from at least one parent.
    let mut own: Vec<Vec<Change>> = vec![Vec::new(); candidate.commits.len()];
    let mut chosen: Vec<BTreeSet<ChangeKey>> = vec![BTreeSet::new(); candidate.commits.len()];
    let mut co_authors: Vec<Vec<usize>> = vec![Vec::new(); candidate.commits.len()];
    for (i, commit) in candidate.commits.iter().enumerate() {
        let Some(after) = state(&commit.info.id) else {
            continue;
        };
        let per_parent: Vec<Vec<Change>> = if commit.info.parents.is_empty() {
            vec![authz::changes(&EMPTY, after)]
        } else {
            commit
                .info
                .parents
                .iter()
                .map(|p| {
                    let (before, skipped) = base(*p);
                    co_authors[i].extend(skipped);
                    authz::changes(before, after)
                })
                .collect()
        };
        let mut first = per_parent[0].clone();
        if per_parent.len() > 1 {
            let in_all = |k: &ChangeKey| {
                per_parent[1..]
                    .iter()
                    .all(|changes| changes.iter().any(|c| key(c) == *k))
            };
            chosen[i] = per_parent.iter().flatten().map(key).collect();
            first.retain(|c| in_all(&key(c)));
        }
        co_authors[i].sort_unstable();
        co_authors[i].dedup();
        own[i] = first;
    }

    let net: Vec<Change> = authz::changes(trusted, head);
    let net_by_key: HashMap<ChangeKey, &Change> = net.iter().map(|c| (key(c), c)).collect();
    // Whether the author of commit `who` may make `change`: by the trusted
    // policy, narrowed by every revocation on the way from the trusted
    // commit to this one (the commit of the range that took it away).
    let permitted = |who: usize,
                     identity: &Identity,
                     change: &Change|
     -> Result<Permit, Box<(Denied, Option<CommitId>)>> {
        let permit = identity
            .authorize(&authorizer, policy, idp, change)
            .map_err(|denied| Box::new((denied, None)))?;
        for id in &narrowing[who] {
            let (narrower, catalog) = &narrowers[id];
            let narrowed = identity.as_listed_in(catalog);
            // Proof under each narrowing policy; the trusted one's is kept.
            let _narrowed_permit = narrowed
                .authorize(narrower, catalog, idp, change)
                .map_err(|denied| Box::new((denied, Some(*id))))?;
        }
        Ok(permit)
    };
    // The trusted policy's freezes, as of the judging time.
    let in_force = freeze::in_force(policy, candidate.now);
    let glasses: Vec<Glass> = candidate
        .commits
        .iter()
        .map(|c| {
            if in_force.is_empty() {
                Glass::Intact
            } else {
                glass_of(&c.info)
            }
        })
        .collect();
    // The approvals of the range, and the tree they must name: the head's,
    // the state that would be applied.
    let head_tree = in_range
        .get(&candidate.head)
        .and_then(|&i| tree_of(&candidate.commits[i].info));
    let approvals_offered: Vec<(usize, Approves)> = candidate
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (i, approves_of(&c.info)))
        .filter(|(_, a)| *a != Approves::Nothing)
        .collect();
    // How one approval reads for one change.
    let signer = |at: usize, approves: &Approves, change: &Change| -> Signer {
        let identity = match &candidate.commits[at].identity {
            Err(reason) => {
                return Signer::Unusable(Unusable::Nobody {
                    reason: reason.reason_code().to_owned(),
                })
            }
            Ok(identity) => identity,
        };
        let unusable = match approves {
            Approves::Tree(tree) if Some(tree) == head_tree.as_ref() => {
                match permitted(at, identity, change) {
                    Ok(_permit) => {
                        return Signer::Holds {
                            principal: identity.principal().clone(),
                        }
                    }
                    Err(refused) => {
                        let (denied, _revoked_in) = *refused;
                        Unusable::Lacks {
                            denied: Box::new(denied),
                        }
                    }
                }
            }
            Approves::Tree(tree) => Unusable::OtherTree {
                approves: tree.clone(),
                head: head_tree.clone().unwrap_or_default(),
            },
            Approves::Unreadable { problem } => Unusable::Unreadable {
                problem: problem.clone(),
            },
            Approves::Nothing => Unusable::Unreadable {
                problem: "it approves nothing".to_owned(),
            },
        };
        Signer::Unusable(unusable)
    };
    // Whether enough principals signed for a change its author may make.
    let approval = |identity: &Identity,
                    change: &Change|
     -> Result<Option<Approved<CommitId>>, Unapproved<CommitId>> {
        let Some(requirement) = approvals::required(policy, change) else {
            return Ok(None);
        };
        let offers: Vec<Offer<CommitId>> = approvals_offered
            .iter()
            .map(|(at, approves)| Offer {
                commit: candidate.commits[*at].info.id,
                signer: signer(*at, approves, change),
            })
            .collect();
        let holders = authorizer.allowed(change);
        approvals::tally(&requirement, identity.principal(), &offers, &holders).map(Some)
    };
    let judge = |who: usize, change: &Change| -> Verdict {
        let identity = match &candidate.commits[who].identity {
            Err(reason) => {
                return Verdict::Unverified {
                    reason: reason.clone(),
                }
            }
            Ok(identity) => identity,
        };
        let permit = match permitted(who, identity, change) {
            Ok(permit) => permit,
            Err(refused) => {
                let (denied, revoked_in) = *refused;
                return Verdict::Denied { denied, revoked_in };
            }
        };
        // Approvals before freezes: a break-glass lets a change through a
        // freeze, never past the people who must sign for it.
        let approved = match approval(identity, change) {
            Ok(approved) => approved,
            Err(unapproved) => return Verdict::Unapproved { unapproved },
        };
        let covering = freeze::covering(&in_force, change);
        if covering.is_empty() {
            return Verdict::Allowed {
                permit,
                break_glass: None,
                approved,
            };
        }
        let frozen: Vec<Frozen> = covering.iter().map(|f| f.frozen.clone()).collect();
        let reason = match &glasses[who] {
            Glass::Intact => {
                return Verdict::Frozen {
                    frozen,
                    glass: None,
                }
            }
            Glass::Unreadable { problem } => {
                let glass = GlassRefused::Unreadable {
                    problem: problem.clone(),
                };
                return Verdict::Frozen {
                    frozen,
                    glass: Some(glass),
                };
            }
            Glass::Broken { reason } => reason,
        };
        for f in &covering {
            if let Err(refused) = permitted(who, identity, &f.break_glass()) {
                let (denied, revoked_in) = *refused;
                let glass = GlassRefused::Denied { denied, revoked_in };
                return Verdict::Frozen {
                    frozen,
                    glass: Some(glass),
                };
            }
        }
        Verdict::Allowed {
            permit,
            break_glass: Some(BrokeGlass {
                reason: reason.clone(),
                freezes: frozen,
            }),
            approved,
        }
    };

    let mut charged: Vec<Vec<JudgedChange>> = vec![Vec::new(); candidate.commits.len()];
    // The net changes whose value in the head some commit of the range
    // wrote: attribution is by value, not by (action, resource), so a
    // commit that touched a resource does not cover a later merge that
    // chose an older value for it.
    let mut written: BTreeSet<ChangeKey> = BTreeSet::new();
    for (i, changes) in own.iter().enumerate() {
        if changes.is_empty() {
            continue;
        }
        let Some(after) = state(&candidate.commits[i].info.id) else {
            continue;
        };
        // What the head holds differently from this commit's result: on
        // those aspects the value applied is not the one it produced.
        let overwritten: BTreeSet<ChangeKey> =
            authz::changes(after, head).iter().map(key).collect();
        for change in changes {
            // A change undone later in the range is never applied, so it
            // needs no permission; judging it anyway would leave a denied
            // commit blocking the branch even after an admin reverted it.
            let Some(net_change) = net_by_key.get(&key(change)).copied() else {
                continue;
            };
            if !overwritten.contains(&key(change)) {
                written.insert(key(change));
            }
            // Judged with the commit's own labels, then with the trusted
            // and head labels of the net change it feeds.
            for who in std::iter::once(i).chain(co_authors[i].iter().copied()) {
                let mut verdict = judge(who, change);
                if verdict.is_allowed() {
                    verdict = judge(who, net_change);
                }
                let charged_because =
                    (who != i).then_some("its tree did not validate, so its changes are judged with the next valid commit");
                charged[who].push(JudgedChange {
                    change: change.clone(),
                    verdict,
                    charged_because,
                });
            }
        }
    }
    let head_index = in_range.get(&candidate.head).copied();
    // A rewrite is authorized by the commits signed for replacing exactly
    // the trusted commit; they, not the head, answer for undoing it.
    let movers: Vec<usize> = match candidate.rewritten {
        Some(replaces) => (0..candidate.commits.len())
            .filter(|&i| signed_for_replacing(&candidate.commits[i].info, replaces))
            .collect(),
        None => Vec::new(),
    };
    for change in net.iter().filter(|c| !written.contains(&key(c))) {
        let choosers: Vec<usize> = (0..candidate.commits.len())
            .filter(|&i| chosen[i].contains(&key(change)))
            .collect();
        let (who, because): (Vec<usize>, &'static str) = if !choosers.is_empty() {
            (choosers, "this merge chose the value that would be applied")
        } else if candidate.rewritten.is_some() && !movers.is_empty() {
            (
                movers.clone(),
                "history was rewritten: the commit signed for the rewrite answers for undoing trusted commits",
            )
        } else if candidate.rewritten.is_some() {
            (
                head_index.into_iter().collect(),
                "history was rewritten: the head answers for undoing trusted commits",
            )
        } else {
            (
                head_index.into_iter().collect(),
                "no commit of the range wrote it; the head answers for it",
            )
        };
        for i in who {
            charged[i].push(JudgedChange {
                change: change.clone(),
                verdict: judge(i, change),
                charged_because: Some(because),
            });
        }
    }
    if let Some(replaces) = candidate.rewritten {
        let change = Change::repo(&actions::REPO_FORCE_PUSH);
        if movers.is_empty() {
            if let Some(i) = head_index {
                charged[i].push(JudgedChange {
                    change,
                    verdict: Verdict::NotSignedForThisMove { replaces },
                    charged_because: Some("the trusted commit is not an ancestor of this head"),
                });
            }
        } else {
            for &i in &movers {
                charged[i].push(JudgedChange {
                    verdict: judge(i, &change),
                    change: change.clone(),
                    charged_because: Some("its message says it replaces the trusted commit"),
                });
            }
        }
    }

    let commits: Vec<JudgedCommit> = candidate
        .commits
        .iter()
        .zip(charged)
        .map(|(commit, changes)| JudgedCommit {
            id: commit.info.id,
            summary: commit.info.summary.clone(),
            author_email: commit.info.author_email.clone(),
            identity: commit.identity.clone(),
            invalid: candidate
                .states
                .get(&commit.info.id)
                .and_then(|s| s.as_ref().err().cloned()),
            changes,
        })
        .collect();
    let denials = commits
        .iter()
        .flat_map(|c| &c.changes)
        .filter(|c| !c.verdict.is_allowed())
        .count();
    Judgement {
        head: candidate.head,
        rewritten: candidate.rewritten.is_some(),
        ruling: if denials == 0 {
            Ruling::Accepted
        } else {
            Ruling::Refused { denials }
        },
        commits,
    }
}

fn state_of<'c>(candidate: &'c Candidate, id: &CommitId) -> Option<&'c Catalog> {
    candidate.states.get(id).and_then(|s| s.as_ref().ok())
}

/// Whether two catalogs hold the same access rules (who may do what).
fn same_access(a: &Catalog, b: &Catalog) -> bool {
    a.roles == b.roles
        && a.users == b.users
        && a.groups == b.groups
        && a.service_accounts == b.service_accounts
}

/// For each commit of the range (in its order), the commits of the range
/// before it — its ancestors, itself excluded — whose valid state holds
/// access rules other than `policy`'s, oldest first.
///
/// A commit is judged by the trusted policy *narrowed* by each of these:
/// a revocation (a key revoked, a user disabled, a role taken away) binds
/// the commits stacked on it at once, before it is applied, while a grant
/// still waits for its apply because the trusted policy must allow too.
/// Under bootstrap admin keys (an empty `policy` and no trusted commit)
/// nothing narrows: the range is writing the first policy.
#[must_use]
fn narrowing(trusted: &Catalog, policy: &Catalog, candidate: &Candidate) -> Vec<Vec<CommitId>> {
    let bootstrap = policy.is_empty() && trusted.is_empty();
    let index: HashMap<CommitId, usize> = candidate
        .commits
        .iter()
        .enumerate()
        .map(|(i, c)| (c.info.id, i))
        .collect();
    let mut before: Vec<BTreeSet<usize>> = Vec::with_capacity(candidate.commits.len());
    for commit in &candidate.commits {
        let mut set = BTreeSet::new();
        for parent in &commit.info.parents {
            if let Some(&p) = index.get(parent) {
                set.extend(before[p].iter().copied());
                let narrows = state_of(candidate, parent)
                    .is_some_and(|state| !bootstrap && !same_access(state, policy));
                if narrows {
                    set.insert(p);
                }
            }
        }
        before.push(set);
    }
    before
        .into_iter()
        .map(|set| {
            set.into_iter()
                .map(|i| candidate.commits[i].info.id)
                .collect()
        })
        .collect()
}

static EMPTY: std::sync::LazyLock<Catalog> = std::sync::LazyLock::new(Catalog::default);
