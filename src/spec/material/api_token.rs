//! lbops API tokens: `lbops_<id>_<secret><checksum>`.
//!
//! - `lbops_`: the prefix a secret scanner (GitHub's, gitleaks, lbops'
//!   own [`scan`](super::scan)) keys on.
//! - `<id>`: 12 of `[a-z0-9]`, public. It names the token in the
//!   ServiceAccount's `tokens` (`id:`), in logs, audit records and pages,
//!   and lets the daemon find the one stored hash to compare with, instead
//!   of trying every hash.
//! - `<secret>`: 40 of `[0-9A-Za-z]` from the operating system's random
//!   source, about 238 bits: enough that a fast hash (SHA-256) is the
//!   right way to store it, as GitHub does for its tokens.
//! - `<checksum>`: 6 of `[0-9A-Za-z]`, the first 32 bits of the SHA-256 of
//!   everything before it, in base 62. A token with a typo, or a random
//!   string that happens to start with `lbops_`, is refused (and not
//!   reported as a leak) without looking anything up.
//!
//! Only the hash (`sha256:<hex>`) goes into git; the token is shown once,
//! by `lbops token create`.

use super::tokens::TokenHash;
use sha2::{Digest, Sha256};
use std::fmt;

pub const PREFIX: &str = "lbops_";
pub const ID_LEN: usize = 12;
pub const SECRET_LEN: usize = 40;
pub const CHECKSUM_LEN: usize = 6;
/// The length of every token.
pub const TOKEN_LEN: usize = PREFIX.len() + ID_LEN + 1 + SECRET_LEN + CHECKSUM_LEN;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ID_ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A token's public id: 12 of `[a-z0-9]`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TokenId(String);

impl TokenId {
    /// Parses an id as written in a ServiceAccount's `tokens`.
    pub fn parse(text: &str) -> Result<TokenId, TokenFormatError> {
        if text.len() == ID_LEN && text.bytes().all(|b| ID_ALPHABET.contains(&b)) {
            Ok(TokenId(text.to_owned()))
        } else {
            Err(TokenFormatError::BadId)
        }
    }

    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole token, secret included. Its `Debug` shows the id only, so it
/// cannot leak through a log line or an error by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiToken {
    id: TokenId,
    text: String,
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiToken({}, secret redacted)", self.id)
    }
}

/// Why a string is not an lbops token. Messages never contain the string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenFormatError {
    #[error("an lbops token starts with `lbops_`")]
    NoPrefix,
    #[error("an lbops token is {TOKEN_LEN} characters long")]
    Length,
    #[error("a token id is {ID_LEN} lowercase letters and digits, e.g. as `lbops token create` prints it")]
    BadId,
    #[error("the token holds characters no lbops token has")]
    BadCharacters,
    #[error("the token's checksum does not match: it was mistyped or cut off")]
    Checksum,
}

impl ApiToken {
    /// A new token from `random` (which fills a buffer with random bytes:
    /// the operating system's source outside tests).
    pub fn generate(mut random: impl FnMut(&mut [u8])) -> ApiToken {
        let id = draw(&mut random, ID_ALPHABET, ID_LEN);
        let secret = draw(&mut random, BASE62, SECRET_LEN);
        let body = format!("{PREFIX}{id}_{secret}");
        let text = format!("{body}{}", checksum(&body));
        ApiToken {
            id: TokenId(id),
            text,
        }
    }

    /// Parses a presented token, checksum included.
    pub fn parse(text: &str) -> Result<ApiToken, TokenFormatError> {
        let rest = text
            .strip_prefix(PREFIX)
            .ok_or(TokenFormatError::NoPrefix)?;
        if text.len() != TOKEN_LEN {
            return Err(TokenFormatError::Length);
        }
        let (id, rest) = rest.split_at(ID_LEN);
        let id = TokenId::parse(id)?;
        let Some(rest) = rest.strip_prefix('_') else {
            return Err(TokenFormatError::BadCharacters);
        };
        if !rest.bytes().all(|b| BASE62.contains(&b)) {
            return Err(TokenFormatError::BadCharacters);
        }
        let (body, sum) = text.split_at(TOKEN_LEN - CHECKSUM_LEN);
        if checksum(body) != sum {
            return Err(TokenFormatError::Checksum);
        }
        Ok(ApiToken {
            id,
            text: text.to_owned(),
        })
    }

    #[must_use]
    pub fn id(&self) -> &TokenId {
        &self.id
    }

