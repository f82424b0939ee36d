use super::*;

/// Root CA -> intermediate -> leaf for `*.example.test`, made with openssl,
/// stored leaf first.
const CHAIN: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/material/chain.pem"
));

// Validity as printed by `openssl x509 -noout -startdate -enddate`.
const LEAF_NOT_BEFORE: i64 = 1_795_619_633; // Nov 25 15:13:53 2026 GMT
const LEAF_NOT_AFTER: i64 = 1_803_395_633; // Feb 23 15:13:53 2027 GMT
const INTERMEDIATE_NOT_BEFORE: i64 = 1_795_619_632; // Nov 25 15:13:52 2026 GMT
const INTERMEDIATE_NOT_AFTER: i64 = 1_953_299_632; // Nov 24 15:13:52 2031 GMT
const ROOT_NOT_AFTER: i64 = 2_110_979_632; // Nov 22 15:13:52 2036 GMT
const DAY: i64 = 86_400;

/// The PEM blocks of the fixture, each with its BEGIN and END lines.
fn blocks() -> Vec<String> {
    CHAIN
        .split_inclusive("-----END CERTIFICATE-----\n")
        .map(str::to_owned)
        .collect()
}

fn private_key_block(body: &str) -> String {
    [
        "-----BEGIN ",
        "PRIVATE KEY-----\n",
        body,
        "\n-----END ",
        "PRIVATE KEY-----\n",
    ]
    .concat()
}

#[test]
fn parses_a_real_chain_leaf_first() {
    let chain = parse_chain(CHAIN).expect("fixture chain parses");
    assert_eq!(chain.certificates.len(), 3);
    let leaf = chain.leaf();
    assert_eq!(leaf.subject, "CN=*.example.test");
    assert_eq!(leaf.issuer, "O=lbops test, CN=lbops Test Intermediate CA");
    assert_eq!(leaf.dns_names, vec!["*.example.test", "example.test"]);
    assert_eq!(
        (leaf.not_before, leaf.not_after),
        (LEAF_NOT_BEFORE, LEAF_NOT_AFTER)
    );

    let intermediate = &chain.certificates[1];
    assert_eq!(
        intermediate.subject,
        "O=lbops test, CN=lbops Test Intermediate CA"
    );
    assert_eq!(intermediate.issuer, "O=lbops test, CN=lbops Test Root CA");
    assert!(intermediate.dns_names.is_empty());
    assert_eq!(
        (intermediate.not_before, intermediate.not_after),
        (INTERMEDIATE_NOT_BEFORE, INTERMEDIATE_NOT_AFTER)
    );

    let root = &chain.certificates[2];
    assert_eq!(root.subject, root.issuer);
    assert_eq!(root.not_after, ROOT_NOT_AFTER);

    assert_eq!(chain.earliest_expiry(), LEAF_NOT_AFTER);
}

#[test]
fn single_certificate_crlf_and_surrounding_text() {
    let leaf = &blocks()[0];
    let chain = parse_chain(&leaf.replace('\n', "\r\n")).expect("CRLF parses");
    assert_eq!(chain.certificates.len(), 1);

    // `openssl s_client -showcerts` style annotations between blocks.
    let annotated = format!(
        "Certificate chain\n 0 s:CN = *.example.test\n{}   i:O = lbops test\n\n{}",
        blocks()[0],
        blocks()[1]
    );
    let chain = parse_chain(&annotated).expect("annotated chain parses");
    assert_eq!(chain.certificates.len(), 2);

    let legacy_label = leaf.replace("CERTIFICATE", "X509 CERTIFICATE");
    assert!(parse_chain(&legacy_label).is_ok());
}

#[test]
fn expiry_classification() {
    let chain = parse_chain(CHAIN).expect("fixture chain parses");
    assert_eq!(expiry(&chain, LEAF_NOT_BEFORE + DAY, 30), Expiry::Valid);
    assert_eq!(
        expiry(&chain, LEAF_NOT_AFTER - 10 * DAY - 3600, 30),
        Expiry::ExpiresSoon { days_left: 10 }
    );
    // not_after is inclusive.
    assert_eq!(
        expiry(&chain, LEAF_NOT_AFTER, 30),
        Expiry::ExpiresSoon { days_left: 0 }
    );
    assert_eq!(
        expiry(&chain, LEAF_NOT_AFTER + 1, 30),
        Expiry::Expired { days_ago: 0 }
    );
    assert_eq!(
        expiry(&chain, LEAF_NOT_AFTER + 3 * DAY + 5, 30),
        Expiry::Expired { days_ago: 3 }
    );
    // The intermediate expires later than the leaf; the root later still.
    assert_eq!(
        expiry(&chain, ROOT_NOT_AFTER - DAY, 30),
        Expiry::Expired {
            days_ago: (ROOT_NOT_AFTER - DAY - LEAF_NOT_AFTER) / DAY
        }
    );
    assert_eq!(expiry(&chain, LEAF_NOT_BEFORE - 1, 30), Expiry::NotYetValid);
    // The leaf starts one second after the CAs: the latest start counts.
    assert_eq!(
        expiry(&chain, INTERMEDIATE_NOT_BEFORE, 30),
        Expiry::NotYetValid
    );
    assert_eq!(expiry(&chain, LEAF_NOT_AFTER - DAY, 0), Expiry::Valid);
    assert_eq!(expiry(&chain, LEAF_NOT_AFTER - DAY, -5), Expiry::Valid);
}

