//! Who a verified person is in git. The identity provider proves who
//! they are; git says what they may do. A person is the git `User` whose
//! `emails` list their *verified* email (`email_verified: true`), or
//! whose name is the value of a configured claim — or nobody, and then
//! they get nothing (a page viewer at most, when the config allows
//! viewers). A `disabled` User is nobody too, and so is one the directory
//! (SCIM) deactivated or deleted: the provider can take access away.

use super::IdClaims;
use crate::spec::units::{canonical_email, Name};
use crate::spec::Catalog;
use serde_json::Value;

/// How a person's claims name a git User.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mapping {
    /// The `email` claim, only with `email_verified: true`, against the
    /// Users' `emails`.
    VerifiedEmail,
    /// The claim of this name (e.g. `preferred_username`, or `sub`) is
    /// the User's name.
    Claim(String),
}

/// A person the identity provider vouched for, mapped or not.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// The provider's `sub`.
    pub subject: String,
    /// Their email, when the provider says it is verified.
    pub email: Option<String>,
    /// The value of the mapping claim, as sent (for messages).
    pub claimed: Option<String>,
    /// The token's `groups` claim: the IdP groups it says the person is
    /// in, as the checks use them where the SCIM directory does not know
    /// the person ([`crate::idp::groups_of`]). At most [`MAX_GROUPS`].
    pub groups: Vec<String>,
}

/// The most groups taken from a token's `groups` claim, and the longest
/// name: a token is bounded already, this keeps a session small.
pub const MAX_GROUPS: usize = 100;
pub const MAX_GROUP_LEN: usize = 256;

impl Person {
    /// The person `claims` describe, as `mapping` reads them.
    #[must_use]
    pub fn of(claims: &IdClaims, mapping: &Mapping) -> Person {
        let verified = claims.all.get("email_verified") == Some(&Value::Bool(true));
        let email = claims
            .all
            .get("email")
            .and_then(Value::as_str)
            .filter(|_| verified)
            .and_then(|e| canonical_email(e).ok());
        let claimed = match mapping {
            Mapping::VerifiedEmail => email.clone(),
            Mapping::Claim(name) => claims
                .all
                .get(name)
                .and_then(Value::as_str)
                .map(|v| v.chars().take(255).collect()),
        };
        let groups = claims
            .all
            .get("groups")
            .and_then(Value::as_array)
            .map(|names| {
                names
                    .iter()
                    .filter_map(Value::as_str)
                    .filter(|name| !name.is_empty() && name.len() <= MAX_GROUP_LEN)
                    .take(MAX_GROUPS)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Person {
            subject: claims.subject.clone(),
            email,
            claimed,
            groups,
        }
    }

    /// How the person is named in logs and pages: the claim lbops maps
    /// by, else the provider's subject.
    #[must_use]
    pub fn shown(&self) -> &str {
        self.claimed.as_deref().unwrap_or(&self.subject)
    }
}

/// Why a person is nobody in git.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NotInGit {
    #[error("the identity provider did not send a verified email (`email` with `email_verified: true`); ask an admin to map by another claim (`oidc.map_by`)")]
    NoVerifiedEmail,
    #[error("the identity provider did not send the `{0}` claim lbops maps people by; add it to the client's claims or scopes")]
    NoClaim(String),
    #[error(
        "no User in git answers to `{0}`; ask an admin to add you to the access policy in git"
    )]
    NoUser(String),
    #[error("User {0} is disabled in git")]
    Disabled(Name),
    #[error("{0}")]
    Deprovisioned(Box<crate::idp::Deprovisioned>),
}

impl NotInGit {
    /// A stable code for logs, audit records and API errors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            NotInGit::NoVerifiedEmail => "oidc_no_verified_email",
            NotInGit::NoClaim(_) => "oidc_no_mapping_claim",
            NotInGit::NoUser(_) => "oidc_no_git_user",
            NotInGit::Disabled(_) => "oidc_user_disabled",
            NotInGit::Deprovisioned(_) => "deprovisioned",
        }
    }
}

/// The git User `person` is under `policy` (the trusted one), refusing a
/// disabled User and one the identity provider deprovisioned
/// ([`crate::idp::user_standing`]).
pub fn to_user(
    policy: &Catalog,
    person: &Person,
    mapping: &Mapping,
    idp: crate::idp::Idp<'_>,
) -> Result<Name, NotInGit> {
    let claimed = person.claimed.as_deref().ok_or_else(|| match mapping {
        Mapping::VerifiedEmail => NotInGit::NoVerifiedEmail,
        Mapping::Claim(name) => NotInGit::NoClaim(name.clone()),
    })?;
    let user = match mapping {
        Mapping::VerifiedEmail => policy.users.values().find(|u| {
            u.spec
                .emails
                .iter()
                .any(|e| canonical_email(&e.value).ok().as_deref() == Some(claimed))
        }),
        Mapping::Claim(_) => policy.users.get(claimed),
    }
    .ok_or_else(|| NotInGit::NoUser(claimed.to_owned()))?;
    if user.spec.disabled {
        return Err(NotInGit::Disabled(user.name.clone()));
    }
    crate::idp::user_standing(idp, policy, user.name.as_str())
        .map_err(|d| NotInGit::Deprovisioned(Box::new(d)))?;
    Ok(user.name.clone())
}
