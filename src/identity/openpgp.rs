//! OpenPGP commit signatures: the ASCII-armored detached signature that
//! `git commit -S` gets from gpg, verified with rpgp against listed keys.
//!
//! A listed key signs with its primary key or with any subkey bound to it
//! for signing (binding and back-signature verified once, when the keyring
//! is built). The key's own expiry and revocation are honoured too: the
//! newest valid self-signature gives the expiry, and any valid key (or
//! subkey) revocation signature revokes it.

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::packet::{self, Signature, SignatureType, SubpacketData};
use pgp::ser::Serialize;
use pgp::types::{KeyDetails, Tag};

use crate::spec::material::openpgp_fingerprint;
use crate::support::hex;

/// Why an OpenPGP signature is refused before any key is looked up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Unreadable(&'static str),
    Weak(String),
}

/// A parsed OpenPGP data signature that passed the key-independent checks.
pub(super) struct ParsedSignature {
    pub sig: Signature,
    /// Issuer fingerprints (uppercase hex) the signature names, if any.
    pub issuer_fingerprints: Vec<String>,
    /// Issuer key ids the signature names.
    pub issuer_key_ids: Vec<[u8; 8]>,
}

impl ParsedSignature {
    /// The issuer as a user would see it: the fingerprint if named, else the key id.
    pub fn issuer(&self) -> String {
        match (
            self.issuer_fingerprints.first(),
            self.issuer_key_ids.first(),
        ) {
            (Some(fp), _) => fp.clone(),
            (None, Some(id)) => hex::encode_upper(id),
            (None, None) => "(none named)".to_owned(),
        }
    }
}

/// Hashes strong enough for a commit signature: SHA-2 and SHA-3. MD5,
/// SHA-1 and RIPEMD-160 are refused (SHA-1 collisions are practical).
fn strong(hash: HashAlgorithm) -> bool {
    matches!(
        hash,
        HashAlgorithm::Sha224
            | HashAlgorithm::Sha256
            | HashAlgorithm::Sha384
            | HashAlgorithm::Sha512
            | HashAlgorithm::Sha3_256
            | HashAlgorithm::Sha3_512
    )
}

/// Parses an armored detached signature and checks what needs no key:
/// a binary document signature, a strong hash, a named issuer.
pub(super) fn parse(armored: &[u8]) -> Result<ParsedSignature, Refusal> {
    let text = std::str::from_utf8(armored)
        .map_err(|_| Refusal::Unreadable("the OpenPGP signature is not ASCII armor"))?;
    let (detached, _headers) = DetachedSignature::from_string(text)
        .map_err(|_| Refusal::Unreadable("the OpenPGP signature block does not decode"))?;
    let sig = detached.signature;
    // git has gpg sign the commit object in binary mode. A text-mode
    // signature would also verify over the same object with its line ends
    // rewritten, so it is refused rather than normalised.
    if sig.typ() != Some(SignatureType::Binary) {
        return Err(Refusal::Unreadable(
            "the OpenPGP signature is not a binary document signature, which is what git makes",
        ));
    }
    match sig.hash_alg() {
        Some(h) if strong(h) => {}
        Some(h) => return Err(Refusal::Weak(format!("{h} (OpenPGP signature hash)"))),
        None => {
            return Err(Refusal::Unreadable(
                "the OpenPGP signature version is unknown",
            ))
        }
    }
    let issuer_fingerprints: Vec<String> = sig
        .issuer_fingerprint()
        .iter()
        .map(|fp| hex::encode_upper(fp.as_bytes()))
        .collect();
    let issuer_key_ids: Vec<[u8; 8]> = sig
        .issuer_key_id()
        .iter()
        .filter_map(|id| id.as_ref().try_into().ok())
        .collect();
    if issuer_fingerprints.is_empty() && issuer_key_ids.is_empty() {
        return Err(Refusal::Unreadable(
            "the OpenPGP signature does not name the key that made it",
        ));
    }
    Ok(ParsedSignature {
        sig,
        issuer_fingerprints,
        issuer_key_ids,
    })
}

