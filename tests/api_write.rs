//! The first write endpoint end to end: `lbops run` as a real process over
//! a real signed repository, with the daemon's API key configured, called
//! over real HTTP. A scoped token registers a target and waits until it is
//! applied: the data plane routes to it, and the commit in git is the
//! ServiceAccount's, with its trailers and a signature `ssh-keygen -Y
//! verify` accepts. A token without `pool.targets.update` is refused and
//! nothing is committed; the same Idempotency-Key twice makes one commit.

mod common;

use common::estate::{balancer, wait_for_status, Daemon, Team};
use common::git::{GitRepo, SshKey};
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn random(buffer: &mut [u8]) {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
}

/// deploy-bot (role web-oncall) with a token that may register targets
/// of `pool/web` and one that may only shift weights.
fn bots(adder: &ApiToken, weights_only: &ApiToken) -> String {
    let entry = |name: &str, t: &ApiToken, scopes: &str| {
        format!(
            "    - {{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: {scopes}, resources: ['pool/web']}}\n",
            t.id(),
            t.stored_hash()
        )
    };
    format!(
        "kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall]
  tokens:
{}{}",
        entry("adder", adder, "[pool.targets.update]"),
        entry("weights", weights_only, "[pool.weights.update]"),
    )
}

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
  health_check:
    probe: {{http: {{path: /healthz}}}}
    interval: 100ms
    timeout: 80ms
    healthy_threshold: 1
    unhealthy_threshold: 1
"
    )
}

#[derive(Debug)]
struct Answer {
    status: u16,
    body: serde_json::Value,
}

/// One HTTP/1.1 call with a body, read whole.
async fn call(
    to: SocketAddr,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    stream
        .write_all(
            format!(
                "{method} {path} HTTP/1.1\r\nhost: lbops\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(40), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    (head[9..12].parse().unwrap(), text.to_owned())
}

async fn post(
    api: SocketAddr,
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
    let (status, text) = call(api, "POST", path, &headers, body).await;
    Answer {
        status,
        body: serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    }
}

fn commits(repo: &GitRepo) -> usize {
    repo.git(&["rev-list", "--count", "main"], &[])
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scoped_token_registers_a_target_as_a_signed_commit_and_the_data_plane_routes_to_it() {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let adder = ApiToken::generate(random);
    let weights_only = ApiToken::generate(random);
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let added = Backend::start_at("added", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write("bots.yaml", &bots(&adder, &weights_only));
    repo.write("pools/web.yaml", &pools(stable.address));
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "repository: {{path: '{}', branch: main}}
trigger: {{poll: 30s, watch: false}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0', signing_key_file: '{}'}}
state_dir: '{}'
",
        repo.path().display(),
        api_key.private_key().display(),
        dir.path().join("state").display()
    );
    std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
    let daemon = Daemon::start(&dir.path().join("lbops.yaml"));
    daemon.ready().await;
    let api: SocketAddr = daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let path = "/v1/pools/web/targets";
    let body = format!("{{\"address\": \"{}\", \"weight\": 1000}}", added.address);

    // Without pool.targets.update: 403 naming the rule, nothing committed.
    let before = commits(&repo);
    let refused = post(api, path, &weights_only, None, &body).await;
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
        &adder,
        None,
        r#"{"address": "10.0.0.9:80'\n  x: 1"}"#,
    )
    .await;
    assert_eq!(
        (broken.status, &broken.body["code"]),
        (400, &"bad-request".into()),
        "{broken:?}"
    );
    let invalid = post(api, path, &adder, None, r#"{"address": "nowhere"}"#).await;
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
    let answer = post(api, &wait, &adder, Some("deploy-42"), &body).await;
    assert_eq!(answer.status, 200, "{answer:?}");
    let commit = answer.body["commit"].as_str().unwrap().to_owned();
    let request = answer.body["request_id"].as_str().unwrap().to_owned();
    assert_eq!(answer.body["status_url"], format!("/commits/{commit}"));
    assert_eq!(repo.head(), commit);
    assert_eq!(commits(&repo), before + 1);

    // The data plane routes to it when the call returns.
    let mut reached = false;
    for _ in 0..50 {
        let (status, text) = call(
            SocketAddr::from(([127, 0, 0, 1], port)),
            "GET",
            "/hello",
            "",
            "",
        )
        .await;
        if status == 200 && text.starts_with("added") {
            reached = true;
            break;
        }
    }
    assert!(
        reached,
        "the balancer never sent a request to the new target"
    );

    // The same key and body again: the first answer, no second commit.
    let again = post(api, &wait, &adder, Some("deploy-42"), &body).await;
    assert_eq!(again.status, 200, "{again:?}");
    assert_eq!(again.body["commit"], commit.as_str());
    assert_eq!(commits(&repo), before + 1);
    // The same key with another body is refused.
    let other = post(
        api,
        path,
        &adder,
        Some("deploy-42"),
        "{\"address\": \"127.0.0.1:1\"}",
    )
    .await;
    assert_eq!(other.status, 422, "{other:?}");
    assert_eq!(other.body["code"], "idempotency-key-reused");
    assert_eq!(commits(&repo), before + 1);

    // The commit: one line more in the pool's file, the ServiceAccount's
    // author form, the trailers, the daemon's signature.
    let diff = repo.git(&["diff", "--unified=0", &first, &commit], &[]);
    let added_lines: Vec<&str> = diff
        .lines()
        .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
        .collect();
    assert_eq!(
        added_lines,
        [format!(
            "+    - {{address: '{}', weight: 1000}}",
            added.address
        )],
        "{diff}"
    );
    assert_eq!(
        repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>", &commit], &[]),
        "deploy-bot <deploy-bot@serviceaccount.lbops.invalid>|lbops API <api@lbops.invalid>"
    );
    let message = repo.git(&["log", "-1", "--format=%B", &commit], &[]);
    assert!(
        message.starts_with(&format!("Register {} in pool/web", added.address)),
        "{message}"
    );
    assert!(
        message.contains("Lbops-Service-Account: deploy-bot"),
        "{message}"
    );
    assert!(
        message.contains(&format!("Lbops-Token: {}", adder.id())),
        "{message}"
    );
    assert!(
        message.contains(&format!("Lbops-Request: {request}")),
        "{message}"
    );
    let git = git2::Repository::open(repo.path()).unwrap();
    let (signature, payload) = git
        .extract_signature(&git2::Oid::from_str(&commit).unwrap(), None)
        .unwrap();
    let (sig_file, allowed) = (dir.path().join("sig"), dir.path().join("allowed"));
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

    // Its statuses are in git's notes, as for any commit.
    let note = wait_for_status(&repo, &commit, "lbops/apply: success", &daemon).await;
    assert!(note.contains("lbops/authorize: success"), "{note}");

    // One api_call record names the commit; no token secret anywhere.
    let audit = std::fs::read_to_string(dir.path().join("state").join("audit.jsonl")).unwrap();
    let naming: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("api_call") && l.contains(&commit))
        .collect();
    assert_eq!(naming.len(), 2, "the call and its retry: {audit}");
    for secret in [adder.expose(), weights_only.expose()] {
        assert!(!audit.contains(secret));
        assert!(!daemon.logs().contains(secret));
    }
    drop(ports);
}
