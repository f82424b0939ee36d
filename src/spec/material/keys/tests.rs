use super::*;

macro_rules! fixture {
    ($name:literal) => {
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/",
            $name
        ))
    };
}

const SSH_ED25519: &str = fixture!("ssh_ed25519.pub");
const SSH_RSA: &str = fixture!("ssh_rsa.pub");
const SSH_ECDSA: &str = fixture!("ssh_ecdsa.pub");
const SSH_ECDSA_P384: &str = fixture!("ssh_ecdsa_p384.pub");
const SSH_ECDSA_P521: &str = fixture!("ssh_ecdsa_p521.pub");
const SSH_DSA: &str = fixture!("ssh_dsa.pub");
/// Two security-key (FIDO) public keys: sk-ssh-ed25519 then sk-ecdsa.
const SSH_SK: &str = fixture!("ssh_sk.pub");
const PGP_ED25519: &str = fixture!("pgp_ed25519.asc");
const PGP_RSA: &str = fixture!("pgp_rsa3072.asc");

/// Fingerprints as printed by `gpg --with-colons --fingerprint` (fpr lines).
const PGP_ED25519_FPR: &str = "61A1C5C4905294BCD80BCB670D0C81B16ED94AA2";
const PGP_RSA_FPR: &str = "A6ED3A6E7BEE75EE95CF100A2A3C43172CAC00A0";

/// RFC 9580 appendix A.3: sample v6 certificate (new packet format, no CRC).
const RFC9580_V6_CERT: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

xioGY4d/4xsAAAAg+U2nu0jWCmHlZ3BqZYfQMxmZu52JGggkLq2EVD34laPCsQYf
GwoAAABCBYJjh3/jAwsJBwUVCg4IDAIWAAKbAwIeCSIhBssYbE8GCaaX5NUt+mxy
KwwfHifBilZwj2Ul7Ce62azJBScJAgcCAAAAAK0oIBA+LX0ifsDm185Ecds2v8lw
gyU2kCcUmKfvBXbAf6rhRYWzuQOwEn7E/aLwIwRaLsdry0+VcallHhSu4RN6HWaE
QsiPlR4zxP/TP7mhfVEe7XWPxtnMUMtf15OyA51YBM4qBmOHf+MZAAAAIIaTJINn
+eUBXbki+PSAld2nhJh/LVmFsS+60WyvXkQ1wpsGGBsKAAAALAWCY4d/4wKbDCIh
BssYbE8GCaaX5NUt+mxyKwwfHifBilZwj2Ul7Ce62azJAAAAAAQBIKbpGG2dWTX8
j+VjFM21J0hqWlEg+bdiojWnKfA5AQpWUWtnNwDEM0g12vYxoWM8Y81W+bHBw805
I8kWVkXU6vFOi+HWvv/ira7ofJu16NnoUkhclkUrk0mXubZvyl4GBg==
-----END PGP PUBLIC KEY BLOCK-----
";

/// RFC 9580 appendix A.1: sample v4 Ed25519Legacy key (new packet format).
const RFC9580_V4_LEGACY: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----

xjMEU/NfCxYJKwYBBAHaRw8BAQdAPwmJlL3ZFu1AUxl5NOSofIBzOhKA1i+AEJku
Q+47JAY=
-----END PGP PUBLIC KEY BLOCK-----
";

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

fn ssh_field(line: &str, index: usize) -> &str {
    line.split_whitespace().nth(index).unwrap_or_default()
}

fn ssh_blob(line: &str) -> Vec<u8> {
    STANDARD.decode(ssh_field(line, 1)).expect("fixture base64")
}

fn wire(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(&u32::try_from(part.len()).expect("small").to_be_bytes());
        out.extend_from_slice(part);
    }
    out
}

/// ASCII-armors `data` the way gpg does (64-column lines, CRC24 line).
fn armor(data: &[u8]) -> String {
    let body = STANDARD.encode(data);
    let mut out = String::from("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n");
    for chunk in body.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(chunk).expect("base64 is ascii"));
        out.push('\n');
    }
    let crc = crc24(data).to_be_bytes();
    out.push('=');
    out.push_str(&STANDARD.encode(&crc[1..]));
    out.push_str("\n-----END PGP PUBLIC KEY BLOCK-----\n");
    out
}

