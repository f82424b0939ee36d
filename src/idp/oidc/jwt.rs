//! A compact JWS (`header.payload.signature`) checked against the
//! provider's keys. The order matters: the size first, then the
//! algorithm (before any key is chosen, so `none` and HMAC never reach
//! one), then the key by id, then the signature; only a verified
//! payload is parsed as claims.

use super::jwks::{Alg, Jwk, Jwks, Material};
use super::Refused;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde::Deserialize;

/// The longest token lbops reads; an ID or access token is a few KiB.
pub const MAX_JWT_BYTES: usize = 16 * 1024;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    /// A critical extension lbops does not know must make it refuse
    /// (RFC 7515 §4.1.11); it knows none.
    crit: Option<serde_json::Value>,
}

/// The parts of a token, before its signature is checked.
pub struct Unverified<'a> {
    pub alg: Alg,
    pub kid: Option<String>,
    signed: &'a str,
    signature: Vec<u8>,
    payload: &'a str,
}

/// Splits `token` and reads its header; refuses what no key could verify.
pub fn parse(token: &str) -> Result<Unverified<'_>, Refused> {
    if token.len() > MAX_JWT_BYTES {
        return Err(Refused::TooLarge { max: MAX_JWT_BYTES });
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Refused::Malformed("not three dot-separated parts"));
    };
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| Refused::Malformed("the header is not base64url"))?;
    let header: Header = serde_json::from_slice(&header)
        .map_err(|_| Refused::Malformed("the header is not a JOSE header"))?;
    if header.crit.is_some() {
        return Err(Refused::Malformed("the header has critical extensions"));
    }
    let alg = Alg::parse(&header.alg).ok_or_else(|| Refused::Algorithm(header.alg.clone()))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Refused::Malformed("the signature is not base64url"))?;
    let signed_len = token.rfind('.').unwrap_or(0);
    Ok(Unverified {
        alg,
        kid: header.kid,
        signed: &token[..signed_len],
        signature,
        payload,
    })
}

impl Unverified<'_> {
    /// The claims, if the signature verifies with the key of `keys` the
    /// header names.
    pub fn verify(&self, keys: &Jwks) -> Result<serde_json::Value, Refused> {
        let key = keys.find(self.kid.as_deref(), self.alg)?;
        check_signature(key, self.alg, self.signed.as_bytes(), &self.signature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(self.payload)
            .map_err(|_| Refused::Malformed("the payload is not base64url"))?;
        let claims: serde_json::Value = serde_json::from_slice(&payload)
            .map_err(|_| Refused::Malformed("the payload is not JSON"))?;
        if !claims.is_object() {
            return Err(Refused::Malformed("the payload is not a JSON object"));
        }
        Ok(claims)
    }
}

/// The claims of `token`, if it is signed by a key of `keys`. Claims are
/// not checked here: see [`super::claims`].
pub fn verify(token: &str, keys: &Jwks) -> Result<serde_json::Value, Refused> {
    parse(token)?.verify(keys)
}

fn check_signature(key: &Jwk, alg: Alg, signed: &[u8], sig: &[u8]) -> Result<(), Refused> {
    let verified = match (&key.material, alg) {
        (Material::Rsa { n, e }, _) => {
            let params: &signature::RsaParameters = match alg {
                Alg::Rs256 => &signature::RSA_PKCS1_2048_8192_SHA256,
                Alg::Rs384 => &signature::RSA_PKCS1_2048_8192_SHA384,
                Alg::Rs512 => &signature::RSA_PKCS1_2048_8192_SHA512,
                Alg::Ps256 => &signature::RSA_PSS_2048_8192_SHA256,
                Alg::Es256 | Alg::Es384 | Alg::EdDsa => return Err(mismatch(key, alg)),
            };
            RsaPublicKeyComponents { n, e }.verify(params, signed, sig)
        }
        (Material::P256(point), Alg::Es256) => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point).verify(signed, sig)
        }
        (Material::P384(point), Alg::Es384) => {
            UnparsedPublicKey::new(&signature::ECDSA_P384_SHA384_FIXED, point).verify(signed, sig)
        }
        (Material::Ed25519(x), Alg::EdDsa) => {
            UnparsedPublicKey::new(&signature::ED25519, x).verify(signed, sig)
        }
        _ => return Err(mismatch(key, alg)),
    };
    verified.map_err(|_| Refused::BadSignature)
}

fn mismatch(key: &Jwk, alg: Alg) -> Refused {
    Refused::KeyMismatch {
        kid: key.kid.clone().unwrap_or_default(),
        alg: alg.name().to_owned(),
        key_alg: key.describe(),
    }
}
