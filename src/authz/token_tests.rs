//! API tokens over the example policy: who a presented token identifies
//! (identity), and what it may then do (the account's roles, narrowed by
//! the token). Every refusal beside the call that gets through.

use super::fixture::{edited, trusted};
use super::*;
use crate::identity::{authenticate, TokenCaller, TokenRefused};
use crate::spec::kinds::access::Token;
use crate::spec::material::api_token::{ApiToken, TokenFormatError};
use crate::spec::units::Timestamp;
use crate::spec::yaml::Spanned;
use crate::spec::Catalog;

const NOW: i64 = 1_800_000_000;

fn token(seed: u8) -> ApiToken {
    let mut state = u64::from(seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    ApiToken::generate(|buffer| {
        for b in buffer {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state.to_le_bytes()[0];
        }
    })
}

/// The example policy with `entry` added to deploy-bot's tokens.
fn issued(policy: &Catalog, entry: Token) -> Catalog {
    let mut policy = policy.clone();
    let account = policy
        .service_accounts
        .get_mut("deploy-bot")
        .expect("the example has deploy-bot");
    account.spec.tokens.push(entry);
    policy
}

fn entry(token: &ApiToken, hash_of: &ApiToken, scopes: &[&str], resources: &[&str]) -> Token {
    let strings = |items: &[&str]| {
        items
            .iter()
            .map(|s| Spanned::unplaced((*s).to_owned()))
            .collect()
    };
    Token {
        name: Spanned::unplaced(format!("t-{}", token.id()).parse().unwrap()),
        id: Some(Spanned::unplaced(token.id().to_string())),
        hash: Spanned::unplaced(hash_of.stored_hash()),
        expires: Spanned::unplaced(Timestamp(NOW + 3600)),
        created: None,
        scopes: strings(scopes),
        resources: strings(resources),
    }
}

fn weight_of(pool: &str) -> Change {
    let file = format!("pools/{pool}.yaml");
    let (from, to) = match pool {
        "web" => (
            "      weight: 1\n    - address: 127.0.0.1:9002",
            "      weight: 9\n    - address: 127.0.0.1:9002",
        ),
        _ => (
            "    - address: 127.0.0.1:15432\n",
            "    - address: 127.0.0.1:15432\n      weight: 5\n",
        ),
    };
    let candidate = edited(&[(&file, from, to)]);
    changes(&trusted(), &candidate)
        .into_iter()
        .find(|c| c.action.name == "pool.weights.update")
        .expect("a weight change")
}

fn caller(policy: &Catalog, token: &ApiToken) -> TokenCaller {
    authenticate(policy, token.expose(), NOW).expect("the token identifies deploy-bot")
}

#[test]
fn a_token_identifies_its_account_only_while_it_is_in_git_unexpired_and_exact() {
    let t = token(1);
    let policy = issued(&trusted(), entry(&t, &t, &[], &[]));
    let found = caller(&policy, &t);
    assert_eq!(found.account.as_str(), "deploy-bot");
    assert_eq!(found.id, *t.id());

    let text = t.expose();
    assert!(matches!(
        authenticate(&policy, "Bearer nonsense", NOW),
        Err(TokenRefused::Malformed(TokenFormatError::NoPrefix))
    ));
    let mut typo = text.to_owned();
    let at = text.len() - 10;
    typo.replace_range(at..=at, if &text[at..=at] == "A" { "B" } else { "A" });
    assert_eq!(
        authenticate(&policy, &typo, NOW),
        Err(TokenRefused::Malformed(TokenFormatError::Checksum))
    );
    let stranger = token(2);
    assert_eq!(
        authenticate(&policy, stranger.expose(), NOW),
        Err(TokenRefused::UnknownId(stranger.id().clone()))
    );
    // The right id with another token's hash: the secret is what counts.
    let swapped = issued(&trusted(), entry(&t, &stranger, &[], &[]));
    assert_eq!(
        authenticate(&swapped, text, NOW),
        Err(TokenRefused::WrongSecret(t.id().clone()))
    );
    assert_eq!(
        authenticate(&policy, text, NOW + 3600),
        Err(TokenRefused::Expired {
            id: t.id().clone(),
            expired_at: NOW + 3600
        })
    );
    // Removed from git: unknown at once.
    assert_eq!(
        authenticate(&trusted(), text, NOW),
        Err(TokenRefused::UnknownId(t.id().clone()))
    );
    // No refusal shows the secret.
    for refused in [
        authenticate(&swapped, text, NOW),
        authenticate(&policy, &typo, NOW),
    ] {
        let shown = refused.unwrap_err().to_string();
        assert!(!shown.contains(&text[19..]), "{shown}");
    }
}

#[test]
fn a_token_only_narrows_its_accounts_roles() {
    let web = weight_of("web");
    let t = token(3);

    let unscoped = issued(&trusted(), entry(&t, &t, &[], &[]));
    assert!(authorize_token(
        &unscoped,
        crate::idp::Idp::Absent,
        &caller(&unscoped, &t),
        &web
    )
    .is_ok());

    let scoped = issued(
        &trusted(),
        entry(&t, &t, &["pool.weights.*"], &["pool/web-*"]),
    );
    assert!(authorize_token(&scoped, crate::idp::Idp::Absent, &caller(&scoped, &t), &web).is_ok());

    let other_action = issued(&trusted(), entry(&t, &t, &["pool.targets.update"], &[]));
    let denied = authorize_token(
        &other_action,
        crate::idp::Idp::Absent,
        &caller(&other_action, &t),
        &web,
    )
    .unwrap_err();
    assert_eq!(
        denied.to_string(),
        format!(
            "serviceaccount/deploy-bot may not pool.weights.update on pool/web-stable: its role allows \
             it, but token {} is scoped to pool.targets.update; create a token whose scopes and \
             resources include this (`lbops token create`)",
            t.id()
        )
    );

    let other_pool = issued(&trusted(), entry(&t, &t, &[], &["pool/api-*"]));
    let denied = authorize_token(
        &other_pool,
        crate::idp::Idp::Absent,
        &caller(&other_pool, &t),
        &web,
    )
    .unwrap_err();
    assert!(
        matches!(*denied.why, Why::TokenResources { .. }),
        "{denied}"
    );

    // A scope can never widen: the account's role does not cover db.
    let wide = issued(&trusted(), entry(&t, &t, &["*"], &["*"]));
    let denied = authorize_token(
        &wide,
        crate::idp::Idp::Absent,
        &caller(&wide, &t),
        &weight_of("db"),
    )
    .unwrap_err();
    assert!(matches!(*denied.why, Why::NotCovered { .. }), "{denied}");

    // The owner deprovisioned: the token still identifies the account,
    // which may do nothing.
    let mut disabled = unscoped.clone();
    disabled
        .users
        .get_mut("alice")
        .expect("alice owns deploy-bot")
        .spec
        .disabled = true;
    let denied = authorize_token(
        &disabled,
        crate::idp::Idp::Absent,
        &caller(&disabled, &t),
        &web,
    )
    .unwrap_err();
    assert!(matches!(*denied.why, Why::OwnerDisabled { .. }), "{denied}");
}

/// The example policy where web-oncall may also read its pools.
fn readable() -> Catalog {
    edited(&[(
        "access/roles.yaml",
        "    - actions: [pool.weights.update, pool.targets.update]\n",
        "    - actions: [pool.weights.update, pool.targets.update, state.read]\n",
    )])
}

fn read_of(policy: &Catalog, pool: &str) -> Change {
    let found = policy.pools.get(pool).expect("the example has the pool");
    Change::on(
        &crate::spec::actions::STATE_READ,
        crate::spec::kinds::ResourceId::new(crate::spec::kinds::Kind::Pool, found.name.clone()),
        found.labels.clone(),
    )
}

#[test]
fn a_read_is_judged_on_the_resource_with_its_labels_and_the_tokens_patterns() {
    let t = token(4);
    let policy = issued(&readable(), entry(&t, &t, &[], &[]));
    let who = caller(&policy, &t);
    let permit = authorize_token(
        &policy,
        crate::idp::Idp::Absent,
        &who,
        &read_of(&policy, "web-stable"),
    )
    .unwrap();
    assert_eq!(permit.action().name, "state.read");
    // The role's `when: {labels: {team: web}}` holds for reads too.
    let denied = authorize_token(
        &policy,
        crate::idp::Idp::Absent,
        &who,
        &read_of(&policy, "db"),
    )
    .unwrap_err();
    assert!(
        matches!(&*denied.why, Why::NotCovered { near, .. } if !near.is_empty()),
        "{denied}"
    );

    let narrow = issued(
        &readable(),
        entry(&t, &t, &["state.read"], &["pool/web-a*"]),
    );
    let who = caller(&narrow, &t);
    assert!(authorize_token(
        &narrow,
        crate::idp::Idp::Absent,
        &who,
        &read_of(&narrow, "web-api")
    )
    .is_ok());
    let denied = authorize_token(
        &narrow,
        crate::idp::Idp::Absent,
        &who,
        &read_of(&narrow, "web-stable"),
    )
    .unwrap_err();
    assert!(
        matches!(*denied.why, Why::TokenResources { .. }),
        "{denied}"
    );
}

#[test]
fn holding_an_action_at_all_needs_the_role_the_scope_and_an_active_owner() {
    let read = &crate::spec::actions::STATE_READ;
    let t = token(5);
    let policy = issued(&readable(), entry(&t, &t, &["state.read"], &["pool/web-*"]));
    assert_eq!(
        token_holds_action(&policy, crate::idp::Idp::Absent, &caller(&policy, &t), read),
        Ok(())
    );

    // The role names no state.read: refused whatever the resource.
    let unreadable = issued(&trusted(), entry(&t, &t, &[], &[]));
    let denied = token_holds_action(
        &unreadable,
        crate::idp::Idp::Absent,
        &caller(&unreadable, &t),
        read,
    )
    .unwrap_err();
    assert!(
        matches!(&*denied.why, Why::NotCovered { near, .. } if near.is_empty()),
        "{denied}"
    );
    assert_eq!(
        denied.to_string(),
        "serviceaccount/deploy-bot may not state.read on the repository: no rule of role \
         web-oncall allows state.read; held by roles auditor (carol), sre-admin (alice)"
    );

    let scoped = issued(&readable(), entry(&t, &t, &["pool.weights.update"], &[]));
    let denied = token_holds_action(&scoped, crate::idp::Idp::Absent, &caller(&scoped, &t), read)
        .unwrap_err();
    assert!(matches!(*denied.why, Why::TokenScopes { .. }), "{denied}");

    let mut disabled = policy.clone();
    disabled.users.get_mut("alice").unwrap().spec.disabled = true;
    let denied = token_holds_action(
        &disabled,
        crate::idp::Idp::Absent,
        &caller(&disabled, &t),
        read,
    )
    .unwrap_err();
    assert!(matches!(*denied.why, Why::OwnerDisabled { .. }), "{denied}");
}
