//! An estate for the estate page and `lbops status`: one balancer with a
//! path route splitting between two pools and a default route, real
//! backends behind every target (health-checked every
//! [`CHECK_INTERVAL_MS`]), a reader ServiceAccount with a `state.read`
//! token, and a running daemon with its API.

use super::estate::{Daemon, Team};
use super::git::GitRepo;
use super::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::path::PathBuf;

/// How often the pools' targets are checked; one failure marks one down.
pub const CHECK_INTERVAL_MS: u64 = 300;

pub struct Topology {
    pub team: Team,
    pub repo: GitRepo,
    pub stable: Backend,
    pub canary: Backend,
    pub db: Backend,
    pub port: u16,
    _ports: Ports,
    pub dir: tempfile::TempDir,
    pub first: String,
    pub reader: ApiToken,
    pub daemon: Daemon,
}

fn pools(stable: &Backend, canary: &Backend, db: &Backend) -> String {
    let check = format!(
        "  health_check: {{probe: {{http: {{path: /healthz}}}}, interval: {CHECK_INTERVAL_MS}ms, timeout: 200ms, \
         healthy_threshold: 1, unhealthy_threshold: 1}}\n"
    );
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{}', weight: 90}}
    - {{address: '{}', weight: 10}}
{check}---
kind: Pool
name: db
labels: {{team: data}}
spec:
  targets: [{{address: '{}', weight: 1}}]
{check}",
        stable.address, canary.address, db.address
    )
}

fn balancer(port: u16) -> String {
    format!(
        "kind: LoadBalancer
name: edge
spec:
  addresses: [127.0.0.1]
  listeners:
    - name: http
      protocol: http
      port: {port}
      routes:
        - {{name: reports, priority: 10, match: {{path: {{prefix: /reports}}}}, action: {{forward: {{pools: [{{pool: web, weight: 3}}, {{pool: db, weight: 1}}]}}}}}}
      default_action: {{forward: {{pools: [{{pool: web}}]}}}}
"
    )
}

fn reader(token: &ApiToken) -> String {
    format!(
        "kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: status-bot
spec:
  owner: alice
  roles: [reader]
  tokens:
    - {{name: status, id: {}, hash: '{}', expires: 2099-01-01, scopes: [state.read]}}
",
        token.id(),
        token.stored_hash()
    )
}

impl Topology {
    /// Starts the backends and the daemon, and waits for the first commit
    /// to be applied.
    pub async fn start() -> Self {
        let team = Team::new();
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let db = Backend::start_at("db", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let reader_token = ApiToken::generate(super::api::random);
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("bots.yaml", &reader(&reader_token));
        repo.write("pools.yaml", &pools(&stable, &canary, &db));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
drift: {{schedule: '0 0 * * * *'}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        let daemon = Daemon::start(&dir.path().join("lbops.yaml"));
        daemon.ready().await;
        Topology {
            team,
            repo,
            stable,
            canary,
            db,
            port,
            _ports: ports,
            dir,
            first,
            reader: reader_token,
            daemon,
        }
    }

    /// A file holding the reader's token, as `--token-file` wants it.
    pub fn reader_token_file(&self) -> PathBuf {
        use std::os::unix::fs::OpenOptionsExt as _;
        let path = self.dir.path().join("reader.token");
        if !path.exists() {
            let mut file = std::fs::OpenOptions::new()
                .create_new(true)
                .write(true)
                .mode(0o600)
                .open(&path)
                .unwrap();
            std::io::Write::write_all(&mut file, format!("{}\n", self.reader.expose()).as_bytes())
                .unwrap();
        }
        path
    }

    /// The data plane's admin token.
    pub fn admin_token(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state").join("dataplane-admin-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Sends `n` requests through the balancer (to `path`), answered or not.
    pub async fn traffic(&self, path: &str, n: usize) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        for _ in 0..n {
            let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await
            else {
                continue;
            };
            let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
            let _ = stream.write_all(request.as_bytes()).await;
            let mut answer = Vec::new();
            let _ = tokio::time::timeout(
                std::time::Duration::from_secs(5),
                stream.read_to_end(&mut answer),
            )
            .await;
        }
    }

    /// The row id the page gives a target of `pool`.
    pub fn row(pool: &str, address: &std::net::SocketAddr) -> String {
        lbops::daemon::pages::estate::model::anchor::target(pool, &address.to_string())
    }
}
