//! The data plane's admin API: how a controller (or a person with `curl`)
//! drives a running [`Dataplane`].
//!
//! It listens on its own socket, loopback by default ([`DEFAULT_LISTEN`]),
//! and every endpoint needs `Authorization: Bearer <token>`; the server
//! only holds the token's SHA-256.
//!
//! | endpoint            | answers                                                   |
//! |---------------------|-----------------------------------------------------------|
//! | `PUT /v1/config`    | applies a [`DataplaneConfig`] (versioned, idempotent, fenced by [`EPOCH_HEADER`]) |
//! | `GET /v1/config`    | the running config                                        |
//! | `GET /v1/state`     | what really runs: [`RunningState`], and the highest epoch |
//! | `GET /v1/events`    | NDJSON stream of [`DataplaneEvent`]s                               |
//! | `GET /metrics`      | Prometheus text                                           |
//!
//! An accepted config is saved in the state directory ([`CONFIG_FILE`])
//! before the `200`, and [`restore`] serves it again after a restart, with no
//! controller needed. The highest leader epoch accepted is saved beside it
//! ([`EPOCH_FILE`]), so a leader that was replaced stays fenced out across
//! a restart ([`epoch`]). Errors become responses in one place, [`AdminError`].

mod auth;
pub mod epoch;
mod error;
mod events;
mod metrics;
mod state;
mod store;

pub use auth::{parse_token_sha256, token_sha256};
pub use epoch::{EPOCH_FILE, EPOCH_HEADER};
pub use error::AdminError;
pub use events::DataplaneEvent;
pub use state::{observe, RunningState, TargetLoad};
pub use store::{restore, RestoreError, CONFIG_FILE};

use super::config::DataplaneConfig;
use super::Dataplane;
use bytes::Bytes;
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch, Mutex};
use tokio::task::{JoinHandle, JoinSet};

/// Where the admin API listens unless told otherwise: loopback only, since
/// it speaks plain HTTP and the bearer token crosses the wire.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8711);
/// The largest config body `PUT /v1/config` reads; larger ones get `413`.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;
/// How long a client has to send a config body once its headers are in.
pub const BODY_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long [`AdminServer::shutdown`] lets open requests finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How many events a slow `/v1/events` reader may fall behind before it
/// is told it missed some (`{"type":"lagged","missed":N}`).
pub const EVENT_BACKLOG: usize = 1024;

/// How to run the admin API.
#[derive(Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    /// SHA-256 of the bearer token; see [`parse_token_sha256`].
    pub token_sha256: [u8; 32],
    /// Where the last accepted config is kept ([`CONFIG_FILE`]).
    pub state_dir: PathBuf,
}

impl fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token_sha256", &"<redacted>")
            .field("state_dir", &self.state_dir)
            .finish()
    }
}

/// The response body of every endpoint: a whole JSON or text document, or
/// the endless event stream.
type Body = UnsyncBoxBody<Bytes, Infallible>;

/// A running admin API. Dropping it stops it too, without waiting.
pub struct AdminServer {
    local_addr: SocketAddr,
    events: broadcast::Sender<DataplaneEvent>,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<()>>,
}

/// What every request handler shares.
struct Admin {
    dataplane: Arc<Dataplane>,
    token_sha256: [u8; 32],
    state_dir: PathBuf,
    events: broadcast::Sender<DataplaneEvent>,
    /// Held from the version check of a `PUT` until it is saved, so two
    /// controllers cannot both pass the check. It holds the highest leader
    /// epoch accepted (the fence), as saved in [`EPOCH_FILE`].
    applying: Mutex<Option<u64>>,
    stop: watch::Receiver<bool>,
}

impl AdminServer {
    /// Binds `config.listen` (port 0 picks one; see [`Self::local_addr`]),
    /// creates the state directory, reads the fence saved there, and
    /// serves until [`Self::shutdown`].
    pub async fn start(dataplane: Arc<Dataplane>, config: AdminConfig) -> io::Result<Self> {
        std::fs::create_dir_all(&config.state_dir)?;
        let highest_epoch = epoch::load(&config.state_dir)?;
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        if !local_addr.ip().is_loopback() {
            tracing::warn!(
                %local_addr,
                "the admin API listens on an address that is not loopback: it speaks plain \
                 HTTP, so put it on a private network"
            );
        }
        let (events, _) = broadcast::channel(EVENT_BACKLOG);
        let (stop, stopped) = watch::channel(false);
        let admin = Arc::new(Admin {
            dataplane,
            token_sha256: config.token_sha256,
            state_dir: config.state_dir,
            events: events.clone(),
            applying: Mutex::new(highest_epoch),
            stop: stopped.clone(),
        });
        let task = tokio::spawn(accept_loop(admin, listener, stopped));
        Ok(Self {
            local_addr,
            events,
            stop,
            task: Some(task),
        })
    }

