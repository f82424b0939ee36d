//! The imperative shell of the judgement: reads the range and every state
//! it needs from git, identifies each commit, then hands values to
//! [`super::decide`].

use super::{judge_candidate, Candidate, CandidateCommit, Identity, Judgement};
use crate::identity::{self, ApiKey, CommitEvidence, Keyring, NoIdentity};
use crate::idp::Idp;
use crate::source::{CommitId, CommitInfo, GitError, GitSource};
use crate::spec::{self, Catalog, Invalid};
use std::collections::hash_map::Entry;
use std::collections::HashMap;

/// Where trust starts.
#[derive(Clone)]
pub enum TrustAnchor {
    /// A commit already applied, or pinned in the daemon config: its tree
    /// is the trusted state and its access kinds are the policy.
    Commit(CommitId),
    /// Nothing trusted yet: only commits signed with these admin keys may
    /// write the first policy. Nobody becomes trusted by pushing first.
    AdminKeys(std::sync::Arc<Keyring>),
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Git(#[from] GitError),
    #[error(
        "the trusted commit {commit} does not validate ({first}); trust a commit that `lbops validate` accepts"
    )]
    TrustedInvalid { commit: String, first: String },
    /// Judging took longer than its budget: the pushed range is refused
    /// as invalid rather than allowed to stall whoever judges it.
    #[error(
        "judging {head} took longer than its budget of {budget:?} (it reads {commits} commit(s)); \
         push fewer or smaller commits, or raise `trust.judge_budget` in the daemon config"
    )]
    OverBudget {
        head: String,
        budget: std::time::Duration,
        commits: usize,
    },
}

/// How long one judgement may take. Checked before each tree is read and
/// parsed, so the work stops soon after the budget is spent; every single
/// step in between is bounded by the spec's resource limits.
#[derive(Clone, Copy, Debug)]
pub struct Budget {
    limit: std::time::Duration,
    started: std::time::Instant,
}

impl Budget {
    /// The default: far above what a real push needs (milliseconds per
    /// commit), far below what would stall the daemon.
    pub const DEFAULT: std::time::Duration = std::time::Duration::from_secs(60);

    /// The most commits one judgement reads: far more than a push holds;
    /// a longer history is trusted by pinning a recent commit.
    pub const MAX_COMMITS: usize = 10_000;

    #[must_use]
    pub fn starting_now(limit: std::time::Duration) -> Self {
        Self {
            limit,
            started: std::time::Instant::now(),
        }
    }

    fn spent(&self) -> bool {
        self.started.elapsed() >= self.limit
    }
}

/// Whether commit signatures are checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verification {
    /// Always, except where the daemon config says otherwise.
    Required,
    /// Author emails are taken at their word: for demos only; the daemon
    /// warns loudly at every start when its config asks for this.
    Off,
}

/// What commits are checked against besides git: how signatures are
/// checked, the daemon's API key, and what the identity provider took
/// away (see [`super::judge_candidate`]).
#[derive(Clone, Copy)]
pub struct Checks<'a> {
    pub verification: Verification,
    /// The public half of the daemon's API signing key, when it has one.
    pub api: Option<&'a ApiKey>,
    pub idp: Idp<'a>,
}

/// What a judgement was made from, for the caller to keep (the daemon
/// applies `head` and then trusts it).
pub struct Judged {
    pub judgement: Judgement,
    /// The validated state of the head, when it validated.
    pub head: Option<Catalog>,
}

/// Reads and judges every commit from the trust anchor to `head`.
///
/// The head is validated as of `now`. Older states are validated as of
/// their own commit date: a certificate that expired since does not make
/// the history unreadable, while the head that would be applied must be
/// valid today.
///
/// A range that takes longer than `budget` is refused as invalid (see
/// [`Judgement::aborted`]), never left to stall the caller.
///
/// `checks.api` is the public half of the daemon's API signing key, when it has
/// one: a commit signed with it speaks for the ServiceAccount and token its
/// trailers name ([`ApiKey::identify`]), and for nobody else. Without it,
/// such a commit is signed by a key nobody is listed for.
pub fn judge_range(
    source: &GitSource,
    anchor: &TrustAnchor,
    head: CommitId,
    now: i64,
    checks: Checks<'_>,
    budget: Budget,
) -> Result<Judged, LoadError> {
    match read_and_decide(source, anchor, head, now, checks, budget) {
        Err(
            over @ (LoadError::OverBudget { .. } | LoadError::Git(GitError::TooManyCommits { .. })),
        ) => Ok(Judged {
            judgement: Judgement::aborted(head, over.to_string()),
            head: None,
        }),
        other => other,
    }
}

