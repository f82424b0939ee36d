//! Listening sockets and config swaps.
//!
//! A new config is compiled into a [`Snapshot`] and swapped in whole:
//! sockets it adds are bound first (so a bind failure rejects the config
//! and changes nothing), then the snapshot is published, then sockets it
//! drops stop accepting. Connections already open keep being served and
//! read the current snapshot on every request, so route changes apply at
//! once and nothing in flight is cut.
//!
//! Every connection is held to the [`ConnectionLimits`]: a place under its
//! listener's cap from accept, and a deadline until its first request
//! head, after which the listener's idle timeout governs (for HTTP/1 and
//! h2 alike).

use super::accept::{self, ClientStream};
use super::config::DataplaneConfig;
use super::h1::{self, upstream::CONNECT_TIMEOUT, upstream::IDLE_TIMEOUT as UPSTREAM_IDLE_TIMEOUT};
use super::health::{HealthCheckers, HealthEvent};
use super::limits::{ConnectionLimits, ConnectionSlot, ListenerConnections, RateLimit};
use super::pool::TargetState;
use super::proxy::{self, BodyError, ProxyBody, RequestContext, RequestIds, Upstream};
use super::runtime::{ServedListener, Snapshot};
use super::stats::{ConnectionStats, RequestStats};
use super::tls::{self, TlsConfigs, TlsError};
use super::workers::{reuseport_listener, Workers};
use crate::spec::kinds::loadbalancer::{Action, Protocol};
use crate::spec::units::Name;
use arc_swap::ArcSwap;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{broadcast, watch, Mutex};
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The buffer per direction of a `tcp` or `tls` listener's connection.
pub const TCP_COPY_BYTES: usize = 32 * 1024;
/// How long a client has to send a request's headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Health events kept for a slow listener before the oldest are dropped.
pub const HEALTH_EVENT_BACKLOG: usize = 1024;
/// How long an accept loop waits after the kernel refuses to hand over a
/// connection (out of descriptors, out of memory): retrying at once would
/// spin a core while nothing can change.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);
/// At most one "cannot accept" line per listener and worker in this long.
pub const ACCEPT_ERROR_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// Why a config was not applied; the running one stays.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A certificate or key of a TLS listener cannot be loaded.
    #[error("cannot terminate TLS: {0}")]
    Tls(TlsError),
}

/// A running data plane.
pub struct Dataplane {
    shared: Arc<Shared>,
    workers: Workers,
    sockets: Mutex<HashMap<SocketAddr, BoundSocket>>,
    health: HealthCheckers,
    health_events: broadcast::Sender<HealthEvent>,
    draining: Arc<std::sync::Mutex<Vec<DrainingTarget>>>,
}

/// A target removed from its pool that still has requests in flight.
#[derive(Clone, Debug)]
pub struct DrainingTarget {
    pub pool: Name,
    pub target: Arc<TargetState>,
}

/// One worker's handle on [`Shared`]: a connection task holds a clone of
/// its worker's handle, whose reference count only that worker moves
/// (cloning `Arc<Shared>` itself per connection moved one count between
/// the cores on every accept and close).
struct WorkerShared(Arc<Shared>);

impl std::ops::Deref for WorkerShared {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

struct Shared {
    snapshot: ArcSwap<Snapshot>,
    /// One upstream connection pool per worker, so connections stay on
    /// the thread that uses them: hyper's for h2 and what hyper serves,
    /// the fast path's own for HTTP/1.1.
    upstreams: Vec<Upstream>,
    fast_upstreams: Vec<h1::UpstreamConns>,
    request_ids: RequestIds,
    stats: RequestStats,
    limits: ConnectionLimits,
    connections: ConnectionStats,
}

/// One address, listened on by every worker.
struct BoundSocket {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// The protocol its listener had when options were last set on it.
    protocol: Protocol,
    /// The workers' sockets (duplicated descriptors; the accept loops own
    /// theirs), to set options on when the listener's protocol changes.
    sockets: Vec<std::net::TcpListener>,
}

impl Dataplane {
    /// Starts with no config (nothing bound until [`Self::apply`]), one
    /// worker thread per core and the default [`ConnectionLimits`].
    ///
    /// # Panics
    /// When the operating system refuses to start threads.
    #[must_use]
    pub fn new() -> Self {
        Self::with_limits(ConnectionLimits::default())
    }

