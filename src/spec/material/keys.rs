//! Public signing keys that users list in the policy: OpenSSH public key lines
//! and ASCII-armored OpenPGP public keys.
//!
//! Fingerprints match what the usual tools print, so users can compare them:
//! `SHA256:<base64>` like `ssh-keygen -lf`, and the uppercase hex fingerprint
//! like `gpg --with-colons --fingerprint` (40 digits for v4 keys, 64 for v6).
//!
//! SSH lines are parsed with the `ssh-key` crate, except ECDSA keys
//! (`ecdsa-sha2-nistp*` and `sk-ecdsa-sha2-nistp256@openssh.com`), whose
//! wire format (algorithm name, curve name, uncompressed point of the right
//! size) is checked here, so that a key on a curve the crate cannot verify
//! with (P-521) is still accepted and fingerprinted. The fingerprint is
//! computed the way OpenSSH does, as SHA-256 over the decoded key blob
//! ([`ssh_fingerprint`]).
//!
//! These parsers and the two fingerprint functions are the only ones:
//! `identity` verifies signatures with the keys [`parse_ssh_key`] decodes
//! and names OpenPGP keys and subkeys by [`openpgp_fingerprint`], so what
//! validation shows and what a verified commit names always agree.
//!
//! OpenPGP is handled here entirely: RFC 4880 / RFC 9580 ASCII armor (the
//! CRC24 line is verified when present), then the packet stream (old and new
//! packet formats, every length encoding including partial lengths). The
//! first packet must be a Public-Key packet (tag 6) of version 4 (fingerprint:
//! SHA-1 over `0x99 || 2-byte length || body`) or version 6 (fingerprint:
//! SHA-256 over `0x9B || 4-byte length || body`). Version 2/3 keys (obsolete,
//! MD5 fingerprints) and version 5 (LibrePGP) keys are rejected. The text of
//! the first User ID packet (tag 13), if any, becomes `comment_or_uid`. Text
//! that holds more than one primary key (in one armored block or several) is
//! rejected so that it is always clear which key is trusted. Text before the
//! BEGIN line and after the END line is ignored. Signatures are not verified.

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine as _;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use thiserror::Error;

use super::secrets::{looks_like_secret, scan, SecretKind};
use crate::support::hex;

/// Which kind of key a [`PublicKeyInfo`] describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyFormat {
    /// An OpenSSH public key line.
    Ssh,
    /// An OpenPGP public key (transferable public key).
    OpenPgp,
}

/// A parsed public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKeyInfo {
    /// Where the key came from.
    pub format: KeyFormat,
    /// SSH: the algorithm name from the key, e.g. `ssh-ed25519`, `ssh-rsa`,
    /// `ecdsa-sha2-nistp256`. OpenPGP: the RFC 9580 name of the public-key
    /// algorithm, e.g. `RSA`, `EdDSALegacy`, `Ed25519`.
    pub algorithm: String,
    /// SSH: `SHA256:<unpadded base64>`, as `ssh-keygen -lf` prints it.
    /// OpenPGP: uppercase hex, 40 digits (v4) or 64 digits (v6), as
    /// `gpg --with-colons --fingerprint` prints it.
    pub fingerprint: String,
    /// SSH: the comment after the key, if any. OpenPGP: the first User ID, if
    /// any. Control characters are replaced with U+FFFD.
    pub comment_or_uid: Option<String>,
}

