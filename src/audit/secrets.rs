//! Keeping secrets out of the audit log.
//!
//! The log is kept forever and read by many, so an event that looks like
//! it holds a secret is refused outright rather than redacted: the caller
//! has a bug, and the change it was about to make does not happen.
//!
//! Every string of the event (actor, commit, resources, outcome, and each
//! key and string value of `detail`, one at a time and unescaped) is checked
//! with [`scan`](crate::spec::material::scan) and for the words
//! `PRIVATE KEY`. The random-token heuristic of
//! [`looks_like_secret`](crate::spec::material::looks_like_secret) is not
//! used, because it flags hex digests (commit ids, plan hashes) by design,
//! and refusing those would stop the daemon. Instead, `detail` may not
//! have a member whose name says it holds a secret (`token`, `password`,
//! `authorization`, … see [`SECRET_KEY_NAMES`]) unless its value is null.

use super::event::AuditEvent;
use crate::spec::material::{scan, SecretKind};
use serde_json::Value;

/// Member names of `detail` that may not carry a value, compared in lower
/// case with `-` and `_` removed. Name a reference instead (`token_file`,
/// `password_env`).
pub const SECRET_KEY_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "clientsecret",
    "token",
    "accesstoken",
    "refreshtoken",
    "bearertoken",
    "apikey",
    "authorization",
    "privatekey",
    "cookie",
    "setcookie",
];

/// Why an event was refused. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretInEvent {
    #[error(
        "the event's {field} holds {kind}; audit events must never contain secrets, so nothing \
         was written — fix the caller to name the secret (by file, variable or id) instead"
    )]
    Found { field: String, kind: SecretKind },
    #[error(
        "the event's {field} holds a private key; audit events must never contain secrets, so \
         nothing was written — fix the caller to name the key instead"
    )]
    PrivateKey { field: String },
    #[error(
        "the event's {field} is named like a secret and has a value; audit events must never \
         contain secrets, so nothing was written — drop it, or name a reference such as `{key}_file`"
    )]
    SecretKey { field: String, key: String },
}

/// Refuses an event that looks like it carries a secret.
pub fn check(event: &AuditEvent) -> Result<(), SecretInEvent> {
    check_str("actor", &event.actor)?;
    if let Some(commit) = &event.commit {
        check_str("commit", commit)?;
    }
    for r in &event.resources {
        check_str("resources", r)?;
    }
    check_str("outcome", &event.outcome)?;
    check_value("detail", &event.detail)
}

fn check_str(field: &str, s: &str) -> Result<(), SecretInEvent> {
    if let Some(found) = scan(s).first() {
        return Err(SecretInEvent::Found {
            field: field.to_owned(),
            kind: found.kind,
        });
    }
    if s.contains("PRIVATE KEY") {
        return Err(SecretInEvent::PrivateKey {
            field: field.to_owned(),
        });
    }
    Ok(())
}

fn check_value(path: &str, value: &Value) -> Result<(), SecretInEvent> {
    match value {
        Value::String(s) => check_str(path, s),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_value(&format!("{path}[{i}]"), v)),
        Value::Object(members) => members.iter().try_for_each(|(key, v)| {
            let field = format!("{path}.{}", printable(key));
            check_str(&field, key)?;
            if !v.is_null() && names_a_secret(key) {
                return Err(SecretInEvent::SecretKey {
                    field,
                    key: printable(key),
                });
            }
            check_value(&field, v)
        }),
        Value::Null | Value::Bool(_) | Value::Number(_) => Ok(()),
    }
}

fn names_a_secret(key: &str) -> bool {
    let folded: String = key
        .chars()
        .filter(|c| !matches!(c, '-' | '_'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_KEY_NAMES.contains(&folded.as_str())
}

/// A key as it may appear in a message: short, and never itself a secret
/// (keys that are secrets were refused before this is used for them).
fn printable(key: &str) -> String {
    key.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::event::EventKind;
    use serde_json::json;

    const GITHUB: &str = "ghp_0123456789abcdefghijABCDEFGHIJ012345";

    fn event() -> AuditEvent {
        AuditEvent::new(EventKind::ApiCall, "user/alice", "ok")
            .with_commit("0123456789abcdef0123456789abcdef01234567")
            .with_resources(["pool/web"])
    }

    #[test]
    fn ordinary_events_pass_including_hex_digests() {
        let e = event().with_detail(json!({
            "plan_hash": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "request_id": "123e4567-e89b-12d3-a456-426614174000",
            "token_file": "/etc/lbops/token",
            "token": null,
            "steps": [{"op": "upsert", "pool": "web"}],
        }));
        assert_eq!(check(&e), Ok(()));
    }

    #[test]
    fn a_token_anywhere_is_refused_without_echoing_it() {
        let e = event().with_detail(json!({"headers": [{"x": format!("line\n{GITHUB}")}]}));
        let err = check(&e).unwrap_err();
        assert_eq!(
            err,
            SecretInEvent::Found {
                field: "detail.headers[0].x".into(),
                kind: SecretKind::GithubToken
            }
        );
        assert!(!err.to_string().contains(GITHUB));
        let e = AuditEvent::new(EventKind::Denial, "user/alice", format!("denied {GITHUB}"));
        assert!(matches!(check(&e), Err(SecretInEvent::Found { field, .. }) if field == "outcome"));
    }

    #[test]
    fn private_keys_are_refused() {
        let e = event().with_detail(json!({"cert": "-----BEGIN EC PRIVATE KEY-----\nMHc"}));
        assert!(check(&e).is_err());
        let e = event().with_detail(json!({"note": "PRIVATE KEY follows"}));
        assert!(matches!(check(&e), Err(SecretInEvent::PrivateKey { .. })));
    }

    #[test]
    fn members_named_like_secrets_are_refused() {
        for key in [
            "password",
            "Authorization",
            "api-key",
            "client_secret",
            "TOKEN",
        ] {
            let e = event().with_detail(json!({"request": {key: "hunter2"}}));
            assert!(
                matches!(check(&e), Err(SecretInEvent::SecretKey { .. })),
                "{key} passed"
            );
        }
    }
}
