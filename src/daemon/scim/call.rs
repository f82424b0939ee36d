//! One SCIM call, from request to answer: the size limits, the bearer
//! token (compared by digest in constant time), the endpoint, then one
//! `scim_call` audit record, written *before* a change is applied — no
//! record, no change (503) — then the change kept on disk (500 and taken
//! back when it cannot be), then one log line. The token is never
//! logged, recorded or echoed; neither are attribute values, beyond the
//! userName or displayName and `active` in the record's `change`.

use super::route::{self, Action, Route};
use super::{ScimState, PREFIX};
use crate::audit::{AuditEvent, EventKind};
use crate::idp::scim::list::{list, list_all, Params, Query};
use crate::idp::scim::render::{self, Projection};
use crate::idp::scim::{discovery, Kind, Planned, Precondition, ScimError, Store};
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use tokio::sync::OwnedMutexGuard;

/// The largest request body read.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// The most request-header bytes (names and values) a call may send.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// The media type of every answer (RFC 7644 §3.1).
pub const CONTENT_TYPE: &str = "application/scim+json";
/// The actor of calls with the SCIM token.
pub const IDENTITY_PROVIDER: &str = "identity provider (scim token)";
/// The actor of calls without it.
pub const ANONYMOUS: &str = "anonymous";
/// How much of a path the audit record and the log keep.
const MAX_RECORDED_PATH: usize = 256;

/// What an endpoint answers, before it is written out.
enum Answer {
    Json(StatusCode, Value),
    /// A resource as it is once the change is kept.
    Changed {
        status: StatusCode,
        kind: Kind,
        id: String,
        projection: Projection,
    },
    NoContent,
    Error(ScimError),
}

/// A change worked out and not yet applied, with the directory held.
struct Pending {
    store: OwnedMutexGuard<Store>,
    planned: Planned,
}

pub async fn call(State(scim): State<ScimState>, request: Request) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)), |c| c.0);
    let method = request.method().clone();
    let path = recorded_path(&format!("{PREFIX}{}", request.uri().path()));
    let base = base_url(scim.url.as_deref(), request.headers());
    let admitted = admit(&scim, request.headers());
    let actor = if admitted.is_ok() {
        IDENTITY_PROVIDER
    } else {
        ANONYMOUS
    };
    let (mut answer, pending) = match admitted {
        Err(refused) => (Answer::Error(refused), None),
        Ok(()) => serve(&scim, request, &base).await,
    };
    let change = pending.as_ref().map(|p| &p.planned.change);
    let (status, outcome, reason) = match &answer {
        Answer::Error(e) => (e.status(), e.code(), Some(e.to_string())),
        Answer::Json(status, _) => (status.as_u16(), "ok", None),
        Answer::Changed { status, .. } => (status.as_u16(), "ok", None),
        Answer::NoContent => (204, "ok", None),
    };
    let event = AuditEvent::new(EventKind::ScimCall, actor, outcome).with_detail(json!({
        "peer": peer.to_string(),
        "method": method.as_str(),
        "path": path,
        "status": status,
        "change": change,
        "reason": reason,
    }));
    let seq = change.map_or(0, |c| c.seq);
    let resource_id = change.map(|c| c.id.clone());
    let mut kept = pending.is_some();
    if let Err(error) = record(&scim, event).await {
        tracing::error!(%error, "scim: cannot write the audit log; the call is refused and nothing changed");
        answer = Answer::Error(ScimError::Unavailable(
            "lbops cannot write its audit log, so nothing was changed; try again once an operator has fixed it".to_owned(),
        ));
        kept = false;
    } else if let Some(Pending { mut store, planned }) = pending {
        if let Err(error) = scim.directory.commit(&mut store, &planned.delta).await {
            tracing::error!(%error, "scim: cannot keep the directory; the change was taken back");
            let taken_back = AuditEvent::new(EventKind::ScimCall, actor, "not_kept")
                .with_detail(json!({"path": path, "seq": seq, "reason": error.to_string()}));
            if let Err(error) = record(&scim, taken_back).await {
                tracing::error!(%error, "scim: cannot write the audit log");
            }
            answer = Answer::Error(match error {
                super::directory::CommitError::NotLeader(_) => ScimError::Unavailable(
                    "this lbops replica stands by, so nothing was changed; the leader keeps the \
                     identity provider's changes: try again (a load balancer in front of the \
                     replicas sends the retry on)"
                        .to_owned(),
                ),
                super::directory::CommitError::Io(_) => ScimError::Internal(
                    "lbops could not keep the change on disk, so nothing was changed; try again"
                        .to_owned(),
                ),
            });
            kept = false;
        } else if let Answer::Changed {
            status,
            kind,
            id,
            projection,
        } = &answer
        {
            answer = match store.get(*kind, id) {
                Some(resource) => {
                    let mut value = render::resource(&store, *kind, resource, &base);
                    projection.apply(&mut value);
                    Answer::Json(*status, value)
                }
                None => Answer::NoContent,
            };
        }
    }
    let response = respond(answer);
    tracing::info!(
        %peer,
        method = method.as_str(),
        path,
        status = response.status().as_u16(),
        outcome,
        resource_id,
        seq = kept.then_some(seq).filter(|s| *s > 0),
        "scim call"
    );
    response
}

