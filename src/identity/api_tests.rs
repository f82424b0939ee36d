//! Commits signed with the daemon's API key: each way they identify
//! nobody, beside the one that identifies a ServiceAccount through its
//! token. Keys are made from fixed seeds here, so no private key is kept
//! in the tree; the commits are signed exactly as `source` signs them.

use super::*;
use crate::spec::api_commit::{ApiTrailers, OnBehalf, RequestId, TrailerProblem, ACCOUNT_TRAILER};
use crate::spec::material::api_token::TokenId;
use crate::spec::{self, Catalog, SourceFile};
use ssh_key::private::Ed25519Keypair;
use ssh_key::{HashAlg, LineEnding, PrivateKey};

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600;
const HASH: &str = "sha256:0057f0d09cace7c71e89bd66d1166cbe24de9006a935a734cde61fcdb5956ea2";
const CI: &str = "aaaaaaaaaaaa";
const OLD: &str = "bbbbbbbbbbbb";
const OTHERS: &str = "cccccccccccc";

fn key(seed: u8) -> PrivateKey {
    PrivateKey::from(Ed25519Keypair::from_seed(&[seed; 32]))
}

/// The daemon's API key.
fn daemon() -> PrivateKey {
    key(1)
}

/// alice's own signing key.
fn alice() -> PrivateKey {
    key(2)
}

fn line(key: &PrivateKey) -> String {
    key.public_key().to_openssh().unwrap()
}

fn api_key() -> ApiKey {
    ApiKey::parse(&line(&daemon())).unwrap()
}

fn token(id: &str, expires: &str, scopes: &str) -> String {
    format!(
        "    - {{name: t-{id}, id: {id}, hash: '{HASH}', expires: {expires}, scopes: [{scopes}]}}\n"
    )
}

/// alice (who signs with her own key), deploy-bot with a current and an
/// expired token, other-bot with one. `drop` leaves a token out (removed
/// from git).
fn policy(drop: &str) -> Catalog {
    let tokens = |list: &[(&str, &str, &str)]| {
        list.iter()
            .filter(|(id, _, _)| *id != drop)
            .map(|(id, expires, scopes)| token(id, expires, scopes))
            .collect::<String>()
    };
    let text = format!(
        "kind: User\nname: alice\nspec:\n  emails: [alice@example.test]\n  signing_keys:\n    - ssh: {}\n\
         ---\nkind: ServiceAccount\nname: deploy-bot\nspec:\n  owner: alice\n  tokens:\n{}\
         ---\nkind: ServiceAccount\nname: other-bot\nspec:\n  owner: alice\n  tokens:\n{}",
        line(&alice()),
        tokens(&[
            (CI, "2027-01-01", "pool.weights.update"),
            (OLD, "2025-06-01", "pool.weights.update")
        ]),
        tokens(&[(OTHERS, "2027-01-01", "")]),
    );
    match spec::load(
        &[SourceFile::new("policy.yaml", text)],
        &spec::Options::at(NOW),
    ) {
        Ok(v) => v.catalog,
        Err(e) => panic!("test policy is invalid: {:#?}", e.diagnostics),
    }
}

fn trailers(account: &str, token: &str) -> ApiTrailers {
    ApiTrailers {
        on_behalf: OnBehalf::Token {
            account: account.parse().unwrap(),
            token: TokenId::parse(token).unwrap(),
        },
        request: RequestId::parse("req-7").unwrap(),
    }
}

/// A commit object signed by `signer`, split as git splits it.
fn commit(signer: &PrivateKey, author: &str, committer: &str, message: &str) -> CommitEvidence {
    let signed = format!(
        "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\
         author A <{author}> {NOW} +0000\ncommitter C <{committer}> {NOW} +0000\n\n{message}"
    );
    let signature = signer
        .sign("git", HashAlg::Sha512, signed.as_bytes())
        .unwrap()
        .to_pem(LineEnding::LF)
        .unwrap();
    CommitEvidence {
        id: "0123abcd".to_owned(),
        author_email: author.to_owned(),
        committer_email: committer.to_owned(),
        signature: Some(signature.into_bytes()),
        signed_data: signed.into_bytes(),
    }
}

/// What the daemon writes for `account` and `token`.
fn api_commit(account: &str, token: &str) -> CommitEvidence {
    commit(
        &daemon(),
        &format!("{account}@serviceaccount.lbops.invalid"),
        "api@lbops.invalid",
        &trailers(account, token).message("Set pool/web weights"),
    )
}

