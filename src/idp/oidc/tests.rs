//! Every refusal the issue names, each with keys made in the test: an
//! accepted token beside each forged or broken twin.

use super::claims::{check, same_secret};
use super::jwks::Alg;
use super::*;
use crate::idp::scim::{schema, Kind, Precondition, Store};
use crate::idp::{DirectoryView, Idp};
use crate::spec::{load, Options, SourceFile};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, Ed25519KeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::{json, Value};

const ISSUER: &str = "https://idp.example.com";
const NOW: i64 = 1_800_000_000;

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A signing key made for the test, and its public JWK.
enum Signer {
    Es256(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

impl Signer {
    fn es256() -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        Signer::Es256(
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap(),
        )
    }

    fn ed25519() -> Signer {
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        Signer::Ed(Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).unwrap())
    }

    fn alg(&self) -> &'static str {
        match self {
            Signer::Es256(_) => "ES256",
            Signer::Ed(_) => "EdDSA",
        }
    }

    fn jwk(&self, kid: &str) -> Value {
        match self {
            Signer::Es256(key) => {
                let point = key.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "kid": kid, "use": "sig",
                       "x": b64(&point[1..33]), "y": b64(&point[33..])})
            }
            Signer::Ed(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(key.public_key().as_ref())})
            }
        }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        match self {
            Signer::Es256(key) => key
                .sign(&SystemRandom::new(), message)
                .unwrap()
                .as_ref()
                .to_vec(),
            Signer::Ed(key) => key.sign(message).as_ref().to_vec(),
        }
    }

    fn token(&self, header: &Value, claims: &Value) -> String {
        let signed = format!(
            "{}.{}",
            b64(header.to_string().as_bytes()),
            b64(claims.to_string().as_bytes())
        );
        let signature = self.sign(signed.as_bytes());
        format!("{signed}.{}", b64(&signature))
    }

    fn issue(&self, kid: &str, claims: &Value) -> String {
        self.token(
            &json!({"alg": self.alg(), "kid": kid, "typ": "JWT"}),
            claims,
        )
    }
}

fn claims() -> Value {
    json!({"iss": ISSUER, "aud": "lbops", "sub": "00u1", "iat": NOW - 10, "exp": NOW + 300,
           "email": "ada@example.com", "email_verified": true, "nonce": "n-0S6"})
}

fn with(changes: Value) -> Value {
    let mut all = claims();
    for (k, v) in changes.as_object().unwrap() {
        all[k] = v.clone();
    }
    all
}

fn keys(signers: &[(&Signer, &str)]) -> Jwks {
    let keys: Vec<Value> = signers.iter().map(|(s, kid)| s.jwk(kid)).collect();
    Jwks::parse(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
}

fn expected(audiences: &[String]) -> Expected<'_> {
    Expected {
        issuer: ISSUER,
        audiences,
        now: NOW,
        skew: 60,
        nonce: None,
    }
}

/// The token checked as the daemon checks a bearer.
fn accept(token: &str, jwks: &Jwks) -> Result<IdClaims, Refused> {
    let audiences = vec!["lbops".to_owned()];
    check(verify(token, jwks)?, &expected(&audiences))
}

#[test]
fn a_token_signed_by_a_published_key_is_accepted_with_either_curve() {
    for signer in [Signer::es256(), Signer::ed25519()] {
        let jwks = keys(&[(&signer, "k1")]);
        let accepted = accept(&signer.issue("k1", &claims()), &jwks).unwrap();
        assert_eq!(accepted.subject, "00u1");
        assert_eq!(accepted.expires, NOW + 300);
        // No kid: the one key fit for the algorithm.
        let token = signer.token(&json!({"alg": signer.alg()}), &claims());
        assert!(accept(&token, &jwks).is_ok());
    }
}

#[test]
fn a_token_of_another_issuer_is_refused() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = signer.issue("k1", &with(json!({"iss": "https://evil.example.com"})));
    assert_eq!(
        accept(&token, &jwks).unwrap_err().code(),
        "oidc_wrong_issuer"
    );
}

#[test]
fn a_token_for_another_audience_is_refused_and_one_of_several_is_enough() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = signer.issue("k1", &with(json!({"aud": "other-app"})));
    assert!(matches!(
        accept(&token, &jwks),
        Err(Refused::WrongAudience { .. })
    ));
    let token = signer.issue("k1", &with(json!({"aud": ["other-app", "lbops"]})));
    assert!(accept(&token, &jwks).is_ok());
    let token = signer.issue("k1", &with(json!({"aud": null})));
    assert_eq!(accept(&token, &jwks), Err(Refused::MissingClaim("aud")));
}

