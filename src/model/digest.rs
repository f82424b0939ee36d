//! Digests in the one spelling lbops writes them: lowercase hex.

use sha2::{Digest, Sha256};

/// The SHA-256 of `data` (a certificate chain's PEM text, a token, an
/// audit line), in lowercase hex: how a provider reports which chain it
/// runs without handing the chain back (see
/// [`ObservedCertificate`](crate::model::ObservedCertificate)).
#[must_use]
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(data))
}

/// `bytes` in lowercase hex, two digits a byte.
#[must_use]
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}