/// Limits and the token.
fn admit(scim: &ScimState, headers: &HeaderMap) -> Result<(), ScimError> {
    let header_bytes: usize = headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(ScimError::TooLarge(format!(
            "the request's headers exceed {MAX_HEADER_BYTES} bytes"
        )));
    }
    let length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if length.is_some_and(|l| l > MAX_BODY_BYTES as u64) {
        return Err(too_large_body());
    }
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if scim.token.accepts(token) => Ok(()),
        Some(_) => Err(ScimError::Unauthorized(
            "that is not lbops' SCIM token; give the identity provider the token in scim.token_file or scim.token_env".to_owned(),
        )),
        None => Err(ScimError::Unauthorized(
            "send `Authorization: Bearer <token>` with lbops' SCIM token".to_owned(),
        )),
    }
}

fn too_large_body() -> ScimError {
    ScimError::TooLarge(format!(
        "the body exceeds {MAX_BODY_BYTES} bytes; send fewer operations or members at a time"
    ))
}

async fn serve(scim: &ScimState, request: Request, base: &str) -> (Answer, Option<Pending>) {
    match serve_or_fail(scim, request, base).await {
        Ok(answered) => answered,
        Err(error) => (Answer::Error(error), None),
    }
}

async fn serve_or_fail(
    scim: &ScimState,
    request: Request,
    base: &str,
) -> Result<(Answer, Option<Pending>), ScimError> {
    let action =
        route::route(request.uri().path()).and_then(|r| route::action(request.method(), r))?;
    let query = parameters(request.uri());
    let param = |name: &str| query.get(&name.to_ascii_lowercase()).map(String::as_str);
    let projection =
        |kind: Kind| Projection::parse(param("attributes"), param("excludedAttributes"), kind);
    let if_match = request
        .headers()
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let precondition = match &if_match {
        Some(version) => Precondition::IfMatch(version),
        None => Precondition::None,
    };
    let at = scim.clock.unix_seconds();
    let body = match &action {
        Action::Create(_)
        | Action::Replace(..)
        | Action::Patch(..)
        | Action::Search(_)
        | Action::SearchAll => body(request.into_body()).await?,
        _ => Value::Null,
    };
    let pending =
        |store: OwnedMutexGuard<Store>, planned: Planned| Some(Pending { store, planned });
    Ok(match action {
        Action::Read(route) => (read(scim, route, base, projection).await?, None),
        Action::List(kind) => {
            let query = Query::parse(
                Params {
                    filter: param("filter"),
                    start_index: param("startIndex"),
                    count: param("count"),
                    attributes: param("attributes"),
                    excluded_attributes: param("excludedAttributes"),
                },
                kind,
            )?;
            let store = scim.directory.lock().await;
            (
                Answer::Json(StatusCode::OK, list(&store, kind, &query, base)),
                None,
            )
        }
        Action::Search(kind) => {
            let query = Query::parse(SearchBody::read(&body)?.params(), kind)?;
            let store = scim.directory.lock().await;
            (
                Answer::Json(StatusCode::OK, list(&store, kind, &query, base)),
                None,
            )
        }
        Action::SearchAll => {
            let search = SearchBody::read(&body)?;
            let store = scim.directory.lock().await;
            let found = list_all(&store, search.params(), base)?;
            (Answer::Json(StatusCode::OK, found), None)
        }
        Action::Create(kind) => {
            let projection = projection(kind)?;
            let store = scim.directory.lock().await;
            let id = new_id()?;
            let planned = store.create(kind, id.clone(), &body, at)?;
            let answer = Answer::Changed {
                status: StatusCode::CREATED,
                kind,
                id,
                projection,
            };
            (answer, pending(store, planned))
        }
        Action::Replace(kind, id) => {
            let projection = projection(kind)?;
            changed(scim, kind, id, projection, |store, id| {
                store.replace(kind, id, &body, at, precondition)
            })
            .await?
        }
        Action::Patch(kind, id) => {
            let projection = projection(kind)?;
            changed(scim, kind, id, projection, |store, id| {
                store.patch(kind, id, &body, at, precondition)
            })
            .await?
        }
        Action::Delete(kind, id) => {
            let store = scim.directory.lock().await;
            let planned = store.delete(kind, &id, at, precondition)?;
            (Answer::NoContent, pending(store, planned))
        }
    })
}

