//! What the identity provider takes away: a rule requiring IdP groups
//! fits only their members (and nobody without a directory), and a
//! deprovisioned person — or the ServiceAccount they own — holds nothing.
//! Every allow beside its deny twin.

use super::*;
use crate::identity::Principal;
use crate::idp::scim::{Kind, Store};
use crate::idp::{DirectoryView, Idp};
use crate::spec::{load, Catalog, Options, SourceFile};
use serde_json::json;

fn catalog(weight: u32) -> Catalog {
    let text = format!(
        "kind: Role
name: db-oncall
spec:
  rules:
    - actions: [pool.weights.update]
      resources: [pool/db]
      when: {{idp_groups: [SRE-Oncall]}}
---
kind: User
name: bob
spec: {{emails: [bob@example.test], roles: [db-oncall]}}
---
kind: ServiceAccount
name: bot
spec: {{owner: bob, roles: [db-oncall]}}
---
kind: Pool
name: db
spec:
  targets: [{{address: '127.0.0.1:9', weight: {weight}}}]
"
    );
    match load(
        &[SourceFile::new("a.yaml", &text)],
        &Options::at(1_800_000_000),
    ) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("{:#?}", invalid.diagnostics),
    }
}

/// bob in the IdP, active or not, in `sre-oncall` or not.
fn directory(active: bool, in_group: bool) -> DirectoryView {
    let mut store = Store::default();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bob@example.test",
        "active": active,
    });
    let planned = store.create(Kind::User, "u1".into(), &user, 100).unwrap();
    store.apply(&planned.delta);
    let members = if in_group {
        json!([{"value": "u1"}])
    } else {
        json!([])
    };
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "sre-oncall",
        "members": members,
    });
    let planned = store.create(Kind::Group, "g1".into(), &group, 100).unwrap();
    store.apply(&planned.delta);
    DirectoryView::of(&store)
}

fn decide(idp: Idp<'_>, principal: &Principal) -> Result<Permit, Denied> {
    let policy = catalog(1);
    let change = changes(&policy, &catalog(2)).remove(0);
    let once = authorize(&policy, idp, principal, &change);
    assert_eq!(
        once,
        Authorizer::new(&policy, idp).authorize(principal, &change)
    );
    once
}

fn pushed(view: &DirectoryView) -> Idp<'_> {
    Idp::Pushed {
        view,
        require_known_users: false,
    }
}

fn bob() -> Principal {
    Principal::User("bob".parse().unwrap())
}

fn bot() -> Principal {
    Principal::ServiceAccount("bot".parse().unwrap())
}

#[test]
fn a_rule_requiring_an_idp_group_fits_its_members_only() {
    let member = directory(true, true);
    assert!(decide(pushed(&member), &bob()).is_ok());
    assert!(decide(pushed(&member), &bot()).is_ok(), "as its owner");

    let outsider = directory(true, false);
    let denied = decide(pushed(&outsider), &bob()).unwrap_err();
    assert!(
        matches!(denied.why.as_ref(), Why::NotCovered { near, .. }
            if near[0].miss == Miss::IdpGroups { required: vec!["SRE-Oncall".into()] }),
        "{denied:?}"
    );
    let text = denied.to_string();
    assert!(
        text.contains("identity provider group(s) SRE-Oncall"),
        "{text}"
    );
    assert!(decide(pushed(&outsider), &bot()).is_err());
}

#[test]
fn without_a_directory_a_rule_requiring_an_idp_group_never_fits() {
    assert!(decide(Idp::Absent, &bob()).is_err());
    assert!(decide(Idp::Absent, &bot()).is_err());
}

#[test]
fn a_deprovisioned_person_and_their_accounts_hold_nothing() {
    let deactivated = directory(false, true);
    for principal in [bob(), bot()] {
        let denied = decide(pushed(&deactivated), &principal).unwrap_err();
        assert!(
            matches!(denied.why.as_ref(), Why::Deprovisioned(d) if d.user.as_str() == "bob"),
            "{denied:?}"
        );
        assert!(
            denied
                .to_string()
                .contains("deprovisioned by the identity provider at"),
            "{denied}"
        );
    }
}

#[test]
fn a_sign_in_tokens_group_claim_counts_only_where_the_directory_does_not_know_the_person() {
    let policy = catalog(1);
    let change = changes(&policy, &catalog(2)).remove(0);
    let claimed = vec!["sre-oncall".to_owned()];
    let claim = |idp: Idp<'_>, groups: &[String]| {
        authorize_claimed(&policy, idp, &bob(), groups, &change).is_ok()
    };
    // No directory: the claim is all there is.
    assert!(claim(Idp::Absent, &claimed));
    assert!(!claim(Idp::Absent, &[]));
    // A directory that knows bob: its last push wins over the token, so a
    // removal there takes effect before the token expires.
    let outsider = directory(true, false);
    assert!(!claim(pushed(&outsider), &claimed));
    let member = directory(true, true);
    assert!(claim(pushed(&member), &[]));
    // Deprovisioned: no claim gives anything back.
    let deactivated = directory(false, true);
    assert!(!claim(pushed(&deactivated), &claimed));
    // What a commit is judged by never sees a claim.
    assert!(authorize(&policy, Idp::Absent, &bob(), &change).is_err());
}
