//! The data plane's admin API on real loopback sockets, driven by a real
//! HTTP client: authentication, versioned config pushes, what runs, events,
//! metrics, and a restart that serves the last accepted config.

mod common;

use bytes::Bytes;
use common::{admin_address, config, Backend, ChildProcess, Ports};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use lbops::dataplane::admin::{
    self, token_sha256, AdminConfig, AdminServer, DataplaneEvent, CONFIG_FILE,
};
use lbops::dataplane::config::DataplaneConfig;
use lbops::dataplane::Dataplane;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "admin-token-for-tests-7f3a";

/// One HTTP listener on `port` forwarding to `backend` with `weight`.
fn web_config(version: u64, port: u16, backend: SocketAddr, weight: u32) -> DataplaneConfig {
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{backend}', weight: {weight}}}]\n---\n\
         kind: LoadBalancer\nname: front\nspec:\n  addresses: [127.0.0.1]\n  listeners:\n\
         \x20   - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}\n"
    );
    config(&yaml, version)
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// A data plane with its admin API on a temporary state directory.
struct Harness {
    dataplane: Arc<Dataplane>,
    admin: AdminServer,
    base: String,
    client: HttpClient,
}

impl Harness {
    async fn start(state_dir: &Path) -> Self {
        Self::start_with(Arc::new(Dataplane::new()), state_dir).await
    }

    async fn start_with(dataplane: Arc<Dataplane>, state_dir: &Path) -> Self {
        let admin = AdminServer::start(
            dataplane.clone(),
            AdminConfig {
                listen: "127.0.0.1:0".parse().unwrap(),
                token_sha256: token_sha256(TOKEN),
                state_dir: state_dir.to_owned(),
            },
        )
        .await
        .expect("admin API starts");
        let base = format!("http://{}", admin.local_addr());
        Self {
            dataplane,
            admin,
            base,
            client: Client::builder(TokioExecutor::new()).build(HttpConnector::new()),
        }
    }

    async fn stop(self) {
        self.admin.shutdown().await;
        self.dataplane.shutdown().await;
    }

    /// Sends a request with `Authorization: <authorization>` if given.
    async fn send(
        &self,
        method: Method,
        path: &str,
        authorization: Option<&str>,
        body: &str,
    ) -> Response<Incoming> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), self.client.request(request))
            .await
            .expect("answered in time")
            .expect("a response")
    }

    /// An authenticated request, read whole.
    async fn call(&self, method: Method, path: &str, body: &str) -> (u16, String) {
        let response = self
            .send(method, path, Some(&format!("Bearer {TOKEN}")), body)
            .await;
        let status = response.status().as_u16();
        (status, read_body(response).await)
    }

    async fn put(&self, config: &DataplaneConfig) -> (u16, Value) {
        let (status, body) = self
            .call(Method::PUT, "/v1/config", &config.to_json())
            .await;
        (status, serde_json::from_str(&body).expect("a JSON answer"))
    }

    async fn state(&self) -> Value {
        let (status, body) = self.call(Method::GET, "/v1/state", "").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    }
}

