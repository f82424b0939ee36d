//! Service-account token hashes. The policy stores a hash of each token, never
//! the token itself.
//!
//! Accepted forms:
//! * `sha256:<64 hex digits>` (either case; the `sha256:` prefix is also
//!   accepted in upper case). Suitable for long random tokens.
//! * An Argon2 PHC string: `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>`
//!   (also `argon2i` and `argon2d`). The structure is validated here without
//!   computing anything: `v` is optional and, when present, 16 or 19; `m`,
//!   `t` and `p` are required, each once, in that order, as decimal numbers
//!   without leading zeros, with `t >= 1`, `1 <= p <= 2^24-1`, `m >= 8*p`
//!   and `m <= 2^32-1`; no other parameters (`keyid`, `data`) are allowed;
//!   salt (8 to 48 bytes) and hash (10 to 64 bytes) are unpadded standard
//!   base64, as the PHC format requires.
//!
//! Anything else is refused. When the value does not look like a hash at all
//! it is treated as a plaintext token ([`TokenHashError::Plaintext`]) and the
//! user is told to rotate it. No message ever contains the value.

use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine as _;
use thiserror::Error;

/// A parsed token hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum TokenHash {
    /// SHA-256 digest of the token.
    Sha256([u8; 32]),
    /// An Argon2 (`argon2id`, `argon2i` or `argon2d`) PHC string, validated
    /// and stored as given (surrounding whitespace removed).
    Argon2 {
        /// The PHC string.
        phc: String,
    },
}

/// Why a token hash was refused. Messages never contain the value.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TokenHashError {
    /// The value is empty.
    #[error(
        "the token hash is empty: store `sha256:<64 hex digits>` (e.g. from \
         `printf %s \"$TOKEN\" | sha256sum`) or an Argon2 PHC string (`$argon2id$v=19$…`)"
    )]
    Empty,
    /// The value looks like a raw token rather than a hash.
    #[error(
        "this looks like a plaintext token, not a hash: never commit tokens. Store \
         `sha256:<64 hex digits>` (e.g. from `printf %s \"$TOKEN\" | sha256sum`) or an Argon2 \
         PHC string (`$argon2id$v=19$…`) instead, and rotate the token: it is in git history \
         now. If the value already is a SHA-256 digest in hex, prefix it with `sha256:`"
    )]
    Plaintext,
    /// `sha256:` is not followed by exactly 64 hex digits.
    #[error(
        "`sha256:` must be followed by exactly 64 hexadecimal digits (0-9, a-f), e.g. from \
         `printf %s \"$TOKEN\" | sha256sum`"
    )]
    BadSha256Hex,
    /// An Argon2 PHC string is malformed.
    #[error(
        "the Argon2 PHC string is malformed: {reason}; expected \
         `$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>` with unpadded base64 salt \
         and hash, as printed by the `argon2` tool"
    )]
    BadPhc {
        /// What is wrong.
        reason: &'static str,
    },
    /// A hash of an algorithm that is not accepted.
    #[error(
        "this hash type ({algorithm}) is not accepted for service-account tokens: store \
         `sha256:<64 hex digits>` or an Argon2 PHC string (`$argon2id$v=19$…`)"
    )]
    UnsupportedAlgorithm {
        /// Name of the recognised algorithm, or `unrecognised`.
        algorithm: &'static str,
    },
}

/// Parses a token hash: `sha256:<hex>` or an Argon2 PHC string.
///
/// # Errors
///
/// [`TokenHashError::Plaintext`] when the value does not look like a hash at
/// all, [`TokenHashError::UnsupportedAlgorithm`] for other hash types, and the
/// remaining variants for malformed `sha256:` or Argon2 values.
#[must_use = "a token hash that failed to parse must not be used"]
pub fn parse_token_hash(s: &str) -> Result<TokenHash, TokenHashError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(TokenHashError::Empty);
    }
    if let Some(hex) = s
        .get(..7)
        .filter(|prefix| prefix.eq_ignore_ascii_case("sha256:"))
        .and_then(|_| s.get(7..))
    {
        return parse_sha256_hex(hex).map(TokenHash::Sha256);
    }
    if let Some(rest) = s.strip_prefix('$') {
        let id = rest.split('$').next().unwrap_or_default();
        if matches!(id, "argon2id" | "argon2i" | "argon2d") {
            validate_phc(s)?;
            return Ok(TokenHash::Argon2 { phc: s.to_owned() });
        }
        if let Some(algorithm) = crypt_name(id) {
            return Err(TokenHashError::UnsupportedAlgorithm { algorithm });
        }
        let phc_like = (1..=32).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && rest.matches('$').count() >= 2;
        if phc_like {
            return Err(TokenHashError::UnsupportedAlgorithm {
                algorithm: "unrecognised",
            });
        }
    }
    if let Some((scheme, digest)) = s.split_once(':') {
        if let Some(algorithm) = prefixed_name(scheme) {
            if !digest.is_empty() {
                return Err(TokenHashError::UnsupportedAlgorithm { algorithm });
            }
        }
    }
    Err(TokenHashError::Plaintext)
}

