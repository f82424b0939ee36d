//! The data plane's connection limits on real loopback sockets: a
//! deadline from accept until the first complete request head, whatever
//! a client sends (nothing, half an h2 preface, a trickled HTTP/1 head, no
//! TLS ClientHello), the idle timeout after it (h2 included), and a cap on
//! open connections per listener, counted in `/metrics`.
//!
//! HTTP and TLS listeners defer accepting until the client has sent
//! something (`TCP_DEFER_ACCEPT`): a silent client is handed over by the
//! kernel after [`DEFER_ACCEPT_SECONDS`], and its deadline runs from there.
//!
//! Deadlines are short (300 ms) and every wait is a read until EOF, or a
//! poll, bounded by [`CLOSED_WITHIN`]: far longer than the deadline, far
//! shorter than the defaults the old code fell back on.

mod common;

use bytes::Bytes;
use common::{config, wait_for_line, Backend, ChildProcess, Ports, NOW};
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::{http1, http2};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lbops::dataplane::admin::{token_sha256, AdminConfig, AdminServer};
use lbops::dataplane::config::DataplaneConfig;
use lbops::dataplane::{ConnectionLimits, Dataplane, DEFER_ACCEPT_SECONDS};
use lbops::spec::{load, Options, SourceFile};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The request-head deadline the tests configure.
const DEADLINE: Duration = Duration::from_millis(300);
/// How long a test waits for the data plane to close a connection or to
/// show a count: generous for a loaded machine, and below the 10 s TLS
/// handshake timeout and 30 s header timeout the old code relied on.
const CLOSED_WITHIN: Duration = Duration::from_secs(5);

fn limits(request_head_timeout: Duration, max_connections_per_listener: usize) -> ConnectionLimits {
    ConnectionLimits {
        request_head_timeout,
        max_connections_per_listener,
    }
}

