//! A fleet of data-plane nodes end to end: three real `lbops dataplane`
//! processes on loopback (their balancer listeners share one port, as
//! nodes behind ECMP share an address), one `lbops run` driving them,
//! real signed commits, real traffic, statuses read back from git notes.
//! Also the epoch fence on a real data-plane process, across a restart.

mod common;

use common::estate::{balancer, note, pools, Daemon, Team};
use common::git::GitRepo;
use common::{Backend, ChildProcess, Ports, Reply};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const TOKEN: &str = "fleet-test-admin-token";

/// One `lbops dataplane` process: its admin port and state directory
/// stay the same across restarts.
struct Node {
    name: &'static str,
    admin_port: u16,
    state_dir: PathBuf,
    hash_file: PathBuf,
    process: Option<ChildProcess>,
}

impl Node {
    fn start(&mut self) {
        let (process, mut stderr) = ChildProcess::lbops(|c| {
            c.args(["dataplane", "--admin-listen"])
                .arg(format!("127.0.0.1:{}", self.admin_port))
                .arg("--state-dir")
                .arg(&self.state_dir)
                .arg("--admin-token-sha256-file")
                .arg(&self.hash_file)
        });
        common::admin_address(&mut stderr);
        std::thread::spawn(move || for _ in stderr.lines() {});
        self.process = Some(process);
    }

    /// `kill -9`.
    fn kill(&mut self) {
        self.process.take();
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.admin_port)
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        let (status, body) = call("GET", &format!("{}{path}", self.url()), None, None).await;
        assert_eq!(status, 200, "{}: {body}", self.name);
        serde_json::from_str(&body).unwrap()
    }

    /// The weight of `target` in pool `web`, as the node runs it.
    async fn weight(&self, target: std::net::SocketAddr) -> Option<u64> {
        let config = self.get("/v1/config").await;
        config["pools"]["web"]["targets"]
            .as_array()?
            .iter()
            .find(|t| t["address"] == target.to_string())
            .and_then(|t| t["weight"].as_u64())
    }

    /// Requests this node's balancer has sent to targets.
    async fn requests(&self) -> u64 {
        let state = self.get("/v1/state").await;
        state["targets"]
            .as_array()
            .map(|targets| targets.iter().filter_map(|t| t["requests"].as_u64()).sum())
            .unwrap_or(0)
    }
}