async fn read_body(response: Response<Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// `GET url` through the data plane, as a client of the balancer.
async fn get_through(port: u16, path: &str) -> (u16, String) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let response = client
        .get(format!("http://127.0.0.1:{port}{path}").parse().unwrap())
        .await
        .expect("the data plane answers");
    let status = response.status().as_u16();
    (status, read_body(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_needs_the_token() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let backend = Backend::named("web").await;
    let config = web_config(1, ports.hold(), backend.address, 1).to_json();
    let endpoints = [
        (Method::PUT, "/v1/config"),
        (Method::GET, "/v1/config"),
        (Method::GET, "/v1/state"),
        (Method::GET, "/v1/events"),
        (Method::GET, "/metrics"),
        (Method::GET, "/no-such-endpoint"),
    ];
    let wrong = [
        None,
        Some("Bearer".to_owned()),
        Some(format!("Basic {TOKEN}")),
        Some(format!("Bearer {TOKEN}x")),
        Some("Bearer admin-token-for-tests".to_owned()),
    ];
    for (method, path) in &endpoints {
        for authorization in &wrong {
            let response = admin
                .send(method.clone(), path, authorization.as_deref(), &config)
                .await;
            let status = response.status().as_u16();
            let challenge = response
                .headers()
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            let body = read_body(response).await;
            assert_eq!(
                status, 401,
                "{method} {path} with {authorization:?}: {body}"
            );
            assert!(challenge.starts_with("Bearer"), "{challenge}");
            assert!(body.contains("bearer token"), "{body}");
            assert!(!body.contains(TOKEN), "the token is never echoed: {body}");
        }
    }
    assert_eq!(
        admin.dataplane.snapshot().config,
        DataplaneConfig::default(),
        "no unauthenticated PUT was applied"
    );
    assert!(!dir.path().join(CONFIG_FILE).exists());

    // With the token: the endpoints answer, and the rest is told apart.
    let (status, _) = admin.call(Method::GET, "/metrics", "").await;
    assert_eq!(status, 200);
    let (status, body) = admin.call(Method::GET, "/no-such-endpoint", "").await;
    assert_eq!(status, 404, "{body}");
    let response = admin
        .send(
            Method::DELETE,
            "/v1/config",
            Some(&format!("bearer {TOKEN}")),
            "",
        )
        .await;
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "GET, PUT");
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_config_serves_traffic_and_versions_only_move_forward() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let (web, other) = (Backend::named("web").await, Backend::named("other").await);
    let port = ports.hold();
    let v1 = web_config(1, port, web.address, 1);

    let (status, body) = admin.put(&v1).await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"version": 1, "changed": true}))
    );
    assert_eq!(
        get_through(port, "/hello").await,
        (200, "web /hello".into())
    );
    let saved = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
    assert_eq!(
        DataplaneConfig::parse(&saved).unwrap(),
        v1,
        "saved before the 200"
    );

    let (status, body) = admin.put(&v1).await;
    assert_eq!(
        (status, &body),
        (200, &serde_json::json!({"version": 1, "changed": false})),
        "the same config again is a no-op"
    );

    let (status, body) = admin.put(&web_config(0, port, other.address, 1)).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["running_version"], 1);
    assert_eq!(
        body["error"],
        "config version 0 is older than the running version 1: send a version above 1"
    );

    let (status, body) = admin.put(&web_config(1, port, other.address, 1)).await;
    assert_eq!(status, 409, "same version, other content: {body}");
    assert_eq!(body["running_version"], 1);

    let (status, body) = admin
        .call(
            Method::PUT,
            "/v1/config",
            r#"{"version": 2, "pools": {"a": {"targets": [{"adress": "x"}]}}}"#,
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["error"],
        "invalid config: 1:45: unknown field `adress`; did you mean `address`?"
    );
    assert_eq!(
        (body["line"].as_u64(), body["column"].as_u64()),
        (Some(1), Some(45))
    );

    let (status, body) = admin
        .call(Method::PUT, "/v1/config", "{\"version\": 2,")
        .await;
    assert_eq!(status, 400, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let at = format!("invalid config: {}:{}: ", body["line"], body["column"]);
    assert!(body["error"].as_str().unwrap().starts_with(&at), "{body}");

    // A port that cannot be bound: 422, and the running config stays.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().port();
    let (status, body) = admin.put(&web_config(2, busy, other.address, 1)).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["address"], format!("127.0.0.1:{busy}"));
    assert_eq!(admin.dataplane.snapshot().config, v1);
    assert_eq!(
        get_through(port, "/still").await,
        (200, "web /still".into())
    );

    // A newer version moves traffic to its new listener.
    let new_port = ports.hold();
    let v2 = web_config(2, new_port, other.address, 1);
    let (status, body) = admin.put(&v2).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(get_through(new_port, "/x").await, (200, "other /x".into()));
    assert_eq!(
        admin.dataplane.bound().await,
        [SocketAddr::from(([127, 0, 0, 1], new_port))]
    );
    let (status, running) = admin.call(Method::GET, "/v1/config", "").await;
    assert_eq!(status, 200);
    assert_eq!(DataplaneConfig::parse(&running).unwrap(), v2);
    drop(taken);
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_config_that_cannot_be_saved_is_not_applied() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let backend = Backend::named("web").await;
    let (port, new_port) = (ports.hold(), ports.hold());
    let v1 = web_config(1, port, backend.address, 1);
    assert_eq!(admin.put(&v1).await.0, 200);
    // Something in the way of the saved file: the rename over it fails.
    let saved = dir.path().join(CONFIG_FILE);
    std::fs::remove_file(&saved).unwrap();
    std::fs::create_dir(&saved).unwrap();
    std::fs::write(saved.join("in-the-way"), "x").unwrap();

    let (status, body) = admin
        .put(&web_config(2, new_port, backend.address, 1))
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["error"],
        "config not applied: it could not be saved to the state directory (see the data plane's log)"
    );
    assert_eq!(admin.dataplane.snapshot().config, v1, "rolled back");
    assert_eq!(
        admin.dataplane.bound().await,
        [SocketAddr::from(([127, 0, 0, 1], port))]
    );
    assert_eq!(get_through(port, "/").await.0, 200);
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_pushes_of_one_version_accept_exactly_one() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Arc::new(Harness::start(dir.path()).await);
    let backend = Backend::named("web").await;
    let port = ports.hold();
    let mut pushes = Vec::new();
    for weight in 1..=8 {
        let admin = admin.clone();
        let config = web_config(5, port, backend.address, weight);
        pushes.push(tokio::spawn(async move { admin.put(&config).await.0 }));
    }
    let mut statuses = Vec::new();
    for push in pushes {
        statuses.push(push.await.unwrap());
    }
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409, 409, 409, 409, 409, 409, 409]);
    let running = admin.dataplane.snapshot().config.clone();
    let saved = std::fs::read_to_string(dir.path().join(CONFIG_FILE)).unwrap();
    assert_eq!(
        DataplaneConfig::parse(&saved).unwrap(),
        running,
        "the winner is what was saved"
    );
    let Ok(admin) = Arc::try_unwrap(admin) else {
        panic!("the pushes are done")
    };
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_and_metrics_show_what_really_runs() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let backend = Backend::named("web").await;
    let port = ports.hold();
    let (status, _) = admin.put(&web_config(3, port, backend.address, 4)).await;
    assert_eq!(status, 200);
    for _ in 0..3 {
        assert_eq!(get_through(port, "/").await.0, 200);
    }

    let state = admin.state().await;
    assert_eq!(state["observed"]["version"], 3);
    assert_eq!(
        state["listeners"],
        serde_json::json!([format!("127.0.0.1:{port}")])
    );
    assert_eq!(
        state["observed"]["pools"]["web"]["targets"],
        serde_json::json!([{
            "address": backend.address.to_string(),
            "weight": 4,
            "backup": false,
            "health": "unknown",
        }])
    );
    assert_eq!(
        state["observed"]["load_balancers"]["front"]["listeners"][0]["port"],
        port
    );
    // Each target's answers: how many, how many 5xx, by latency bucket
    // (one per bound of the request histogram, and one past the last).
    let mut targets = state["targets"].clone();
    let counts = targets[0]
        .as_object_mut()
        .unwrap()
        .remove("counts")
        .unwrap();
    assert_eq!(counts["answered"], 3, "{counts}");
    assert_eq!(counts["errors_5xx"], 0, "{counts}");
    let latency: Vec<u64> = serde_json::from_value(counts["latency"].clone()).unwrap();
    assert_eq!(
        (latency.len(), latency.iter().sum::<u64>()),
        (lbops::dataplane::stats::LATENCY_BUCKETS.len() + 1, 3)
    );
    assert_eq!(counts["history"], serde_json::json!([]));
    assert_eq!(
        targets,
        serde_json::json!([{
            "pool": "web",
            "address": backend.address.to_string(),
            "backup": false,
            "draining": false,
            "healthy": true,
            "in_flight": 0,
            "requests": 3,
            "weight": 4,
            "effective_weight": 4,
            "draining_left_ms": null,
        }])
    );

    let response = admin
        .send(
            Method::GET,
            "/metrics",
            Some(&format!("Bearer {TOKEN}")),
            "",
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let metrics = read_body(response).await;
    let labels = format!("{{pool=\"web\",target=\"{}\"}}", backend.address);
    for line in [
        "lbops_dataplane_config_version 3".to_owned(),
        "lbops_dataplane_listeners 1".to_owned(),
        format!("lbops_dataplane_target_healthy{labels} 1"),
        format!("lbops_dataplane_target_requests_total{labels} 3"),
        format!("lbops_dataplane_target_in_flight{labels} 0"),
        "lbops_dataplane_requests_total{class=\"2xx\"} 3".to_owned(),
        "lbops_dataplane_request_duration_seconds_count 3".to_owned(),
        "lbops_dataplane_request_duration_seconds_bucket{le=\"+Inf\"} 3".to_owned(),
        "lbops_dataplane_upstream_errors_total 0".to_owned(),
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line} in:\n{metrics}");
    }
    admin.stop().await;
}

