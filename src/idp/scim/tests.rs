//! The SCIM core with the requests identity providers send, copied from
//! their documentation: Okta's "SCIM 2.0 protocol reference" and
//! Microsoft Entra's "Tutorial: Develop and plan provisioning for a SCIM
//! endpoint" (request/response examples).

use super::filter::{terms, Filter, Literal, Term};
use super::list::{list, Params, Query};
use super::render::Projection;
use super::*;
use crate::idp::{DirectoryView, Standing};
use serde_json::{json, Value};

const BASE: &str = "http://lbops.test/scim/v2";

/// A store after `calls`, each applied as the daemon would.
fn applied(
    store: &mut Store,
    change: impl FnOnce(&Store) -> Result<Planned, ScimError>,
) -> Planned {
    let planned = change(store).unwrap_or_else(|e| panic!("refused: {e}"));
    store.apply(&planned.delta);
    planned
}

fn user(store: &mut Store, id: &str, user_name: &str) -> Planned {
    let body = json!({
        "schemas": [schema::USER_SCHEMA],
        "userName": user_name,
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "active": true,
    });
    applied(store, |s| s.create(Kind::User, id.into(), &body, 100))
}

fn group(store: &mut Store, id: &str, name: &str, members: &[&str]) -> Planned {
    let members: Vec<Value> = members.iter().map(|m| json!({"value": m})).collect();
    let body = json!({"schemas": [schema::GROUP_SCHEMA], "displayName": name, "members": members});
    applied(store, |s| s.create(Kind::Group, id.into(), &body, 100))
}

fn patch(store: &mut Store, kind: Kind, id: &str, operations: Value) -> Planned {
    let body = json!({"schemas": [schema::PATCH_OP], "Operations": operations});
    applied(store, |s| s.patch(kind, id, &body, 200, Precondition::None))
}

fn patch_error(store: &Store, kind: Kind, id: &str, operations: Value) -> ScimError {
    let body = json!({"schemas": [schema::PATCH_OP], "Operations": operations});
    store
        .patch(kind, id, &body, 200, Precondition::None)
        .unwrap_err()
}

fn members(store: &Store, group: &str) -> Vec<String> {
    store
        .get(Kind::Group, group)
        .unwrap()
        .values("members")
        .map(str::to_owned)
        .collect()
}