    /// The address it listens on.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where to publish more events for `/v1/events` readers. Accepted
    /// configs send [`DataplaneEvent::Config`] here; the data plane's health checks
    /// reach readers on their own ([`Dataplane::health_events`]). Sending
    /// fails only when nobody listens, which is fine to ignore.
    #[must_use]
    pub fn events(&self) -> broadcast::Sender<DataplaneEvent> {
        self.events.clone()
    }

    /// Stops accepting, ends event streams, lets open requests finish for
    /// up to [`SHUTDOWN_GRACE`], then closes every connection.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for AdminServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(admin: Arc<Admin>, listener: TcpListener, stop: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    let mut stopping = stop.clone();
    loop {
        tokio::select! {
            () = stopped(&mut stopping) => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    connections.spawn(serve_connection(admin.clone(), stream, peer, stop.clone()));
                }
                // Out of file descriptors, most likely: let some close.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
        }
    }
    drop(listener);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        connections.shutdown().await;
    }
}

async fn serve_connection(
    admin: Arc<Admin>,
    stream: TcpStream,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
) {
    let service = service_fn(move |request| {
        let admin = admin.clone();
        async move { Ok::<_, Infallible>(handle(&admin, peer, request).await) }
    });
    let builder = super::server::http_server(super::server::HEADER_READ_TIMEOUT);
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = stopped(&mut stop) => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
}

/// Resolves once the server is told to stop, or is gone.
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The one place where errors become responses, and where they are logged.
async fn handle(admin: &Admin, peer: SocketAddr, request: Request<Incoming>) -> Response<Body> {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match route(admin, peer, &method, &path, request).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!("{}", log_line(&error, &method, &path, peer));
            error.response()
        }
    }
}

/// What the log says about a failed request: never its headers, since the
/// token is in one of them, nor its query.
fn log_line(error: &AdminError, method: &Method, path: &str, peer: SocketAddr) -> String {
    format!(
        "lbops dataplane admin: {} {method} {path} from {peer}: {}",
        error.status().as_u16(),
        error.detail()
    )
}

async fn route(
    admin: &Admin,
    peer: SocketAddr,
    method: &Method,
    path: &str,
    request: Request<Incoming>,
) -> Result<Response<Body>, AdminError> {
    auth::authorize(&admin.token_sha256, request.headers())?;
    match (method, path) {
        (&Method::PUT, "/v1/config") => put_config(admin, peer, request).await,
        (&Method::GET, "/v1/config") => Ok(json_text(
            StatusCode::OK,
            admin.dataplane.snapshot().config.to_json(),
        )),
        (&Method::GET, "/v1/state") => {
            let state = StateAnswer {
                running: running_state(admin).await,
                highest_epoch: *admin.applying.lock().await,
            };
            Ok(json(StatusCode::OK, &state))
        }
        (&Method::GET, "/v1/events") => Ok(events::stream(
            admin.events.subscribe(),
            admin.dataplane.health_events(),
            admin.stop.clone(),
        )),
        (&Method::GET, "/metrics") => Ok(metrics::response(
            &running_state(admin).await,
            admin.dataplane.stats(),
            admin.dataplane.connections(),
        )),
        (_, "/v1/config") => Err(AdminError::MethodNotAllowed { allow: "GET, PUT" }),
        (_, "/v1/state" | "/v1/events" | "/metrics") => {
            Err(AdminError::MethodNotAllowed { allow: "GET" })
        }
        _ => Err(AdminError::NotFound),
    }
}

async fn running_state(admin: &Admin) -> RunningState {
    let listeners = admin.dataplane.bound().await;
    RunningState::of(
        &admin.dataplane.snapshot(),
        listeners,
        &admin.dataplane.draining(),
    )
}

/// `GET /v1/state`: what runs, and the fence.
#[derive(Serialize)]
struct StateAnswer {
    #[serde(flatten)]
    running: RunningState,
    /// The highest leader epoch accepted; `null` when no `PUT` carried one.
    highest_epoch: Option<u64>,
}