/// Why a key could not be used. Messages never include the key text.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// A private key was given where a public key belongs.
    #[error(
        "this is {kind}, not a public key: list the PUBLIC key here (for SSH the `.pub` file, \
         for OpenPGP `gpg --export --armor <id>`). The private key is in the repository now, so \
         treat it as leaked: remove it, generate a new key pair and revoke this one"
    )]
    PrivateKeyGiven {
        /// What kind of private key was found.
        kind: SecretKind,
    },
    /// The text is not of the form `<algorithm> <base64> [comment]`.
    #[error(
        "not an OpenSSH public key line: expected one line of the form `<algorithm> <base64 key> \
         [comment]`, as in a `.pub` file (e.g. `ssh-ed25519 AAAAC3Nz… user@host`); print it with \
         `ssh-keygen -y -f <private key file>` if you only have the private key file"
    )]
    NotSshPublicKeyLine,
    /// An OpenSSH certificate (`*-cert-v01@openssh.com`) was given.
    #[error(
        "this is an OpenSSH certificate, not a plain public key: list the public key itself (the \
         `.pub` file without `-cert`)"
    )]
    SshCertificate,
    /// The key's algorithm is not one this program knows.
    #[error(
        "unknown key algorithm {algorithm}: use an Ed25519 key (`ssh-keygen -t ed25519`, \
         `gpg --quick-gen-key <uid> ed25519`), or RSA or ECDSA"
    )]
    UnknownAlgorithm {
        /// The algorithm as named in the key (shown only when it is a short
        /// plain identifier, otherwise `(not shown)`).
        algorithm: String,
    },
    /// The algorithm at the start of an SSH line differs from the one encoded
    /// in the key data.
    #[error(
        "the line says `{declared}` but the key data holds a key of type `{actual}`: the line was \
         edited or put together from two keys; copy the `.pub` file again"
    )]
    AlgorithmMismatch {
        /// The algorithm at the start of the line.
        declared: String,
        /// The algorithm inside the base64 key data.
        actual: String,
    },
    /// The base64 field of an SSH line does not decode.
    #[error(
        "the key data of the SSH public key is not valid base64: part of it is missing or \
         damaged; copy the whole line from the `.pub` file again"
    )]
    BadBase64,
    /// The SSH key data decodes but is not a valid key of its algorithm.
    #[error(
        "the SSH public key data is malformed: {reason}; copy the whole line from the `.pub` \
         file again"
    )]
    MalformedSshKey {
        /// What is wrong with it (never the data itself).
        reason: &'static str,
    },
    /// No `-----BEGIN PGP PUBLIC KEY BLOCK-----` line.
    #[error(
        "no OpenPGP public key found: expected an ASCII-armored key starting with \
         `-----BEGIN PGP PUBLIC KEY BLOCK-----`, as printed by `gpg --export --armor <id>`"
    )]
    ArmorMissing,
    /// The armor around the key is damaged.
    #[error(
        "the OpenPGP armor is damaged at line {line}: {problem}; export the key again with \
         `gpg --export --armor <id>`"
    )]
    ArmorGarbled {
        /// 1-based line within the given text.
        line: usize,
        /// What is wrong there.
        problem: &'static str,
    },
    /// The `=XXXX` CRC24 line does not match the data.
    #[error(
        "the OpenPGP armor checksum (the `=` line before the END line) does not match the key \
         data: the key was altered or damaged in copying; export it again with \
         `gpg --export --armor <id>`"
    )]
    ChecksumMismatch,
    /// The first packet is not a Public-Key packet.
    #[error(
        "the OpenPGP data starts with {} (packet tag {tag}), not a public key: export the \
         key itself with `gpg --export --armor <id>`", packet_name(*.tag)
    )]
    NotPublicKeyPacket {
        /// The packet tag that was found.
        tag: u8,
    },
    /// The public key packet has a version this program does not accept.
    #[error("{}", unsupported_version_message(*.version))]
    UnsupportedPacketVersion {
        /// The key packet version.
        version: u8,
    },
    /// The OpenPGP packet stream is malformed.
    #[error(
        "the OpenPGP key data is malformed: {reason}; export the key again with \
         `gpg --export --armor <id>`"
    )]
    MalformedPacket {
        /// What is wrong.
        reason: &'static str,
    },
    /// The text holds more than one primary key (in one armored block or in
    /// several).
    #[error(
        "found {count} OpenPGP keys where one is expected: list one key per entry (export each \
         with `gpg --export --armor <fingerprint>`)"
    )]
    MultipleKeys {
        /// How many primary keys were found: all those in the first armored
        /// block, plus one for each further block.
        count: usize,
    },
}