/// A replace or patch of the resource `id`, worked out with the
/// directory held.
async fn changed(
    scim: &ScimState,
    kind: Kind,
    id: String,
    projection: Projection,
    change: impl FnOnce(&Store, &str) -> Result<Planned, ScimError>,
) -> Result<(Answer, Option<Pending>), ScimError> {
    let store = scim.directory.lock().await;
    let planned = change(&store, &id)?;
    let answer = Answer::Changed {
        status: StatusCode::OK,
        kind,
        id,
        projection,
    };
    Ok((answer, Some(Pending { store, planned })))
}

async fn read(
    scim: &ScimState,
    route: Route,
    base: &str,
    projection: impl Fn(Kind) -> Result<Projection, ScimError>,
) -> Result<Answer, ScimError> {
    let not_found = |what: &str, id: &str| {
        let shown: String = id.chars().take(64).collect();
        ScimError::NotFound(format!(
            "no {what} {shown:?}; list them at {PREFIX}/{what}s"
        ))
    };
    let value = match route {
        Route::ServiceProviderConfig => discovery::service_provider_config(base),
        Route::ResourceTypes => discovery::resource_types(base),
        Route::ResourceType(id) => discovery::find_resource_type(&id)
            .map(|r| discovery::resource_type(r, base))
            .ok_or_else(|| not_found("ResourceType", &id))?,
        Route::Schemas => discovery::schemas(base),
        Route::Schema(id) => discovery::find_schema(&id)
            .map(|s| discovery::schema(s, base))
            .ok_or_else(|| not_found("Schema", &id))?,
        Route::Resource(kind, id) => {
            let projection = projection(kind)?;
            let store = scim.directory.lock().await;
            let resource = store
                .get(kind, &id)
                .ok_or_else(|| not_found(kind.schema().name, &id))?;
            let mut value = render::resource(&store, kind, resource, base);
            projection.apply(&mut value);
            value
        }
        // The router sends these elsewhere; answered alike all the same.
        Route::Collection(_) | Route::Search(_) | Route::SearchAll | Route::Unoffered(_) => {
            return Err(ScimError::MethodNotAllowed(
                "use GET on a resource".to_owned(),
            ))
        }
    };
    Ok(Answer::Json(StatusCode::OK, value))
}

/// A `POST …/.search` body (RFC 7644 §3.4.3): the query parameters.
struct SearchBody {
    filter: Option<String>,
    start_index: Option<String>,
    count: Option<String>,
    attributes: Option<String>,
    excluded: Option<String>,
}

impl SearchBody {
    fn read(body: &Value) -> Result<SearchBody, ScimError> {
        let text = |name: &str| -> Result<Option<String>, ScimError> {
            Ok(match body.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(Value::Array(items)) => Some(
                    items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            ScimError::InvalidValue(format!(
                                "\"{name}\" is a list of attribute names"
                            ))
                        })?
                        .join(","),
                ),
                Some(_) => {
                    return Err(ScimError::InvalidValue(format!(
                        "\"{name}\" is a string or a number"
                    )))
                }
            })
        };
        Ok(SearchBody {
            filter: text("filter")?,
            start_index: text("startIndex")?,
            count: text("count")?,
            attributes: text("attributes")?,
            excluded: text("excludedAttributes")?,
        })
    }

    fn params(&self) -> Params<'_> {
        Params {
            filter: self.filter.as_deref(),
            start_index: self.start_index.as_deref(),
            count: self.count.as_deref(),
            attributes: self.attributes.as_deref(),
            excluded_attributes: self.excluded.as_deref(),
        }
    }
}

/// The body as JSON, read up to [`MAX_BODY_BYTES`].
async fn body(body: Body) -> Result<Value, ScimError> {
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large_body())?;
    serde_json::from_slice(&bytes).map_err(|e| {
        ScimError::InvalidSyntax(format!(
            "the body is not JSON ({}); send application/scim+json",
            e.classify_name()
        ))
    })
}

trait Classify {
    fn classify_name(&self) -> &'static str;
}

impl Classify for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax => "bad syntax",
            serde_json::error::Category::Data => "unexpected data",
            serde_json::error::Category::Eof => "cut short",
        }
    }
}

/// The query parameters, names in lower case (clients differ in case).
fn parameters(uri: &axum::http::Uri) -> HashMap<String, String> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| {
            q.0.into_iter()
                .map(|(name, value)| (name.to_ascii_lowercase(), value))
                .collect()
        })
        .unwrap_or_default()
}