#[test]
fn expiry_never_overflows() {
    let chain = parse_chain(CHAIN).expect("fixture chain parses");
    assert!(matches!(
        expiry(&chain, i64::MAX, i64::MAX),
        Expiry::Expired { .. }
    ));
    assert_eq!(expiry(&chain, i64::MIN, i64::MAX), Expiry::NotYetValid);
    assert!(matches!(
        expiry(&chain, LEAF_NOT_BEFORE, i64::MAX),
        Expiry::ExpiresSoon { .. }
    ));
    assert_eq!(expiry(&chain, LEAF_NOT_BEFORE, i64::MIN), Expiry::Valid);
}

#[test]
fn hand_built_empty_chain_reads_as_expired() {
    let empty = Chain {
        certificates: Vec::new(),
    };
    assert_eq!(empty.leaf().subject, "");
    assert_eq!(empty.earliest_expiry(), 0);
    assert!(matches!(
        expiry(&empty, 1_000 * DAY, 30),
        Expiry::Expired { days_ago: 1_000 }
    ));
}

#[test]
fn empty_and_garbage() {
    assert_eq!(parse_chain(""), Err(ChainError::Empty));
    assert_eq!(parse_chain(" \n\t\n"), Err(ChainError::Empty));
    assert_eq!(
        parse_chain("\n\nhello world\nnot a certificate\n"),
        Err(ChainError::NotPem { block: 1, line: 3 })
    );
    assert_eq!(
        parse_chain("MIIDazCCAlOgAwIBAgIUJ"),
        Err(ChainError::NotPem { block: 1, line: 1 })
    );
    // A malformed BEGIN line after a good block.
    let text = format!("{}\n-----BEGIN CERTIFICATE\nMIIB\n", blocks()[0]);
    let begin_line = blocks()[0].lines().count() + 2;
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::NotPem {
            block: 2,
            line: begin_line
        })
    );
}

#[test]
fn truncated_blocks() {
    let leaf = &blocks()[0];
    let lines: Vec<&str> = leaf.lines().collect();
    // Cut the last body line short so the base64 length is not a multiple of 4.
    let body_last = lines.len() - 2;
    let mut cut: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
    cut[body_last] = cut[body_last][..cut[body_last].len() - 3].to_owned();
    let text = format!("{}\n{}", cut.join("\n"), blocks()[1]);
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::BadBase64 { block: 1, line: 1 })
    );

    // Drop whole body lines: valid base64, but the DER is cut off.
    let mut short: Vec<&str> = lines[..4].to_vec();
    short.push(lines[lines.len() - 1]);
    let text = format!("{}{}\n", blocks()[1], short.join("\n"));
    let second = blocks()[1].lines().count() + 1;
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::BadDer {
            block: 2,
            line: second,
            reason: "the data ends too early, the certificate is cut off".into()
        })
    );

    // The END line is missing entirely.
    let text = lines[..lines.len() - 1].join("\n");
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::Unterminated { block: 1, line: 1 })
    );
    // A second BEGIN arrives before the first block ended.
    let text = format!("{}\n{}", lines[..lines.len() - 1].join("\n"), blocks()[1]);
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::Unterminated { block: 1, line: 1 })
    );
}

#[test]
fn mismatched_end_label() {
    let text = blocks()[0].replace(
        "-----END CERTIFICATE-----",
        "-----END CERTIFICATE REQUEST-----",
    );
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::MismatchedEnd { block: 1, line: 1 })
    );
}

