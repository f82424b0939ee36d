//! Why a commit identifies nobody, and why a bootstrap key is unusable.
//!
//! Every message says what to do. None echoes signature or key material;
//! the only commit-supplied texts shown (emails, an SSH namespace) pass
//! through [`shown`] first.

use super::Principal;
use crate::spec::api_commit::TrailerProblem;
use crate::spec::material::KeyError;
use crate::spec::units::Name;
use serde::Serialize;
use std::fmt;
use thiserror::Error;

/// Whether a key's status comes from the policy (`revoked:` / `expires:`
/// on the signing key) or from the OpenPGP key itself (its own expiry or a
/// revocation signature its owner published).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyStatusSource {
    /// The signing key's entry in the trusted policy.
    Policy,
    /// The OpenPGP key's own self-signatures.
    OpenPgpKey,
}

impl fmt::Display for KeyStatusSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeyStatusSource::Policy => "in the trusted policy",
            KeyStatusSource::OpenPgpKey => "by the OpenPGP key itself",
        })
    }
}

/// Why the principal a key belongs to cannot act.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DisabledReason {
    /// The User has `disabled: true`.
    UserDisabled,
    /// The ServiceAccount's owner has `disabled: true`.
    OwnerDisabled { owner: Name },
    /// The ServiceAccount's owner is not a User of the policy.
    OwnerMissing { owner: Name },
}

impl DisabledReason {
    /// Why a ServiceAccount owned by `owner` cannot act under `policy`:
    /// its owner is missing or disabled; `None` when it can.
    #[must_use]
    pub fn of_owner(policy: &crate::spec::Catalog, owner: &Name) -> Option<DisabledReason> {
        match policy.users.get(owner.as_str()) {
            None => Some(DisabledReason::OwnerMissing {
                owner: owner.clone(),
            }),
            Some(u) if u.spec.disabled => Some(DisabledReason::OwnerDisabled {
                owner: owner.clone(),
            }),
            Some(_) => None,
        }
    }
}

impl fmt::Display for DisabledReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisabledReason::UserDisabled => f.write_str(
                "the user is disabled in the trusted policy; an administrator must re-enable \
                 them (remove `disabled: true`) before their commits count",
            ),
            DisabledReason::OwnerDisabled { owner } => write!(
                f,
                "its owner user/{owner} is disabled; hand the account to an active User"
            ),
            DisabledReason::OwnerMissing { owner } => write!(
                f,
                "its owner user/{owner} is not in the trusted policy; hand the account to an \
                 existing User"
            ),
        }
    }
}

