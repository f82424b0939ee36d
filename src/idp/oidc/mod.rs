//! OpenID Connect, the pure part: what the daemon's sign-in and its
//! bearer check need to decide, as functions over values. No clock, no
//! network, no randomness of its own: the daemon's edge
//! (`daemon::oidc`) fetches discovery and keys, keeps sessions and calls
//! these.
//!
//! * [`jwks`]: the provider's published keys, bounded, each tied to the
//!   one algorithm it may verify;
//! * [`jwt`]: a compact JWS checked against those keys (no `none`, no
//!   HMAC, the key's type must fit the algorithm);
//! * [`claims`]: `iss`, `aud`, `exp`, `nbf`, `iat`, `nonce` with a bounded
//!   clock skew;
//! * [`person`]: who a verified person is in git — a `User` found by a
//!   verified email or a configured claim, or nobody — and whether the
//!   directory (SCIM) took them away;
//! * [`pkce`]: the S256 code challenge, and state and nonce values;
//! * [`Refused`]: every reason a token is refused, with a stable code.
//!
//! The rule these serve: the identity provider proves who a person is and
//! can take access away, never grant it; grants live only in git.

pub mod claims;
mod error;
pub mod jwks;
pub mod jwt;
pub mod person;
pub mod pkce;

#[cfg(test)]
mod tests;

pub use claims::{Expected, IdClaims};
pub use error::Refused;
pub use jwks::{Jwks, MAX_JWKS_BYTES, MAX_KEYS};
pub use jwt::{verify, MAX_JWT_BYTES};
pub use person::{to_user, Mapping, NotInGit, Person};