    /// Like [`Self::new`], holding every connection to `limits`.
    ///
    /// # Panics
    /// When the operating system refuses to start threads.
    #[must_use]
    pub fn with_limits(limits: ConnectionLimits) -> Self {
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Self::start(cores, limits).expect("cannot start the data plane's worker threads")
    }

    /// Starts with `workers` serving threads.
    pub fn with_workers(workers: usize) -> io::Result<Self> {
        Self::start(workers, ConnectionLimits::default())
    }

    fn start(workers: usize, limits: ConnectionLimits) -> io::Result<Self> {
        let workers = Workers::start(workers)?;
        let upstreams: Vec<Upstream> = workers
            .handles()
            .iter()
            .map(|_| upstream_client())
            .collect();
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Ok(Self {
            shared: Arc::new(Shared {
                snapshot: ArcSwap::from_pointee(Snapshot::default()),
                fast_upstreams: upstreams
                    .iter()
                    .map(|_| h1::UpstreamConns::default())
                    .collect(),
                upstreams,
                request_ids: RequestIds::new(seed),
                stats: RequestStats::default(),
                limits,
                connections: ConnectionStats::default(),
            }),
            workers,
            sockets: Mutex::new(HashMap::new()),
            health: HealthCheckers::default(),
            health_events: broadcast::channel(HEALTH_EVENT_BACKLOG).0,
            draining: Arc::default(),
        })
    }

    /// Removed targets still finishing requests.
    #[must_use]
    pub fn draining(&self) -> Vec<DrainingTarget> {
        self.draining.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Health changes as the active checks see them.
    #[must_use]
    pub fn health_events(&self) -> broadcast::Receiver<HealthEvent> {
        self.health_events.subscribe()
    }

    /// Request counters and latencies since start.
    #[must_use]
    pub fn stats(&self) -> &RequestStats {
        &self.shared.stats
    }

    /// Open, accepted, refused and timed-out connections per listening
    /// address.
    #[must_use]
    pub fn connections(&self) -> &ConnectionStats {
        &self.shared.connections
    }

    /// The snapshot being served now.
    #[must_use]
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.shared.snapshot.load_full()
    }

