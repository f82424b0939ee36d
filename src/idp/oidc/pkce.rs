//! Proof Key for Code Exchange (RFC 7636, `S256`) and the other
//! one-time values of a sign-in. Randomness comes in as bytes, so these
//! stay pure; the caller draws them from the system's generator.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// A one-time value of a sign-in (the PKCE verifier, the state, the
/// nonce): 32 random bytes, base64url — 43 characters, within the 43 to
/// 128 RFC 7636 asks of a verifier.
#[must_use]
pub fn value(random: &[u8; 32]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

/// The `S256` code challenge of `verifier`.
#[must_use]
pub fn challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}
