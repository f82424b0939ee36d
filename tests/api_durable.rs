//! API writes that survive what a production daemon meets: `lbops run` as
//! a real process over a real signed repository, its data plane a real
//! balancer, called over real HTTP.
//!
//! * `kill -9` between the API commit and its apply: the data plane (a
//!   separate process) is stopped (SIGSTOP) so that the apply cannot
//!   happen, the daemon is killed, the data plane resumed, the daemon
//!   restarted; the client's retry with its Idempotency-Key and
//!   `?wait=applied` gets the same commit, applied, and there is one.
//! * People pushing while the API writes to the same branch: every change
//!   lands and is applied, none is lost, a retried key makes one commit.
//! * A daemon that watches a remote (a bare repository named by a
//!   `file://` URL, or served over HTTP by `git http-backend` asking for
//!   the daemon's token): the write is pushed there and applied.

mod common;

use common::api::{address as api_of, call, random};

use common::estate::{balancer, Daemon, Team};
use common::git::{GitRepo, SshKey};
use common::git_http::GitHttp;
use common::{Backend, ChildProcess, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// `web` (team web): the stable backend, checked every 100 ms.
fn pools(stable: SocketAddr) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{stable}', weight: 1}}
  health_check:
    probe: {{http: {{path: /healthz}}}}
    interval: 100ms
    timeout: 80ms
    healthy_threshold: 1
    unhealthy_threshold: 1
"
    )
}

/// The people's clone with the estate committed, the bare repository
/// they push to (which the daemon watches), and the daemon's key, token
/// and state.
struct Estate {
    team: Team,
    api_key: SshKey,
    adder: ApiToken,
    /// The people's clone.
    repo: GitRepo,
    stable: Backend,
    /// The balancer's port, held for the data plane to bind.
    port: u16,
    _ports: Ports,
    dir: tempfile::TempDir,
    first: String,
}

impl Estate {
    async fn new() -> Estate {
        let team = Team::new();
        let adder = ApiToken::generate(random);
        let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
        let ports = Ports::default();
        let port = ports.hold();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        repo.write("bots.yaml", &common::api::deploy_bot(&adder));
        repo.write("pools/web.yaml", &pools(stable.address));
        repo.write("balancers.yaml", &balancer(port));
        let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("shared.git");
        repo.git(
            &["clone", "-q", "--bare", ".", &bare.display().to_string()],
            &[],
        );
        repo.git(
            &["remote", "add", "shared", &bare.display().to_string()],
            &[],
        );
        Estate {
            team,
            api_key: SshKey::new("lbops-api"),
            adder,
            repo,
            stable,
            port,
            _ports: ports,
            dir,
            first,
        }
    }

    /// The bare repository everyone pushes to.
    fn shared(&self) -> PathBuf {
        self.dir.path().join("shared.git")
    }

    fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Writes the daemon's config: `repository` and `provider` are flow
    /// mappings of the config file.
    fn config(&self, repository: &str, provider: &str) -> PathBuf {
        let path = self.dir.path().join("lbops.yaml");
        std::fs::write(
            &path,
            format!(
                "repository: {repository}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {}}}
provider: {provider}
api: {{listen: '127.0.0.1:0', signing_key_file: '{}'}}
state_dir: '{}'
",
                self.first,
                self.api_key.private_key().display(),
                self.state_dir().display()
            ),
        )
        .unwrap();
        path
    }

    fn local_config(&self, provider: &str) -> PathBuf {
        let repository = format!("{{path: '{}', branch: main}}", self.shared().display());
        self.config(&repository, provider)
    }

    /// Where the shared repository's `main` is.
    fn head(&self) -> String {
        git_in(&self.shared(), &["rev-parse", "main"])
    }

    /// The commits on the shared `main` that deploy-bot authored.
    fn api_commits(&self) -> Vec<String> {
        git_in(
            &self.shared(),
            &[
                "log",
                "--format=%H",
                "--author=deploy-bot@serviceaccount.lbops.invalid",
                "main",
            ],
        )
        .lines()
        .map(str::to_owned)
        .collect()
    }

    /// alice writes `file` on the shared head and pushes it, again on the
    /// new head whenever someone (the API) pushed first, as a person does.
    fn push_as_alice(&self, file: &str, text: &str) -> usize {
        for attempt in 1..=20 {
            self.repo.git(&["fetch", "-q", "shared"], &[]);
            self.repo
                .git(&["reset", "-q", "--hard", "shared/main"], &[]);
            self.repo.write(file, text);
            self.repo.commit(&self.team.alice(), &format!("add {file}"));
            let pushed = Command::new("git")
                .args(["push", "-q", "shared", "main"])
                .current_dir(self.repo.path())
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .output()
                .unwrap();
            if pushed.status.success() {
                return attempt;
            }
        }
        panic!("alice never got {file} pushed");
    }
}

/// Runs git in `dir` with no global or system config; its output.
fn git_in(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: serde_json::Value,
}

