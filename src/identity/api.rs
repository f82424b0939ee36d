//! Commits the daemon writes for API calls: signed with the daemon's own
//! API key, they speak for the ServiceAccount their trailers name, through
//! one of its tokens, and for nobody else.
//!
//! The API key is never listed in the policy: it comes from the daemon
//! config (and `lbops authorize --api-key`). A commit it signed is judged
//! only by this rule, even if someone listed the key for a User, so the
//! key can never act as a person; and a person's key never reaches this
//! rule, so trailers in a person's commit attribute nothing to an account.

use super::error::{shown, DisabledReason, NoIdentity};
use super::token::{caller_of, TokenCaller};
use super::{ssh, CommitEvidence, Principal};
use crate::spec::api_commit::{self, ApiTrailers, RequestId};
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

/// A commit the API key signed, for a token the trusted policy lists.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ApiVerified {
    /// Always the token's ServiceAccount.
    pub principal: Principal,
    /// The token, as the trusted policy lists it: its scopes and resources
    /// narrow what the account may do.
    pub token: TokenCaller,
    pub request: RequestId,
    /// The API key's `SHA256:` fingerprint.
    pub fingerprint: String,
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
        let ApiTrailers {
            account,
            token,
            request,
        } = trailers;
        let expected = api_commit::author_email(&account);
        let is = |email: &str, wanted: &str| canonical_email(email).ok().as_deref() == Some(wanted);
        if !is(&commit.author_email, &expected)
            || !is(&commit.committer_email, api_commit::COMMITTER_EMAIL)
        {
            return Err(NoIdentity::ApiAuthor {
                commit: id(),
                account,
                author_email: shown(&commit.author_email),
                committer_email: shown(&commit.committer_email),
            });
        }
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
        let principal = Principal::ServiceAccount(account.clone());
        let owner = &listed.spec.owner.value;
        let cannot_act = DisabledReason::of_owner(policy, owner);
        if let Some(why) = cannot_act {
            return Err(NoIdentity::Disabled {
                commit: id(),
                key_owner: principal,
                why,
            });
        }
        Ok(ApiVerified {
            principal,
            token: caller_of(&account, &token, entry),
            request,
            fingerprint: fingerprint(),
        })
    }
}
