//! Identification of real commits signed by ssh-keygen and gpg (see
//! `testdata/make.sh`), under small inline policies. Each rule has an allow
//! test and its deny twin.

use super::*;
use crate::spec::material::{parse_openpgp_public_key, parse_ssh_public_key};
use crate::spec::{self, Catalog, SourceFile};

/// 2026-01-01T00:00:00Z: "now" for every test.
const NOW: i64 = 1_767_225_600;

const ALICE: &str = include_str!("testdata/alice.pub");
const CAROL: &str = include_str!("testdata/carol.pub");
const DAVE: &str = include_str!("testdata/dave.pub");
const MALLORY: &str = include_str!("testdata/mallory.pub");
const FORGE: &str = include_str!("testdata/forge.pub");
const BOOT: &str = include_str!("testdata/boot.pub");
const BOB: &str = include_str!("testdata/bob.asc");
const ERIN: &str = include_str!("testdata/erin.asc");
const OLGA: &str = include_str!("testdata/olga.asc");
const RITA: &str = include_str!("testdata/rita-revoked.asc");

/// Splits a raw commit object (`git cat-file commit`) the way git's
/// `parse_signed_commit` does: the `gpgsig` header and its continuation
/// lines are the signature (continuation lines without their leading
/// space), everything else is the signed payload.
fn split(raw: &[u8]) -> (Option<Vec<u8>>, Vec<u8>) {
    let mut signature: Option<Vec<u8>> = None;
    let mut payload = Vec::new();
    let mut in_headers = true;
    let mut in_sig = false;
    for line in raw.split_inclusive(|&b| b == b'\n') {
        if in_headers && line == b"\n" {
            in_headers = false;
        }
        if in_headers {
            if let Some(rest) = line.strip_prefix(b"gpgsig ") {
                signature = Some(rest.to_vec());
                in_sig = true;
                continue;
            }
            if in_sig {
                if let Some(rest) = line.strip_prefix(b" ") {
                    signature.as_mut().unwrap().extend_from_slice(rest);
                    continue;
                }
                in_sig = false;
            }
        }
        payload.extend_from_slice(line);
    }
    (signature, payload)
}

fn header_email(raw: &str, header: &str) -> String {
    let line = raw
        .lines()
        .find(|l| l.starts_with(&format!("{header} ")))
        .unwrap();
    let start = line.find('<').unwrap() + 1;
    let end = line.find('>').unwrap();
    line[start..end].to_owned()
}

fn evidence(raw: &str) -> CommitEvidence {
    let (signature, signed_data) = split(raw.as_bytes());
    CommitEvidence {
        id: "0123abcd".to_owned(),
        author_email: header_email(raw, "author"),
        committer_email: header_email(raw, "committer"),
        signature,
        signed_data,
    }
}

macro_rules! commit {
    ($name:literal) => {
        evidence(include_str!(concat!("testdata/", $name, ".commit")))
    };
}

/// `- ssh: <line>` plus optional key fields (indented 6).
fn ssh(line: &str, extra: &str) -> String {
    format!("    - ssh: {}\n{extra}", line.trim())
}

fn pgp(armored: &str, extra: &str) -> String {
    let mut s = "    - openpgp: |\n".to_owned();
    for line in armored.lines() {
        s.push_str("        ");
        s.push_str(line);
        s.push('\n');
    }
    s + extra
}

fn user(name: &str, emails: &str, keys: &[String], extra: &str) -> String {
    format!(
        "kind: User\nname: {name}\nspec:\n  emails: [{emails}]\n  signing_keys:\n{}{extra}---\n",
        keys.concat()
    )
}

fn account(name: &str, owner: &str, emails: &str, keys: &[String]) -> String {
    let keys = if keys.is_empty() {
        " []\n".to_owned()
    } else {
        format!("\n{}", keys.concat())
    };
    format!(
        "kind: ServiceAccount\nname: {name}\nspec:\n  owner: {owner}\n  emails: [{emails}]\n  \
         signing_keys:{keys}---\n"
    )
}

