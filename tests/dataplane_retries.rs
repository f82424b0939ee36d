//! Requests a target fails, on real loopback sockets: those that never
//! reached it go to another target, always; those it read and then broke
//! off go again only when idempotent and their route has `retries`; and a
//! per-pool budget keeps retries to a share of the requests in flight.
//!
//! "Breakers" are backends that read a whole request and then reset the
//! connection without a byte of answer — a target dying mid-request.

mod common;

use bytes::Bytes;
use common::{config, Ports};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use lbops::dataplane::pool::PASSIVE_EJECT_AFTER;
use lbops::dataplane::Dataplane;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How long a test waits for something it polls for.
const WITHIN: Duration = Duration::from_secs(10);

type HttpClient = Client<HttpConnector, Full<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

/// Sends `method url` with `body`; the status and the body of the answer.
async fn send(client: &HttpClient, method: &str, url: &str, body: Bytes) -> (u16, String) {
    let request = Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(body))
        .unwrap();
    let response = client.request(request).await.expect("a response");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Requests as a backend saw them: `METHOD /path`.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<String>>>);

impl Seen {
    fn add(&self, request: String) {
        self.0.lock().unwrap().push(request);
    }

    fn count(&self, request: &str) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|r| *r == request)
            .count()
    }
}

/// A backend that answers `NAME METHOD /path LENGTH` and records what it
/// was sent, with the bodies' text and the forwarding headers.
struct Echo {
    address: SocketAddr,
    seen: Seen,
    bodies: Seen,
    heads: Seen,
    task: JoinHandle<()>,
}

/// `METHOD /path xff=… rid=…`, from a request's forwarding headers.
fn head_line(method: &str, path: &str, header: impl Fn(&str) -> Option<String>) -> String {
    let xff = header("x-forwarded-for").unwrap_or_default();
    let rid = header("x-request-id").unwrap_or_default();
    format!("{method} {path} xff={xff} rid={rid}")
}

