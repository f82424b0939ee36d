//! The HTTP/1.1 fast path on real loopback sockets, seen byte for byte
//! from the client: chunked bodies both ways, pipelined requests answered
//! in order, hop-by-hop headers dropped both ways, a response delimited by
//! the target closing, and a request the fast path does not serve
//! (HTTP/1.0) answered by hyper on the same connection.

mod common;

use bytes::Bytes;
use common::{config, Ports};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use lbops::dataplane::Dataplane;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const WITHIN: Duration = Duration::from_secs(10);

/// A body of two frames and no length: hyper sends it chunked.
struct TwoFrames(Vec<Bytes>);

impl Body for TwoFrames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let frames = &mut self.get_mut().0;
        if frames.is_empty() {
            return Poll::Ready(None);
        }
        Poll::Ready(Some(Ok(Frame::data(frames.remove(0)))))
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

/// The request heads a backend was sent, as `name: value` lines.
type Heads = Arc<Mutex<Vec<String>>>;

/// A hyper backend that answers `METHOD /path body=BODY` in two chunks,
/// with a hop-by-hop header of its own, and records each request's head.
async fn echo() -> (SocketAddr, Heads, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let heads: Heads = Arc::default();
    let seen = heads.clone();
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let seen = seen.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let seen = seen.clone();
                    async move {
                        let mut head = format!("{} {}\n", request.method(), request.uri());
                        for (name, value) in request.headers() {
                            head.push_str(&format!("{name}: {}\n", value.to_str().unwrap()));
                        }
                        seen.lock().unwrap().push(head);
                        let line = format!("{} {} body=", request.method(), request.uri().path());
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        let frames = vec![Bytes::from(line), body];
                        let response = Response::builder()
                            .header("connection", "x-up")
                            .header("x-up", "hop")
                            .header("x-kept", "end-to-end")
                            .body(TwoFrames(frames))
                            .unwrap();
                        Ok::<_, Infallible>(response)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (address, heads, task)
}

fn one_pool(port: u16, target: SocketAddr) -> String {
    format!(
        "kind: Pool\nname: p\nspec:\n  targets: [{{address: '{target}'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - name: http\n      protocol: http\n      port: {port}\n      \
         default_action: {{forward: {{pools: [{{pool: p}}]}}}}\n"
    )
}

/// A data plane (one worker) forwarding an HTTP listener to `backend`;
/// its port.
async fn balancer_before(backend: SocketAddr) -> (u16, Dataplane) {
    // Held until the data plane listens on it.
    let ports = Ports::default();
    let port = ports.hold();
    let dataplane = Dataplane::with_workers(1).unwrap();
    dataplane
        .apply(config(&one_pool(port, backend), 1))
        .await
        .unwrap();
    (port, dataplane)
}

/// Writes `requests` at once and reads until the balancer closes.
async fn exchange(port: u16, requests: &str) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    stream.write_all(requests.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(WITHIN, stream.read_to_end(&mut answer))
        .await
        .expect("the balancer closes the connection")
        .unwrap();
    String::from_utf8(answer).unwrap()
}

#[tokio::test]
async fn chunked_bodies_pass_both_ways_and_pipelined_requests_are_answered_in_order() {
    let (backend, heads, task) = echo().await;
    let (port, dataplane) = balancer_before(backend).await;
    let answer = exchange(
        port,
        "POST /one HTTP/1.1\r\nHost: a.test\r\nTransfer-Encoding: chunked\r\n\r\n\
         5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n\
         GET /two HTTP/1.1\r\nHost: a.test\r\n\r\n\
         POST /three HTTP/1.1\r\nHost: a.test\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc",
    )
    .await;
    let answers: Vec<&str> = answer.split("HTTP/1.1 200 OK\r\n").skip(1).collect();
    assert_eq!(answers.len(), 3, "three answers in: {answer}");
    // Chunks as the backend sent them: its two frames, sizes in its
    // (upper case) hex.
    assert!(
        answers[0].contains("transfer-encoding: chunked\r\n"),
        "{}",
        answers[0]
    );
    assert!(
        answers[0].contains("\r\n\r\nF\r\nPOST /one body=\r\nB\r\nhello world\r\n0\r\n\r\n"),
        "{}",
        answers[0]
    );
    assert!(
        answers[1].contains("\r\n\r\nE\r\nGET /two body=\r\n0\r\n\r\n"),
        "{}",
        answers[1]
    );
    assert!(
        answers[2].contains("connection: close\r\n"),
        "{}",
        answers[2]
    );
    assert!(
        answers[2].ends_with("11\r\nPOST /three body=\r\n3\r\nabc\r\n0\r\n\r\n"),
        "{}",
        answers[2]
    );
    // Every answer: the backend's end-to-end header, not its hop-by-hop
    // one, and a request id.
    for answer in &answers {
        assert!(answer.contains("x-kept: end-to-end\r\n"), "{answer}");
        assert!(!answer.contains("x-up"), "{answer}");
        assert!(answer.contains("x-request-id: "), "{answer}");
    }
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 3);
    assert!(heads[0].starts_with("POST /one\n"));
    assert!(
        heads[0].contains("transfer-encoding: chunked\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("x-forwarded-for: 127.0.0.1\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("x-forwarded-proto: http\n"),
        "{}",
        heads[0]
    );
    assert!(
        heads[0].contains("x-forwarded-host: a.test\n"),
        "{}",
        heads[0]
    );
    assert!(heads[2].contains("content-length: 3\n"), "{}", heads[2]);
    // The client's Connection: close is its own hop's business.
    assert!(!heads[2].contains("connection: close"), "{}", heads[2]);
    dataplane.shutdown().await;
    task.abort();
}

#[tokio::test]
async fn hop_by_hop_headers_stay_behind_and_http_1_0_is_served_by_hyper_on_the_same_connection() {
    let (backend, heads, task) = echo().await;
    let (port, dataplane) = balancer_before(backend).await;
    let answer = exchange(
        port,
        "GET /fast HTTP/1.1\r\nHost: a.test\r\nConnection: x-secret\r\nX-Secret: 1\r\n\
         Keep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 192.0.2.1\r\n\r\n\
         GET /old HTTP/1.0\r\nHost: a.test\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("GET /fast body="), "{answer}");
    // hyper answers the HTTP/1.0 request as HTTP/1.0 and closes.
    assert!(answer.contains("HTTP/1.0 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("GET /old body="), "{answer}");
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    for dropped in ["x-secret", "keep-alive", "te:", "connection"] {
        assert!(!heads[0].contains(dropped), "{dropped} in {}", heads[0]);
    }
    assert!(
        heads[0].contains("x-forwarded-for: 192.0.2.1, 127.0.0.1\n"),
        "{}",
        heads[0]
    );
    assert!(heads[1].starts_with("GET /old\n"), "{}", heads[1]);
    assert!(
        heads[1].contains("x-forwarded-for: 127.0.0.1\n"),
        "{}",
        heads[1]
    );
    dataplane.shutdown().await;
    task.abort();
}

#[tokio::test]
async fn a_response_without_a_length_ends_when_the_target_closes_and_so_does_the_connection() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let backend = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if stream.read(&mut byte).await.unwrap() == 0 {
                return;
            }
            head.push(byte[0]);
        }
        stream
            .write_all(b"HTTP/1.1 200 OK\r\nx-kind: raw\r\n\r\nhello, until I close")
            .await
            .unwrap();
    });
    let (port, dataplane) = balancer_before(backend).await;
    // A second request on the same connection is never read: the first
    // answer ends only with the connection.
    let answer = exchange(
        port,
        "GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /never HTTP/1.1\r\nHost: a\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains("x-kind: raw\r\n"), "{answer}");
    assert!(answer.contains("connection: close\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello, until I close"), "{answer}");
    dataplane.shutdown().await;
    task.await.unwrap();
}

#[tokio::test]
async fn blank_lines_before_a_request_line_are_skipped_and_the_request_is_proxied() {
    let (backend, heads, task) = echo().await;
    let (port, dataplane) = balancer_before(backend).await;
    // RFC 9112 §2.2: a server ignores at least one empty line before the
    // request line; here before the first request and between two.
    let answer = exchange(
        port,
        "\r\n\r\nGET /one HTTP/1.1\r\nHost: a\r\n\r\n\
         \r\nGET /two HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answer.matches("HTTP/1.1 200 OK\r\n").count(), 2, "{answer}");
    assert!(answer.contains("GET /one body="), "{answer}");
    assert!(answer.contains("GET /two body="), "{answer}");
    let heads = heads.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(heads[0].starts_with("GET /one\n"), "{heads:?}");
    assert!(heads[1].starts_with("GET /two\n"), "{heads:?}");
    dataplane.shutdown().await;
    task.abort();
}
