//! The identity provider over HTTP: its discovery document, its keys
//! (cached, fetched again when a token names a key lbops has not seen —
//! the provider rotated — at most once per [`MIN_REFETCH`]), and the
//! authorization-code exchange. Every request is time-bound and every
//! answer size-bound; nothing here logs a secret, a code or a token.

use super::OidcConfig;
use crate::idp::oidc::{self, claims, Expected, IdClaims, Jwks, Refused};
use crate::source::Secret;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The largest discovery document lbops reads.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;
/// The largest token endpoint answer lbops reads.
pub const MAX_TOKEN_RESPONSE_BYTES: usize = 64 * 1024;
/// How long one request to the provider may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Keys are fetched again on an unknown key id at most this often, so
/// that tokens naming invented ids cannot make lbops hammer the provider.
pub const MIN_REFETCH: Duration = Duration::from_secs(5);
/// Keys older than this are fetched again on their next use.
pub const MAX_KEY_AGE: Duration = Duration::from_secs(3600);

/// Why the provider could not be asked.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the identity provider at {url} did not answer: {reason}; check `oidc.issuer` and that lbops can reach it")]
    Unreachable { url: String, reason: String },
    #[error("the identity provider's {what} is unusable: {reason}")]
    Bad { what: &'static str, reason: String },
    #[error("the identity provider refused the sign-in code ({0}); start the sign-in again")]
    CodeRefused(String),
}

/// The endpoints discovery names.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub end_session_endpoint: Option<String>,
}

struct Keys {
    jwks: Jwks,
    fetched: Instant,
}

/// One identity provider, as the config names it.
pub struct Provider {
    config: Arc<OidcConfig>,
    secret: Secret,
    http: reqwest::Client,
    discovery: Mutex<Option<Arc<Discovery>>>,
    keys: Mutex<Option<Keys>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.config.issuer)
            .finish_non_exhaustive()
    }
}

