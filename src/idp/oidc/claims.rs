//! The registered claims of a verified token, checked against what lbops
//! expects: its issuer, one of its audiences, a time window with a
//! bounded clock skew, and — for the ID token of a sign-in — the nonce
//! that sign-in sent.

use super::Refused;
use serde_json::Value;

/// The most clock skew a config may allow: beyond it an expired token is
/// not "a little early", it is expired.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// What a token must say to be accepted.
#[derive(Clone, Debug)]
pub struct Expected<'a> {
    /// The configured issuer, exactly as discovery returned it.
    pub issuer: &'a str,
    /// Audiences lbops answers to (the client id, and any configured API
    /// audience); the token's `aud` must hold one.
    pub audiences: &'a [String],
    /// Unix seconds.
    pub now: i64,
    /// Allowed clock difference, at most [`MAX_SKEW_SECONDS`].
    pub skew: i64,
    /// The nonce a sign-in sent, for its ID token; `None` for a bearer.
    pub nonce: Option<&'a str>,
}

/// The claims of an accepted token that lbops uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdClaims {
    pub subject: String,
    pub expires: i64,
    /// Every claim, for the configured mapping claim.
    pub all: serde_json::Map<String, Value>,
}

/// Checks `claims` (a verified payload) against `expected`.
pub fn check(claims: Value, expected: &Expected<'_>) -> Result<IdClaims, Refused> {
    let Value::Object(all) = claims else {
        return Err(Refused::Malformed("the payload is not a JSON object"));
    };
    let skew = expected.skew.clamp(0, MAX_SKEW_SECONDS);
    let text = |name: &'static str| {
        all.get(name)
            .and_then(Value::as_str)
            .ok_or(Refused::MissingClaim(name))
    };
    let time = |name: &'static str| {
        all.get(name)
            .map(|v| v.as_i64().ok_or(Refused::MissingClaim(name)))
    };
    let issuer = text("iss")?;
    if issuer != expected.issuer {
        return Err(Refused::WrongIssuer {
            found: bounded(issuer),
            expected: expected.issuer.to_owned(),
        });
    }
    let audiences: Vec<&str> = match all.get("aud") {
        Some(Value::String(one)) => vec![one.as_str()],
        Some(Value::Array(many)) => many.iter().filter_map(Value::as_str).collect(),
        _ => return Err(Refused::MissingClaim("aud")),
    };
    if !audiences
        .iter()
        .any(|a| expected.audiences.iter().any(|e| e == a))
    {
        return Err(Refused::WrongAudience {
            found: audiences.iter().take(5).map(|a| bounded(a)).collect(),
            expected: expected.audiences.to_vec(),
        });
    }
    let exp = time("exp").ok_or(Refused::MissingClaim("exp"))??;
    if expected.now >= exp.saturating_add(skew) {
        return Err(Refused::Expired { exp });
    }
    if let Some(nbf) = time("nbf").transpose()? {
        if nbf.saturating_sub(skew) > expected.now {
            return Err(Refused::NotYetValid { nbf });
        }
    }
    let iat = time("iat").ok_or(Refused::MissingClaim("iat"))??;
    if iat.saturating_sub(skew) > expected.now {
        return Err(Refused::IssuedInFuture { iat });
    }
    if let Some(sent) = expected.nonce {
        let got = all.get("nonce").and_then(Value::as_str).unwrap_or_default();
        if !same_secret(got, sent) {
            return Err(Refused::WrongNonce);
        }
    }
    let subject = text("sub")?;
    if subject.is_empty() || subject.len() > 255 {
        return Err(Refused::MissingClaim("sub"));
    }
    Ok(IdClaims {
        subject: subject.to_owned(),
        expires: exp,
        all,
    })
}

/// Compares two secrets (a nonce, a state) by their SHA-256, in constant
/// time: how long it takes says nothing of where they differ.
#[must_use]
pub fn same_secret(a: &str, b: &str) -> bool {
    use sha2::{Digest, Sha256};
    let (a, b): ([u8; 32], [u8; 32]) = (Sha256::digest(a).into(), Sha256::digest(b).into());
    crate::support::constant_time::eq(&a, &b)
}

/// A value a token sent, cut for a message.
fn bounded(text: &str) -> String {
    text.chars().take(200).collect()
}
