//! Every way an admin request fails, and the one mapping from failure to
//! response: a status, a JSON body `{"error": "..."}` with the facts a
//! client acts on, and the headers HTTP asks for.

use super::{json, Body};
use crate::dataplane::config::ConfigError;
use crate::dataplane::ApplyError;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::io;
use std::net::SocketAddr;

/// Why an admin request was refused or failed. Messages are shown to the
/// client; none holds a token or a file system path.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("this endpoint needs a bearer token: send `Authorization: Bearer <token>`")]
    MissingToken,
    #[error("the bearer token is not valid: send the token whose SHA-256 this data plane was started with")]
    WrongToken,
    #[error(
        "no such endpoint: the admin API serves /v1/config, /v1/state, /v1/events and /metrics"
    )]
    NotFound,
    #[error("method not allowed: this endpoint accepts {allow}")]
    MethodNotAllowed { allow: &'static str },
    #[error("the config is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the config body did not arrive in time: send it with its headers")]
    BodyTimeout,
    #[error("the config body could not be read: {0}")]
    BodyRead(String),
    #[error("the config is not UTF-8 text: send it as JSON")]
    NotUtf8,
    #[error("invalid config: {0}")]
    InvalidConfig(#[from] ConfigError),
    #[error(
        "config version {offered} is older than the running version {running}: \
         send a version above {running}"
    )]
    Stale { offered: u64, running: u64 },
    #[error(
        "config version {version} already runs with different content: \
         send the change under a version above {version}"
    )]
    VersionConflict { version: u64 },
    #[error("config not applied: {0}")]
    Apply(#[from] ApplyError),
    /// A leader older than one already heard from: it was replaced while
    /// it thought it led (see [`super::epoch`]).
    #[error(
        "epoch {offered} is older than epoch {highest}, which this data plane has accepted: \
         a newer leader drives it, so this daemon no longer leads; nothing was changed. \
         Check the leader election, and send changes through the current leader"
    )]
    StaleEpoch { offered: u64, highest: u64 },
    #[error("the `lbops-epoch` header is not an epoch: send a decimal number, or no header")]
    BadEpoch,
    /// The config could not be saved, so a restart would not find it; the
    /// cause goes to the log, not to the client. `still_runs`: the offered
    /// config runs anyway (it already did, or the previous one could not
    /// be put back).
    #[error("{}", if *still_runs {
        "config runs but could not be saved to the state directory, so a restart \
         would not serve it: see the data plane's log, then send it again"
    } else {
        "config not applied: it could not be saved to the state directory \
         (see the data plane's log)"
    })]
    Persist {
        #[source]
        source: io::Error,
        still_runs: bool,
    },
}

/// The JSON body of an error response.
#[derive(Serialize)]
struct ErrorBody {
    error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    column: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    running_version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    address: Option<SocketAddr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    highest_epoch: Option<u64>,
    /// Stable and machine-readable, unlike `error`.
    code: &'static str,
}

impl AdminError {
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::WrongToken => StatusCode::UNAUTHORIZED,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::BodyRead(_) | Self::NotUtf8 | Self::InvalidConfig(_) | Self::BadEpoch => {
                StatusCode::BAD_REQUEST
            }
            Self::Stale { .. } | Self::VersionConflict { .. } | Self::StaleEpoch { .. } => {
                StatusCode::CONFLICT
            }
            Self::Apply(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Persist { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable name for the failure, for programs (the message is for
    /// people and may be reworded).
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingToken => "missing_token",
            Self::WrongToken => "wrong_token",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooLarge { .. } => "too_large",
            Self::BodyTimeout => "body_timeout",
            Self::BodyRead(_) => "body_read",
            Self::NotUtf8 => "not_utf8",
            Self::InvalidConfig(_) => "invalid_config",
            Self::Stale { .. } => "stale_version",
            Self::VersionConflict { .. } => "version_conflict",
            Self::Apply(_) => "not_applied",
            Self::StaleEpoch { .. } => "stale_epoch",
            Self::BadEpoch => "bad_epoch",
            Self::Persist { .. } => "not_saved",
        }
    }

    /// What the log says: the message and, for failures of our own, the
    /// underlying cause.
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::Persist { source, .. } => format!("{self}: {source}"),
            _ => self.to_string(),
        }
    }

    /// The response the client gets.
    #[must_use]
    pub fn response(&self) -> Response<Body> {
        let mut body = ErrorBody {
            error: self.to_string(),
            line: None,
            column: None,
            running_version: None,
            address: None,
            highest_epoch: None,
            code: self.code(),
        };
        match self {
            Self::InvalidConfig(e) => {
                body.line = Some(e.line);
                body.column = Some(e.column);
            }
            Self::Stale { running, .. } => body.running_version = Some(*running),
            Self::VersionConflict { version } => body.running_version = Some(*version),
            Self::Apply(ApplyError::Bind { address, .. }) => body.address = Some(*address),
            Self::StaleEpoch { highest, .. } => body.highest_epoch = Some(*highest),
            _ => {}
        }
        let mut response = json(self.status(), &body);
        let headers = response.headers_mut();
        match self {
            Self::MissingToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer realm=\"lbops-dataplane\""),
                );
            }
            Self::WrongToken => {
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(
                        "Bearer realm=\"lbops-dataplane\", error=\"invalid_token\"",
                    ),
                );
            }
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            // The body is left unread: the connection cannot be reused.
            Self::TooLarge { .. } | Self::BodyTimeout => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}