/// Reads the next NDJSON line of an event stream.
async fn next_event(body: &mut Incoming, buffer: &mut Vec<u8>) -> Option<Value> {
    loop {
        if let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=end).collect();
            return Some(serde_json::from_slice(&line).expect("one JSON object per line"));
        }
        let frame = tokio::time::timeout(Duration::from_secs(10), body.frame())
            .await
            .expect("an event in time")?
            .expect("a readable stream");
        if let Ok(data) = frame.into_data() {
            buffer.extend_from_slice(&data);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_stream_tells_configs_and_health_as_they_happen() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let backend = Backend::named("web").await;
    let response = admin
        .send(
            Method::GET,
            "/v1/events",
            Some(&format!("Bearer {TOKEN}")),
            "",
        )
        .await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["content-type"], "application/x-ndjson");
    let mut body = response.into_body();
    let mut buffer = Vec::new();

    // A pool with fast active checks and a target nobody listens on.
    let dead = ports.address();
    let yaml = format!(
        "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{}'}}, {{address: '{dead}'}}]\n\
         \x20 health_check: {{probe: tcp, interval: 100ms, timeout: 80ms, healthy_threshold: 1, unhealthy_threshold: 2}}\n",
        backend.address
    );
    let config = config(&yaml, 4);
    assert_eq!(admin.put(&config).await.0, 200);
    assert_eq!(admin.put(&config).await.0, 200, "a no-op sends no event");

    let config_event = serde_json::json!({"type": "config", "version": 4});
    let dead_down = serde_json::json!({
        "type": "health",
        "pool": "web",
        "target": dead.to_string(),
        "healthy": false,
    });
    let mut seen = Vec::new();
    while !(seen.contains(&config_event) && seen.contains(&dead_down)) {
        seen.push(
            next_event(&mut body, &mut buffer)
                .await
                .expect("the stream is open"),
        );
    }

    // Others publish through `events()`; reading up to this marker shows
    // everything sent before it.
    let marker = DataplaneEvent::Health {
        pool: "other".parse().unwrap(),
        target: "192.0.2.1:80".parse().unwrap(),
        healthy: true,
    };
    admin.admin.events().send(marker.clone()).unwrap();
    let marker = serde_json::to_value(&marker).unwrap();
    loop {
        let event = next_event(&mut body, &mut buffer)
            .await
            .expect("the stream is open");
        if event == marker {
            break;
        }
        seen.push(event);
    }
    assert_eq!(
        seen.iter().filter(|e| e["type"] == "config").count(),
        1,
        "one event per accepted change: {seen:?}"
    );

    // Shutting the admin API down ends the stream instead of hanging.
    let Harness {
        dataplane, admin, ..
    } = admin;
    let stopping = tokio::spawn(admin.shutdown());
    assert_eq!(next_event(&mut body, &mut buffer).await, None);
    tokio::time::timeout(Duration::from_secs(5), stopping)
        .await
        .expect("shutdown does not wait for the stream's reader")
        .unwrap();
    dataplane.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_configs_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let admin = Harness::start(dir.path()).await;
    let raw = |authorization: &'static str| {
        let address = admin.admin.local_addr();
        async move {
            let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
            let head = format!(
                "PUT /v1/config HTTP/1.1\r\nhost: admin\r\n{authorization}content-length: {}\r\n\r\n",
                admin::MAX_BODY_BYTES + 1
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            let mut answer = Vec::new();
            tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
                .await
                .expect("answered without the body")
                .unwrap();
            String::from_utf8_lossy(&answer).into_owned()
        }
    };
    let answer = raw("").await;
    assert!(
        answer.starts_with("HTTP/1.1 401 "),
        "auth comes first: {answer}"
    );
    let authorization: &'static str =
        Box::leak(format!("authorization: Bearer {TOKEN}\r\n").into_boxed_str());
    let answer = raw(authorization).await;
    assert!(answer.starts_with("HTTP/1.1 413 "), "{answer}");
    assert!(
        answer.contains("the config is larger than 16777216 bytes"),
        "{answer}"
    );
    admin.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_data_plane_serves_its_last_config_without_a_controller() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let backend = Backend::named("web").await;
    let port = ports.hold();
    let last = web_config(2, port, backend.address, 3);
    {
        let admin = Harness::start(dir.path()).await;
        assert_eq!(
            admin.put(&web_config(1, port, backend.address, 1)).await.0,
            200
        );
        assert_eq!(admin.put(&last).await.0, 200);
        admin.stop().await;
    }
    assert!(
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err(),
        "nothing serves while it is down"
    );

    let dataplane = Arc::new(Dataplane::new());
    assert_eq!(
        admin::restore(&dataplane, dir.path())
            .await
            .expect("restores"),
        Some(2)
    );
    assert_eq!(dataplane.snapshot().config, last);
    assert_eq!(get_through(port, "/back").await, (200, "web /back".into()));

    let admin = Harness::start_with(dataplane, dir.path()).await;
    let (status, running) = admin.call(Method::GET, "/v1/config", "").await;
    assert_eq!(status, 200);
    assert_eq!(DataplaneConfig::parse(&running).unwrap(), last);
    assert_eq!(admin.state().await["observed"]["version"], 2);
    let (status, body) = admin.put(&web_config(1, port, backend.address, 1)).await;
    assert_eq!(
        (status, &body["running_version"]),
        (409, &Value::from(2)),
        "{body}"
    );
    admin.stop().await;

    let empty = tempfile::tempdir().unwrap();
    let fresh = Dataplane::new();
    assert_eq!(admin::restore(&fresh, empty.path()).await.unwrap(), None);
    assert!(fresh.bound().await.is_empty());
}

