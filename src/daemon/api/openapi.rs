//! `GET /v1/openapi.json`: the API described for clients and code
//! generators. Hand-written (`openapi.json` beside this file); a test
//! holds it to [`Endpoint::ALL`](super::routes::Endpoint::ALL), the table the
//! router is built from.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub(super) async fn document() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        DOCUMENT,
    )
        .into_response()
}