#[test]
fn an_expired_token_is_refused_beyond_the_skew() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = signer.issue("k1", &with(json!({"exp": NOW - 61})));
    assert_eq!(
        accept(&token, &jwks),
        Err(Refused::Expired { exp: NOW - 61 })
    );
    let token = signer.issue("k1", &with(json!({"exp": NOW - 30})));
    assert!(accept(&token, &jwks).is_ok(), "within the 60 s skew");
    let token = signer.issue("k1", &with(json!({"exp": null})));
    assert_eq!(accept(&token, &jwks), Err(Refused::MissingClaim("exp")));
}

#[test]
fn a_token_not_yet_valid_or_issued_in_the_future_is_refused() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = signer.issue("k1", &with(json!({"nbf": NOW + 120})));
    assert_eq!(
        accept(&token, &jwks),
        Err(Refused::NotYetValid { nbf: NOW + 120 })
    );
    let token = signer.issue("k1", &with(json!({"nbf": NOW + 30})));
    assert!(accept(&token, &jwks).is_ok(), "within the skew");
    let token = signer.issue("k1", &with(json!({"iat": NOW + 120})));
    assert_eq!(
        accept(&token, &jwks),
        Err(Refused::IssuedInFuture { iat: NOW + 120 })
    );
}

#[test]
fn the_skew_is_bounded_whatever_the_config_asks() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = signer.issue("k1", &with(json!({"exp": NOW - 3600})));
    let audiences = vec!["lbops".to_owned()];
    let lax = Expected {
        skew: 86_400,
        ..expected(&audiences)
    };
    let claims = verify(&token, &jwks).unwrap();
    assert!(matches!(check(claims, &lax), Err(Refused::Expired { .. })));
}

#[test]
fn alg_none_is_refused_before_any_key_is_looked_at() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let header = b64(json!({"alg": "none", "kid": "k1"}).to_string().as_bytes());
    let body = b64(claims().to_string().as_bytes());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        let refused = accept(&token, &jwks).unwrap_err();
        assert!(
            matches!(refused, Refused::Algorithm(_) | Refused::Malformed(_)),
            "{refused:?}"
        );
    }
    assert_eq!(
        accept(&format!("{header}.{body}."), &jwks),
        Err(Refused::Algorithm("none".into()))
    );
}

#[test]
fn hs256_signed_with_the_public_key_is_refused() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let public = signer.jwk("k1").to_string();
    let signed = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "kid": "k1"}).to_string().as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, public.as_bytes());
    let mac = ring::hmac::sign(&key, signed.as_bytes());
    let token = format!("{signed}.{}", b64(mac.as_ref()));
    assert_eq!(
        accept(&token, &jwks),
        Err(Refused::Algorithm("HS256".into()))
    );
}

#[test]
fn a_kid_the_key_set_lacks_is_refused_and_so_is_another_key_s_signature() {
    let signer = Signer::es256();
    let other = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let token = other.issue("k2", &claims());
    assert_eq!(accept(&token, &jwks), Err(Refused::UnknownKey("k2".into())));
    // Signed by another key but naming the published one's id.
    let token = other.issue("k1", &claims());
    assert_eq!(accept(&token, &jwks), Err(Refused::BadSignature));
    // A payload changed after signing.
    let token = signer.issue("k1", &claims());
    let mut parts: Vec<&str> = token.split('.').collect();
    let forged = b64(with(json!({"sub": "admin"})).to_string().as_bytes());
    parts[1] = &forged;
    assert_eq!(accept(&parts.join("."), &jwks), Err(Refused::BadSignature));
}

#[test]
fn a_key_answers_only_for_its_own_algorithm() {
    let ec = Signer::es256();
    let ed = Signer::ed25519();
    let jwks = keys(&[(&ec, "ec"), (&ed, "ed")]);
    // An EdDSA signature presented as if from the EC key.
    let token = ed.token(&json!({"alg": "EdDSA", "kid": "ec"}), &claims());
    assert!(matches!(
        accept(&token, &jwks),
        Err(Refused::KeyMismatch { .. })
    ));
    // Two keys and no kid: lbops does not guess.
    let second = Signer::es256();
    let jwks = keys(&[(&ec, "a"), (&second, "b")]);
    let token = ec.token(&json!({"alg": "ES256"}), &claims());
    assert_eq!(accept(&token, &jwks), Err(Refused::AmbiguousKey));
}