/// A config body nested 20,000 levels deep — 40 KB of `- `, or of `[` as
/// JSON would have it — used to overflow the stack of the worker that
/// parsed it and abort `lbops dataplane`, taking every listener down. Now
/// it is a 400 naming the limit and where it was passed, and the same
/// process goes on serving: it takes the next good config and forwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deeply_nested_config_is_refused_and_the_process_serves_on() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin.sha256");
    std::fs::write(&token_file, lbops::model::sha256_hex(TOKEN)).unwrap();
    let (mut process, mut stderr) = ChildProcess::lbops(|c| {
        c.args(["dataplane", "--admin-listen", "127.0.0.1:0", "--state-dir"])
            .arg(dir.path().join("state"))
            .arg("--admin-token-sha256-file")
            .arg(&token_file)
    });
    let base = format!("http://{}", admin_address(&mut stderr));
    // Keep reading the process's log so that it never blocks on a full pipe.
    let log = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let client: HttpClient = Client::builder(TokioExecutor::new()).build(HttpConnector::new());
    let call = |method: Method, path: &str, body: String| {
        let request = Request::builder()
            .method(method)
            .uri(format!("{base}{path}"))
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let client = client.clone();
        async move {
            let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
                .await
                .expect("answered in time")
                .expect("the process answers");
            let status = response.status().as_u16();
            (status, read_body(response).await)
        }
    };

    let bombs = [
        format!("{}x\n", "- ".repeat(20_000)),
        format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)),
    ];
    for bomb in bombs {
        assert!(bomb.len() >= 40_000);
        let (status, body) = call(Method::PUT, "/v1/config", bomb).await;
        assert_eq!(status, 400, "{body}");
        let answer: Value = serde_json::from_str(&body).expect("a JSON answer");
        let error = answer["error"].as_str().unwrap_or_default();
        assert!(
            error.contains("nested more than 64 levels deep") && error.contains("nest less deeply"),
            "{body}"
        );
        assert_eq!(answer["line"], 1, "{body}");
        assert!(process.0.try_wait().unwrap().is_none(), "still running");
    }

    let backend = Backend::named("web").await;
    let ports = Ports::default();
    let port = ports.hold();
    let good = web_config(1, port, backend.address, 1).to_json();
    let (status, body) = call(Method::PUT, "/v1/config", good).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = get_through(port, "/after").await;
    assert_eq!((status, body.as_str()), (200, "web /after"));
    let (status, _) = call(Method::GET, "/v1/state", String::new()).await;
    assert_eq!(status, 200);
    assert!(process.0.try_wait().unwrap().is_none(), "still running");
    drop(process);
    common::keep_log("dataplane-deep-config", &log.join().unwrap());
}
