//! The webhook endpoint: `POST /hooks/git` from GitHub, GitLab, Gitea,
//! Forgejo or Bitbucket Cloud. A verified push sends one [`Trigger`] to the daemon.
//!
//! | answer | when                                                        |
//! |--------|-------------------------------------------------------------|
//! | `202`  | a verified push; its [`Trigger`] is on the daemon's channel |
//! | `200`  | a verified ping, or another event: nothing to do            |
//! | `400`  | verified, but the payload or event name cannot be read      |
//! | `401`  | the signature or token is missing, malformed or wrong       |
//! | `404`  | any other path                                              |
//! | `409`  | verified, but a repeat of a delivery already acted on       |
//! | `405`  | any other method                                            |
//! | `408`  | the body took longer than [`BODY_READ_TIMEOUT`]             |
//! | `413`  | the body is over [`MAX_BODY_BYTES`]                         |
//! | `503`  | the daemon did not take the trigger within [`SEND_TIMEOUT`] |
//!
//! Nothing but a `202` sends anything. Each refusal is logged with the
//! peer and the reason (a `409` with the delivery id); no log line or
//! response holds the secret or a signature.
//!
//! Replays: the last [`REMEMBERED_DELIVERIES`] verified deliveries are
//! remembered by delivery id and by the SHA-256 of their body, and a
//! repeat of either is a `409` (see [`replay`]). Only a request that
//! verified is looked up or remembered, so an unsigned copy can neither
//! pass nor use up the id of the real one. A delivery the daemon could not
//! take (`503`) is forgotten again, so that the forge's retry is taken. A
//! verified request without a delivery id is accepted, and known by its
//! body alone: older GitLab releases send no id, and an id proves nothing
//! anyway, since no forge signs it.

mod error;
mod replay;

pub use replay::REMEMBERED_DELIVERIES;

use super::{delivery, verify, Trigger, TriggerSource, WebhookEvent};
use crate::source::Secret;
use bytes::Bytes;
use error::{json, HookError};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

/// The one path the endpoint serves.
pub const PATH: &str = "/hooks/git";
/// The largest body read; push payloads are far smaller. Larger: `413`.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The most bytes of request line and headers a client may send.
pub const MAX_HEADER_BYTES: usize = 64 * 1024;
/// How long a client has to send its request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client has to send the body once its headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a push waits for room on the daemon's channel before it is
/// answered `503` (forges give up on a hook after about ten seconds).
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);
/// How long open requests may finish once the endpoint is told to stop.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// What every request shares.
struct Hook {
    secret: Secret,
    triggers: mpsc::Sender<Trigger>,
    deliveries: replay::Deliveries,
}

/// Serves the webhook on `listener` until `shutdown` resolves, sending a
/// [`Trigger`] on `triggers` for every verified push.
///
/// On shutdown it stops accepting, lets open requests finish for up to
/// [`SHUTDOWN_GRACE`], then closes every connection and returns. It fails
/// only if the listener is unusable.
pub async fn serve(
    listener: TcpListener,
    secret: Secret,
    triggers: mpsc::Sender<Trigger>,
    shutdown: impl Future,
) -> io::Result<()> {
    let local = listener.local_addr()?;
    tracing::info!(%local, path = PATH, "webhook endpoint listening");
    let hook = Arc::new(Hook {
        secret,
        triggers,
        deliveries: replay::Deliveries::default(),
    });
    let (stop, stopped) = watch::channel(false);
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(hook.clone(), stream, peer, stopped.clone()));
                }
                Err(error) => {
                    // Out of file descriptors, most likely: let some close.
                    tracing::warn!(%error, "webhook endpoint cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    drop(listener);
    stop.send_replace(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
    tracing::info!(%local, "webhook endpoint stopped");
    Ok(())
}

async fn serve_connection(
    hook: Arc<Hook>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| {
        let hook = hook.clone();
        async move { Ok::<_, Infallible>(handle(&hook, peer, request).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once the endpoint is told to stop, or is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The one place where failures become responses, and where they are
/// logged.
async fn handle(
    hook: &Hook,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    match route(hook, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(
                %peer,
                %path,
                status = error.status().as_u16(),
                reason = %error,
                "webhook request refused"
            );
            error.response()
        }
    }
}

async fn route(
    hook: &Hook,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, HookError> {
    if request.uri().path() != PATH {
        return Err(HookError::NotFound);
    }
    if request.method() != Method::POST {
        return Err(HookError::MethodNotAllowed);
    }
    let (parts, body) = request.into_parts();
    let body = read_body(&parts.headers, body).await?;
    let event = verify(&parts.headers, &body, hook.secret.expose().as_bytes())?;
    // Proven from here on: only now may the request touch the memory of
    // deliveries.
    let delivery = delivery(&parts.headers, &body)?;
    let admitted = hook.deliveries.admit(&delivery)?;
    let id = delivery.id.as_ref().map(|id| id.value.as_str());
    let trigger = match event {
        WebhookEvent::Ping => {
            admitted.keep();
            return Ok(json(
                StatusCode::OK,
                &serde_json::json!({ "event": "ping" }),
            ));
        }
        WebhookEvent::Ignored(name) => {
            admitted.keep();
            let answer = serde_json::json!({ "event": name, "ignored": true });
            return Ok(json(StatusCode::OK, &answer));
        }
        WebhookEvent::Push {
            forge,
            git_ref,
            after,
        } => Trigger {
            source: TriggerSource::Webhook(forge),
            git_ref,
            after,
        },
    };
    let answer = serde_json::json!({
        "event": "push",
        "ref": trigger.git_ref,
        "after": trigger.after,
    });
    tracing::info!(
        source = ?trigger.source,
        git_ref = ?trigger.git_ref,
        after = ?trigger.after,
        delivery = id.unwrap_or("-"),
        "webhook push accepted"
    );
    // Not sent (an error here, or the request given up while waiting), the
    // delivery is forgotten when `admitted` drops: the forge's retry must
    // be taken.
    match tokio::time::timeout(SEND_TIMEOUT, hook.triggers.send(trigger)).await {
        Ok(Ok(())) => {
            admitted.keep();
            Ok(json(StatusCode::ACCEPTED, &answer))
        }
        Ok(Err(_)) => Err(HookError::Stopping),
        Err(_) => Err(HookError::Busy),
    }
}

/// Reads a body of at most [`MAX_BODY_BYTES`] within [`BODY_READ_TIMEOUT`].
async fn read_body(headers: &HeaderMap, body: Incoming) -> Result<Bytes, HookError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(HookError::TooLarge);
    }
    let limited = Limited::new(body, MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Err(_) => Err(HookError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(HookError::TooLarge),
        Ok(Err(e)) => Err(HookError::BodyRead(e.to_string())),
    }
}
