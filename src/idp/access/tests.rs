use super::*;
use crate::idp::scim::{Kind, Precondition, Store};
use crate::spec::{load, Options, SourceFile};
use serde_json::{json, Value};

const POLICY: &str = "
kind: Role
name: ops
spec:
  rules: [{actions: ['*'], resources: ['*']}]
---
kind: User
name: ada
spec:
  emails: [ada@example.test, ada.lovelace@example.test]
  roles: [ops]
---
kind: User
name: bea
spec:
  emails: [bea@example.test]
  roles: [ops]
---
kind: ServiceAccount
name: bot
spec:
  owner: ada
  roles: [ops]
";

fn policy() -> Catalog {
    let files = [SourceFile::new("access.yaml", POLICY)];
    match load(&files, &Options::at(1_800_000_000)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("{:#?}", invalid.diagnostics),
    }
}

fn apply(
    store: &mut Store,
    planned: Result<crate::idp::scim::Planned, crate::idp::scim::ScimError>,
) {
    let planned = planned.unwrap_or_else(|e| panic!("refused: {e}"));
    store.apply(&planned.delta);
}

fn user(store: &mut Store, id: &str, email: &str) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": email,
        "emails": [{"value": email, "primary": true}],
        "active": true,
    });
    apply(store, store.create(Kind::User, id.into(), &body, 100));
}

fn patch(store: &mut Store, kind: Kind, id: &str, at: i64, operations: Value) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": operations,
    });
    apply(store, store.patch(kind, id, &body, at, Precondition::None));
}

fn active(store: &mut Store, id: &str, at: i64, active: bool) {
    patch(
        store,
        Kind::User,
        id,
        at,
        json!([{"op": "replace", "value": {"active": active}}]),
    );
}

fn group(store: &mut Store, id: &str, name: &str, members: &[&str]) {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": name,
        "members": members,
    });
    apply(store, store.create(Kind::Group, id.into(), &body, 100));
}

fn pushed(view: &DirectoryView, require_known_users: bool) -> Idp<'_> {
    Idp::Pushed {
        view,
        require_known_users,
    }
}

fn ada() -> Principal {
    Principal::User("ada".parse().unwrap())
}

fn bot() -> Principal {
    Principal::ServiceAccount("bot".parse().unwrap())
}

#[test]
fn a_deactivated_person_and_the_accounts_they_own_are_refused_until_reactivated() {
    let policy = policy();
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.test");
    let view = DirectoryView::of(&store);
    assert_eq!(standing_of(pushed(&view, false), &policy, &ada()), Ok(()));

    active(&mut store, "u1", 1_800_000_000, false);
    let view = DirectoryView::of(&store);
    let denied = standing_of(pushed(&view, false), &policy, &ada()).unwrap_err();
    assert_eq!(denied.user.as_str(), "ada");
    assert_eq!(denied.event().map(|e| e.seq), Some(view.seq()));
    assert!(
        matches!(&denied.cause, Cause::Deactivated { account, .. } if account == "ada@example.test")
    );
    assert_eq!(
        standing_of(pushed(&view, false), &policy, &bot()),
        Err(denied.clone()),
        "a ServiceAccount stands as its owner"
    );
    assert_eq!(
        deprovisioned_users(pushed(&view, false), &policy),
        vec![denied]
    );

    active(&mut store, "u1", 1_800_000_100, true);
    let view = DirectoryView::of(&store);
    assert_eq!(standing_of(pushed(&view, false), &policy, &bot()), Ok(()));
    assert!(deprovisioned_users(pushed(&view, false), &policy).is_empty());
}

#[test]
fn a_deleted_person_is_deprovisioned_and_a_second_active_account_does_not_outvote_it() {
    let policy = policy();
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.test");
    user(&mut store, "u2", "ada.lovelace@example.test");
    let planned = store.delete(Kind::User, "u1", 300, Precondition::None);
    apply(&mut store, planned);
    let view = DirectoryView::of(&store);
    let denied = standing_of(pushed(&view, false), &policy, &ada()).unwrap_err();
    assert!(matches!(denied.cause, Cause::Deleted { .. }), "{denied:?}");
}

