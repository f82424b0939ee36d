//! `/auth/login`, `/auth/callback` and `/auth/logout`: the authorization
//! code flow with PKCE (S256), a state tied to the browser by a cookie,
//! and a nonce checked in the ID token. The code, the tokens and the
//! session id never reach a log line or a page.

use super::provider::encode;
use super::sessions::Pending;
use super::{cookie, Oidc, SignedIn, LOGIN_COOKIE};
use crate::daemon::pages::html::{esc, page};
use crate::daemon::trusted::Trusted;
use crate::idp::oidc::{claims::same_secret, pkce, Person};
use crate::support::clock::Clock;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;
use std::sync::Arc;

/// Where the routes are nested.
pub const PREFIX: &str = "/auth";
/// The longest `return_to` kept.
const MAX_RETURN_TO: usize = 512;

/// What the sign-in routes work with.
#[derive(Clone, Debug)]
pub struct AuthState {
    pub oidc: Arc<Oidc>,
    pub trusted: Trusted,
    pub clock: Arc<dyn Clock>,
    /// The daemon's audit log: each sign-in, refusal and sign-out is a
    /// `sign_in` record (the User and the provider's subject, never a
    /// code, token or session id).
    pub audit: Arc<std::sync::Mutex<crate::audit::AuditLog>>,
}

impl AuthState {
    /// Appends a `sign_in` record; a sign-in that cannot be recorded is
    /// refused, as an API call would be.
    async fn record(
        &self,
        actor: String,
        outcome: &str,
        subject: Option<&str>,
    ) -> Result<(), Response> {
        let event = crate::audit::AuditEvent::new(crate::audit::EventKind::SignIn, actor, outcome)
            .with_detail(serde_json::json!({
                "issuer": self.oidc.config().issuer,
                "subject": subject,
            }));
        let at = time::OffsetDateTime::from(self.clock.now());
        let recorded = crate::daemon::audit_append::append(&self.audit, event, at).await;
        recorded.map_err(|error| {
            tracing::error!(%error, "oidc: cannot write the audit log; the sign-in is refused");
            message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in not recorded",
                "The audit log cannot be written, so nobody is signed in; an operator must fix it.",
            )
        })
    }
}

pub fn router(state: AuthState) -> Router {
    Router::new()
        .route("/login", get(login))
        .route("/callback", get(callback))
        .route("/logout", post(logout))
        .with_state(state)
}

#[derive(Deserialize)]
struct LoginQuery {
    return_to: Option<String>,
}

/// A path of this daemon to go back to; anything else (another host,
/// `//evil`, a backslash trick) goes to `/`.
fn local_path(wanted: Option<&str>) -> String {
    match wanted {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= MAX_RETURN_TO
                && !p.starts_with(super::routes::PREFIX)
                && p.bytes().all(|b| b.is_ascii_graphic() && b != b'\\') =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn cookie_header(oidc: &Oidc, name: &str, value: &str, path: &str, max_age: u64) -> HeaderValue {
    let secure = if oidc.config().secure() {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Lax; Path={path}; Max-Age={max_age}{secure}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("lbops_invalid=; Max-Age=0"))
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    let body = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<p><a href=\"/auth/login\">Sign in again</a></p>\n",
        esc(title),
        esc(text)
    );
    (status, Html(page(title, &body))).into_response()
}

async fn login(State(auth): State<AuthState>, Query(query): Query<LoginQuery>) -> Response {
    let oidc = &auth.oidc;
    let discovery = match oidc.provider.discovery().await {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(error = %e, "oidc: cannot begin a sign-in");
            return message(
                StatusCode::BAD_GATEWAY,
                "The identity provider is unreachable",
                &e.to_string(),
            );
        }
    };
    let (state, nonce, verifier) = (
        pkce::value(&oidc.random()),
        pkce::value(&oidc.random()),
        pkce::value(&oidc.random()),
    );
    let config = oidc.config();
    let location = format!(
        "{endpoint}{sep}response_type=code&client_id={client}&redirect_uri={redirect}&scope={scope}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        endpoint = discovery.authorization_endpoint,
        sep = if discovery.authorization_endpoint.contains('?') { '&' } else { '?' },
        client = encode(&config.client_id),
        redirect = encode(&config.redirect_uri()),
        scope = encode(&config.scopes.join(" ")),
        challenge = pkce::challenge(&verifier),
    );
    oidc.sessions.begin(
        &state,
        Pending {
            nonce,
            verifier,
            return_to: local_path(query.return_to.as_deref()),
            created: auth.clock.unix_seconds(),
        },
    );
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&location) {
        headers.insert(header::LOCATION, location);
    }
    let login = cookie_header(
        oidc,
        LOGIN_COOKIE,
        &state,
        "/auth/callback",
        super::sessions::PENDING_LIFETIME as u64,
    );
    headers.insert(header::SET_COOKIE, login);
    response
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