/// Why a commit identifies nobody. Each variant is one reason; see
/// [`NoIdentity::reason_code`] for a stable machine-readable name.
#[derive(Clone, Debug, PartialEq, Eq, Error, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum NoIdentity {
    #[error(
        "commit {commit} is not signed: sign your commits (`git config commit.gpgsign true` \
         with an SSH key via `gpg.format=ssh` or with gpg) using a key listed for you in the \
         policy, then amend and push again"
    )]
    Unsigned { commit: String },

    #[error(
        "the signature of commit {commit} cannot be read ({problem}): sign it again with \
         `git commit --amend -S` (SSH via `gpg.format=ssh`, or gpg) and push"
    )]
    UnreadableSignature {
        commit: String,
        problem: &'static str,
    },

    #[error(
        "commit {commit} carries an SSH signature for namespace `{namespace}`, not `git`: a \
         signature made for another purpose does not sign a commit; sign it with \
         `git commit --amend -S` and `gpg.format=ssh`"
    )]
    WrongNamespace { commit: String, namespace: String },

    #[error(
        "commit {commit} is signed with the weak algorithm {algorithm}: configure your tool for \
         SHA-256 or better (gpg: `personal-digest-preferences SHA512` in gpg.conf and no \
         `digest-algo SHA1`; SSH: a current ssh-keygen signs RSA with rsa-sha2-512) and sign again"
    )]
    WeakAlgorithm { commit: String, algorithm: String },

    #[error(
        "commit {commit} is signed by key {fingerprint}, which the trusted policy does not list \
         for anyone: add your public key under `signing_keys` of your User (an administrator \
         must apply that first), or sign with a key that is listed"
    )]
    UnknownKey { commit: String, fingerprint: String },

    #[error(
        "the signature of commit {commit} does not verify with key {fingerprint}: the commit was \
         changed after signing or the signature was copied from another commit; sign it again \
         with `git commit --amend -S`"
    )]
    BadSignature { commit: String, fingerprint: String },

    #[error(
        "commit {commit} is signed by key {fingerprint} of {key_owner}, which is revoked \
         {status_from}: sign with a current key listed for you"
    )]
    KeyRevoked {
        commit: String,
        fingerprint: String,
        key_owner: Principal,
        status_from: KeyStatusSource,
    },

    #[error(
        "commit {commit} is signed by key {fingerprint} of {key_owner}, which expired at unix \
         time {expired_at} {status_from}: signatures are judged when the commit arrives (its date is \
         chosen by the signer), so list a new key or extend `expires`, then sign again"
    )]
    KeyExpired {
        commit: String,
        fingerprint: String,
        key_owner: Principal,
        expired_at: i64,
        status_from: KeyStatusSource,
    },

    #[error(
        "commit {commit} is signed by key {fingerprint} of {key_owner}, but its author email \
         `{author_email}` is not one of theirs: commit as yourself (`git config user.email`) with \
         your own key, or add the email to {key_owner} in the policy"
    )]
    KeyOfAnotherPrincipal {
        commit: String,
        fingerprint: String,
        key_owner: Principal,
        author_email: String,
    },

    #[error(
        "commit {commit} by {principal} was committed as `{committer_email}`, which is not an \
         email of {principal}: the signer must be author and committer both, so commit with \
         your own email (`git config user.email`) and sign again, or add the email to {principal}"
    )]
    CommitterNotAllowed {
        commit: String,
        principal: Principal,
        committer_email: String,
    },

    #[error("commit {commit} is signed by a key of {key_owner}, which cannot act: {why}")]
    Disabled {
        commit: String,
        key_owner: Principal,
        why: DisabledReason,
    },

    #[error(
        "commit {commit} is signed by key {fingerprint}, which the policy lists for several \
         principals ({}): a key must identify one principal; remove it from all but one",
        list(holders)
    )]
    AmbiguousKey {
        commit: String,
        fingerprint: String,
        holders: Vec<Principal>,
    },

    #[error(
        "signature checks are off in the daemon config, and no User or ServiceAccount of the \
         trusted policy has the author email `{author_email}` of commit {commit}: commit with an \
         email the policy lists"
    )]
    UnknownAuthor {
        commit: String,
        author_email: String,
    },

    #[error(
        "commit {commit} identified its author under the trusted policy, but commit {revoked_in} \
         before it in this push took that away ({problem}): a revocation binds the commits \
         stacked on it at once, before it is applied"
    )]
    RevokedInRange {
        commit: String,
        revoked_in: String,
        problem: String,
    },

    #[error(
        "commit {commit} is signed with the daemon's API key, but {problem}: only the daemon \
         writes such commits, with `Lbops-Service-Account` and `Lbops-Token` (or `Lbops-User`) \
         and `Lbops-Request` trailers; make the change through the API again, or as a signed \
         commit of your own"
    )]
    ApiTrailers {
        commit: String,
        problem: TrailerProblem,
    },

    #[error(
        "commit {commit} is signed with the daemon's API key for {speaks_for}, but its author \
         `{author_email}` or committer `{committer_email}` is not the form the API writes \
         (`{expected_email}`, committed by `api@lbops.invalid`): make the change through the \
         API again"
    )]
    ApiAuthor {
        commit: String,
        /// `serviceaccount/NAME` or `user/NAME`.
        speaks_for: String,
        expected_email: String,
        author_email: String,
        committer_email: String,
    },

    #[error(
        "commit {commit} is signed with the daemon's API key for user/{user}, a person signed in \
         through the identity provider, whom the trusted policy does not have: the User was \
         removed (or never applied); a person's API calls need their User in git"
    )]
    ApiUnknownUser { commit: String, user: Name },

    #[error(
        "commit {commit} is signed with the daemon's API key for serviceaccount/{account}, which \
         the trusted policy does not have: the account was removed (or never applied); add it \
         back in a signed commit, then call the API again"
    )]
    ApiUnknownAccount { commit: String, account: Name },

    #[error(
        "commit {commit} is signed with the daemon's API key for token {token} of \
         serviceaccount/{account}, which the trusted policy does not list (never issued, or \
         removed): issue a new token with `lbops token create` and call the API again"
    )]
    ApiTokenUnknown {
        commit: String,
        account: Name,
        token: String,
    },

    #[error(
        "commit {commit} is signed with the daemon's API key for serviceaccount/{account}, but \
         its token {token} belongs to serviceaccount/{holder}: a token acts only as its own \
         account; call the API with a token of {account}"
    )]
    ApiTokenOfAnotherAccount {
        commit: String,
        account: Name,
        token: String,
        holder: Name,
    },

    #[error(
        "commit {commit} is signed with the daemon's API key for token {token} of \
         serviceaccount/{account}, which expired at unix time {expired_at} in the trusted \
         policy: tokens are judged when the commit arrives; issue a new token (`lbops token \
         create`) and call the API again"
    )]
    ApiTokenExpired {
        commit: String,
        account: Name,
        token: String,
        expired_at: i64,
    },
}