#[test]
fn filters_are_eq_terms_joined_with_and_and_nothing_else() {
    assert_eq!(
        terms(r#"userName eq "ada@example.com""#).unwrap(),
        vec![Term {
            path: "userName".into(),
            value: Literal::Str("ada@example.com".into())
        }]
    );
    let two = terms(r#"externalId EQ "a\"b" and active eq True"#).unwrap();
    assert_eq!(two[0].value, Literal::Str("a\"b".into()));
    assert_eq!(two[1].value, Literal::Bool(true));
    for refused in [
        r#"userName ne "x""#,
        r#"userName eq "x" or userName eq "y""#,
        r#"(userName eq "x")"#,
        r#"not (userName eq "x")"#,
        r#"userName co "x""#,
        r#"userName pr"#,
        r#"userName eq "x"#,
        r#"userName eq x"#,
        r#"userName eq "x" and"#,
        "",
    ] {
        let error = terms(refused).unwrap_err();
        assert!(
            matches!(error, ScimError::InvalidFilter(_)),
            "{refused}: {error:?}"
        );
    }
    let deep = "(".repeat(100_000);
    assert!(matches!(terms(&deep), Err(ScimError::InvalidFilter(_))));
    let many = [r#"userName eq "x""#; 11].join(" and ");
    assert!(matches!(terms(&many), Err(ScimError::InvalidFilter(_))));
}

#[test]
fn a_filter_resolves_names_in_any_case_and_compares_by_the_attribute_s_case_rule() {
    let mut store = Store::default();
    user(&mut store, "u1", "Ada@Example.com");
    let ada = store.get(Kind::User, "u1").unwrap();
    let passes = |text: &str| {
        Filter::parse(text, &schema::USER)
            .unwrap()
            .matches(&ada.id, &ada.attrs)
    };
    assert!(passes(r#"username eq "ada@example.com""#));
    assert!(passes(
        r#"urn:ietf:params:scim:schemas:core:2.0:User:userName eq "ADA@example.com""#
    ));
    assert!(passes(r#"emails.value eq "ada@example.COM""#));
    assert!(passes(r#"emails eq "ada@example.com" and active eq true"#));
    assert!(passes(r#"id eq "u1""#));
    assert!(!passes(r#"id eq "U1""#));
    assert!(!passes(
        r#"userName eq "ada@example.com" and active eq false"#
    ));
    for unknown in [
        r#"title eq "x""#,
        r#"groups.value eq "x""#,
        r#"name eq "x""#,
    ] {
        assert!(matches!(
            Filter::parse(unknown, &schema::USER),
            Err(ScimError::InvalidFilter(_))
        ));
    }
    // externalId is case-exact.
    let body = json!({"userName": "b", "externalId": "AbC"});
    applied(&mut store, |s| s.create(Kind::User, "u2".into(), &body, 1));
    let bea = store.get(Kind::User, "u2").unwrap();
    let filter = |t: &str| Filter::parse(t, &schema::USER).unwrap();
    assert!(filter(r#"externalId eq "AbC""#).matches(&bea.id, &bea.attrs));
    assert!(!filter(r#"externalId eq "abc""#).matches(&bea.id, &bea.attrs));
}

#[test]
fn a_user_name_is_unique_in_any_case() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.com");
    let again = store.create(
        Kind::User,
        "u2".into(),
        &json!({"userName": "ADA@example.com"}),
        1,
    );
    assert!(matches!(again, Err(ScimError::Uniqueness(_))));
    assert_eq!(again.unwrap_err().body()["scimType"], "uniqueness");
    user(&mut store, "u2", "bea@example.com");
    let error = patch_error(
        &store,
        Kind::User,
        "u2",
        json!([{"op": "replace", "path": "userName", "value": "Ada@example.com"}]),
    );
    assert!(matches!(error, ScimError::Uniqueness(_)));
    // Renaming oneself in another case is fine.
    patch(
        &mut store,
        Kind::User,
        "u1",
        json!([{"op": "replace", "path": "userName", "value": "ADA@example.com"}]),
    );
    assert!(store.user_named("ada@EXAMPLE.com").is_some());
}

#[test]
fn okta_deactivates_with_a_pathless_replace() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.com");
    // Okta: PATCH /Users/{id}
    let planned = patch(
        &mut store,
        Kind::User,
        "u1",
        json!([{"op": "replace", "value": {"active": false}}]),
    );
    assert_eq!(planned.change.active, Some(false));
    assert_eq!(planned.change.attributes, vec!["active".to_owned()]);
    let ada = store.get(Kind::User, "u1").unwrap();
    assert!(!ada.active());
    assert_eq!(ada.standing.seq, planned.change.seq);
    let view = DirectoryView::of(&store);
    let seen = view.user_by_email("ADA@example.com").unwrap();
    assert_eq!(seen.standing, Standing::Deactivated);
    assert_eq!(seen.changed.seq, planned.change.seq);
    assert_eq!(seen.changed.at, 200);
}

#[test]
fn entra_deactivates_with_a_capitalised_op_and_a_string_boolean() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@example.com");
    // Entra: {"op": "Replace", "path": "active", "value": "False"}
    let planned = patch(
        &mut store,
        Kind::User,
        "u1",
        json!([{"op": "Replace", "path": "active", "value": "False"}]),
    );
    assert_eq!(planned.change.active, Some(false));
    assert_eq!(
        store.get(Kind::User, "u1").unwrap().attrs["active"],
        json!(false)
    );
    // And back, which is a change of standing too.
    let back = patch(
        &mut store,
        Kind::User,
        "u1",
        json!([{"op": "Replace", "path": "active", "value": "True"}]),
    );
    assert_eq!(back.change.active, Some(true));
    assert_eq!(
        store.get(Kind::User, "u1").unwrap().standing.seq,
        back.change.seq
    );
    let error = patch_error(
        &store,
        Kind::User,
        "u1",
        json!([{"op": "Replace", "path": "active", "value": "maybe"}]),
    );
    assert!(matches!(error, ScimError::InvalidValue(_)), "{error:?}");
}

#[test]
fn entra_updates_attributes_by_path_and_filtered_path() {
    let mut store = Store::default();
    let body = json!({"userName": "ryan@contoso.com", "externalId": "ryan", "emails": [{"value": "old@contoso.com", "type": "home"}]});
    applied(&mut store, |s| s.create(Kind::User, "u1".into(), &body, 1));
    // Entra's "Update User [Multi-valued properties]" and
    // "[Single-valued properties]" requests.
    let planned = patch(
        &mut store,
        Kind::User,
        "u1",
        json!([
            {"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "updatedEmail@microsoft.com"},
            {"op": "Replace", "path": "name.familyName", "value": "updatedFamilyName"},
            {"op": "Replace", "path": "userName", "value": "5b50642d-79fc-4410-9e90-4c077cdd1a59@testuser.com"},
            {"op": "Add", "path": "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber", "value": "7"},
            {"op": "Add", "path": "title", "value": "Engineer"},
        ]),
    );
    let ryan = store.get(Kind::User, "u1").unwrap();
    assert_eq!(
        ryan.attrs["emails"],
        json!([{"value": "old@contoso.com", "type": "home"}, {"type": "work", "value": "updatedEmail@microsoft.com"}])
    );
    assert_eq!(
        ryan.attrs["name"],
        json!({"familyName": "updatedFamilyName"})
    );
    assert_eq!(
        planned.change.ignored,
        vec![
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber".to_owned(),
            "title".to_owned()
        ]
    );
    // The work email is there now: replacing it changes that one.
    patch(
        &mut store,
        Kind::User,
        "u1",
        json!([{"op": "Replace", "path": "emails[type eq \"work\"].value", "value": "new@microsoft.com"}]),
    );
    let emails: Vec<&str> = store
        .get(Kind::User, "u1")
        .unwrap()
        .values("emails")
        .collect();
    assert_eq!(emails, ["old@contoso.com", "new@microsoft.com"]);
    let view = DirectoryView::of(&store);
    assert_eq!(view.user_by_email("NEW@microsoft.com").unwrap().id, "u1");
    assert!(view.user_by_email("updatedEmail@microsoft.com").is_none());
}

#[test]
fn okta_and_entra_change_group_members_in_their_shapes() {
    let mut store = Store::default();
    for (id, name) in [
        ("u1", "ada@x.test"),
        ("u2", "bea@x.test"),
        ("u3", "cy@x.test"),
    ] {
        user(&mut store, id, name);
    }
    group(&mut store, "g1", "sre", &["u1"]);
    // Both: add members.
    let added = patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "add", "path": "members", "value": [{"value": "u2", "display": "bea@x.test"}, {"value": "u3"}]}]),
    );
    assert_eq!(added.change.members_added, ["u2", "u3"]);
    assert_eq!(members(&store, "g1"), ["u1", "u2", "u3"]);
    // Adding one again changes nothing.
    let again = patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "add", "path": "members", "value": [{"value": "u2"}]}]),
    );
    assert!(again.delta.is_empty());
    assert_eq!(again.change.seq, 0);
    // Okta: remove by filter.
    let removed = patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "remove", "path": "members[value eq \"u2\"]"}]),
    );
    assert_eq!(removed.change.members_removed, ["u2"]);
    assert_eq!(members(&store, "g1"), ["u1", "u3"]);
    // Entra: remove by value.
    patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "Remove", "path": "members", "value": [{"value": "u1"}]}]),
    );
    assert_eq!(members(&store, "g1"), ["u3"]);
    // Okta renames with a pathless replace that carries the id too.
    patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "replace", "value": {"id": "g1", "displayName": "sre-oncall"}}]),
    );
    assert_eq!(
        store.get(Kind::Group, "g1").unwrap().name(Kind::Group),
        "sre-oncall"
    );
    let view = DirectoryView::of(&store);
    let cy = view.user_by_email("cy@x.test").unwrap();
    let groups: Vec<&str> = view
        .groups_of(cy)
        .map(|g| g.display_name.as_str())
        .collect();
    assert_eq!(groups, ["sre-oncall"]);
    assert_eq!(
        view.groups_of(view.user_by_email("ada@x.test").unwrap())
            .count(),
        0
    );
    // Removing every member, and a member that is not there.
    patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "remove", "path": "members"}]),
    );
    assert!(members(&store, "g1").is_empty());
    patch(
        &mut store,
        Kind::Group,
        "g1",
        json!([{"op": "remove", "path": "members[value eq \"u9\"]"}]),
    );
}