#[test]
fn the_api_key_speaks_for_the_account_through_its_token() {
    let evidence = api_commit("deploy-bot", CI);
    assert!(api_key().names(&evidence));
    let verified = api_key().identify(&policy(""), &evidence, NOW).unwrap();
    assert_eq!(
        verified.principal,
        Principal::ServiceAccount("deploy-bot".parse().unwrap())
    );
    assert_eq!(verified.token().unwrap().account.as_str(), "deploy-bot");
    assert_eq!(verified.token().unwrap().id.as_str(), CI);
    assert_eq!(
        verified.token().unwrap().scopes,
        vec!["pool.weights.update".to_owned()]
    );
    assert_eq!(verified.request.as_str(), "req-7");
    assert_eq!(verified.fingerprint, api_key().fingerprint());
    assert_eq!(
        ApiKey::of(daemon().public_key()).fingerprint(),
        api_key().fingerprint()
    );
}

#[test]
fn an_api_commit_without_trailers_identifies_nobody() {
    let evidence = commit(
        &daemon(),
        "deploy-bot@serviceaccount.lbops.invalid",
        "api@lbops.invalid",
        "Set pool/web weights\n",
    );
    assert_eq!(
        api_key().identify(&policy(""), &evidence, NOW),
        Err(NoIdentity::ApiTrailers {
            commit: "0123abcd".into(),
            problem: TrailerProblem::Missing {
                trailer: ACCOUNT_TRAILER
            },
        })
    );
}

#[test]
fn an_api_commit_for_an_unknown_account_identifies_nobody() {
    let evidence = api_commit("ghost-bot", CI);
    assert_eq!(
        api_key().identify(&policy(""), &evidence, NOW),
        Err(NoIdentity::ApiUnknownAccount {
            commit: "0123abcd".into(),
            account: "ghost-bot".parse().unwrap(),
        })
    );
}

#[test]
fn a_token_acts_only_as_its_own_account() {
    let evidence = api_commit("deploy-bot", OTHERS);
    assert_eq!(
        api_key().identify(&policy(""), &evidence, NOW),
        Err(NoIdentity::ApiTokenOfAnotherAccount {
            commit: "0123abcd".into(),
            account: "deploy-bot".parse().unwrap(),
            token: OTHERS.into(),
            holder: "other-bot".parse().unwrap(),
        })
    );
}

#[test]
fn an_expired_token_identifies_nobody() {
    let evidence = api_commit("deploy-bot", OLD);
    assert!(matches!(
        api_key().identify(&policy(""), &evidence, NOW),
        Err(NoIdentity::ApiTokenExpired { token, .. }) if token == OLD
    ));
    // Judged when the commit arrives: the current token, once past its
    // expiry, identifies nobody either.
    let later = api_key().identify(&policy(""), &api_commit("deploy-bot", CI), 1_900_000_000);
    assert_eq!(later.map_err(|e| e.reason_code()), Err("api_token_expired"));
}

#[test]
fn a_token_removed_from_the_trusted_policy_identifies_nobody() {
    let evidence = api_commit("deploy-bot", CI);
    assert_eq!(
        api_key().identify(&policy(CI), &evidence, NOW),
        Err(NoIdentity::ApiTokenUnknown {
            commit: "0123abcd".into(),
            account: "deploy-bot".parse().unwrap(),
            token: CI.into(),
        })
    );
}

#[test]
fn an_account_whose_owner_is_disabled_cannot_act_through_the_api() {
    // Validation refuses a disabled owner; a policy can still come to
    // this through a revocation stacked before the commit in one push.
    let mut policy = policy("");
    policy.users.get_mut("alice").unwrap().spec.disabled = true;
    let evidence = api_commit("deploy-bot", CI);
    assert!(matches!(
        api_key().identify(&policy, &evidence, NOW),
        Err(NoIdentity::Disabled {
            why: DisabledReason::OwnerDisabled { .. },
            ..
        })
    ));
}

#[test]
fn the_author_must_be_the_form_the_api_writes() {
    let message = trailers("deploy-bot", CI).message("s");
    for (author, committer) in [
        ("alice@example.test", "api@lbops.invalid"),
        (
            "other-bot@serviceaccount.lbops.invalid",
            "api@lbops.invalid",
        ),
        (
            "deploy-bot@serviceaccount.lbops.invalid",
            "alice@example.test",
        ),
    ] {
        let evidence = commit(&daemon(), author, committer, &message);
        assert_eq!(
            api_key()
                .identify(&policy(""), &evidence, NOW)
                .map_err(|e| e.reason_code()),
            Err("api_author"),
            "{author} / {committer}"
        );
    }
}

