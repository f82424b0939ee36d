//! Who wrote a commit: its signature verified in-process against the keys
//! the trusted policy lists.
//!
//! [`Keyring::from_policy`] parses the keys of the trusted policy once;
//! [`Keyring::identify`] then checks one commit: its SSH (`sshsig`,
//! namespace `git`) or OpenPGP signature must verify over the exact signed
//! bytes with a listed key, and the commit's emails must belong to that
//! key's holder. Anything else is a [`NoIdentity`] that says what to do.
//! [`Keyring::bootstrap`] does the same for the daemon config's admin keys,
//! before any policy is trusted.

mod api;
mod error;
mod keyring;
mod openpgp;
mod principal;
mod ssh;
pub mod token;

#[cfg(test)]
mod api_tests;
#[cfg(test)]
mod tests;

pub use api::{ApiKey, ApiKeyError, ApiVerified, ApiVia};
pub use error::{BootstrapKeyError, DisabledReason, KeyStatusSource, NoIdentity};
pub use keyring::Keyring;
pub use principal::Principal;
pub use token::{authenticate, TokenCaller, TokenRefused};

use crate::spec::material::KeyFormat;
use serde::{Serialize, Serializer};

/// What git gives us about one commit.
#[derive(Clone, Debug)]
pub struct CommitEvidence {
    /// The commit sha, for messages.
    pub id: String,
    pub author_email: String,
    pub committer_email: String,
    /// The `gpgsig` header's text (git2 `Repository::extract_signature`
    /// first half); `None` when unsigned.
    pub signature: Option<Vec<u8>>,
    /// Exactly the signed bytes: the commit object without the gpgsig
    /// header (`extract_signature` second half).
    pub signed_data: Vec<u8>,
}

/// A commit whose signature verified with a listed key of `principal`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verified {
    pub principal: Principal,
    /// Serialized as `"ssh"` or `"openpgp"`.
    #[serde(serialize_with = "key_format_name")]
    pub key_format: KeyFormat,
    /// The listed key's fingerprint as the user's tools print it: SSH
    /// `SHA256:…` (`ssh-keygen -lf`); OpenPGP the PRIMARY key's uppercase hex
    /// fingerprint (`gpg --fingerprint`), also when a subkey signed.
    pub fingerprint: String,
}

fn key_format_name<S: Serializer>(format: &KeyFormat, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match format {
        KeyFormat::Ssh => "ssh",
        KeyFormat::OpenPgp => "openpgp",
    })
}

/// Who a commit claims to be from, taken at its word: only when the
/// daemon config turns signature checks off (a demo), never otherwise.
/// The first User, then ServiceAccount, listing the author email wins.
pub fn claimed(
    policy: &crate::spec::Catalog,
    commit: &CommitEvidence,
) -> Result<Principal, NoIdentity> {
    let email = crate::spec::units::canonical_email(&commit.author_email).ok();
    let lists = |emails: &[crate::spec::yaml::Spanned<String>]| {
        emails
            .iter()
            .any(|e| email.is_some() && crate::spec::units::canonical_email(&e.value).ok() == email)
    };
    policy
        .users
        .values()
        .find(|u| lists(&u.spec.emails))
        .map(|u| Principal::User(u.name.clone()))
        .or_else(|| {
            policy
                .service_accounts
                .values()
                .find(|a| lists(&a.spec.emails))
                .map(|a| Principal::ServiceAccount(a.name.clone()))
        })
        .ok_or_else(|| NoIdentity::UnknownAuthor {
            commit: commit.id.clone(),
            author_email: commit.author_email.clone(),
        })
}