fn catalog(docs: &[String]) -> Catalog {
    let text = docs.concat();
    match spec::load(
        &[SourceFile::new("policy.yaml", text)],
        &spec::Options::at(NOW),
    ) {
        Ok(v) => v.catalog,
        Err(e) => panic!("test policy is invalid: {:#?}", e.diagnostics),
    }
}

fn ring(docs: &[String]) -> Keyring {
    Keyring::from_policy(&catalog(docs))
}

/// Alice (SSH ed25519, two emails), Carol (SSH RSA), Dave (SSH ECDSA),
/// Bob (gpg ed25519 with a signing subkey), Erin (gpg RSA).
fn team() -> Vec<String> {
    vec![
        user(
            "alice",
            "alice@example.test, alice@work.test",
            &[ssh(ALICE, "")],
            "",
        ),
        user("carol", "carol@example.test", &[ssh(CAROL, "")], ""),
        user("dave", "dave@example.test", &[ssh(DAVE, "")], ""),
        user("bob", "bob@example.test", &[pgp(BOB, "")], ""),
        user("erin", "erin@example.test", &[pgp(ERIN, "")], ""),
    ]
}

fn user_p(name: &str) -> Principal {
    Principal::User(name.parse().unwrap())
}

fn ssh_fp(line: &str) -> String {
    parse_ssh_public_key(line.trim()).unwrap().fingerprint
}

fn pgp_fp(armored: &str) -> String {
    parse_openpgp_public_key(armored).unwrap().fingerprint
}

fn ok(ring: &Keyring, commit: &CommitEvidence) -> Verified {
    ring.identify(commit, NOW)
        .unwrap_or_else(|e| panic!("expected an identity, got: {e}"))
}

fn denied(ring: &Keyring, commit: &CommitEvidence) -> NoIdentity {
    let e = ring.identify(commit, NOW).unwrap_err();
    let message = e.to_string();
    assert!(
        !message.contains("BEGIN") && !message.contains("AAAA"),
        "a refusal must not echo key or signature material: {message}"
    );
    e
}

// --- signatures that verify -----------------------------------------------

#[test]
fn ssh_ed25519_rsa_and_ecdsa_signatures_identify_their_users() {
    let ring = ring(&team());
    for (commit, name, key) in [
        (commit!("ssh-alice"), "alice", ALICE),
        (commit!("ssh-carol-rsa"), "carol", CAROL),
        (commit!("ssh-dave-ecdsa"), "dave", DAVE),
    ] {
        assert_eq!(
            ok(&ring, &commit),
            Verified {
                principal: user_p(name),
                key_format: KeyFormat::Ssh,
                fingerprint: ssh_fp(key),
            }
        );
    }
}

#[test]
fn gpg_ed25519_and_rsa_signatures_identify_their_users() {
    let ring = ring(&team());
    for (commit, name, key) in [
        (commit!("gpg-bob"), "bob", BOB),
        (commit!("gpg-bob-subkey"), "bob", BOB),
        (commit!("gpg-erin-rsa"), "erin", ERIN),
    ] {
        assert_eq!(
            ok(&ring, &commit),
            Verified {
                principal: user_p(name),
                key_format: KeyFormat::OpenPgp,
                fingerprint: pgp_fp(key),
            }
        );
    }
}

#[test]
fn verified_serializes_for_json_output() {
    let v = ok(&ring(&team()), &commit!("gpg-bob"));
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["key_format"], "openpgp");
    assert_eq!(json["principal"]["kind"], "user");
    assert_eq!(json["principal"]["name"], "bob");
}

// --- unsigned, unreadable, tampered ----------------------------------------

#[test]
fn unsigned_commit_has_no_identity() {
    let e = denied(&ring(&team()), &commit!("unsigned"));
    assert_eq!(e.reason_code(), "unsigned");
    assert!(e.to_string().contains("not signed"), "{e}");
}

