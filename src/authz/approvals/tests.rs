//! The requirement a policy sets, the trailer, and the count: every
//! approval that counts has its twin that does not.

use super::*;
use crate::authz::Authorizer;
use crate::idp::Idp;
use crate::spec::actions;
use crate::spec::kinds::{Kind, ResourceId};
use crate::spec::{load, Options, SourceFile};

/// alice and bob hold `lb-guard` (deleting balancers needs 2 principals,
/// 3 for `tier: core`); carol holds `sre-admin` (`*`, no approvals);
/// dave holds nothing that deletes.
const POLICY: &str = "kind: Role
name: lb-guard
spec:
  rules:
    - actions: [loadbalancer.delete]
      resources: [loadbalancer/*]
      approvals: {principals: 2}
    - actions: [loadbalancer.delete]
      resources: [loadbalancer/*]
      when: {labels: {tier: core}}
      approvals: {principals: 3}
---
kind: Role
name: sre-admin
spec:
  rules: [{actions: ['*'], resources: ['*']}]
---
kind: Role
name: reader
spec:
  rules: [{actions: [state.read], resources: ['*']}]
---
kind: User
name: alice
spec: {emails: [alice@example.test], roles: [lb-guard]}
---
kind: User
name: bob
spec: {emails: [bob@example.test], roles: [lb-guard]}
---
kind: User
name: carol
spec: {emails: [carol@example.test], roles: [sre-admin]}
---
kind: User
name: dave
spec: {emails: [dave@example.test], roles: [reader]}
";

fn policy() -> Catalog {
    load(&[SourceFile::new("access.yaml", POLICY)], &Options::at(0))
        .expect("the policy validates")
        .catalog
}

fn user(name: &str) -> Principal {
    Principal::User(name.parse().unwrap())
}

fn delete(name: &str, labels: &[(&str, &str)]) -> Change {
    let labels: crate::spec::kinds::Labels = labels
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    Change {
        action: &actions::LOADBALANCER_DELETE,
        resource: Some(ResourceId::new(Kind::LoadBalancer, name.parse().unwrap())),
        labels_before: Some(labels),
        labels_after: None,
        detail: "deleted".to_owned(),
    }
}

fn holds(name: &str) -> Signer {
    Signer::Holds {
        principal: user(name),
    }
}

fn offer(commit: &str, signer: Signer) -> Offer<String> {
    Offer {
        commit: commit.to_owned(),
        signer,
    }
}

fn two() -> Requirement {
    Requirement {
        principals: 2,
        role: "lb-guard".parse().unwrap(),
        rule: 0,
    }
}

#[test]
fn the_strictest_covering_rule_sets_the_number_whoever_the_author_is() {
    let policy = policy();
    assert_eq!(required(&policy, &delete("edge", &[])), Some(two()));
    let core = required(&policy, &delete("edge", &[("tier", "core")])).unwrap();
    assert_eq!((core.principals, core.rule), (3, 1), "{core}");
    // carol's `*` allows it without approvals, and does not skip them.
    assert!(required(&policy, &delete("edge", &[])).is_some());
    let weights = Change {
        action: &actions::POOL_WEIGHTS_UPDATE,
        ..delete("web", &[])
    };
    assert_eq!(required(&policy, &weights), None, "no rule asks for it");
}

#[test]
fn the_trailer_names_a_full_tree_id() {
    let tree = "4b825dc642cb6eb9a060e54bf8d69288fbee4904";
    assert_eq!(
        approves(&format!("approve\n\nLbops-Approves: {tree}\n")),
        Approves::Tree(tree.to_owned())
    );
    assert_eq!(
        approves(&format!(
            "x\n\n  Lbops-Approves:  {}  ",
            tree.to_uppercase()
        )),
        Approves::Tree(tree.to_owned()),
        "read as git prints it"
    );
    assert_eq!(approves("approve\n\nLooks good"), Approves::Nothing);
    for bad in ["4b825dc", "HEAD^{tree}", "", &format!("{tree}0")] {
        assert!(
            matches!(
                approves(&format!("Lbops-Approves: {bad}")),
                Approves::Unreadable { .. }
            ),
            "{bad}"
        );
    }
}

#[test]
fn the_author_alone_is_one_principal_short() {
    let holders = [user("alice"), user("bob"), user("carol")];
    let unapproved = tally::<String>(&two(), &user("alice"), &[], &holders).unwrap_err();
    assert_eq!(unapproved.missing, 1);
    assert_eq!(unapproved.signed, [user("alice")]);
    assert_eq!(unapproved.could, [user("bob"), user("carol")]);
    assert_eq!(
        unapproved.headline(),
        "needs 1 more approval from: bob, carol"
    );
}

#[test]
fn a_second_principal_who_holds_it_approves() {
    let approved = tally(
        &two(),
        &user("alice"),
        &[offer("c2", holds("bob"))],
        &[user("alice"), user("bob")],
    )
    .unwrap();
    assert_eq!(approved.approvers, [("c2".to_owned(), user("bob"))]);
}

#[test]
fn the_author_does_not_approve_their_own_change() {
    let unapproved = tally(
        &two(),
        &user("alice"),
        &[offer("c2", holds("alice"))],
        &[user("alice"), user("bob")],
    )
    .unwrap_err();
    assert_eq!(unapproved.missing, 1);
    assert_eq!(
        unapproved.ignored,
        [(
            "c2".to_owned(),
            Ignored::ByTheAuthor {
                principal: user("alice")
            }
        )]
    );
    assert!(
        unapproved
            .to_string()
            .contains("alice wrote the change, and nobody approves their own"),
        "{unapproved}"
    );
}

#[test]
fn one_person_counts_once_however_many_approvals_they_sign() {
    let three = Requirement {
        principals: 3,
        ..two()
    };
    let offers = [offer("c2", holds("bob")), offer("c3", holds("bob"))];
    let unapproved = tally(
        &three,
        &user("alice"),
        &offers,
        &[user("alice"), user("bob"), user("carol")],
    )
    .unwrap_err();
    assert_eq!(unapproved.missing, 1);
    assert_eq!(unapproved.signed, [user("alice"), user("bob")]);
    assert_eq!(unapproved.could, [user("carol")]);
    assert_eq!(
        unapproved.ignored,
        [(
            "c3".to_owned(),
            Ignored::Again {
                principal: user("bob")
            }
        )]
    );
    // With carol too it is enough.
    let offers = [
        offers[0].clone(),
        offers[1].clone(),
        offer("c4", holds("carol")),
    ];
    assert!(tally(&three, &user("alice"), &offers, &[]).is_ok());
}

#[test]
fn an_approval_that_cannot_count_is_named_with_its_reason() {
    let other = Unusable::OtherTree {
        approves: "a".repeat(40),
        head: "b".repeat(40),
    };
    let offers = [
        offer("c2", Signer::Unusable(other.clone())),
        offer(
            "c3",
            Signer::Unusable(Unusable::Nobody {
                reason: "unsigned".to_owned(),
            }),
        ),
    ];
    let unapproved = tally(&two(), &user("alice"), &offers, &[user("bob")]).unwrap_err();
    assert_eq!(unapproved.missing, 1);
    assert_eq!(
        unapproved.ignored[0],
        ("c2".to_owned(), Ignored::Unusable(other))
    );
    let text = unapproved.to_string();
    assert!(text.starts_with("needs 1 more approval from: bob (rule 1 of role lb-guard asks for 2 principals; signed by alice)"), "{text}");
    assert!(
        text.contains(&format!("approves tree {}", "a".repeat(40))),
        "{text}"
    );
    assert!(
        text.contains("its signature proves nobody (unsigned)"),
        "{text}"
    );
}

#[test]
fn who_could_approve_are_those_the_policy_allows() {
    let policy = policy();
    let authorizer = Authorizer::new(&policy, Idp::Absent);
    assert_eq!(
        authorizer.allowed(&delete("edge", &[])),
        [user("alice"), user("bob"), user("carol")],
        "dave may not delete, so he is not named"
    );
    let nobody = tally::<String>(&two(), &user("alice"), &[], &[user("alice")]).unwrap_err();
    assert_eq!(
        nobody.headline(),
        "needs 1 more approval, and nobody else holds the permission"
    );
}

#[test]
fn print_every_message_for_review() {
    let denied =
        crate::authz::authorize(&policy(), Idp::Absent, &user("dave"), &delete("edge", &[]))
            .unwrap_err();
    let offers = [
        offer("c2", holds("alice")),
        offer("c3", holds("bob")),
        offer("c4", holds("bob")),
        offer(
            "c5",
            Signer::Unusable(Unusable::Lacks {
                denied: Box::new(denied),
            }),
        ),
        offer(
            "c6",
            Signer::Unusable(Unusable::Unreadable {
                problem: "`HEAD` is not a tree id (40 or 64 hex digits)".to_owned(),
            }),
        ),
    ];
    let three = Requirement {
        principals: 3,
        ..two()
    };
    let unapproved = tally(&three, &user("alice"), &offers, &[user("carol")]).unwrap_err();
    println!("{unapproved}");
}