#[test]
fn a_member_is_a_user_of_the_directory() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    group(&mut store, "g1", "sre", &[]);
    let error = patch_error(
        &store,
        Kind::Group,
        "g1",
        json!([{"op": "add", "path": "members", "value": [{"value": "nobody"}]}]),
    );
    assert!(
        matches!(error, ScimError::InvalidValue(ref d) if d.contains("create the User first")),
        "{error:?}"
    );
    let error = patch_error(
        &store,
        Kind::Group,
        "g1",
        json!([{"op": "add", "path": "members", "value": [{"value": "g1"}]}]),
    );
    assert!(
        matches!(error, ScimError::InvalidValue(ref d) if d.contains("nested")),
        "{error:?}"
    );
    let error = patch_error(
        &store,
        Kind::Group,
        "g1",
        json!([{"op": "add", "path": "members", "value": [{"display": "x"}]}]),
    );
    assert!(matches!(error, ScimError::InvalidValue(_)), "{error:?}");
}

#[test]
fn a_patch_is_all_or_nothing_and_says_what_is_wrong() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    let before = store.clone();
    let error = patch_error(
        &store,
        Kind::User,
        "u1",
        json!([
            {"op": "replace", "path": "displayName", "value": "Ada"},
            {"op": "move", "path": "displayName"},
        ]),
    );
    assert!(matches!(error, ScimError::InvalidSyntax(_)));
    assert_eq!(store, before);
    for (operations, code) in [
        (json!([{"op": "remove"}]), "noTarget"),
        (
            json!([{"op": "remove", "path": "userName"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "groups", "value": []}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "id", "value": "x"}]),
            "mutability",
        ),
        (
            json!([{"op": "replace", "path": "emails.value", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[type eq \"work\"", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "emails[kind eq \"work\"].value", "value": "x"}]),
            "invalidPath",
        ),
        (
            json!([{"op": "replace", "path": "displayName", "value": "a\u{7}b"}]),
            "invalidValue",
        ),
        (
            json!([{"op": "replace", "path": "active", "value": 1}]),
            "invalidValue",
        ),
        (
            json!([{"op": "add", "path": "displayName"}]),
            "invalidValue",
        ),
    ] {
        let error = patch_error(&store, Kind::User, "u1", operations.clone());
        assert_eq!(error.scim_type(), Some(code), "{operations}: {error:?}");
    }
    let missing = store.patch(
        Kind::User,
        "u9",
        &json!({"Operations": []}),
        1,
        Precondition::None,
    );
    assert!(matches!(missing, Err(ScimError::NotFound(_))));
    let not_patch = store.patch(
        Kind::User,
        "u1",
        &json!({"op": "replace"}),
        1,
        Precondition::None,
    );
    assert!(matches!(not_patch, Err(ScimError::InvalidSyntax(_))));
}