    /// Swaps `config` in without dropping connections or requests.
    pub async fn apply(&self, config: DataplaneConfig) -> Result<(), ApplyError> {
        let mut sockets = self.sockets.lock().await;
        let tls = TlsConfigs::build(&config).map_err(ApplyError::Tls)?;
        let mut snapshot = Snapshot::compile(config, &self.shared.snapshot.load());
        snapshot.tls = tls;
        let mut opened = Vec::new();
        let mut already_bound = Vec::new();
        for (address, listener) in &snapshot.listeners {
            let protocol = listener.protocol();
            let bind_error = |source| ApplyError::Bind {
                address: *address,
                source,
            };
            if sockets.contains_key(address) {
                already_bound.push((*address, protocol));
                continue;
            }
            let per_worker = self
                .workers
                .handles()
                .iter()
                .map(|_| {
                    let socket = reuseport_listener(*address)?;
                    accept::defer_accept(&socket, protocol)?;
                    Ok((socket.try_clone()?, socket))
                })
                .collect::<io::Result<Vec<_>>>()
                .map_err(bind_error)?;
            opened.push((*address, protocol, per_worker));
        }
        // Only once every new address is bound: a config that cannot be
        // applied changes nothing on the sockets already serving.
        for (address, protocol) in already_bound {
            if let Some(bound) = sockets.get_mut(&address) {
                bound
                    .set_protocol(protocol)
                    .map_err(|source| ApplyError::Bind { address, source })?;
            }
        }
        let previous = self.shared.snapshot.swap(Arc::new(snapshot));
        let current = self.shared.snapshot.load_full();
        self.health.sync(&current, &self.health_events);
        for (pool, target, timeout) in removed_targets(&previous, &current) {
            if target.in_flight() == 0 {
                continue;
            }
            target.start_draining(timeout);
            // Listed before this returns, so state read right after an
            // apply already shows the draining target.
            if let Ok(mut list) = self.draining.lock() {
                list.push(DrainingTarget {
                    pool: pool.clone(),
                    target: target.clone(),
                });
            }
            tokio::spawn(drain(self.draining.clone(), pool, target, timeout));
        }
        for (address, protocol, per_worker) in opened {
            let (kept, listeners): (Vec<_>, Vec<_>) = per_worker.into_iter().unzip();
            let (stop, stopped) = watch::channel(false);
            // One count for all the workers' sockets of an address: the cap
            // is per listener, however the kernel spreads connections.
            let connections = Arc::new(ListenerConnections::new(
                address,
                self.shared.limits.max_connections_per_listener,
            ));
            self.shared.connections.add(connections.clone());
            let tasks = self
                .workers
                .handles()
                .iter()
                .zip(listeners)
                .enumerate()
                .map(|(worker, (handle, listener))| {
                    handle.spawn(accept_loop(
                        self.shared.clone(),
                        listener,
                        address,
                        worker,
                        connections.clone(),
                        stopped.clone(),
                    ))
                })
                .collect();
            sockets.insert(
                address,
                BoundSocket {
                    stop,
                    tasks,
                    protocol,
                    sockets: kept,
                },
            );
        }
        let gone: Vec<SocketAddr> = sockets
            .keys()
            .filter(|a| !current.listeners.contains_key(a))
            .copied()
            .collect();
        for address in gone {
            if let Some(socket) = sockets.remove(&address) {
                socket.stop_accepting().await;
            }
            self.shared.connections.remove(address);
        }
        Ok(())
    }

    /// The addresses being listened on.
    pub async fn bound(&self) -> Vec<SocketAddr> {
        let mut bound: Vec<SocketAddr> = self.sockets.lock().await.keys().copied().collect();
        bound.sort();
        bound
    }

    /// Stops accepting on every socket.
    pub async fn shutdown(&self) {
        self.health.stop();
        let mut sockets = self.sockets.lock().await;
        for (address, socket) in sockets.drain() {
            socket.stop_accepting().await;
            self.shared.connections.remove(address);
        }
    }
}

impl Default for Dataplane {
    fn default() -> Self {
        Self::new()
    }
}

/// Targets `previous` had that `current` no longer lists in the same pool,
/// with the draining timeout of the pool they left.
fn removed_targets(
    previous: &Snapshot,
    current: &Snapshot,
) -> Vec<(Name, Arc<TargetState>, Duration)> {
    let mut removed = Vec::new();
    for (name, old) in &previous.pools {
        let kept = current.pools.get(name);
        for target in old.targets() {
            let still_listed = kept.is_some_and(|p| p.targets().any(|t| Arc::ptr_eq(t, target)));
            if !still_listed {
                removed.push((name.clone(), target.clone(), old.spec.draining_timeout.0));
            }
        }
    }
    removed
}

/// How often a draining target's in-flight count is looked at.
const DRAIN_POLL: Duration = Duration::from_millis(50);

/// Waits for a removed target's requests to finish, and cuts those still
/// running when its draining timeout passes.
async fn drain(
    draining: Arc<std::sync::Mutex<Vec<DrainingTarget>>>,
    pool: Name,
    target: Arc<TargetState>,
    timeout: Duration,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while target.in_flight() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(DRAIN_POLL).await;
    }
    if target.in_flight() > 0 {
        target.cut_in_flight();
    }
    if let Ok(mut list) = draining.lock() {
        list.retain(|d| !(d.pool == pool && Arc::ptr_eq(&d.target, &target)));
    }
}

