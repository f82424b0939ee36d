//! [`authorize`] and [`Authorizer`]: a change judged against the trusted
//! policy, deny by default.

use super::grants::{holders_of, resolve, Held};
use super::permit::{Denied, Grant, HeldBy, Holders, Miss, NearMiss, Permit, Why};
use super::rules::{fit, Person, RuleFit};
use super::Change;
use crate::identity::Principal;
use crate::idp::{Idp, IdpGroups};
use crate::spec::Catalog;
use std::collections::HashMap;

/// At most this many near misses, roles and holder names in a denial.
const MAX_NEAR: usize = 3;
const MAX_ROLES: usize = 3;
const MAX_NAMES: usize = 3;

/// Whether `principal` may make `change` under `policy`, which must be
/// the *trusted* policy, never the candidate's.
///
/// A User holds its own roles and its groups'; a ServiceAccount its own,
/// while its owner is an active User; a disabled User or an unknown name
/// holds nothing. A rule allows the change when one of its action
/// patterns and one of its resource patterns match (only `*` matches
/// the repository), its `when.labels` match the resource's labels both
/// before and after the change, and the principal is in every IdP group
/// of its `when.idp_groups`. `BootstrapAdmin` is allowed everything.
///
/// `idp` only takes away: a User it deprovisioned (or a ServiceAccount
/// whose owner it deprovisioned) holds nothing, and it says which IdP
/// groups a principal is in (none without an identity provider).
pub fn authorize(
    policy: &Catalog,
    idp: Idp<'_>,
    principal: &Principal,
    change: &Change,
) -> Result<Permit, Denied> {
    authorize_claimed(policy, idp, principal, &[], change)
}

/// As [`authorize`], for a person whose sign-in token claims IdP groups
/// (`claimed`): they count where the identity provider's SCIM directory
/// does not know the person ([`crate::idp::groups_of`]). Only for what a
/// call does at once (a read): a commit is judged later, from git and the
/// directory alone, so a write is authorized as its commit will be, with
/// [`authorize`].
pub fn authorize_claimed(
    policy: &Catalog,
    idp: Idp<'_>,
    principal: &Principal,
    claimed: &[String],
    change: &Change,
) -> Result<Permit, Denied> {
    if let Principal::BootstrapAdmin { .. } = principal {
        return Ok(bootstrap(principal, change));
    }
    let held = resolve_with(policy, idp, principal, claimed);
    decide(
        policy,
        principal,
        held.as_ref().map(|(h, g)| (h, g)),
        change,
        &|role| holders_of(policy, role),
    )
}

/// The roles a principal holds under `policy`, and its IdP groups; or
/// why it holds none. The identity provider's word comes first: a
/// deprovisioned person is told so, not which role they lack.
fn resolve_with<'a>(
    policy: &'a Catalog,
    idp: Idp<'_>,
    principal: &Principal,
    claimed: &[String],
) -> Result<(Vec<Held<'a>>, IdpGroups), Why> {
    crate::idp::standing_of(idp, policy, principal).map_err(Why::Deprovisioned)?;
    let held = resolve(policy, principal)?;
    Ok((held, crate::idp::groups_of(idp, policy, principal, claimed)))
}

/// What a caller with an API token may do: what the token's ServiceAccount
/// may do ([`authorize`]), narrowed by the token's scopes (action
/// patterns) and resources (resource patterns), each when the token lists
/// any. A token never widens its account's roles.
pub fn authorize_token(
    policy: &Catalog,
    idp: Idp<'_>,
    caller: &crate::identity::TokenCaller,
    change: &Change,
) -> Result<Permit, Denied> {
    let principal = caller.principal();
    let permit = authorize(policy, idp, &principal, change)?;
    let scoped = caller.scopes.is_empty()
        || caller
            .scopes
            .iter()
            .any(|scope| crate::spec::actions::pattern_matches(scope, change.action.name));
    let within = caller.resources.is_empty()
        || caller
            .resources
            .iter()
            .any(|pattern| super::rules::resource_matches(pattern, change.resource.as_ref()));
    let why = if !scoped {
        Why::TokenScopes {
            token: caller.id.to_string(),
            scopes: caller.scopes.clone(),
        }
    } else if !within {
        Why::TokenResources {
            token: caller.id.to_string(),
            resources: caller.resources.clone(),
        }
    } else {
        return Ok(permit);
    };
    Err(Denied {
        principal,
        action: change.action,
        resource: change.resource.clone(),
        why: Box::new(why),
        held_by: HeldBy::default(),
    })
}