#[test]
fn garbage_signature_is_unreadable() {
    let ring = ring(&team());
    for sig in [
        &b"hello"[..],
        b"-----BEGIN PGP SIGNATURE-----\n\nnot base64!\n-----END PGP SIGNATURE-----\n",
        b"-----BEGIN SSH SIGNATURE-----\nU1NIU0lH\n-----END SSH SIGNATURE-----\n",
    ] {
        let mut c = commit!("ssh-alice");
        c.signature = Some(sig.to_vec());
        assert_eq!(denied(&ring, &c).reason_code(), "unreadable_signature");
    }
}

#[test]
fn tampered_payload_is_a_bad_signature() {
    let ring = ring(&team());
    for (mut c, fp) in [
        (commit!("ssh-alice"), ssh_fp(ALICE)),
        (commit!("gpg-bob"), pgp_fp(BOB)),
        (commit!("gpg-erin-rsa"), pgp_fp(ERIN)),
    ] {
        ok(&ring, &c);
        let at = c.signed_data.len() - 2;
        c.signed_data[at] ^= 1;
        match denied(&ring, &c) {
            NoIdentity::BadSignature { fingerprint, .. } => {
                // gpg names the issuer: the primary key here (no subkey signed).
                assert_eq!(fingerprint, fp);
            }
            e => panic!("{e:?}"),
        }
    }
}

#[test]
fn signature_copied_onto_another_commit_is_bad() {
    let ring = ring(&team());
    let mut c = commit!("ssh-alice-committer-work");
    c.signature = commit!("ssh-alice").signature;
    assert_eq!(denied(&ring, &c).reason_code(), "bad_signature");
}

// --- SSH specifics -----------------------------------------------------------

#[test]
fn ssh_signature_for_another_namespace_is_refused() {
    let ring = ring(&team());
    let mut c = commit!("ssh-alice");
    ok(&ring, &c);
    c.signature = Some(include_bytes!("testdata/alice-namespace-file.sshsig").to_vec());
    match denied(&ring, &c) {
        NoIdentity::WrongNamespace { namespace, .. } => assert_eq!(namespace, "file"),
        e => panic!("{e:?}"),
    }
}

/// SSH wire-format string.
fn wire(bytes: &[u8]) -> Vec<u8> {
    let mut out = u32::try_from(bytes.len()).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(bytes);
    out
}

