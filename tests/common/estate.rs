//! What the daemon's end-to-end tests share: the team's policy, the
//! pools and balancer they change, a running `lbops run` whose log is
//! collected (and kept for the suite's secret check) and tells where it
//! listens, and the statuses read back from git notes.

use super::git::{Author, GitRepo, Signing, SshKey};
use super::{Backend, ChildProcess};
use super::{Ports, Reply};
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::Path;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The access policy the tests share (`tests/fixtures/policy.yaml`), with
/// its placeholders still in: alice is an SRE admin; bob is on the web
/// on-call rotation, allowed to shift weights and swap targets of
/// `team: web` pools only.
pub const POLICY: &str = include_str!("../fixtures/policy.yaml");

/// The shared policy with alice's and bob's SSH signing keys.
pub fn access(alice: &SshKey, bob: &SshKey) -> String {
    policy(alice, bob, "", "")
}

/// The shared policy with alice's and bob's SSH signing keys,
/// `more_users` (User documents, each ending in `---`) before bob, and
/// `bob_extra` (lines at the indentation of bob's spec) added to bob's spec.
pub fn policy(alice: &SshKey, bob: &SshKey, more_users: &str, bob_extra: &str) -> String {
    let keys = |key: &SshKey| format!("signing_keys: [{{ssh: '{}'}}]", key.public);
    [
        ("# ALICE_SIGNING_KEYS", keys(alice)),
        ("# BOB_SIGNING_KEYS", keys(bob)),
        ("# MORE_USERS\n", more_users.to_owned()),
        ("# BOB_EXTRA", bob_extra.to_owned()),
    ]
    .into_iter()
    .fold(POLICY.to_owned(), |text, (placeholder, value)| {
        assert_eq!(
            text.matches(placeholder).count(),
            1,
            "`{placeholder}` in tests/fixtures/policy.yaml"
        );
        text.replacen(placeholder, &value, 1)
    })
}

impl Team {
    pub fn new() -> Self {
        Self {
            alice: SshKey::new("alice@example.test"),
            bob: SshKey::new("bob@example.test"),
        }
    }
}

/// The two people of the estate's policy, with their signing keys.
pub struct Team {
    pub alice: SshKey,
    pub bob: SshKey,
}

impl Team {
    pub fn alice(&self) -> Author<'_> {
        Author {
            name: "Alice",
            email: "alice@example.test",
            signing: Signing::Ssh(&self.alice),
        }
    }

    pub fn bob(&self) -> Author<'_> {
        Author {
            name: "Bob",
            email: "bob@example.test",
            signing: Signing::Ssh(&self.bob),
        }
    }

    pub fn access(&self) -> String {
        access(&self.alice, &self.bob)
    }
}

/// The estate: backends, a signed repository, a daemon config.
/// `web` splits between the stable and the canary backend by weight;
/// `db` belongs to another team.
pub fn pools(stable: &Backend, canary: &Backend, canary_weight: u32, db_weight: u32) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{}', weight: {}}}
    - {{address: '{}', weight: {canary_weight}}}
---
kind: Pool
name: db
labels: {{team: data}}
spec:
  targets: [{{address: '{}', weight: {db_weight}}}]
",
        stable.address,
        100 - canary_weight,
        canary.address,
        stable.address,
    )
}

/// A balancer on 127.0.0.1:`port` sending everything to `web`.
pub fn balancer(port: u16) -> String {
    format!(
        "kind: LoadBalancer
name: edge
spec:
  addresses: [127.0.0.1]
  listeners:
    - {{name: http, protocol: http, port: {port}, default_action: {{forward: {{pools: [{{pool: web}}]}}}}}}
"
    )
}

/// A running `lbops run`; its log lines are collected (never left to
/// fill a pipe), kept for `scripts/check-test-logs`, and it is killed
/// when dropped.
pub struct Daemon {
    process: Option<ChildProcess>,
    logs: Arc<Mutex<Vec<String>>>,
}

impl Daemon {
    pub fn start(config: &Path) -> Self {
        Self::start_with(config, |c| c)
    }

    /// Starts it with the environment (e.g. `LBOPS_LOG`) that `configure` sets.
    pub fn start_with(config: &Path, configure: impl FnOnce(&mut Command) -> &mut Command) -> Self {
        let (process, stderr) =
            ChildProcess::lbops(|c| configure(c.arg("run").arg("--config").arg(config)));
        let logs = Arc::new(Mutex::new(Vec::new()));
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Daemon {
            process: Some(process),
            logs,
        }
    }

