//! Key material that users put into the policy repository, checked before it is
//! trusted and before anything about it is echoed back.
//!
//! * [`scan`] / [`looks_like_secret`] find secrets (private keys, provider
//!   tokens) that must never be committed to a git repository, and tell callers
//!   when a value must be redacted before it appears in an error message.
//! * [`parse_chain`] / [`expiry`] read PEM certificate chains (leaf first) and
//!   classify how close the chain is to expiring, for a caller-supplied "now".
//! * [`parse_ssh_public_key`] / [`parse_openpgp_public_key`] read the public
//!   signing keys listed in the policy and compute the fingerprints that
//!   `ssh-keygen -lf` and `gpg --fingerprint` print.
//! * [`parse_token_hash`] reads service-account token hashes (`sha256:<hex>` or
//!   an Argon2 PHC string) and refuses plaintext tokens.
//!
//! Every function here is pure (no I/O, no clock) and never panics on input.
//! Error messages are meant for users: they say what is wrong and what to do,
//! and they never contain the offending value or any secret material.

pub mod api_token;
mod certs;
mod keys;
mod secrets;
mod tokens;

pub use certs::{expiry, parse_chain, CertificateInfo, Chain, ChainError, Expiry};
pub use keys::{
    openpgp_fingerprint, parse_openpgp_public_key, parse_ssh_key, parse_ssh_public_key,
    ssh_fingerprint, KeyError, KeyFormat, PublicKeyInfo, SshKey,
};
pub use secrets::{looks_like_secret, scan, SecretFinding, SecretKind};
pub use tokens::{parse_token_hash, TokenHash, TokenHashError};
