use super::*;

// Secret-shaped test values are assembled at run time so that no file in the
// repository contains a realistic-looking credential.
fn pem_begin(label: &str) -> String {
    ["-----BEGIN ", label, "-----"].concat()
}

fn github_classic(prefix: &str) -> String {
    [prefix, &"A1b2".repeat(9)].concat()
}

fn aws_id() -> String {
    ["AK", "IA", "ABCDEFGH23456789"].concat()
}

fn kinds(text: &str) -> Vec<SecretKind> {
    scan(text).into_iter().map(|f| f.kind).collect()
}

#[test]
fn pem_private_key_blocks_of_every_flavour() {
    for label in [
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "DSA PRIVATE KEY",
        "ENCRYPTED PRIVATE KEY",
        "PRIVATE KEY",
        "SSH2 ENCRYPTED PRIVATE KEY",
    ] {
        let text = format!(
            "{}\nMIIBOgIBAAJBAK\n-----END {label}-----\n",
            pem_begin(label)
        );
        assert_eq!(
            scan(&text),
            vec![SecretFinding {
                line: 1,
                column: 1,
                kind: SecretKind::PrivateKeyBlock
            }],
            "{label}"
        );
    }
    let ssh2 = ["---- BEGIN SSH2 ", "ENCRYPTED PRIVATE KEY ----\nabc"].concat();
    assert_eq!(kinds(&ssh2), vec![SecretKind::PrivateKeyBlock]);
}

#[test]
fn openssh_pgp_and_putty_private_keys() {
    let text = format!(
        "a: 1\n  key: |\n    {}\n    b3BlbnNzaC1rZXktdjEAAAAA\n",
        pem_begin("OPENSSH PRIVATE KEY")
    );
    assert_eq!(
        scan(&text),
        vec![SecretFinding {
            line: 3,
            column: 5,
            kind: SecretKind::OpenSshPrivateKey
        }]
    );
    assert_eq!(
        kinds(&pem_begin("PGP PRIVATE KEY BLOCK")),
        vec![SecretKind::PgpPrivateKeyBlock]
    );
    assert_eq!(
        kinds(&pem_begin("PGP SECRET KEY BLOCK")),
        vec![SecretKind::PgpPrivateKeyBlock]
    );
    let ppk = ["PuTTY-User-", "Key-File-3: ssh-ed25519\nEncryption: none\n"].concat();
    assert_eq!(kinds(&ppk), vec![SecretKind::PuttyPrivateKey]);
}

#[test]
fn private_key_embedded_in_a_json_string() {
    // Google service-account files carry the key with escaped newlines.
    let text = format!(
        "{{\"type\": \"service_account\", \"private_key\": \"{}\\nMIIEvQ\\n\"}}",
        pem_begin("PRIVATE KEY")
    );
    assert_eq!(
        scan(&text),
        vec![SecretFinding {
            line: 1,
            column: 45,
            kind: SecretKind::PrivateKeyBlock
        }]
    );
}

#[test]
fn public_material_is_not_a_secret() {
    let text = [
        pem_begin("CERTIFICATE"),
        "MIIBszCCAVmgAwIBAgIU".into(),
        pem_begin("PUBLIC KEY"),
        pem_begin("PGP PUBLIC KEY BLOCK"),
        pem_begin("RSA PUBLIC KEY"),
        pem_begin("PGP SIGNATURE"),
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4e0Gd7Wc2P5aNsCyXrNkR0d7mMnVUnfIJRFyO8XbcJ a@b"
            .into(),
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo".into(),
        "sk_test_".to_string() + &"a1B2".repeat(6),
        "-----BEGIN".into(),
        "-----BEGIN PRIVATE KEY".into(),
    ]
    .join("\n");
    assert_eq!(scan(&text), vec![]);
    for fixture in [
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/chain.pem"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/pgp_ed25519.asc"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/pgp_rsa3072.asc"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/ssh_ed25519.pub"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/ssh_rsa.pub"
        )),
        include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/material/ssh_ecdsa.pub"
        )),
    ] {
        assert_eq!(scan(fixture), vec![]);
    }
}

