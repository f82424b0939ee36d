//! Tiny HTTP backends for the demo: one per target address of the example
//! pools, each answering `<pool> <path> (<target>)` so that `curl` through
//! the balancer shows who served. Every path answers 200, health checks
//! (`/healthz`, `/api/healthz`) included.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use lbops::spec::units::TargetHost;
use lbops::spec::Catalog;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::net::TcpListener;

/// A backend to start: where, and what it says it is.
#[derive(Debug, Clone)]
pub struct Wanted {
    pub address: SocketAddr,
    /// `web-stable`, or `web-stable backup`.
    pub name: String,
}

/// One backend per distinct IP target of the catalog's pools (targets
/// named by DNS are left to whoever serves them).
pub fn wanted(catalog: &Catalog) -> Vec<Wanted> {
    let mut by_address: BTreeMap<SocketAddr, String> = BTreeMap::new();
    for (pool, resource) in &catalog.pools {
        let spec = &resource.spec;
        let primaries = spec.targets.iter().map(|t| (t, ""));
        let backups = spec.backup_targets.iter().map(|t| (t, " backup"));
        for (target, role) in primaries.chain(backups) {
            let address = &target.address.value;
            if let TargetHost::Ip(ip) = address.host {
                by_address
                    .entry(SocketAddr::new(ip, address.port))
                    .or_insert_with(|| format!("{pool}{role}"));
            }
        }
    }
    by_address
        .into_iter()
        .map(|(address, name)| Wanted { address, name })
        .collect()
}

/// Starts every backend it can; a port already taken is skipped with a
/// note (whatever listens there answers instead). Returns those started.
pub async fn start(wanted: Vec<Wanted>) -> Vec<Wanted> {
    let mut started = Vec::new();
    for backend in wanted {
        match TcpListener::bind(backend.address).await {
            Ok(listener) => {
                tokio::spawn(serve(listener, backend.clone()));
                started.push(backend);
            }
            Err(e) => println!(
                "lbops demo: not starting the {} backend on {}: {e} (whatever listens there \
                 answers instead)",
                backend.name, backend.address
            ),
        }
    }
    started
}

async fn serve(listener: TcpListener, backend: Wanted) {
    let name: Arc<str> = Arc::from(backend.name);
    let address = backend.address;
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors, say: let some close.
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let name = name.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request: Request<Incoming>| {
                let body = format!("{name} {} ({address})\n", request.uri().path());
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(body)))) }
            });
            let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
