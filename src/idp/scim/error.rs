//! What a SCIM call can be answered with when it fails: one variant per
//! reason, each with its HTTP status and RFC 7644 §3.12 `scimType`, and a
//! detail that says what to do. The HTTP edge turns it into the error
//! JSON in one place ([`ScimError::body`]).

use super::schema::ERROR;
use serde_json::{json, Value};

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ScimError {
    /// 400 `invalidFilter`.
    #[error("{0}")]
    InvalidFilter(String),
    /// 400 `invalidPath`.
    #[error("{0}")]
    InvalidPath(String),
    /// 400 `invalidValue`.
    #[error("{0}")]
    InvalidValue(String),
    /// 400 `invalidSyntax`.
    #[error("{0}")]
    InvalidSyntax(String),
    /// 400 `noTarget`.
    #[error("{0}")]
    NoTarget(String),
    /// 400 `mutability`.
    #[error("{0}")]
    Mutability(String),
    /// 409 `uniqueness`.
    #[error("{0}")]
    Uniqueness(String),
    /// 404.
    #[error("{0}")]
    NotFound(String),
    /// 405.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 412: `If-Match` named another version.
    #[error("{0}")]
    PreconditionFailed(String),
    /// 413: a body, a count or a size over lbops' limits.
    #[error("{0}")]
    TooLarge(String),
    /// 401: no token, or not the SCIM token.
    #[error("{0}")]
    Unauthorized(String),
    /// 501: a SCIM feature lbops does not offer.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: lbops could not keep the change (nothing changed).
    #[error("{0}")]
    Internal(String),
    /// 503: no audit record could be written (nothing changed).
    #[error("{0}")]
    Unavailable(String),
}

impl ScimError {
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            ScimError::InvalidFilter(_)
            | ScimError::InvalidPath(_)
            | ScimError::InvalidValue(_)
            | ScimError::InvalidSyntax(_)
            | ScimError::NoTarget(_)
            | ScimError::Mutability(_) => 400,
            ScimError::Unauthorized(_) => 401,
            ScimError::NotFound(_) => 404,
            ScimError::MethodNotAllowed(_) => 405,
            ScimError::Uniqueness(_) => 409,
            ScimError::PreconditionFailed(_) => 412,
            ScimError::TooLarge(_) => 413,
            ScimError::Internal(_) => 500,
            ScimError::NotImplemented(_) => 501,
            ScimError::Unavailable(_) => 503,
        }
    }

    /// RFC 7644 §3.12's `scimType`, for the 400s and 409 that have one.
    #[must_use]
    pub fn scim_type(&self) -> Option<&'static str> {
        Some(match self {
            ScimError::InvalidFilter(_) => "invalidFilter",
            ScimError::InvalidPath(_) => "invalidPath",
            ScimError::InvalidValue(_) => "invalidValue",
            ScimError::InvalidSyntax(_) => "invalidSyntax",
            ScimError::NoTarget(_) => "noTarget",
            ScimError::Mutability(_) => "mutability",
            ScimError::Uniqueness(_) => "uniqueness",
            _ => return None,
        })
    }

    /// A short, stable name for the audit record and the log.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            ScimError::InvalidFilter(_) => "invalid_filter",
            ScimError::InvalidPath(_) => "invalid_path",
            ScimError::InvalidValue(_) => "invalid_value",
            ScimError::InvalidSyntax(_) => "invalid_syntax",
            ScimError::NoTarget(_) => "no_target",
            ScimError::Mutability(_) => "mutability",
            ScimError::Uniqueness(_) => "uniqueness",
            ScimError::NotFound(_) => "not_found",
            ScimError::MethodNotAllowed(_) => "method_not_allowed",
            ScimError::PreconditionFailed(_) => "precondition_failed",
            ScimError::TooLarge(_) => "too_large",
            ScimError::Unauthorized(_) => "unauthorized",
            ScimError::NotImplemented(_) => "not_implemented",
            ScimError::Internal(_) => "internal",
            ScimError::Unavailable(_) => "audit_unavailable",
        }
    }

    /// The RFC 7644 §3.12 error JSON.
    #[must_use]
    pub fn body(&self) -> Value {
        let mut body = json!({
            "schemas": [ERROR],
            "status": self.status().to_string(),
            "detail": self.to_string(),
        });
        if let Some(kind) = self.scim_type() {
            body["scimType"] = json!(kind);
        }
        body
    }
}
