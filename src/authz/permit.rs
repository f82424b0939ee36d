//! The two answers of authorization: [`Permit`], proof of which rule
//! allowed a change, and [`Denied`], which says what was missing and who
//! holds it.

use super::change::action_name;
use crate::identity::Principal;
use crate::spec::actions::Action;
use crate::spec::kinds::{Labels, ResourceId};
use crate::spec::units::Name;
use serde::Serialize;
use std::fmt;

/// Proof that a principal may make a change. Only `authz` makes these, so
/// code that holds one knows the change was judged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[must_use]
pub struct Permit {
    principal: Principal,
    #[serde(serialize_with = "action_name")]
    action: &'static Action,
    resource: Option<ResourceId>,
    grant: Grant,
}

impl Permit {
    pub(super) fn new(
        principal: &Principal,
        action: &'static Action,
        resource: Option<&ResourceId>,
        grant: Grant,
    ) -> Self {
        Self {
            principal: principal.clone(),
            action,
            resource: resource.cloned(),
            grant,
        }
    }

    #[must_use]
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    #[must_use]
    pub fn action(&self) -> &'static Action {
        self.action
    }

    #[must_use]
    pub fn resource(&self) -> Option<&ResourceId> {
        self.resource.as_ref()
    }

    /// The rule (or the bootstrap trust) that allowed the change.
    #[must_use]
    pub fn grant(&self) -> &Grant {
        &self.grant
    }
}

impl fmt::Display for Permit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} may {}", self.principal, self.action.name)?;
        if let Some(id) = &self.resource {
            write!(f, " on {id}")?;
        }
        match &self.grant {
            Grant::Rule { role, rule, via } => {
                write!(f, ": rule {} of role {role}{via}", rule + 1)
            }
            Grant::Bootstrap => f.write_str(": bootstrap trust"),
        }
    }
}

/// What allowed a change.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Grant {
    /// Rule `rule` (counted from 0) of `role`, which the principal holds `via`.
    Rule { role: Name, rule: usize, via: Via },
    /// The daemon config's bootstrap trust, which allows everything.
    Bootstrap,
}

/// How a principal holds a role.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "via", content = "name", rename_all = "snake_case")]
pub enum Via {
    /// Listed in the User's own `roles`.
    Direct,
    /// Through a Group the User is in.
    Group(Name),
    /// Listed in the ServiceAccount's `roles`.
    ServiceAccount,
}

impl fmt::Display for Via {
    /// Written after a role's name: ` (via group web-team)`, or nothing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Via::Direct | Via::ServiceAccount => Ok(()),
            Via::Group(group) => write!(f, " (via group {group})"),
        }
    }
}

/// A change the principal may not make, and what would allow it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Denied {
    pub principal: Principal,
    #[serde(serialize_with = "action_name")]
    pub action: &'static Action,
    pub resource: Option<ResourceId>,
    /// Boxed: a denial is the cold path, and `Result<Permit, Denied>` stays small.
    pub why: Box<Why>,
    /// The roles of the policy that would allow this exact change, and who holds them.
    pub held_by: HeldBy,
}

impl std::error::Error for Denied {}

/// Why a principal was denied.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Why {
    /// No User or ServiceAccount of the trusted policy has this name.
    NotInPolicy,
    /// The User is disabled (deprovisioned).
    Disabled,
    /// The ServiceAccount's owner is not a User of the policy.
    OwnerMissing { owner: Name },
    /// The ServiceAccount's owner is disabled.
    OwnerDisabled { owner: Name },
    /// The identity provider deactivated or deleted the User (for a
    /// ServiceAccount: its owner), or does not know them when the daemon
    /// config requires it to.
    Deprovisioned(crate::idp::Deprovisioned),
    /// The principal holds no roles at all.
    NoRoles,
    /// None of the principal's rules covers the change. `roles` are the
    /// roles it holds; `near` the rules that name the action but not this
    /// resource or its labels (a few at most).
    NotCovered {
        roles: Vec<(Name, Via)>,
        near: Vec<NearMiss>,
    },
    /// The account's roles allow it, but the API token used is scoped to
    /// other actions.
    TokenScopes { token: String, scopes: Vec<String> },
    /// The account's roles allow it, but the API token used may touch
    /// other resources only.
    TokenResources {
        token: String,
        resources: Vec<String>,
    },
}

/// A rule that names the action but misses the resource or its labels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct NearMiss {
    pub role: Name,
    pub via: Via,
    /// Counted from 0.
    pub rule: usize,
    /// The rule's resource patterns.
    pub resources: Vec<String>,
    /// The rule's label condition (empty when none).
    pub labels: Labels,
    pub miss: Miss,
}

/// How a [`NearMiss`] missed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "missed", rename_all = "snake_case")]
pub enum Miss {
    /// No resource pattern matches.
    Resource,
    /// The condition's labels fail before and/or after the change; the
    /// resource's labels on each side (None where it does not exist).
    Labels {
        before: Option<Labels>,
        after: Option<Labels>,
    },
    /// The person is not in every identity provider group the rule
    /// requires (`when.idp_groups`).
    IdpGroups { required: Vec<String> },
}