#[test]
fn limits_answer_413() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    let long = "x".repeat(schema::MAX_STRING_BYTES + 1);
    let error = patch_error(
        &store,
        Kind::User,
        "u1",
        json!([{"op": "replace", "path": "displayName", "value": long}]),
    );
    assert_eq!(error.status(), 413);
    let emails: Vec<Value> = (0..=schema::MAX_EMAILS)
        .map(|i| json!({"value": format!("{i}@x.test")}))
        .collect();
    let error = patch_error(
        &store,
        Kind::User,
        "u1",
        json!([{"op": "add", "path": "emails", "value": emails}]),
    );
    assert_eq!(error.status(), 413);
    let operations: Vec<Value> = (0..=patch::MAX_OPERATIONS)
        .map(|_| json!({"op": "remove", "path": "displayName"}))
        .collect();
    assert_eq!(
        patch_error(&store, Kind::User, "u1", json!(operations)).status(),
        413
    );
}

#[test]
fn replace_keeps_what_lbops_owns_and_drops_what_it_does_not_keep() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    group(&mut store, "g1", "sre", &["u1"]);
    let created = store.get(Kind::User, "u1").unwrap().clone();
    let body = json!({
        "schemas": [schema::USER_SCHEMA],
        "id": "something-else",
        "userName": "ada@x.test",
        "active": "false",
        "password": "hunter2-never-kept",
        "groups": [{"value": "g9"}],
        "meta": {"version": "W/\"99\""},
    });
    let planned = applied(&mut store, |s| {
        s.replace(Kind::User, "u1", &body, 300, Precondition::None)
    });
    let ada = store.get(Kind::User, "u1").unwrap();
    assert_eq!(ada.id, "u1");
    assert_eq!(ada.created, created.created);
    assert_eq!(ada.modified.at, 300);
    assert!(!ada.active());
    assert!(!ada.attrs.contains_key("password") && !ada.attrs.contains_key("name"));
    assert_eq!(planned.change.ignored, ["password"]);
    assert!(!store.to_json().windows(6).any(|w| w == b"hunter"));
    // Membership is the Group's, not the User's.
    assert_eq!(members(&store, "g1"), ["u1"]);
}