/// A new resource id: a random UUID (version 4).
fn new_id() -> Result<String, ScimError> {
    let mut bytes = [0u8; 16];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut bytes).map_err(|_| {
        ScimError::Internal("no randomness from the operating system; try again".to_owned())
    })?;
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex = crate::support::hex::encode(&bytes);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    ))
}

/// Where resources live, for `meta.location`: `scim.url`, else this
/// request's `Host` (when it is a plain host and port).
fn base_url(url: Option<&str>, headers: &HeaderMap) -> String {
    if let Some(url) = url {
        return url.to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.:[]".contains(c))
        })
        .unwrap_or("localhost");
    format!("http://{host}{PREFIX}")
}

/// The path as the audit log and the log keep it: cut to a length, and
/// withheld when it looks like it holds a secret.
fn recorded_path(path: &str) -> String {
    if !crate::spec::material::scan(path).is_empty() {
        return "[withheld: the path looks like it holds a secret]".to_owned();
    }
    let mut end = path.len().min(MAX_RECORDED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

async fn record(scim: &ScimState, event: AuditEvent) -> Result<(), String> {
    let at = time::OffsetDateTime::from(scim.clock.now());
    crate::daemon::audit_append::append(&scim.audit, event, at).await
}

/// Writes an answer out, in one place: SCIM JSON, the ETag and Location
/// of a resource, `WWW-Authenticate` on 401.
fn respond(answer: Answer) -> Response {
    let (status, body) = match answer {
        Answer::Json(status, body) => (status, Some(body)),
        Answer::NoContent => (StatusCode::NO_CONTENT, None),
        Answer::Error(error) => (
            StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            Some(error.body()),
        ),
        // A change is rendered once kept (in `call`); one not kept
        // became an error there.
        Answer::Changed { .. } => (StatusCode::NO_CONTENT, None),
    };
    let mut response = match &body {
        Some(body) => (status, body.to_string()).into_response(),
        None => status.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if body.is_some() {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    }
    let meta = body.as_ref().and_then(|b| b.get("meta"));
    if let Some(version) = meta
        .and_then(|m| m.get("version"))
        .and_then(Value::as_str)
        .and_then(|v| HeaderValue::from_str(v).ok())
    {
        headers.insert(header::ETAG, version);
    }
    if status == StatusCode::CREATED {
        if let Some(location) = meta
            .and_then(|m| m.get("location"))
            .and_then(Value::as_str)
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            headers.insert(header::LOCATION, location);
        }
    }
    if status == StatusCode::UNAUTHORIZED {
        headers.insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"lbops-scim\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_base_url_is_the_configured_one_or_a_plain_host() {
        let mut headers = HeaderMap::new();
        assert_eq!(base_url(None, &headers), "http://localhost/scim/v2");
        headers.insert(header::HOST, HeaderValue::from_static("lbops.test:8712"));
        assert_eq!(base_url(None, &headers), "http://lbops.test:8712/scim/v2");
        headers.insert(header::HOST, HeaderValue::from_static("evil/x?y"));
        assert_eq!(base_url(None, &headers), "http://localhost/scim/v2");
        assert_eq!(
            base_url(Some("https://lbops.example.com/scim/v2"), &headers),
            "https://lbops.example.com/scim/v2"
        );
    }

    #[test]
    fn a_recorded_path_is_cut_and_never_holds_a_token() {
        let token = crate::spec::material::api_token::ApiToken::generate(|b| b.fill(7));
        let path = format!("/scim/v2/Users/{}", token.expose());
        assert!(!recorded_path(&path).contains(token.expose()));
        assert_eq!(recorded_path("/scim/v2/Users/a"), "/scim/v2/Users/a");
        assert!(recorded_path(&format!("/scim/v2/{}", "é".repeat(300))).len() <= MAX_RECORDED_PATH);
    }

    #[test]
    fn answers_are_scim_json_with_their_headers() {
        let error = respond(Answer::Error(ScimError::Unauthorized("no".into())));
        assert_eq!(error.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(error.headers()[header::CONTENT_TYPE], CONTENT_TYPE);
        assert!(error.headers().contains_key(header::WWW_AUTHENTICATE));
        let created = respond(Answer::Json(
            StatusCode::CREATED,
            json!({"meta": {"version": "W/\"3\"", "location": "http://x/scim/v2/Users/a"}}),
        ));
        assert_eq!(created.headers()[header::ETAG], "W/\"3\"");
        assert_eq!(
            created.headers()[header::LOCATION],
            "http://x/scim/v2/Users/a"
        );
        let gone = respond(Answer::NoContent);
        assert_eq!(gone.status(), StatusCode::NO_CONTENT);
        assert!(!gone.headers().contains_key(header::CONTENT_TYPE));
    }
}
