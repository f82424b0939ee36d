//! The write endpoints end to end: `lbops run` as a real process over a
//! real signed repository, with the daemon's API key configured, called
//! over real HTTP, each call waiting until its commit is applied
//! (`?wait=applied`) and then checked where it counts: the data plane's
//! traffic, and a commit in git of one or two changed lines that is the
//! ServiceAccount's, with its trailers and a signature `ssh-keygen -Y
//! verify` accepts.
//!
//! * a scoped token registers a target; a token without
//!   `pool.targets.update` is refused and nothing is committed; the same
//!   Idempotency-Key twice makes one commit;
//! * weights (a target at 0 gets nothing), a drain (no new requests, the
//!   one in flight finishes), deregistration (IPv6 too);
//! * a route's forward split shifted 0/100 to the canary pool.

mod common;

use common::api::{call, commits, random, start_daemon};

use common::estate::{balancer, wait_for_status, Daemon, Team};
use common::git::{GitRepo, SshKey};
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

/// deploy-bot's tokens: each may do one thing.
struct Tokens {
    /// `pool.targets.update` on `pool/web`.
    adder: ApiToken,
    /// `pool.weights.update` on `pool/web`.
    weights_only: ApiToken,
    /// `loadbalancer.routes.update` on `loadbalancer/edge`.
    router: ApiToken,
    /// `state.read`.
    watcher: ApiToken,
}

impl Tokens {
    fn new() -> Self {
        Tokens {
            adder: ApiToken::generate(random),
            weights_only: ApiToken::generate(random),
            router: ApiToken::generate(random),
            watcher: ApiToken::generate(random),
        }
    }

    fn all(&self) -> [&ApiToken; 4] {
        [&self.adder, &self.weights_only, &self.router, &self.watcher]
    }

    /// deploy-bot (roles web-oncall, edge-routes, reader) with the tokens.
    fn bots(&self) -> String {
        let entry = |name: &str, t: &ApiToken, scopes: &str, resources: &str| {
            format!(
                "    - {{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: {scopes}, resources: {resources}}}\n",
                t.id(),
                t.stored_hash()
            )
        };
        format!(
            "kind: Role
name: edge-routes
spec:
  rules: [{{actions: [loadbalancer.routes.update], resources: ['loadbalancer/*']}}]
---
kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall, edge-routes, reader]
  tokens:
{}{}{}{}",
            entry(
                "adder",
                &self.adder,
                "[pool.targets.update]",
                "['pool/web']"
            ),
            entry(
                "weights",
                &self.weights_only,
                "[pool.weights.update]",
                "['pool/web']"
            ),
            entry(
                "router",
                &self.router,
                "[loadbalancer.routes.update]",
                "['loadbalancer/edge']"
            ),
            entry("watcher", &self.watcher, "[state.read]", "[]"),
        )
    }
}

/// The health check of the test pools: every 100 ms, one answer decides.
const HEALTH: &str = "  health_check:
    probe: {http: {path: /healthz}}
    interval: 100ms
    timeout: 80ms
    healthy_threshold: 1
    unhealthy_threshold: 1
";

/// `web` (team web): the stable backend, checked every 100 ms.
fn pools(stable: SocketAddr) -> String {
    format!(
        "# the web pool
kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{stable}', weight: 1}}   # stable
{HEALTH}"
    )
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: serde_json::Value,
}

/// `method path` to the API with `token` and `body`.
async fn api_call(
    api: SocketAddr,
    method: &str,
    path: &str,
    token: &ApiToken,
    key: Option<&str>,
    body: &str,
) -> Answer {
    let mut headers = format!(
        "authorization: Bearer {}\r\ncontent-type: application/json\r\n",
        token.expose()
    );
    if let Some(key) = key {
        headers.push_str(&format!("idempotency-key: {key}\r\n"));
    }
    let (status, text) = call(api, method, path, &headers, body).await;
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

async fn post(
    api: SocketAddr,
    path: &str,
    token: &ApiToken,
    key: Option<&str>,
    body: &str,
) -> Answer {
    api_call(api, "POST", path, token, key, body).await
}

/// A daemon over `repo` with its first commit `first` pinned, the
/// embedded data plane and the API signed with `api_key`, running.
struct Running {
    daemon: Daemon,
    api: SocketAddr,
    dir: tempfile::TempDir,
}

async fn run(repo: &GitRepo, first: &str, api_key: &SshKey) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(repo, first, api_key, "", dir.path()).await;
    let api: SocketAddr = daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    Running { daemon, api, dir }
}