#[test]
fn if_match_names_the_version_a_change_expects() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    let version = store.get(Kind::User, "u1").unwrap().version();
    assert_eq!(version, "W/\"1\"");
    let body = json!({"Operations": [{"op": "replace", "path": "displayName", "value": "Ada"}]});
    let stale = store.patch(Kind::User, "u1", &body, 1, Precondition::IfMatch("W/\"7\""));
    assert!(matches!(stale, Err(ScimError::PreconditionFailed(_))));
    applied(&mut store, |s| {
        s.patch(Kind::User, "u1", &body, 1, Precondition::IfMatch(&version))
    });
    applied(&mut store, |s| {
        s.delete(Kind::User, "u1", 1, Precondition::IfMatch("*"))
    });
}

#[test]
fn a_deleted_user_leaves_its_groups_and_stays_known_as_deleted() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    user(&mut store, "u2", "bea@x.test");
    group(&mut store, "g1", "sre", &["u1", "u2"]);
    let deleted = applied(&mut store, |s| {
        s.delete(Kind::User, "u1", 500, Precondition::None)
    });
    assert_eq!(deleted.change.left_groups, 1);
    assert_eq!(members(&store, "g1"), ["u2"]);
    assert!(store.get(Kind::User, "u1").is_none());
    let view = DirectoryView::of(&store);
    let ada = view.user_by_email("ada@x.test").unwrap();
    assert_eq!(ada.standing, Standing::Deleted);
    assert_eq!(ada.changed.seq, deleted.change.seq);
    // Created again, the person is who the directory holds now.
    user(&mut store, "u3", "ada@x.test");
    let view = DirectoryView::of(&store);
    assert_eq!(
        view.user_by_email("ada@x.test").unwrap().standing,
        Standing::Active
    );
    assert_eq!(view.user_by_email("ada@x.test").unwrap().id, "u3");
    // Undo puts everything back.
    let before = store.clone();
    let planned = store
        .delete(Kind::User, "u2", 600, Precondition::None)
        .unwrap();
    store.apply(&planned.delta);
    store.undo(&planned.delta);
    assert_eq!(store, before);
}

#[test]
fn where_two_users_answer_to_one_email_the_lesser_access_wins() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    let body =
        json!({"userName": "ada-admin", "emails": [{"value": "Ada@x.test"}], "active": false});
    applied(&mut store, |s| s.create(Kind::User, "u2".into(), &body, 1));
    let view = DirectoryView::of(&store);
    assert_eq!(view.user_by_email("ada@x.test").unwrap().id, "u2");
    assert!(view.user_by_email("nobody@x.test").is_none());
}