fn read_and_decide(
    source: &GitSource,
    anchor: &TrustAnchor,
    head: CommitId,
    now: i64,
    checks: Checks<'_>,
    budget: Budget,
) -> Result<Judged, LoadError> {
    let Checks {
        verification,
        api,
        idp,
    } = checks;
    let commits_read = std::cell::Cell::new(0usize);
    let load_state = |info: &CommitInfo| -> Result<Result<Catalog, Invalid>, LoadError> {
        if budget.spent() {
            return Err(LoadError::OverBudget {
                head: head.short(),
                budget: budget.limit,
                commits: commits_read.get(),
            });
        }
        commits_read.set(commits_read.get() + 1);
        let at = if info.id == head { now } else { info.time };
        let files = source.files_at(info.id)?;
        Ok(spec::load(&files, &spec::Options::at(at)).map(|v| v.catalog))
    };

    let (trusted, since, rewritten) = match anchor {
        TrustAnchor::AdminKeys(_) => (Catalog::default(), None, None),
        TrustAnchor::Commit(id) => {
            let info = source.commit(*id)?;
            let trusted = load_state(&info)?.map_err(|invalid| LoadError::TrustedInvalid {
                commit: id.short(),
                first: invalid
                    .diagnostics
                    .first()
                    .map_or_else(String::new, ToString::to_string),
            })?;
            if source.is_ancestor(*id, head)? {
                (trusted, Some(*id), None)
            } else {
                (trusted, source.merge_base(*id, head)?, Some(*id))
            }
        }
    };
    let own_keyring;
    let keyring = match anchor {
        TrustAnchor::AdminKeys(keys) => keys,
        TrustAnchor::Commit(_) => {
            own_keyring = Keyring::from_policy(&trusted);
            &own_keyring
        }
    };

    let infos = source.commits_between(since, head, Budget::MAX_COMMITS)?;
    let mut states = HashMap::new();
    for info in &infos {
        states.insert(info.id, load_state(info)?);
    }
    let parents = infos.iter().flat_map(|i| i.parents.iter().copied());
    for id in parents.chain(std::iter::once(head)) {
        if let Entry::Vacant(slot) = states.entry(id) {
            slot.insert(load_state(&source.commit(id)?)?);
        }
    }
    let commits: Vec<CandidateCommit> = infos
        .into_iter()
        .map(|info| {
            let evidence = evidence(&info);
            let api = api.filter(|key| key.names(&evidence));
            let identity = match (api, verification, anchor) {
                // Checked even with signature checks off: the API key
                // speaks for a token, never for the email it writes.
                (Some(key), _, _) => key.identify(&trusted, &evidence, now).map(Identity::Api),
                (None, Verification::Off, TrustAnchor::Commit(_)) => {
                    identity::claimed(&trusted, &evidence)
                        .map(|principal| Identity::Claimed { principal })
                }
                (None, _, _) => keyring.identify(&evidence, now).map(Identity::Signed),
            };
            CandidateCommit { info, identity }
        })
        .collect();
    let head_state = states.get(&head).and_then(|s| s.as_ref().ok()).cloned();
    let mut candidate = Candidate {
        head,
        commits,
        states,
        rewritten,
        now,
    };
    let policy = match anchor {
        TrustAnchor::AdminKeys(_) => Catalog::default(),
        TrustAnchor::Commit(_) => trusted.clone(),
    };
    narrow_identities(&mut candidate, &trusted, &policy, verification, api, now);
    Ok(Judged {
        judgement: judge_candidate(&trusted, &policy, idp, &candidate),
        head: head_state,
    })
}

fn evidence(info: &CommitInfo) -> CommitEvidence {
    CommitEvidence {
        id: info.id.to_string(),
        author_email: info.author_email.clone(),
        committer_email: info.committer_email.clone(),
        signature: info.signature.clone(),
        signed_data: info.signed_data.clone(),
    }
}

/// Takes away the identity of each commit that a revocation before it in
/// the range (a key revoked or removed, a user disabled or removed) no
/// longer vouches for: the same check as under the trusted policy, with
/// the policy of each narrowing state in turn.
fn narrow_identities(
    candidate: &mut Candidate,
    trusted: &Catalog,
    policy: &Catalog,
    verification: Verification,
    api: Option<&ApiKey>,
    now: i64,
) {
    let narrowing = super::narrowing(trusted, policy, candidate);
    let mut keyrings: HashMap<CommitId, Keyring> = HashMap::new();
    for (i, narrowed_by) in narrowing.iter().enumerate() {
        for id in narrowed_by {
            let Some(Ok(state)) = candidate.states.get(id) else {
                continue;
            };
            let commit = &candidate.commits[i];
            let Ok(identity) = &commit.identity else {
                break;
            };
            let evidence = evidence(&commit.info);
            let again = match (verification, identity) {
                // The token as the narrowing state lists it: removed or
                // moved to another account there, it binds at once.
                (_, Identity::Api(_)) => match api {
                    Some(key) => key
                        .identify(state, &evidence, now)
                        .map(|verified| verified.principal),
                    None => continue,
                },
                (Verification::Off, _) => identity::claimed(state, &evidence),
                (_, Identity::Signed(_)) => keyrings
                    .entry(*id)
                    .or_insert_with(|| Keyring::from_policy(state))
                    .identify(&evidence, now)
                    .map(|verified| verified.principal),
                (_, Identity::Claimed { .. }) => continue,
            };
            let still = match again {
                Ok(principal) if principal == *identity.principal() => continue,
                Ok(other) => NoIdentity::RevokedInRange {
                    commit: evidence.id.clone(),
                    revoked_in: id.short(),
                    problem: format!("it names {other}, not {}", identity.principal()),
                },
                Err(e) => NoIdentity::RevokedInRange {
                    commit: evidence.id.clone(),
                    revoked_in: id.short(),
                    problem: e.to_string(),
                },
            };
            candidate.commits[i].identity = Err(still);
        }
    }
}
