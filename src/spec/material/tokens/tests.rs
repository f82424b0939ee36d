use super::*;

/// SHA-256 of "test".
const TEST_DIGEST: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

// Made with the reference `argon2` CLI:
// printf %s 'not-a-real-token' | argon2 saltsaltsalt16b -id -t 3 -m 16 -p 4 -e
const ARGON2ID: &str =
    "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MTZi$c9FqoZwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8";
const ARGON2I: &str =
    "$argon2i$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MTZi$sLkMJdNKzDbm47mmpTJRaJPwIRsnSi2BWUYCUdffRQM";
const ARGON2D: &str =
    "$argon2d$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MTZi$meto3mA86vPEDpMZcSSDdRs1dzJWxBFVrQtTQHnz5Z8";
// printf %s 'not-a-real-token' | argon2 somesalt -id -v 10 -t 2 -m 12 -p 1 -l 16 -e
const ARGON2ID_V16: &str = "$argon2id$v=16$m=4096,t=2,p=1$c29tZXNhbHQ$D793F7axExFuMugoQxBcAA";

fn digest_bytes() -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = u8::from_str_radix(&TEST_DIGEST[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

fn phc_reason(s: &str) -> &'static str {
    match parse_token_hash(s) {
        Err(TokenHashError::BadPhc { reason }) => reason,
        other => panic!("expected BadPhc for {s}, got {other:?}"),
    }
}

#[test]
fn sha256_hex_is_accepted_in_either_case() {
    let expected = Ok(TokenHash::Sha256(digest_bytes()));
    assert_eq!(parse_token_hash(&format!("sha256:{TEST_DIGEST}")), expected);
    assert_eq!(
        parse_token_hash(&format!("sha256:{}", TEST_DIGEST.to_uppercase())),
        expected
    );
    assert_eq!(parse_token_hash(&format!("SHA256:{TEST_DIGEST}")), expected);
    assert_eq!(
        parse_token_hash(&format!("  sha256:{TEST_DIGEST}\n")),
        expected
    );
    let mixed: String = TEST_DIGEST
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i % 2 == 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        })
        .collect();
    assert_eq!(parse_token_hash(&format!("sha256:{mixed}")), expected);
}

#[test]
fn bad_sha256_hex() {
    for bad in [
        "sha256:".to_owned(),
        format!("sha256:{}", &TEST_DIGEST[1..]),
        format!("sha256:{TEST_DIGEST}0"),
        format!("sha256:{}g", &TEST_DIGEST[1..]),
        format!("sha256: {}", &TEST_DIGEST[1..]),
        format!("sha256:{}é", &TEST_DIGEST[2..]),
        "sha256:n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=".to_owned(),
    ] {
        assert_eq!(
            parse_token_hash(&bad),
            Err(TokenHashError::BadSha256Hex),
            "{bad}"
        );
    }
}

#[test]
fn argon2_phc_strings_from_the_reference_tool() {
    for phc in [ARGON2ID, ARGON2I, ARGON2D, ARGON2ID_V16] {
        assert_eq!(
            parse_token_hash(phc),
            Ok(TokenHash::Argon2 {
                phc: phc.to_owned()
            }),
            "{phc}"
        );
    }
    // Surrounding whitespace is dropped; the version segment is optional.
    assert_eq!(
        parse_token_hash(&format!(" {ARGON2ID}\n")),
        Ok(TokenHash::Argon2 {
            phc: ARGON2ID.to_owned()
        })
    );
    let no_version = ARGON2ID.replace("$v=19", "");
    assert_eq!(
        parse_token_hash(&no_version),
        Ok(TokenHash::Argon2 { phc: no_version })
    );
}

#[test]
fn malformed_phc_strings() {
    let cases = [
        (
            "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0MTZi",
            "segments are missing",
        ),
        ("$argon2id", "segments are missing"),
        (&*format!("{ARGON2ID}$extra"), "too many"),
        (&*ARGON2ID.replace("v=19", "x=19"), "`v=19`"),
        (&*ARGON2ID.replace("v=19", "v=nineteen"), "must be a number"),
        (&*ARGON2ID.replace("v=19", "v=18"), "must be 19"),
        (
            &*ARGON2ID.replace("m=65536,t=3,p=4", "m:65536,t:3,p:4"),
            "parameters must look like",
        ),
        (
            &*ARGON2ID.replace("m=65536,t=3,p=4", "t=3,m=65536,p=4"),
            "in that order",
        ),
        (
            &*ARGON2ID.replace("m=65536,t=3,p=4", "m=65536,t=3"),
            "in that order",
        ),
        (&*ARGON2ID.replace("p=4", "p=4,keyid=AAAA"), "in that order"),
        (&*ARGON2ID.replace("t=3", "t=three"), "decimal numbers"),
        (&*ARGON2ID.replace("t=3", "t=03"), "decimal numbers"),
        (&*ARGON2ID.replace("t=3", "t=-3"), "decimal numbers"),
        (&*ARGON2ID.replace("t=3", "t="), "decimal numbers"),
        (
            &*ARGON2ID.replace("m=65536", "m=99999999999999999999999"),
            "decimal numbers",
        ),
        (&*ARGON2ID.replace("t=3", "t=0"), "`t` must be at least 1"),
        (&*ARGON2ID.replace("p=4", "p=0"), "`p` must be between"),
        (
            &*ARGON2ID.replace("p=4", "p=16777216"),
            "`p` must be between",
        ),
        (
            &*ARGON2ID.replace("m=65536", "m=31"),
            "`m` must be at least",
        ),
        (
            &*ARGON2ID.replace("m=65536", "m=4294967296"),
            "`m` must be at least",
        ),
        (
            &*ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", ""),
            "the salt is empty",
        ),
        (
            &*ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", "c2FsdA"),
            "the salt must be 8 to 48 bytes",
        ),
        (
            &*ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", "c2Fsd!NhbHRzYWx0MTZi"),
            "the salt is not valid",
        ),
        (
            &*ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", "c2FsdHNhbHRzYWx0MTZ"),
            "the salt is not valid",
        ),
        (
            &*ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", "c29tZXNhbHQ="),
            "padding",
        ),
        (
            &*ARGON2ID.replace("c9FqoZwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8", ""),
            "the hash is empty",
        ),
        (
            &*ARGON2ID.replace("c9FqoZwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8", "c9FqoZwc2w"),
            "the hash must be 10 to 64 bytes",
        ),
        (
            &*ARGON2ID.replace(
                "c9FqoZwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8",
                "c9Fq_Zwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8",
            ),
            "the hash is not valid",
        ),
    ];
    for (phc, reason) in cases {
        let got = phc_reason(phc);
        assert!(got.contains(reason), "{phc}: {got}");
    }
    // A very long hash.
    let long_hash = ARGON2ID.replace(
        "c9FqoZwc2xEKwAHiI6GpELMXVjYrVsRRafJ0hWCj+i8",
        &"A".repeat(88),
    );
    assert_eq!(phc_reason(&long_hash), "the hash must be 10 to 64 bytes");
}