#[test]
fn pages_count_from_one_and_hold_at_most_the_count() {
    let mut store = Store::default();
    for i in 0..5 {
        user(&mut store, &format!("u{i}"), &format!("user{i}@x.test"));
    }
    let page = |params: Params<'_>| {
        list(
            &store,
            Kind::User,
            &Query::parse(params, Kind::User).unwrap(),
            BASE,
        )
    };
    let all = page(Params::default());
    assert_eq!(all["totalResults"], 5);
    assert_eq!(all["itemsPerPage"], 5);
    assert_eq!(all["startIndex"], 1);
    assert_eq!(all["schemas"], json!([schema::LIST_RESPONSE]));
    let second = page(Params {
        start_index: Some("2"),
        count: Some("2"),
        ..Params::default()
    });
    assert_eq!(second["totalResults"], 5);
    assert_eq!(second["itemsPerPage"], 2);
    assert_eq!(second["Resources"][0]["id"], "u1");
    let from_zero = page(Params {
        start_index: Some("0"),
        count: Some("-3"),
        ..Params::default()
    });
    assert_eq!(
        (
            from_zero["startIndex"].clone(),
            from_zero["itemsPerPage"].clone()
        ),
        (json!(1), json!(0))
    );
    let past_the_end = page(Params {
        start_index: Some("9"),
        ..Params::default()
    });
    assert_eq!(past_the_end["Resources"], json!([]));
    let filtered = page(Params {
        filter: Some(r#"userName eq "USER3@x.test""#),
        ..Params::default()
    });
    assert_eq!(filtered["totalResults"], 1);
    assert_eq!(filtered["Resources"][0]["id"], "u3");
    let huge = Query::parse(
        Params {
            count: Some("100000"),
            ..Params::default()
        },
        Kind::User,
    )
    .unwrap();
    assert_eq!(huge.count, list::MAX_COUNT);
    assert!(matches!(
        Query::parse(
            Params {
                count: Some("ten"),
                ..Params::default()
            },
            Kind::User
        ),
        Err(ScimError::InvalidValue(_))
    ));
}

#[test]
fn a_resource_reads_with_meta_computed_references_and_the_attributes_asked_for() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    group(&mut store, "g1", "sre", &["u1"]);
    let ada = store.get(Kind::User, "u1").unwrap();
    let mut out = render::resource(&store, Kind::User, ada, BASE);
    assert_eq!(out["meta"]["location"], format!("{BASE}/Users/u1"));
    assert_eq!(out["meta"]["resourceType"], "User");
    assert_eq!(out["meta"]["created"], "1970-01-01T00:01:40Z");
    assert_eq!(out["meta"]["version"], "W/\"1\"");
    assert_eq!(
        out["groups"],
        json!([{"value": "g1", "$ref": format!("{BASE}/Groups/g1"), "display": "sre", "type": "direct"}])
    );
    Projection::parse(Some("userName,name.givenName"), None, Kind::User)
        .unwrap()
        .apply(&mut out);
    assert_eq!(
        out,
        json!({"schemas": [schema::USER_SCHEMA], "id": "u1", "userName": "ada@x.test", "name": {"givenName": "Ada"}})
    );
    let sre = store.get(Kind::Group, "g1").unwrap();
    let mut out = render::resource(&store, Kind::Group, sre, BASE);
    assert_eq!(
        out["members"],
        json!([{"value": "u1", "$ref": format!("{BASE}/Users/u1"), "type": "User"}])
    );
    Projection::parse(None, Some("members"), Kind::Group)
        .unwrap()
        .apply(&mut out);
    assert!(out.get("members").is_none() && out.get("displayName").is_some());
    assert!(Projection::parse(Some("a"), Some("b"), Kind::User).is_err());
}

#[test]
fn the_file_form_reads_back_and_a_damaged_one_says_what_is_wrong() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    group(&mut store, "g1", "sre", &["u1"]);
    applied(&mut store, |s| {
        s.delete(Kind::User, "u1", 9, Precondition::None)
    });
    user(&mut store, "u2", "bea@x.test");
    let bytes = store.to_json();
    let read = Store::from_json(&bytes).unwrap();
    assert_eq!(read, store);
    assert_eq!(DirectoryView::of(&read), DirectoryView::of(&store));

    let file: Value = serde_json::from_slice(&bytes).unwrap();
    let damage = |edit: &dyn Fn(&mut Value)| {
        let mut damaged = file.clone();
        edit(&mut damaged);
        Store::from_json(&serde_json::to_vec(&damaged).unwrap()).unwrap_err()
    };
    assert!(damage(&|f| f["format"] = json!(2)).contains("format 2"));
    assert!(
        damage(&|f| f["groups"][0]["attrs"]["members"] = json!([{"value": "u1"}]))
            .contains("no User")
    );
    assert!(damage(&|f| f["users"][0]["attrs"]["active"] = json!("yes")).contains("active"));
    assert!(
        damage(&|f| f["users"][0]["attrs"]["active"] = json!("false"))
            .contains("not as lbops keeps")
    );
    assert!(damage(&|f| f["seq"] = json!(1)).contains("changed after"));
    assert!(damage(&|f| {
        let first = f["users"][0].clone();
        f["users"].as_array_mut().unwrap().push(first);
    })
    .contains("twice"));
    assert!(Store::from_json(b"{\"format\":1,")
        .unwrap_err()
        .contains("not its JSON"));
}

