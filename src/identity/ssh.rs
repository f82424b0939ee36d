//! SSH commit signatures: the armored `sshsig` format (OpenSSH
//! PROTOCOL.sshsig) that `git commit -S` writes with `gpg.format=ssh`.

use crate::spec::material::ssh_fingerprint;
use ssh_key::{Algorithm, PublicKey, SshSig};

/// The namespace git signs commits (and tags) in.
pub(super) const GIT_NAMESPACE: &str = "git";

/// Why an SSH signature is refused before any key is looked up.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal {
    Unreadable(&'static str),
    WrongNamespace(String),
    Weak(String),
}

/// A parsed SSH signature that passed the checks that need no key.
pub(super) struct Signature {
    pub sig: SshSig,
    /// `SHA256:<base64>` of the key the signature names, as `ssh-keygen -lf` prints it.
    pub fingerprint: String,
}

/// Parses an armored SSH signature and applies the key-independent rules:
/// namespace `git`, no SHA-1 (`ssh-rsa` signatures). The message hash of
/// `sshsig` is always SHA-256 or SHA-512: the parser refuses anything else.
pub(super) fn parse(armored: &[u8]) -> Result<Signature, Refusal> {
    let sig = SshSig::from_pem(armored).map_err(|_| match weak_algorithm(armored) {
        Some(weak) => Refusal::Weak(weak),
        None => Refusal::Unreadable("the SSH signature block does not decode"),
    })?;
    if sig.namespace() != GIT_NAMESPACE {
        return Err(Refusal::WrongNamespace(sig.namespace().to_owned()));
    }
    if let Algorithm::Rsa { hash: None } = sig.algorithm() {
        return Err(Refusal::Weak("ssh-rsa (RSA with SHA-1)".to_owned()));
    }
    // The named key's blob, fingerprinted as validation fingerprints a
    // listed key.
    let blob = PublicKey::from(sig.public_key().clone())
        .to_bytes()
        .map_err(|_| Refusal::Unreadable("the SSH signature's public key does not encode"))?;
    let fingerprint = ssh_fingerprint(&blob);
    Ok(Signature { sig, fingerprint })
}

/// `ssh-key` refuses to decode signatures with a SHA-1 algorithm at all;
/// this reads the raw blob to tell the user that, rather than "unreadable".
fn weak_algorithm(armored: &[u8]) -> Option<String> {
    let blob = unarmor(armored)?;
    let [_key, _namespace, _reserved, hash, signature] = blob_fields(&blob)?;
    let (algorithm, _) = string(signature)?;
    if algorithm == b"ssh-rsa" {
        Some("ssh-rsa (RSA with SHA-1)".to_owned())
    } else if hash == b"sha1" {
        Some("sha1 (SSH signature hash)".to_owned())
    } else {
        None
    }
}

/// The base64 body of an armored `SSH SIGNATURE` block, decoded.
pub(super) fn unarmor(armored: &[u8]) -> Option<Vec<u8>> {
    use base64::Engine as _;
    let text = std::str::from_utf8(armored).ok()?;
    let body = text
        .split("-----BEGIN SSH SIGNATURE-----")
        .nth(1)?
        .split("-----END SSH SIGNATURE-----")
        .next()?;
    let joined: String = body.split_whitespace().collect();
    base64::engine::general_purpose::STANDARD
        .decode(joined)
        .ok()
}

/// One SSH wire-format string (u32 length, bytes) and what follows it.
pub(super) fn string(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = bytes.split_first_chunk::<4>()?;
    let len = usize::try_from(u32::from_be_bytes(*len)).ok()?;
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// The five string fields of an SSHSIG blob after magic and version:
/// public key, namespace, reserved, hash algorithm, signature.
pub(super) fn blob_fields(blob: &[u8]) -> Option<[&[u8]; 5]> {
    let mut rest = blob.strip_prefix(b"SSHSIG")?.get(4..)?;
    let mut fields: [&[u8]; 5] = [&[]; 5];
    for field in &mut fields {
        let (value, next) = string(rest)?;
        *field = value;
        rest = next;
    }
    Some(fields)
}

/// Whether `sig` is a valid signature by `key` over `message` in the `git`
/// namespace.
pub(super) fn verify(key: &PublicKey, sig: &SshSig, message: &[u8]) -> bool {
    key.verify(GIT_NAMESPACE, message, sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_unreadable() {
        assert!(matches!(
            parse(b"-----BEGIN SSH SIGNATURE-----\nAAAA\n-----END SSH SIGNATURE-----\n"),
            Err(Refusal::Unreadable(_))
        ));
    }
}
