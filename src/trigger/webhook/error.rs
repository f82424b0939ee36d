//! Every way a webhook request fails, and the one mapping from failure to
//! response. Messages are shown to the forge (its delivery log is where a
//! person looks) and logged; none holds the secret or a signature.

use super::replay::Repeat;
use crate::trigger::Rejection;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// Why a webhook request was not acted on.
#[derive(Debug, thiserror::Error)]
pub(super) enum HookError {
    #[error("no such endpoint: point the forge's webhook at POST {}", super::PATH)]
    NotFound,
    #[error("method not allowed: {} accepts POST", super::PATH)]
    MethodNotAllowed,
    #[error(
        "the body is larger than {} bytes: send push events only",
        super::MAX_BODY_BYTES
    )]
    TooLarge,
    #[error("the body did not arrive in time: send it with its headers")]
    BodyTimeout,
    #[error("the body could not be read: {0}")]
    BodyRead(String),
    #[error(transparent)]
    Rejected(#[from] Rejection),
    #[error(transparent)]
    Repeated(#[from] Repeat),
    #[error("lbops is busy with earlier triggers: redeliver this one in a few seconds")]
    Busy,
    #[error("lbops is shutting down: redeliver this one once it is back")]
    Stopping,
}

impl HookError {
    pub(super) fn status(&self) -> StatusCode {
        match self {
            HookError::NotFound => StatusCode::NOT_FOUND,
            HookError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            HookError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            HookError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            HookError::BodyRead(_) | HookError::Rejected(Rejection::BadRequest(_)) => {
                StatusCode::BAD_REQUEST
            }
            HookError::Rejected(Rejection::Unauthorized(_)) => StatusCode::UNAUTHORIZED,
            HookError::Repeated(_) => StatusCode::CONFLICT,
            HookError::Busy | HookError::Stopping => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    pub(super) fn response(&self) -> Response<Full<Bytes>> {
        let mut response = json(
            self.status(),
            &serde_json::json!({ "error": self.to_string() }),
        );
        let headers = response.headers_mut();
        match self {
            HookError::MethodNotAllowed => {
                headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            HookError::Busy => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            }
            // The rest of the body may still be on its way: do not read it
            // just to keep the connection.
            HookError::TooLarge | HookError::BodyTimeout | HookError::BodyRead(_) => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

impl From<crate::trigger::BadRequest> for HookError {
    fn from(error: crate::trigger::BadRequest) -> Self {
        HookError::Rejected(error.into())
    }
}

/// A JSON response that no cache keeps.
pub(super) fn json(status: StatusCode, value: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut text = value.to_string();
    text.push('\n');
    let mut response = Response::new(Full::new(Bytes::from(text)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trigger::{BadRequest, Unauthorized};

    #[test]
    fn every_failure_has_its_status_and_the_headers_http_asks_for() {
        let cases = [
            (HookError::NotFound, 404),
            (HookError::MethodNotAllowed, 405),
            (HookError::TooLarge, 413),
            (HookError::BodyTimeout, 408),
            (HookError::BodyRead("connection reset".into()), 400),
            (Rejection::from(Unauthorized::UnknownSender).into(), 401),
            (
                Rejection::from(BadRequest::NotJson("eof".into())).into(),
                400,
            ),
            (HookError::Busy, 503),
            (HookError::Stopping, 503),
            (
                Repeat::Id(crate::trigger::DeliveryId {
                    header: "X-GitHub-Delivery",
                    value: "72d3162e-cc78-11e3-81ab-4c9367dc0958".into(),
                })
                .into(),
                409,
            ),
            (Repeat::Body { id: None }.into(), 409),
            (
                BadRequest::BadDelivery {
                    header: "X-Gitea-Delivery",
                    max: 128,
                }
                .into(),
                400,
            ),
        ];
        for (error, status) in cases {
            // Printed so that a person reviews the wording.
            println!("{status}: {error}");
            let response = error.response();
            assert_eq!(response.status().as_u16(), status, "{error}");
            assert_eq!(response.headers()[header::CACHE_CONTROL], "no-store");
        }
        assert_eq!(
            HookError::MethodNotAllowed.response().headers()[header::ALLOW],
            "POST"
        );
        assert!(HookError::Busy
            .response()
            .headers()
            .contains_key(header::RETRY_AFTER));
        assert_eq!(
            HookError::TooLarge.response().headers()[header::CONNECTION],
            "close"
        );
    }
}
