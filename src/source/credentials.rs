//! Credentials for fetching a remote repository. They are read at the
//! moment of use from a file or an environment variable, never kept in
//! the daemon config itself, and never shown: `Debug` prints only where a
//! secret comes from.

use std::fmt;
use std::path::PathBuf;

/// Where a secret is read from.
#[derive(Clone, PartialEq, Eq)]
pub enum SecretRef {
    /// A file holding the secret (trailing whitespace trimmed), e.g. a
    /// systemd credential or a mounted Kubernetes secret.
    File(PathBuf),
    /// An environment variable of the lbops process.
    Env(String),
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretRef::File(path) => write!(f, "file {}", path.display()),
            SecretRef::Env(name) => write!(f, "env ${name}"),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A secret read from a [`SecretRef`]. Its `Debug` is redacted so that it
/// cannot end up in a log line by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for the one call that needs it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretError {
    #[error(
        "cannot read the secret from {0}: {1}; create it (mode 0600) or point the config elsewhere"
    )]
    Unreadable(SecretRef, String),
    #[error("the secret from {0} is empty; put the token or passphrase in it")]
    Empty(SecretRef),
}

impl SecretRef {
    /// Reads the secret now.
    pub fn read(&self) -> Result<Secret, SecretError> {
        let raw = match self {
            SecretRef::File(path) => std::fs::read_to_string(path)
                .map_err(|e| SecretError::Unreadable(self.clone(), e.kind().to_string()))?,
            SecretRef::Env(name) => std::env::var(name)
                .map_err(|e| SecretError::Unreadable(self.clone(), e.to_string()))?,
        };
        let value = raw.trim_end_matches(['\r', '\n', ' ', '\t']);
        if value.is_empty() {
            return Err(SecretError::Empty(self.clone()));
        }
        Ok(Secret(value.to_owned()))
    }
}

/// How lbops authenticates to a remote repository.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    /// HTTPS with a token as the password (GitHub, GitLab, Gitea and
    /// Bitbucket all accept this with a fixed user name).
    Token { username: String, token: SecretRef },
    /// SSH with a private key file (and an optional passphrase).
    SshKey {
        username: String,
        private_key: PathBuf,
        passphrase: Option<SecretRef>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_shows_in_debug() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "ghp_notreallyatoken\n").unwrap();
        let secret = SecretRef::File(path.clone()).read().unwrap();
        assert_eq!(secret.expose(), "ghp_notreallyatoken");
        assert!(!format!("{secret:?}").contains("ghp_"));
        let creds = Credentials::Token {
            username: "x-access-token".into(),
            token: SecretRef::File(path),
        };
        assert!(!format!("{creds:?}").contains("ghp_"));
    }

    #[test]
    fn missing_and_empty_secrets_say_where_they_were_looked_for() {
        let dir = tempfile::tempdir().unwrap();
        let missing = SecretRef::File(dir.path().join("nope"));
        let err = missing.read().unwrap_err().to_string();
        assert!(err.contains("nope") && err.contains("create it"), "{err}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = SecretRef::File(empty).read().unwrap_err();
        assert!(matches!(err, SecretError::Empty(_)));
        let err = SecretRef::Env("LBOPS_TEST_SURELY_UNSET_VAR".into())
            .read()
            .unwrap_err();
        assert!(err.to_string().contains("$LBOPS_TEST_SURELY_UNSET_VAR"));
    }
}
