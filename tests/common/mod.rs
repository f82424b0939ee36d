//! What the integration tests share: real backends on loopback, held
//! ports, configs from YAML, and child processes that are always killed.
#![allow(dead_code)] // each test crate uses its own part of this

pub mod api;
pub mod aws_model;
pub mod cluster;
pub mod estate;
pub mod etcd;
pub mod git;
pub mod git_http;
pub mod logs;
pub mod moto;
pub mod topology;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lbops::dataplane::config::DataplaneConfig;
use lbops::spec::{load, Catalog, Options, SourceFile};
use std::net::SocketAddr;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A "now" after the test certificates' start, for `spec::load`.
pub const NOW: i64 = 1_800_000_000;

/// How a backend answers.
#[derive(Clone, Copy)]
pub enum Reply {
    /// `name path`
    Name,
    /// `name path proto=… host=… xff=… rid=…`, from the forwarding headers.
    Echo,
}

/// An HTTP/1.1 backend on 127.0.0.1. `/slow/<ms>` answers after that
/// long; `/hold` answers once the test calls [`Backend::release`]. Killing (or dropping) it closes every connection it has; a
/// killed backend's port stays held until it is dropped, so connections
/// to it are refused rather than answered by whoever took the port.
pub struct Backend {
    pub address: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    /// The paths of the requests it has received, as they arrive.
    received: tokio::sync::watch::Sender<Vec<String>>,
    /// Whether `/hold` requests may be answered.
    released: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
    _port: Ports,
}

impl Backend {
    pub async fn start(name: &'static str) -> Self {
        Self::start_at(name, Reply::Echo, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn named(name: &'static str) -> Self {
        Self::start_at(name, Reply::Name, "127.0.0.1:0".parse().unwrap()).await
    }

    /// At `address`; port 0 picks a port and holds it.
    pub async fn start_at(name: &'static str, reply: Reply, address: SocketAddr) -> Self {
        let port = Ports::default();
        let address = match address.port() {
            0 => SocketAddr::new(address.ip(), port.hold()),
            _ => address,
        };
        let listener = TcpListener::bind(address).await.unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let received = tokio::sync::watch::Sender::new(Vec::new());
        let receiving = received.clone();
        let released = tokio::sync::watch::Sender::new(false);
        let release = released.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let mut stopped = stopped.clone();
                let receiving = receiving.clone();
                let release = release.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let path = request.uri().path().to_owned();
                        receiving.send_modify(|paths| paths.push(path));
                        let mut released = release.subscribe();
                        async move {
                            if request.uri().path() == "/hold" {
                                let _ = released.wait_for(|r| *r).await;
                            }
                            Ok::<_, std::convert::Infallible>(Response::new(Full::new(
                                Bytes::from(answer(name, reply, &request).await),
                            )))
                        }
                    });
                    let connection = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::select! {
                        _ = connection => {}
                        _ = stopped.changed() => {}
                    }
                });
            }
        });
        Self {
            address,
            stop,
            received,
            released,
            task,
            _port: port,
        }
    }

    /// Waits (up to 10 s) until a request for `path` has reached it: it is
    /// being answered (`/slow/…` ones are then in flight).
    pub async fn wait_for_request(&self, path: &str) {
        let mut received = self.received.subscribe();
        let arrived = received.wait_for(|paths| paths.iter().any(|p| p == path));
        tokio::time::timeout(std::time::Duration::from_secs(10), arrived)
            .await
            .unwrap_or_else(|_| panic!("no request for {path} reached the backend"))
            .expect("the backend keeps its sender");
    }

    /// Answers the `/hold` requests it holds, and any that come later.
    pub fn release(&self) {
        self.released.send_replace(true);
    }

    /// How many requests for `path` it has received.
    pub fn received(&self, path: &str) -> usize {
        self.received.borrow().iter().filter(|p| *p == path).count()
    }

    /// Stops listening and drops every open connection.
    pub fn kill(&self) {
        self.task.abort();
        let _ = self.stop.send(true);
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn answer(name: &str, reply: Reply, request: &Request<Incoming>) -> String {
    let path = request.uri().path();
    if let Some(ms) = path.strip_prefix("/slow/") {
        tokio::time::sleep(std::time::Duration::from_millis(ms.parse().unwrap_or(0))).await;
    }
    let header = |n: &str| {
        request
            .headers()
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-")
            .to_owned()
    };
    match reply {
        Reply::Name => format!("{name} {path}"),
        Reply::Echo => format!(
            "{name} {path} proto={} host={} xff={} rid={}",
            header("x-forwarded-proto"),
            header("x-forwarded-host"),
            header("x-forwarded-for"),
            header("x-request-id"),
        ),
    }
}

/// Loopback ports this test holds until it ends, for listeners whose
/// number must be written down before the process that listens starts
/// (a balancer's port in the repository, a target that must refuse).
///
/// Each port is a socket bound with `SO_REUSEADDR` that never listens.
/// While it is held, Linux hands the port to no `bind(:0)` and to no
/// outgoing connection, so no other test or process can take it; yet a
/// listener that also sets `SO_REUSEADDR` may bind it (the data plane's
/// listeners do, as do std's and tokio's), stop, and bind it again.
/// Nobody listening on it means connections to it are refused. Picking a
/// "free" port and releasing it before the listener binds it was a race:
/// under load another process took it ("Address already in use").
#[derive(Default)]
pub struct Ports(std::sync::Mutex<Vec<socket2::Socket>>);

impl Ports {
    /// A port on 127.0.0.1 held for as long as `self` lives.
    pub fn hold(&self) -> u16 {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket.set_reuse_address(true).unwrap();
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .unwrap();
        let port = socket.local_addr().unwrap().as_socket().unwrap().port();
        self.0.lock().unwrap().push(socket);
        port
    }

    /// `127.0.0.1:port` of a port held for as long as `self` lives.
    pub fn address(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.hold()))
    }
}

