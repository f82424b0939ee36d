//! Commits the daemon writes for API calls: signed with the daemon's own
//! API key, they speak for the ServiceAccount their trailers name, through
//! one of its tokens — or for the git User their trailer names, a person
//! the daemon signed in through the identity provider — and for nobody
//! else.
//!
//! The API key is never listed in the policy: it comes from the daemon
//! config (and `lbops authorize --api-key`). A commit it signed is judged
//! only by this rule, even if someone listed the key for a User, so the
//! key is never a person's own key; and a person's key never reaches this
//! rule, so trailers in a person's commit attribute nothing to anyone.

use super::error::{shown, DisabledReason, NoIdentity};
use super::token::{caller_of, TokenCaller};
use super::{ssh, CommitEvidence, Principal};
use crate::spec::api_commit::{self, ApiTrailers, OnBehalf, RequestId};
use crate::spec::material::{parse_ssh_key, KeyError};
use crate::spec::units::canonical_email;
use crate::spec::Catalog;
use serde::Serialize;

/// The public half of the daemon's API signing key.
#[derive(Clone, Debug)]
pub struct ApiKey {
    key: ssh_key::PublicKey,
    fingerprint: String,
}

/// Why an API public key cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ApiKeyError {
    #[error("the API key is not an SSH public key: {0}; give the `.pub` line of the daemon's API signing key")]
    Unparseable(KeyError),
    #[error("the API key's algorithm cannot verify signatures here; use an Ed25519 key (`ssh-keygen -t ed25519`)")]
    Unusable,
}

/// A commit the API key signed, for a token the trusted policy lists or
/// for a User it has.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiVerified {
    /// The token's ServiceAccount, or the signed-in User.
    pub principal: Principal,
    /// How the call was made.
    pub via: ApiVia,
    pub request: RequestId,
    /// The API key's `SHA256:` fingerprint.
    pub fingerprint: String,
}

/// How an API call proved who made it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ApiVia {
    /// A token, as the trusted policy lists it: its scopes and resources
    /// narrow what the account may do.
    Token(TokenCaller),
    /// A person signed in through the identity provider: their User's
    /// roles, exactly as their own signed commits are judged.
    SignIn,
}

impl std::fmt::Display for ApiVia {
    /// `through API token 0a1b2c3d4e5f`, or `signed in through the
    /// identity provider`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiVia::Token(token) => write!(f, "through API token {}", token.id.as_str()),
            ApiVia::SignIn => f.write_str("signed in through the identity provider"),
        }
    }
}

impl ApiVerified {
    /// The token, for a call made with one.
    #[must_use]
    pub fn token(&self) -> Option<&TokenCaller> {
        match &self.via {
            ApiVia::Token(token) => Some(token),
            ApiVia::SignIn => None,
        }
    }
}

impl ApiKey {
    /// Parses an OpenSSH public key line.
    pub fn parse(line: &str) -> Result<ApiKey, ApiKeyError> {
        let parsed = parse_ssh_key(line).map_err(ApiKeyError::Unparseable)?;
        let key = parsed.key.ok_or(ApiKeyError::Unusable)?;
        Ok(ApiKey {
            key,
            fingerprint: parsed.info.fingerprint,
        })
    }

    /// The public half of a private key the daemon holds.
    #[must_use]
    pub fn of(key: &ssh_key::PublicKey) -> ApiKey {
        // A key the daemon loaded always encodes; if one did not, its
        // fingerprint would match no signature, which fails closed.
        let blob = key.to_bytes().unwrap_or_default();
        ApiKey {
            key: key.clone(),
            fingerprint: crate::spec::material::ssh_fingerprint(&blob),
        }
    }

    /// `SHA256:…`, as `ssh-keygen -lf` prints it.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Whether `commit` carries an SSH signature that names this key (not
    /// yet whether it verifies): such a commit is judged by
    /// [`ApiKey::identify`] alone.
    #[must_use]
    pub fn names(&self, commit: &CommitEvidence) -> bool {
        commit
            .signature
            .as_deref()
            .and_then(|s| ssh::parse(s).ok())
            .is_some_and(|s| s.fingerprint == self.fingerprint)
    }