/// Registers `target` in pool `web` with `key`; `wait` adds
/// `?wait=applied`. A daemon that has not applied a commit since it
/// started (503 `not-ready`) is asked again, as a client would, until a
/// deadline.
async fn register(
    api: SocketAddr,
    token: &ApiToken,
    key: &str,
    target: SocketAddr,
    wait: bool,
) -> Answer {
    let path = match wait {
        true => "/v1/pools/web/targets?wait=applied&timeout=30s",
        false => "/v1/pools/web/targets",
    };
    let headers = format!(
        "authorization: Bearer {}\r\ncontent-type: application/json\r\nidempotency-key: {key}\r\n",
        token.expose()
    );
    let body = format!("{{\"address\": \"{target}\", \"weight\": 1000}}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, text) = call(api, "POST", path, &headers, &body).await;
        let answer = Answer {
            status,
            body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        };
        if answer.body["code"] != "not-ready" || Instant::now() > deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Sends requests through the balancer until every backend in `names`
/// has answered one (at most 300 requests).
async fn routes_to(port: u16, names: &[&str]) {
    let mut unseen: Vec<&str> = names.to_vec();
    for _ in 0..300 {
        let (status, text) = call(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "GET",
            "/hello",
            "",
            "",
        )
        .await;
        if status == 200 {
            unseen.retain(|name| !text.starts_with(&format!("{name} ")));
        }
        if unseen.is_empty() {
            return;
        }
    }
    panic!("the balancer never sent a request to {unseen:?}");
}

/// Sends `signal` (`STOP`, `CONT`) to a process.
fn signal(process: &ChildProcess, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(process.0.id().to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_kill_9_between_the_commit_and_its_apply_a_retry_gets_the_same_commit_applied() {
    let e = Estate::new().await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    // The data plane as its own process, so that it can be stopped while
    // the daemon runs, and outlives it.
    let token = "api-durable-test-admin-token";
    let token_file = e.dir.path().join("admin-token");
    std::fs::write(&token_file, token).unwrap();
    let hash_file = e.dir.path().join("admin-token.sha256");
    std::fs::write(&hash_file, lbops::model::sha256_hex(token)).unwrap();
    let (dataplane, mut stderr) = ChildProcess::lbops(|c| {
        c.args(["dataplane", "--admin-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(e.dir.path().join("dataplane"))
            .arg("--admin-token-sha256-file")
            .arg(&hash_file)
    });
    let admin = common::admin_address(&mut stderr);
    std::thread::spawn(move || for _ in stderr.lines() {});
    let config = e.local_config(&format!(
        "{{embedded: {{url: 'http://{admin}', token_file: '{}'}}}}",
        token_file.display()
    ));
    let mut daemon = Daemon::start(&config);
    daemon.ready().await;
    let api = api_of(&daemon).await;

    // The data plane stops answering: the daemon cannot apply anything.
    signal(&dataplane, "STOP");
    let first = register(api, &e.adder, "deploy-kill-9", added.address, false).await;
    assert_eq!(first.status, 202, "{first:?}");
    let commit = first.body["commit"].as_str().unwrap().to_owned();
    assert_eq!(e.head(), commit);
    let state = std::fs::read_to_string(e.state_dir().join("daemon-state.json")).unwrap();
    let state: serde_json::Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["trusted"], e.first.as_str(), "not applied yet");

    daemon.kill();
    signal(&dataplane, "CONT");
    let daemon = Daemon::start(&config);
    let api = api_of(&daemon).await;
    let again = register(api, &e.adder, "deploy-kill-9", added.address, true).await;
    assert_eq!(again.status, 200, "{again:?}\n{}", daemon.logs());
    assert_eq!(again.body["commit"], commit.as_str());
    assert_eq!(again.body["request_id"], first.body["request_id"]);
    assert_eq!(again.body["applied"], commit.as_str());
    assert_eq!(e.api_commits(), vec![commit.clone()], "one API commit");
    assert_eq!(e.head(), commit);
    routes_to(e.port, &["added"]).await;
    let _ = (&e.stable, &dataplane);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_pushing_while_the_api_writes_lose_nothing_and_a_retried_key_makes_one_commit() {
    let e = Estate::new().await;
    let backends = [
        Backend::start_at("api-0", Reply::Name, "127.0.0.1:0".parse().unwrap()).await,
        Backend::start_at("api-1", Reply::Name, "127.0.0.1:0".parse().unwrap()).await,
        Backend::start_at("api-2", Reply::Name, "127.0.0.1:0".parse().unwrap()).await,
    ];
    let config = e.local_config("{embedded: {admin_listen: '127.0.0.1:0'}}");
    let daemon = Daemon::start(&config);
    daemon.ready().await;
    let api = api_of(&daemon).await;

    // The API registers three targets while alice pushes three pools.
    let (adder, targets): (ApiToken, Vec<SocketAddr>) = (
        e.adder.clone(),
        backends.iter().map(|b| b.address).collect(),
    );
    let writes = tokio::spawn(async move {
        let mut commits = Vec::new();
        for (n, target) in targets.into_iter().enumerate() {
            let key = format!("race-{n}");
            // A branch that kept moving is 409; the same key again.
            let mut answer = register(api, &adder, &key, target, false).await;
            while answer.status == 409 {
                answer = register(api, &adder, &key, target, false).await;
            }
            assert_eq!(answer.status, 202, "{answer:?}");
            commits.push(answer.body["commit"].as_str().unwrap().to_owned());
        }
        commits
    });
    let pushes: usize = (0..3)
        .map(|n| {
            e.push_as_alice(
                &format!("pools/extra-{n}.yaml"),
                &format!(
                    "kind: Pool\nname: extra-{n}\nspec: {{targets: [{{address: '{}'}}]}}\n",
                    e.stable.address
                ),
            )
        })
        .sum();
    let commits = writes.await.unwrap();
    eprintln!("alice needed {pushes} pushes for 3 commits");

    // Every key again, waiting: the same commit, applied.
    for (n, backend) in backends.iter().enumerate() {
        let again = register(api, &e.adder, &format!("race-{n}"), backend.address, true).await;
        assert_eq!(again.status, 200, "{again:?}");
        assert_eq!(again.body["commit"], commits[n].as_str());
    }
    let mut made = e.api_commits();
    made.reverse();
    assert_eq!(made, commits, "one commit per key, none lost");
    // Nothing anyone pushed is lost: the head has all of it.
    let head = e.head();
    let web = git_in(&e.shared(), &["show", &format!("{head}:pools/web.yaml")]);
    for backend in &backends {
        assert!(web.contains(&backend.address.to_string()), "{web}");
    }
    for n in 0..3 {
        git_in(
            &e.shared(),
            &["cat-file", "-e", &format!("{head}:pools/extra-{n}.yaml")],
        );
    }
    // And the daemon applies the head (alice may have pushed last).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let note = Command::new("git")
            .args(["notes", "--ref=lbops", "show", &head])
            .current_dir(e.shared())
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        let note = String::from_utf8_lossy(&note.stdout).into_owned();
        if note.contains("lbops/apply: success") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the head {head} was not applied: {note}\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    routes_to(e.port, &["api-0", "api-1", "api-2"]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_watches_a_remote_pushes_the_write_there_and_applies_it() {
    let e = Estate::new().await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let repository = format!("{{url: 'file://{}', branch: main}}", e.shared().display());
    let config = e.config(&repository, "{embedded: {admin_listen: '127.0.0.1:0'}}");
    let daemon = Daemon::start(&config);
    daemon.ready().await;
    let api = api_of(&daemon).await;

    let answer = register(api, &e.adder, "remote-1", added.address, true).await;
    assert_eq!(answer.status, 200, "{answer:?}\n{}", daemon.logs());
    let commit = answer.body["commit"].as_str().unwrap().to_owned();
    assert_eq!(e.head(), commit, "pushed to the remote");
    assert_eq!(answer.body["applied"], commit.as_str());
    assert_eq!(
        git_in(&e.state_dir().join("mirror.git"), &["rev-parse", "main"]),
        commit,
        "the mirror follows"
    );
    git_in(&e.shared(), &["fsck", "--strict", "--no-dangling"]);
    routes_to(e.port, &["added"]).await;

    // A retry makes nothing new; a person's push after it is applied too.
    let again = register(api, &e.adder, "remote-1", added.address, true).await;
    assert_eq!(
        (again.status, &again.body["commit"]),
        (200, &commit.as_str().into())
    );
    assert_eq!(e.api_commits(), vec![commit.clone()]);
    e.push_as_alice(
        "pools/extra.yaml",
        &format!(
            "kind: Pool\nname: extra\nspec: {{targets: [{{address: '{}'}}]}}\n",
            e.stable.address
        ),
    );
    let pushed = e.head();
    daemon
        .wait_for_log("the person's push applied", |line| {
            line.contains("applied") && line.contains(&pushed[..12])
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_that_watches_an_http_remote_fetches_and_pushes_with_its_token() {
    let e = Estate::new().await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let secret = "api-durable-http-remote-token";
    let server = GitHttp::start(e.dir.path(), Some(("x-access-token", secret)), None);
    let token_file = e.dir.path().join("git-token");
    std::fs::write(&token_file, format!("{secret}\n")).unwrap();
    let repository = format!(
        "{{url: 'http://127.0.0.1:{}/shared.git', branch: main, credentials: {{token_file: '{}'}}}}",
        server.port,
        token_file.display()
    );
    let config = e.config(&repository, "{embedded: {admin_listen: '127.0.0.1:0'}}");
    let daemon = Daemon::start(&config);
    daemon.ready().await;
    let api = api_of(&daemon).await;

    let answer = register(api, &e.adder, "http-1", added.address, true).await;
    assert_eq!(answer.status, 200, "{answer:?}\n{}", daemon.logs());
    let commit = answer.body["commit"].as_str().unwrap().to_owned();
    assert_eq!(e.head(), commit, "pushed over HTTP");
    assert_eq!(answer.body["applied"], commit.as_str());
    assert_eq!(e.api_commits(), vec![commit.clone()]);
    assert!(server.pushes() >= 1);
    routes_to(e.port, &["added"]).await;
    assert!(!daemon.logs().contains(secret), "the token is never logged");
}