#[test]
fn unknown_people_are_deprovisioned_only_when_the_config_requires_known_users() {
    let policy = policy();
    let view = DirectoryView::default();
    let bea = Principal::User("bea".parse().unwrap());
    assert_eq!(standing_of(pushed(&view, false), &policy, &bea), Ok(()));
    let denied = standing_of(pushed(&view, true), &policy, &bea).unwrap_err();
    assert_eq!(denied.cause, Cause::Unknown);
    assert_eq!(standing_of(Idp::Absent, &policy, &bea), Ok(()));
    let nobody = Principal::User("nobody".parse().unwrap());
    assert_eq!(
        standing_of(pushed(&view, true), &policy, &nobody),
        Ok(()),
        "a name the policy does not hold is the policy's to refuse"
    );
}

#[test]
fn groups_come_from_the_directory_for_active_people_only() {
    let policy = policy();
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.test");
    group(&mut store, "g1", "SRE-Oncall", &["u1"]);
    let view = DirectoryView::of(&store);
    let groups = groups_of(pushed(&view, false), &policy, &ada(), &[]);
    assert!(groups.hold_all(["sre-oncall"].into_iter()));
    assert!(!groups.hold_all(["sre-oncall", "dba"].into_iter()));
    assert!(
        groups_of(pushed(&view, false), &policy, &bot(), &[]).hold_all(["sre-oncall"].into_iter()),
        "a ServiceAccount is in its owner's groups"
    );
    // A claim does not outvote the directory, which knows the person.
    let claimed = ["dba".to_owned()];
    assert!(
        !groups_of(pushed(&view, false), &policy, &ada(), &claimed).hold_all(["dba"].into_iter())
    );

    active(&mut store, "u1", 500, false);
    let view = DirectoryView::of(&store);
    assert_eq!(
        groups_of(pushed(&view, false), &policy, &ada(), &[]),
        IdpGroups::default()
    );
    assert_eq!(
        groups_of(Idp::Absent, &policy, &ada(), &[]),
        IdpGroups::default()
    );
    assert!(groups_of(Idp::Absent, &policy, &ada(), &claimed).hold_all(["dba"].into_iter()));
}

/// Every message, for a person to review the wording.
#[test]
fn messages_say_when_and_what_to_do() {
    let event = Stamp {
        seq: 7,
        at: 1_800_000_000,
    };
    for cause in [
        Cause::Deactivated {
            account: "ada@example.test".into(),
            event,
        },
        Cause::Deleted {
            account: "ada@example.test".into(),
            event,
        },
        Cause::Unknown,
    ] {
        let text = Deprovisioned {
            user: "ada".parse().unwrap(),
            cause,
        }
        .to_string();
        println!("{text}");
        assert!(text.starts_with("user/ada "), "{text}");
    }
    let text = Deprovisioned {
        user: "ada".parse().unwrap(),
        cause: Cause::Deactivated {
            account: "ada".into(),
            event,
        },
    }
    .to_string();
    assert!(
        text.contains(
            "deprovisioned by the identity provider at 2027-01-15T08:00:00Z (SCIM event 7"
        ),
        "{text}"
    );
}

#[test]
fn standing_changes_name_the_newly_deprovisioned_and_the_restored() {
    let event = |seq| Stamp { seq, at: 100 };
    let gone = |user: &str, seq| Deprovisioned {
        user: user.parse().unwrap(),
        cause: Cause::Deactivated {
            account: format!("{user}@example.test"),
            event: event(seq),
        },
    };
    let before = vec![gone("ada", 1), gone("bea", 2)];
    let after = vec![gone("bea", 2), gone("cyd", 3)];
    assert_eq!(
        standing_changes(&before, &after),
        vec![
            StandingChange::Restored {
                user: "ada".parse().unwrap()
            },
            StandingChange::Deprovisioned(gone("cyd", 3)),
        ]
    );
    assert!(standing_changes(&after, &after).is_empty());
    let deleted_later = vec![gone("bea", 9), gone("cyd", 3)];
    assert_eq!(
        standing_changes(&after, &deleted_later),
        vec![StandingChange::Deprovisioned(gone("bea", 9))]
    );
}