#[test]
fn ssh_rsa_signature_with_sha1_is_weak() {
    // Rewrite Carol's real rsa-sha2-512 signature as legacy `ssh-rsa`
    // (RSA over SHA-1): refused for its algorithm.
    use base64::Engine as _;
    let ring = ring(&team());
    let mut c = commit!("ssh-carol-rsa");
    let blob = ssh::unarmor(c.signature.as_ref().unwrap()).unwrap();
    let [key, namespace, reserved, hash, signature] = ssh::blob_fields(&blob).unwrap();
    let (algorithm, rest) = ssh::string(signature).unwrap();
    assert_eq!(algorithm, b"rsa-sha2-512");
    let (raw, _) = ssh::string(rest).unwrap();
    let mut forged = b"SSHSIG\0\0\0\x01".to_vec();
    for field in [key, namespace, reserved, hash] {
        forged.extend(wire(field));
    }
    forged.extend(wire(&[wire(b"ssh-rsa"), wire(raw)].concat()));
    let body = base64::engine::general_purpose::STANDARD.encode(forged);
    c.signature = Some(
        format!("-----BEGIN SSH SIGNATURE-----\n{body}\n-----END SSH SIGNATURE-----\n")
            .into_bytes(),
    );
    match denied(&ring, &c) {
        NoIdentity::WeakAlgorithm { algorithm, .. } => assert!(algorithm.contains("SHA-1")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn fingerprints_match_what_the_spec_parser_and_tools_print() {
    let fp = ssh_fp(ALICE);
    assert!(fp.starts_with("SHA256:"), "{fp}");
    assert_eq!(ok(&ring(&team()), &commit!("ssh-alice")).fingerprint, fp);
}

/// Validation (the policy's keys, parsed by `spec`) and the keyring (the
/// key a signature names, looked up among the listed ones) name a key by
/// one fingerprint: the one `ssh-keygen -lf` and `gpg --fingerprint`
/// print, for policy keys and bootstrap keys alike.
#[test]
fn validation_and_the_keyring_name_a_key_by_one_fingerprint() {
    let policy = ring(&team());
    let cases = [
        (
            ALICE,
            "SHA256:paRQMNma2/zB3RaJ6sMyJdbfEaX63jvR7AEHp1NESd0",
            commit!("ssh-alice"),
        ),
        (
            DAVE,
            "SHA256:xtZOVn4lU5tCy43oU9A0ejG6RlihPVRJedVE63jIO/4",
            commit!("ssh-dave-ecdsa"),
        ),
        (
            BOB,
            "7AA36724EF231476943849B5DD52F08BCC596487",
            commit!("gpg-bob"),
        ),
        // Signed by Bob's subkey: still named by the primary key.
        (
            BOB,
            "7AA36724EF231476943849B5DD52F08BCC596487",
            commit!("gpg-bob-subkey"),
        ),
    ];
    for (key, printed, commit) in cases {
        let validated = if key.contains("-----BEGIN PGP") {
            pgp_fp(key)
        } else {
            ssh_fp(key)
        };
        assert_eq!(validated, printed);
        assert_eq!(ok(&policy, &commit).fingerprint, printed);
        let bootstrap = Keyring::bootstrap(&[key.to_owned()]).unwrap();
        assert_eq!(ok(&bootstrap, &commit).fingerprint, printed);
    }
}

// --- OpenPGP specifics -------------------------------------------------------

#[test]
fn gpg_signature_over_sha1_is_weak() {
    let ring = ring(&team());
    match denied(&ring, &commit!("gpg-erin-sha1")) {
        NoIdentity::WeakAlgorithm { algorithm, .. } => assert!(algorithm.contains("SHA1")),
        e => panic!("{e:?}"),
    }
}

#[test]
fn gpg_key_expired_by_its_own_self_signature() {
    let ring = ring(&[user("olga", "olga@example.test", &[pgp(OLGA, "")], "")]);
    match denied(&ring, &commit!("gpg-olga-expired")) {
        NoIdentity::KeyExpired {
            expired_at,
            status_from,
            ..
        } => {
            assert_eq!(status_from, KeyStatusSource::OpenPgpKey);
            assert_eq!(expired_at, 1_577_836_800 + 30 * 86_400);
        }
        e => panic!("{e:?}"),
    }
    // Twin: judged at a time before its expiry, it identifies Olga.
    let v = ring
        .identify(&commit!("gpg-olga-expired"), 1_578_000_000)
        .unwrap();
    assert_eq!(v.principal, user_p("olga"));
}

#[test]
fn gpg_key_revoked_by_its_owner() {
    let ring = ring(&[user("rita", "rita@example.test", &[pgp(RITA, "")], "")]);
    match denied(&ring, &commit!("gpg-rita-revoked")) {
        NoIdentity::KeyRevoked { status_from, .. } => {
            assert_eq!(status_from, KeyStatusSource::OpenPgpKey);
        }
        e => panic!("{e:?}"),
    }
}

// --- which keys are listed, and for whom ------------------------------------

#[test]
fn key_not_in_the_policy_is_unknown() {
    let ring = ring(&team());
    match denied(&ring, &commit!("ssh-mallory-as-alice")) {
        NoIdentity::UnknownKey { fingerprint, .. } => assert_eq!(fingerprint, ssh_fp(MALLORY)),
        e => panic!("{e:?}"),
    }
    let without_bob = ring_without("bob");
    match denied(&without_bob, &commit!("gpg-bob")) {
        NoIdentity::UnknownKey { fingerprint, .. } => assert_eq!(fingerprint, pgp_fp(BOB)),
        e => panic!("{e:?}"),
    }
    assert_eq!(
        denied(&without_bob, &commit!("gpg-bob-subkey")).reason_code(),
        "unknown_key"
    );
}

fn ring_without(name: &str) -> Keyring {
    let docs: Vec<String> = team()
        .into_iter()
        .filter(|d| !d.contains(&format!("name: {name}\n")))
        .collect();
    ring(&docs)
}

#[test]
fn key_of_another_user_does_not_sign_for_them() {
    // Alice signed a commit whose author is Bob.
    let ring = ring(&team());
    match denied(&ring, &commit!("ssh-alice-as-bob")) {
        NoIdentity::KeyOfAnotherPrincipal {
            key_owner,
            author_email,
            ..
        } => {
            assert_eq!(key_owner, user_p("alice"));
            assert_eq!(author_email, "bob@example.test");
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn forged_author_email_with_own_key_is_refused() {
    // Mallory is a listed user, signs with her own key, and writes Alice's
    // email as author and committer.
    let mut docs = team();
    docs.push(user(
        "mallory",
        "mallory@example.test",
        &[ssh(MALLORY, "")],
        "",
    ));
    let ring = ring(&docs);
    let e = denied(&ring, &commit!("ssh-mallory-as-alice"));
    match &e {
        NoIdentity::KeyOfAnotherPrincipal {
            key_owner,
            author_email,
            fingerprint,
            ..
        } => {
            assert_eq!(key_owner, &user_p("mallory"));
            assert_eq!(author_email, "alice@example.test");
            assert_eq!(fingerprint, &ssh_fp(MALLORY));
        }
        e => panic!("{e:?}"),
    }
    assert_eq!(e.reason_code(), "key_of_another_principal");
}

#[test]
fn author_email_is_compared_case_insensitively() {
    let ring = ring(&team());
    let mut c = commit!("ssh-alice");
    c.author_email = "Alice@Example.TEST".to_owned();
    c.committer_email = "alice@example.test".to_owned();
    assert_eq!(ok(&ring, &c).principal, user_p("alice"));
}

#[test]
fn committer_must_be_the_signing_user() {
    let mut docs = team();
    docs.push(account("forge", "alice", "noreply@forge.test", &[]));
    let ring = ring(&docs);
    // Another email of the same user: allowed.
    assert_eq!(
        ok(&ring, &commit!("ssh-alice-committer-work")).principal,
        user_p("alice")
    );
    // Someone else entirely: refused.
    match denied(&ring, &commit!("ssh-alice-committer-eve")) {
        NoIdentity::CommitterNotAllowed {
            principal,
            committer_email,
            ..
        } => {
            assert_eq!(principal, user_p("alice"));
            assert_eq!(committer_email, "eve@elsewhere.test");
        }
        e => panic!("{e:?}"),
    }
    // A ServiceAccount's email as committer: refused, since alice's
    // signature cannot make the commit look committed by the account.
    // The evidence is edited here; only emails are judged.
    let mut c = commit!("ssh-alice-committer-eve");
    c.committer_email = "NoReply@forge.test".to_owned();
    assert!(matches!(
        denied(&ring, &c),
        NoIdentity::CommitterNotAllowed { .. }
    ));
}

#[test]
fn a_padded_or_malformed_email_names_nobody() {
    let ring = ring(&team());
    for author in [
        "alice@example.test ",
        " alice@example.test",
        "alice@example.test\n",
        "alice@@example.test",
    ] {
        let mut c = commit!("ssh-alice");
        c.author_email = author.to_owned();
        c.committer_email = author.to_owned();
        assert!(
            matches!(denied(&ring, &c), NoIdentity::KeyOfAnotherPrincipal { .. }),
            "{author:?}"
        );
    }
    // Case is not identity: the canonical form is lowercase.
    let mut c = commit!("ssh-alice");
    c.author_email = "Alice@Example.TEST".to_owned();
    c.committer_email = "alice@example.test".to_owned();
    assert_eq!(ok(&ring, &c).principal, user_p("alice"));
}

#[test]
fn service_account_key_identifies_the_account_only_with_its_email() {
    let mut docs = team();
    docs.push(account(
        "forge",
        "alice",
        "noreply@forge.test",
        &[ssh(FORGE, "")],
    ));
    // The fixture is authored by alice and committed by the forge: the
    // forge's key cannot put alice's name on a commit.
    match denied(&ring(&docs), &commit!("ssh-forge")) {
        NoIdentity::KeyOfAnotherPrincipal { author_email, .. } => {
            assert_eq!(author_email, "alice@example.test");
        }
        e => panic!("{e:?}"),
    }
    let mut own = commit!("ssh-forge");
    own.author_email = "noreply@forge.test".to_owned();
    let v = ok(&ring(&docs), &own);
    assert_eq!(
        v.principal,
        Principal::ServiceAccount("forge".parse().unwrap())
    );

    let mut docs = team();
    docs.push(account(
        "forge",
        "alice",
        "bot@forge.test",
        &[ssh(FORGE, "")],
    ));
    match denied(&ring(&docs), &commit!("ssh-forge")) {
        NoIdentity::KeyOfAnotherPrincipal { key_owner, .. } => {
            assert_eq!(
                key_owner,
                Principal::ServiceAccount("forge".parse().unwrap())
            );
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn key_listed_for_two_principals_identifies_nobody() {
    let mut policy = catalog(&team());
    let alice_keys = policy.users["alice"].spec.signing_keys.clone();
    let bob = policy.users.get_mut("bob").unwrap();
    bob.spec.signing_keys.extend(alice_keys);
    let ring = Keyring::from_policy(&policy);
    match denied(&ring, &commit!("ssh-alice")) {
        NoIdentity::AmbiguousKey { holders, .. } => {
            assert_eq!(holders, [user_p("alice"), user_p("bob")]);
        }
        e => panic!("{e:?}"),
    }
    // Bob's own OpenPGP key is still his alone.
    assert_eq!(ok(&ring, &commit!("gpg-bob")).principal, user_p("bob"));
}

// --- the key's status in the policy -----------------------------------------

fn alice_with(key_fields: &str) -> Keyring {
    ring(&[user(
        "alice",
        "alice@example.test",
        &[ssh(ALICE, key_fields)],
        "",
    )])
}

#[test]
fn revoked_key_identifies_nobody() {
    assert_eq!(
        ok(&alice_with("      revoked: false\n"), &commit!("ssh-alice")).principal,
        user_p("alice")
    );
    match denied(&alice_with("      revoked: true\n"), &commit!("ssh-alice")) {
        NoIdentity::KeyRevoked {
            key_owner,
            status_from,
            ..
        } => {
            assert_eq!(key_owner, user_p("alice"));
            assert_eq!(status_from, KeyStatusSource::Policy);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn expired_key_is_judged_at_arrival_time() {
    // 2026-06-01: still valid now.
    let ring = alice_with("      expires: 2026-06-01T00:00:00Z\n");
    assert_eq!(ok(&ring, &commit!("ssh-alice")).principal, user_p("alice"));
    // ... but not once that time has come, although the commit is dated 2025.
    match ring.identify(&commit!("ssh-alice"), 1_780_272_000) {
        Err(NoIdentity::KeyExpired { expired_at, .. }) => assert_eq!(expired_at, 1_780_272_000),
        other => panic!("{other:?}"),
    }
    let ring = alice_with("      expires: 2025-12-01T00:00:00Z\n");
    assert_eq!(
        denied(&ring, &commit!("ssh-alice")).reason_code(),
        "key_expired"
    );
}

#[test]
fn disabled_user_identifies_nobody() {
    let ring = ring(&[user(
        "alice",
        "alice@example.test",
        &[ssh(ALICE, "")],
        "  disabled: true\n",
    )]);
    match denied(&ring, &commit!("ssh-alice")) {
        NoIdentity::Disabled { key_owner, why, .. } => {
            assert_eq!(key_owner, user_p("alice"));
            assert_eq!(why, DisabledReason::UserDisabled);
        }
        e => panic!("{e:?}"),
    }
}

#[test]
fn service_account_of_a_disabled_or_missing_owner_identifies_nobody() {
    let mut docs = team();
    docs.push(account(
        "forge",
        "alice",
        "noreply@forge.test",
        &[ssh(FORGE, "")],
    ));
    let mut policy = catalog(&docs);
    // Validation refuses both; the keyring must still be safe.
    policy.users.get_mut("alice").unwrap().spec.disabled = true;
    match denied(&Keyring::from_policy(&policy), &commit!("ssh-forge")) {
        NoIdentity::Disabled { why, .. } => assert_eq!(
            why,
            DisabledReason::OwnerDisabled {
                owner: "alice".parse().unwrap()
            }
        ),
        e => panic!("{e:?}"),
    }
    policy.users.remove("alice");
    assert!(matches!(
        denied(&Keyring::from_policy(&policy), &commit!("ssh-forge")),
        NoIdentity::Disabled {
            why: DisabledReason::OwnerMissing { .. },
            ..
        }
    ));
}

// --- bootstrap trust ----------------------------------------------------------

#[test]
fn bootstrap_key_identifies_the_bootstrap_admin_whatever_the_email() {
    let ring = Keyring::bootstrap(&[BOOT.to_owned(), BOB.to_owned()]).unwrap();
    assert_eq!(ring.len(), 2);
    assert_eq!(
        ok(&ring, &commit!("ssh-boot")).principal,
        Principal::BootstrapAdmin {
            fingerprint: ssh_fp(BOOT)
        }
    );
    assert_eq!(
        ok(&ring, &commit!("gpg-bob-subkey")).principal,
        Principal::BootstrapAdmin {
            fingerprint: pgp_fp(BOB)
        }
    );
    // Twin: a key that is not a bootstrap key is unknown to it.
    assert_eq!(
        denied(&ring, &commit!("ssh-alice")).reason_code(),
        "unknown_key"
    );
    // ... and the bootstrap key means nothing to a policy that omits it.
    assert_eq!(
        denied(&ring_without("nobody"), &commit!("ssh-boot")).reason_code(),
        "unknown_key"
    );
}

#[test]
fn bootstrap_keys_must_parse() {
    match Keyring::bootstrap(&[BOOT.to_owned(), "ssh-ed25519 nope".to_owned()]) {
        Err(BootstrapKeyError::Unparseable { index, .. }) => assert_eq!(index, 2),
        other => panic!("{:?}", other.map(|r| r.len())),
    }
}

// --- fixtures -----------------------------------------------------------------

#[test]
fn testdata_holds_no_private_key() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/identity/testdata");
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let private = crate::spec::material::scan(&text)
            .into_iter()
            .any(|f| f.kind.is_private_key());
        assert!(!private, "{} holds a private key", path.display());
    }
}

#[test]
fn with_checks_off_the_author_email_is_taken_at_its_word_and_nothing_else() {
    let policy = catalog(&[
        user("alice", "Alice@Example.test", &[ssh(ALICE, "")], ""),
        account("bot", "alice", "bot@example.test", &[]),
    ]);
    let mut commit = commit!("unsigned");
    commit.signature = None;
    commit.author_email = "alice@example.test".into();
    assert_eq!(
        claimed(&policy, &commit),
        Ok(Principal::User("alice".parse().unwrap()))
    );
    commit.author_email = "bot@example.test".into();
    assert_eq!(
        claimed(&policy, &commit),
        Ok(Principal::ServiceAccount("bot".parse().unwrap()))
    );
    commit.author_email = "stranger@example.test".into();
    let refused = claimed(&policy, &commit).unwrap_err();
    assert_eq!(refused.reason_code(), "unknown_author");
    assert!(refused.to_string().contains("checks are off"));
}