/// A key or subkey that may make data signatures.
pub(super) struct Signer {
    pub key: SignerKey,
    pub key_id: [u8; 8],
    /// Uppercase hex fingerprint of this key or subkey.
    pub fingerprint: String,
    /// When the key (or its primary) expires by its own self-signatures.
    pub expires_at: Option<i64>,
    /// Whether it (or its primary) carries a valid revocation signature.
    pub revoked: bool,
}

pub(super) enum SignerKey {
    Primary(packet::PublicKey),
    Subkey(packet::PublicSubkey),
}

/// A listed OpenPGP key, ready to verify with.
pub(super) struct PgpKey {
    /// Uppercase hex fingerprint of the primary key, as `gpg --fingerprint` prints it.
    pub fingerprint: String,
    pub signers: Vec<Signer>,
}

impl Signer {
    /// Whether `parsed` names this key as its issuer.
    pub fn is_issuer_of(&self, parsed: &ParsedSignature) -> bool {
        if parsed.issuer_fingerprints.is_empty() {
            parsed.issuer_key_ids.contains(&self.key_id)
        } else {
            parsed.issuer_fingerprints.contains(&self.fingerprint)
        }
    }

    pub fn verifies(&self, parsed: &ParsedSignature, data: &[u8]) -> bool {
        match &self.key {
            SignerKey::Primary(k) => parsed.sig.verify(k, data).is_ok(),
            SignerKey::Subkey(k) => parsed.sig.verify(k, data).is_ok(),
        }
    }
}

fn key_id(k: &impl KeyDetails) -> [u8; 8] {
    let id = k.legacy_key_id();
    let mut out = [0u8; 8];
    out.copy_from_slice(id.as_ref());
    out
}

fn created(sig: &Signature) -> u32 {
    sig.created().map_or(0, |t| t.as_secs())
}

/// `created + validity`, where a validity of zero means "never expires".
fn expiry(key_created: u32, sig: &Signature) -> Option<i64> {
    sig.key_expiration_time()
        .map(|d| d.as_secs())
        .filter(|&secs| secs > 0)
        .map(|secs| i64::from(key_created) + i64::from(secs))
}

/// Whether the flags of a self-signature allow data signing; a signature
/// without a key-flags subpacket says nothing, so the key may sign.
fn may_sign(sig: &Signature) -> bool {
    let has_flags = sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, SubpacketData::KeyFlags(_)))
    });
    !has_flags || sig.key_flags().sign()
}

/// The fingerprint of a key or subkey packet as rpgp holds it, by the
/// spec's one OpenPGP fingerprint function.
fn fingerprint(key: &impl Serialize) -> Option<String> {
    openpgp_fingerprint(&key.to_bytes().ok()?).ok()
}