impl BoundSocket {
    /// Sets the options that depend on the listener's protocol, if it
    /// changed.
    fn set_protocol(&mut self, protocol: Protocol) -> io::Result<()> {
        if protocol != self.protocol {
            for socket in &self.sockets {
                accept::defer_accept(socket, protocol)?;
            }
            self.protocol = protocol;
        }
        Ok(())
    }

    async fn stop_accepting(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

fn upstream_client() -> Upstream {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(UPSTREAM_IDLE_TIMEOUT)
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// Accepts on one worker's socket until told to stop; each connection is
/// served on this worker if its listener has room for it.
async fn accept_loop(
    shared: Arc<Shared>,
    listener: std::net::TcpListener,
    local: SocketAddr,
    worker: usize,
    connections: Arc<ListenerConnections>,
    mut stop: watch::Receiver<bool>,
) {
    let Ok(listener) = accept::Listener::new(listener) else {
        return;
    };
    let shared = Arc::new(WorkerShared(shared));
    let accept_errors = RateLimit::new(ACCEPT_ERROR_LOG_INTERVAL);
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, client)) => {
                    let at = Instant::now();
                    // At the cap the stream is dropped right here: the
                    // client sees its connection closed at once and the
                    // descriptor is free again before the next accept.
                    let Some(slot) = connections.admit() else { continue };
                    let accepted = Accepted { local, client, worker, at, slot };
                    tokio::spawn(serve_connection(shared.clone(), stream, accepted));
                }
                // That client gave up before it was accepted; the next one
                // is not affected.
                Err(e) if is_connection_error(&e) => {}
                Err(e) => {
                    if accept_errors.due() {
                        tracing::warn!(
                            listener = %local,
                            error = %e,
                            "cannot accept connections, retrying every {}ms; if the process is out \
                             of file descriptors, raise LimitNOFILE or lower \
                             `lbops dataplane --max-connections-per-listener`",
                            ACCEPT_ERROR_BACKOFF.as_millis()
                        );
                    }
                    tokio::select! {
                        _ = stop.changed() => return,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => {}
                    }
                }
            }
        }
    }
}

/// Accept errors that concern one connection, not the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection just accepted, and the place it holds under its
/// listener's cap until it is closed (when this is dropped).
struct Accepted {
    local: SocketAddr,
    client: SocketAddr,
    worker: usize,
    /// When accept returned: the request-head deadline counts from here.
    at: Instant,
    slot: ConnectionSlot,
}

async fn serve_connection(shared: Arc<WorkerShared>, stream: ClientStream, accepted: Accepted) {
    let (listener, tls_config) = {
        let snapshot = shared.snapshot.load();
        let Some(listener) = snapshot.listeners.get(&accepted.local).cloned() else {
            return;
        };
        // Looked up (two maps, a name hashed) only where TLS is ended.
        let tls_config = matches!(listener.protocol(), Protocol::Https | Protocol::Tls)
            .then(|| {
                snapshot
                    .tls
                    .for_listener(&listener.balancer, listener.listener.port.value)
            })
            .flatten();
        (listener, tls_config)
    };
    let idle = listener
        .listener
        .idle_timeout
        .map_or(HEADER_READ_TIMEOUT, |d| d.0);
    let head_timeout = shared.limits.request_head_timeout;
    // A connection that has sent nothing yet is idle too: a listener whose
    // idle timeout is shorter than the head deadline closes it sooner.
    let http_deadline = accepted.at + head_timeout.min(idle);
    // Every connection's future is copied whole into its task (several
    // times); the TLS branches hold a rustls connection and are boxed so
    // that plain HTTP connections do not pay for their size.
    match listener.protocol() {
        Protocol::Http => serve_http1(shared, stream, &accepted, false, idle, http_deadline).await,
        Protocol::Tcp => Box::pin(forward_tcp(&shared, &listener, stream, accepted.client)).await,
        Protocol::Https => {
            Box::pin(serve_https(
                shared,
                tls_config,
                stream,
                &accepted,
                idle,
                http_deadline,
            ))
            .await;
        }
        Protocol::Tls => {
            let deadline = accepted.at + head_timeout;
            Box::pin(async {
                if let Some(stream) = handshake(tls_config, stream, deadline, &accepted).await {
                    forward_tcp(&shared, &listener, stream, accepted.client).await;
                }
            })
            .await;
        }
    }
}

