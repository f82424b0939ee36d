//! The identity provider's signing keys (its `jwks_uri` document),
//! bounded: at most [`MAX_KEYS`] keys from at most [`MAX_JWKS_BYTES`].
//! Each key is tied to the algorithms its type can verify, so a token
//! cannot pick an algorithm the key was not made for (the "HMAC with the
//! public key" forgery has no key to use here at all).

use super::Refused;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Deserialize;

/// The largest key set document lbops reads.
pub const MAX_JWKS_BYTES: usize = 256 * 1024;
/// The most keys lbops keeps of one key set.
pub const MAX_KEYS: usize = 100;

/// A signature algorithm lbops accepts. HMAC (`HS*`) and `none` are not
/// here: a token naming them is refused before any key is looked at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Es256,
    Es384,
    EdDsa,
}

impl Alg {
    /// The algorithm a JOSE `alg` names, if lbops accepts it.
    #[must_use]
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "EdDSA" => Alg::EdDsa,
            _ => return None,
        })
    }

    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Rs384 => "RS384",
            Alg::Rs512 => "RS512",
            Alg::Ps256 => "PS256",
            Alg::Es256 => "ES256",
            Alg::Es384 => "ES384",
            Alg::EdDsa => "EdDSA",
        }
    }
}

/// A public key's material, by type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Material {
    /// Big-endian modulus and exponent.
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point `0x04 || x || y`.
    P256(Vec<u8>),
    P384(Vec<u8>),
    Ed25519(Vec<u8>),
}

impl Material {
    /// Whether this key may verify `alg`.
    #[must_use]
    pub fn fits(&self, alg: Alg) -> bool {
        matches!(
            (self, alg),
            (
                Material::Rsa { .. },
                Alg::Rs256 | Alg::Rs384 | Alg::Rs512 | Alg::Ps256
            ) | (Material::P256(_), Alg::Es256)
                | (Material::P384(_), Alg::Es384)
                | (Material::Ed25519(_), Alg::EdDsa)
        )
    }

    fn kind(&self) -> &'static str {
        match self {
            Material::Rsa { .. } => "RSA",
            Material::P256(_) => "EC P-256",
            Material::P384(_) => "EC P-384",
            Material::Ed25519(_) => "Ed25519",
        }
    }
}

/// One usable signing key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Jwk {
    pub kid: Option<String>,
    /// The key's own `alg`, when it names one: then only that one.
    pub alg: Option<Alg>,
    pub material: Material,
}

impl Jwk {
    /// Whether this key may verify a token signed with `alg`.
    #[must_use]
    pub fn allows(&self, alg: Alg) -> bool {
        self.material.fits(alg) && self.alg.is_none_or(|own| own == alg)
    }

    /// What the key is for, for messages.
    #[must_use]
    pub fn describe(&self) -> String {
        match self.alg {
            Some(alg) => alg.name().to_owned(),
            None => self.material.kind().to_owned(),
        }
    }
}

/// A key set: the usable signing keys of one document.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Document {
    keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
struct RawKey {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    usage: Option<String>,
    crv: Option<String>,
    n: Option<String>,
    e: Option<String>,
    x: Option<String>,
    y: Option<String>,
}

impl Jwks {
    /// The signing keys of a `jwks_uri` document. Keys lbops cannot use
    /// (encryption keys, symmetric keys, other curves, an `alg` it does
    /// not accept) are left out rather than refused: providers publish
    /// such keys beside their signing keys.
    pub fn parse(body: &[u8]) -> Result<Jwks, Refused> {
        if body.len() > MAX_JWKS_BYTES {
            return Err(Refused::BadKeySet(format!(
                "the document is longer than {MAX_JWKS_BYTES} bytes"
            )));
        }
        let document: Document = serde_json::from_slice(body)
            .map_err(|e| Refused::BadKeySet(format!("not a JWK set: {e}")))?;
        if document.keys.len() > MAX_KEYS {
            return Err(Refused::BadKeySet(format!(
                "{} keys, more than the {MAX_KEYS} lbops reads",
                document.keys.len()
            )));
        }
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<RawKey>(value).ok())
            .filter_map(usable)
            .collect();
        Ok(Jwks { keys })
    }

    /// The key that may verify a token with header `kid` and `alg`: the
    /// key with that id, or — when the token names no id — the only key
    /// fit for the algorithm.
    pub fn find(&self, kid: Option<&str>, alg: Alg) -> Result<&Jwk, Refused> {
        match kid {
            Some(kid) => {
                let key = self
                    .keys
                    .iter()
                    .find(|k| k.kid.as_deref() == Some(kid))
                    .ok_or_else(|| Refused::UnknownKey(kid.to_owned()))?;
                if !key.allows(alg) {
                    return Err(Refused::KeyMismatch {
                        kid: kid.to_owned(),
                        alg: alg.name().to_owned(),
                        key_alg: key.describe(),
                    });
                }
                Ok(key)
            }
            None => {
                let mut fit = self.keys.iter().filter(|k| k.allows(alg));
                match (fit.next(), fit.next()) {
                    (Some(key), None) => Ok(key),
                    (None, _) => Err(Refused::UnknownKey("(none named)".to_owned())),
                    (Some(_), Some(_)) => Err(Refused::AmbiguousKey),
                }
            }
        }
    }
}

/// The key a raw JWK stands for, if lbops can verify signatures with it.
fn usable(raw: RawKey) -> Option<Jwk> {
    if raw.usage.as_deref().is_some_and(|u| u != "sig") {
        return None;
    }
    let alg = match raw.alg.as_deref() {
        None => None,
        Some(name) => Some(Alg::parse(name)?),
    };
    let bytes = |field: &Option<String>| URL_SAFE_NO_PAD.decode(field.as_deref()?).ok();
    let material = match (raw.kty.as_str(), raw.crv.as_deref()) {
        ("RSA", _) => Material::Rsa {
            n: bytes(&raw.n)?,
            e: bytes(&raw.e)?,
        },
        ("EC", Some(crv @ ("P-256" | "P-384"))) => {
            let (x, y) = (bytes(&raw.x)?, bytes(&raw.y)?);
            let size = if crv == "P-256" { 32 } else { 48 };
            if x.len() != size || y.len() != size {
                return None;
            }
            let point = [&[4u8][..], &x, &y].concat();
            if crv == "P-256" {
                Material::P256(point)
            } else {
                Material::P384(point)
            }
        }
        ("OKP", Some("Ed25519")) => Material::Ed25519(bytes(&raw.x)?),
        _ => return None,
    };
    let key = Jwk {
        kid: raw.kid,
        alg,
        material,
    };
    // A key whose own `alg` does not fit its type verifies nothing.
    key.alg.is_none_or(|a| key.material.fits(a)).then_some(key)
}
