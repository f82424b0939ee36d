//! What the identity provider takes away from the principals of a git
//! policy (pure): deprovisioned people, and the IdP groups a person is in
//! for the Role rules that require one.
//!
//! The identity provider can only take away. Nothing here grants: a
//! principal the policy does not name, or names without a role, gets
//! nothing from the directory; a rule requiring a group still needs the
//! role from git. Nothing is kept besides the [`DirectoryView`] either,
//! so a re-activated person has again exactly what git grants.

use super::scim::Stamp;
use super::{DirectoryView, IdpUser, Standing};
use crate::identity::Principal;
use crate::spec::units::Name;
use crate::spec::Catalog;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// What the daemon knows from the identity provider, as the checks use
/// it. Copy: it borrows the view the caller holds for one decision.
#[derive(Clone, Copy, Debug)]
pub enum Idp<'a> {
    /// No identity provider pushes to this daemon (no `scim:` section):
    /// nobody is deprovisioned by it, and nobody is in an IdP group, so
    /// a rule requiring one never fits (fail closed).
    Absent,
    /// The SCIM directory as of one change.
    Pushed {
        view: &'a DirectoryView,
        /// A git User no IdP account answers to is deprovisioned
        /// (`idp.require_known_users`).
        require_known_users: bool,
    },
}

/// A git User the identity provider took access away from, and how.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deprovisioned {
    /// The git User (for a ServiceAccount: its owner).
    pub user: Name,
    #[serde(flatten)]
    pub cause: Cause,
}

/// Why the identity provider took a person's access.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "cause", rename_all = "snake_case")]
pub enum Cause {
    /// The IdP set `active: false` on the account.
    Deactivated { account: String, event: Stamp },
    /// The IdP deleted the account.
    Deleted { account: String, event: Stamp },
    /// No IdP account has any of the User's emails, and the daemon config
    /// requires every git User to exist in the identity provider.
    Unknown,
}

impl Deprovisioned {
    /// The directory change that took the access, when one did (none for
    /// a person the directory never knew).
    #[must_use]
    pub fn event(&self) -> Option<Stamp> {
        match &self.cause {
            Cause::Deactivated { event, .. } | Cause::Deleted { event, .. } => Some(*event),
            Cause::Unknown => None,
        }
    }

    /// The short form, for a commit status (140 characters in all):
    /// `deprovisioned by the identity provider at T (SCIM event N)`.
    #[must_use]
    pub fn headline(&self) -> String {
        match self.event() {
            Some(event) => format!(
                "deprovisioned by the identity provider at {} (SCIM event {})",
                utc(event.at),
                event.seq
            ),
            None => "unknown to the identity provider (idp.require_known_users)".to_owned(),
        }
    }

    /// A stable machine-readable code, for API errors and audit records.
    #[must_use]
    pub fn code(&self) -> &'static str {
        "deprovisioned"
    }
}

impl fmt::Display for Deprovisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let user = &self.user;
        match &self.cause {
            Cause::Deactivated { account, event } => write!(
                f,
                "user/{user} was deprovisioned by the identity provider at {} (SCIM event {}: \
                 account {account} deactivated); they get back what git grants once the \
                 identity provider re-activates them",
                utc(event.at),
                event.seq
            ),
            Cause::Deleted { account, event } => write!(
                f,
                "user/{user} was deprovisioned by the identity provider at {} (SCIM event {}: \
                 account {account} deleted); they get back what git grants once the identity \
                 provider provisions them again",
                utc(event.at),
                event.seq
            ),
            Cause::Unknown => write!(
                f,
                "user/{user} is deprovisioned: no identity provider account has any of their \
                 emails, and the daemon config requires one (`idp.require_known_users`); \
                 provision them in the identity provider, or add the email it knows them by \
                 to their User"
            ),
        }
    }
}

impl std::error::Error for Deprovisioned {}

/// Unix seconds as `2026-01-02T03:04:05Z`.
fn utc(unix: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(format).ok())
        .unwrap_or_else(|| unix.to_string())
}

/// Whether the identity provider lets `principal` act: a User as their
/// IdP account stands, a ServiceAccount as its owner does (an account
/// speaks for the person answerable for it). The principal's roles are
/// the policy's business ([`crate::authz`]); this only takes away.
pub fn standing_of(
    idp: Idp<'_>,
    policy: &Catalog,
    principal: &Principal,
) -> Result<(), Deprovisioned> {
    match person_of(policy, principal) {
        Some(user) => user_standing(idp, policy, user.as_str()),
        None => Ok(()),
    }
}

/// The git User whose IdP standing and groups count for `principal`.
fn person_of(policy: &Catalog, principal: &Principal) -> Option<Name> {
    match principal {
        Principal::User(name) => Some(name.clone()),
        Principal::ServiceAccount(name) => policy
            .service_accounts
            .get(name.as_str())
            .map(|account| account.spec.owner.value.clone()),
        // Trusted by the daemon config before any policy, not by the IdP.
        Principal::BootstrapAdmin { .. } => None,
    }
}

