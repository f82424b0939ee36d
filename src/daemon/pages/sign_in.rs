//! Which pages need a signed-in person, and saying on every page who is
//! signed in. A person who is a git User passes; one who is nobody in
//! git passes only as a viewer when `oidc.allow_viewers` says so; one
//! git disabled or the directory deprovisioned never does. Without a
//! session, a page that needs one sends the browser to sign in (and
//! `/metrics`, read by machines, answers 401).

use super::html::{self, esc};
use super::PagesState;
use crate::daemon::oidc::{Page, SignedIn};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

/// The largest page lbops rewrites to add who is signed in.
const MAX_PAGE_BYTES: usize = 16 * 1024 * 1024;

/// The page a path is, if it is one that may need sign-in.
fn page_of(path: &str) -> Option<Page> {
    match path {
        "/" => Some(Page::Index),
        "/tokens" => Some(Page::Tokens),
        "/metrics" => Some(Page::Metrics),
        "/estate" => Some(Page::Estate),
        p if p.starts_with("/commits/") => Some(Page::Commits),
        _ => None,
    }
}

pub(super) async fn gate(
    State(state): State<PagesState>,
    request: Request,
    next: Next,
) -> Response {
    let Some(oidc) = state.oidc.clone() else {
        return next.run(request).await;
    };
    let page = page_of(request.uri().path());
    // The estate needs `state.read`, so someone to hold it.
    let required =
        page.is_some_and(|p| p == Page::Estate || oidc.config().require_sign_in.covers(p));
    let now = state.clock.unix_seconds();
    let person = oidc.session_person(request.headers(), now);
    let view = state.trusted.load();
    let signed_in =
        match (person, view) {
            (Some(person), Some(view)) => Some(oidc.signed_in(person, &view.catalog)),
            (Some(_), None) if required => return (
                StatusCode::SERVICE_UNAVAILABLE,
                "lbops has no trusted policy yet to judge your sign-in; try again in a moment\n",
            )
                .into_response(),
            _ => None,
        };
    match (signed_in, required) {
        (Some(Ok(who)), _) => {
            let response = next.run(request).await;
            with_who(response, &who).await
        }
        (Some(Err(why)), true) => {
            let body = format!(
                "<h1>Not allowed here</h1>\n<p>{}</p>\n<form method=\"post\" action=\"/auth/logout\"><button>Sign out</button></form>\n",
                esc(&why.to_string())
            );
            (StatusCode::FORBIDDEN, Html(html::page("lbops", &body))).into_response()
        }
        (None, true) if page == Some(Page::Metrics) => (
            StatusCode::UNAUTHORIZED,
            "/metrics needs a signed-in session (oidc.require_sign_in)\n",
        )
            .into_response(),
        (None, true) => {
            let wanted = request
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let location = format!(
                "/auth/login?return_to={}",
                crate::daemon::oidc::provider::encode(&wanted)
            );
            let mut response = StatusCode::SEE_OTHER.into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            response
        }
        (_, false) => next.run(request).await,
    }
}

/// `response`, with who is signed in written into its header when it is
/// a page.
async fn with_who(response: Response, who: &SignedIn) -> Response {
    let html = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_PAGE_BYTES).await else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "page too large\n").into_response();
    };
    let text = String::from_utf8_lossy(&bytes);
    let shown = signed_in_header(&text, &who.shown());
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(shown))
}

/// `page` with "Signed in as …" and a sign-out button at the end of its
/// header.
pub(super) fn signed_in_header(page: &str, who: &str) -> String {
    let badge = format!(
        "<span class=\"signed-in\">Signed in as <strong>{}</strong> \
         <form method=\"post\" action=\"/auth/logout\" style=\"display:inline\">\
         <button>Sign out</button></form></span>",
        esc(who)
    );
    match page.find("</header>") {
        Some(at) => format!("{}{badge}{}", &page[..at], &page[at..]),
        None => page.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_that_may_need_sign_in_and_the_probes_that_never_do() {
        assert_eq!(page_of("/"), Some(Page::Index));
        assert_eq!(page_of("/commits/abc"), Some(Page::Commits));
        assert_eq!(page_of("/tokens"), Some(Page::Tokens));
        assert_eq!(page_of("/metrics"), Some(Page::Metrics));
        for open in [
            "/healthz",
            "/readyz",
            "/auth/login",
            "/auth/callback",
            "/v1/pools",
        ] {
            assert_eq!(page_of(open), None, "{open}");
        }
    }

    #[test]
    fn who_is_signed_in_is_escaped_into_the_header() {
        let page = super::super::html::page("t", "<p>x</p>");
        let shown = signed_in_header(&page, "<b>eve</b>");
        assert!(shown.contains("Signed in as <strong>&lt;b&gt;eve&lt;/b&gt;</strong>"));
        assert!(shown.find("Signed in").unwrap() < shown.find("</header>").unwrap());
    }
}