fn packet_name(tag: u8) -> &'static str {
    match tag {
        1 => "an encrypted session key",
        2 => "a signature",
        3 => "a symmetric-key encrypted session key",
        4 => "a one-pass signature",
        5 => "a secret key",
        7 => "a secret subkey",
        8 => "compressed data",
        9 | 18 | 20 => "encrypted data",
        11 => "a literal message",
        13 => "a user id",
        14 => "a public subkey",
        17 => "a user attribute",
        _ => "an unexpected packet",
    }
}

fn unsupported_version_message(version: u8) -> String {
    match version {
        2 | 3 => format!(
            "this is a version {version} OpenPGP key, which is obsolete and insecure (its \
             fingerprint uses MD5): generate a current key (`gpg --quick-gen-key <uid> ed25519`) \
             and list that instead"
        ),
        5 => "this is a version 5 (LibrePGP) OpenPGP key, which is not supported: list a version \
              4 or version 6 key instead"
            .to_owned(),
        _ => format!(
            "unsupported OpenPGP key packet version {version}: only version 4 and version 6 keys \
             are accepted"
        ),
    }
}

/// The first private key found in `text`, if any.
fn private_key_in(text: &str) -> Option<SecretKind> {
    scan(text)
        .into_iter()
        .map(|f| f.kind)
        .find(SecretKind::is_private_key)
}

/// Replaces control characters so that a comment or user id is safe to print.
fn printable(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '\u{FFFD}' } else { c })
        .collect()
}

/// `name` if it is safe and useful to show in a message, else `(not shown)`.
fn shown_name(name: &str) -> String {
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@'));
    if plain && !looks_like_secret(name) {
        format!("`{name}`")
    } else {
        "(not shown)".to_owned()
    }
}

// ---------------------------------------------------------------------------
// SSH
// ---------------------------------------------------------------------------

const SSH_ALGORITHMS: [&str; 8] = [
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
];

/// Parses one OpenSSH public key line, `<algorithm> <base64> [comment]`, as
/// found in a `.pub` file or `authorized_keys` (without options).
///
/// # Errors
///
/// [`KeyError::PrivateKeyGiven`] when the text contains a private key; for a
/// public key line, the SSH variants of [`KeyError`] (not a key line, an SSH
/// certificate, unknown or mismatched algorithm, bad base64, malformed key).
#[must_use = "an unparsed key must not be trusted"]
pub fn parse_ssh_public_key(line: &str) -> Result<PublicKeyInfo, KeyError> {
    parse_ssh_key(line).map(|key| key.info)
}

/// An OpenSSH public key line, parsed: what validation reports about it,
/// and the key itself for verifying signatures.
#[derive(Debug, Clone)]
pub struct SshKey {
    pub info: PublicKeyInfo,
    /// `None` for a valid key `ssh-key` cannot verify with (ECDSA P-521).
    pub key: Option<ssh_key::PublicKey>,
}

/// [`parse_ssh_public_key`], keeping the decoded key.
///
/// # Errors
///
/// As [`parse_ssh_public_key`].
#[must_use = "an unparsed key must not be trusted"]
pub fn parse_ssh_key(line: &str) -> Result<SshKey, KeyError> {
    if let Some(kind) = private_key_in(line) {
        return Err(KeyError::PrivateKeyGiven { kind });
    }
    let line = line.trim();
    if line.contains('\n') {
        return Err(KeyError::NotSshPublicKeyLine);
    }
    let mut fields = line.split_whitespace();
    let (Some(algorithm), Some(data)) = (fields.next(), fields.next()) else {
        return Err(KeyError::NotSshPublicKeyLine);
    };
    let comment = fields.collect::<Vec<_>>().join(" ");
    if algorithm.ends_with("-cert-v01@openssh.com") {
        return Err(KeyError::SshCertificate);
    }
    if !SSH_ALGORITHMS.contains(&algorithm) {
        return Err(KeyError::UnknownAlgorithm {
            algorithm: shown_name(algorithm),
        });
    }
    let blob = STANDARD.decode(data).map_err(|_| KeyError::BadBase64)?;
    let mut reader = Wire(&blob);
    let inner = reader
        .string()
        .ok_or_else(|| malformed_ssh("the key data is truncated"))?;
    if inner != algorithm.as_bytes() {
        return Err(KeyError::AlgorithmMismatch {
            declared: algorithm.to_owned(),
            actual: std::str::from_utf8(inner)
                .map_or_else(|_| "(not shown)".to_owned(), shown_name_bare),
        });
    }
    let decoded = ssh_key::PublicKey::from_openssh(&format!("{algorithm} {data}"));
    let key = if algorithm.contains("ecdsa-sha2-") {
        check_ecdsa(algorithm, reader)?;
        decoded.ok()
    } else {
        Some(decoded.map_err(|_| malformed_ssh(SSH_KEY_INVALID))?)
    };
    let info = PublicKeyInfo {
        format: KeyFormat::Ssh,
        algorithm: algorithm.to_owned(),
        fingerprint: ssh_fingerprint(&blob),
        comment_or_uid: (!comment.is_empty()).then(|| printable(&comment)),
    };
    Ok(SshKey { info, key })
}

