//! OIDC sign-in at the daemon's edge: the config, the identity
//! provider's discovery document and keys fetched over HTTP, browser
//! sessions, and the `/auth/…` routes. What is decided about a token or
//! a person is [`crate::idp::oidc`]'s, pure; this is the I/O around it.

pub mod config;

pub use config::{OidcConfig, Page, SignInRequired};
