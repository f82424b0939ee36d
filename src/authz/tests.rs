//! Authorization over the example policy: every allow beside its deny
//! twin, and the sentences a denial shows.

use super::fixture::{added, edited, trusted};
use super::*;
use crate::identity::Principal;
use crate::spec::actions;
use crate::spec::Catalog;

fn user(name: &str) -> Principal {
    Principal::User(name.parse().unwrap())
}

fn account(name: &str) -> Principal {
    Principal::ServiceAccount(name.parse().unwrap())
}

/// The one change of `action` that `candidate` makes.
fn the_change(candidate: &Catalog, action: &str) -> Change {
    let all = changes(&trusted(), candidate);
    let mut found = all.iter().filter(|c| c.action.name == action);
    let change = found
        .next()
        .unwrap_or_else(|| panic!("no {action} in {all:#?}"));
    assert!(found.next().is_none(), "two {action}");
    change.clone()
}

/// Judges with both `authorize` and an `Authorizer`, which must agree.
fn authorize_as(
    policy: &Catalog,
    principal: &Principal,
    change: &Change,
) -> Result<Permit, Denied> {
    let once = authorize(policy, crate::idp::Idp::Absent, principal, change);
    assert_eq!(
        once,
        Authorizer::new(policy, crate::idp::Idp::Absent).authorize(principal, change)
    );
    once
}

fn denial(policy: &Catalog, principal: &Principal, change: &Change) -> String {
    authorize_as(policy, principal, change)
        .expect_err("should be denied")
        .to_string()
}

fn weight_of_db() -> Change {
    the_change(
        &edited(&[(
            "pools/db.yaml",
            "    - address: 127.0.0.1:15432\n",
            "    - address: 127.0.0.1:15432\n      weight: 5\n",
        )]),
        "pool.weights.update",
    )
}

fn weight_of_web() -> Change {
    the_change(
        &edited(&[(
            "pools/web.yaml",
            "      weight: 1\n    - address: 127.0.0.1:9002",
            "      weight: 9\n    - address: 127.0.0.1:9002",
        )]),
        "pool.weights.update",
    )
}

#[test]
fn on_call_may_shift_weights_of_a_web_pool() {
    let permit = authorize_as(&trusted(), &user("bob"), &weight_of_web()).unwrap();
    assert_eq!(
        permit.grant(),
        &Grant::Rule {
            role: "web-oncall".parse().unwrap(),
            rule: 0,
            via: Via::Group("web-team".parse().unwrap()),
        }
    );
    assert_eq!(
        permit.to_string(),
        "user/bob may pool.weights.update on pool/web-stable: rule 1 of role web-oncall (via group web-team)"
    );
}

#[test]
fn on_call_may_not_shift_weights_of_a_data_pool() {
    assert_eq!(
        denial(&trusted(), &user("bob"), &weight_of_db()),
        "user/bob may not pool.weights.update on pool/db: role web-oncall (via group web-team) allows \
         pool.weights.update only on pool/* with labels team=web, and pool/db has team=data; \
         held by role sre-admin (alice)"
    );
}

#[test]
fn relabelling_a_pool_into_scope_is_denied() {
    let candidate = edited(&[
        ("pools/db.yaml", "  team: data\n", "  team: web\n"),
        (
            "pools/db.yaml",
            "    - address: 127.0.0.1:15432\n",
            "    - address: 127.0.0.1:15432\n      weight: 5\n",
        ),
    ]);
    let change = the_change(&candidate, "pool.weights.update");
    assert_eq!(
        denial(&trusted(), &user("bob"), &change),
        "user/bob may not pool.weights.update on pool/db: role web-oncall (via group web-team) allows \
         pool.weights.update only on pool/* with labels team=web, and pool/db has team=data before \
         this change and team=web after it; held by role sre-admin (alice)"
    );
    assert!(authorize_as(&trusted(), &user("alice"), &change).is_ok());
}

#[test]
fn relabelling_a_pool_out_of_scope_is_denied() {
    let candidate = edited(&[
        (
            "pools/web.yaml",
            "name: web-stable\nlabels:\n  team: web\n",
            "name: web-stable\nlabels:\n  team: data\n",
        ),
        (
            "pools/web.yaml",
            "      weight: 1\n    - address: 127.0.0.1:9002",
            "      weight: 9\n    - address: 127.0.0.1:9002",
        ),
    ]);
    let change = the_change(&candidate, "pool.weights.update");
    let denied = authorize_as(&trusted(), &user("bob"), &change).unwrap_err();
    assert!(
        matches!(denied.why.as_ref(), Why::NotCovered { near, .. } if matches!(near[0].miss, Miss::Labels { .. }))
    );
    assert!(denied
        .to_string()
        .contains("has team=web before this change and team=data after it"));
    // Its twin: the same weight edit without the relabel.
    assert!(authorize_as(&trusted(), &user("bob"), &weight_of_web()).is_ok());
    // And the relabel itself needs pool.labels.update, which on-call lacks.
    let relabel = the_change(&candidate, "pool.labels.update");
    assert!(authorize_as(&trusted(), &user("bob"), &relabel).is_err());
    assert!(authorize_as(&trusted(), &user("alice"), &relabel).is_ok());
}

