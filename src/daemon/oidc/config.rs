//! The `oidc:` section of the daemon config: typed, every choice an
//! enum, the client secret by reference (a file or an environment
//! variable, never in the config itself).

use crate::idp::oidc::Mapping;
use crate::source::SecretRef;
use crate::spec::units::Dur;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Scopes asked for when the config names none: who the person is and
/// their (verified) email.
pub const DEFAULT_SCOPES: [&str; 3] = ["openid", "email", "profile"];
/// How long a session lives at most, whatever its use: a working day.
pub const DEFAULT_SESSION_LIFETIME: Duration = Duration::from_secs(8 * 3600);
/// How long a session lives without a request.
pub const DEFAULT_SESSION_IDLE: Duration = Duration::from_secs(30 * 60);
/// The clock difference allowed with the identity provider.
pub const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);

/// OIDC sign-in, checked.
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// The issuer URL; discovery is `{issuer}/.well-known/openid-configuration`.
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    pub scopes: Vec<String>,
    pub mapping: Mapping,
    /// Audiences a bearer token may carry besides the client id (an
    /// access token's API audience, e.g. Okta's `api://default`).
    pub audiences: Vec<String>,
    /// Where browsers reach the daemon, e.g. `https://lbops.example.com`;
    /// the redirect URI is `{public_url}/auth/callback`. `https://` makes
    /// the session cookie `Secure` and `__Host-`.
    pub public_url: String,
    pub require_sign_in: SignInRequired,
    /// Whether a person the provider vouches for but who is no User in
    /// git may view the pages that need sign-in (never change anything).
    pub allow_viewers: bool,
    pub clock_skew: Duration,
    pub session_lifetime: Duration,
    pub session_idle: Duration,
}

impl OidcConfig {
    /// The redirect URI to register with the identity provider.
    #[must_use]
    pub fn redirect_uri(&self) -> String {
        format!("{}/auth/callback", self.public_url)
    }

    /// Whether browsers reach the daemon over TLS (a proxy in front).
    #[must_use]
    pub fn secure(&self) -> bool {
        self.public_url.starts_with("https://")
    }
}

/// Which pages need a signed-in person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SignInRequired {
    /// Every page (the probes `/healthz` and `/readyz` never need one).
    All,
    Pages(Vec<Page>),
}

impl SignInRequired {
    #[must_use]
    pub fn covers(&self, page: Page) -> bool {
        match self {
            SignInRequired::All => true,
            SignInRequired::Pages(pages) => pages.contains(&page),
        }
    }
}