/// The lines `commit` removed and added, against its parent.
fn changed_lines(repo: &GitRepo, commit: &str) -> (Vec<String>, Vec<String>) {
    let diff = repo.git(&["diff", "--unified=0", &format!("{commit}^"), commit], &[]);
    let lines = |sign: char, file: &str| -> Vec<String> {
        diff.lines()
            .filter(|l| l.starts_with(sign) && !l.starts_with(file))
            .map(str::to_owned)
            .collect()
    };
    (lines('-', "---"), lines('+', "+++"))
}

/// Asserts that `commit` is an API commit: the ServiceAccount's author
/// form, the subject, the trailers naming `token` and `request`, and the
/// daemon's signature.
fn assert_api_commit(
    repo: &GitRepo,
    running: &Running,
    api_key: &SshKey,
    commit: &str,
    subject: &str,
    token: &ApiToken,
    request: &str,
) {
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", commit], &[]),
        "deploy-bot <deploy-bot@serviceaccount.lbops.invalid>|lbops API <api@lbops.invalid>"
    );
    let message = repo.git(&["log", "-1", "--format=%B", commit], &[]);
    assert!(message.starts_with(subject), "{message}");
    for trailer in [
        "Lbops-Service-Account: deploy-bot".to_owned(),
        format!("Lbops-Token: {}", token.id()),
        format!("Lbops-Request: {request}"),
    ] {
        assert!(message.contains(&trailer), "{trailer}: {message}");
    }
    let git = git2::Repository::open(repo.path()).unwrap();
    let (signature, payload) = git
        .extract_signature(&git2::Oid::from_str(commit).unwrap(), None)
        .unwrap();
    let dir = running.dir.path();
    let (sig_file, allowed) = (dir.join("sig"), dir.join("allowed"));
    std::fs::write(&sig_file, &*signature).unwrap();
    std::fs::write(
        &allowed,
        format!("api@lbops.invalid namespaces=\"git\" {}\n", api_key.public),
    )
    .unwrap();
    let mut verify = Command::new("ssh-keygen")
        .args(["-Y", "verify", "-n", "git", "-I", "api@lbops.invalid", "-f"])
        .arg(&allowed)
        .arg("-s")
        .arg(&sig_file)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    verify.stdin.take().unwrap().write_all(&payload).unwrap();
    let out = verify.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ssh-keygen -Y verify: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A write that waited until applied: 200, its commit the branch head.
/// Returns the commit and the request id.
fn applied(repo: &GitRepo, answer: &Answer) -> (String, String) {
    assert_eq!(answer.status, 200, "{answer:?}");
    let commit = answer.body["commit"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["status_url"], format!("/commits/{commit}"));
    assert!(answer.body["applied"].is_string(), "{answer:?}");
    assert_eq!(repo.head(), commit);
    let request = answer.body["request_id"].as_str().unwrap().to_owned();
    (commit, request)
}