#[test]
fn empty_block_and_trailing_der_bytes() {
    let text = "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        parse_chain(text),
        Err(ChainError::BadDer {
            block: 1,
            line: 1,
            ..
        })
    ));

    // Re-encode the leaf with two extra bytes after the DER.
    let leaf = &blocks()[0];
    let body: String = leaf.lines().filter(|l| !l.starts_with("-----")).collect();
    let mut der = STANDARD.decode(body).expect("fixture is base64");
    der.extend_from_slice(&[0, 0]);
    let text = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(der)
    );
    assert_eq!(
        parse_chain(&text),
        Err(ChainError::BadDer {
            block: 1,
            line: 1,
            reason: "unexpected bytes after the certificate".into()
        })
    );
}

#[test]
fn der_that_is_not_a_certificate() {
    let wrap = |der: &[u8]| {
        format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        )
    };
    let reason = |der: &[u8]| match parse_chain(&wrap(der)) {
        Err(ChainError::BadDer { reason, .. }) => reason,
        other => panic!("expected BadDer, got {other:?}"),
    };
    assert_eq!(
        reason(b"hello"),
        "the data does not start with a DER SEQUENCE"
    );
    assert_eq!(
        reason(&[0x30]),
        "the data does not start with a DER SEQUENCE"
    );
    assert_eq!(
        reason(&[0x30, 0x80, 0, 0]),
        "the data does not start with a DER SEQUENCE"
    );
    assert_eq!(
        reason(&[0x30, 0x03, 0x02, 0x01, 0x00]),
        "its DER structure is invalid"
    );
    // Long-form length that claims more than is there.
    assert_eq!(
        reason(&[0x30, 0x82, 0x05, 0x00, 0x02]),
        "the data ends too early, the certificate is cut off"
    );
}

#[test]
fn private_key_where_a_certificate_belongs() {
    let key_body = "MC4CAQAwBQYDK2VwBCIEIDoNotUseThisTestKeyMaterialXYZ12";
    let text = format!("{}{}", blocks()[0], private_key_block(key_body));
    let begin = blocks()[0].lines().count() + 1;
    let err = parse_chain(&text).expect_err("a key is not a certificate");
    assert_eq!(
        err,
        ChainError::NotACertificate {
            block: 2,
            line: begin,
            label: "PRIVATE KEY".into()
        }
    );
    let message = err.to_string();
    assert!(message.contains("private key"), "{message}");
    assert!(
        message.contains("rotate") || message.contains("revoke"),
        "{message}"
    );
    assert!(!message.contains(key_body), "{message}");
    assert!(!message.contains("-----BEGIN"), "{message}");
}

#[test]
fn other_labels_are_not_certificates() {
    let text = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA\n-----END PUBLIC KEY-----\n";
    assert_eq!(
        parse_chain(text),
        Err(ChainError::NotACertificate {
            block: 1,
            line: 1,
            label: "PUBLIC KEY".into()
        })
    );
    let odd = "-----BEGIN something odd-----\nAAAA\n-----END something odd-----\n";
    assert_eq!(
        parse_chain(odd),
        Err(ChainError::NotACertificate {
            block: 1,
            line: 1,
            label: "(unrecognised label)".into()
        })
    );
}

#[test]
fn error_messages_are_actionable_and_leak_nothing() {
    let secret = "MC4CAQAwBQYDK2VwBCIEIDoNotUseThisTestKeyMaterialXYZ12";
    let cases = [
        ("", parse_chain("")),
        ("garbage", parse_chain("garbage")),
        (
            "truncated",
            parse_chain("-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n"),
        ),
        (
            "mismatched",
            parse_chain("-----BEGIN CERTIFICATE-----\nMIIB\n-----END X-----\n"),
        ),
        ("key", parse_chain(&private_key_block(secret))),
        (
            "public key",
            parse_chain("-----BEGIN PUBLIC KEY-----\nMCow\n-----END PUBLIC KEY-----\n"),
        ),
        (
            "bad base64",
            parse_chain(
                "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgI\n-----END CERTIFICATE-----\n",
            ),
        ),
        (
            "bad der",
            parse_chain(
                "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIU\n-----END CERTIFICATE-----\n",
            ),
        ),
    ];
    let mut seen = std::collections::HashSet::new();
    for (input, result) in cases {
        let err = result.expect_err(input);
        let message = err.to_string();
        println!("ChainError::{err:?}\n  => {message}");
        seen.insert(std::mem::discriminant(&err));
        assert!(!message.contains(secret));
        assert!(!message.contains("MIIBszCCAVmgAwIBAgI"), "{message}");
        assert!(message.len() > 40, "{message}");
    }
    assert_eq!(seen.len(), 7, "every ChainError variant is shown");
}
