//! Who holds what: a principal's roles (directly, through groups, as a
//! service account), and the holders of a role, for denial messages.

use super::permit::{Via, Why};
use crate::identity::Principal;
use crate::spec::kinds::access::RoleSpec;
use crate::spec::kinds::Resource;
use crate::spec::units::Name;
use crate::spec::Catalog;

/// A role a principal holds, and how.
#[derive(Clone, Debug)]
pub(super) struct Held<'a> {
    pub role: &'a Resource<RoleSpec>,
    pub via: Via,
}

/// The roles of a User or ServiceAccount, in the order its spec lists
/// them (a user's own roles, then each group's); or why it holds none.
/// `BootstrapAdmin` is not resolved here: it needs no policy.
pub(super) fn resolve<'a>(
    policy: &'a Catalog,
    principal: &Principal,
) -> Result<Vec<Held<'a>>, Why> {
    let role = |name: &Name| policy.roles.get(name.as_str());
    let held = match principal {
        Principal::BootstrapAdmin { .. } => return Ok(Vec::new()),
        Principal::User(name) => {
            let user = policy.users.get(name.as_str()).ok_or(Why::NotInPolicy)?;
            if user.spec.disabled {
                return Err(Why::Disabled);
            }
            let direct = user
                .spec
                .roles
                .iter()
                .filter_map(|r| role(&r.value))
                .map(|role| Held {
                    role,
                    via: Via::Direct,
                });
            let grouped = user
                .spec
                .groups
                .iter()
                .filter_map(|g| policy.groups.get(g.value.as_str()))
                .flat_map(|group| {
                    group
                        .spec
                        .roles
                        .iter()
                        .filter_map(|r| role(&r.value))
                        .map(|role| Held {
                            role,
                            via: Via::Group(group.name.clone()),
                        })
                });
            direct.chain(grouped).collect::<Vec<_>>()
        }
        Principal::ServiceAccount(name) => {
            let account = policy
                .service_accounts
                .get(name.as_str())
                .ok_or(Why::NotInPolicy)?;
            let owner = &account.spec.owner.value;
            match policy.users.get(owner.as_str()) {
                None => {
                    return Err(Why::OwnerMissing {
                        owner: owner.clone(),
                    })
                }
                Some(user) if user.spec.disabled => {
                    return Err(Why::OwnerDisabled {
                        owner: owner.clone(),
                    })
                }
                Some(_) => {}
            }
            account
                .spec
                .roles
                .iter()
                .filter_map(|r| role(&r.value))
                .map(|role| Held {
                    role,
                    via: Via::ServiceAccount,
                })
                .collect()
        }
    };
    if held.is_empty() {
        return Err(Why::NoRoles);
    }
    Ok(held)
}

/// Who holds `role`, as a denial names them: active users by name, then
/// `group NAME`, then `serviceaccount NAME` (those with an active owner).
pub(super) fn holders_of(policy: &Catalog, role: &str) -> Vec<String> {
    let lists =
        |roles: &[crate::spec::yaml::Spanned<Name>]| roles.iter().any(|r| r.value.as_str() == role);
    let users = policy
        .users
        .values()
        .filter(|u| !u.spec.disabled && lists(&u.spec.roles))
        .map(|u| u.name.to_string());
    let groups = policy
        .groups
        .values()
        .filter(|g| lists(&g.spec.roles))
        .map(|g| format!("group {}", g.name));
    let accounts = policy
        .service_accounts
        .values()
        .filter(|a| {
            lists(&a.spec.roles)
                && policy
                    .users
                    .get(a.spec.owner.value.as_str())
                    .is_some_and(|owner| !owner.spec.disabled)
        })
        .map(|a| format!("serviceaccount {}", a.name));
    users.chain(groups).chain(accounts).collect()
}