/// Serves a connection of an `https` listener: h2 if the client chose it
/// in the handshake, else the HTTP/1.1 fast path.
async fn serve_https(
    shared: Arc<WorkerShared>,
    tls_config: Option<Arc<rustls::ServerConfig>>,
    stream: ClientStream,
    accepted: &Accepted,
    idle: Duration,
    deadline: Instant,
) {
    let Some(stream) = handshake(tls_config, stream, deadline, accepted).await else {
        return;
    };
    if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
        let io = TokioIo::new(stream);
        Box::pin(serve_http(shared, io, accepted, true, idle, deadline)).await;
    } else {
        serve_http1(shared, stream, accepted, true, idle, deadline).await;
    }
}

/// Serves a connection on the HTTP/1.1 fast path, and hands it to hyper
/// (`serve_http`) if it sends something that path does not serve (h2's
/// preface among them).
async fn serve_http1<S>(
    shared: Arc<WorkerShared>,
    stream: S,
    accepted: &Accepted,
    tls: bool,
    idle: Duration,
    deadline: Instant,
) where
    S: tokio::io::AsyncRead
        + tokio::io::AsyncWrite
        + Unpin
        + accept::Closing
        + accept::ReadReady
        + Send
        + 'static,
{
    let serving = h1::Serving {
        snapshot: &shared.snapshot,
        local: accepted.local,
        client: accepted.client,
        client_ip: h1::head::IpText::new(accepted.client.ip()),
        tls,
        upstreams: &shared.fast_upstreams[accepted.worker],
        request_ids: &shared.request_ids,
        stats: &shared.stats,
        idle,
        first_head_by: deadline,
        connections: accepted.slot.listener(),
    };
    let ended = h1::serve(&serving, stream).await;
    if let h1::Ended::HandOver { stream, served } = ended {
        let deadline = if served {
            Instant::now() + idle
        } else {
            deadline
        };
        // Boxed: hyper's connection state is large, and a future is copied
        // whole into every task spawned for a connection; most never need it.
        let io = TokioIo::new(stream);
        Box::pin(serve_http(shared, io, accepted, tls, idle, deadline)).await;
    }
}

/// The server side of a TLS handshake, finished by `deadline` (and within
/// [`tls::HANDSHAKE_TIMEOUT`]) or the connection is dropped.
async fn handshake(
    config: Option<Arc<rustls::ServerConfig>>,
    stream: ClientStream,
    deadline: Instant,
    accepted: &Accepted,
) -> Option<tokio_rustls::server::TlsStream<ClientStream>> {
    match tokio::time::timeout_at(deadline, tls::accept(config, stream)).await {
        Ok(stream) => stream,
        Err(_) => {
            accepted.slot.listener().head_timed_out();
            None
        }
    }
}

