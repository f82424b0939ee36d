//! The forge section of the daemon config, checked before any post:
//! which forge, where its API is, which repository, where the token is.

use crate::source::SecretRef;
use serde::Deserialize;
use std::fmt;
use std::path::PathBuf;

/// Which forge API statuses are posted to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    /// GitHub.com or GitHub Enterprise Server.
    GitHub,
    /// GitLab.com or a self-managed GitLab.
    GitLab,
    /// Gitea, or Forgejo (same API).
    #[serde(alias = "forgejo")]
    Gitea,
    /// Bitbucket Cloud.
    Bitbucket,
}

impl ForgeKind {
    /// The name the sink gives itself in logs and errors.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            ForgeKind::GitHub => "github",
            ForgeKind::GitLab => "gitlab",
            ForgeKind::Gitea => "gitea",
            ForgeKind::Bitbucket => "bitbucket",
        }
    }

    /// The public API, when the forge has one lbops can assume.
    #[must_use]
    pub fn default_api_url(self) -> Option<&'static str> {
        match self {
            ForgeKind::GitHub => Some("https://api.github.com"),
            ForgeKind::GitLab => Some("https://gitlab.com/api/v4"),
            ForgeKind::Gitea => None,
            ForgeKind::Bitbucket => Some("https://api.bitbucket.org"),
        }
    }

    fn repository_form(self) -> &'static str {
        match self {
            ForgeKind::GitHub | ForgeKind::Gitea => "owner/repo",
            ForgeKind::GitLab => "group/project (subgroups allowed) or the numeric project id",
            ForgeKind::Bitbucket => "workspace/repo_slug",
        }
    }
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where commit statuses go on a forge; one per daemon config.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForgeConfig {
    pub kind: ForgeKind,
    /// The API base: `https://api.github.com` (GitHub Enterprise:
    /// `https://host/api/v3`), `https://gitlab.com/api/v4`, the Gitea or
    /// Forgejo site (`https://codeberg.org`), `https://api.bitbucket.org`.
    /// Required for Gitea; the others default to their public service.
    pub api_url: Option<String>,
    /// `owner/repo`, `group/project` or `workspace/slug`.
    pub repository: String,
    /// A file holding the token (exactly one of `token_file`, `token_env`).
    pub token_file: Option<PathBuf>,
    /// An environment variable holding the token.
    pub token_env: Option<String>,
    /// Bitbucket only: the Atlassian account's email for an Atlassian API
    /// token (or the username for an old app password), sent with the
    /// token as HTTP Basic auth. Without it the token is sent as a Bearer
    /// access token (a repository, project or workspace access token).
    #[serde(default)]
    pub email: Option<String>,
}

/// Why a forge config cannot be used; each says what to change.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ForgeConfigError {
    #[error("the {kind} status backend has no token; set token_file or token_env")]
    NoToken { kind: ForgeKind },
    #[error("the {kind} status backend has both token_file and token_env; keep one")]
    TwoTokens { kind: ForgeKind },
    #[error(
        "the {kind} status backend needs api_url, the site's address (e.g. https://codeberg.org)"
    )]
    NoApiUrl { kind: ForgeKind },
    #[error("api_url `{url}` is not an http(s) URL ({message}); give e.g. {example}")]
    BadApiUrl {
        url: String,
        message: String,
        example: &'static str,
    },
    #[error("repository `{repository}` is not in the form {form} for {kind}; use the name shown in the repository's URL")]
    BadRepository {
        kind: ForgeKind,
        repository: String,
        form: &'static str,
    },
    #[error("email is for Bitbucket's Atlassian API tokens; the {kind} status backend takes none, remove it")]
    EmailNotUsed { kind: ForgeKind },
    #[error("email `{email}` is not an account email or username; give the Atlassian account's email for an API token")]
    BadEmail { email: String },
    #[error("cannot set up the HTTP client for {kind}: {message}; this is a bug in lbops, please report it")]
    Client { kind: ForgeKind, message: String },
}

impl ForgeConfig {
    /// Where the token is read from at each post.
    pub fn token(&self) -> Result<SecretRef, ForgeConfigError> {
        let kind = self.kind;
        match (&self.token_file, &self.token_env) {
            (Some(path), None) => Ok(SecretRef::File(path.clone())),
            (None, Some(name)) if !name.is_empty() => Ok(SecretRef::Env(name.clone())),
            (None, _) => Err(ForgeConfigError::NoToken { kind }),
            (Some(_), Some(_)) => Err(ForgeConfigError::TwoTokens { kind }),
        }
    }

    /// The user for HTTP Basic auth (Bitbucket's API tokens), if any.
    pub fn basic_user(&self) -> Result<Option<String>, ForgeConfigError> {
        let kind = self.kind;
        match (&self.email, kind) {
            (None, _) => Ok(None),
            (Some(_), ForgeKind::GitHub | ForgeKind::GitLab | ForgeKind::Gitea) => {
                Err(ForgeConfigError::EmailNotUsed { kind })
            }
            (Some(email), ForgeKind::Bitbucket) => {
                let email = email.trim();
                let fits = !email.is_empty()
                    && !email.contains(':')
                    && email.chars().all(|c| c.is_ascii_graphic());
                match fits {
                    true => Ok(Some(email.to_owned())),
                    false => Err(ForgeConfigError::BadEmail {
                        email: email.to_owned(),
                    }),
                }
            }
        }
    }