/// The fingerprint of an SSH public key given as its wire-format blob (the
/// base64 field of a `.pub` line, decoded): `SHA256:` and the unpadded
/// base64 of its SHA-256, as `ssh-keygen -lf` prints it.
#[must_use]
pub fn ssh_fingerprint(key_blob: &[u8]) -> String {
    format!(
        "SHA256:{}",
        STANDARD_NO_PAD.encode(Sha256::digest(key_blob))
    )
}

fn shown_name_bare(name: &str) -> String {
    shown_name(name).trim_matches('`').to_owned()
}

const SSH_KEY_INVALID: &str =
    "the key data is truncated, has extra bytes, or is not a valid key of its algorithm";

fn malformed_ssh(reason: &'static str) -> KeyError {
    KeyError::MalformedSshKey { reason }
}

/// Validates the ECDSA wire format after the algorithm name.
fn check_ecdsa(algorithm: &str, mut reader: Wire<'_>) -> Result<(), KeyError> {
    let (curve, point_len): (&[u8], usize) = match algorithm {
        "ecdsa-sha2-nistp256" | "sk-ecdsa-sha2-nistp256@openssh.com" => (b"nistp256", 65),
        "ecdsa-sha2-nistp384" => (b"nistp384", 97),
        _ => (b"nistp521", 133),
    };
    let truncated = || malformed_ssh("the key data is truncated");
    if reader.string().ok_or_else(truncated)? != curve {
        return Err(malformed_ssh("the curve does not match the algorithm"));
    }
    let point = reader.string().ok_or_else(truncated)?;
    if point.len() != point_len || point.first() != Some(&0x04) {
        return Err(malformed_ssh(
            "the public point has the wrong size or encoding",
        ));
    }
    if algorithm.starts_with("sk-") {
        reader.string().ok_or_else(truncated)?;
    }
    if !reader.0.is_empty() {
        return Err(malformed_ssh("unexpected bytes after the key"));
    }
    Ok(())
}

/// Reader for SSH wire-format strings (`u32` big-endian length + bytes).
struct Wire<'a>(&'a [u8]);

impl<'a> Wire<'a> {
    fn string(&mut self) -> Option<&'a [u8]> {
        let len_bytes: [u8; 4] = self.0.get(..4)?.try_into().ok()?;
        let len = usize::try_from(u32::from_be_bytes(len_bytes)).ok()?;
        let end = 4usize.checked_add(len)?;
        let s = self.0.get(4..end)?;
        self.0 = &self.0[end..];
        Some(s)
    }
}

// ---------------------------------------------------------------------------
// OpenPGP
// ---------------------------------------------------------------------------

const BEGIN_PUBLIC: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const END_PUBLIC: &str = "-----END PGP PUBLIC KEY BLOCK-----";

const TAG_SECRET_KEY: u8 = 5;
const TAG_PUBLIC_KEY: u8 = 6;
const TAG_SECRET_SUBKEY: u8 = 7;
const TAG_USER_ID: u8 = 13;