    /// The token itself: for printing it once, never for a log.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.text
    }

    /// What a ServiceAccount stores: `sha256:<hex>`.
    #[must_use]
    pub fn stored_hash(&self) -> String {
        format!("sha256:{}", crate::support::hex::encode(&self.digest()))
    }

    fn digest(&self) -> [u8; 32] {
        Sha256::digest(self.text.as_bytes()).into()
    }

    /// Whether this is the token `stored` is the hash of, compared in
    /// constant time. An Argon2 hash never matches: lbops issues SHA-256
    /// hashes only (its tokens are random enough), and does not spend a
    /// slow hash per request.
    #[must_use]
    pub fn matches(&self, stored: &TokenHash) -> bool {
        match stored {
            TokenHash::Sha256(expected) => {
                crate::support::constant_time::eq(&self.digest(), expected)
            }
            TokenHash::Argon2 { .. } => false,
        }
    }
}

/// Whether `text` (exactly one token's length) is an lbops token with a
/// valid checksum: what the secret scanner reports as a leak.
#[must_use]
pub fn is_token(text: &str) -> bool {
    ApiToken::parse(text).is_ok()
}

/// `n` characters of `alphabet`, uniformly: bytes that would bias the
/// remainder are drawn again.
fn draw(random: &mut impl FnMut(&mut [u8]), alphabet: &[u8], n: usize) -> String {
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    let mut buffer = [0u8; 64];
    while out.len() < n {
        random(&mut buffer);
        for &b in &buffer {
            if usize::from(b) < limit && out.len() < n {
                out.push(char::from(alphabet[usize::from(b) % alphabet.len()]));
            }
        }
    }
    out
}

/// The first 32 bits of SHA-256 of `body`, as 6 base-62 digits.
fn checksum(body: &str) -> String {
    let digest = Sha256::digest(body.as_bytes());
    let mut value = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut digits = [b'0'; CHECKSUM_LEN];
    for digit in digits.iter_mut().rev() {
        *digit = BASE62[(value % 62) as usize];
        value /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::material::parse_token_hash;

    /// A deterministic byte source for tests.
    fn counter(seed: u64) -> impl FnMut(&mut [u8]) {
        let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        move |buffer: &mut [u8]| {
            for b in buffer {
                // xorshift64: deterministic, and every byte value comes up.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                *b = state.to_le_bytes()[0];
            }
        }
    }

    #[test]
    fn a_generated_token_parses_names_its_id_and_matches_its_stored_hash() {
        let token = ApiToken::generate(counter(1));
        let text = token.expose();
        assert_eq!(text.len(), TOKEN_LEN);
        assert!(text.starts_with(&format!("lbops_{}_", token.id())));
        let parsed = ApiToken::parse(text).unwrap();
        assert_eq!(parsed, token);
        let stored = parse_token_hash(&token.stored_hash()).unwrap();
        assert!(parsed.matches(&stored));
        let other = ApiToken::generate(counter(2));
        assert_ne!(other.id(), token.id());
        assert!(!other.matches(&stored));
        assert!(!format!("{token:?}").contains(&text[19..]), "{token:?}");
    }

    #[test]
    fn every_single_character_typo_is_refused_without_a_lookup() {
        let token = ApiToken::generate(counter(3));
        let text = token.expose();
        for at in PREFIX.len()..TOKEN_LEN {
            for replacement in ['0', 'a', 'Z', '_'] {
                let mut typo = text.as_bytes().to_vec();
                if typo[at] == replacement as u8 {
                    continue;
                }
                typo[at] = replacement as u8;
                let typo = String::from_utf8(typo).unwrap();
                assert!(ApiToken::parse(&typo).is_err(), "{at} {replacement}");
            }
        }
        assert_eq!(
            ApiToken::parse(&text[..TOKEN_LEN - 1]),
            Err(TokenFormatError::Length)
        );
        assert_eq!(
            ApiToken::parse(&text.replacen("lbops_", "lbop5_", 1)),
            Err(TokenFormatError::NoPrefix)
        );
    }

    #[test]
    fn ids_are_checked_as_written_in_git() {
        assert!(TokenId::parse("abc123def456").is_ok());
        for bad in [
            "ABC123DEF456",
            "abc123def45",
            "abc123def4567",
            "abc-23def456",
        ] {
            assert_eq!(TokenId::parse(bad), Err(TokenFormatError::BadId), "{bad}");
        }
    }

    #[test]
    fn draws_use_the_whole_alphabet_and_nothing_else() {
        let mut seen = std::collections::BTreeSet::new();
        let mut random = counter(5);
        for _ in 0..200 {
            seen.extend(draw(&mut random, BASE62, 40).bytes());
        }
        assert_eq!(seen.len(), 62);
        assert!(seen.iter().all(|b| BASE62.contains(b)));
    }
}