/// Loads an armored public key for verifying, given its primary
/// `fingerprint` as the spec's parser read it, and works out which of its
/// keys may sign, and their own expiry and revocation. `None` when it does
/// not load or no key of it may sign.
pub(super) fn load_key(armored: &str, listed_fingerprint: String) -> Option<PgpKey> {
    let (key, _headers) = SignedPublicKey::from_string(armored).ok()?;
    let primary = &key.primary_key;
    // The key verified with is the key validation read, or none.
    if fingerprint(primary)? != listed_fingerprint {
        return None;
    }
    let primary_created = primary.created_at().as_secs();

    // The newest valid self-signature of the primary key: a user id
    // certification or a direct-key signature.
    let mut self_signatures: Vec<&Signature> = Vec::new();
    for user in &key.details.users {
        for s in &user.signatures {
            let own = s.issuer_key_id().is_empty()
                || s.issuer_key_id()
                    .iter()
                    .any(|id| id.as_ref() == primary.legacy_key_id().as_ref());
            if own
                && s.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
            {
                self_signatures.push(s);
            }
        }
    }
    for s in &key.details.direct_signatures {
        if s.verify_key(primary).is_ok() {
            self_signatures.push(s);
        }
    }
    let newest = self_signatures.into_iter().max_by_key(|s| created(s))?;
    let primary_revoked = key
        .details
        .revocation_signatures
        .iter()
        .any(|s| s.verify_key(primary).is_ok());
    let primary_expires = expiry(primary_created, newest);

    let mut signers = Vec::new();
    if may_sign(newest) {
        signers.push(Signer {
            key: SignerKey::Primary(primary.clone()),
            key_id: key_id(primary),
            fingerprint: listed_fingerprint.clone(),
            expires_at: primary_expires,
            revoked: primary_revoked,
        });
    }
    for sub in &key.public_subkeys {
        let mut binding: Option<&Signature> = None;
        let mut revoked = primary_revoked;
        for s in &sub.signatures {
            match s.typ() {
                Some(SignatureType::SubkeyBinding) => {
                    let bound = s.verify_subkey_binding(primary, &sub.key).is_ok()
                        && s.key_flags().sign()
                        && s.embedded_signature().is_some_and(|back| {
                            back.verify_primary_key_binding(&sub.key, primary).is_ok()
                        });
                    if bound && binding.is_none_or(|b| created(s) >= created(b)) {
                        binding = Some(s);
                    }
                }
                Some(SignatureType::SubkeyRevocation) => {
                    revoked |= s.verify_subkey_binding(primary, &sub.key).is_ok();
                }
                _ => {}
            }
        }
        let Some(binding) = binding else { continue };
        let Some(sub_fingerprint) = fingerprint(&sub.key) else {
            continue;
        };
        let own = expiry(sub.key.created_at().as_secs(), binding);
        signers.push(Signer {
            key: SignerKey::Subkey(sub.key.clone()),
            key_id: key_id(&sub.key),
            fingerprint: sub_fingerprint,
            expires_at: earliest(own, primary_expires),
            revoked,
        });
    }
    if signers.is_empty() {
        return None;
    }
    Some(PgpKey {
        fingerprint: listed_fingerprint,
        signers,
    })
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(armored: &str) -> PgpKey {
        let info = crate::spec::material::parse_openpgp_public_key(armored).unwrap();
        load_key(armored, info.fingerprint).unwrap()
    }

    #[test]
    fn strong_hashes_only() {
        assert!(strong(HashAlgorithm::Sha256));
        assert!(strong(HashAlgorithm::Sha512));
        assert!(!strong(HashAlgorithm::Sha1));
        assert!(!strong(HashAlgorithm::Md5));
        assert!(!strong(HashAlgorithm::Ripemd160));
    }

    #[test]
    fn bob_signs_with_primary_and_subkey() {
        let bob = load(include_str!("testdata/bob.asc"));
        assert_eq!(bob.signers.len(), 2);
        assert!(bob
            .signers
            .iter()
            .all(|s| !s.revoked && s.expires_at.is_none()));
        // As `gpg --with-colons --fingerprint` prints them.
        assert_eq!(bob.fingerprint, "7AA36724EF231476943849B5DD52F08BCC596487");
        assert_eq!(bob.signers[0].fingerprint, bob.fingerprint);
        assert_eq!(
            bob.signers[1].fingerprint,
            "2600C5FDE303AE79A1F00FDD246C3A9143605CFE"
        );
    }

    #[test]
    fn own_expiry_and_revocation_are_read() {
        let olga = load(include_str!("testdata/olga.asc"));
        // Made 2020-01-01 with a validity of 30 days.
        assert_eq!(
            olga.signers[0].expires_at,
            Some(1_577_836_800 + 30 * 86_400)
        );
        let rita = load(include_str!("testdata/rita-revoked.asc"));
        assert!(rita.signers[0].revoked);
    }
}