#[test]
fn sizes_are_bounded() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let huge = signer.issue("k1", &with(json!({"pad": "x".repeat(MAX_JWT_BYTES)})));
    assert_eq!(
        accept(&huge, &jwks),
        Err(Refused::TooLarge { max: MAX_JWT_BYTES })
    );
    let many: Vec<Value> = (0..=MAX_KEYS)
        .map(|i| signer.jwk(&format!("k{i}")))
        .collect();
    let refused = Jwks::parse(json!({ "keys": many }).to_string().as_bytes()).unwrap_err();
    assert_eq!(refused.code(), "oidc_bad_key_set");
    let big = vec![b' '; MAX_JWKS_BYTES + 1];
    assert_eq!(Jwks::parse(&big).unwrap_err().code(), "oidc_bad_key_set");
}

#[test]
fn unusable_keys_are_left_out_of_a_key_set() {
    let signer = Signer::es256();
    let mut good = signer.jwk("good");
    good["alg"] = json!("ES256");
    let set = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "hmac"},
        {"kty": "RSA", "kid": "enc", "use": "enc", "n": "AQAB", "e": "AQAB"},
        {"kty": "EC", "crv": "P-256", "kid": "wrong-alg", "alg": "RS256", "x": good["x"], "y": good["y"]},
        good,
    ]});
    let jwks = Jwks::parse(set.to_string().as_bytes()).unwrap();
    assert_eq!(jwks.keys.len(), 1);
    assert_eq!(jwks.keys[0].alg, Some(Alg::Es256));
    assert!(matches!(
        jwks.find(Some("hmac"), Alg::Es256),
        Err(Refused::UnknownKey(_))
    ));
}

#[test]
fn a_sign_in_s_id_token_must_carry_its_nonce() {
    let signer = Signer::es256();
    let jwks = keys(&[(&signer, "k1")]);
    let audiences = vec!["lbops".to_owned()];
    let token = signer.issue("k1", &claims());
    let with_nonce = |nonce| Expected {
        nonce: Some(nonce),
        ..expected(&audiences)
    };
    assert!(check(verify(&token, &jwks).unwrap(), &with_nonce("n-0S6")).is_ok());
    assert_eq!(
        check(verify(&token, &jwks).unwrap(), &with_nonce("other")),
        Err(Refused::WrongNonce)
    );
    let token = signer.issue("k1", &with(json!({"nonce": null})));
    assert_eq!(
        check(verify(&token, &jwks).unwrap(), &with_nonce("n-0S6")),
        Err(Refused::WrongNonce)
    );
    assert!(same_secret("a", "a") && !same_secret("a", "b"));
}

