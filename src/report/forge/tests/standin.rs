//! A stand-in forge on 127.0.0.1: answers what a test scripts, and
//! refuses — recording a violation the test then fails on — any request
//! that does not have the published shape of its API (see `shapes.rs`).

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{HeaderMap, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::net::TcpListener;

/// A request of the published shape.
#[derive(Clone, Debug)]
pub struct Seen {
    pub path: String,
    pub body: Value,
    pub at: Instant,
}

/// An answer a test scripts; requests beyond the script get 201.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn status(status: u16) -> Self {
        Reply {
            status,
            headers: Vec::new(),
            body: format!("{{\"message\":\"stand-in says {status}\"}}"),
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: &str) -> Self {
        self.body = body.to_owned();
        self
    }
}

/// Checks one request against an API's published shape.
pub type Shape =
    fn(method: &str, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<Value, String>;

#[derive(Default)]
struct Shared {
    seen: Vec<Seen>,
    violations: Vec<String>,
    replies: VecDeque<Reply>,
}

pub struct StandIn {
    pub base: String,
    shared: Arc<Mutex<Shared>>,
    server: tokio::task::JoinHandle<()>,
}

impl StandIn {
    pub async fn start(shape: Shape) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = state.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(answer(&state, shape, request).await) }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        StandIn {
            base,
            shared,
            server,
        }
    }

    /// Queues the answer to the next request of the right shape.
    pub fn reply(&self, reply: Reply) {
        self.lock().replies.push_back(reply);
    }

    /// The requests of the right shape, in order; panics if any request
    /// was not of the right shape.
    pub fn seen(&self) -> Vec<Seen> {
        let shared = self.lock();
        assert!(
            shared.violations.is_empty(),
            "requests not of the published shape:\n{}",
            shared.violations.join("\n")
        );
        shared.seen.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    state: &Mutex<Shared>,
    shape: Shape,
    request: Request<Incoming>,
) -> Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let checked = shape(parts.method.as_str(), &path, &parts.headers, &body);
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    let reply = match checked {
        Err(violation) => {
            state
                .violations
                .push(format!("{} {path}: {violation}", parts.method));
            Reply::status(422).body(&format!("{{\"message\":{}}}", Value::from(violation)))
        }
        Ok(body) => {
            state.seen.push(Seen {
                path,
                body,
                at: Instant::now(),
            });
            state
                .replies
                .pop_front()
                .unwrap_or_else(|| Reply::status(201).body("{}"))
        }
    };
    let mut response = Response::builder()
        .status(StatusCode::from_u16(reply.status).unwrap())
        .header("content-type", "application/json");
    for (name, value) in reply.headers {
        response = response.header(name, value);
    }
    response.body(Full::new(Bytes::from(reply.body))).unwrap()
}
