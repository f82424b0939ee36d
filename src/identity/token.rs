//! Who presents an API token: the ServiceAccount whose entry holds the
//! token's id and hash, if the token is well formed, its secret matches
//! and it has not expired. What the caller may then do is authz's
//! question ([`crate::authz::authorize_token`]): the account's roles,
//! narrowed by the token's scopes and resources.
//!
//! A token removed from git is unknown at once: the policy is the trusted
//! catalog, so revoking is deleting the entry in a signed commit.

use super::Principal;
use crate::spec::kinds::access::Token;
use crate::spec::material::api_token::{ApiToken, TokenFormatError, TokenId};
use crate::spec::material::parse_token_hash;
use crate::spec::units::Name;
use crate::spec::Catalog;
use serde::Serialize;

/// A caller whose token checked out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenCaller {
    /// The ServiceAccount the token acts as.
    pub account: Name,
    /// The token's public id: what logs and audit records name.
    #[serde(serialize_with = "id_text")]
    pub id: TokenId,
    /// The entry's name in the account's `tokens`.
    pub name: Name,
    /// Action patterns the token is limited to; empty: no limit.
    pub scopes: Vec<String>,
    /// Resource patterns the token is limited to; empty: no limit.
    pub resources: Vec<String>,
}

fn id_text<S: serde::Serializer>(id: &TokenId, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(id.as_str())
}

impl TokenCaller {
    #[must_use]
    pub fn principal(&self) -> Principal {
        Principal::ServiceAccount(self.account.clone())
    }
}

/// Why a presented token identifies nobody. None of these carries the
/// token or its secret; the id is public.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefused {
    #[error("not an lbops token: {0}")]
    Malformed(TokenFormatError),
    #[error("token {0} is not in the trusted policy (never issued, or removed)")]
    UnknownId(TokenId),
    #[error("token {0}: the secret does not match")]
    WrongSecret(TokenId),
    #[error("token {id} expired at unix time {expired_at}")]
    Expired { id: TokenId, expired_at: i64 },
}

impl TokenRefused {
    /// The token's id, when the token named one the caller may be told about.
    #[must_use]
    pub fn id(&self) -> Option<&TokenId> {
        match self {
            TokenRefused::Malformed(_) => None,
            TokenRefused::UnknownId(id)
            | TokenRefused::WrongSecret(id)
            | TokenRefused::Expired { id, .. } => Some(id),
        }
    }
}

/// The caller `presented` (the whole token) identifies under `policy` at
/// `now` (unix seconds). The secret is compared in constant time with the
/// one stored hash its id names; no other entry is tried.
pub fn authenticate(
    policy: &Catalog,
    presented: &str,
    now: i64,
) -> Result<TokenCaller, TokenRefused> {
    let token = ApiToken::parse(presented).map_err(TokenRefused::Malformed)?;
    let id = token.id();
    let found = policy.service_accounts.values().find_map(|account| {
        account
            .spec
            .tokens
            .iter()
            .find(|t| t.id.as_ref().is_some_and(|i| i.value == id.as_str()))
            .map(|entry| (account, entry))
    });
    let Some((account, entry)) = found else {
        return Err(TokenRefused::UnknownId(id.clone()));
    };
    let matches = parse_token_hash(&entry.hash.value).is_ok_and(|hash| token.matches(&hash));
    if !matches {
        return Err(TokenRefused::WrongSecret(id.clone()));
    }
    let expired_at = entry.expires.value.unix();
    if expired_at <= now {
        return Err(TokenRefused::Expired {
            id: id.clone(),
            expired_at,
        });
    }
    Ok(caller_of(&account.name, id, entry))
}

/// The token `caller` holds, as `policy` lists it for the same account,
/// if it does; neither secret nor expiry is checked. For judging a caller
/// already identified under a policy a later one narrows.
#[must_use]
pub fn listed(policy: &Catalog, caller: &TokenCaller) -> Option<TokenCaller> {
    let account = policy.service_accounts.get(caller.account.as_str())?;
    account
        .spec
        .tokens
        .iter()
        .find(|t| t.id.as_ref().is_some_and(|i| i.value == caller.id.as_str()))
        .map(|entry| caller_of(&account.name, &caller.id, entry))
}

/// The caller a token entry of `account` stands for.
pub(super) fn caller_of(account: &Name, id: &TokenId, entry: &Token) -> TokenCaller {
    TokenCaller {
        account: account.clone(),
        id: id.clone(),
        name: entry.name.value.clone(),
        scopes: entry.scopes.iter().map(|s| s.value.clone()).collect(),
        resources: entry.resources.iter().map(|r| r.value.clone()).collect(),
    }
}