#[test]
fn trailers_changed_after_signing_break_the_signature() {
    let mut evidence = api_commit("deploy-bot", CI);
    let forged = String::from_utf8(evidence.signed_data.clone())
        .unwrap()
        .replace("deploy-bot", "other-bot")
        .replace(CI, OTHERS);
    evidence.signed_data = forged.into_bytes();
    evidence.author_email = "other-bot@serviceaccount.lbops.invalid".into();
    assert_eq!(
        api_key()
            .identify(&policy(""), &evidence, NOW)
            .map_err(|e| e.reason_code()),
        Err("bad_signature")
    );
}

#[test]
fn a_person_signing_trailers_is_the_person_not_the_account() {
    let evidence = commit(
        &alice(),
        "alice@example.test",
        "alice@example.test",
        &trailers("deploy-bot", CI).message("Set pool/web weights"),
    );
    // The API rule never sees it: the API key did not sign it.
    assert!(!api_key().names(&evidence));
    let policy = policy("");
    let verified = Keyring::from_policy(&policy)
        .identify(&evidence, NOW)
        .unwrap();
    assert_eq!(
        verified.principal,
        Principal::User("alice".parse().unwrap())
    );
    // Asked anyway, the API rule refuses it: it is not the API key's.
    assert_eq!(
        api_key()
            .identify(&policy, &evidence, NOW)
            .map_err(|e| e.reason_code()),
        Err("unknown_key")
    );
}

#[test]
fn api_refusals_say_what_to_do() {
    let reasons = [
        api_key().identify(&policy(""), &api_commit("ghost-bot", CI), NOW),
        api_key().identify(&policy(""), &api_commit("deploy-bot", OTHERS), NOW),
        api_key().identify(&policy(""), &api_commit("deploy-bot", OLD), NOW),
        api_key().identify(&policy(CI), &api_commit("deploy-bot", CI), NOW),
    ];
    for reason in reasons {
        let message = reason.unwrap_err().to_string();
        println!("{message}");
        assert!(message.contains("API"), "{message}");
        assert!(!message.contains("lbops_"), "{message}");
    }
}

/// What the daemon writes for a person signed in as `user`.
fn person_commit(user: &str, author: &str) -> CommitEvidence {
    let trailers = ApiTrailers {
        on_behalf: OnBehalf::User {
            user: user.parse().unwrap(),
        },
        request: RequestId::parse("req-8").unwrap(),
    };
    commit(
        &daemon(),
        author,
        "api@lbops.invalid",
        &trailers.message("Set pool/web weights"),
    )
}

#[test]
fn the_api_key_speaks_for_a_signed_in_user_named_by_its_trailer() {
    let policy = policy("");
    let verified = api_key()
        .identify(
            &policy,
            &person_commit("alice", "alice@user.lbops.invalid"),
            NOW,
        )
        .unwrap();
    assert_eq!(
        verified.principal,
        Principal::User("alice".parse().unwrap())
    );
    assert_eq!(verified.via, ApiVia::SignIn);
    assert_eq!(verified.token(), None);
    // A User the policy does not have.
    let unknown = api_key()
        .identify(
            &policy,
            &person_commit("mallory", "mallory@user.lbops.invalid"),
            NOW,
        )
        .unwrap_err();
    assert_eq!(unknown.reason_code(), "api_unknown_user", "{unknown}");
    // The author must be the fixed form for that User: not her own email
    // (which her own key signs for), not an account's.
    for author in ["alice@example.test", "alice@serviceaccount.lbops.invalid"] {
        let wrong = api_key()
            .identify(&policy, &person_commit("alice", author), NOW)
            .unwrap_err();
        assert_eq!(wrong.reason_code(), "api_author", "{wrong}");
        assert!(wrong.to_string().contains("user/alice"), "{wrong}");
    }
    // A disabled User: nobody.
    let text = "kind: User\nname: alice\nspec:\n  emails: [alice@example.test]\n  disabled: true\n";
    let disabled = spec::load(
        &[SourceFile::new("policy.yaml", text)],
        &spec::Options::at(NOW),
    )
    .unwrap()
    .catalog;
    let refused = api_key()
        .identify(
            &disabled,
            &person_commit("alice", "alice@user.lbops.invalid"),
            NOW,
        )
        .unwrap_err();
    assert!(matches!(refused, NoIdentity::Disabled { .. }), "{refused}");
}