fn packets(armored: &str) -> Vec<Packet> {
    let data = dearmor(armored).expect("fixture dearmors");
    Packets {
        data: &data,
        pos: 0,
    }
    .collect::<Result<Vec<_>, _>>()
    .expect("fixture packets")
}

fn new_packet(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0 | tag];
    let len = body.len();
    if len < 192 {
        out.push(u8::try_from(len).expect("small"));
    } else if len < 8384 {
        let v = len - 192;
        out.push(u8::try_from((v >> 8) + 192).expect("small"));
        out.push(u8::try_from(v & 0xff).expect("small"));
    } else {
        out.push(255);
        out.extend_from_slice(&u32::try_from(len).expect("small").to_be_bytes());
    }
    out.extend_from_slice(body);
    out
}

fn new_packet_five_byte_length(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0xC0 | tag, 255];
    out.extend_from_slice(&u32::try_from(body.len()).expect("small").to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Old-format packet with length type 0 (1 byte), 1 (2 bytes), 2 (4 bytes)
/// or 3 (indeterminate).
fn old_packet(tag: u8, length_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![0x80 | (tag << 2) | length_type];
    let len = u32::try_from(body.len()).expect("small");
    match length_type {
        0 => out.push(u8::try_from(len).expect("fits")),
        1 => out.extend_from_slice(&u16::try_from(len).expect("fits").to_be_bytes()),
        2 => out.extend_from_slice(&len.to_be_bytes()),
        _ => {}
    }
    out.extend_from_slice(body);
    out
}

fn key_body(armored: &str) -> Vec<u8> {
    let first = packets(armored).into_iter().next().expect("a packet");
    assert_eq!(first.tag, TAG_PUBLIC_KEY);
    first.body
}

fn fingerprint_of(data: &[u8]) -> Result<PublicKeyInfo, KeyError> {
    parse_openpgp_public_key(&armor(data))
}

fn openssh_private_key_text() -> String {
    [
        "-----BEGIN ",
        "OPENSSH PRIVATE KEY-----\n",
        "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n",
        "-----END ",
        "OPENSSH PRIVATE KEY-----\n",
    ]
    .concat()
}

fn pgp_private_key_text() -> String {
    [
        "-----BEGIN PGP ",
        "PRIVATE KEY BLOCK-----\n\n",
        "lFgEZQAAABYJKwYBBAHaRw8BAQdA\n",
        "-----END PGP ",
        "PRIVATE KEY BLOCK-----\n",
    ]
    .concat()
}

// ---------------------------------------------------------------------------
// SSH
// ---------------------------------------------------------------------------

#[test]
fn ssh_fingerprints_match_ssh_keygen() {
    // Expected values are `ssh-keygen -lf <file>` output.
    let cases = [
        (
            SSH_ED25519,
            "ssh-ed25519",
            "SHA256:nIvLW0o5ahB/UoeAD61EwzxiGulJBiyeusc6cc/XJpw",
            "deploy@lbops.test",
        ),
        (
            SSH_RSA,
            "ssh-rsa",
            "SHA256:0G7Nc25mw1FkGDE9TdmcYz4sMhI3b9t4GVV+9VF+X4g",
            "ci-signer@lbops.test",
        ),
        (
            SSH_ECDSA,
            "ecdsa-sha2-nistp256",
            "SHA256:dOq9aPzgvoXO8qNW9s+P/aQlxQJvc+tATVncplQCd7c",
            "ecdsa@lbops.test",
        ),
        (
            SSH_ECDSA_P384,
            "ecdsa-sha2-nistp384",
            "SHA256:u3vl4caibw+wm5M4DUcHxTA2PZxRrLrRLrA0VCTChBw",
            "p384@lbops.test",
        ),
        (
            SSH_ECDSA_P521,
            "ecdsa-sha2-nistp521",
            "SHA256:hFft6Ds9jO+VGagAQxsG8swyTaUGVpvMf1jQyMp9y9I",
            "p521@lbops.test",
        ),
        (
            SSH_DSA,
            "ssh-dss",
            "SHA256:DMDKKuysVEGaUUg4uAMRc/tm6a7Z8Xbd04iZeQ8JcEs",
            "legacy@lbops.test",
        ),
        (
            SSH_SK.lines().next().unwrap_or_default(),
            "sk-ssh-ed25519@openssh.com",
            "SHA256:GPhMPvPI3lLpAUHbzhYjgrHtsfan3tv+ZBJU3ThEuPY",
            "yubikey@lbops.test",
        ),
        (
            SSH_SK.lines().nth(1).unwrap_or_default(),
            "sk-ecdsa-sha2-nistp256@openssh.com",
            "SHA256:6rhvv7YTwC+z/nIiETi+buQCcvjKlmaEDFoq5dWbFt4",
            "yubikey-ecdsa@lbops.test",
        ),
    ];
    for (line, algorithm, fingerprint, comment) in cases {
        assert_eq!(
            parse_ssh_public_key(line),
            Ok(PublicKeyInfo {
                format: KeyFormat::Ssh,
                algorithm: algorithm.into(),
                fingerprint: fingerprint.into(),
                comment_or_uid: Some(comment.into()),
            }),
            "{algorithm}"
        );
    }
}

#[test]
fn ssh_comment_and_whitespace_handling() {
    let algorithm = ssh_field(SSH_ED25519, 0);
    let data = ssh_field(SSH_ED25519, 1);
    let bare = parse_ssh_public_key(&format!("{algorithm} {data}")).expect("no comment");
    assert_eq!(bare.comment_or_uid, None);
    let spaced = parse_ssh_public_key(&format!("  {algorithm}\t{data}   Deploy  key\u{7}  \r\n"))
        .expect("tabs and spaces");
    assert_eq!(spaced.comment_or_uid.as_deref(), Some("Deploy key\u{FFFD}"));
    assert_eq!(spaced.fingerprint, bare.fingerprint);
}

#[test]
fn ssh_not_a_public_key_line() {
    for input in [
        "",
        "   ",
        "ssh-ed25519",
        "ssh-ed25519 AAAA\nssh-ed25519 AAAA",
        PGP_ED25519,
    ] {
        assert_eq!(
            parse_ssh_public_key(input),
            Err(KeyError::NotSshPublicKeyLine),
            "{input:?}"
        );
    }
}

#[test]
fn ssh_certificates_and_unknown_algorithms() {
    assert_eq!(
        parse_ssh_public_key("ssh-ed25519-cert-v01@openssh.com AAAAIHNzaC1lZDI1NTE5LWNlcnQ= c"),
        Err(KeyError::SshCertificate)
    );
    assert_eq!(
        parse_ssh_public_key("ssh-foo AAAAB3NzaC1yc2E="),
        Err(KeyError::UnknownAlgorithm {
            algorithm: "`ssh-foo`".into()
        })
    );
    // authorized_keys options are not part of a key line.
    assert_eq!(
        parse_ssh_public_key(&format!(
            "restrict,command=\"/bin/true\" {}",
            SSH_ED25519.trim()
        )),
        Err(KeyError::UnknownAlgorithm {
            algorithm: "(not shown)".into()
        })
    );
    // A secret-looking first field is never echoed.
    let token = ["gh", "p_", &"Q7r".repeat(12)].concat();
    assert_eq!(
        parse_ssh_public_key(&format!("{token} AAAA")),
        Err(KeyError::UnknownAlgorithm {
            algorithm: "(not shown)".into()
        })
    );
}

#[test]
fn ssh_bad_base64_and_mismatches() {
    assert_eq!(
        parse_ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5!!!"),
        Err(KeyError::BadBase64)
    );
    let data = ssh_field(SSH_ED25519, 1);
    assert_eq!(
        parse_ssh_public_key(&format!("ssh-ed25519 {}", &data[..data.len() - 2])),
        Err(KeyError::BadBase64)
    );
    assert_eq!(
        parse_ssh_public_key(&format!("ssh-rsa {data}")),
        Err(KeyError::AlgorithmMismatch {
            declared: "ssh-rsa".into(),
            actual: "ssh-ed25519".into()
        })
    );
    assert_eq!(
        parse_ssh_public_key(&format!("ecdsa-sha2-nistp384 {}", ssh_field(SSH_ECDSA, 1))),
        Err(KeyError::AlgorithmMismatch {
            declared: "ecdsa-sha2-nistp384".into(),
            actual: "ecdsa-sha2-nistp256".into()
        })
    );
}

#[test]
fn ssh_malformed_key_data() {
    let malformed = |blob: &[u8], algorithm: &str| {
        let line = format!("{algorithm} {}", STANDARD.encode(blob));
        match parse_ssh_public_key(&line) {
            Err(KeyError::MalformedSshKey { reason }) => reason,
            other => panic!("expected MalformedSshKey for {algorithm}, got {other:?}"),
        }
    };
    // Too short to hold the algorithm name.
    assert_eq!(
        malformed(&[0, 0, 0], "ssh-ed25519"),
        "the key data is truncated"
    );
    // Ed25519 key of the wrong size (checked by the ssh-key crate).
    let short = wire(&[b"ssh-ed25519", &[7u8; 31]]);
    assert_eq!(malformed(&short, "ssh-ed25519"), SSH_KEY_INVALID);
    // Ed25519 with trailing bytes.
    let mut long = ssh_blob(SSH_ED25519);
    long.push(0);
    assert_eq!(malformed(&long, "ssh-ed25519"), SSH_KEY_INVALID);

    let ecdsa = ssh_blob(SSH_ECDSA);
    let mut fields = Vec::new();
    let mut reader = Wire(&ecdsa);
    while let Some(field) = reader.string() {
        fields.push(field.to_vec());
    }
    let [name, curve, point] = [&fields[0], &fields[1], &fields[2]];
    assert_eq!(
        malformed(&wire(&[name, b"nistp384", point]), "ecdsa-sha2-nistp256"),
        "the curve does not match the algorithm"
    );
    assert_eq!(
        malformed(&wire(&[name, curve, &point[..64]]), "ecdsa-sha2-nistp256"),
        "the public point has the wrong size or encoding"
    );
    let mut compressed = point.clone();
    compressed[0] = 0x02;
    assert_eq!(
        malformed(&wire(&[name, curve, &compressed]), "ecdsa-sha2-nistp256"),
        "the public point has the wrong size or encoding"
    );
    assert_eq!(
        malformed(&wire(&[name, curve, point, b"x"]), "ecdsa-sha2-nistp256"),
        "unexpected bytes after the key"
    );
    assert_eq!(
        malformed(&wire(&[name, curve]), "ecdsa-sha2-nistp256"),
        "the key data is truncated"
    );
    let sk_name: &[u8] = b"sk-ecdsa-sha2-nistp256@openssh.com";
    assert_eq!(
        malformed(
            &wire(&[sk_name, curve, point]),
            "sk-ecdsa-sha2-nistp256@openssh.com"
        ),
        "the key data is truncated"
    );
}

#[test]
fn ssh_private_key_is_refused() {
    assert_eq!(
        parse_ssh_public_key(&openssh_private_key_text()),
        Err(KeyError::PrivateKeyGiven {
            kind: SecretKind::OpenSshPrivateKey
        })
    );
    let pem = ["-----BEGIN RSA ", "PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n"].concat();
    assert_eq!(
        parse_ssh_public_key(&pem),
        Err(KeyError::PrivateKeyGiven {
            kind: SecretKind::PrivateKeyBlock
        })
    );
}

// ---------------------------------------------------------------------------
// OpenPGP
// ---------------------------------------------------------------------------

#[test]
fn openpgp_fingerprints_match_gpg() {
    assert_eq!(
        parse_openpgp_public_key(PGP_ED25519),
        Ok(PublicKeyInfo {
            format: KeyFormat::OpenPgp,
            algorithm: "EdDSALegacy".into(),
            fingerprint: PGP_ED25519_FPR.into(),
            comment_or_uid: Some("Alice Example <alice@lbops.test>".into()),
        })
    );
    assert_eq!(
        parse_openpgp_public_key(PGP_RSA),
        Ok(PublicKeyInfo {
            format: KeyFormat::OpenPgp,
            algorithm: "RSA".into(),
            fingerprint: PGP_RSA_FPR.into(),
            comment_or_uid: Some("Bob Example <bob@lbops.test>".into()),
        })
    );
}

#[test]
fn openpgp_rfc9580_sample_keys() {
    assert_eq!(
        parse_openpgp_public_key(RFC9580_V6_CERT),
        Ok(PublicKeyInfo {
            format: KeyFormat::OpenPgp,
            algorithm: "Ed25519".into(),
            fingerprint: "CB186C4F0609A697E4D52DFA6C722B0C1F1E27C18A56708F6525EC27BAD9ACC9".into(),
            comment_or_uid: None,
        })
    );
    assert_eq!(
        parse_openpgp_public_key(RFC9580_V4_LEGACY),
        Ok(PublicKeyInfo {
            format: KeyFormat::OpenPgp,
            algorithm: "EdDSALegacy".into(),
            fingerprint: "C959BDBAFA32A2F89A153B678CFDE12197965A9A".into(),
            comment_or_uid: None,
        })
    );
}

#[test]
fn openpgp_armor_variants_are_accepted() {
    let expected = parse_openpgp_public_key(PGP_ED25519).expect("fixture");
    let with_headers = PGP_ED25519.replacen(
        "BLOCK-----\n\n",
        "BLOCK-----\nComment: Alice's signing key\nVersion: GnuPG v2\nComment:\n\n",
        1,
    );
    let without_crc: String = PGP_ED25519
        .lines()
        .filter(|l| !(l.starts_with('=') && l.len() == 5))
        .map(|l| format!("{l}\n"))
        .collect();
    let crlf = PGP_ED25519.replace('\n', "\r\n");
    let surrounded = format!("Here is my key:\n\n{PGP_ED25519}\nThanks!\n");
    let indented: String = PGP_ED25519.lines().map(|l| format!("    {l}\n")).collect();
    for armored in [with_headers, without_crc, crlf, surrounded, indented] {
        assert_eq!(
            parse_openpgp_public_key(&armored),
            Ok(expected.clone()),
            "{armored}"
        );
    }
}

#[test]
fn openpgp_every_packet_length_encoding() {
    let ed = key_body(PGP_ED25519); // 51 bytes
    let rsa = key_body(PGP_RSA); // over 192 bytes
    assert!(ed.len() < 192 && rsa.len() > 300);
    for (body, fpr) in [(&ed, PGP_ED25519_FPR), (&rsa, PGP_RSA_FPR)] {
        let mut encodings = vec![
            new_packet(TAG_PUBLIC_KEY, body),
            new_packet_five_byte_length(TAG_PUBLIC_KEY, body),
            old_packet(TAG_PUBLIC_KEY, 1, body),
            old_packet(TAG_PUBLIC_KEY, 2, body),
            old_packet(TAG_PUBLIC_KEY, 3, body),
        ];
        if body.len() < 256 {
            encodings.push(old_packet(TAG_PUBLIC_KEY, 0, body));
        }
        // Partial body lengths: 1, 2, 4, then the rest as a final length.
        let mut partial = vec![0xC0 | TAG_PUBLIC_KEY];
        let mut at = 0;
        for exponent in 0..3u8 {
            let n = 1usize << exponent;
            partial.push(224 + exponent);
            partial.extend_from_slice(&body[at..at + n]);
            at += n;
        }
        let rest = &body[at..];
        partial.extend_from_slice(&new_packet(TAG_PUBLIC_KEY, rest)[1..]);
        encodings.push(partial);
        for data in encodings {
            let info = fingerprint_of(&data).expect("re-encoded key parses");
            assert_eq!(info.fingerprint, fpr);
        }
    }
}

#[test]
fn openpgp_user_id_handling() {
    let ed = key_body(PGP_ED25519);
    let mut data = new_packet(TAG_PUBLIC_KEY, &ed);
    data.extend(new_packet(2, b"not really a signature"));
    data.extend(new_packet(
        TAG_USER_ID,
        b"Carol \x1b[31mRed\x1b[0m <c@x.test>",
    ));
    data.extend(new_packet(TAG_USER_ID, b"Second <second@x.test>"));
    let info = fingerprint_of(&data).expect("parses");
    assert_eq!(
        info.comment_or_uid.as_deref(),
        Some("Carol \u{FFFD}[31mRed\u{FFFD}[0m <c@x.test>")
    );
    let mut empty_uid = new_packet(TAG_PUBLIC_KEY, &ed);
    empty_uid.extend(new_packet(TAG_USER_ID, b""));
    assert_eq!(
        fingerprint_of(&empty_uid).expect("parses").comment_or_uid,
        None
    );
}

#[test]
fn openpgp_armor_missing() {
    for input in [
        "",
        SSH_ED25519,
        "-----BEGIN PGP SIGNATURE-----\n\niQ\n-----END PGP SIGNATURE-----\n",
        "-----BEGIN PGP PUBLIC KEY BLOCK",
    ] {
        assert_eq!(
            parse_openpgp_public_key(input),
            Err(KeyError::ArmorMissing),
            "{input}"
        );
    }
}

#[test]
fn openpgp_armor_garbled() {
    let garbled = |text: &str| match parse_openpgp_public_key(text) {
        Err(KeyError::ArmorGarbled { line, problem }) => (line, problem),
        other => panic!("expected ArmorGarbled, got {other:?} for\n{text}"),
    };
    // The blank line after BEGIN is missing.
    let no_blank = PGP_ED25519.replacen("BLOCK-----\n\n", "BLOCK-----\n", 1);
    assert_eq!(garbled(&no_blank).0, 2);
    // Cut off before the END line.
    let lines: Vec<&str> = PGP_RSA.lines().collect();
    let cut = lines[..lines.len() - 3].join("\n");
    assert!(garbled(&cut).1.contains("without an END line"));
    assert!(
        garbled("-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: x\n")
            .1
            .contains("END")
    );
    // Characters that are not base64.
    let bad_chars = PGP_RSA.replacen("mQGNBGsG", "mQGN*GsG", 1);
    assert_eq!(
        garbled(&bad_chars),
        (
            3,
            "a line of key data contains characters that are not base64"
        )
    );
    // Invalid base64 (a character missing from the middle line).
    let mut dropped: Vec<String> = PGP_RSA.lines().map(str::to_owned).collect();
    dropped[5].remove(10);
    let (line, problem) = garbled(&dropped.join("\n"));
    assert!(problem.contains("not valid base64"), "{problem}");
    assert!((3..=dropped.len()).contains(&line), "{line}");
    // END line with another label.
    let wrong_end = PGP_ED25519.replace(
        "-----END PGP PUBLIC KEY BLOCK-----",
        "-----END PGP PRIVATE KEY-----",
    );
    assert!(garbled(&wrong_end).1.contains("does not match"));
    // No data at all.
    assert_eq!(
        garbled("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n-----END PGP PUBLIC KEY BLOCK-----\n"),
        (3, "the block contains no key data")
    );
    assert_eq!(
        garbled("-----BEGIN PGP PUBLIC KEY BLOCK-----\n-----END PGP PUBLIC KEY BLOCK-----\n"),
        (2, "the block ends before any key data")
    );
    // Something between the checksum and the END line.
    let after_crc = PGP_ED25519.replace("=dJHO\n", "=dJHO\nmore data\n");
    assert!(garbled(&after_crc).1.contains("only the END line"));
    // A checksum line that is not base64.
    let bad_crc = PGP_ED25519.replace("=dJHO\n", "=dJ*O\n");
    assert!(garbled(&bad_crc).1.contains("4 base64 characters"));
    let padded_crc = PGP_ED25519.replace("=dJHO\n", "=dJ==\n");
    assert!(garbled(&padded_crc).1.contains("4 base64 characters"));
}

#[test]
fn openpgp_checksum_mismatch() {
    // A wrong checksum line.
    let wrong_crc = PGP_ED25519.replace("=dJHO\n", "=dJHP\n");
    assert_eq!(
        parse_openpgp_public_key(&wrong_crc),
        Err(KeyError::ChecksumMismatch)
    );
    // Altered data under the original checksum (still valid base64).
    let altered = PGP_ED25519.replacen("mDMEawb7", "mDMEawb8", 1);
    assert_eq!(
        parse_openpgp_public_key(&altered),
        Err(KeyError::ChecksumMismatch)
    );
}

#[test]
fn openpgp_private_keys_are_refused() {
    assert_eq!(
        parse_openpgp_public_key(&pgp_private_key_text()),
        Err(KeyError::PrivateKeyGiven {
            kind: SecretKind::PgpPrivateKeyBlock
        })
    );
    // A secret-key packet (tag 5) hidden under a PUBLIC KEY BLOCK header.
    let ed = key_body(PGP_ED25519);
    assert_eq!(
        fingerprint_of(&new_packet(TAG_SECRET_KEY, &ed)),
        Err(KeyError::PrivateKeyGiven {
            kind: SecretKind::PgpPrivateKeyBlock
        })
    );
    // A secret subkey after a public primary key.
    let mut data = new_packet(TAG_PUBLIC_KEY, &ed);
    data.extend(new_packet(TAG_SECRET_SUBKEY, &ed));
    assert_eq!(
        fingerprint_of(&data),
        Err(KeyError::PrivateKeyGiven {
            kind: SecretKind::PgpPrivateKeyBlock
        })
    );
}

#[test]
fn openpgp_first_packet_must_be_a_public_key() {
    let ed = key_body(PGP_ED25519);
    assert_eq!(
        fingerprint_of(&new_packet(2, b"signature")),
        Err(KeyError::NotPublicKeyPacket { tag: 2 })
    );
    assert_eq!(
        fingerprint_of(&new_packet(14, &ed)),
        Err(KeyError::NotPublicKeyPacket { tag: 14 })
    );
}

#[test]
fn openpgp_unsupported_versions() {
    let mut body = key_body(PGP_ED25519);
    for version in [2u8, 3, 5, 7] {
        body[0] = version;
        assert_eq!(
            fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &body)),
            Err(KeyError::UnsupportedPacketVersion { version })
        );
    }
}