/// Serves HTTP/1.1 or h2 on one connection: until `deadline` unless a
/// complete request head has arrived by then, and after that until it has
/// been idle (no request in flight, none begun) for `idle`.
///
/// hyper alone cannot do either: its HTTP/1 header timeout starts only
/// once HTTP/1 vs h2 detection has read enough bytes (a client that sends
/// nothing, or half the h2 preface, would be held for ever), and its h2
/// server has no idle timeout at all.
async fn serve_http<I>(
    shared: Arc<WorkerShared>,
    io: I,
    accepted: &Accepted,
    tls: bool,
    idle: Duration,
    deadline: Instant,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (local, client, worker) = (accepted.local, accepted.client, accepted.worker);
    let activity = Arc::new(Activity::new(accepted.at));
    let requests = activity.clone();
    let service = service_fn(move |request| {
        let shared = shared.clone();
        // Counted as soon as hyper hands over a complete head, before the
        // response future first runs.
        let active = requests.begin();
        async move {
            let started = std::time::Instant::now();
            let snapshot = shared.snapshot.load_full();
            let response = match snapshot.listeners.get(&local) {
                Some(listener) => {
                    let ctx = RequestContext {
                        snapshot: &snapshot,
                        listener,
                        client_addr: client,
                        upstream: &shared.upstreams[worker],
                        tls,
                        request_ids: &shared.request_ids,
                        stats: &shared.stats,
                    };
                    proxy::serve(ctx, request).await
                }
                None => proxy::unavailable("this listener was removed\n"),
            };
            shared
                .stats
                .record(response.status().as_u16(), started.elapsed());
            Ok::<_, std::convert::Infallible>(response.map(|inner| TrackedBody {
                inner,
                _active: active,
            }))
        }
    });
    let server = http_server(idle);
    let mut connection = std::pin::pin!(server.serve_connection(io, service));
    // One timer, looked at rarely: it fires at the head deadline, then at
    // the moment the connection would have been idle long enough, and is
    // pushed on if it has been busy since.
    let mut wake = deadline;
    loop {
        tokio::select! {
            _ = connection.as_mut() => return,
            () = tokio::time::sleep_until(wake) => {}
        }
        if !activity.started() {
            // No complete request head in time: close without an answer,
            // as hyper's own header timeout does.
            accepted.slot.listener().head_timed_out();
            return;
        }
        match activity.idle_since() {
            Some(since) if since + idle <= Instant::now() => break,
            Some(since) => wake = since + idle,
            None => wake = Instant::now() + idle,
        }
    }
    // Idle for the listener's idle timeout: h2 is told GOAWAY, HTTP/1
    // closes at once; a client that does not read the GOAWAY is cut when
    // another idle period passes.
    connection.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(idle, connection).await;
}

/// What the requests of one connection tell the task serving it.
struct Activity {
    accepted: Instant,
    started: AtomicBool,
    in_flight: AtomicUsize,
    /// When the last request finished, in milliseconds after `accepted`.
    last_end_ms: AtomicU64,
}

impl Activity {
    fn new(accepted: Instant) -> Self {
        Self {
            accepted,
            started: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            last_end_ms: AtomicU64::new(0),
        }
    }

    fn begin(self: &Arc<Self>) -> ActiveRequest {
        self.started.store(true, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        ActiveRequest(self.clone())
    }

    fn started(&self) -> bool {
        self.started.load(Ordering::Relaxed)
    }

    /// Since when no request has been in flight; `None` while one is.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Relaxed) > 0 {
            return None;
        }
        let ms = self.last_end_ms.load(Ordering::Relaxed);
        Some(self.accepted + Duration::from_millis(ms))
    }
}

/// A request from its head until its response body has been sent (or
/// dropped).
struct ActiveRequest(Arc<Activity>);