/// What a `PUT` of a parsed config does, given the running one.
#[derive(Debug, PartialEq, Eq)]
enum Decision {
    /// It is what runs already: answer `200`, change nothing.
    Unchanged,
    Apply,
}

fn decide(running: &DataplaneConfig, offered: &DataplaneConfig) -> Result<Decision, AdminError> {
    if offered == running {
        return Ok(Decision::Unchanged);
    }
    // A data plane that never had a config takes any version.
    if *running == DataplaneConfig::default() {
        return Ok(Decision::Apply);
    }
    match offered.version.cmp(&running.version) {
        std::cmp::Ordering::Greater => Ok(Decision::Apply),
        std::cmp::Ordering::Equal => Err(AdminError::VersionConflict {
            version: running.version,
        }),
        std::cmp::Ordering::Less => Err(AdminError::Stale {
            offered: offered.version,
            running: running.version,
        }),
    }
}

/// The answer to an accepted `PUT /v1/config`.
#[derive(Serialize)]
struct Accepted {
    version: u64,
    /// False when that exact config already ran.
    changed: bool,
    /// The fence after this `PUT`, when it carried an epoch.
    #[serde(skip_serializing_if = "Option::is_none")]
    epoch: Option<u64>,
}

async fn put_config(
    admin: &Admin,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Body>, AdminError> {
    let offered_epoch = epoch::offered(request.headers())?;
    let body = read_body(request).await?;
    let text = std::str::from_utf8(&body).map_err(|_| AdminError::NotUtf8)?;
    let offered = DataplaneConfig::parse(text)?;
    let version = offered.version;

    let mut highest_epoch = admin.applying.lock().await;
    // The fence first: a replaced leader learns nothing else, and a newer
    // one's epoch is saved before its config can run, so that no restart
    // ever lets an older leader in again.
    match epoch::check(*highest_epoch, offered_epoch)? {
        epoch::Fence::Unfenced | epoch::Fence::Holds => {}
        epoch::Fence::Raise(raised) => {
            epoch::save(&admin.state_dir, raised)
                .await
                .map_err(|source| AdminError::Persist {
                    source,
                    still_runs: false,
                })?;
            tracing::info!(epoch = raised, %peer, "data plane fenced at a newer leader epoch");
            *highest_epoch = Some(raised);
        }
    }
    let running = admin.dataplane.snapshot();
    let changed = decide(&running.config, &offered)? == Decision::Apply;
    if changed {
        let previous = running.config.clone();
        drop(running);
        admin.dataplane.apply(offered.clone()).await?;
        if let Err(source) = store::save(&admin.state_dir, &offered).await {
            let still_runs = admin.dataplane.apply(previous).await.is_err();
            return Err(AdminError::Persist { source, still_runs });
        }
        tracing::info!(version, %peer, "data plane config applied");
        // Nobody listening is fine.
        let _ = admin.events.send(DataplaneEvent::Config { version });
    } else {
        // Already running, perhaps from a file or a restore: make sure a
        // restart finds it too before saying so.
        store::save(&admin.state_dir, &offered)
            .await
            .map_err(|source| AdminError::Persist {
                source,
                still_runs: true,
            })?;
    }
    let accepted = Accepted {
        version,
        changed,
        epoch: offered_epoch.and(*highest_epoch),
    };
    Ok(json(StatusCode::OK, &accepted))
}

/// Reads a request body of at most [`MAX_BODY_BYTES`] within
/// [`BODY_READ_TIMEOUT`].
async fn read_body(request: Request<Incoming>) -> Result<Bytes, AdminError> {
    let too_large = AdminError::TooLarge {
        limit: MAX_BODY_BYTES,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large);
    }
    let limited = Limited::new(request.into_body(), MAX_BODY_BYTES);
    match tokio::time::timeout(BODY_READ_TIMEOUT, limited.collect()).await {
        Err(_) => Err(AdminError::BodyTimeout),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large),
        Ok(Err(e)) => Err(AdminError::BodyRead(e.to_string())),
    }
}

fn full(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<Body> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_text(status: StatusCode, mut text: String) -> Response<Body> {
    text.push('\n');
    full(status, "application/json", text)
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Body> {
    // Our own types, with string keys: serializing cannot fail.
    json_text(status, serde_json::to_string(value).unwrap_or_default())
}

#[cfg(test)]
mod tests;
