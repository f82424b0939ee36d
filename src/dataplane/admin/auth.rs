//! Bearer tokens, which the server knows only by their SHA-256: the hash
//! of what a client presents is compared with the stored one in constant
//! time, and the token itself is never kept, logged or echoed.

use super::AdminError;
use crate::spec::material::{parse_token_hash, TokenHash, TokenHashError};
use hyper::header::{HeaderMap, AUTHORIZATION};
use sha2::{Digest, Sha256};

/// The SHA-256 of a token, as [`AdminConfig::token_sha256`] holds it.
///
/// [`AdminConfig::token_sha256`]: super::AdminConfig::token_sha256
#[must_use]
pub fn token_sha256(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Reads a token hash as kept in a file or an environment variable: 64 hex
/// digits, as `printf %s "$TOKEN" | sha256sum` prints them (anything after
/// the digits, such as sha256sum's `  -`, is ignored), with or without a
/// `sha256:` prefix.
pub fn parse_token_sha256(text: &str) -> Result<[u8; 32], TokenHashError> {
    let first = text.split_whitespace().next().unwrap_or_default();
    if first.is_empty() {
        return Err(TokenHashError::Empty);
    }
    let hex = match first.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256:") => &first[7..],
        _ => first,
    };
    match parse_token_hash(&format!("sha256:{hex}"))? {
        TokenHash::Sha256(hash) => Ok(hash),
        TokenHash::Argon2 { .. } => Err(TokenHashError::BadSha256Hex),
    }
}

/// Lets a request through only with `Authorization: Bearer <token>` whose
/// SHA-256 is `expected`.
pub(super) fn authorize(expected: &[u8; 32], headers: &HeaderMap) -> Result<(), AdminError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|value| bearer_token(value.as_bytes()))
        .ok_or(AdminError::MissingToken)?;
    let presented: [u8; 32] = Sha256::digest(token).into();
    if crate::support::constant_time::eq(&presented, expected) {
        Ok(())
    } else {
        Err(AdminError::WrongToken)
    }
}

/// The token of a `Bearer <token>` credential (the scheme in any case, as
/// RFC 9110 §11.1 allows), if that is what the header holds.
fn bearer_token(value: &[u8]) -> Option<&[u8]> {
    let scheme = value.get(..6)?;
    if !scheme.eq_ignore_ascii_case(b"bearer") {
        return None;
    }
    let rest = &value[6..];
    let token = rest.trim_ascii();
    (rest.first() == Some(&b' ') && !token.is_empty()).then_some(token)
}