/// Roles that would allow a change, each with some of its holders.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct HeldBy {
    pub roles: Vec<Holders>,
    /// How many more roles allow it.
    pub more: usize,
}

/// One role and the principals that hold it: users by name, `group NAME`,
/// `serviceaccount NAME` (active ones only).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holders {
    pub role: Name,
    pub names: Vec<String>,
    /// How many more hold it.
    pub more: usize,
}

/// `team=web`, or `team=web, tier=1`.
fn labels_text(labels: &Labels) -> String {
    let parts: Vec<String> = labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    parts.join(", ")
}

/// The resource's side of a failed condition: `team=data`, `no team label`.
fn have_text(wanted: &Labels, have: &Labels) -> String {
    let parts: Vec<String> = wanted
        .keys()
        .map(|k| match have.get(k) {
            Some(v) => format!("{k}={v}"),
            None => format!("no {k} label"),
        })
        .collect();
    parts.join(", ")
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = &self.principal;
        let what = self.action.name;
        let on = match &self.resource {
            Some(id) => id.to_string(),
            None => "the repository".to_owned(),
        };
        write!(f, "{who} may not {what} on {on}: ")?;
        match self.why.as_ref() {
            Why::NotInPolicy => write!(f, "{who} is not in the trusted policy")?,
            Why::Disabled => write!(f, "{who} is disabled")?,
            Why::OwnerMissing { owner } => {
                write!(f, "its owner user/{owner} is not in the trusted policy")?;
            }
            Why::OwnerDisabled { owner } => write!(f, "its owner user/{owner} is disabled")?,
            Why::Deprovisioned(deprovisioned) => {
                // It says what to do itself: the IdP gives back, not git.
                return write!(f, "{deprovisioned}");
            }
            Why::NoRoles => write!(f, "{who} holds no roles")?,
            Why::TokenScopes { token, scopes } => write!(
                f,
                "its role allows it, but token {token} is scoped to {}",
                scopes.join(", ")
            )?,
            Why::TokenResources { token, resources } => write!(
                f,
                "its role allows it, but token {token} may touch only {}",
                resources.join(", ")
            )?,
            Why::NotCovered { roles, near } if near.is_empty() => {
                let roles: Vec<String> = roles.iter().map(|(r, via)| format!("{r}{via}")).collect();
                let s = if roles.len() == 1 { "" } else { "s" };
                write!(f, "no rule of role{s} {} allows {what}", roles.join(", "))?;
            }
            Why::NotCovered { near, .. } => {
                for (i, miss) in near.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(
                        f,
                        "role {}{} allows {what} only on {}",
                        miss.role,
                        miss.via,
                        miss.resources.join(", ")
                    )?;
                    if !miss.labels.is_empty() {
                        write!(f, " with labels {}", labels_text(&miss.labels))?;
                    }
                    match &miss.miss {
                        Miss::Resource => write!(f, ", and {on} is not one")?,
                        Miss::IdpGroups { required } => write!(
                            f,
                            " for members of identity provider group(s) {}, and {who} is not in all of them (the identity provider's groups decide; a ServiceAccount counts as its owner)",
                            required.join(", ")
                        )?,
                        Miss::Labels { before, after } => {
                            let have = |side: &Option<Labels>| {
                                side.as_ref().map(|l| have_text(&miss.labels, l))
                            };
                            match (have(before), have(after)) {
                                (Some(b), Some(a)) if b != a => write!(
                                    f,
                                    ", and {on} has {b} before this change and {a} after it"
                                )?,
                                (Some(b), _) => write!(f, ", and {on} has {b}")?,
                                (None, Some(a)) => write!(f, ", and {on} would have {a}")?,
                                (None, None) => write!(f, ", and {on} has no labels")?,
                            }
                        }
                    }
                }
            }
        }
        match self.why.as_ref() {
            // The role is there; the token is what to change.
            Why::TokenScopes { .. } | Why::TokenResources { .. } => f.write_str(
                "; create a token whose scopes and resources include this (`lbops token create`)",
            ),
            _ => write!(f, "; {}", self.held_by),
        }
    }
}

impl fmt::Display for HeldBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.roles.is_empty() {
            return f.write_str(
                "no role of the trusted policy allows this; someone allowed access.roles.update must add a rule first",
            );
        }
        let s = if self.roles.len() + self.more == 1 {
            ""
        } else {
            "s"
        };
        write!(f, "held by role{s} ")?;
        for (i, holders) in self.roles.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{}", holders.role)?;
            let mut names = holders.names.clone();
            if holders.more > 0 {
                names.push(format!("and {} more", holders.more));
            }
            if names.is_empty() {
                f.write_str(" (nobody)")?;
            } else {
                write!(f, " ({})", names.join(", "))?;
            }
        }
        if self.more > 0 {
            write!(f, " and {} more", self.more)?;
        }
        Ok(())
    }
}