#[test]
fn a_service_account_holds_its_own_roles() {
    let permit = authorize_as(&trusted(), &account("deploy-bot"), &weight_of_web()).unwrap();
    assert!(matches!(
        permit.grant(),
        Grant::Rule {
            via: Via::ServiceAccount,
            ..
        }
    ));
    assert_eq!(
        denial(&trusted(), &account("deploy-bot"), &weight_of_db()),
        "serviceaccount/deploy-bot may not pool.weights.update on pool/db: role web-oncall allows \
         pool.weights.update only on pool/* with labels team=web, and pool/db has team=data; \
         held by role sre-admin (alice)"
    );
}

#[test]
fn a_service_account_whose_owner_is_gone_or_disabled_holds_nothing() {
    let mut policy = trusted();
    policy.users.get_mut("alice").unwrap().spec.disabled = true;
    let denied = authorize_as(&policy, &account("deploy-bot"), &weight_of_web()).unwrap_err();
    assert_eq!(
        *denied.why,
        Why::OwnerDisabled {
            owner: "alice".parse().unwrap()
        }
    );
    assert_eq!(
        denied.to_string(),
        "serviceaccount/deploy-bot may not pool.weights.update on pool/web-stable: its owner user/alice \
         is disabled; held by roles sre-admin (nobody), web-oncall (group web-team)"
    );
    policy.users.remove("alice");
    let denied = authorize_as(&policy, &account("deploy-bot"), &weight_of_web()).unwrap_err();
    assert_eq!(
        *denied.why,
        Why::OwnerMissing {
            owner: "alice".parse().unwrap()
        }
    );
}

#[test]
fn a_disabled_user_holds_nothing() {
    let policy = edited(&[(
        "access/users.yaml",
        "  groups: [web-team]\n",
        "  groups: [web-team]\n  disabled: true\n",
    )]);
    assert_eq!(
        denial(&policy, &user("bob"), &weight_of_web()),
        "user/bob may not pool.weights.update on pool/web-stable: user/bob is disabled; \
         held by roles sre-admin (alice), web-oncall (group web-team, serviceaccount deploy-bot)"
    );
    assert!(authorize_as(&trusted(), &user("bob"), &weight_of_web()).is_ok());
}

#[test]
fn a_principal_outside_the_policy_holds_nothing() {
    for stranger in [user("mallory"), account("ghost-bot")] {
        let denied = authorize_as(&trusted(), &stranger, &weight_of_web()).unwrap_err();
        assert_eq!(*denied.why, Why::NotInPolicy);
        assert!(denied.to_string().contains("is not in the trusted policy"));
    }
}

#[test]
fn a_user_without_roles_holds_nothing() {
    let policy = added(
        "access/dave.yaml",
        "kind: User\nname: dave\nspec:\n  emails: [dave@example.test]\n",
    );
    let denied = authorize_as(&policy, &user("dave"), &weight_of_web()).unwrap_err();
    assert_eq!(*denied.why, Why::NoRoles);
}

#[test]
fn nobody_grants_themself_a_role() {
    let candidate = edited(&[(
        "access/users.yaml",
        "  roles: [auditor]",
        "  roles: [auditor, sre-admin]",
    )]);
    let change = the_change(&candidate, "access.users.update");
    // Judged by the trusted policy, not the candidate that grants it.
    assert_eq!(
        denial(&trusted(), &user("carol"), &change),
        "user/carol may not access.users.update on user/carol: no rule of role auditor allows \
         access.users.update; held by role sre-admin (alice)"
    );
    assert!(authorize_as(&trusted(), &user("alice"), &change).is_ok());

    let widened = edited(&[(
        "access/roles.yaml",
        "      resources: [\"pool/*\"]",
        "      resources: [\"*\"]",
    )]);
    let change = the_change(&widened, "access.roles.update");
    assert!(authorize_as(&trusted(), &user("bob"), &change).is_err());
    assert!(authorize_as(&trusted(), &user("alice"), &change).is_ok());
}

#[test]
fn deleting_a_balancer_needs_loadbalancer_delete() {
    let candidate = {
        let mut c = trusted();
        c.load_balancers.remove("web");
        c
    };
    let change = the_change(&candidate, "loadbalancer.delete");
    assert_eq!(change.labels_after, None);
    assert_eq!(
        denial(&trusted(), &user("bob"), &change),
        "user/bob may not loadbalancer.delete on loadbalancer/web: no rule of role web-oncall \
         (via group web-team) allows loadbalancer.delete; held by role sre-admin (alice)"
    );
    assert!(authorize_as(&trusted(), &user("alice"), &change).is_ok());
}

