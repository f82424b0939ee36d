//! The access kinds. Any change to a Role, User or Group needs that
//! kind's `access.*.update` (labels and creation included). A
//! ServiceAccount's tokens are credentials with their own actions: a token
//! added, or its hash, expiry or scopes replaced, is `access.tokens.issue`
//! (also when the account is created with it); a token removed is
//! `access.tokens.revoke` (also when the account is deleted). Token hashes
//! never appear in a detail.
//!
//! | field | action |
//! |---|---|
//! | Role `description`, `rules` | `access.roles.update` |
//! | User `emails`, `signing_keys`, `roles`, `groups`, `disabled` | `access.users.update` |
//! | Group `description`, `roles` | `access.groups.update` |
//! | ServiceAccount `owner`, `roles`, `emails`, `signing_keys`, tokens reordered | `access.serviceaccounts.update` |
//! | ServiceAccount token added; its `hash`, `expires`, `scopes` changed | `access.tokens.issue` |
//! | ServiceAccount token removed | `access.tokens.revoke` |

use super::text::{plus_minus, timestamp};
use super::{Classify, Found};
use crate::spec::actions::{self, Action};
use crate::spec::kinds::access::{
    GroupSpec, RoleSpec, Rule, ServiceAccountSpec, SigningKey, Token, UserSpec,
};
use crate::spec::kinds::Kind;
use crate::spec::yaml::Spanned;
use std::borrow::Borrow;
use std::collections::BTreeMap;

const ROLES: &Action = &actions::ACCESS_ROLES_UPDATE;
const USERS: &Action = &actions::ACCESS_USERS_UPDATE;
const GROUPS: &Action = &actions::ACCESS_GROUPS_UPDATE;
const ACCOUNTS: &Action = &actions::ACCESS_SERVICEACCOUNTS_UPDATE;
const ISSUE: &Action = &actions::ACCESS_TOKENS_ISSUE;
const REVOKE: &Action = &actions::ACCESS_TOKENS_REVOKE;

impl Classify for RoleSpec {
    const KIND: Kind = Kind::Role;
    const CREATE: &'static Action = ROLES;
    const DELETE: &'static Action = ROLES;
    const LABELS: &'static Action = ROLES;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let RoleSpec { description, rules } = before;
        if *description != after.description {
            found.note(ROLES, "description changed");
        }
        if *rules != after.rules {
            let longest = rules.len().max(after.rules.len());
            for i in 0..longest {
                match (rules.get(i), after.rules.get(i)) {
                    (Some(_), None) => found.note(ROLES, format!("rule {} removed", i + 1)),
                    (None, Some(r)) => {
                        found.note(ROLES, format!("rule {} added: {}", i + 1, rule_text(r)));
                    }
                    (Some(a), Some(b)) if a != b => {
                        let (a, b) = (rule_text(a), rule_text(b));
                        found.note(ROLES, format!("rule {} {a} → {b}", i + 1));
                    }
                    _ => {}
                }
            }
        }
    }

    fn summary(spec: &Self) -> Option<String> {
        let rules: Vec<String> = spec.rules.iter().map(rule_text).collect();
        Some(format!("with rules {}", rules.join("; ")))
    }
}

/// `pool.weights.update on pool/* when team=web`.
fn rule_text(rule: &Rule) -> String {
    let Rule {
        actions,
        resources,
        when,
        approvals,
    } = rule;
    let join = |v: &[Spanned<String>]| {
        v.iter()
            .map(|s| s.value.as_str())
            .collect::<Vec<_>>()
            .join(",")
    };
    let mut text = format!("{} on {}", join(actions), join(resources));
    if let Some(when) = when.as_ref().filter(|w| !w.labels.is_empty()) {
        let labels: Vec<String> = when
            .labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        text.push_str(&format!(" when {}", labels.join(",")));
    }
    if let Some(approvals) = approvals {
        text.push_str(&format!(
            " approved by {} principals",
            approvals.principals.value
        ));
    }
    text
}

fn names<T: Borrow<str>>(v: &[Spanned<T>]) -> impl Iterator<Item = &str> {
    v.iter().map(|s| s.value.borrow())
}

fn keys_changed(
    action: &'static Action,
    before: &[Spanned<SigningKey>],
    after: &[Spanned<SigningKey>],
    found: &mut Found,
) {
    if before != after {
        found.note(
            action,
            format!("signing keys changed ({} → {})", before.len(), after.len()),
        );
    }
}

