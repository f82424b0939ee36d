//! Which endpoint a path below `/scim/v2` names, and whether the method
//! is one it answers: a function of the two, so the table is read in
//! one place.

use crate::idp::scim::{Kind, ScimError};
use axum::http::Method;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    ServiceProviderConfig,
    ResourceTypes,
    ResourceType(String),
    Schemas,
    Schema(String),
    /// `/Users` or `/Groups`.
    Collection(Kind),
    /// `/Users/{id}` or `/Groups/{id}`.
    Resource(Kind, String),
    /// `/Users/.search` or `/Groups/.search`.
    Search(Kind),
    /// `/.search`, across resource types.
    SearchAll,
    /// What RFC 7644 defines and lbops does not offer: `/Bulk`, `/Me`.
    Unoffered(&'static str),
}

/// What to do, once the route and the method agree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Read(Route),
    List(Kind),
    Search(Kind),
    SearchAll,
    Create(Kind),
    Replace(Kind, String),
    Patch(Kind, String),
    Delete(Kind, String),
}

impl Action {
    /// Whether it may change the directory.
    #[must_use]
    pub fn writes(&self) -> bool {
        matches!(
            self,
            Action::Create(_) | Action::Replace(..) | Action::Patch(..) | Action::Delete(..)
        )
    }
}

fn kind(segment: &str) -> Option<Kind> {
    match segment {
        "Users" => Some(Kind::User),
        "Groups" => Some(Kind::Group),
        _ => None,
    }
}

/// The route of `path` (below `/scim/v2`), or 404.
pub fn route(path: &str) -> Result<Route, ScimError> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let route = match segments.as_slice() {
        ["ServiceProviderConfig"] => Route::ServiceProviderConfig,
        ["ResourceTypes"] => Route::ResourceTypes,
        ["ResourceTypes", id] => Route::ResourceType((*id).to_owned()),
        ["Schemas"] => Route::Schemas,
        ["Schemas", id] => Route::Schema((*id).to_owned()),
        [".search"] => Route::SearchAll,
        ["Bulk"] => Route::Unoffered("bulk operations"),
        ["Me"] => Route::Unoffered("/Me (the token is the identity provider's, not a person's)"),
        [collection] => Route::Collection(kind(collection).ok_or_else(|| not_found(path))?),
        [collection, ".search"] => Route::Search(kind(collection).ok_or_else(|| not_found(path))?),
        [collection, id] if !id.is_empty() => Route::Resource(
            kind(collection).ok_or_else(|| not_found(path))?,
            (*id).to_owned(),
        ),
        _ => return Err(not_found(path)),
    };
    Ok(route)
}

fn not_found(path: &str) -> ScimError {
    let shown: String = path.chars().take(64).collect();
    ScimError::NotFound(format!(
        "nothing at {shown:?}; lbops serves /Users, /Groups, /ServiceProviderConfig, /ResourceTypes and /Schemas below /scim/v2"
    ))
}

/// What `method` on `route` does, or 405 / 501.
pub fn action(method: &Method, route: Route) -> Result<Action, ScimError> {
    let refuse = |allowed: &str| {
        Err(ScimError::MethodNotAllowed(format!(
            "{method} is not answered here; use {allowed}"
        )))
    };
    match (route, method.clone()) {
        (Route::Unoffered(what), _) => Err(ScimError::NotImplemented(format!(
            "lbops does not offer {what}; see /ServiceProviderConfig"
        ))),
        (Route::Collection(kind), Method::GET) => Ok(Action::List(kind)),
        (Route::Collection(kind), Method::POST) => Ok(Action::Create(kind)),
        (Route::Collection(_), _) => refuse("GET or POST"),
        (Route::Search(kind), Method::POST) => Ok(Action::Search(kind)),
        (Route::SearchAll, Method::POST) => Ok(Action::SearchAll),
        (Route::Search(_) | Route::SearchAll, _) => refuse("POST"),
        (Route::Resource(kind, id), Method::GET) => Ok(Action::Read(Route::Resource(kind, id))),
        (Route::Resource(kind, id), Method::PUT) => Ok(Action::Replace(kind, id)),
        (Route::Resource(kind, id), Method::PATCH) => Ok(Action::Patch(kind, id)),
        (Route::Resource(kind, id), Method::DELETE) => Ok(Action::Delete(kind, id)),
        (Route::Resource(..), _) => refuse("GET, PUT, PATCH or DELETE"),
        (route, Method::GET) => Ok(Action::Read(route)),
        (_, _) => refuse("GET"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_methods_name_one_action() {
        let act = |m: Method, p: &str| route(p).and_then(|r| action(&m, r));
        assert_eq!(act(Method::GET, "/Users"), Ok(Action::List(Kind::User)));
        assert_eq!(
            act(Method::POST, "/Groups/"),
            Ok(Action::Create(Kind::Group))
        );
        assert_eq!(
            act(Method::PATCH, "/Users/abc"),
            Ok(Action::Patch(Kind::User, "abc".into()))
        );
        assert_eq!(
            act(Method::POST, "/Users/.search"),
            Ok(Action::Search(Kind::User))
        );
        assert_eq!(
            act(
                Method::GET,
                "/Schemas/urn:ietf:params:scim:schemas:core:2.0:User"
            ),
            Ok(Action::Read(Route::Schema(
                "urn:ietf:params:scim:schemas:core:2.0:User".into()
            )))
        );
        assert_eq!(
            act(Method::DELETE, "/ServiceProviderConfig")
                .unwrap_err()
                .status(),
            405
        );
        assert_eq!(act(Method::PUT, "/Users").unwrap_err().status(), 405);
        assert_eq!(act(Method::POST, "/.search"), Ok(Action::SearchAll));
        assert_eq!(act(Method::GET, "/.search").unwrap_err().status(), 405);
        assert_eq!(act(Method::POST, "/Bulk").unwrap_err().status(), 501);
        for missing in ["/", "/Nope", "/Users/a/b", "/Users//x"] {
            assert_eq!(
                act(Method::GET, missing).unwrap_err().status(),
                404,
                "{missing}"
            );
        }
    }
}