/// Why a presented token identifies nobody: refused, or the provider
/// could not be asked for its keys.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Refused(#[from] Refused),
    #[error(transparent)]
    Provider(#[from] ProviderError),
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

impl Provider {
    pub fn new(config: Arc<OidcConfig>, secret: Secret) -> Result<Provider, ProviderError> {
        crate::report::forge::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("lbops/", env!("CARGO_PKG_VERSION")))
            // The provider's endpoints answer directly; a redirect is a
            // misconfiguration, not something to follow with a secret.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .connect_timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ProviderError::Bad {
                what: "HTTP client",
                reason: e.to_string(),
            })?;
        Ok(Provider {
            config,
            secret,
            http,
            discovery: Mutex::new(None),
            keys: Mutex::new(None),
        })
    }

    #[must_use]
    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The discovery document, fetched once and kept.
    pub async fn discovery(&self) -> Result<Arc<Discovery>, ProviderError> {
        let mut cached = self.discovery.lock().await;
        if let Some(found) = cached.as_ref() {
            return Ok(found.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.config.issuer);
        let body = self.get(&url, MAX_DISCOVERY_BYTES).await?;
        let found: Discovery = serde_json::from_slice(&body).map_err(|e| ProviderError::Bad {
            what: "discovery document",
            reason: e.to_string(),
        })?;
        // OIDC Discovery §4.3: the document's issuer is the one configured.
        if found.issuer.trim_end_matches('/') != self.config.issuer {
            return Err(ProviderError::Bad {
                what: "discovery document",
                reason: format!(
                    "it names issuer `{}`, not the configured `{}`",
                    found.issuer, self.config.issuer
                ),
            });
        }
        let found = Arc::new(found);
        *cached = Some(found.clone());
        Ok(found)
    }

    /// The claims of `token` (a bearer, or with `nonce` a sign-in's ID
    /// token), if it is signed by the provider and meant for lbops now.
    pub async fn check(
        &self,
        token: &str,
        now: i64,
        nonce: Option<&str>,
    ) -> Result<IdClaims, TokenError> {
        let unverified = oidc::jwt::parse(token)?;
        let verified = match self.with_keys(false, |k| unverified.verify(k)).await? {
            Err(Refused::UnknownKey(_)) => self.with_keys(true, |k| unverified.verify(k)).await?,
            other => other,
        }?;
        let issuer = self.discovery().await?.issuer.clone();
        let mut audiences = vec![self.config.client_id.clone()];
        audiences.extend(self.config.audiences.iter().cloned());
        let expected = Expected {
            issuer: &issuer,
            audiences: &audiences,
            now,
            skew: i64::try_from(self.config.clock_skew.as_secs()).unwrap_or(60),
            nonce,
        };
        Ok(claims::check(verified, &expected)?)
    }

    /// Runs `f` with the keys: fetched first when there are none, when
    /// they are old, or when `refetch` asks and the last fetch is not too
    /// recent.
    async fn with_keys<T>(
        &self,
        refetch: bool,
        f: impl FnOnce(&Jwks) -> T,
    ) -> Result<T, ProviderError> {
        let mut keys = self.keys.lock().await;
        let stale = match keys.as_ref() {
            None => true,
            Some(k) => {
                let age = k.fetched.elapsed();
                age > MAX_KEY_AGE || (refetch && age >= MIN_REFETCH)
            }
        };
        if stale {
            let uri = self.discovery().await?.jwks_uri.clone();
            let body = self.get(&uri, oidc::MAX_JWKS_BYTES).await?;
            let jwks = Jwks::parse(&body).map_err(|e| ProviderError::Bad {
                what: "key set",
                reason: e.to_string(),
            })?;
            tracing::info!(
                keys = jwks.keys.len(),
                "oidc: fetched the identity provider's keys"
            );
            *keys = Some(Keys {
                jwks,
                fetched: Instant::now(),
            });
        }
        Ok(f(&keys.as_ref().expect("fetched above").jwks))
    }

    /// Exchanges a sign-in's code (with its PKCE verifier) for the ID
    /// token, authenticating lbops with its client secret.
    pub async fn exchange(&self, code: &str, verifier: &str) -> Result<String, ProviderError> {
        let endpoint = self.discovery().await?.token_endpoint.clone();
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &self.config.redirect_uri()),
            ("code_verifier", verifier),
        ];
        let body = form
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let response = self
            .http
            .post(&endpoint)
            // RFC 6749 §2.3.1: id and secret form-encoded, then Basic.
            .basic_auth(
                encode(&self.config.client_id),
                Some(encode(self.secret.expose())),
            )
            .header("content-type", "application/x-www-form-urlencoded")
            .header("accept", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| unreachable(&endpoint, &e))?;
        let status = response.status();
        let answer = bounded(response, MAX_TOKEN_RESPONSE_BYTES, &endpoint).await?;
        if !status.is_success() {
            // The error code only (RFC 6749 §5.2), never the whole answer.
            let code = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["error"].as_str().map(|s| s.chars().take(64).collect()))
                .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
            return Err(ProviderError::CodeRefused(code));
        }
        let parsed: TokenResponse =
            serde_json::from_slice(&answer).map_err(|e| ProviderError::Bad {
                what: "token response",
                reason: e.to_string(),
            })?;
        parsed.id_token.ok_or(ProviderError::Bad {
            what: "token response",
            reason: "it holds no `id_token`; ask for the `openid` scope".into(),
        })
    }

    async fn get(&self, url: &str, max: usize) -> Result<Vec<u8>, ProviderError> {
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| unreachable(url, &e))?;
        if !response.status().is_success() {
            return Err(ProviderError::Unreachable {
                url: url.to_owned(),
                reason: format!("HTTP {}", response.status().as_u16()),
            });
        }
        bounded(response, max, url).await
    }
}

/// `text` percent-encoded for a form or a query.
pub use crate::support::percent::encode;

fn unreachable(url: &str, e: &reqwest::Error) -> ProviderError {
    ProviderError::Unreachable {
        url: url.to_owned(),
        reason: e.to_string(),
    }
}

/// The body of `response`, refused past `max` bytes without reading on.
async fn bounded(
    mut response: reqwest::Response,
    max: usize,
    url: &str,
) -> Result<Vec<u8>, ProviderError> {
    if response.content_length().is_some_and(|l| l > max as u64) {
        return Err(ProviderError::Bad {
            what: "answer",
            reason: format!("{url} sent more than {max} bytes"),
        });
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| unreachable(url, &e))? {
        if body.len() + chunk.len() > max {
            return Err(ProviderError::Bad {
                what: "answer",
                reason: format!("{url} sent more than {max} bytes"),
            });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