impl Classify for UserSpec {
    const KIND: Kind = Kind::User;
    const CREATE: &'static Action = USERS;
    const DELETE: &'static Action = USERS;
    const LABELS: &'static Action = USERS;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let UserSpec {
            emails,
            signing_keys,
            roles,
            groups,
            disabled,
        } = before;
        if let Some(detail) = plus_minus("emails", names(emails), names(&after.emails)) {
            found.note(USERS, detail);
        }
        keys_changed(USERS, signing_keys, &after.signing_keys, found);
        for (what, old, new) in [
            ("roles", roles, &after.roles),
            ("groups", groups, &after.groups),
        ] {
            if let Some(detail) = plus_minus(what, names(old), names(new)) {
                found.note(USERS, detail);
            }
        }
        if *disabled != after.disabled {
            found.note(
                USERS,
                if after.disabled {
                    "disabled"
                } else {
                    "enabled again"
                },
            );
        }
    }
}

impl Classify for GroupSpec {
    const KIND: Kind = Kind::Group;
    const CREATE: &'static Action = GROUPS;
    const DELETE: &'static Action = GROUPS;
    const LABELS: &'static Action = GROUPS;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let GroupSpec { description, roles } = before;
        if *description != after.description {
            found.note(GROUPS, "description changed");
        }
        if let Some(detail) = plus_minus("roles", names(roles), names(&after.roles)) {
            found.note(GROUPS, detail);
        }
    }
}

impl Classify for ServiceAccountSpec {
    const KIND: Kind = Kind::ServiceAccount;
    const CREATE: &'static Action = ACCOUNTS;
    const DELETE: &'static Action = ACCOUNTS;
    const LABELS: &'static Action = ACCOUNTS;

    fn diff(before: &Self, after: &Self, found: &mut Found) {
        let ServiceAccountSpec {
            owner,
            roles,
            emails,
            signing_keys,
            tokens,
        } = before;
        if *owner != after.owner {
            let detail = format!("owner {} → {}", owner.value, after.owner.value);
            found.note(ACCOUNTS, detail);
        }
        if let Some(detail) = plus_minus("roles", names(roles), names(&after.roles)) {
            found.note(ACCOUNTS, detail);
        }
        if let Some(detail) = plus_minus("emails", names(emails), names(&after.emails)) {
            found.note(ACCOUNTS, detail);
        }
        keys_changed(ACCOUNTS, signing_keys, &after.signing_keys, found);
        if *tokens != after.tokens {
            diff_tokens(tokens, &after.tokens, found);
        }
    }

    fn summary(spec: &Self) -> Option<String> {
        Some(format!("owned by {}", spec.owner.value))
    }

    fn created(spec: &Self, found: &mut Found) {
        diff_tokens(&[], &spec.tokens, found);
    }

    fn deleted(spec: &Self, found: &mut Found) {
        diff_tokens(&spec.tokens, &[], found);
    }
}

fn diff_tokens(before: &[Token], after: &[Token], found: &mut Found) {
    let noted = found.len();
    let old: BTreeMap<&str, &Token> = before.iter().map(|t| (t.name.value.as_str(), t)).collect();
    let new: BTreeMap<&str, &Token> = after.iter().map(|t| (t.name.value.as_str(), t)).collect();
    for (name, token) in &old {
        let Some(now) = new.get(name) else {
            found.note(REVOKE, format!("token `{name}` revoked"));
            continue;
        };
        let Token {
            name: _, // the key these two were paired by
            id,
            hash,
            expires,
            created,
            scopes,
            resources,
        } = token;
        if *hash != now.hash || *id != now.id {
            found.note(ISSUE, format!("token `{name}` replaced (new hash)"));
        }
        if *created != now.created {
            found.note(ISSUE, format!("token `{name}` creation time changed"));
        }
        if let Some(detail) = plus_minus(
            &format!("token `{name}` resources"),
            names(resources),
            names(&now.resources),
        ) {
            found.note(ISSUE, detail);
        }
        if *expires != now.expires {
            let (a, b) = (timestamp(expires.value), timestamp(now.expires.value));
            found.note(ISSUE, format!("token `{name}` expiry {a} → {b}"));
        }
        if let Some(detail) = plus_minus(
            &format!("token `{name}` scopes"),
            names(scopes),
            names(&now.scopes),
        ) {
            found.note(ISSUE, detail);
        }
    }
    for (name, token) in &new {
        if !old.contains_key(name) {
            let scopes: Vec<&str> = names(&token.scopes).collect();
            let detail = format!(
                "token `{name}` issued (expires {}, scopes [{}])",
                timestamp(token.expires.value),
                scopes.join(", ")
            );
            found.note(ISSUE, detail);
        }
    }
    if found.len() == noted && before != after {
        found.note(ACCOUNTS, "tokens reordered");
    }
}