    /// Who a commit signed with this key speaks for, under the trusted
    /// `policy` at `now`: the ServiceAccount its trailers name, through the
    /// token they name, which must be that account's, listed and current.
    pub fn identify(
        &self,
        policy: &Catalog,
        commit: &CommitEvidence,
        now: i64,
    ) -> Result<ApiVerified, NoIdentity> {
        let id = || commit.id.clone();
        let fingerprint = || self.fingerprint.clone();
        let Some(signature) = &commit.signature else {
            return Err(NoIdentity::Unsigned { commit: id() });
        };
        let parsed = ssh::parse(signature).map_err(|_| NoIdentity::UnreadableSignature {
            commit: id(),
            problem: "the SSH signature block does not decode",
        })?;
        if parsed.fingerprint != self.fingerprint {
            return Err(NoIdentity::UnknownKey {
                commit: id(),
                fingerprint: parsed.fingerprint,
            });
        }
        if !ssh::verify(&self.key, &parsed.sig, &commit.signed_data) {
            return Err(NoIdentity::BadSignature {
                commit: id(),
                fingerprint: fingerprint(),
            });
        }
        let trailers = ApiTrailers::from_signed(&commit.signed_data).map_err(|problem| {
            NoIdentity::ApiTrailers {
                commit: id(),
                problem,
            }
        })?;
        let ApiTrailers { on_behalf, request } = trailers;
        let speaks_for = match &on_behalf {
            OnBehalf::Token { account, .. } => Principal::ServiceAccount(account.clone()),
            OnBehalf::User { user } => Principal::User(user.clone()),
        };
        let expected_email = on_behalf.author_email();
        let is = |email: &str, wanted: &str| canonical_email(email).ok().as_deref() == Some(wanted);
        if !is(&commit.author_email, &expected_email)
            || !is(&commit.committer_email, api_commit::COMMITTER_EMAIL)
        {
            return Err(NoIdentity::ApiAuthor {
                commit: id(),
                speaks_for: speaks_for.to_string(),
                expected_email,
                author_email: shown(&commit.author_email),
                committer_email: shown(&commit.committer_email),
            });
        }
        let via = match on_behalf {
            OnBehalf::Token { account, token } => {
                ApiVia::Token(self.token_of(policy, commit, account, token, now)?)
            }
            OnBehalf::User { user } => {
                let Some(listed) = policy.users.get(user.as_str()) else {
                    return Err(NoIdentity::ApiUnknownUser { commit: id(), user });
                };
                if listed.spec.disabled {
                    return Err(NoIdentity::Disabled {
                        commit: id(),
                        key_owner: speaks_for,
                        why: DisabledReason::UserDisabled,
                    });
                }
                ApiVia::SignIn
            }
        };
        Ok(ApiVerified {
            principal: speaks_for,
            via,
            request,
            fingerprint: fingerprint(),
        })
    }

    /// The token of `account` that a commit for it names, as `policy`
    /// lists it: the account's, current, and its owner able to act.
    fn token_of(
        &self,
        policy: &Catalog,
        commit: &CommitEvidence,
        account: crate::spec::units::Name,
        token: crate::spec::material::api_token::TokenId,
        now: i64,
    ) -> Result<TokenCaller, NoIdentity> {
        let id = || commit.id.clone();
        let Some(listed) = policy.service_accounts.get(account.as_str()) else {
            return Err(NoIdentity::ApiUnknownAccount {
                commit: id(),
                account,
            });
        };
        let holder = policy.service_accounts.values().find_map(|a| {
            a.spec
                .tokens
                .iter()
                .find(|t| t.id.as_ref().is_some_and(|i| i.value == token.as_str()))
                .map(|entry| (a, entry))
        });
        let entry = match holder {
            None => {
                return Err(NoIdentity::ApiTokenUnknown {
                    commit: id(),
                    account,
                    token: token.to_string(),
                })
            }
            Some((holder, _)) if holder.name != account => {
                return Err(NoIdentity::ApiTokenOfAnotherAccount {
                    commit: id(),
                    account,
                    token: token.to_string(),
                    holder: holder.name.clone(),
                })
            }
            Some((_, entry)) => entry,
        };
        let expired_at = entry.expires.value.unix();
        if expired_at <= now {
            return Err(NoIdentity::ApiTokenExpired {
                commit: id(),
                account,
                token: token.to_string(),
                expired_at,
            });
        }
        let owner = &listed.spec.owner.value;
        if let Some(why) = DisabledReason::of_owner(policy, owner) {
            return Err(NoIdentity::Disabled {
                commit: id(),
                key_owner: Principal::ServiceAccount(account),
                why,
            });
        }
        Ok(caller_of(&account, &token, entry))
    }
}