impl Echo {
    async fn start(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (seen, bodies, heads) = (Seen::default(), Seen::default(), Seen::default());
        let (record, keep, note) = (seen.clone(), bodies.clone(), heads.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (record, keep, note) = (record.clone(), keep.clone(), note.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |request: Request<Incoming>| {
                        let (record, keep, note) = (record.clone(), keep.clone(), note.clone());
                        async move {
                            let (method, path) = (request.method().as_str(), request.uri().path());
                            note.add(head_line(method, path, |name| {
                                let value = request.headers().get(name)?;
                                Some(value.to_str().ok()?.to_owned())
                            }));
                            let line = format!("{method} {path}");
                            let body = request.into_body().collect().await?.to_bytes();
                            record.add(line.clone());
                            keep.add(String::from_utf8_lossy(&body).into_owned());
                            let answer = format!("{name} {line} {}", body.len());
                            Ok::<_, hyper::Error>(Response::new(Full::new(Bytes::from(answer))))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            address,
            seen,
            bodies,
            heads,
            task,
        }
    }
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Backends that read each request whole, then reset its connection
/// without answering: at once, or, while holding, when [`Breakers::release`]
/// is called (requests arriving after that wait for the next release).
/// One release resets every breaker's held requests at the same moment.
struct Breakers {
    addresses: Vec<SocketAddr>,
    seen: Seen,
    heads: Seen,
    /// Requests read and not yet reset.
    held: watch::Sender<usize>,
    /// Bumped by every release; a request waits for the one after its own.
    releases: watch::Sender<u64>,
    tasks: Vec<JoinHandle<()>>,
}

impl Breakers {
    async fn start(count: usize, hold: bool) -> Self {
        let (seen, heads) = (Seen::default(), Seen::default());
        let held = watch::Sender::new(0);
        let releases = watch::Sender::new(0);
        let mut addresses = Vec::new();
        let mut tasks = Vec::new();
        for _ in 0..count {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addresses.push(listener.local_addr().unwrap());
            let (seen, heads) = (seen.clone(), heads.clone());
            let (held, releases) = (held.clone(), releases.clone());
            tasks.push(tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let (seen, heads) = (seen.clone(), heads.clone());
                    let (held, releases) = (held.clone(), releases.clone());
                    tokio::spawn(async move {
                        let hold = hold.then_some((&held, &releases));
                        break_off(stream, (&seen, &heads), hold).await;
                    });
                }
            }));
        }
        Self {
            addresses,
            seen,
            heads,
            held,
            releases,
            tasks,
        }
    }

    /// Waits until `n` requests are held.
    async fn wait_held(&self, n: usize) {
        let mut held = self.held.subscribe();
        tokio::time::timeout(WITHIN, held.wait_for(|h| *h == n))
            .await
            .unwrap_or_else(|_| panic!("{} requests held, not {n}", *self.held.borrow()))
            .unwrap();
    }

    fn release(&self) {
        self.releases.send_modify(|r| *r += 1);
    }

    /// Resets every held request, and every later one at once.
    fn release_all(&self) {
        self.releases.send_replace(u64::MAX);
    }
}

impl Drop for Breakers {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// Reads one request (head and `content-length` body), records it, waits
/// for a release when holding, then resets the connection.
async fn break_off(
    mut stream: TcpStream,
    (seen, heads): (&Seen, &Seen),
    hold: Option<(&watch::Sender<usize>, &watch::Sender<u64>)>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let mut words = head.split(' ');
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    seen.add(format!("{method} {path}"));
    heads.add(head_line(method, path, |name| {
        head.lines().find_map(|l| {
            let (key, value) = l.split_once(':')?;
            key.eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }));
    if let Some((held, releases)) = hold {
        let mut released = releases.subscribe();
        let mine = *released.borrow_and_update();
        held.send_modify(|h| *h += 1);
        let _ = released.wait_for(|r| *r > mine || *r == u64::MAX).await;
        held.send_modify(|h| *h -= 1);
    }
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
}

/// The value of one series of the data plane's `/metrics`.
fn metric(dataplane: &Dataplane, series: &str) -> u64 {
    let mut text = String::new();
    dataplane.stats().render(&mut text);
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

const CONNECT_RETRIES: &str = "lbops_dataplane_retries_total{reason=\"connect-failure\"}";
const RESET_RETRIES: &str = "lbops_dataplane_retries_total{reason=\"reset\"}";
const EXHAUSTED: &str = "lbops_dataplane_retry_budget_exhausted_total";

fn quoted(addresses: &[SocketAddr]) -> String {
    addresses
        .iter()
        .map(|a| format!("{{address: '{a}'}}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// One pool `p` behind an HTTP listener on `port`; `retries` is the
/// route's setting (`""` for none).
fn one_pool(port: u16, targets: &[SocketAddr], retries: &str) -> String {
    format!(
        "kind: Pool\nname: p\nspec:\n  targets: [{}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - name: http\n      protocol: http\n      port: {port}\n      routes:\n\
         \x20       - name: all\n          priority: 1\n          action: {{forward: {{pools: [{{pool: p}}]}}}}\n{retries}",
        quoted(targets)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_fails_no_request() {
    let ports = Ports::default();
    let live = Echo::start("live").await;
    // Held and never listened on: every connection to it is refused.
    let dead = ports.address();
    let port = ports.hold();
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(&one_pool(port, &[dead, live.address], ""), 1))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/x");
    let tasks: Vec<JoinHandle<Vec<u16>>> = (0..8)
        .map(|_| {
            let (client, url) = (client(), url.clone());
            tokio::spawn(async move {
                let mut statuses = Vec::new();
                for _ in 0..25 {
                    // POSTs too: nothing of them reached the dead target.
                    for method in ["GET", "POST"] {
                        statuses.push(send(&client, method, &url, Bytes::from("b")).await.0);
                    }
                }
                statuses
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.extend(task.await.unwrap());
    }
    assert_eq!(statuses.len(), 400);
    let failed: Vec<&u16> = statuses.iter().filter(|s| **s != 200).collect();
    assert!(failed.is_empty(), "failed requests: {failed:?}");
    assert_eq!(live.seen.count("GET /x") + live.seen.count("POST /x"), 400);
    assert!(live.bodies.0.lock().unwrap().iter().all(|b| b == "b"));
    // The connect failures fed passive ejection as before.
    let retries = metric(&dataplane, CONNECT_RETRIES);
    assert!(
        retries >= u64::from(PASSIVE_EJECT_AFTER),
        "{retries} connect-failure retries"
    );
    let snapshot = dataplane.snapshot();
    let dead_target = snapshot.pools["p"]
        .targets()
        .find(|t| t.address.to_string() == dead.to_string())
        .unwrap();
    assert!(!dead_target.is_healthy(), "the dead target is ejected");
    assert_eq!(metric(&dataplane, RESET_RETRIES), 0);
    dataplane.shutdown().await;
}

/// Pools whose primary is a breaker and whose backup answers, so that
/// every first attempt breaks off and every retry is answered: `retrying`
/// behind a route with `retries`, `plain` as the default action; and
/// `refusing`, whose primary refuses connections, on a route without.
fn breaker_repo(port: u16, breaker: SocketAddr, refusing: SocketAddr, good: SocketAddr) -> String {
    let pool = |name: &str, primary: SocketAddr| {
        format!(
            "kind: Pool\nname: {name}\nspec:\n  targets: [{{address: '{primary}'}}]\n  backup_targets: [{{address: '{good}'}}]\n---\n"
        )
    };
    format!(
        "{}{}{}kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - name: http\n      protocol: http\n      port: {port}\n      routes:\n\
         \x20       - name: retrying\n          priority: 1\n          match: {{path: {{prefix: /retrying}}}}\n\
         \x20         action: {{forward: {{pools: [{{pool: retrying}}]}}}}\n\
         \x20         retries: {{attempts: 1}}\n\
         \x20       - name: refusing\n          priority: 2\n          match: {{path: {{prefix: /refusing}}}}\n\
         \x20         action: {{forward: {{pools: [{{pool: refusing}}]}}}}\n\
         \x20     default_action: {{forward: {{pools: [{{pool: plain}}]}}}}\n",
        pool("retrying", breaker),
        pool("plain", breaker),
        pool("refusing", refusing),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_was_sent_is_retried_only_when_idempotent_and_its_route_allows() {
    let ports = Ports::default();
    let breaker = Breakers::start(1, false).await;
    let good = Echo::start("good").await;
    let refusing = ports.address();
    let port = ports.hold();
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(
            &breaker_repo(port, breaker.addresses[0], refusing, good.address),
            1,
        ))
        .await
        .unwrap();
    let client = client();
    let base = format!("http://127.0.0.1:{port}");
    let small = Bytes::from("small body");

    // A POST that reached its target is never sent again.
    let (status, _) = send(
        &client,
        "POST",
        &format!("{base}/retrying/post"),
        small.clone(),
    )
    .await;
    assert_eq!(status, 502);
    assert_eq!(breaker.seen.count("POST /retrying/post"), 1);
    assert_eq!(good.seen.count("POST /retrying/post"), 0, "not sent twice");
    assert_eq!(metric(&dataplane, RESET_RETRIES), 0);

    // A GET and a PUT (with its body) on the route with `retries` are.
    let (status, body) = send(
        &client,
        "GET",
        &format!("{base}/retrying/get"),
        Bytes::new(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "good GET /retrying/get 0"));
    assert_eq!(breaker.seen.count("GET /retrying/get"), 1);
    // The retry is the same request: same id, the client's address once.
    let first = breaker.heads.0.lock().unwrap().last().cloned().unwrap();
    let retry = good.heads.0.lock().unwrap().last().cloned().unwrap();
    assert_eq!(first, retry);
    assert!(
        first.starts_with("GET /retrying/get xff=127.0.0.1 rid=") && first.len() > 40,
        "{first}"
    );
    let (status, body) = send(
        &client,
        "PUT",
        &format!("{base}/retrying/put"),
        small.clone(),
    )
    .await;
    assert_eq!((status, body.as_str()), (200, "good PUT /retrying/put 10"));
    assert_eq!(breaker.seen.count("PUT /retrying/put"), 1);
    assert!(good
        .bodies
        .0
        .lock()
        .unwrap()
        .contains(&"small body".to_owned()));
    assert_eq!(metric(&dataplane, RESET_RETRIES), 2);

    // A body over 64 KiB is not kept, so not sent again.
    let large = Bytes::from(vec![b'x'; 64 * 1024 + 1]);
    let (status, _) = send(&client, "PUT", &format!("{base}/retrying/large"), large).await;
    assert_eq!(status, 502);
    assert_eq!(breaker.seen.count("PUT /retrying/large"), 1);
    assert_eq!(good.seen.count("PUT /retrying/large"), 0);

    // Without `retries`, a GET that reached its target is not sent again.
    let (status, _) = send(&client, "GET", &format!("{base}/plain"), Bytes::new()).await;
    assert_eq!(status, 502);
    assert_eq!(breaker.seen.count("GET /plain"), 1);
    assert_eq!(good.seen.count("GET /plain"), 0);
    assert_eq!(metric(&dataplane, RESET_RETRIES), 2);

    // Yet a POST that never reached its target goes to another one,
    // whatever its route says, body and all.
    let (status, body) = send(&client, "POST", &format!("{base}/refusing"), small).await;
    assert_eq!((status, body.as_str()), (200, "good POST /refusing 10"));
    assert_eq!(metric(&dataplane, CONNECT_RETRIES), 1);
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_stop_at_the_budget_and_the_rest_fail_at_once() {
    let ports = Ports::default();
    // Ten targets for thirty requests: fewer than five failures each, so
    // passive ejection leaves every one of them eligible.
    let breakers = Breakers::start(10, true).await;
    let port = ports.hold();
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(
            &one_pool(
                port,
                &breakers.addresses,
                "          retries: {attempts: 3}\n",
            ),
            1,
        ))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/");
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    for _ in 0..30 {
        let (client, url, done_tx) = (client(), url.clone(), done_tx.clone());
        tokio::spawn(async move {
            let _ = done_tx.send(send(&client, "GET", &url, Bytes::new()).await.0);
        });
    }
    breakers.wait_held(30).await;
    // All thirty break off at once. After thirty requests (and the
    // retries, which count as requests too) the budget has room for 10 +
    // 20% of them: 16 to 19 retries, by how soon each retry is sent.
    // Those reach other breakers and are held again; the other requests
    // get their 502 now, while those retries are still waiting.
    breakers.release();
    let mut statuses = Vec::new();
    let mut held = breakers.held.subscribe();
    let settled = tokio::time::timeout(WITHIN, async {
        loop {
            let admitted = metric(&dataplane, RESET_RETRIES) as usize;
            if admitted > 0
                && statuses.len() + admitted == 30
                && *held.borrow_and_update() == admitted
            {
                return;
            }
            // A retry is counted before it is sent, so a change of what
            // the breakers hold comes after the count it follows.
            tokio::select! {
                status = done.recv() => statuses.push(status.expect("a status")),
                _ = held.changed() => {}
            }
        }
    })
    .await;
    assert!(
        settled.is_ok(),
        "answered {statuses:?}, {} retries, {} held",
        metric(&dataplane, RESET_RETRIES),
        *breakers.held.borrow()
    );
    let admitted = metric(&dataplane, RESET_RETRIES);
    assert!((14..=20).contains(&admitted), "{admitted} retries admitted");
    assert_eq!(statuses, vec![502; 30 - admitted as usize]);
    assert_eq!(metric(&dataplane, EXHAUSTED), 30 - admitted);
    // The retried ones fail too once their targets break off.
    breakers.release_all();
    for _ in 0..admitted {
        let status = tokio::time::timeout(WITHIN, done.recv()).await;
        assert_eq!(status.expect("answered").expect("a status"), 502);
    }
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_pool_is_tried_a_bounded_number_of_times_then_not_at_all() {
    let ports = Ports::default();
    let dead: Vec<SocketAddr> = (0..3).map(|_| ports.address()).collect();
    let port = ports.hold();
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(
            &one_pool(port, &dead, "          retries: {attempts: 3}\n"),
            1,
        ))
        .await
        .unwrap();
    let client = client();
    let url = format!("http://127.0.0.1:{port}/");
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(send(&client, "GET", &url, Bytes::new()).await.0);
    }
    // Each request tries every target once (never one twice); after five
    // failures each, all are ejected and requests are answered at once.
    assert_eq!(
        metric(&dataplane, "lbops_dataplane_upstream_errors_total"),
        3 * u64::from(PASSIVE_EJECT_AFTER)
    );
    let retries = metric(&dataplane, CONNECT_RETRIES);
    assert!(retries <= 2 * 5, "{retries} retries");
    let failed_after_attempts = statuses.iter().filter(|s| **s == 502).count();
    assert!((5..=15).contains(&failed_after_attempts), "{statuses:?}");
    assert!(
        statuses.iter().all(|s| *s == 502 || *s == 503),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.last(),
        Some(&503),
        "no healthy target: {statuses:?}"
    );
    dataplane.shutdown().await;
}