#[test]
fn openpgp_unknown_algorithm() {
    let mut body = key_body(PGP_ED25519);
    body[5] = 99;
    assert_eq!(
        fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &body)),
        Err(KeyError::UnknownAlgorithm {
            algorithm: "(OpenPGP public-key algorithm 99)".into()
        })
    );
    for (id, name) in [
        (1u8, "RSA"),
        (17, "DSA"),
        (18, "ECDH"),
        (19, "ECDSA"),
        (22, "EdDSALegacy"),
        (25, "X25519"),
        (27, "Ed25519"),
        (28, "Ed448"),
    ] {
        body[5] = id;
        let info = fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &body)).expect("known id");
        assert_eq!(info.algorithm, name);
    }
}

#[test]
fn openpgp_malformed_packets() {
    let malformed = |data: &[u8]| match fingerprint_of(data) {
        Err(KeyError::MalformedPacket { reason }) => reason,
        other => panic!("expected MalformedPacket, got {other:?}"),
    };
    let ed = key_body(PGP_ED25519);
    let full = new_packet(TAG_PUBLIC_KEY, &ed);
    assert!(malformed(&full[..full.len() - 1]).contains("truncated"));
    assert!(malformed(&[0xC6]).contains("truncated"));
    assert!(malformed(&[0x99, 0x01]).contains("truncated"));
    assert!(malformed(&[0x46, 0x01, 0x04]).contains("packet header"));
    assert!(malformed(&new_packet(TAG_PUBLIC_KEY, &[4, 0, 0])).contains("too short"));
    assert!(malformed(&new_packet(TAG_PUBLIC_KEY, &[])).contains("too short"));
    assert!(malformed(&old_packet(0, 0, &ed)).contains("reserved tag"));
    // Garbage after a good key.
    let mut trailing = full.clone();
    trailing.push(0x01);
    assert!(malformed(&trailing).contains("packet header"));
    // v6: declared key material length does not match.
    let v6 = key_body(RFC9580_V6_CERT);
    let mut wrong = v6.clone();
    wrong[9] ^= 1;
    assert!(malformed(&new_packet(TAG_PUBLIC_KEY, &wrong)).contains("length"));
    assert!(malformed(&new_packet(TAG_PUBLIC_KEY, &v6[..8])).contains("too short"));
    // v4 body longer than the 2-byte length the fingerprint allows.
    let mut huge = ed.clone();
    huge.resize(70_000, 0);
    assert!(malformed(&new_packet(TAG_PUBLIC_KEY, &huge)).contains("too long"));
}

