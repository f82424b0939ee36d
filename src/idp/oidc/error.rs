//! Why a token (or a provider's key set) is refused. None of these holds
//! the token, its signature or a secret: only what a person may be told.

/// A refused token, or a key set that cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the token is longer than {max} bytes; send the identity provider's access or ID token as issued")]
    TooLarge { max: usize },
    #[error("not a signed JWT ({0}); send the identity provider's access or ID token as issued")]
    Malformed(&'static str),
    #[error("the token's algorithm `{0}` is not accepted; lbops accepts RS256, RS384, RS512, PS256, ES256, ES384 and EdDSA (never `none` or HMAC)")]
    Algorithm(String),
    #[error("no key of the identity provider has id `{0}` (even after fetching its keys again); sign in again, or check that lbops' `oidc.issuer` is the provider that issued the token")]
    UnknownKey(String),
    #[error("the token names no key id and the identity provider publishes several keys for its algorithm")]
    AmbiguousKey,
    #[error("the key `{kid}` is for {key_alg}, not for the token's {alg}")]
    KeyMismatch {
        kid: String,
        alg: String,
        key_alg: String,
    },
    #[error("the signature does not verify with the identity provider's key")]
    BadSignature,
    #[error("the token was issued by `{found}`, not by the configured issuer `{expected}`")]
    WrongIssuer { found: String, expected: String },
    #[error(
        "the token is not for lbops (audience {found:?}); request it for client id {expected:?}"
    )]
    WrongAudience {
        found: Vec<String>,
        expected: Vec<String>,
    },
    #[error("the token expired at unix time {exp}; sign in again")]
    Expired { exp: i64 },
    #[error("the token is not valid before unix time {nbf}; check the clocks of lbops and the identity provider")]
    NotYetValid { nbf: i64 },
    #[error("the token was issued in the future (unix time {iat}); check the clocks of lbops and the identity provider")]
    IssuedInFuture { iat: i64 },
    #[error("the token lacks the `{0}` claim (or it has the wrong type)")]
    MissingClaim(&'static str),
    #[error("the ID token's nonce is not the one this sign-in sent; start the sign-in again")]
    WrongNonce,
    #[error("the identity provider's key set is unusable: {0}")]
    BadKeySet(String),
}

impl Refused {
    /// A stable, machine-readable code for logs, audit records and API errors.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Refused::TooLarge { .. } => "oidc_token_too_large",
            Refused::Malformed(_) => "oidc_token_malformed",
            Refused::Algorithm(_) => "oidc_algorithm",
            Refused::UnknownKey(_) => "oidc_unknown_key",
            Refused::AmbiguousKey => "oidc_ambiguous_key",
            Refused::KeyMismatch { .. } => "oidc_key_mismatch",
            Refused::BadSignature => "oidc_bad_signature",
            Refused::WrongIssuer { .. } => "oidc_wrong_issuer",
            Refused::WrongAudience { .. } => "oidc_wrong_audience",
            Refused::Expired { .. } => "oidc_expired",
            Refused::NotYetValid { .. } => "oidc_not_yet_valid",
            Refused::IssuedInFuture { .. } => "oidc_issued_in_future",
            Refused::MissingClaim(_) => "oidc_missing_claim",
            Refused::WrongNonce => "oidc_wrong_nonce",
            Refused::BadKeySet(_) => "oidc_bad_key_set",
        }
    }
}