fn list(holders: &[Principal]) -> String {
    holders
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl NoIdentity {
    /// A stable snake_case name for the reason, as in the JSON `reason` field.
    #[must_use]
    pub fn reason_code(&self) -> &'static str {
        match self {
            NoIdentity::Unsigned { .. } => "unsigned",
            NoIdentity::UnknownAuthor { .. } => "unknown_author",
            NoIdentity::UnreadableSignature { .. } => "unreadable_signature",
            NoIdentity::WrongNamespace { .. } => "wrong_namespace",
            NoIdentity::WeakAlgorithm { .. } => "weak_algorithm",
            NoIdentity::UnknownKey { .. } => "unknown_key",
            NoIdentity::BadSignature { .. } => "bad_signature",
            NoIdentity::KeyRevoked { .. } => "key_revoked",
            NoIdentity::KeyExpired { .. } => "key_expired",
            NoIdentity::KeyOfAnotherPrincipal { .. } => "key_of_another_principal",
            NoIdentity::CommitterNotAllowed { .. } => "committer_not_allowed",
            NoIdentity::Disabled { .. } => "disabled",
            NoIdentity::AmbiguousKey { .. } => "ambiguous_key",
            NoIdentity::RevokedInRange { .. } => "revoked_in_range",
            NoIdentity::ApiTrailers { .. } => "api_trailers",
            NoIdentity::ApiAuthor { .. } => "api_author",
            NoIdentity::ApiUnknownAccount { .. } => "api_unknown_account",
            NoIdentity::ApiUnknownUser { .. } => "api_unknown_user",
            NoIdentity::ApiTokenUnknown { .. } => "api_token_unknown",
            NoIdentity::ApiTokenOfAnotherAccount { .. } => "api_token_of_another_account",
            NoIdentity::ApiTokenExpired { .. } => "api_token_expired",
        }
    }
}

/// A bootstrap admin key from the daemon config that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum BootstrapKeyError {
    #[error(
        "bootstrap admin key #{index} (counting from 1): {error}; fix `admin_keys` in the daemon \
         config"
    )]
    Unparseable { index: usize, error: KeyError },
    #[error(
        "bootstrap admin key #{index} (counting from 1) cannot verify signatures: {problem}; list \
         an Ed25519, RSA or ECDSA key in `admin_keys` of the daemon config"
    )]
    Unusable { index: usize, problem: &'static str },
}

/// `text` itself when it is short and plain enough to show, else `(not shown)`.
/// Used for the few commit-supplied strings a message repeats.
pub(super) fn shown(text: &str) -> String {
    let plain = !text.is_empty()
        && text.len() <= 254
        && text.chars().all(|c| !c.is_control() && !c.is_whitespace());
    if plain && !crate::spec::material::looks_like_secret(text) {
        text.to_owned()
    } else {
        "(not shown)".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reason_code_is_the_serialized_tag() {
        let e = NoIdentity::KeyOfAnotherPrincipal {
            commit: "abc".into(),
            fingerprint: "SHA256:x".into(),
            key_owner: Principal::User("alice".parse().unwrap()),
            author_email: "bob@example.test".into(),
        };
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["reason"], e.reason_code());
        let u = NoIdentity::Unsigned {
            commit: "abc".into(),
        };
        assert_eq!(serde_json::to_value(&u).unwrap()["reason"], "unsigned");
    }

    #[test]
    fn odd_commit_text_is_not_shown() {
        assert_eq!(shown("a@b.test"), "a@b.test");
        assert_eq!(shown("a\nb"), "(not shown)");
        assert_eq!(shown(""), "(not shown)");
    }
}
