//! Who a verified commit (or API call) speaks for.

use crate::spec::units::Name;
use serde::Serialize;
use std::fmt;

/// A verified identity. Only `identity` creates these, and only from a
/// signature that verified with a key the trusted policy (or the daemon's
/// bootstrap trust) lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(tag = "kind", content = "name", rename_all = "snake_case")]
pub enum Principal {
    /// A `User` of the trusted policy.
    User(Name),
    /// A `ServiceAccount` of the trusted policy (e.g. a forge's web-commit key).
    ServiceAccount(Name),
    /// A key named by the daemon config's bootstrap trust; allowed
    /// everything, and only used before any policy is trusted.
    BootstrapAdmin {
        /// The key's fingerprint, as `ssh-keygen -lf` or `gpg --fingerprint` prints it.
        fingerprint: String,
    },
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Principal::User(name) => write!(f, "user/{name}"),
            Principal::ServiceAccount(name) => write!(f, "serviceaccount/{name}"),
            Principal::BootstrapAdmin { fingerprint } => write!(f, "bootstrap admin {fingerprint}"),
        }
    }
}