/// Whether a token's caller may do `action` at all, before it is known
/// on which resources: the account is active and holds a role with a rule
/// naming the action, and the token's scopes name it. A request that
/// needs the action on resources it finds later (a listing) is refused
/// as a whole when this fails; each resource is then still judged with
/// [`authorize_token`] (and left out when denied). Not a [`Permit`]: it
/// allows nothing on its own. The denial names the repository, as no
/// resource is known yet.
pub fn token_holds_action(
    policy: &Catalog,
    idp: Idp<'_>,
    caller: &crate::identity::TokenCaller,
    action: &'static crate::spec::actions::Action,
) -> Result<(), Denied> {
    let principal = caller.principal();
    holds_action(policy, idp, &principal, action)?;
    let scoped = caller.scopes.is_empty()
        || caller
            .scopes
            .iter()
            .any(|scope| crate::spec::actions::pattern_matches(scope, action.name));
    if !scoped {
        return Err(action_denied(
            policy,
            &principal,
            action,
            Why::TokenScopes {
                token: caller.id.to_string(),
                scopes: caller.scopes.clone(),
            },
        ));
    }
    Ok(())
}

/// Whether `principal` may do `action` at all, before it is known on
/// which resources: it is active and holds a role with a rule naming the
/// action, and the identity provider has not deprovisioned it. The same
/// question as [`token_holds_action`] without a token's
/// scopes: a person signed in through the identity provider is asked it
/// with their git User, as their commits would be judged.
pub fn holds_action(
    policy: &Catalog,
    idp: Idp<'_>,
    principal: &Principal,
    action: &'static crate::spec::actions::Action,
) -> Result<(), Denied> {
    if let Principal::BootstrapAdmin { .. } = principal {
        return Ok(());
    }
    let (held, _) = resolve_with(policy, idp, principal, &[])
        .map_err(|why| action_denied(policy, principal, action, why))?;
    if !held.iter().any(|h| {
        h.role
            .spec
            .rules
            .iter()
            .any(|rule| names(&rule.actions, action))
    }) {
        let roles = held
            .iter()
            .map(|h| (h.role.name.clone(), h.via.clone()))
            .collect();
        return Err(action_denied(
            policy,
            principal,
            action,
            Why::NotCovered {
                roles,
                near: Vec::new(),
            },
        ));
    }
    Ok(())
}

fn names(
    patterns: &[crate::spec::yaml::Spanned<String>],
    action: &'static crate::spec::actions::Action,
) -> bool {
    patterns
        .iter()
        .any(|p| crate::spec::actions::pattern_matches(&p.value, action.name))
}

/// A denial of `action` on no resource yet, naming the roles with a rule
/// for it and who holds them.
fn action_denied(
    policy: &Catalog,
    principal: &Principal,
    action: &'static crate::spec::actions::Action,
    why: Why,
) -> Denied {
    let naming = policy.roles.values().filter(|role| {
        role.spec
            .rules
            .iter()
            .any(|rule| names(&rule.actions, action))
    });
    Denied {
        principal: principal.clone(),
        action,
        resource: None,
        why: Box::new(why),
        held_by: some_holders(naming, &|role| holders_of(policy, role)),
    }
}

/// The policy indexed once — each principal's roles, each role's holders —
/// for judging many changes; same answers as [`authorize`].
pub struct Authorizer<'a> {
    policy: &'a Catalog,
    principals: HashMap<Principal, Result<(Vec<Held<'a>>, IdpGroups), Why>>,
    holders: HashMap<&'a str, Vec<String>>,
}

impl<'a> Authorizer<'a> {
    /// See [`authorize`] for what `idp` takes away.
    #[must_use]
    pub fn new(policy: &'a Catalog, idp: Idp<'_>) -> Self {
        let users = policy
            .users
            .keys()
            .map(|name| Principal::User(name.clone()));
        let accounts = policy
            .service_accounts
            .keys()
            .map(|name| Principal::ServiceAccount(name.clone()));
        let principals = users
            .chain(accounts)
            .map(|p| {
                let held = resolve_with(policy, idp, &p, &[]);
                (p, held)
            })
            .collect();
        let holders = policy
            .roles
            .keys()
            .map(|role| (role.as_str(), holders_of(policy, role.as_str())))
            .collect();
        Self {
            policy,
            principals,
            holders,
        }
    }