async fn callback(
    State(auth): State<AuthState>,
    Query(query): Query<CallbackQuery>,
    headers: HeaderMap,
) -> Response {
    let oidc = &auth.oidc;
    let now = auth.clock.unix_seconds();
    if let Some(error) = query.error {
        let error: String = error.chars().take(64).collect();
        return message(
            StatusCode::FORBIDDEN,
            "The identity provider did not sign you in",
            &format!("It answered `{error}`."),
        );
    }
    let (Some(code), Some(state)) = (query.code, query.state) else {
        return message(
            StatusCode::BAD_REQUEST,
            "Not a sign-in",
            "The callback needs the provider's `code` and `state`; start from the sign-in link.",
        );
    };
    // The state must be the one this browser was given at /auth/login:
    // a callback planted from elsewhere (login CSRF) has no such cookie.
    let ours = cookie(&headers, LOGIN_COOKIE).is_some_and(|c| same_secret(c, &state));
    let pending = ours.then(|| oidc.sessions.finish(&state, now)).flatten();
    let Some(pending) = pending else {
        return message(
            StatusCode::BAD_REQUEST,
            "This sign-in expired or was not started here",
            "Sign-ins last ten minutes and work once, in the browser that began them.",
        );
    };
    let claims = async {
        let id_token = oidc.provider.exchange(&code, &pending.verifier).await?;
        oidc.provider
            .check(&id_token, now, Some(&pending.nonce))
            .await
            .map_err(|e| match e {
                super::TokenError::Refused(r) => super::ProviderError::Bad {
                    what: "ID token",
                    reason: format!("{} ({})", r, r.code()),
                },
                super::TokenError::Provider(p) => p,
            })
    };
    let claims = match claims.await {
        Ok(claims) => claims,
        Err(e) => {
            tracing::warn!(error = %e, "oidc: a sign-in failed");
            return message(StatusCode::BAD_GATEWAY, "Sign-in failed", &e.to_string());
        }
    };
    let person = Person::of(&claims, &oidc.config().mapping);
    let Some(view) = auth.trusted.load() else {
        return message(
            StatusCode::SERVICE_UNAVAILABLE,
            "lbops is starting",
            "No policy is trusted yet; try again in a moment.",
        );
    };
    let signed_in = match oidc.signed_in(person.clone(), &view.catalog) {
        Ok(s) => s,
        Err(why) => {
            tracing::info!(subject = %person.subject, outcome = why.code(), "oidc: sign-in refused");
            let actor = format!("anonymous (oidc subject {})", person.subject);
            if let Err(refused) = auth.record(actor, why.code(), Some(&person.subject)).await {
                return refused;
            }
            return message(
                StatusCode::FORBIDDEN,
                "Signed in at the identity provider, but not here",
                &why.to_string(),
            );
        }
    };
    let actor = match &signed_in {
        SignedIn::User { user, .. } => format!("user/{user}"),
        SignedIn::Viewer { person, .. } => format!("viewer (oidc subject {})", person.subject),
    };
    if let Err(refused) = auth.record(actor, "signed_in", Some(&person.subject)).await {
        return refused;
    }
    let id = match oidc.sessions.open(person.clone(), &oidc.random(), now) {
        Ok(id) => id,
        Err(full) => {
            return message(
                StatusCode::SERVICE_UNAVAILABLE,
                "Too many sessions",
                &full.to_string(),
            )
        }
    };
    let outcome = match &signed_in {
        SignedIn::User { .. } => "user",
        SignedIn::Viewer { .. } => "viewer",
    };
    tracing::info!(who = %signed_in.shown(), subject = %person.subject, outcome, "oidc: signed in");
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&pending.return_to) {
        headers.insert(header::LOCATION, location);
    }
    let lifetime = oidc.config().session_lifetime.as_secs();
    headers.append(
        header::SET_COOKIE,
        cookie_header(oidc, oidc.cookie_name(), &id, "/", lifetime),
    );
    headers.append(
        header::SET_COOKIE,
        cookie_header(oidc, LOGIN_COOKIE, "", "/auth/callback", 0),
    );
    response
}

async fn logout(State(auth): State<AuthState>, headers: HeaderMap) -> Response {
    let oidc = &auth.oidc;
    let now = auth.clock.unix_seconds();
    if let Some(id) = cookie(&headers, oidc.cookie_name()) {
        let person = oidc.sessions.get(id, now).map(|s| s.person);
        if oidc.sessions.close(id) {
            tracing::info!("oidc: signed out");
            let subject = person.as_ref().map(|p| p.subject.as_str());
            let actor = format!("oidc subject {}", subject.unwrap_or("?"));
            if let Err(refused) = auth.record(actor, "signed_out", subject).await {
                return refused;
            }
        }
    }
    let mut response = message(
        StatusCode::OK,
        "Signed out",
        "Your lbops session has ended. (The identity provider may still remember you.)",
    );
    response.headers_mut().insert(
        header::SET_COOKIE,
        cookie_header(oidc, oidc.cookie_name(), "", "/", 0),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::local_path;

    #[test]
    fn only_a_local_path_is_gone_back_to() {
        assert_eq!(local_path(Some("/tokens")), "/tokens");
        assert_eq!(local_path(Some("/commits/abc?x=1")), "/commits/abc?x=1");
        for bad in [
            "https://evil.example",
            "//evil.example",
            "/\\evil",
            "tokens",
            "/auth/login",
            "/a b",
        ] {
            assert_eq!(local_path(Some(bad)), "/", "{bad}");
        }
        assert_eq!(local_path(None), "/");
    }
}