/// Which backend (by the name it answers with) each of `n` requests
/// through the balancer on `port` reached.
async fn spread(port: u16, n: usize) -> BTreeMap<String, usize> {
    let mut reached = BTreeMap::new();
    for _ in 0..n {
        let (status, text) = call(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "GET",
            "/hello",
            "",
            "",
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let name = text.split(' ').next().unwrap_or_default().to_owned();
        *reached.entry(name).or_default() += 1;
    }
    reached
}

/// A target's address as a path segment (`:` and brackets encoded).
fn segment(address: &str) -> String {
    address
        .replace(':', "%3A")
        .replace('[', "%5B")
        .replace(']', "%5D")
}

/// Waits until the API reports every target of `pool` at `address` as
/// `health` (it reads the data plane).
async fn wait_for_health(api: SocketAddr, watcher: &ApiToken, pool: &str, want: &[(String, &str)]) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = api_call(
            api,
            "GET",
            &format!("/v1/pools/{pool}/targets"),
            watcher,
            None,
            "",
        )
        .await;
        assert_eq!(answer.status, 200, "{answer:?}");
        let health: Vec<(String, String)> = answer.body["targets"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["address"].as_str().unwrap().to_owned(),
                    t["health"].as_str().unwrap().to_owned(),
                )
            })
            .collect();
        if want
            .iter()
            .all(|(a, h)| health.iter().any(|(b, g)| a == b && h == g))
        {
            return;
        }
        assert!(Instant::now() < deadline, "{answer:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_registers_a_target_as_a_signed_commit_and_the_data_plane_routes_to_it() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let tokens = Tokens::new();
    let (adder, weights_only) = (&tokens.adder, &tokens.weights_only);
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &tokens.bots());
    repo.write("pools/web.yaml", &pools(stable.address));
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let running = run(&repo, &first, &api_key).await;
    let (daemon, api) = (&running.daemon, running.api);
    let path = "/v1/pools/web/targets";
    let body = format!("{{\"address\": \"{}\", \"weight\": 1000}}", added.address);

    // Without pool.targets.update: 403 naming the rule, nothing committed.
    let before = commits(&repo);
    let refused = post(api, path, weights_only, None, &body).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert_eq!(refused.body["code"], "forbidden", "{refused:?}");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("pool.targets.update"),
        "{refused:?}"
    );
    assert_eq!(commits(&repo), before);

    // A line break cannot reach the YAML; a bad address is 422 at file:line.
    let broken = post(
        api,
        path,
        adder,
        None,
        r#"{"address": "10.0.0.9:80'\n  x: 1"}"#,
    )
    .await;
    assert_eq!(
        (broken.status, &broken.body["code"]),
        (400, &"bad-request".into()),
        "{broken:?}"
    );
    let invalid = post(api, path, adder, None, r#"{"address": "nowhere"}"#).await;
    assert_eq!(invalid.status, 422, "{invalid:?}");
    assert!(
        invalid.body["message"]
            .as_str()
            .unwrap()
            .contains("pools/web.yaml:"),
        "{invalid:?}"
    );
    assert_eq!(commits(&repo), before);

    // Registered, waiting until applied.
    let wait = format!("{path}?wait=applied&timeout=30s");
    let answer = post(api, &wait, adder, Some("deploy-42"), &body).await;
    let (commit, request) = applied(&repo, &answer);
    assert_eq!(commits(&repo), before + 1);

    // The data plane routes to it when the call returns (once its first
    // health check passed).
    let mut reached = false;
    for _ in 0..50 {
        if spread(port, 1).await.contains_key("added") {
            reached = true;
            break;
        }
    }
    assert!(
        reached,
        "the balancer never sent a request to the new target"
    );

    // The same key and body again: the first answer, no second commit.
    let again = post(api, &wait, adder, Some("deploy-42"), &body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["commit"], commit.as_str());
    assert_eq!(commits(&repo), before + 1);
    // The same key with another body is refused.
    let other = post(
        api,
        path,
        adder,
        Some("deploy-42"),
        "{\"address\": \"127.0.0.1:1\"}",
    )
    .await;
    assert_eq!(other.status, 422, "{other:?}");
    assert_eq!(other.body["code"], "idempotency-key-reused");
    assert_eq!(commits(&repo), before + 1);

    // The commit: one line more in the pool's file, the ServiceAccount's
    // author form, the trailers, the daemon's signature.
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![],
            vec![format!(
                "+    - {{address: '{}', weight: 1000}}",
                added.address
            )]
        )
    );
    let subject = format!("Register {} in pool/web", added.address);
    assert_api_commit(
        &repo, &running, &api_key, &commit, &subject, adder, &request,
    );

    // Its statuses are in git's notes, as for any commit.
    let note = wait_for_status(&repo, &commit, "lbops/apply: success", daemon).await;
    assert!(note.contains("lbops/authorize: success"), "{note}");

    // One api_call record names the commit; no token secret anywhere.
    let audit =
        std::fs::read_to_string(running.dir.path().join("state").join("audit.jsonl")).unwrap();
    let naming: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("api_call") && l.contains(&commit))
        .collect();
    assert_eq!(naming.len(), 2, "the call and its retry: {audit}");
    for secret in tokens.all().map(ApiToken::expose) {
        assert!(!audit.contains(secret));
        assert!(!daemon.logs().contains(secret));
    }
    drop(ports);
}

