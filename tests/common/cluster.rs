//! Replicas on etcd for the tests and the failover benchmark: a signed
//! repository, three `lbops dataplane` nodes, a real etcd, and `lbops run`
//! replicas of it.

use super::estate::{balancer, pools, Daemon, Team};
use super::etcd::EtcdServer;
use super::git::GitRepo;
use super::{Backend, ChildProcess, Ports, Reply};
use std::io::BufRead;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A signed repository, a separate data plane, etcd, and configs for
/// replicas `a` and `b`.
pub struct Cluster {
    pub team: Team,
    pub repo: GitRepo,
    pub canary: Backend,
    pub stable: Backend,
    port: u16,
    _ports: Ports,
    dir: tempfile::TempDir,
    pub first: String,
    pub etcd: EtcdServer,
    _nodes: Vec<ChildProcess>,
    admins: Vec<std::net::SocketAddr>,
    token: &'static str,
}

impl Cluster {
    pub async fn new() -> Self {
        Self::with_files(&[]).await
    }

    /// The cluster, with `files` (path, text) in the first commit too.
    pub async fn with_files(files: &[(&str, String)]) -> Self {
        let team = Team::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("pools.yaml", &pools(&stable, &canary, 10, 1));
        repo.write("balancers.yaml", &balancer(port));
        for (path, text) in files {
            repo.write(path, text);
        }
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        let token = "replica-test-admin-token";
        std::fs::write(dir.path().join("admin-token"), token).unwrap();
        let hash_file = dir.path().join("admin-token.sha256");
        std::fs::write(&hash_file, lbops::model::sha256_hex(token)).unwrap();
        let (mut nodes, mut admins) = (Vec::new(), Vec::new());
        for n in 1..=3 {
            let (node, mut stderr) = ChildProcess::lbops(|c| {
                c.args(["dataplane", "--admin-listen", "127.0.0.1:0"])
                    .arg("--state-dir")
                    .arg(dir.path().join(format!("dp-{n}")))
                    .arg("--admin-token-sha256-file")
                    .arg(&hash_file)
            });
            admins.push(super::admin_address(&mut stderr));
            std::thread::spawn(move || for _ in stderr.lines() {});
            nodes.push(node);
        }
        let etcd = EtcdServer::start().await;
        Cluster {
            team,
            repo,
            canary,
            stable,
            port,
            _ports: ports,
            dir,
            first,
            etcd,
            _nodes: nodes,
            admins,
            token,
        }
    }

    pub fn state_dir(&self, replica: &str) -> PathBuf {
        self.dir.path().join(format!("state-{replica}"))
    }

    /// Starts replica `name` with a lease of `ttl` seconds.
    pub fn replica(&self, name: &str, ttl: u32) -> Daemon {
        self.replica_with(name, ttl, "")
    }

    /// Starts replica `name`; `api` is added to the `api:` mapping (e.g.
    /// `, signing_key_file: '…'`).
    pub fn replica_with(&self, name: &str, ttl: u32, api: &str) -> Daemon {
        self.replica_configured(name, ttl, api, "")
    }

    /// Starts replica `name`; `api` is added to the `api:` mapping and
    /// `etcd` to the `cluster.etcd:` one (e.g. `, username: root, …`).
    pub fn replica_configured(&self, name: &str, ttl: u32, api: &str, etcd: &str) -> Daemon {
        let [dp1, dp2, dp3] = [self.admins[0], self.admins[1], self.admins[2]];
        let config = format!(
            "repository: {{path: '{repo}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider:
  embedded:
    nodes:
      - {{name: dp-1, url: 'http://{dp1}', token_file: '{token}'}}
      - {{name: dp-2, url: 'http://{dp2}', token_file: '{token}'}}
      - {{name: dp-3, url: 'http://{dp3}', token_file: '{token}'}}
drift: {{schedule: '* * * * * *', kinds: {{Pool: revert, LoadBalancer: revert}}}}
api: {{listen: '127.0.0.1:0'{api}}}
state_dir: '{state}'
cluster:
  replica: {name}
  prefix: /lbops/test
  lease_ttl: {ttl}s
  etcd: {{endpoints: ['{endpoint}'], timeout: 1s{etcd}}}
",
            repo = self.repo.path().display(),
            first = self.first,
            token = self.dir.path().join("admin-token").display(),
            state = self.state_dir(name).display(),
            endpoint = self.etcd.endpoint(),
        );
        let path = self.dir.path().join(format!("lbops-{name}.yaml"));
        std::fs::write(&path, config).unwrap();
        Daemon::start(&path)
    }

    /// The share of 200 requests through the balancer that reach the canary.
    pub async fn canary_share(&self) -> f64 {
        let client = http();
        let mut canary = 0;
        for _ in 0..200 {
            let body = client
                .get(format!("http://127.0.0.1:{}/", self.port))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            if body.contains("canary") {
                canary += 1;
            } else {
                assert!(body.contains("stable"), "{body}");
            }
        }
        f64::from(canary) / 200.0
    }

    /// Node `n`'s (0, 1, 2) answer to `GET path` of its admin API.
    pub async fn node(&self, n: usize, path: &str) -> serde_json::Value {
        let client = http();
        let text = client
            .get(format!("http://{}{path}", self.admins[n]))
            .bearer_auth(self.token)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap()
    }

    /// Every node's running config version and highest accepted epoch.
    pub async fn nodes(&self) -> Vec<(u64, u64)> {
        let mut all = Vec::new();
        for n in 0..3 {
            let state = self.node(n, "/v1/state").await;
            let config = self.node(n, "/v1/config").await;
            all.push((
                config["version"].as_u64().unwrap_or(0),
                state["highest_epoch"].as_u64().unwrap_or(0),
            ));
        }
        all
    }

    /// The shared state's trusted commit, as etcd holds it.
    pub async fn shared_trusted(&self) -> Option<String> {
        let state = self.etcd.get("/lbops/test/state").await?;
        let json: serde_json::Value = serde_json::from_str(&state).unwrap();
        json["trusted"].as_str().map(str::to_owned)
    }
}

/// A client for loopback (reqwest is built without a crypto provider).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// Waits (up to `limit`) for a log line of `daemon` containing `text`.
pub async fn wait_for_log(daemon: &Daemon, text: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !daemon.logs().contains(text) {
        assert!(
            Instant::now() < deadline,
            "no {text:?} in:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