/// Loads a repository given as one YAML text.
pub fn catalog(yaml: &str) -> Catalog {
    load(&[SourceFile::new("repo.yaml", yaml)], &Options::at(NOW))
        .unwrap_or_else(|e| panic!("invalid test repository: {:#?}", e.diagnostics))
        .catalog
}

/// The data-plane config of a repository given as one YAML text.
pub fn config(yaml: &str, version: u64) -> DataplaneConfig {
    DataplaneConfig::from_catalog(&catalog(yaml), version)
}

/// Keeps a process's log under the build's temp dir, for the suite-wide
/// check that no test secret ever reaches a log (`scripts/check-test-logs`).
pub fn keep_log(name: &str, text: &str) {
    static KEPT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("test-logs");
    let _ = std::fs::create_dir_all(&dir);
    let n = KEPT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let _ = std::fs::write(
        dir.join(format!("{name}-{}-{n}.log", std::process::id())),
        text,
    );
}

/// A child process that is killed when the test ends, however it ends.
pub struct ChildProcess(pub std::process::Child);

impl ChildProcess {
    /// Starts the `lbops` binary with the arguments and environment that
    /// `configure` sets, and hands back its stderr to read lines from.
    pub fn lbops(
        configure: impl FnOnce(&mut std::process::Command) -> &mut std::process::Command,
    ) -> (Self, std::io::BufReader<std::process::ChildStderr>) {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_lbops"));
        configure(&mut command).stderr(std::process::Stdio::piped());
        let mut process = Self(command.spawn().expect("lbops starts"));
        let stderr = process.0.stderr.take().expect("stderr is piped");
        (process, std::io::BufReader::new(stderr))
    }
}

/// Reads a process's stderr lines until one starts with `prefix`.
pub fn wait_for_line(stderr: &mut impl std::io::BufRead, prefix: &str) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "the process ended before printing {prefix:?}"
        );
        if line.starts_with(prefix) {
            return line.trim().to_owned();
        }
    }
}

/// Waits for `lbops dataplane` to say where its admin API listens: given
/// `--admin-listen 127.0.0.1:0`, it binds a port of its own.
pub fn admin_address(stderr: &mut impl std::io::BufRead) -> SocketAddr {
    let prefix = "lbops dataplane: admin API on ";
    let line = wait_for_line(stderr, prefix);
    line[prefix.len()..]
        .parse()
        .unwrap_or_else(|e| panic!("{line:?}: {e}"))
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