/// Parses an ASCII-armored OpenPGP public key (`gpg --export --armor`).
///
/// # Errors
///
/// [`KeyError::PrivateKeyGiven`] for secret keys; otherwise the OpenPGP
/// variants of [`KeyError`]: armor missing or damaged, CRC24 mismatch, a
/// first packet that is not a public key, an unsupported key version or
/// algorithm, malformed packets, or more than one key in the block.
#[must_use = "an unparsed key must not be trusted"]
pub fn parse_openpgp_public_key(armored: &str) -> Result<PublicKeyInfo, KeyError> {
    if let Some(kind) = private_key_in(armored) {
        return Err(KeyError::PrivateKeyGiven { kind });
    }
    let data = dearmor(armored)?;
    let mut packets = Packets {
        data: &data,
        pos: 0,
    };
    let first = packets.next().ok_or(KeyError::MalformedPacket {
        reason: "there are no packets",
    })??;
    match first.tag {
        TAG_PUBLIC_KEY => {}
        TAG_SECRET_KEY | TAG_SECRET_SUBKEY => {
            return Err(KeyError::PrivateKeyGiven {
                kind: SecretKind::PgpPrivateKeyBlock,
            })
        }
        tag => return Err(KeyError::NotPublicKeyPacket { tag }),
    }
    let (algorithm, fingerprint) = key_packet(&first.body)?;
    let mut uid = None;
    let mut keys = 1usize;
    for packet in packets {
        let packet = packet?;
        match packet.tag {
            TAG_PUBLIC_KEY => keys += 1,
            TAG_SECRET_KEY | TAG_SECRET_SUBKEY => {
                return Err(KeyError::PrivateKeyGiven {
                    kind: SecretKind::PgpPrivateKeyBlock,
                })
            }
            TAG_USER_ID if uid.is_none() && keys == 1 => {
                uid = Some(printable(&String::from_utf8_lossy(&packet.body)));
            }
            _ => {}
        }
    }
    // Further armored blocks after the first one are further keys too.
    let blocks = armored.lines().filter(|l| l.trim() == BEGIN_PUBLIC).count();
    let count = keys + blocks.saturating_sub(1);
    if count > 1 {
        return Err(KeyError::MultipleKeys { count });
    }
    Ok(PublicKeyInfo {
        format: KeyFormat::OpenPgp,
        algorithm: algorithm.to_owned(),
        fingerprint,
        comment_or_uid: uid.filter(|u| !u.is_empty()),
    })
}

/// Algorithm name and fingerprint of a Public-Key packet body.
fn key_packet(body: &[u8]) -> Result<(&'static str, String), KeyError> {
    let fingerprint = openpgp_fingerprint(body)?;
    let id = body[5];
    let algorithm = pgp_algorithm(id).ok_or_else(|| KeyError::UnknownAlgorithm {
        algorithm: format!("(OpenPGP public-key algorithm {id})"),
    })?;
    Ok((algorithm, fingerprint))
}

/// The fingerprint of an OpenPGP key or subkey given as the body of its
/// Public-Key (or Public-Subkey) packet, in uppercase hex as `gpg` prints
/// it: SHA-1 over `0x99 || 2-byte length || body` for version 4 (40
/// digits), SHA-256 over `0x9B || 4-byte length || body` for version 6 (64).
///
/// # Errors
///
/// [`KeyError::MalformedPacket`] for a body too short or too long for its
/// version, [`KeyError::UnsupportedPacketVersion`] for other versions.
pub fn openpgp_fingerprint(body: &[u8]) -> Result<String, KeyError> {
    let too_short = KeyError::MalformedPacket {
        reason: "the public-key packet is too short",
    };
    let version = *body.first().ok_or(too_short.clone())?;
    Ok(match version {
        4 => {
            if body.len() < 6 {
                return Err(too_short);
            }
            let len = u16::try_from(body.len()).map_err(|_| KeyError::MalformedPacket {
                reason: "the public-key packet is too long",
            })?;
            let mut hash = Sha1::new();
            hash.update([0x99]);
            hash.update(len.to_be_bytes());
            hash.update(body);
            hex::encode_upper(&hash.finalize())
        }
        6 => {
            let material: [u8; 4] = body
                .get(6..10)
                .and_then(|b| b.try_into().ok())
                .ok_or(too_short)?;
            if usize::try_from(u32::from_be_bytes(material)).ok() != Some(body.len() - 10) {
                return Err(KeyError::MalformedPacket {
                    reason: "the key material length does not match the packet",
                });
            }
            let len = u32::try_from(body.len()).map_err(|_| KeyError::MalformedPacket {
                reason: "the public-key packet is too long",
            })?;
            let mut hash = Sha256::new();
            hash.update([0x9B]);
            hash.update(len.to_be_bytes());
            hash.update(body);
            hex::encode_upper(&hash.finalize())
        }
        version => return Err(KeyError::UnsupportedPacketVersion { version }),
    })
}