/// An authenticated admin call; the status and body.
async fn call(method: &str, url: &str, epoch: Option<u64>, body: Option<String>) -> (u16, String) {
    use http_body_util::{BodyExt, Full};
    let client: hyper_util::client::legacy::Client<_, Full<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let mut request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {TOKEN}"));
    if let Some(epoch) = epoch {
        request = request.header("lbops-epoch", epoch.to_string());
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .unwrap();
    let response = tokio::time::timeout(Duration::from_secs(10), client.request(request))
        .await
        .expect("answered in time")
        .expect("an answer");
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Polls `check` every 50 ms until it holds, for at most 30 s.
async fn eventually<F, Fut>(what: &str, daemon: Option<&Daemon>, check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    while !check().await {
        assert!(
            Instant::now() < deadline,
            "{what}\n{}",
            daemon.map(Daemon::logs).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Three data-plane nodes, a signed repository whose first commit is
/// pinned, and a daemon config driving the nodes.
struct Fleet {
    team: Team,
    repo: GitRepo,
    stable: Backend,
    canary: Backend,
    port: u16,
    nodes: Vec<Node>,
    first: String,
    dir: tempfile::TempDir,
    _ports: Ports,
}

impl Fleet {
    async fn new(min_nodes: Option<usize>) -> Self {
        let team = Team::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("admin-token"), TOKEN).unwrap();
        let hash_file = dir.path().join("admin-token.sha256");
        std::fs::write(&hash_file, lbops::model::sha256_hex(TOKEN)).unwrap();
        let mut nodes: Vec<Node> = ["dp-1", "dp-2", "dp-3"]
            .into_iter()
            .map(|name| Node {
                name,
                admin_port: ports.hold(),
                state_dir: dir.path().join(name),
                hash_file: hash_file.clone(),
                process: None,
            })
            .collect();
        for node in &mut nodes {
            node.start();
        }
        let listed: Vec<String> = nodes
            .iter()
            .map(|n| {
                format!(
                    "{{name: {}, url: '{}', token_file: admin-token}}",
                    n.name,
                    n.url()
                )
            })
            .collect();
        let min = min_nodes.map_or_else(String::new, |n| format!(", min_nodes: {n}"));
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{nodes: [{}]{min}}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            listed.join(", "),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        Fleet {
            team,
            repo,
            stable,
            canary,
            port,
            nodes,
            first,
            dir,
            _ports: ports,
        }
    }

    fn daemon(&self) -> Daemon {
        Daemon::start(&self.dir.path().join("lbops.yaml"))
    }

    /// Waits (30 s) until the commit's note has a line starting with
    /// `line`, and returns that line.
    async fn status(&self, commit: &str, line: &str, daemon: &Daemon) -> String {
        let found = || {
            note(&self.repo, commit)
                .and_then(|n| n.lines().find(|l| l.starts_with(line)).map(str::to_owned))
        };
        eventually(&format!("`{line}` on {commit}"), Some(daemon), || async {
            found().is_some()
        })
        .await;
        found().unwrap_or_default()
    }

    async fn metrics(&self, daemon: &Daemon) -> String {
        let url = format!("{}/metrics", daemon.pages().await);
        let (status, text) = call("GET", &url, None, None).await;
        assert_eq!(status, 200, "{text}");
        text
    }

    /// Bob moves the canary to `weight`.
    fn shift(&self, weight: u32) -> String {
        self.repo
            .write("pools.yaml", &pools(&self.stable, &self.canary, weight, 1));
        self.repo
            .commit(&self.team.bob(), &format!("canary to {weight}"))
    }
}

/// One request on a new connection through the shared balancer port.
async fn request(port: u16) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the balancer accepts");
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
        .await
        .expect("the balancer answers in time")
        .unwrap();
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_commit_is_applied_on_every_node_and_each_serves_it() {
    let fleet = Fleet::new(None).await;
    let daemon = fleet.daemon();
    fleet
        .status(&fleet.first, "lbops/apply: success", &daemon)
        .await;
    let shift = fleet.shift(30);
    let line = fleet.status(&shift, "lbops/apply: success", &daemon).await;
    assert!(!line.contains("behind"), "{line}");
    for node in &fleet.nodes {
        assert_eq!(
            node.weight(fleet.canary.address).await,
            Some(30),
            "{}",
            node.name
        );
    }
    // The nodes share the balancer's port: new connections spread over
    // them, and each node's own counters show it forwarded requests.
    for _ in 0..90 {
        let answer = request(fleet.port).await;
        assert!(
            answer.starts_with("HTTP/1.1 200")
                && (answer.contains("stable") || answer.contains("canary")),
            "{answer}"
        );
    }
    for node in &fleet.nodes {
        assert!(node.requests().await > 0, "{} served no request", node.name);
    }
    let metrics = fleet.metrics(&daemon).await;
    for node in ["dp-1", "dp-2", "dp-3"] {
        assert!(
            metrics.contains(&format!("lbops_dataplane_node_up{{node=\"{node}\"}} 1")),
            "{metrics}"
        );
    }
    let page = call("GET", &format!("{}/", daemon.pages().await), None, None)
        .await
        .1;
    assert!(
        page.contains("Data-plane nodes") && page.contains("dp-3"),
        "{page}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_down_is_named_behind_and_converges_when_it_comes_back() {
    let mut fleet = Fleet::new(Some(2)).await;
    let daemon = fleet.daemon();
    fleet
        .status(&fleet.first, "lbops/apply: success", &daemon)
        .await;
    fleet.nodes[2].kill();
    let shift = fleet.shift(50);
    let line = fleet.status(&shift, "lbops/apply: success", &daemon).await;
    assert!(
        line.contains("applied on 2 of 3 nodes; dp-3 is behind: cannot reach"),
        "{line}"
    );
    for node in &fleet.nodes[..2] {
        assert_eq!(node.weight(fleet.canary.address).await, Some(50));
    }
    let metrics = fleet.metrics(&daemon).await;
    assert!(
        metrics.contains("lbops_dataplane_node_up{node=\"dp-3\"} 0")
            && metrics.contains("lbops_dataplane_node_behind{node=\"dp-3\"} 1"),
        "{metrics}"
    );

    // Back on the same port with the same state: it serves the old config
    // until the daemon brings it up, with no new commit.
    fleet.nodes[2].start();
    let canary = fleet.canary.address;
    let node = &fleet.nodes[2];
    eventually("dp-3 converges", Some(&daemon), || async {
        node.weight(canary).await == Some(50)
    })
    .await;
    eventually("/metrics shows dp-3 up", Some(&daemon), || async {
        let metrics = fleet.metrics(&daemon).await;
        metrics.contains("lbops_dataplane_node_up{node=\"dp-3\"} 1")
            && metrics.contains("lbops_dataplane_node_behind{node=\"dp-3\"} 0")
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_nodes_leave_the_commit_untrusted_until_they_are_back() {
    let mut fleet = Fleet::new(None).await;
    let daemon = fleet.daemon();
    fleet
        .status(&fleet.first, "lbops/apply: success", &daemon)
        .await;
    fleet.nodes[2].kill();
    let shift = fleet.shift(50);
    let line = fleet.status(&shift, "lbops/apply: error", &daemon).await;
    assert!(
        line.contains("applied on 2 of 3 nodes, 3 needed; dp-3 is behind"),
        "{line}"
    );
    // Nothing was half-spread: the others still run the trusted commit.
    for node in &fleet.nodes[..2] {
        assert_eq!(node.weight(fleet.canary.address).await, Some(10));
    }
    let state = std::fs::read_to_string(fleet.dir.path().join("state/daemon-state.json")).unwrap();
    assert!(
        state.contains(&fleet.first) && !state.contains(&format!("\"trusted\":\"{shift}\"")),
        "{state}"
    );

    fleet.nodes[2].start();
    fleet.status(&shift, "lbops/apply: success", &daemon).await;
    for node in &fleet.nodes {
        assert_eq!(node.weight(fleet.canary.address).await, Some(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_data_plane_refuses_an_older_epoch_also_after_a_restart() {
    let ports = Ports::default();
    let dir = tempfile::tempdir().unwrap();
    let hash_file = dir.path().join("admin-token.sha256");
    std::fs::write(&hash_file, lbops::model::sha256_hex(TOKEN)).unwrap();
    let mut node = Node {
        name: "dp-1",
        admin_port: ports.hold(),
        state_dir: dir.path().join("dp-1"),
        hash_file,
        process: None,
    };
    node.start();
    let backend = Backend::named("web").await;
    let config = |version: u64| {
        let yaml = format!(
            "kind: Pool\nname: web\nspec:\n  targets: [{{address: '{}'}}]\n",
            backend.address
        );
        Some(common::config(&yaml, version).to_json())
    };
    let url = format!("{}/v1/config", node.url());
    let put = |epoch, version| {
        let url = url.clone();
        async move { call("PUT", &url, epoch, config(version)).await }
    };
    let (status, body) = put(Some(5), 1).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = put(Some(4), 2).await;
    assert_eq!(status, 409, "{body}");
    let refusal: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(refusal["code"], "stale_epoch");
    assert_eq!(refusal["highest_epoch"], 5);
    assert!(
        refusal["error"]
            .as_str()
            .is_some_and(|e| e.contains("epoch 4") && e.contains("epoch 5")),
        "{refusal}"
    );
    let (status, body) = put(None, 2).await;
    assert_eq!(status, 200, "a hand change carries no epoch: {body}");

    node.kill();
    node.start();
    assert_eq!(node.get("/v1/state").await["highest_epoch"], 5);
    let (status, body) = put(Some(4), 3).await;
    assert_eq!(status, 409, "the fence survives the restart: {body}");
    let (status, body) = put(Some(6), 3).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(node.get("/v1/state").await["highest_epoch"], 6);
}