#[test]
fn other_hash_algorithms_are_refused() {
    let cases = [
        (
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
            "bcrypt",
        ),
        ("$6$rounds=5000$saltsalt$abcdefghijklmnop", "SHA-512-crypt"),
        ("$5$saltsalt$abcdefghijklmnop", "SHA-256-crypt"),
        ("$1$saltsalt$abcdefghijklmnop", "MD5-crypt"),
        ("$scrypt$ln=16,r=8,p=1$c2FsdA$aGFzaA", "scrypt"),
        ("$7$CU..../....abcdefgh", "scrypt"),
        ("$y$j9T$salt$hash", "yescrypt"),
        ("$pbkdf2-sha256$29000$c2FsdA$aGFzaA", "PBKDF2"),
        (
            "$argon2$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
            "non-standard Argon2",
        ),
        ("$balloon$x$y$z", "balloon"),
        ("$shacrypt-x$a$b", "unrecognised"),
        ("md5:5d41402abc4b2a76b9719d911017c592", "MD5"),
        ("sha1:a94a8fe5ccb19ba61c4c0873d391e987982fbbd3", "SHA-1"),
        ("SHA512:abcdef", "SHA-512"),
        ("sha384:abcdef", "SHA-384"),
        ("sha224:abcdef", "SHA-224"),
        ("sha3-256:abcdef", "SHA-3"),
        ("blake3:abcdef", "BLAKE"),
        ("bcrypt:abcdef", "bcrypt"),
        ("scrypt:abcdef", "scrypt"),
        ("pbkdf2:abcdef", "PBKDF2"),
    ];
    for (input, algorithm) in cases {
        assert_eq!(
            parse_token_hash(input),
            Err(TokenHashError::UnsupportedAlgorithm { algorithm }),
            "{input}"
        );
    }
}

#[test]
fn plaintext_tokens_are_refused() {
    let github = ["gh", "p_", &"Q7r".repeat(12)].concat();
    for input in [
        github.as_str(),
        "hunter2",
        "correct horse battery staple",
        TEST_DIGEST,
        "$ecretPassw0rd",
        "$ecret$Passw0rd",
        "sha256",
        "md5:",
        "https://user:pass@example.test",
        "dGhpcyBpcyBhIHRva2Vu",
    ] {
        assert_eq!(
            parse_token_hash(input),
            Err(TokenHashError::Plaintext),
            "{input}"
        );
    }
}

#[test]
fn empty_values() {
    assert_eq!(parse_token_hash(""), Err(TokenHashError::Empty));
    assert_eq!(parse_token_hash(" \t\n"), Err(TokenHashError::Empty));
}

#[test]
fn error_messages_are_actionable_and_leak_nothing() {
    let github = ["gh", "p_", &"Q7r".repeat(12)].concat();
    let bad_salt = ARGON2ID.replace("c2FsdHNhbHRzYWx0MTZi", "c2FsdA");
    let bad_hex = format!("sha256:{}", &TEST_DIGEST[1..]);
    let cases = [
        "",
        github.as_str(),
        "hunter2-is-my-password",
        bad_hex.as_str(),
        bad_salt.as_str(),
        "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",
        "md5:5d41402abc4b2a76b9719d911017c592",
    ];
    let mut seen = std::collections::HashSet::new();
    for input in cases {
        let err = parse_token_hash(input).expect_err(input);
        let message = err.to_string();
        println!("TokenHashError::{err:?}\n  => {message}");
        seen.insert(std::mem::discriminant(&err));
        assert!(
            message.contains("sha256:") || message.contains("argon2"),
            "{message}"
        );
        if !input.is_empty() {
            assert!(!message.contains(input), "{message}");
        }
        for part in input
            .split(['$', ':', ','])
            .filter(|p| p.len() >= 6 && !["argon2id", "sha256"].contains(p))
        {
            assert!(!message.contains(part), "{message} leaks {part}");
        }
    }
    assert_eq!(seen.len(), 5, "every TokenHashError variant is shown");
}