const NARROW_ADMINS: &str = "\
kind: Role
name: pool-admin
spec:
  rules:
    - actions: [\"*\"]
      resources: [\"*/*\"]
---
kind: Role
name: pusher
spec:
  rules:
    - actions: [repo.force_push]
      resources: [\"pool/*\"]
---
kind: User
name: dave
spec:
  emails: [dave@example.test]
  roles: [pool-admin, pusher]
";

#[test]
fn only_a_star_resource_rule_allows_a_force_push() {
    let policy = added("access/narrow.yaml", NARROW_ADMINS);
    let push = Change::repo(&actions::REPO_FORCE_PUSH);
    assert!(authorize_as(&policy, &user("alice"), &push).is_ok());
    assert_eq!(
        denial(&policy, &user("dave"), &push),
        "user/dave may not repo.force_push on the repository: role pool-admin allows repo.force_push \
         only on */*, and the repository is not one; role pusher allows repo.force_push only on \
         pool/*, and the repository is not one; held by role sre-admin (alice)"
    );
    // `*/*` still covers every resource.
    assert!(authorize_as(&policy, &user("dave"), &weight_of_db()).is_ok());
}

#[test]
fn the_bootstrap_admin_may_do_anything() {
    let admin = Principal::BootstrapAdmin {
        fingerprint: "SHA256:abc".into(),
    };
    for change in [weight_of_db(), Change::repo(&actions::REPO_FORCE_PUSH)] {
        let permit = authorize_as(&Catalog::default(), &admin, &change).unwrap();
        assert_eq!(permit.grant(), &Grant::Bootstrap);
        assert!(authorize_as(&trusted(), &admin, &change).is_ok());
        // Its twin: anyone else, with an empty policy.
        assert!(authorize_as(&Catalog::default(), &user("alice"), &change).is_err());
    }
}

#[test]
fn a_change_no_role_allows_says_a_rule_must_be_added() {
    let policy = {
        let mut p = trusted();
        p.roles.remove("sre-admin");
        p
    };
    assert!(denial(&policy, &user("carol"), &weight_of_db())
        .ends_with("; no role of the trusted policy allows this; someone allowed access.roles.update must add a rule first"));
}

#[test]
fn holders_are_capped() {
    let mut text = String::new();
    for i in 0..5 {
        text.push_str(&format!("---\nkind: User\nname: admin-{i}\nspec:\n  emails: [admin{i}@example.test]\n  roles: [sre-admin]\n"));
    }
    let policy = added("access/admins.yaml", &text);
    assert!(denial(&policy, &user("carol"), &weight_of_db())
        .ends_with("held by role sre-admin (admin-0, admin-1, admin-2, and 3 more)"));
}

#[test]
fn the_authorizer_agrees_with_authorize_on_everything() {
    let policy = added("access/narrow.yaml", NARROW_ADMINS);
    let candidates = [
        edited(&[("pools/db.yaml", "  team: data\n", "  team: web\n")]),
        edited(&[(
            "access/users.yaml",
            "  roles: [auditor]",
            "  roles: [sre-admin]",
        )]),
        edited(&[("pools/web.yaml", "  slow_start: 30s\n", "")]),
        edited(&[(
            "balancers/web.yaml",
            "                  weight: 90",
            "                  weight: 50",
        )]),
    ];
    let mut all: Vec<Change> = candidates
        .iter()
        .flat_map(|c| changes(&trusted(), c))
        .collect();
    all.push(Change::repo(&actions::REPO_FORCE_PUSH));
    all.push(weight_of_web());
    let principals = [
        user("alice"),
        user("bob"),
        user("carol"),
        user("dave"),
        user("mallory"),
        account("deploy-bot"),
        Principal::BootstrapAdmin {
            fingerprint: "x".into(),
        },
    ];
    let authorizer = Authorizer::new(&policy, crate::idp::Idp::Absent);
    let mut allowed = 0;
    for principal in &principals {
        for change in &all {
            let once = authorize(&policy, crate::idp::Idp::Absent, principal, change);
            assert_eq!(
                once,
                authorizer.authorize(principal, change),
                "{principal} {change}"
            );
            allowed += usize::from(once.is_ok());
        }
    }
    assert!(allowed > 0 && allowed < principals.len() * all.len());
}

/// Every denial's sentence, for a person to review the wording
/// (`cargo test --lib authz::tests::wording -- --nocapture`).
#[test]
fn wording() {
    let policy = trusted();
    for (principal, change) in [
        (user("bob"), weight_of_db()),
        (user("carol"), Change::repo(&actions::REPO_FORCE_PUSH)),
        (user("mallory"), weight_of_web()),
    ] {
        let sentence = denial(&policy, &principal, &change);
        println!("{sentence}");
        assert!(!sentence.contains("sha256"));
    }
}
