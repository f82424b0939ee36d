//! Digests in the one spelling lbops writes them: lowercase hex.

use crate::support::hex;
use sha2::{Digest, Sha256};

/// The SHA-256 of `data` (a certificate chain's PEM text, a token, an
/// audit line), in lowercase hex: how a provider reports which chain it
/// runs without handing the chain back (see
/// [`ObservedCertificate`](crate::model::ObservedCertificate)).
#[must_use]
pub fn sha256_hex(data: impl AsRef<[u8]>) -> String {
    hex::encode(&Sha256::digest(data))
}