    /// The API base without a trailing `/`.
    pub fn api(&self) -> Result<String, ForgeConfigError> {
        let kind = self.kind;
        let url = match (&self.api_url, kind.default_api_url()) {
            (Some(url), _) => url.trim().trim_end_matches('/').to_owned(),
            (None, Some(default)) => return Ok(default.to_owned()),
            (None, None) => return Err(ForgeConfigError::NoApiUrl { kind }),
        };
        let example = kind.default_api_url().unwrap_or("https://codeberg.org");
        let bad = |message: String| ForgeConfigError::BadApiUrl {
            url: url.clone(),
            message,
            example,
        };
        let parsed = reqwest::Url::parse(&url).map_err(|e| bad(e.to_string()))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
            return Err(bad("needs http:// or https:// and a host".into()));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(bad("has a query or fragment".into()));
        }
        Ok(url)
    }

    /// The repository's path segments, checked for this forge.
    pub fn segments(&self) -> Result<Vec<String>, ForgeConfigError> {
        let kind = self.kind;
        let repository = self.repository.trim().trim_matches('/');
        let segments: Vec<String> = repository.split('/').map(str::to_owned).collect();
        let plain = |s: &String| {
            !s.is_empty()
                && s != "."
                && s != ".."
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        let fits = segments.iter().all(plain)
            && match kind {
                ForgeKind::GitLab => {
                    segments.len() >= 2 || segments[0].chars().all(|c| c.is_ascii_digit())
                }
                _ => segments.len() == 2,
            };
        if !fits {
            return Err(ForgeConfigError::BadRepository {
                kind,
                repository: self.repository.clone(),
                form: kind.repository_form(),
            });
        }
        Ok(segments)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(yaml_like: serde_json::Value) -> Result<ForgeConfig, serde_json::Error> {
        serde_json::from_value(yaml_like)
    }

    #[test]
    fn kinds_and_unknown_fields() {
        let c = config(serde_json::json!({
            "kind": "forgejo", "api_url": "https://codeberg.org/",
            "repository": "o/r", "token_env": "T"
        }))
        .unwrap();
        assert_eq!(c.kind, ForgeKind::Gitea);
        assert_eq!(c.api().unwrap(), "https://codeberg.org");
        assert_eq!(c.token().unwrap(), SecretRef::Env("T".into()));
        let typo = config(serde_json::json!({
            "kind": "github", "repository": "o/r", "token": "x"
        }));
        assert!(typo
            .unwrap_err()
            .to_string()
            .contains("unknown field `token`"));
        let kind = config(serde_json::json!({"kind": "GitHub", "repository": "o/r"}));
        assert!(kind.is_err());
    }

    #[test]
    fn every_problem_says_what_to_change() {
        let base = ForgeConfig {
            kind: ForgeKind::GitHub,
            api_url: None,
            repository: "o/r".into(),
            token_file: None,
            token_env: None,
            email: None,
        };
        assert_eq!(base.api().unwrap(), "https://api.github.com");
        assert!(matches!(
            base.token(),
            Err(ForgeConfigError::NoToken { .. })
        ));
        let both = ForgeConfig {
            token_file: Some("/t".into()),
            token_env: Some("T".into()),
            ..base.clone()
        };
        assert!(matches!(
            both.token(),
            Err(ForgeConfigError::TwoTokens { .. })
        ));
        let gitea = ForgeConfig {
            kind: ForgeKind::Gitea,
            ..base.clone()
        };
        assert!(gitea
            .api()
            .unwrap_err()
            .to_string()
            .contains("needs api_url"));
        for url in ["ftp://x", "not a url", "https://x/?q=1"] {
            let c = ForgeConfig {
                api_url: Some(url.into()),
                ..base.clone()
            };
            let e = c.api().unwrap_err().to_string();
            assert!(e.contains("https://api.github.com"), "{e}");
        }
        for repo in ["o", "o/r/x", "o/", "o/r r", "../r", "o/.."] {
            let c = ForgeConfig {
                repository: repo.into(),
                ..base.clone()
            };
            let e = c.segments().unwrap_err().to_string();
            assert!(e.contains("owner/repo"), "{repo}: {e}");
        }
    }

    #[test]
    fn gitlab_takes_subgroups_and_numeric_ids() {
        let c = |repo: &str| ForgeConfig {
            kind: ForgeKind::GitLab,
            api_url: None,
            repository: repo.into(),
            token_file: None,
            token_env: Some("T".into()),
            email: None,
        };
        assert_eq!(c("g/s/p").segments().unwrap(), ["g", "s", "p"]);
        assert_eq!(c("4242").segments().unwrap(), ["4242"]);
        assert!(c("p").segments().is_err());
    }

    #[test]
    fn an_email_is_for_bitbucket_only() {
        let c = |kind, email: &str| ForgeConfig {
            kind,
            api_url: None,
            repository: "w/r".into(),
            token_file: None,
            token_env: Some("T".into()),
            email: Some(email.into()),
        };
        assert_eq!(
            c(ForgeKind::Bitbucket, " ops@acme.test ").basic_user(),
            Ok(Some("ops@acme.test".into()))
        );
        assert_eq!(
            c(ForgeKind::GitHub, "ops@acme.test").basic_user(),
            Err(ForgeConfigError::EmailNotUsed {
                kind: ForgeKind::GitHub
            })
        );
        for bad in ["", "a:b", "a b"] {
            assert!(c(ForgeKind::Bitbucket, bad).basic_user().is_err(), "{bad}");
        }
    }
}