#[test]
fn discovery_publishes_the_tables() {
    let schemas = discovery::schemas(BASE);
    let names: Vec<&str> = schemas["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "User",
            "Group",
            "ServiceProviderConfig",
            "ResourceType",
            "Schema"
        ]
    );
    let user = &schemas["Resources"][0];
    let user_name = &user["attributes"][0];
    assert_eq!(user_name["name"], "userName");
    assert_eq!(user_name["uniqueness"], "server");
    assert_eq!(user_name["required"], true);
    let members = &schemas["Resources"][1]["attributes"][1];
    assert_eq!(
        members["subAttributes"][1]["referenceTypes"],
        json!(["User"])
    );
    let types = discovery::resource_types(BASE);
    assert_eq!(types["Resources"][1]["endpoint"], "/Groups");
    assert_eq!(
        discovery::service_provider_config(BASE)["patch"]["supported"],
        true
    );
}

#[test]
fn every_error_reads_as_rfc_7644_error_json() {
    let errors = [
        ScimError::InvalidFilter("f".into()),
        ScimError::InvalidPath("p".into()),
        ScimError::InvalidValue("v".into()),
        ScimError::InvalidSyntax("s".into()),
        ScimError::NoTarget("t".into()),
        ScimError::Mutability("m".into()),
        ScimError::Uniqueness("u".into()),
        ScimError::NotFound("n".into()),
        ScimError::MethodNotAllowed("a".into()),
        ScimError::PreconditionFailed("p".into()),
        ScimError::TooLarge("l".into()),
        ScimError::Unauthorized("w".into()),
        ScimError::NotImplemented("i".into()),
        ScimError::Internal("i".into()),
        ScimError::Unavailable("u".into()),
    ];
    for error in errors {
        let body = error.body();
        assert_eq!(body["schemas"], json!([schema::ERROR]));
        assert_eq!(body["status"], error.status().to_string());
        assert_eq!(body["detail"], error.to_string());
        assert_eq!(
            body.get("scimType").and_then(Value::as_str),
            error.scim_type()
        );
    }
}

#[test]
fn a_search_across_types_pages_users_then_groups_and_a_filter_one_type_lacks_matches_none_of_it() {
    let mut store = Store::default();
    user(&mut store, "u1", "ada@x.test");
    user(&mut store, "u2", "bea@x.test");
    group(&mut store, "g1", "sre", &["u1"]);
    let all = list::list_all(&store, Params::default(), BASE).unwrap();
    assert_eq!(all["totalResults"], 3);
    let ids: Vec<&str> = all["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["u1", "u2", "g1"]);
    let second = list::list_all(
        &store,
        Params {
            start_index: Some("3"),
            attributes: Some("displayName"),
            ..Params::default()
        },
        BASE,
    )
    .unwrap();
    assert_eq!(
        second["Resources"],
        json!([{"schemas": [schema::GROUP_SCHEMA], "id": "g1", "displayName": "sre"}])
    );
    let users_only = list::list_all(
        &store,
        Params {
            filter: Some(r#"userName eq "bea@x.test""#),
            ..Params::default()
        },
        BASE,
    )
    .unwrap();
    assert_eq!(users_only["totalResults"], 1);
    let neither = list::list_all(
        &store,
        Params {
            filter: Some(r#"title eq "x""#),
            ..Params::default()
        },
        BASE,
    );
    assert!(matches!(neither, Err(ScimError::InvalidFilter(_))));
}