#[test]
fn openpgp_multiple_keys_are_refused() {
    let mut data = dearmor(PGP_ED25519).expect("fixture");
    data.extend(dearmor(PGP_RSA).expect("fixture"));
    assert_eq!(
        fingerprint_of(&data),
        Err(KeyError::MultipleKeys { count: 2 })
    );
    let two_blocks = format!("{PGP_ED25519}\n{PGP_RSA}");
    assert_eq!(
        parse_openpgp_public_key(&two_blocks),
        Err(KeyError::MultipleKeys { count: 2 })
    );
    let three = format!("{two_blocks}{}", armor(&data));
    assert_eq!(
        parse_openpgp_public_key(&three),
        // Blocks after the first are counted as one key each.
        Err(KeyError::MultipleKeys { count: 3 })
    );
}

#[test]
fn crc24_known_value() {
    // CRC-24/OPENPGP check value for "123456789".
    assert_eq!(crc24(b"123456789"), 0x21CF02);
    assert_eq!(crc24(b""), 0xB704CE);
}

// ---------------------------------------------------------------------------
// Messages
// ---------------------------------------------------------------------------

#[test]
fn error_messages_are_actionable_and_leak_nothing() {
    let ed_data = ssh_field(SSH_ED25519, 1);
    let private_ssh = openssh_private_key_text();
    let private_pgp = pgp_private_key_text();
    let token = ["gh", "p_", &"Q7r".repeat(12)].concat();
    let ed_body = key_body(PGP_ED25519);
    let mut unknown_alg = ed_body.clone();
    unknown_alg[5] = 99;
    let mut v3 = ed_body.clone();
    v3[0] = 3;
    let mut v5 = ed_body.clone();
    v5[0] = 5;
    let mut v9 = ed_body.clone();
    v9[0] = 9;
    let mut two = dearmor(PGP_ED25519).expect("fixture");
    two.extend(dearmor(PGP_RSA).expect("fixture"));
    let pgp_body_line = PGP_RSA.lines().nth(2).unwrap_or_default().to_owned();

    let cases: Vec<(String, Result<PublicKeyInfo, KeyError>)> = vec![
        (private_ssh.clone(), parse_ssh_public_key(&private_ssh)),
        (private_pgp.clone(), parse_openpgp_public_key(&private_pgp)),
        ("ssh-rsa".into(), parse_ssh_public_key("ssh-rsa")),
        (
            format!("ssh-ed25519-cert-v01@openssh.com {ed_data}"),
            parse_ssh_public_key(&format!("ssh-ed25519-cert-v01@openssh.com {ed_data}")),
        ),
        (
            token.clone(),
            parse_ssh_public_key(&format!("{token} {ed_data}")),
        ),
        (
            ed_data.into(),
            parse_ssh_public_key(&format!("ssh-rsa {ed_data}")),
        ),
        (
            "AAAAC3NzaC1lZDI1NTE5!!!".into(),
            parse_ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5!!!"),
        ),
        (
            "AAAA".into(),
            parse_ssh_public_key("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="),
        ),
        (SSH_ED25519.into(), parse_openpgp_public_key(SSH_ED25519)),
        (
            pgp_body_line.clone(),
            parse_openpgp_public_key(&PGP_RSA.replacen("BLOCK-----\n\n", "BLOCK-----\n", 1)),
        ),
        (
            pgp_body_line.clone(),
            parse_openpgp_public_key(&PGP_ED25519.replace("=dJHO\n", "=dJHP\n")),
        ),
        (
            pgp_body_line.clone(),
            fingerprint_of(&new_packet(14, &ed_body)),
        ),
        (
            pgp_body_line.clone(),
            fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &v3)),
        ),
        (
            pgp_body_line.clone(),
            fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &v5)),
        ),
        (
            pgp_body_line.clone(),
            fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &v9)),
        ),
        (
            pgp_body_line.clone(),
            fingerprint_of(&new_packet(TAG_PUBLIC_KEY, &unknown_alg)),
        ),
        (pgp_body_line.clone(), fingerprint_of(&[0xC6, 0x40, 0x04])),
        (pgp_body_line, fingerprint_of(&two)),
    ];
    let mut seen = std::collections::HashSet::new();
    for (input, result) in cases {
        let err = result.expect_err(&input);
        let message = err.to_string();
        println!("KeyError::{err:?}\n  => {message}");
        seen.insert(std::mem::discriminant(&err));
        assert!(message.len() > 40, "{message}");
        for secret_part in input.lines().filter(|l| l.len() >= 8) {
            assert!(
                !message.contains(secret_part.trim()),
                "{message} leaks {secret_part}"
            );
        }
        assert!(!message.contains(ed_data));
        assert!(!message.contains(&token));
    }
    assert_eq!(seen.len(), 14, "every KeyError variant is shown");
}