/// The IdP account that stands for git User `user`: among the accounts
/// answering to any of its emails, the one with the least access (as
/// [`DirectoryView::user_by_email`] picks per email), so that a second,
/// still active account cannot outvote a deactivation.
fn account_of<'v>(view: &'v DirectoryView, policy: &Catalog, user: &str) -> Option<&'v IdpUser> {
    let spec = &policy.users.get(user)?.spec;
    spec.emails
        .iter()
        .filter_map(|email| view.user_by_email(&email.value))
        .min_by_key(|account| (account.standing, std::cmp::Reverse(account.changed.seq)))
}

/// Whether the identity provider lets git User `user` act; a name the
/// policy does not hold is the policy's business, not the IdP's.
pub fn user_standing(idp: Idp<'_>, policy: &Catalog, user: &str) -> Result<(), Deprovisioned> {
    let Idp::Pushed {
        view,
        require_known_users,
    } = idp
    else {
        return Ok(());
    };
    let Some(name) = policy.users.get(user).map(|u| u.name.clone()) else {
        return Ok(());
    };
    let cause = match account_of(view, policy, user) {
        Some(account) => match account.standing {
            Standing::Active => return Ok(()),
            Standing::Deactivated => Cause::Deactivated {
                account: account.user_name.clone(),
                event: account.changed,
            },
            Standing::Deleted => Cause::Deleted {
                account: account.user_name.clone(),
                event: account.changed,
            },
        },
        None if require_known_users => Cause::Unknown,
        None => return Ok(()),
    };
    Err(Deprovisioned { user: name, cause })
}

/// Every git User of `policy` the identity provider deprovisioned, in
/// name order: what the pages mark and the alerts tell.
#[must_use]
pub fn deprovisioned_users(idp: Idp<'_>, policy: &Catalog) -> Vec<Deprovisioned> {
    policy
        .users
        .keys()
        .filter_map(|name| user_standing(idp, policy, name.as_str()).err())
        .collect()
}

/// How a git User's standing with the identity provider changed between
/// two looks: what the daemon alerts on and records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "change", rename_all = "snake_case")]
pub enum StandingChange {
    /// Newly deprovisioned, or deprovisioned again by another event (a
    /// deactivated person then deleted).
    Deprovisioned(Deprovisioned),
    /// No longer deprovisioned: they have again what git grants.
    Restored { user: Name },
}

/// What changed from `before` to `after` (both as
/// [`deprovisioned_users`] gives them), in user name order.
#[must_use]
pub fn standing_changes(before: &[Deprovisioned], after: &[Deprovisioned]) -> Vec<StandingChange> {
    let newly = after
        .iter()
        .filter(|d| !before.contains(d))
        .map(|d| (d.user.clone(), StandingChange::Deprovisioned(d.clone())));
    let restored = before
        .iter()
        .filter(|b| !after.iter().any(|a| a.user == b.user))
        .map(|b| {
            let user = b.user.clone();
            (user.clone(), StandingChange::Restored { user })
        });
    let mut changes: Vec<(Name, StandingChange)> = newly.chain(restored).collect();
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    changes.into_iter().map(|(_, c)| c).collect()
}

/// The IdP groups a principal is in, for rules that require one.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct IdpGroups(BTreeSet<String>);

impl IdpGroups {
    /// Whether every group in `required` is held (by display name, as the
    /// identity provider names it, in any case).
    #[must_use]
    pub fn hold_all<'r>(&self, mut required: impl Iterator<Item = &'r str>) -> bool {
        required.all(|group| self.0.contains(&group.to_lowercase()))
    }

    /// The groups, as lower-case names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

/// The IdP groups `principal` is in (a ServiceAccount: its owner's): the
/// directory's, for an active IdP account only; `claimed` adds the groups
/// of a sign-in token (OIDC `groups` claim) for a person the directory
/// does not know — where it knows them, its last push wins, so that a
/// removal takes effect before the token expires. Without any directory
/// and without a claim, none: a rule requiring a group never fits.
#[must_use]
pub fn groups_of(
    idp: Idp<'_>,
    policy: &Catalog,
    principal: &Principal,
    claimed: &[String],
) -> IdpGroups {
    let lower = |names: &mut dyn Iterator<Item = &str>| -> IdpGroups {
        IdpGroups(names.map(str::to_lowercase).collect())
    };
    let Some(user) = person_of(policy, principal) else {
        return IdpGroups::default();
    };
    if standing_of(idp, policy, principal).is_err() {
        return IdpGroups::default();
    }
    let account = match idp {
        Idp::Pushed { view, .. } => account_of(view, policy, user.as_str()).map(|a| (view, a)),
        Idp::Absent => None,
    };
    match account {
        Some((view, account)) => {
            lower(&mut view.groups_of(account).map(|g| g.display_name.as_str()))
        }
        None => lower(&mut claimed.iter().map(String::as_str)),
    }
}

#[cfg(test)]
mod tests;
