//! The embedded data plane on real loopback sockets, driven by a real HTTP
//! client, in front of real HTTP backends.

mod common;

use bytes::Bytes;
use common::{admin_address, config, wait_for_line, Backend, ChildProcess, Ports, Reply};
use http_body_util::{BodyExt, Empty, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lbops::dataplane::Dataplane;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A TCP backend that answers every connection with its name.
async fn tcp_backend(name: &'static str) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 64];
            let n = stream.read(&mut buf).await.unwrap_or(0);
            let _ = stream
                .write_all(format!("{name}:{}", String::from_utf8_lossy(&buf[..n])).as_bytes())
                .await;
        }
    });
    (address, task)
}

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn client() -> HttpClient {
    Client::builder(TokioExecutor::new()).build(HttpConnector::new())
}

async fn get(
    client: &HttpClient,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, HashMap<String, String>, String) {
    let mut request = Request::get(url);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    let response = client
        .request(request.body(Empty::new()).unwrap())
        .await
        .expect("response");
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, headers, String::from_utf8_lossy(&body).into_owned())
}

fn routes_repo(port: u16, stable: SocketAddr, canary: SocketAddr, api: SocketAddr) -> String {
    format!(
        "kind: Pool\nname: stable\nspec:\n  targets: [{{address: '{stable}'}}]\n---\n\
         kind: Pool\nname: canary\nspec:\n  targets: [{{address: '{canary}'}}]\n---\n\
         kind: Pool\nname: api\nspec:\n  targets: [{{address: '{api}'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - name: http\n      protocol: http\n      port: {port}\n      routes:\n\
         \x20       - name: maintenance\n          priority: 1\n          match: {{path: {{prefix: /checkout}}}}\n\
         \x20         action: {{fixed_response: {{status: 503, body: \"down for maintenance\\n\"}}}}\n\
         \x20       - name: old\n          priority: 2\n          match: {{path: {{exact: /old}}}}\n\
         \x20         action: {{redirect: {{status: 301, to: \"https://{{host}}/new?{{query}}\"}}}}\n\
         \x20       - name: api-writes\n          priority: 3\n          match: {{host: api.example.test, methods: [POST]}}\n\
         \x20         action: {{fixed_response: {{status: 405, body: nope}}}}\n\
         \x20       - name: api\n          priority: 4\n          match: {{host: '*.example.test', headers: [{{name: x-api}}]}}\n\
         \x20         action: {{forward: {{pools: [{{pool: api}}]}}}}\n\
         \x20       - name: www\n          priority: 5\n          match: {{host: '*.example.test'}}\n\
         \x20         action: {{forward: {{pools: [{{pool: stable, weight: 3}}, {{pool: canary, weight: 1}}]}}}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_match_and_actions_act() {
    let ports = Ports::default();
    let (stable, canary, api) = (
        Backend::start("stable").await,
        Backend::start("canary").await,
        Backend::start("api").await,
    );
    let port = ports.hold();
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(
            &routes_repo(port, stable.address, canary.address, api.address),
            1,
        ))
        .await
        .expect("applies");
    let client = client();
    let base = format!("http://127.0.0.1:{port}");

    let (status, _, body) = get(
        &client,
        &format!("{base}/checkout/cart"),
        &[("host", "www.example.test")],
    )
    .await;
    assert_eq!((status, body.as_str()), (503, "down for maintenance\n"));

    let (status, headers, _) = get(
        &client,
        &format!("{base}/old?a=1"),
        &[("host", "www.example.test:8080")],
    )
    .await;
    assert_eq!(status, 301);
    assert_eq!(headers["location"], "https://www.example.test/new?a=1");

    let (_, _, body) = get(
        &client,
        &format!("{base}/v1/x"),
        &[("host", "api.example.test"), ("x-api", "1")],
    )
    .await;
    assert!(body.starts_with("api /v1/x "), "{body}");
    assert!(
        body.contains("proto=http host=api.example.test xff=127.0.0.1 rid="),
        "{body}"
    );
    assert!(!body.contains("rid=-"), "a request id is added: {body}");

    let (_, _, body) = get(
        &client,
        &format!("{base}/"),
        &[
            ("host", "a.example.test"),
            ("x-request-id", "abc"),
            ("x-forwarded-for", "10.9.9.9"),
        ],
    )
    .await;
    assert!(body.contains("xff=10.9.9.9, 127.0.0.1 "), "{body}");
    assert!(
        body.contains("rid=abc"),
        "a client's request id is kept: {body}"
    );

    let (status, _, _) = get(&client, &format!("{base}/"), &[("host", "other.test")]).await;
    assert_eq!(status, 404, "no route and no default action");

    let mut split = HashMap::new();
    for _ in 0..400 {
        let (_, _, body) = get(
            &client,
            &format!("{base}/"),
            &[("host", "www.example.test")],
        )
        .await;
        *split
            .entry(body.split(' ').next().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    assert_eq!(
        (split["stable"], split["canary"]),
        (300, 100),
        "a 3:1 forward split"
    );
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listeners_forward_bytes() {
    let ports = Ports::default();
    let (backend, task) = tcp_backend("db").await;
    let port = ports.hold();
    let repo = format!(
        "kind: Pool\nname: db\nspec:\n  targets: [{{address: '{backend}'}}]\n---\n\
         kind: LoadBalancer\nname: db\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: pg, protocol: tcp, port: {port}, default_action: {{forward: {{pools: [{{pool: db}}]}}}}}}\n"
    );
    let dataplane = Dataplane::new();
    dataplane.apply(config(&repo, 1)).await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream.write_all(b"hello").await.unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await.unwrap();
    assert_eq!(reply, "db:hello");
    dataplane.shutdown().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_swaps_under_load_fail_no_request() {
    let ports = Ports::default();
    let (stable, canary, api) = (
        Backend::start("stable").await,
        Backend::start("canary").await,
        Backend::start("api").await,
    );
    let port = ports.hold();
    let repo = routes_repo(port, stable.address, canary.address, api.address);
    let dataplane = Arc::new(Dataplane::new());
    dataplane.apply(config(&repo, 1)).await.unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut loops = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        let url = format!("http://127.0.0.1:{port}/");
        loops.push(tokio::spawn(async move {
            let client = client();
            let (mut ok, mut failed) = (0u32, 0u32);
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    get(&client, &url, &[("host", "www.example.test")]),
                )
                .await
                {
                    Ok((200, _, _)) => ok += 1,
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    for version in 2..=60u64 {
        // Alternate weights and a route so every swap changes something.
        let weight = version % 5;
        let changed = repo.replace("weight: 1}]", &format!("weight: {weight}}}]"));
        dataplane
            .apply(config(&changed, version))
            .await
            .expect("swap");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed) = (0, 0);
    for l in loops {
        let (o, f) = l.await.unwrap();
        ok += o;
        failed += f;
    }
    assert!(ok > 100, "the loop ran: {ok}");
    assert_eq!(
        failed,
        0,
        "{failed} of {} requests failed during 59 swaps",
        ok + failed
    );
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_cannot_bind_changes_nothing() {
    let ports = Ports::default();
    let backend = Backend::start("stable").await;
    let port = ports.hold();
    let repo = |p: u16| {
        format!(
            "kind: Pool\nname: p\nspec:\n  targets: [{{address: '{}'}}]\n---\n\
             kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
             \x20   - {{name: http, protocol: http, port: {p}, default_action: {{forward: {{pools: [{{pool: p}}]}}}}}}\n",
            backend.address
        )
    };
    let dataplane = Dataplane::new();
    dataplane.apply(config(&repo(port), 1)).await.unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let err = dataplane.apply(config(&repo(busy), 2)).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("cannot listen on 127.0.0.1:{busy}")),
        "{err}"
    );
    assert_eq!(dataplane.snapshot().config.version, 1);
    let (status, _, _) = get(&client(), &format!("http://127.0.0.1:{port}/"), &[]).await;
    assert_eq!(status, 200, "the old config still serves");
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standalone_process_serves_its_config_file_and_stops_on_sigterm() {
    let ports = Ports::default();
    let backend = Backend::start("solo").await;
    let port = ports.hold();
    let repo = format!(
        "kind: Pool\nname: p\nspec:\n  targets: [{{address: '{}'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{{pool: p}}]}}}}}}\n",
        backend.address
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("dataplane.json");
    std::fs::write(&file, config(&repo, 3).to_json()).unwrap();
    let (mut process, mut stderr) =
        ChildProcess::lbops(|c| c.args(["dataplane", "--config"]).arg(&file));
    assert_eq!(
        wait_for_line(&mut stderr, "lbops dataplane:"),
        format!("lbops dataplane: listening on 127.0.0.1:{port}")
    );
    let (status, _, body) = get(&client(), &format!("http://127.0.0.1:{port}/hello"), &[]).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("solo /hello"), "{body}");
    let pid = process.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let exit = process.0.wait().unwrap();
    assert!(exit.success(), "a clean exit on SIGTERM: {exit:?}");
}

/// The next health event that `wanted` accepts, within two seconds.
async fn next_event(
    events: &mut tokio::sync::broadcast::Receiver<lbops::dataplane::health::HealthEvent>,
    wanted: impl Fn(&lbops::dataplane::health::HealthEvent) -> bool,
) -> lbops::dataplane::health::HealthEvent {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .expect("a health event in time")
            .unwrap();
        if wanted(&event) {
            return event;
        }
    }
}

/// Sends `n` requests and counts answers by backend name.
async fn spread(client: &HttpClient, url: &str, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        let (status, _, body) = get(client, url, &[]).await;
        let key = if status == 200 {
            body.split(' ').next().unwrap_or_default().to_owned()
        } else {
            status.to_string()
        };
        *counts.entry(key).or_insert(0) += 1;
    }
    counts
}

fn pool_repo(port: u16, pool_spec: &str) -> String {
    format!(
        "kind: Pool\nname: p\nspec:\n{pool_spec}---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{{pool: p}}]}}}}}}\n"
    )
}

const FAST_CHECKS: &str = "  health_check:\n    probe: {http: {path: /healthz}}\n    interval: 100ms\n    timeout: 80ms\n    healthy_threshold: 1\n    unhealthy_threshold: 2\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_target_is_ejected_and_readmitted_when_back() {
    let ports = Ports::default();
    // `a` comes back at its address, held while it is down: nobody else
    // can take it meanwhile.
    let a_address = ports.address();
    let a = Backend::start_at("a", Reply::Echo, a_address).await;
    let b = Backend::start("b").await;
    let port = ports.hold();
    let pool = format!(
        "  targets: [{{address: '{}'}}, {{address: '{}'}}]\n{FAST_CHECKS}",
        a.address, b.address
    );
    let dataplane = Dataplane::new();
    let mut events = dataplane.health_events();
    dataplane
        .apply(config(&pool_repo(port, &pool), 1))
        .await
        .unwrap();
    let client = client();
    let url = format!("http://127.0.0.1:{port}/");
    let both = spread(&client, &url, 20).await;
    assert_eq!((both["a"], both["b"]), (10, 10));

    a.kill();
    drop(a);
    // Ejected within interval x unhealthy_threshold (200 ms), plus slack;
    // the first events are both targets' first verdicts (healthy).
    let down = next_event(&mut events, |e| !e.healthy).await;
    assert_eq!(down.target.to_string(), a_address.to_string());
    let only_b = spread(&client, &url, 20).await;
    assert_eq!(only_b.get("b"), Some(&20), "{only_b:?}");

    let _a = Backend::start_at("a", Reply::Echo, a_address).await;
    let up = next_event(&mut events, |e| e.healthy).await;
    assert_eq!(up.target.to_string(), a_address.to_string());
    let again = spread(&client, &url, 20).await;
    assert_eq!((again["a"], again["b"]), (10, 10), "readmitted");
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backups_take_over_only_when_every_primary_is_down() {
    let ports = Ports::default();
    let primary = Backend::start("primary").await;
    let backup = Backend::start("backup").await;
    let port = ports.hold();
    let pool = format!(
        "  targets: [{{address: '{}'}}]\n  backup_targets: [{{address: '{}'}}]\n{FAST_CHECKS}",
        primary.address, backup.address
    );
    let dataplane = Dataplane::new();
    let mut events = dataplane.health_events();
    dataplane
        .apply(config(&pool_repo(port, &pool), 1))
        .await
        .unwrap();
    let client = client();
    let url = format!("http://127.0.0.1:{port}/");
    assert_eq!(spread(&client, &url, 10).await.get("primary"), Some(&10));
    primary.kill();
    next_event(&mut events, |e| !e.healthy).await;
    assert_eq!(spread(&client, &url, 10).await.get("backup"), Some(&10));
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_requests_eject_a_target_passively() {
    let ports = Ports::default();
    let good = Backend::start("good").await;
    let port = ports.hold();
    // A target nobody listens on: connects fail, without any active check.
    let dead = ports.hold();
    let pool = format!(
        "  targets: [{{address: '{}'}}, {{address: '127.0.0.1:{dead}'}}]\n",
        good.address
    );
    let dataplane = Dataplane::new();
    dataplane
        .apply(config(&pool_repo(port, &pool), 1))
        .await
        .unwrap();
    let client = client();
    let url = format!("http://127.0.0.1:{port}/");
    // Each failed connect is retried on the good target, so no client
    // sees it; five of them in a row eject the dead target.
    let first = spread(&client, &url, 20).await;
    assert_eq!(first.get("good"), Some(&20), "{first:?}");
    let snapshot = dataplane.snapshot();
    let dead_target = snapshot.pools["p"]
        .targets()
        .find(|t| t.address.to_string() == format!("127.0.0.1:{dead}"))
        .expect("listed");
    assert!(!dead_target.is_healthy(), "five failures eject it");
    let tried = dead_target.requests();
    assert_eq!(tried, 5);
    let after = spread(&client, &url, 20).await;
    assert_eq!(after.get("good"), Some(&20), "{after:?}");
    assert_eq!(dead_target.requests(), tried, "not tried while ejected");
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn draining_lets_in_flight_requests_finish_while_new_ones_go_elsewhere() {
    let ports = Ports::default();
    let old = Backend::start("old").await;
    let new = Backend::start("new").await;
    let port = ports.hold();
    let repo = |target: SocketAddr, drain: &str| {
        pool_repo(
            port,
            &format!("  targets: [{{address: '{target}'}}]\n  draining_timeout: {drain}\n"),
        )
    };
    let dataplane = Arc::new(Dataplane::new());
    dataplane
        .apply(config(&repo(old.address, "5s"), 1))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let slow = tokio::spawn({
        let url = url.clone();
        async move { get(&client(), &format!("{url}/slow/600"), &[]).await }
    });
    old.wait_for_request("/slow/600").await;
    dataplane
        .apply(config(&repo(new.address, "5s"), 2))
        .await
        .unwrap();
    let draining = dataplane.draining();
    assert_eq!(draining.len(), 1, "the removed target drains");
    assert_eq!(
        draining[0].target.address.to_string(),
        old.address.to_string()
    );
    let (_, _, body) = get(&client(), &format!("{url}/"), &[]).await;
    assert!(
        body.starts_with("new /"),
        "new requests go to the new target: {body}"
    );
    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, 200, "the in-flight request finished");
    assert!(body.starts_with("old /slow/600"), "{body}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while !dataplane.draining().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(dataplane.draining().is_empty(), "done draining");
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_the_draining_timeout_are_cut() {
    let ports = Ports::default();
    let old = Backend::start("old").await;
    let new = Backend::start("new").await;
    let port = ports.hold();
    let repo = |target: SocketAddr| {
        pool_repo(
            port,
            &format!("  targets: [{{address: '{target}'}}]\n  draining_timeout: 200ms\n"),
        )
    };
    let dataplane = Arc::new(Dataplane::new());
    dataplane
        .apply(config(&repo(old.address), 1))
        .await
        .unwrap();
    let url = format!("http://127.0.0.1:{port}/slow/5000");
    let started = std::time::Instant::now();
    let slow = tokio::spawn(async move { get(&client(), &url, &[]).await });
    old.wait_for_request("/slow/5000").await;
    dataplane
        .apply(config(&repo(new.address), 2))
        .await
        .unwrap();
    let (status, _, body) = slow.await.unwrap();
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("draining timeout"), "{body}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "cut at the timeout, not at the end"
    );
    dataplane.shutdown().await;
}

/// Sends an authenticated admin request and returns the status.
async fn admin_request(
    admin: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: String,
) -> u16 {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let request = Request::builder()
        .method(method)
        .uri(format!("http://{admin}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    client
        .request(request)
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_process_serves_the_last_config_it_accepted() {
    let ports = Ports::default();
    let backend = Backend::start("kept").await;
    let port = ports.hold();
    let dir = tempfile::tempdir().unwrap();
    let token = "test-admin-token-not-secret";
    std::fs::write(
        dir.path().join("admin.sha256"),
        lbops::model::sha256_hex(token),
    )
    .unwrap();
    let start = || {
        ChildProcess::lbops(|c| {
            // Port 0: each process binds an admin port of its own.
            c.args(["dataplane", "--admin-listen", "127.0.0.1:0", "--state-dir"])
                .arg(dir.path().join("state"))
                .arg("--admin-token-sha256-file")
                .arg(dir.path().join("admin.sha256"))
        })
    };
    let (first, mut stderr) = start();
    let admin = admin_address(&mut stderr);
    let repo = pool_repo(
        port,
        &format!("  targets: [{{address: '{}'}}]\n", backend.address),
    );
    let status = admin_request(
        admin,
        "PUT",
        "/v1/config",
        token,
        config(&repo, 4).to_json(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        get(&client(), &format!("http://127.0.0.1:{port}/"), &[])
            .await
            .0,
        200
    );
    drop(first);

    let (_second, mut stderr) = start();
    let line = wait_for_line(&mut stderr, "lbops dataplane: serving config version");
    assert!(
        line.starts_with("lbops dataplane: serving config version 4 from"),
        "{line}"
    );
    // The admin API comes up after the restored config is served.
    let admin = admin_address(&mut stderr);
    let (status, _, body) = get(&client(), &format!("http://127.0.0.1:{port}/x"), &[]).await;
    assert_eq!(status, 200);
    assert!(body.starts_with("kept /x"), "{body}");
    assert_eq!(
        admin_request(admin, "GET", "/v1/state", "wrong-token", String::new()).await,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_keep_alive_connections_are_closed_after_the_idle_timeout() {
    let ports = Ports::default();
    let backend = Backend::start("idle").await;
    let port = ports.hold();
    let repo = format!(
        "kind: Pool\nname: p\nspec:\n  targets: [{{address: '{}'}}]\n---\n\
         kind: LoadBalancer\nname: web\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: http, protocol: http, port: {port}, idle_timeout: 300ms, \
         default_action: {{forward: {{pools: [{{pool: p}}]}}}}}}\n",
        backend.address
    );
    let dataplane = Dataplane::new();
    dataplane.apply(config(&repo, 1)).await.unwrap();
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(
        String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"),
        "a first answer"
    );
    let started = std::time::Instant::now();
    let closed =
        tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buf)).await;
    assert!(
        matches!(closed, Ok(Ok(0))),
        "the idle connection is closed: {closed:?}"
    );
    let waited = started.elapsed();
    assert!(
        waited >= std::time::Duration::from_millis(250),
        "not before the idle timeout: {waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_secs(3),
        "soon after it: {waited:?}"
    );
    dataplane.shutdown().await;
}