    /// See [`authorize`].
    pub fn authorize(&self, principal: &Principal, change: &Change) -> Result<Permit, Denied> {
        if let Principal::BootstrapAdmin { .. } = principal {
            return Ok(bootstrap(principal, change));
        }
        let not_in_policy = Err(Why::NotInPolicy);
        let held = self.principals.get(principal).unwrap_or(&not_in_policy);
        let holders = |role: &str| self.holders.get(role).cloned().unwrap_or_default();
        let held = held.as_ref().map(|(h, g)| (h, g));
        decide(self.policy, principal, held, change, &holders)
    }
}

impl Authorizer<'_> {
    /// Every User and ServiceAccount of the policy allowed `change`, in
    /// name order (Users first): who could approve it.
    #[must_use]
    pub fn allowed(&self, change: &Change) -> Vec<Principal> {
        let mut allowed: Vec<Principal> = self
            .principals
            .keys()
            .filter(|p| self.authorize(p, change).is_ok())
            .cloned()
            .collect();
        allowed.sort();
        allowed
    }
}

fn bootstrap(principal: &Principal, change: &Change) -> Permit {
    Permit::new(
        principal,
        change.action,
        change.resource.as_ref(),
        Grant::Bootstrap,
    )
}

/// The first rule of the principal's roles (in the order it holds them)
/// that allows the change, or a denial naming the near misses and the
/// roles that would allow it.
fn decide(
    policy: &Catalog,
    principal: &Principal,
    held: Result<(&Vec<Held<'_>>, &IdpGroups), &Why>,
    change: &Change,
    holders: &dyn Fn(&str) -> Vec<String>,
) -> Result<Permit, Denied> {
    let denied = |why: Why| Denied {
        principal: principal.clone(),
        action: change.action,
        resource: change.resource.clone(),
        why: Box::new(why),
        held_by: held_by(policy, change, holders),
    };
    let (held, groups) = held.map_err(|why| denied(why.clone()))?;
    let mut near = Vec::new();
    for Held { role, via } in held {
        for (index, rule) in role.spec.rules.iter().enumerate() {
            let miss = match fit(rule, change, Person::In(groups)) {
                RuleFit::Allows => {
                    let grant = Grant::Rule {
                        role: role.name.clone(),
                        rule: index,
                        via: via.clone(),
                    };
                    let resource = change.resource.as_ref();
                    return Ok(Permit::new(principal, change.action, resource, grant));
                }
                RuleFit::OtherAction => continue,
                RuleFit::OtherResource => Miss::Resource,
                RuleFit::OtherLabels { .. } => Miss::Labels {
                    before: change.labels_before.clone(),
                    after: change.labels_after.clone(),
                },
                RuleFit::OtherIdpGroups => Miss::IdpGroups {
                    required: rule
                        .when
                        .iter()
                        .flat_map(|w| &w.idp_groups)
                        .map(|g| g.value.clone())
                        .collect(),
                },
            };
            if near.len() < MAX_NEAR {
                near.push(NearMiss {
                    role: role.name.clone(),
                    via: via.clone(),
                    rule: index,
                    resources: rule.resources.iter().map(|r| r.value.clone()).collect(),
                    labels: rule
                        .when
                        .as_ref()
                        .map(|w| w.labels.clone())
                        .unwrap_or_default(),
                    miss,
                });
            }
        }
    }
    let roles = held
        .iter()
        .map(|h| (h.role.name.clone(), h.via.clone()))
        .collect();
    Err(denied(Why::NotCovered { roles, near }))
}

/// The roles of the policy that would allow exactly this change, and
/// some of their holders.
fn held_by(policy: &Catalog, change: &Change, holders: &dyn Fn(&str) -> Vec<String>) -> HeldBy {
    let allowing = policy.roles.values().filter(|role| {
        role.spec
            .rules
            .iter()
            .any(|rule| fit(rule, change, Person::Anyone) == RuleFit::Allows)
    });
    some_holders(allowing, holders)
}

/// The first [`MAX_ROLES`] of `roles`, each with up to [`MAX_NAMES`] of
/// its holders, and how many roles and names are left out.
fn some_holders<'p>(
    mut roles: impl Iterator<
        Item = &'p crate::spec::kinds::Resource<crate::spec::kinds::access::RoleSpec>,
    >,
    holders: &dyn Fn(&str) -> Vec<String>,
) -> HeldBy {
    let shown = roles
        .by_ref()
        .take(MAX_ROLES)
        .map(|role| {
            let mut names = holders(role.name.as_str());
            let more = names.len().saturating_sub(MAX_NAMES);
            names.truncate(MAX_NAMES);
            Holders {
                role: role.name.clone(),
                names,
                more,
            }
        })
        .collect();
    HeldBy {
        roles: shown,
        more: roles.count(),
    }
}