/// One HTTP listener on `port` forwarding to `backend`, with `extra`
/// listener fields (e.g. `idle_timeout: 1s, `).
fn http_config(port: u16, backend: SocketAddr, extra: &str) -> DataplaneConfig {
    config(
        &format!(
            "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{backend}'}}]\n---\n\
             kind: LoadBalancer\nname: front\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
             \x20   - {{name: http, protocol: http, port: {port}, {extra}\
             default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n"
        ),
        1,
    )
}

/// A data plane with `limits` serving one HTTP listener; its address.
async fn http_dataplane(
    limits: ConnectionLimits,
    backend: &Backend,
    extra: &str,
) -> (Dataplane, SocketAddr) {
    let ports = Ports::default();
    let port = ports.hold();
    let dataplane = Dataplane::with_limits(limits);
    dataplane
        .apply(http_config(port, backend.address, extra))
        .await
        .expect("applies");
    (dataplane, SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Reads (and discards) until the peer closes; how long that took from
/// `since`. A reset counts as closed. Panics if still open after
/// [`CLOSED_WITHIN`].
async fn closed_after(stream: &mut (impl AsyncReadExt + Unpin), since: Instant) -> Duration {
    let mut buf = [0u8; 1024];
    let read_to_end = async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    };
    tokio::time::timeout(CLOSED_WITHIN, read_to_end)
        .await
        .unwrap_or_else(|_| panic!("the connection was still open after {CLOSED_WITHIN:?}"));
    since.elapsed()
}

/// Polls `value` until it is `expected`, for at most [`CLOSED_WITHIN`].
async fn eventually<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: T,
    value: impl Fn() -> T,
) {
    let started = Instant::now();
    loop {
        let now = value();
        if now == expected {
            return;
        }
        assert!(
            started.elapsed() < CLOSED_WITHIN,
            "{what}: still {now:?}, expected {expected:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Connects, lets `send` write what the client sends, and returns how long
/// after connecting the data plane closed the connection.
async fn close_time<F, Fut>(address: SocketAddr, send: F) -> Duration
where
    F: FnOnce(tokio::net::tcp::OwnedWriteHalf) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let started = Instant::now();
    let stream = TcpStream::connect(address).await.expect("connects");
    let (mut read, write) = stream.into_split();
    let writer = tokio::spawn(send(write));
    let elapsed = closed_after(&mut read, started).await;
    writer.abort();
    elapsed
}

fn head_timeouts(dataplane: &Dataplane, address: SocketAddr) -> u64 {
    dataplane
        .connections()
        .get(address)
        .map_or(0, |c| c.head_timeouts())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_sends_nothing_is_closed_at_the_deadline() {
    let backend = Backend::start("web").await;
    let (dataplane, address) = http_dataplane(limits(DEADLINE, 100), &backend, "").await;
    let elapsed = close_time(address, |write| async move {
        // Keep the write half open: a half-closed client is a different case.
        std::future::pending::<()>().await;
        drop(write);
    })
    .await;
    // The kernel held the silent connection for the deferral first (it
    // is handed over once a client has sent something): the deadline
    // counts from the accept after it.
    let deferred = Duration::from_secs(DEFER_ACCEPT_SECONDS.into());
    assert!(
        elapsed >= deferred + DEADLINE,
        "closed before the deferral and the deadline: {elapsed:?}"
    );
    eventually("request head timeouts", 1, || {
        head_timeouts(&dataplane, address)
    })
    .await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_an_h2_preface_is_closed_at_the_deadline() {
    let backend = Backend::start("web").await;
    let (dataplane, address) = http_dataplane(limits(DEADLINE, 100), &backend, "").await;
    let elapsed = close_time(address, |mut write| async move {
        // The first 16 of the preface's 24 bytes: HTTP/1 vs h2 detection
        // waits for the rest.
        write.write_all(b"PRI * HTTP/2.0\r\n").await.unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    assert!(
        elapsed >= DEADLINE,
        "closed before the deadline: {elapsed:?}"
    );
    eventually("request head timeouts", 1, || {
        head_timeouts(&dataplane, address)
    })
    .await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_h2_client_that_never_sends_headers_is_closed_at_the_deadline() {
    let backend = Backend::start("web").await;
    let (dataplane, address) = http_dataplane(limits(DEADLINE, 100), &backend, "").await;
    let elapsed = close_time(address, |mut write| async move {
        // The whole preface and an empty SETTINGS frame: a valid h2
        // connection that never opens a stream.
        write
            .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
            .await
            .unwrap();
        std::future::pending::<()>().await;
    })
    .await;
    assert!(
        elapsed >= DEADLINE,
        "closed before the deadline: {elapsed:?}"
    );
    eventually("request head timeouts", 1, || {
        head_timeouts(&dataplane, address)
    })
    .await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_http1_head_is_closed_at_the_deadline() {
    let backend = Backend::start("web").await;
    let (dataplane, address) = http_dataplane(limits(DEADLINE, 100), &backend, "").await;
    let elapsed = close_time(address, |mut write| async move {
        // A byte every 20 ms, for ever: every read brings something, so
        // only a deadline on the whole head (not per read) stops it.
        let head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ";
        for byte in head.iter().copied().chain(std::iter::repeat(b'a')) {
            if write.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(
        elapsed >= DEADLINE,
        "closed before the deadline: {elapsed:?}"
    );
    eventually("request head timeouts", 1, || {
        head_timeouts(&dataplane, address)
    })
    .await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_under_way_outlives_the_deadline_on_http1_and_h2() {
    let backend = Backend::start("web").await;
    let (dataplane, address) = http_dataplane(limits(DEADLINE, 100), &backend, "").await;
    // The head arrives at once; the backend answers after three deadlines,
    // and the connection then serves another request.
    let slow = || {
        Request::get("/slow/900")
            .header("host", "a.test")
            .body(Empty::<Bytes>::new())
            .unwrap()
    };
    let io = TokioIo::new(TcpStream::connect(address).await.unwrap());
    let (mut h1, connection) = http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        // A kept-alive HTTP/1 connection takes the next request only once
        // the last response is all read.
        h1.ready().await.expect("the connection is still open");
        let response = h1.send_request(slow()).await.expect("HTTP/1 response");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    let io = TokioIo::new(TcpStream::connect(address).await.unwrap());
    let (mut h2, connection) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
    tokio::spawn(connection);
    for _ in 0..2 {
        let response = h2.send_request(slow()).await.expect("h2 response");
        assert_eq!(response.status(), 200);
        response.into_body().collect().await.unwrap();
    }
    assert_eq!(head_timeouts(&dataplane, address), 0);
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_h2_connection_is_closed_after_the_idle_timeout() {
    let backend = Backend::start("web").await;
    let idle = Duration::from_secs(1);
    let (dataplane, address) = http_dataplane(
        limits(Duration::from_secs(10), 100),
        &backend,
        "idle_timeout: 1s, ",
    )
    .await;
    let io = TokioIo::new(TcpStream::connect(address).await.unwrap());
    let (mut h2, connection) = http2::handshake(TokioExecutor::new(), io).await.unwrap();
    let connection = tokio::spawn(connection);
    let asked = Instant::now();
    let request = Request::get("/")
        .header("host", "a.test")
        .body(Empty::<Bytes>::new())
        .unwrap();
    let response = h2.send_request(request).await.expect("h2 response");
    assert_eq!(response.status(), 200);
    response.into_body().collect().await.unwrap();
    // The client connection ends when the data plane sends GOAWAY and
    // closes the socket.
    tokio::time::timeout(CLOSED_WITHIN, connection)
        .await
        .unwrap_or_else(|_| panic!("the idle h2 connection was still open after {CLOSED_WITHIN:?}"))
        .unwrap()
        .ok();
    let elapsed = asked.elapsed();
    assert!(
        elapsed >= idle,
        "closed before the idle timeout: {elapsed:?}"
    );
    assert_eq!(head_timeouts(&dataplane, address), 0);
    dataplane.shutdown().await;
}

/// A self-signed certificate for `localhost`, its key in `dir`, and an
/// `https` and a `tls` listener that use it.
fn tls_config(dir: &std::path::Path, https: u16, tls: u16, backend: SocketAddr) -> DataplaneConfig {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    let key_path = dir.join("site.key");
    std::fs::write(&key_path, certified.signing_key.serialize_pem()).unwrap();
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{backend}'}}]\n---\n\
         kind: Certificate\nname: site\nspec:\n  chain_file: site.pem\n  \
         private_key: {{file: '{}'}}\n---\n\
         kind: LoadBalancer\nname: front\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: https, protocol: https, port: {https}, tls: {{certificates: [site]}}, \
         default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n\
         \x20   - {{name: tls, protocol: tls, port: {tls}, tls: {{certificates: [site]}}, \
         default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n",
        key_path.display()
    );
    let files = [
        SourceFile::new("repo.yaml", yaml),
        SourceFile::new("site.pem", certified.cert.pem()),
    ];
    let catalog = load(&files, &Options::at(NOW))
        .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
        .catalog;
    DataplaneConfig::from_catalog(&catalog, 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_says_hello_is_closed_at_the_deadline_on_https_and_tls() {
    let ports = Ports::default();
    let backend = Backend::start("web").await;
    let dir = tempfile::tempdir().unwrap();
    let (https, tls) = (ports.hold(), ports.hold());
    let dataplane = Dataplane::with_limits(limits(DEADLINE, 100));
    dataplane
        .apply(tls_config(dir.path(), https, tls, backend.address))
        .await
        .expect("applies");
    for port in [https, tls] {
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let elapsed = close_time(address, |write| async move {
            std::future::pending::<()>().await;
            drop(write);
        })
        .await;
        assert!(
            elapsed >= DEADLINE,
            "{port}: closed before the deadline: {elapsed:?}"
        );
        eventually("handshake timeouts", 1, || {
            head_timeouts(&dataplane, address)
        })
        .await;
    }
    dataplane.shutdown().await;
}

const TOKEN: &str = "admin-token-for-limit-tests";

/// The admin API's `/metrics` text.
async fn metrics(admin: &AdminServer) -> String {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = Request::get(format!("http://{}/metrics", admin.local_addr()))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Full::default())
        .unwrap();
    let response = tokio::time::timeout(CLOSED_WITHIN, client.request(request))
        .await
        .expect("metrics in time")
        .expect("metrics");
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

/// The value of one series in the metrics text, if present.
fn series(text: &str, name: &str, address: SocketAddr) -> Option<u64> {
    let prefix = format!("{name}{{address=\"{address}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .map(|v| v.parse().unwrap())
}

/// Polls `/metrics` until `name` for `address` is `expected`.
async fn metric_becomes(admin: &AdminServer, name: &str, address: SocketAddr, expected: u64) {
    let started = Instant::now();
    loop {
        let text = metrics(admin).await;
        let now = series(&text, name, address);
        if now == Some(expected) {
            return;
        }
        assert!(
            started.elapsed() < CLOSED_WITHIN,
            "{name}: still {now:?}, expected {expected}\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A kept-alive HTTP/1 connection to `address` and one request on it.
async fn h1_client(address: SocketAddr) -> http1::SendRequest<Empty<Bytes>> {
    let io = TokioIo::new(TcpStream::connect(address).await.unwrap());
    let (mut sender, connection) = http1::handshake(io).await.unwrap();
    tokio::spawn(connection);
    assert_eq!(h1_get(&mut sender).await, 200);
    sender
}

async fn h1_get(sender: &mut http1::SendRequest<Empty<Bytes>>) -> u16 {
    let request = Request::get("/")
        .header("host", "a.test")
        .body(Empty::new())
        .unwrap();
    let answered = async {
        sender.ready().await?;
        sender.send_request(request).await
    };
    let response = tokio::time::timeout(CLOSED_WITHIN, answered)
        .await
        .expect("answered in time")
        .expect("a response");
    let status = response.status().as_u16();
    response.into_body().collect().await.unwrap();
    status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_new_connections_are_refused_and_counted() {
    let ports = Ports::default();
    let backend = Backend::start("web").await;
    // A long deadline, so the silent connections below stay open.
    let dataplane = Arc::new(Dataplane::with_limits(limits(Duration::from_secs(60), 3)));
    let port = ports.hold();
    dataplane
        .apply(http_config(port, backend.address, ""))
        .await
        .expect("applies");
    let address = SocketAddr::from(([127, 0, 0, 1], port));
    let state_dir = tempfile::tempdir().unwrap();
    let admin = AdminServer::start(
        dataplane.clone(),
        AdminConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            token_sha256: token_sha256(TOKEN),
            state_dir: state_dir.path().to_owned(),
        },
    )
    .await
    .expect("admin API starts");
    metric_becomes(&admin, "lbops_dataplane_connections_limit", address, 3).await;

    let mut first = h1_client(address).await;
    let silent: Vec<TcpStream> = vec![
        TcpStream::connect(address).await.unwrap(),
        TcpStream::connect(address).await.unwrap(),
    ];
    // Connected is not yet accepted: wait until the data plane counts all
    // three before trying a fourth.
    metric_becomes(&admin, "lbops_dataplane_connections_open", address, 3).await;

    let started = Instant::now();
    let mut refused = TcpStream::connect(address).await.unwrap();
    let _ = refused
        .write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
        .await;
    closed_after(&mut refused, started).await;
    metric_becomes(
        &admin,
        "lbops_dataplane_connections_refused_total",
        address,
        1,
    )
    .await;
    let text = metrics(&admin).await;
    assert_eq!(
        series(&text, "lbops_dataplane_connections_open", address),
        Some(3),
        "{text}"
    );

    assert_eq!(
        h1_get(&mut first).await,
        200,
        "an open connection still works"
    );

    drop(silent);
    metric_becomes(&admin, "lbops_dataplane_connections_open", address, 1).await;
    let mut again = h1_client(address).await;
    assert_eq!(h1_get(&mut again).await, 200);
    let text = metrics(&admin).await;
    for (name, value) in [
        ("lbops_dataplane_connections_open", 2),
        ("lbops_dataplane_connections_accepted_total", 4),
        ("lbops_dataplane_connections_refused_total", 1),
    ] {
        assert_eq!(series(&text, name, address), Some(value), "{name}\n{text}");
    }
    admin.shutdown().await;
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lbops_dataplane_takes_the_limits_from_its_flags() {
    let ports = Ports::default();
    let backend = Backend::start("web").await;
    let port = ports.hold();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dataplane.json");
    std::fs::write(&file, http_config(port, backend.address, "").to_json()).unwrap();
    let (_process, mut stderr) = ChildProcess::lbops(|c| {
        c.args(["dataplane", "--config"])
            .arg(&file)
            .args(["--request-head-timeout", "300ms"])
            .args(["--max-connections-per-listener", "7"])
    });
    assert_eq!(
        wait_for_line(&mut stderr, "lbops dataplane: a new connection"),
        "lbops dataplane: a new connection has 300ms to send a request head; \
         at most 7 connections per listener"
    );
    let elapsed = close_time(
        SocketAddr::from(([127, 0, 0, 1], port)),
        |write| async move {
            std::future::pending::<()>().await;
            drop(write);
        },
    )
    .await;
    assert!(
        elapsed >= DEADLINE,
        "closed before the deadline: {elapsed:?}"
    );

    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_lbops"))
        .args([
            "dataplane",
            "--print-config",
            "--request-head-timeout",
            "0s",
        ])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(message.contains("must be longer than zero"), "{message}");
}