/// `web` (team web): `stable` and `extra`, and an IPv6 backup on `v6`.
fn two_target_pool(stable: SocketAddr, extra: SocketAddr, v6: u16) -> String {
    format!(
        "# the web pool
kind: Pool
name: web
labels: {{team: web}}
spec:
  targets:
    - {{address: '{stable}', weight: 1}}   # stable
    - {{address: '{extra}', weight: 1}}
  backup_targets:
    - address: '[::1]:{v6}'
{HEALTH}"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weights_a_drain_and_a_deregistration_reach_the_data_plane_as_one_line_commits() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let tokens = Tokens::new();
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let extra = Backend::start_at("extra", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let v6 = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &tokens.bots());
    repo.write(
        "pools/web.yaml",
        &two_target_pool(stable.address, extra.address, v6),
    );
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let running = run(&repo, &first, &api_key).await;
    let api = running.api;
    let (s, x) = (stable.address.to_string(), extra.address.to_string());
    wait_for_health(
        api,
        &tokens.watcher,
        "web",
        &[(s.clone(), "healthy"), (x.clone(), "healthy")],
    )
    .await;
    let weights = "/v1/pools/web/weights?wait=applied";
    let target = |address: &str| format!("/v1/pools/web/targets/{}", segment(address));

    // Weight 0 gets nothing; the commit changes that one number.
    let zero = format!("{{\"weights\": {{\"{s}\": 0}}}}");
    let answer = api_call(api, "PUT", weights, &tokens.weights_only, None, &zero).await;
    let (commit, request) = applied(&repo, &answer);
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![format!("-    - {{address: '{s}', weight: 1}}   # stable")],
            vec![format!("+    - {{address: '{s}', weight: 0}}   # stable")]
        )
    );
    let subject = format!("Set weights in pool/web: {s} 0");
    let token = &tokens.weights_only;
    assert_api_commit(
        &repo, &running, &api_key, &commit, &subject, token, &request,
    );
    assert_eq!(
        spread(port, 10).await,
        BTreeMap::from([("extra".into(), 10)])
    );

    // A request held in flight on `extra`, the only target with a weight;
    // draining it now would leave none: 422 from the validation.
    let balancer_at = SocketAddr::from(([127, 0, 0, 1], port));
    let held = tokio::spawn(async move { call(balancer_at, "GET", "/hold", "", "").await });
    extra.wait_for_request("/hold").await;
    let drain = format!("{}/drain?wait=applied", target(&x));
    let head = repo.head();
    let refused = api_call(api, "POST", &drain, token, None, "").await;
    assert_eq!(refused.status, 422, "{refused:?}");
    let message = refused.body["message"].as_str().unwrap();
    assert!(
        message.contains("pools/web.yaml:") && message.contains("weight 0"),
        "{message}"
    );
    assert_eq!(repo.head(), head);

    // With `stable` back, `extra` drains: no new requests reach it, the
    // one in flight finishes.
    let one = format!("{{\"weights\": {{\"{s}\": 1}}}}");
    applied(
        &repo,
        &api_call(api, "PUT", weights, token, None, &one).await,
    );
    let answer = api_call(api, "POST", &drain, token, None, "").await;
    let (commit, request) = applied(&repo, &answer);
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![format!("-    - {{address: '{x}', weight: 1}}")],
            vec![format!("+    - {{address: '{x}', weight: 0}}")]
        )
    );
    let subject = format!("Drain {x} in pool/web");
    assert_api_commit(
        &repo, &running, &api_key, &commit, &subject, token, &request,
    );
    let before = extra.received("/hello");
    assert_eq!(
        spread(port, 10).await,
        BTreeMap::from([("stable".into(), 10)])
    );
    assert_eq!(extra.received("/hello"), before);
    assert!(!held.is_finished(), "the held request is still in flight");
    extra.release();
    assert_eq!(held.await.unwrap(), (200, "extra /hold".to_owned()));

    // Draining it again: success, no commit.
    let head = repo.head();
    let again = api_call(api, "POST", &drain, token, None, "").await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["commit"], serde_json::Value::Null, "{again:?}");
    assert_eq!(again.body["unchanged"], true, "{again:?}");
    assert_eq!(repo.head(), head);

    // Deregistered: one line less, and it gets no traffic. Not with the
    // weights token.
    let remove = format!("{}?wait=applied", target(&x));
    let refused = api_call(api, "DELETE", &remove, token, None, "").await;
    assert_eq!(
        (refused.status, &refused.body["code"]),
        (403, &"forbidden".into())
    );
    assert_eq!(repo.head(), head);
    let answer = api_call(api, "DELETE", &remove, &tokens.adder, None, "").await;
    let (commit, request) = applied(&repo, &answer);
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![format!("-    - {{address: '{x}', weight: 0}}")],
            vec![]
        )
    );
    let subject = format!("Deregister {x} from pool/web");
    assert_api_commit(
        &repo,
        &running,
        &api_key,
        &commit,
        &subject,
        &tokens.adder,
        &request,
    );
    assert_eq!(
        spread(port, 10).await,
        BTreeMap::from([("stable".into(), 10)])
    );
    assert_eq!(extra.received("/hello"), before);

    // An IPv6 target, by its percent-encoded address; the list left is `[]`.
    let ipv6 = format!("[::1]:{v6}");
    let answer = api_call(
        api,
        "DELETE",
        &format!("{}?wait=applied", target(&ipv6)),
        &tokens.adder,
        None,
        "",
    )
    .await;
    let (commit, _) = applied(&repo, &answer);
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![
                "-  backup_targets:".to_owned(),
                format!("-    - address: '{ipv6}'")
            ],
            vec!["+  backup_targets: []".to_owned()]
        )
    );
    // A target that is not there: 404.
    let missing = api_call(api, "DELETE", &target(&ipv6), &tokens.adder, None, "").await;
    assert_eq!(
        (missing.status, &missing.body["code"]),
        (404, &"not-found".into()),
        "{missing:?}"
    );

    // What the pool has now, with live health.
    let listed = api_call(
        api,
        "GET",
        "/v1/pools/web/targets",
        &tokens.watcher,
        None,
        "",
    )
    .await;
    assert_eq!(listed.status, 200, "{listed:?}");
    assert_eq!(listed.body["pool"], "web");
    assert_eq!(listed.body["commit"], commit.as_str());
    let in_git: Vec<&serde_json::Value> = listed.body["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["in_git"] == true)
        .collect();
    assert_eq!(in_git.len(), 1, "{listed:?}");
    assert_eq!(in_git[0]["address"], s.as_str());
    assert_eq!(in_git[0]["weight"], 1);
    drop(ports);
}