#[test]
fn the_pkce_challenge_is_rfc_7636_s_example() {
    // RFC 7636 appendix B.
    let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    assert_eq!(
        pkce::challenge(verifier),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
    assert_eq!(pkce::value(&[0; 32]).len(), 43);
}

const POLICY: &str = "kind: Role
name: operator
spec:
  rules: [{actions: ['state.read'], resources: ['*']}]
---
kind: User
name: ada
spec:
  emails: [Ada@Example.com]
  roles: [operator]
---
kind: User
name: ben
spec:
  emails: [ben@example.com]
  disabled: true
";

fn policy() -> crate::spec::Catalog {
    let files = [SourceFile::new("access.yaml", POLICY)];
    match load(&files, &Options::at(NOW)) {
        Ok(validated) => validated.catalog,
        Err(invalid) => panic!("{:#?}", invalid.diagnostics),
    }
}

fn person(changes: Value, mapping: &Mapping) -> Person {
    let audiences = vec!["lbops".to_owned()];
    let claims = check(with(changes), &expected(&audiences)).unwrap();
    Person::of(&claims, mapping)
}

#[test]
fn a_verified_email_maps_to_the_user_listing_it_and_nothing_else_does() {
    let policy = policy();
    let by_email = Mapping::VerifiedEmail;
    let ada = person(json!({}), &by_email);
    assert_eq!(
        to_user(&policy, &ada, &by_email, Idp::Absent)
            .unwrap()
            .as_str(),
        "ada"
    );
    let unverified = person(json!({"email_verified": false}), &by_email);
    assert_eq!(
        to_user(&policy, &unverified, &by_email, Idp::Absent),
        Err(NotInGit::NoVerifiedEmail)
    );
    // Some providers send the flag as a string: not `true`.
    let stringly = person(json!({"email_verified": "true"}), &by_email);
    assert_eq!(stringly.email, None);
    let stranger = person(json!({"email": "eve@example.com"}), &by_email);
    assert_eq!(
        to_user(&policy, &stranger, &by_email, Idp::Absent)
            .unwrap_err()
            .code(),
        "oidc_no_git_user"
    );
    let ben = person(json!({"email": "ben@example.com"}), &by_email);
    assert_eq!(
        to_user(&policy, &ben, &by_email, Idp::Absent)
            .unwrap_err()
            .code(),
        "oidc_user_disabled"
    );
}

#[test]
fn a_configured_claim_names_the_user() {
    let policy = policy();
    let by_claim = Mapping::Claim("preferred_username".into());
    let ada = person(json!({"preferred_username": "ada"}), &by_claim);
    assert_eq!(
        to_user(&policy, &ada, &by_claim, Idp::Absent)
            .unwrap()
            .as_str(),
        "ada"
    );
    assert_eq!(ada.shown(), "ada");
    let without = person(json!({}), &by_claim);
    assert_eq!(
        to_user(&policy, &without, &by_claim, Idp::Absent),
        Err(NotInGit::NoClaim("preferred_username".into()))
    );
}

#[test]
fn the_directory_takes_a_deactivated_person_away_and_never_grants() {
    let policy = policy();
    let mut store = Store::default();
    let body = json!({"schemas": [schema::USER_SCHEMA], "userName": "ada@example.com",
                      "emails": [{"value": "ada@example.com"}], "active": true});
    let planned = store.create(Kind::User, "u1".into(), &body, 100).unwrap();
    store.apply(&planned.delta);
    let by_email = Mapping::VerifiedEmail;
    let ada = person(json!({}), &by_email);
    let view = DirectoryView::of(&store);
    assert!(to_user(&policy, &ada, &by_email, pushed(&view)).is_ok());
    let off = json!({"schemas": [schema::PATCH_OP],
                     "Operations": [{"op": "replace", "value": {"active": false}}]});
    let planned = store
        .patch(Kind::User, "u1", &off, 200, Precondition::None)
        .unwrap();
    store.apply(&planned.delta);
    let view = DirectoryView::of(&store);
    let refused = to_user(&policy, &ada, &by_email, pushed(&view)).unwrap_err();
    assert_eq!(refused.code(), "deprovisioned");
    assert!(refused.to_string().contains("deactivated"), "{refused}");
    // Unknown to the directory: nothing taken away, nothing given.
    let eve = person(json!({"email": "eve@example.com"}), &by_email);
    assert_eq!(
        to_user(&policy, &eve, &by_email, pushed(&view))
            .unwrap_err()
            .code(),
        "oidc_no_git_user"
    );
}

fn pushed(view: &DirectoryView) -> Idp<'_> {
    Idp::Pushed {
        view,
        require_known_users: false,
    }
}

#[test]
fn every_refusal_says_what_to_do() {
    let all = [
        Refused::TooLarge { max: 1 },
        Refused::Malformed("x"),
        Refused::Algorithm("none".into()),
        Refused::UnknownKey("k".into()),
        Refused::AmbiguousKey,
        Refused::BadSignature,
        Refused::WrongIssuer {
            found: "a".into(),
            expected: "b".into(),
        },
        Refused::Expired { exp: 1 },
        Refused::MissingClaim("sub"),
        Refused::WrongNonce,
    ];
    for refused in all {
        println!("{}: {refused}", refused.code());
        assert!(refused.code().starts_with("oidc_"));
    }
}

#[test]
fn the_groups_claim_is_kept_bounded_and_only_as_strings() {
    let mapping = Mapping::VerifiedEmail;
    let many: Vec<Value> = (0..150).map(|n| json!(format!("g{n}"))).collect();
    let ada = person(
        json!({"groups": [ "sre-oncall", 7, "", "x".repeat(300), {"name": "dba"} ]}),
        &mapping,
    );
    assert_eq!(ada.groups, vec!["sre-oncall".to_owned()]);
    let crowd = person(json!({ "groups": many }), &mapping);
    assert_eq!(crowd.groups.len(), super::person::MAX_GROUPS);
    let none = person(json!({"groups": "sre-oncall"}), &mapping);
    assert!(none.groups.is_empty());
}
