//! Every way an API call fails, and the one place it becomes a response:
//! a status and a JSON body `{code, message, hint}`. `code` is stable for
//! scripts; `message` says what happened; `hint` says what to do. Nothing
//! here carries a token (ids only) or an internal detail (provider
//! endpoints, file paths).

use crate::authz::Denied;
use crate::identity::TokenRefused;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use std::time::Duration;

/// Why an API call was not answered with what it asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// No `Authorization` header.
    #[error("this endpoint needs an API token")]
    MissingToken,
    /// An `Authorization` header that is not `Bearer <token>`.
    #[error("the Authorization header is not `Bearer <token>`")]
    NotBearer,
    /// The token identifies nobody (the precise reason stays in the audit
    /// log: the caller is told only what it needs to fix its side).
    #[error("{0}")]
    Token(TokenRefused),
    /// A JWT bearer (or a session) the identity provider's keys and the
    /// config refuse: forged, expired, for someone else.
    #[error("{0}")]
    IdpToken(crate::idp::oidc::Refused),
    /// A person the identity provider vouched for, who is nobody in git
    /// (or was disabled there, or deprovisioned): the provider can take
    /// access away, never grant it.
    #[error("{0}")]
    NotInGit(crate::idp::oidc::NotInGit),
    /// The identity provider's keys could not be fetched.
    #[error("the identity provider could not be asked for its keys")]
    IdpUnavailable,
    /// Authenticated, but the identity provider deprovisioned the token's
    /// ServiceAccount's owner (or the signed-in person).
    #[error("{0}")]
    Deprovisioned(Box<crate::idp::Deprovisioned>),
    /// Authenticated, but not allowed.
    #[error("{0}")]
    Forbidden(Box<Denied>),
    /// No such resource, or one the token may not see (the same answer,
    /// so that a token cannot probe for names).
    #[error("no {kind} `{name}` that this token may read")]
    NotFound {
        kind: &'static str,
        name: String,
        /// Why the caller may not see it, when it exists: for the audit
        /// log only, never for the client.
        hidden: Option<Box<Denied>>,
    },
    /// A resource the call may change, without the part it names (a
    /// pool's target, a balancer's route).
    #[error("{resource} has no {part} {name}")]
    NoSuchPart {
        resource: String,
        part: &'static str,
        name: String,
    },
    /// No endpoint at this path.
    #[error("no API endpoint at this path")]
    NoRoute,
    /// The path exists, with other methods.
    #[error("this endpoint does not answer this method")]
    MethodNotAllowed,
    /// Over the token's (or, without a valid token, the peer's) rate.
    #[error("too many calls; try again in {}s", retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration },
    /// A body over the limit.
    #[error("the request's body is over {0} bytes")]
    BodyTooLarge(usize),
    /// Request headers over the limit.
    #[error("the request's headers are over {0} bytes")]
    HeadersTooLarge(usize),
    /// No commit is trusted yet, so there is no policy to check a token
    /// against and no state to show.
    #[error("the daemon has not applied a commit yet")]
    NotReady,
    /// The call could not be written to the audit log: no audit, no answer.
    #[error("the call could not be recorded in the audit log, so it is not answered")]
    AuditUnavailable,
    /// A body that is not the endpoint's JSON.
    #[error("the request body is not valid: {0}")]
    BadRequest(String),
    /// The edit, or the tree it makes, does not validate (file:line).
    #[error("the change does not validate: {0}")]
    Invalid(String),
    /// The same Idempotency-Key with another body.
    #[error("this Idempotency-Key was used with another request body")]
    IdempotencyKeyReused,
    /// The Idempotency-Key could not be recorded before its commit was
    /// made, so none was.
    #[error("the Idempotency-Key could not be recorded, so nothing was committed")]
    KeysUnavailable,
    /// Replicas on etcd: writes go through the leader.
    #[error("this replica stands by; writes go through the leader{}", leader.as_ref().map(|l| format!(" ({l})")).unwrap_or_default())]
    NotLeader { leader: Option<String> },
    /// The branch kept moving while the edit was being made.
    #[error("the branch moved {0} times while the change was being committed")]
    Conflict(u32),
    /// What the daemon cannot do yet for this configuration.
    #[error("{0}")]
    NotSupportedYet(&'static str),
    /// Writes need the daemon's API signing key.
    #[error("this daemon has no API signing key, so it cannot write")]
    NoSigningKey,
    /// The daemon judged the commit and refused it (who, which action,
    /// which resource, which rule is missing).
    #[error("the daemon refused the commit: {0}")]
    Refused(String),
    /// The commit was allowed but applying it failed.
    #[error("the commit was allowed but not applied: {0}")]
    NotApplied(String),
    /// The repository could not be read or written.
    #[error("the repository could not be written: {0}")]
    Repository(String),
}