#[test]
fn github_tokens() {
    for prefix in ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"] {
        let token = github_classic(prefix);
        assert_eq!(
            kinds(&format!("token: {token}\n")),
            vec![SecretKind::GithubToken]
        );
        assert_eq!(
            kinds(&format!("\"{token}\"")),
            vec![SecretKind::GithubToken]
        );
        // Inside a longer word, one character short, or one too long: no.
        assert_eq!(kinds(&format!("x{token}")), vec![]);
        assert_eq!(kinds(&format!("_{token}")), vec![]);
        assert_eq!(kinds(&token[..token.len() - 1]), vec![]);
        assert_eq!(kinds(&format!("{token}Z")), vec![]);
        assert_eq!(kinds(&format!("{token}_")), vec![]);
    }
    assert_eq!(kinds(&github_classic("ghx_")), vec![]);
    let pat = [
        "github_",
        "pat_",
        "11ABCDEFG0123456789abc_",
        &"xY9".repeat(20),
    ]
    .concat();
    assert_eq!(kinds(&format!("GH={pat}")), vec![SecretKind::GithubToken]);
    let short = ["github_", "pat_", &"a".repeat(21)].concat();
    assert_eq!(kinds(&short), vec![]);
}

#[test]
fn gitlab_slack_stripe_npm_digitalocean_google() {
    let gitlab = ["glp", "at-", "abcDEF123_-ghiJKL456"].concat();
    assert_eq!(kinds(&gitlab), vec![SecretKind::GitlabToken]);
    assert_eq!(
        kinds(&format!("See {gitlab}.")),
        vec![SecretKind::GitlabToken]
    );
    assert_eq!(kinds(&gitlab[..gitlab.len() - 1]), vec![]);
    assert_eq!(kinds(&format!("my{gitlab}")), vec![]);

    for c in ["a", "b", "p", "o", "s", "r"] {
        let slack = ["xo", "x", c, "-", "1234567890-0987654321-AbCdEf"].concat();
        assert_eq!(kinds(&slack), vec![SecretKind::SlackToken], "{slack}");
    }
    assert_eq!(kinds(&["xo", "xz-1234567890-abc"].concat()), vec![]);
    assert_eq!(kinds(&["xo", "xb-12345"].concat()), vec![]);
    let hook = [
        "https://hooks.",
        "slack.com/services/",
        "T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
    ]
    .concat();
    assert_eq!(kinds(&hook), vec![SecretKind::SlackWebhook]);

    for prefix in ["sk_", "rk_"] {
        let stripe = [prefix, "live_", &"4eC39HqLyjWDarjt".repeat(2)].concat();
        assert_eq!(kinds(&stripe), vec![SecretKind::StripeKey]);
    }
    assert_eq!(kinds(&["sk_", "live_", "short"].concat()), vec![]);

    let npm = ["np", "m_", &"aB3".repeat(12)].concat();
    assert_eq!(kinds(&npm), vec![SecretKind::NpmToken]);
    assert_eq!(kinds(&npm[..npm.len() - 1]), vec![]);

    let lbops = crate::spec::material::api_token::ApiToken::generate(|buffer| {
        for (i, b) in buffer.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(151).wrapping_add(3);
        }
    });
    let lbops = lbops.expose();
    assert_eq!(kinds(lbops), vec![SecretKind::LbopsToken]);
    assert_eq!(
        kinds(&format!("token: \"{lbops}\"\n")),
        vec![SecretKind::LbopsToken]
    );
    assert_eq!(kinds(&format!("{lbops}x")), vec![], "continues into a word");
    let mut typo = lbops.to_owned();
    typo.replace_range(20..21, if &lbops[20..21] == "A" { "B" } else { "A" });
    assert_eq!(kinds(&typo), vec![], "a checksum that fails is no token");

    let digital_ocean = ["do", "p_v1_", &"0123456789abcdef".repeat(4)].concat();
    assert_eq!(kinds(&digital_ocean), vec![SecretKind::DigitalOceanToken]);
    assert_eq!(kinds(&digital_ocean.to_uppercase()), vec![]);

    let google = ["AI", "za", "SyD-abcdefghijklmnopqrstuvwxyz_0123"].concat();
    assert_eq!(kinds(&google), vec![SecretKind::GoogleApiKey]);
    assert_eq!(kinds(&format!("{google}x")), vec![]);
}

#[test]
fn aws_access_key_ids() {
    let id = aws_id();
    assert_eq!(
        kinds(&format!("aws_access_key_id = {id}")),
        vec![SecretKind::AwsAccessKeyId]
    );
    assert_eq!(
        kinds(&id.replace("AKIA", "ASIA")),
        vec![SecretKind::AwsAccessKeyId]
    );
    assert_eq!(kinds(&id[..id.len() - 1]), vec![]);
    assert_eq!(kinds(&format!("{id}0")), vec![]);
    assert_eq!(kinds(&format!("X{id}")), vec![]);
    assert_eq!(kinds(&id.to_lowercase()), vec![]);
}

