//! `GET /estate`: who may see what, then the page. With OIDC, the sign-in
//! gate has already sent whoever is not signed in to sign in; here a
//! person's User must hold `state.read`, and sees only what it covers.

use super::super::PagesState;
use crate::authz::{authorize_claimed, Change};
use crate::daemon::oidc::SignedIn;
use crate::identity::Principal;
use crate::spec::actions::STATE_READ;
use crate::spec::kinds::{Kind, Labels, ResourceId};
use crate::spec::units::Name;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};

pub async fn page(State(state): State<PagesState>, headers: HeaderMap) -> Response {
    let Some(live) = state.live.clone() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "this daemon observes no provider, so there is no estate to show\n",
        )
            .into_response();
    };
    let reader = match reader(&state, &headers) {
        Ok(reader) => reader,
        Err(response) => return *response,
    };
    let may_read = |kind: Kind, name: &Name, labels: &Labels| match &reader {
        Reader::Anyone => true,
        Reader::User { user, groups } => {
            let Some(view) = state.trusted.load() else {
                return false;
            };
            let change = Change::on(
                &STATE_READ,
                ResourceId::new(kind, name.clone()),
                labels.clone(),
            );
            let idp = state.idp.snapshot();
            authorize_claimed(
                &view.catalog,
                idp.idp(),
                &Principal::User(user.clone()),
                groups,
                &change,
            )
            .is_ok()
        }
    };
    let estate = super::current(&live, &state.trusted, &state.estate, &may_read).await;
    Html(super::render::estate(&estate)).into_response()
}

/// Who reads the page.
enum Reader {
    /// No sign-in is configured: the pages are open.
    Anyone,
    User {
        user: Name,
        groups: Vec<String>,
    },
}

fn reader(state: &PagesState, headers: &HeaderMap) -> Result<Reader, Box<Response>> {
    let Some(oidc) = &state.oidc else {
        return Ok(Reader::Anyone);
    };
    let refused = |why: String| {
        let body = format!(
            "<h1>Not allowed here</h1>\n<p>{}</p>\n",
            crate::daemon::pages::html::esc(&why)
        );
        Box::new(
            (
                StatusCode::FORBIDDEN,
                Html(crate::daemon::pages::html::page("lbops: estate", &body)),
            )
                .into_response(),
        )
    };
    let now = state.clock.unix_seconds();
    let (Some(person), Some(view)) = (oidc.session_person(headers, now), state.trusted.load())
    else {
        return Err(refused(
            "The estate needs a signed-in person who holds state.read.".into(),
        ));
    };
    match oidc.signed_in(person, &view.catalog) {
        Ok(SignedIn::User { user, person }) => {
            let idp = state.idp.snapshot();
            let principal = Principal::User(user.clone());
            crate::authz::holds_action(&view.catalog, idp.idp(), &principal, &STATE_READ)
                .map_err(|denied| refused(denied.to_string()))?;
            Ok(Reader::User {
                user,
                groups: person.groups,
            })
        }
        Ok(SignedIn::Viewer { .. }) => Err(refused(
            "The estate needs state.read, which only a User in git can hold; a viewer cannot."
                .into(),
        )),
        Err(why) => Err(refused(why.to_string())),
    }
}