/// RFC 9580 section 9.1 public-key algorithm names.
fn pgp_algorithm(id: u8) -> Option<&'static str> {
    Some(match id {
        1 => "RSA",
        2 => "RSA (encrypt-only)",
        3 => "RSA (sign-only)",
        16 => "Elgamal",
        17 => "DSA",
        18 => "ECDH",
        19 => "ECDSA",
        22 => "EdDSALegacy",
        25 => "X25519",
        26 => "X448",
        27 => "Ed25519",
        28 => "Ed448",
        _ => return None,
    })
}

/// Removes RFC 4880 section 6.2 ASCII armor and returns the binary data.
fn dearmor(text: &str) -> Result<Vec<u8>, KeyError> {
    let garbled = |line: usize, problem: &'static str| KeyError::ArmorGarbled { line, problem };
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l.trim()));
    let begin = lines
        .by_ref()
        .find(|(_, l)| *l == BEGIN_PUBLIC)
        .map(|(n, _)| n)
        .ok_or(KeyError::ArmorMissing)?;
    let mut last = begin;

    // Armor headers, up to the blank line.
    loop {
        let Some((n, line)) = lines.next() else {
            return Err(garbled(
                last,
                "the block ends without an END line (was it cut off?)",
            ));
        };
        last = n;
        if line.is_empty() {
            break;
        }
        if line.starts_with("-----") {
            return Err(garbled(n, "the block ends before any key data"));
        }
        let header = line.split_once(':').is_some_and(|(name, _)| {
            !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
        });
        if !header {
            return Err(garbled(
                n,
                "expected an armor header (`Name: value`) or the blank line that must separate \
                 the armor headers from the key data",
            ));
        }
    }

    // Body, optional checksum, END line.
    let mut body = String::new();
    let mut starts: Vec<(usize, usize)> = Vec::new(); // (offset in body, line)
    let mut checksum: Option<(usize, &str)> = None;
    let mut ended = false;
    for (n, line) in lines.by_ref() {
        last = n;
        if line == END_PUBLIC {
            ended = true;
            break;
        }
        if line.starts_with("-----") {
            return Err(garbled(
                n,
                "the END line does not match `-----END PGP PUBLIC KEY BLOCK-----`",
            ));
        }
        if checksum.is_some() {
            if line.is_empty() {
                continue;
            }
            return Err(garbled(n, "only the END line may follow the checksum line"));
        }
        if let Some(crc) = line.strip_prefix('=').filter(|_| line.len() == 5) {
            checksum = Some((n, crc));
            continue;
        }
        if line.is_empty() {
            continue;
        }
        if !line
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        {
            return Err(garbled(
                n,
                "a line of key data contains characters that are not base64",
            ));
        }
        starts.push((body.len(), n));
        body.push_str(line);
    }
    if !ended {
        return Err(garbled(
            last,
            "the block ends without an END line (was it cut off?)",
        ));
    }
    if body.is_empty() {
        return Err(garbled(last, "the block contains no key data"));
    }
    let data = STANDARD.decode(body.as_bytes()).map_err(|e| {
        let offset = match e {
            base64::DecodeError::InvalidByte(at, _)
            | base64::DecodeError::InvalidLastSymbol(at, _) => at,
            _ => body.len().saturating_sub(1),
        };
        let line = starts
            .iter()
            .take_while(|(start, _)| *start <= offset)
            .last()
            .map_or(begin, |(_, line)| *line);
        garbled(
            line,
            "the key data is not valid base64 (is part of it missing?)",
        )
    })?;
    if let Some((n, crc)) = checksum {
        let expected = STANDARD
            .decode(crc)
            .ok()
            .filter(|bytes| bytes.len() == 3)
            .ok_or_else(|| {
                garbled(
                    n,
                    "the checksum line must be `=` followed by 4 base64 characters",
                )
            })?;
        let computed = crc24(&data).to_be_bytes();
        if expected[..] != computed[1..] {
            return Err(KeyError::ChecksumMismatch);
        }
    }
    Ok(data)
}