#[test]
fn json_web_tokens() {
    let jwt = [
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
        ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ",
        ".SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
    ]
    .concat();
    assert_eq!(
        kinds(&format!("Authorization: Bearer {jwt}")),
        vec![SecretKind::JsonWebToken]
    );
    assert_eq!(
        kinds(&format!("token {jwt}.")),
        vec![SecretKind::JsonWebToken]
    );
    // Unsigned, or not three segments: not a bearer token.
    let unsigned = jwt
        .rsplit_once('.')
        .map(|(head, _)| format!("{head}."))
        .unwrap_or_default();
    assert_eq!(kinds(&unsigned), vec![]);
    assert_eq!(kinds(&format!("{jwt}.abcdefghijklmnopq")), vec![]);
    assert_eq!(kinds("eyJhbGciOiJIUzI1NiJ9"), vec![]);
}

#[test]
fn positions_are_one_based_lines_and_character_columns() {
    let text = format!(
        "first line\n« {} » and {}\n",
        github_classic("ghp_"),
        aws_id()
    );
    assert_eq!(
        scan(&text),
        vec![
            SecretFinding {
                line: 2,
                column: 3,
                kind: SecretKind::GithubToken
            },
            SecretFinding {
                line: 2,
                column: 50,
                kind: SecretKind::AwsAccessKeyId
            },
        ]
    );
    let crlf = format!("a\r\nb\r\n  {}", aws_id());
    assert_eq!(
        scan(&crlf),
        vec![SecretFinding {
            line: 3,
            column: 3,
            kind: SecretKind::AwsAccessKeyId
        }]
    );
    assert_eq!(scan(""), vec![]);
}

#[test]
fn scan_is_linear_on_adversarial_input() {
    // Each of these would take minutes with a quadratic matcher.
    let n = 200_000;
    for unit in [
        "glpat-",
        "eyJ.",
        "xoxb-",
        "-----BEGIN ",
        "hooks.slack.com/services/",
        "github_pat_",
    ] {
        let text = unit.repeat(n);
        let _ = scan(&text);
    }
    let long_run = "a".repeat(2_000_000);
    assert_eq!(
        scan(&format!("glpat-{long_run}")),
        vec![SecretFinding {
            line: 1,
            column: 1,
            kind: SecretKind::GitlabToken
        }]
    );
}

#[test]
fn looks_like_secret_flags_secrets_and_random_tokens() {
    assert!(looks_like_secret(&github_classic("ghp_")));
    assert!(looks_like_secret(&format!("  {}  ", aws_id())));
    assert!(looks_like_secret(&pem_begin("EC PRIVATE KEY")));
    assert!(looks_like_secret("the PRIVATE KEY of the server"));
    // Random-looking tokens without a known prefix.
    assert!(looks_like_secret(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    ));
    assert!(looks_like_secret("123e4567-e89b-12d3-a456-426614174000"));
    assert!(looks_like_secret("Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MA=="));
    assert!(looks_like_secret("x7Kp2mQ9vR4tL8nW3zB6"));
    // Ordinary configuration values.
    for plain in [
        "",
        "hello world",
        "lb-prod-eu-west-1-frontend-pool",
        "ip-10-0-1-23.eu-west-1.compute.internal",
        "/etc/lbops/keys/deploy_key_2024.pub",
        "k8s-prod-cluster01",
        "LoadBalancerPoolName",
        "v1beta1",
        "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO4e0Gd7Wc2P5aNsCyXrNkR0d7mMnVUnfIJRFyO8XbcJ",
    ] {
        assert!(!looks_like_secret(plain), "{plain}");
    }
}

#[test]
fn every_kind_is_described_with_a_remedy() {
    for kind in SecretKind::ALL {
        println!("{kind}: {}", kind.hint());
        assert!(!kind.describe().is_empty());
        assert_eq!(kind.to_string(), kind.describe());
        assert!(kind.hint().contains("git history"), "{kind:?}");
        assert!(kind.hint().starts_with("Remove it"), "{kind:?}");
    }
    assert!(SecretKind::OpenSshPrivateKey.is_private_key());
    assert!(SecretKind::PgpPrivateKeyBlock.is_private_key());
    assert!(!SecretKind::GithubToken.is_private_key());
}