/// A page that may need sign-in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Page {
    /// `/`: the recent commits.
    Index,
    /// `/commits/{sha}`.
    Commits,
    /// `/tokens`.
    Tokens,
    /// `/metrics`.
    Metrics,
    /// `/estate`: needs sign-in whenever OIDC is configured, as reading
    /// it needs `state.read`.
    Estate,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OidcFile {
    issuer: String,
    client_id: String,
    client_secret_file: Option<PathBuf>,
    client_secret_env: Option<String>,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    map_by: MapByFile,
    #[serde(default)]
    audiences: Vec<String>,
    public_url: String,
    #[serde(default)]
    require_sign_in: RequireFile,
    #[serde(default)]
    allow_viewers: bool,
    clock_skew: Option<Dur>,
    session_lifetime: Option<Dur>,
    session_idle: Option<Dur>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum MapByFile {
    /// `map_by: email`
    #[default]
    #[serde(skip)]
    Email,
    Word(String),
    Claim {
        claim: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(untagged)]
enum RequireFile {
    #[default]
    #[serde(skip)]
    All,
    Word(String),
    Pages(Vec<Page>),
}

type Problem = (Vec<&'static str>, String);

fn url_ok(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() <= 2048
        && !url.chars().any(|c| c.is_whitespace() || c.is_control())
}

impl OidcFile {
    pub(crate) fn resolve_paths(&mut self, fix: impl Fn(&mut PathBuf)) {
        if let Some(p) = &mut self.client_secret_file {
            fix(p);
        }
    }

    pub(crate) fn check(self, problems: &mut Vec<Problem>) -> Option<OidcConfig> {
        let before = problems.len();
        let issuer = self.issuer.trim_end_matches('/').to_owned();
        if !url_ok(&issuer) {
            problems.push((vec!["oidc", "issuer"], "the identity provider's issuer URL, e.g. `https://example.okta.com/oauth2/default`".into()));
        }
        let public_url = self.public_url.trim_end_matches('/').to_owned();
        if !url_ok(&public_url) {
            problems.push((vec!["oidc", "public_url"], "where browsers reach lbops, e.g. `https://lbops.example.com`; the redirect URI is that plus `/auth/callback`".into()));
        }
        if self.client_id.is_empty() || self.client_id.len() > 255 {
            problems.push((
                vec!["oidc", "client_id"],
                "the client (application) id the identity provider gave lbops".into(),
            ));
        }
        let client_secret = match (self.client_secret_file, self.client_secret_env) {
            (Some(file), None) => Some(SecretRef::File(file)),
            (None, Some(env)) => Some(SecretRef::Env(env)),
            _ => {
                problems.push((vec!["oidc"], "give exactly one of `client_secret_file` or `client_secret_env`: the client secret the identity provider gave lbops".into()));
                None
            }
        };
        let mut scopes = self.scopes;
        if scopes.is_empty() {
            scopes = DEFAULT_SCOPES.iter().map(|s| (*s).to_owned()).collect();
        }
        if !scopes.iter().any(|s| s == "openid")
            || scopes
                .iter()
                .any(|s| s.is_empty() || s.chars().any(|c| c.is_whitespace() || c.is_control()))
        {
            problems.push((
                vec!["oidc", "scopes"],
                "scopes are single words and include `openid`, e.g. `[openid, email, profile]`"
                    .into(),
            ));
        }
        let mapping = match self.map_by {
            MapByFile::Email => Some(Mapping::VerifiedEmail),
            MapByFile::Word(word) if word == "email" => Some(Mapping::VerifiedEmail),
            MapByFile::Claim { claim } if !claim.is_empty() && claim.len() <= 64 => {
                Some(Mapping::Claim(claim))
            }
            MapByFile::Word(_) | MapByFile::Claim { .. } => {
                problems.push((vec!["oidc", "map_by"], "`email` (a verified email claim against the Users' emails) or `{claim: NAME}` (that claim's value is the User's name)".into()));
                None
            }
        };
        let require_sign_in = match self.require_sign_in {
            RequireFile::All => SignInRequired::All,
            RequireFile::Word(word) if word == "all" => SignInRequired::All,
            RequireFile::Pages(pages) => SignInRequired::Pages(pages),
            RequireFile::Word(_) => {
                problems.push((
                    vec!["oidc", "require_sign_in"],
                    "`all`, or a list of pages from `index`, `commits`, `tokens`, `metrics`, `estate`".into(),
                ));
                SignInRequired::All
            }
        };
        let skew = self.clock_skew.map_or(DEFAULT_CLOCK_SKEW, |d| d.0);
        if skew.as_secs() > crate::idp::oidc::claims::MAX_SKEW_SECONDS as u64 {
            problems.push((
                vec!["oidc", "clock_skew"],
                "at most 5m: beyond that an expired token is not early, it is expired".into(),
            ));
        }
        let lifetime = self
            .session_lifetime
            .map_or(DEFAULT_SESSION_LIFETIME, |d| d.0);
        let idle = self.session_idle.map_or(DEFAULT_SESSION_IDLE, |d| d.0);
        if lifetime.is_zero() || idle.is_zero() || lifetime > Duration::from_secs(7 * 24 * 3600) {
            problems.push((
                vec!["oidc", "session_lifetime"],
                "sessions are short-lived: a lifetime and idle time above 0s, the lifetime at most 7d"
                    .into(),
            ));
        }
        if problems.len() > before {
            return None;
        }
        Some(OidcConfig {
            issuer,
            client_id: self.client_id,
            client_secret: client_secret?,
            scopes,
            mapping: mapping?,
            audiences: self.audiences,
            public_url,
            require_sign_in,
            allow_viewers: self.allow_viewers,
            clock_skew: skew,
            session_lifetime: lifetime,
            session_idle: idle,
        })
    }
}