/// RFC 4880 section 6.1 CRC-24.
fn crc24(data: &[u8]) -> u32 {
    let mut crc: u32 = 0x00B7_04CE;
    for &byte in data {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & 0x0100_0000 != 0 {
                crc ^= 0x0186_4CFB;
            }
        }
    }
    crc & 0x00FF_FFFF
}

struct Packet {
    tag: u8,
    body: Vec<u8>,
}

/// Iterator over OpenPGP packets (RFC 9580 section 4.2).
struct Packets<'a> {
    data: &'a [u8],
    pos: usize,
}

const TRUNCATED: KeyError = KeyError::MalformedPacket {
    reason: "a packet is longer than the data, so the key is truncated",
};

impl Packets<'_> {
    fn byte(&mut self) -> Result<u8, KeyError> {
        let b = *self.data.get(self.pos).ok_or(TRUNCATED)?;
        self.pos += 1;
        Ok(b)
    }

    fn be(&mut self, n: usize) -> Result<usize, KeyError> {
        let mut v = 0usize;
        for _ in 0..n {
            v = (v << 8) | usize::from(self.byte()?);
        }
        Ok(v)
    }

    fn take(&mut self, len: usize, into: &mut Vec<u8>) -> Result<(), KeyError> {
        let end = self.pos.checked_add(len).ok_or(TRUNCATED)?;
        into.extend_from_slice(self.data.get(self.pos..end).ok_or(TRUNCATED)?);
        self.pos = end;
        Ok(())
    }

    fn packet(&mut self) -> Result<Packet, KeyError> {
        let ctb = self.byte()?;
        if ctb & 0x80 == 0 {
            return Err(KeyError::MalformedPacket {
                reason: "the data does not start with an OpenPGP packet header",
            });
        }
        let mut body = Vec::new();
        let tag = if ctb & 0x40 != 0 {
            // New format: a sequence of partial lengths ends with a final one.
            loop {
                let first = self.byte()?;
                let len = match first {
                    0..=191 => usize::from(first),
                    192..=223 => ((usize::from(first) - 192) << 8) + self.be(1)? + 192,
                    255 => self.be(4)?,
                    _ => {
                        self.take(1usize << (first & 0x1f), &mut body)?;
                        continue;
                    }
                };
                self.take(len, &mut body)?;
                break;
            }
            ctb & 0x3f
        } else {
            let len = match ctb & 0x03 {
                0 => self.be(1)?,
                1 => self.be(2)?,
                2 => self.be(4)?,
                _ => self.data.len() - self.pos, // indeterminate: to the end
            };
            self.take(len, &mut body)?;
            (ctb >> 2) & 0x0f
        };
        if tag == 0 {
            return Err(KeyError::MalformedPacket {
                reason: "a packet has the reserved tag 0",
            });
        }
        Ok(Packet { tag, body })
    }
}

impl Iterator for Packets<'_> {
    type Item = Result<Packet, KeyError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.data.len() {
            return None;
        }
        let packet = self.packet();
        if packet.is_err() {
            self.pos = self.data.len();
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests;