impl Drop for ActiveRequest {
    fn drop(&mut self) {
        let activity = &self.0;
        let ms = u64::try_from(activity.accepted.elapsed().as_millis()).unwrap_or(u64::MAX);
        activity.last_end_ms.fetch_max(ms, Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A response body that keeps its request counted as active.
struct TrackedBody {
    inner: ProxyBody,
    _active: ActiveRequest,
}

impl Body for TrackedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The HTTP/1.1 + HTTP/2 server settings every lbops listener uses: how
/// long a client may take to send a request head (which is also how long
/// a kept-alive connection may sit idle) and a cap on header bytes.
pub(crate) fn http_server(header_read_timeout: Duration) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(h1::MAX_HEAD_BYTES);
    builder
}

/// L4: picks a target of the listener's forward action and copies bytes
/// both ways until either side closes.
async fn forward_tcp<S>(
    shared: &Shared,
    listener: &ServedListener,
    mut stream: S,
    client: SocketAddr,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let Some(Action::Forward(forward)) = listener.router.default_action() else {
        return;
    };
    let snapshot = shared.snapshot.load_full();
    let Some(pool) = proxy::choose_pool(&snapshot, listener, forward) else {
        return;
    };
    let key = client.ip().to_string();
    let Some(target) = pool.pick(Some(key.as_bytes())) else {
        return;
    };
    let _guard = target.start_request();
    let address = target.address.to_string();
    let connected =
        tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address.as_str())).await;
    if let Ok(Ok(mut upstream)) = connected {
        let _ = upstream.set_nodelay(true);
        // 32 KiB a side rather than tokio's 8 KiB: a large transfer takes
        // a quarter of the reads and writes (2.7x the throughput measured;
        // 64 KiB was no faster, and a connection holds both buffers for
        // its whole life, idle or not).
        let _ = tokio::io::copy_bidirectional_with_sizes(
            &mut stream,
            &mut upstream,
            TCP_COPY_BYTES,
            TCP_COPY_BYTES,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{load, Options, SourceFile};

    fn listeners(ports: &[(u16, &str)], version: u64) -> DataplaneConfig {
        let mut yaml = String::from(
            "kind: Pool\nname: p\nspec:\n  targets: [{address: '127.0.0.1:9'}]\n---\n\
             kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n",
        );
        for (port, protocol) in ports {
            yaml.push_str(&format!(
                "    - {{name: l{port}, protocol: {protocol}, port: {port}, \
                 default_action: {{forward: {{pools: [{{pool: p}}]}}}}}}\n"
            ));
        }
        let catalog = load(
            &[SourceFile::new("repo.yaml", &yaml)],
            &Options::at(1_800_000_000),
        )
        .expect("valid")
        .catalog;
        DataplaneConfig::from_catalog(&catalog, version)
    }

    fn one_listener(port: u16, protocol: &str, version: u64) -> DataplaneConfig {
        listeners(&[(port, protocol)], version)
    }

    /// `TCP_DEFER_ACCEPT` of every worker's socket for `address`.
    async fn deferral(dataplane: &Dataplane, address: SocketAddr) -> Vec<u32> {
        let sockets = dataplane.sockets.lock().await;
        sockets[&address]
            .sockets
            .iter()
            .map(|s| lbops_sockopt::tcp_defer_accept(s).expect("readable option"))
            .collect()
    }

    #[tokio::test]
    async fn http_listeners_defer_accept_and_tcp_listeners_do_not_across_swaps() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let dataplane = Dataplane::new();
        let workers = dataplane.workers.handles().len();
        let deferred = vec![accept::DEFER_ACCEPT_SECONDS; workers];
        dataplane
            .apply(one_listener(port, "http", 1))
            .await
            .unwrap();
        assert_eq!(deferral(&dataplane, address).await, deferred);
        // The same address turned into a `tcp` listener keeps its sockets
        // (no connection dropped) and stops deferring: a server may speak
        // first there.
        dataplane.apply(one_listener(port, "tcp", 2)).await.unwrap();
        assert_eq!(deferral(&dataplane, address).await, vec![0; workers]);
        dataplane
            .apply(one_listener(port, "http", 3))
            .await
            .unwrap();
        assert_eq!(deferral(&dataplane, address).await, deferred);
        // A config that cannot be applied (a new address is taken) changes
        // nothing on the sockets already serving — whichever address the
        // apply meets first (a new map each time, so a new order).
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port to take");
        let busy = taken.local_addr().expect("its address").port();
        for _ in 0..8 {
            let refused = listeners(&[(port, "tcp"), (busy, "http")], 4);
            assert!(dataplane.apply(refused).await.is_err());
            assert_eq!(deferral(&dataplane, address).await, deferred);
        }
        dataplane.shutdown().await;

        let tcp = Dataplane::new();
        tcp.apply(one_listener(port, "tcp", 1)).await.unwrap();
        assert_eq!(deferral(&tcp, address).await, vec![0; workers]);
        tcp.shutdown().await;
    }
}