    /// Waits for the daemon's first reconcile to finish.
    pub async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.logs().contains("\"message\":\"ready\"") {
            assert!(Instant::now() < deadline, "not ready:\n{}", self.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn logs(&self) -> String {
        self.logs.lock().unwrap().join("\n")
    }

    /// Waits (up to 30 s) for a log line that `matches`, and returns it;
    /// `what` names it in the failure.
    pub async fn wait_for_log(&self, what: &str, matches: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let found = self
                .logs
                .lock()
                .unwrap()
                .iter()
                .find(|l| matches(l))
                .cloned();
            if let Some(line) = found {
                return line;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: no such line in\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Where the in-process data plane's admin API listens.
    pub async fn admin(&self) -> SocketAddr {
        self.logged_address("data plane admin API", "admin").await
    }

    /// Where the webhook endpoint listens.
    pub async fn webhook(&self) -> SocketAddr {
        self.logged_address("webhook endpoint listening", "local")
            .await
    }

    /// The base URL of the pages, probes and `/metrics`, e.g.
    /// `http://127.0.0.1:40123` (no trailing slash).
    pub async fn pages(&self) -> String {
        format!(
            "http://{}",
            self.logged_address("pages, probes and /metrics", "pages")
                .await
        )
    }

    /// The address the daemon logged in `field` of its `message` line.
    /// Tests give the daemon port 0 to listen on, so that it binds a free
    /// port itself, and read here which one it got.
    async fn logged_address(&self, message: &str, field: &str) -> SocketAddr {
        let value = |line: &str| {
            let line: serde_json::Value = serde_json::from_str(line).ok()?;
            (line["message"] == message).then(|| line[field].as_str().map(str::to_owned))?
        };
        let line = self.wait_for_log(message, |l| value(l).is_some()).await;
        let address = value(&line).unwrap_or_default();
        let address = address.trim_start_matches("http://").trim_end_matches('/');
        address
            .parse()
            .unwrap_or_else(|e| panic!("{message}: {field} {address:?}: {e}"))
    }

    /// Whether the process is still running (it has not exited or died).
    pub fn running(&mut self) -> bool {
        self.process
            .as_mut()
            .is_some_and(|p| matches!(p.0.try_wait(), Ok(None)))
    }

    /// Its process id, for signals (`kill -STOP`).
    pub fn pid(&self) -> u32 {
        self.process.as_ref().map_or(0, |p| p.0.id())
    }

    /// `kill -9`.
    pub fn kill(&mut self) {
        self.process.take();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.process.take();
        super::keep_log("daemon", &self.logs());
    }
}

/// The lbops note of a commit, once it has one.
pub fn note(repo: &GitRepo, commit: &str) -> Option<String> {
    let out = Command::new("git")
        .args(["notes", "--ref=lbops", "show", commit])
        .current_dir(repo.path())
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Waits (up to 30 s) until the commit's note has a line starting with
/// `line`, and returns the note.
pub async fn wait_for_status(repo: &GitRepo, commit: &str, line: &str, daemon: &Daemon) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(note) = note(repo, commit) {
            if note.lines().any(|l| l.starts_with(line)) {
                return note;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no `{line}` on {commit}: note {:?}\nlogs:\n{}",
            note(repo, commit),
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An estate for one daemon: a signed repository whose first commit is
/// pinned as trusted, two backends behind its `web` pool, and a daemon
/// config with the embedded data plane (`trust_extra` is appended to the
/// `trust:` mapping).
pub struct PinnedEstate {
    pub team: Team,
    pub repo: GitRepo,
    pub stable: Backend,
    pub canary: Backend,
    /// The balancer's port, held for the data plane to bind.
    pub port: u16,
    _ports: Ports,
    pub dir: tempfile::TempDir,
    pub first: String,
}

impl PinnedEstate {
    pub async fn new(trust_extra: &str) -> Self {
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
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}{trust_extra}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
",
            repo.path().display(),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        PinnedEstate {
            team,
            repo,
            stable,
            canary,
            port,
            _ports: ports,
            dir,
            first,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    pub fn state_file(&self) -> PathBuf {
        self.dir.path().join("state").join("daemon-state.json")
    }

    /// Waits (up to 30 s) until the daemon's state file satisfies `done`.
    pub async fn wait_for_state(&self, daemon: &Daemon, done: impl Fn(&serde_json::Value) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let state = std::fs::read_to_string(self.state_file()).unwrap_or_default();
            if serde_json::from_str(&state).is_ok_and(|state| done(&state)) {
                return;
            }
            assert!(Instant::now() < deadline, "{state}\n{}", daemon.logs());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The balancer answers, with the stable or the canary backend.
    pub async fn serves(&self) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("the balancer accepts");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::time::timeout(Duration::from_secs(10), stream.read_to_string(&mut answer))
            .await
            .expect("the balancer answers in time")
            .unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200")
                && (answer.contains("stable") || answer.contains("canary")),
            "{answer}"
        );
        let _ = (&self.stable, &self.canary);
    }
}