/// `web` (stable) and `canary`, and a balancer whose route `app` sends
/// everything to `web`: the canary is parked at 0.
fn canary_estate(stable: SocketAddr, canary: SocketAddr, port: u16) -> [(&'static str, String); 2] {
    let pool = |name: &str, address: SocketAddr| {
        format!(
            "kind: Pool
name: {name}
labels: {{team: web}}
spec:
  targets: [{{address: '{address}'}}]
{HEALTH}"
        )
    };
    [
        (
            "pools.yaml",
            format!("{}---\n{}", pool("web", stable), pool("canary", canary)),
        ),
        (
            "balancers.yaml",
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
        - name: app
          priority: 1
          match: {{path: {{prefix: /}}}}
          action: {{forward: {{pools: [{{pool: web, weight: 100}}, {{pool: canary, weight: 0}}]}}}}
"
            ),
        ),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_split_of_0_100_sends_everything_to_the_canary_pool() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let tokens = Tokens::new();
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let canary = Backend::start_at("canary", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &tokens.bots());
    for (file, text) in canary_estate(stable.address, canary.address, port) {
        repo.write(file, &text);
    }
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let running = run(&repo, &first, &api_key).await;
    let api = running.api;
    for (pool, backend) in [("web", &stable), ("canary", &canary)] {
        let want = [(backend.address.to_string(), "healthy")];
        wait_for_health(api, &tokens.watcher, pool, &want).await;
    }
    assert_eq!(
        spread(port, 10).await,
        BTreeMap::from([("stable".into(), 10)])
    );

    let path = "/v1/balancers/edge/routes/app/forward?wait=applied";
    let split = r#"{"pools": [{"pool": "web", "weight": 0}, {"pool": "canary", "weight": 100}]}"#;
    // Not with a token for pools only.
    let head = repo.head();
    let refused = api_call(api, "PUT", path, &tokens.weights_only, None, split).await;
    assert_eq!(refused.status, 403, "{refused:?}");
    assert!(
        refused.body["message"]
            .as_str()
            .unwrap()
            .contains("loadbalancer.routes.update"),
        "{refused:?}"
    );
    assert_eq!(repo.head(), head);

    let answer = api_call(api, "PUT", path, &tokens.router, None, split).await;
    let (commit, request) = applied(&repo, &answer);
    let line = |web: u32, canary: u32| {
        format!("          action: {{forward: {{pools: [{{pool: web, weight: {web}}}, {{pool: canary, weight: {canary}}}]}}}}")
    };
    assert_eq!(
        changed_lines(&repo, &commit),
        (
            vec![format!("-{}", line(100, 0))],
            vec![format!("+{}", line(0, 100))]
        )
    );
    let subject = "Forward route app of loadbalancer/edge to web 0, canary 100";
    assert_api_commit(
        &repo,
        &running,
        &api_key,
        &commit,
        subject,
        &tokens.router,
        &request,
    );
    assert_eq!(
        spread(port, 10).await,
        BTreeMap::from([("canary".into(), 10)])
    );

    // The split it has already: success, no commit.
    let again = api_call(api, "PUT", path, &tokens.router, None, split).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["commit"], serde_json::Value::Null, "{again:?}");
    assert_eq!(repo.head(), commit);
    drop(ports);
}