fn parse_sha256_hex(hex: &str) -> Result<[u8; 32], TokenHashError> {
    let bytes = hex.as_bytes();
    if bytes.len() != 64 {
        return Err(TokenHashError::BadSha256Hex);
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(bytes.chunks_exact(2)) {
        let hi = hex_value(pair[0]).ok_or(TokenHashError::BadSha256Hex)?;
        let lo = hex_value(pair[1]).ok_or(TokenHashError::BadSha256Hex)?;
        *slot = (hi << 4) | lo;
    }
    Ok(out)
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Names of modular-crypt / PHC identifiers that are recognised but refused.
fn crypt_name(id: &str) -> Option<&'static str> {
    Some(match id {
        "1" => "MD5-crypt",
        "2" | "2a" | "2b" | "2x" | "2y" => "bcrypt",
        "5" => "SHA-256-crypt",
        "6" => "SHA-512-crypt",
        "7" | "scrypt" => "scrypt",
        "y" | "gy" => "yescrypt",
        "argon2" | "argon2ds" => "non-standard Argon2",
        "balloon" => "balloon",
        id if id.starts_with("pbkdf2") => "PBKDF2",
        _ => return None,
    })
}

/// Names for `<scheme>:<digest>` forms other than `sha256:`.
fn prefixed_name(scheme: &str) -> Option<&'static str> {
    Some(match scheme.to_ascii_lowercase().as_str() {
        "md5" => "MD5",
        "sha1" | "sha-1" => "SHA-1",
        "sha224" | "sha-224" => "SHA-224",
        "sha384" | "sha-384" => "SHA-384",
        "sha512" | "sha-512" => "SHA-512",
        "sha3-256" | "sha3-512" => "SHA-3",
        "blake2b" | "blake2s" | "blake3" => "BLAKE",
        "bcrypt" => "bcrypt",
        "scrypt" => "scrypt",
        "pbkdf2" => "PBKDF2",
        _ => return None,
    })
}

fn bad(reason: &'static str) -> TokenHashError {
    TokenHashError::BadPhc { reason }
}

fn validate_phc(phc: &str) -> Result<(), TokenHashError> {
    // "", id, [v=..], params, salt, hash
    let segments: Vec<&str> = phc.split('$').collect();
    let versioned = segments.get(2).is_some_and(|s| s.starts_with("v="));
    let wanted = if versioned || segments.len() == 6 {
        6
    } else {
        5
    };
    if segments.len() < wanted {
        return Err(bad(
            "segments are missing: it needs parameters, a salt and a hash, separated by `$`",
        ));
    }
    if segments.len() > wanted {
        return Err(bad("it has too many `$`-separated segments"));
    }
    let rest = if wanted == 6 {
        let version = segments[2]
            .strip_prefix("v=")
            .ok_or(bad("the segment after the algorithm must be `v=19`"))?;
        match number(version, "the version `v` must be a number")? {
            16 | 19 => {}
            _ => return Err(bad("the version `v` must be 19 (or the older 16)")),
        }
        &segments[3..]
    } else {
        &segments[2..]
    };
    let (params, salt, hash) = (rest[0], rest[1], rest[2]);

    let mut values = [0u64; 3];
    let mut count = 0;
    for (i, param) in params.split(',').enumerate() {
        let (name, value) = param
            .split_once('=')
            .ok_or(bad("parameters must look like `m=65536,t=3,p=4`"))?;
        let expected = ["m", "t", "p"];
        if i >= expected.len() || name != expected[i] {
            return Err(bad(
                "the parameters must be exactly `m`, `t` and `p`, in that order",
            ));
        }
        values[i] = number(value, "parameter values must be decimal numbers")?;
        count += 1;
    }
    if count != 3 {
        return Err(bad(
            "the parameters must be exactly `m`, `t` and `p`, in that order",
        ));
    }
    let [m, t, p] = values;
    if t < 1 {
        return Err(bad("`t` must be at least 1"));
    }
    if !(1..=0x00FF_FFFF).contains(&p) {
        return Err(bad("`p` must be between 1 and 16777215"));
    }
    if m < 8 * p || m > u64::from(u32::MAX) {
        return Err(bad(
            "`m` must be at least 8 times `p` and at most 4294967295",
        ));
    }

    let salt_len = b64_len(
        salt,
        "the salt is empty",
        "the salt is not valid unpadded base64",
    )?;
    if !(8..=48).contains(&salt_len) {
        return Err(bad("the salt must be 8 to 48 bytes"));
    }
    let hash_len = b64_len(
        hash,
        "the hash is empty",
        "the hash is not valid unpadded base64",
    )?;
    if !(10..=64).contains(&hash_len) {
        return Err(bad("the hash must be 10 to 64 bytes"));
    }
    Ok(())
}

/// A PHC decimal: digits only, no leading zeros, fits in `u64`.
fn number(s: &str, reason: &'static str) -> Result<u64, TokenHashError> {
    let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits || (s.len() > 1 && s.starts_with('0')) {
        return Err(bad(reason));
    }
    s.parse().map_err(|_| bad(reason))
}

fn b64_len(s: &str, empty: &'static str, invalid: &'static str) -> Result<usize, TokenHashError> {
    if s.is_empty() {
        return Err(bad(empty));
    }
    if s.ends_with('=') {
        return Err(bad("base64 padding (`=`) is not allowed in PHC strings"));
    }
    STANDARD_NO_PAD
        .decode(s)
        .map(|v| v.len())
        .map_err(|_| bad(invalid))
}

#[cfg(test)]
mod tests;
