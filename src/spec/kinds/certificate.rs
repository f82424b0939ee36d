//! `Certificate`: a public chain kept in git, its private key only by reference.

use crate::spec::yaml::Spanned;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CertificateSpec {
    /// The PEM chain, leaf first, inline.
    pub chain: Option<Spanned<String>>,
    /// Or a path to the PEM chain, relative to this YAML file.
    pub chain_file: Option<Spanned<String>>,
    /// Where the private key lives; never in the repository.
    pub private_key: Spanned<KeyRef>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyRef {
    /// An absolute path on the machine that terminates TLS.
    File(String),
    /// The name of an environment variable holding the PEM key.
    Env(String),
    /// An identifier in the provider's certificate store (e.g. an ACM ARN).
    Provider(String),
}