/// The JSON body of every refusal.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: &'static str,
    pub message: String,
    pub hint: &'static str,
}

/// What the front door reads back from a refused response for the audit
/// record and the log: the code, and the precise reason (which may say
/// more than the client is told, e.g. which check a token failed).
#[derive(Clone, Debug)]
pub struct Refusal {
    pub code: &'static str,
    pub reason: String,
}

impl ApiError {
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::MissingToken
            | ApiError::NotBearer
            | ApiError::Token(_)
            | ApiError::IdpToken(_)
            | ApiError::NotInGit(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::Refused(_) | ApiError::Deprovisioned(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::NotApplied(_) => StatusCode::BAD_GATEWAY,
            ApiError::NotFound { .. } | ApiError::NoSuchPart { .. } | ApiError::NoRoute => {
                StatusCode::NOT_FOUND
            }
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::HeadersTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ApiError::BodyTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::NotReady
            | ApiError::IdpUnavailable
            | ApiError::AuditUnavailable
            | ApiError::NoSigningKey
            | ApiError::KeysUnavailable
            | ApiError::NotLeader { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Invalid(_) | ApiError::IdempotencyKeyReused => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::NotSupportedYet(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Repository(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable, machine-readable code.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::MissingToken => "token-missing",
            ApiError::NotBearer => "not-bearer",
            ApiError::Token(TokenRefused::Malformed(_)) => "token-malformed",
            ApiError::Token(TokenRefused::UnknownId(_) | TokenRefused::WrongSecret(_)) => {
                "token-invalid"
            }
            ApiError::Token(TokenRefused::Expired { .. }) => "token-expired",
            ApiError::IdpToken(refused) => refused.code(),
            ApiError::NotInGit(why) => why.code(),
            ApiError::IdpUnavailable => "idp-unavailable",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::Deprovisioned(_) => "deprovisioned",
            ApiError::NotFound { .. } | ApiError::NoSuchPart { .. } => "not-found",
            ApiError::NoRoute => "no-such-endpoint",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::RateLimited { .. } => "rate-limited",
            ApiError::HeadersTooLarge(_) => "headers-too-large",
            ApiError::BodyTooLarge(_) => "body-too-large",
            ApiError::NotReady => "not-ready",
            ApiError::AuditUnavailable => "audit-unavailable",
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Invalid(_) => "invalid",
            ApiError::IdempotencyKeyReused => "idempotency-key-reused",
            ApiError::KeysUnavailable => "idempotency-keys-unavailable",
            ApiError::NotLeader { .. } => "not-leader",
            ApiError::Conflict(_) => "conflict",
            ApiError::NotSupportedYet(_) => "not-supported-yet",
            ApiError::NoSigningKey => "no-signing-key",
            ApiError::Repository(_) => "repository-error",
            ApiError::Refused(_) => "refused",
            ApiError::NotApplied(_) => "not-applied",
        }
    }

    /// What the client is told. An unknown id and a wrong secret read the
    /// same, so the answer does not say which ids exist; an expired token
    /// is told so only to whoever holds its secret (the secret is checked
    /// first).
    #[must_use]
    pub fn message(&self) -> String {
        match self {
            ApiError::Token(TokenRefused::UnknownId(_) | TokenRefused::WrongSecret(_)) => {
                "the token is not valid: never issued, revoked (removed from git), or mistyped"
                    .to_owned()
            }
            ApiError::Token(TokenRefused::Expired { id, .. }) => {
                format!("token {id} has expired")
            }
            other => other.to_string(),
        }
    }

    /// What to do about it.
    #[must_use]
    pub fn hint(&self) -> &'static str {
        match self {
            ApiError::MissingToken | ApiError::NotBearer => {
                "send `Authorization: Bearer lbops_…` with a token made by `lbops token create`"
            }
            ApiError::Token(TokenRefused::Malformed(_)) => {
                "copy the whole token as `lbops token create` printed it"
            }
            ApiError::Token(_) => {
                "create a token with `lbops token create` and commit its entry to the ServiceAccount"
            }
            ApiError::IdpToken(_) => {
                "send a current access or ID token of the configured identity provider, or an \
                 lbops API token"
            }
            ApiError::NotInGit(_) => {
                "grants live only in git: ask an admin to add (or enable) your User in the access \
                 policy"
            }
            ApiError::IdpUnavailable => "call again shortly; an operator may check the daemon's log",
            ApiError::Deprovisioned(_) => {
                "the identity provider took this person's access (for a token: its ServiceAccount's \
                 owner's); it comes back when the identity provider re-activates them, or when \
                 the ServiceAccount is given an active owner in git"
            }
            ApiError::Forbidden(_) => {
                "the token's scopes and the ServiceAccount's roles in the trusted policy decide; \
                 see the message for which rule is missing"
            }
            ApiError::NotFound { .. } => "list what this token may read with the collection's GET",
            ApiError::NoSuchPart { .. } => {
                "see what it has with GET /v1/pools/{name}/targets or GET /v1/balancers/{name}"
            }
            ApiError::NoRoute | ApiError::MethodNotAllowed => {
                "see GET /v1/openapi.json for the endpoints and their methods"
            }
            ApiError::RateLimited { .. } => {
                "wait for Retry-After seconds; the limit is the daemon config's api.rate_limit"
            }
            ApiError::HeadersTooLarge(_) => "send fewer or shorter headers",
            ApiError::BodyTooLarge(_) => "send a smaller body",
            ApiError::NotReady => "wait until /readyz answers 200, then call again",
            ApiError::AuditUnavailable => {
                "an operator must make the audit log writable again (see the daemon's log)"
            }
            ApiError::BadRequest(_) => "see GET /v1/openapi.json for the request's shape",
            ApiError::Invalid(_) => {
                "fix what the message names (file:line); `lbops validate` shows the same"
            }
            ApiError::IdempotencyKeyReused => "use a new Idempotency-Key for a different request",
            ApiError::KeysUnavailable => {
                "an operator must make the state directory writable again (see the daemon's log); \
                 then call again with the same Idempotency-Key"
            }
            ApiError::NotLeader { .. } => {
                "call the leading replica (its pages name it), or call again after Retry-After: \
                 a load balancer in front of the replicas sends the retry on"
            }
            ApiError::Conflict(_) => "call again; the change is re-applied on the new head",
            ApiError::NotSupportedYet(_) => {
                "this daemon serves no write endpoints; push a signed commit to the repository \
                 instead"
            }
            ApiError::NoSigningKey => {
                "an operator must set api.signing_key_file in the daemon config (see README, API)"
            }
            ApiError::Repository(_) => "see the daemon's log; call again with the same Idempotency-Key",
            ApiError::Refused(_) => {
                "the commit stays in git but is not applied; revert it or grant the missing rule"
            }
            ApiError::NotApplied(_) => "see the commit's page (status_url) and the daemon's log",
        }
    }

    /// What the audit record keeps: the precise reason.
    #[must_use]
    pub fn refusal(&self) -> Refusal {
        let reason = match self {
            ApiError::NotFound {
                hidden: Some(denied),
                ..
            } => format!("{self} (it exists; hidden because {denied})"),
            _ => self.to_string(),
        };
        Refusal {
            code: self.code(),
            reason,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            code: self.code(),
            message: self.message(),
            hint: self.hint(),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            ApiError::MissingToken
            | ApiError::NotBearer
            | ApiError::Token(_)
            | ApiError::IdpToken(_)
            | ApiError::NotInGit(_) => {
                let challenge = match self.code() {
                    "token-missing" => "Bearer realm=\"lbops\"",
                    _ => "Bearer realm=\"lbops\", error=\"invalid_token\"",
                };
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                );
            }
            ApiError::RateLimited { retry_after } => {
                let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
            }
            ApiError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("GET"));
            }
            ApiError::NotReady => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            ApiError::NotLeader { .. } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response.extensions_mut().insert(self.refusal());
        response
    }
}
