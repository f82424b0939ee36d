//! Deprovisioning latency: from the moment the identity provider has
//! lbops' answer to `PATCH /scim/v2/Users/{id}` with `active: false`, to
//! the first API call by a token of a ServiceAccount that person owns
//! that lbops refuses (`403`, code `deprovisioned`). The API is polled
//! in a tight loop on fresh connections, as a pipeline would call it,
//! so the number is the refusal's latency plus at most one call's.
//!
//! `lbops run` is the real binary over a real signed repository, called
//! over real HTTP on loopback. Each round deactivates the person, polls
//! until refused, re-activates them and polls until served again (also
//! timed: the restore).
//!
//! `cargo bench --bench deprovision` (or `-- 200` for 200 rounds).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::estate::{Daemon, Team};
use common::git::GitRepo;
use lbops::spec::material::api_token::ApiToken;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const SCIM_TOKEN: &str = "scim-bench-token-never-logged-8a1f3c5e7b9d2f40";

fn random(buffer: &mut [u8]) {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
}

fn main() {
    let rounds: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(50);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(rounds));
}

/// One HTTP/1.1 call on a fresh connection: status and body.
async fn call(to: SocketAddr, method: &str, path: &str, bearer: &str, body: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: lbops\r\nauthorization: Bearer {bearer}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn set_active(to: SocketAddr, id: &str, active: bool) {
    let body = json!({
        "schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "value": {"active": active}}],
    });
    let path = format!("/scim/v2/Users/{id}");
    let (status, text) = call(to, "PATCH", &path, SCIM_TOKEN, &body.to_string()).await;
    assert_eq!(status, 200, "{text}");
}

/// Polls `GET /v1/pools` until it answers `want` (and, for a refusal,
/// with code `deprovisioned`): how long that took from `since`.
async fn until(to: SocketAddr, token: &ApiToken, want: u16, since: Instant) -> Duration {
    let deadline = since + Duration::from_secs(30);
    loop {
        let (status, text) = call(to, "GET", "/v1/pools", token.expose(), "").await;
        if status == want && (want == 200 || text.contains("\"deprovisioned\"")) {
            return since.elapsed();
        }
        assert!(Instant::now() < deadline, "never {want}: {text}");
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

async fn run(rounds: usize) {
    let team = Team::new();
    let token = ApiToken::generate(random);
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write(
        "bots.yaml",
        &format!(
            "kind: Role
name: reader
spec:
  rules: [{{actions: [state.read], resources: ['*']}}]
---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: bob
  roles: [reader]
  tokens:
    - {{name: bench, id: {}, hash: '{}', expires: 2099-01-01, scopes: [state.read]}}
",
            token.id(),
            token.stored_hash()
        ),
    );
    repo.write(
        "pools.yaml",
        "kind: Pool\nname: web\nlabels: {team: web}\nspec:\n  targets: [{address: '127.0.0.1:9'}]\n",
    );
    let first = repo.commit(&team.alice(), "the estate");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("scim-token"), SCIM_TOKEN).unwrap();
    let config = format!(
        "repository: {{path: '{}', branch: main}}
trigger: {{poll: 30s, watch: false}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0', rate_limit: {{per_second: 1000000, burst: 1000000}}}}
state_dir: '{}'
scim: {{token_file: scim-token}}
",
        repo.path().display(),
        dir.path().join("state").display()
    );
    std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
    let daemon = Daemon::start(&dir.path().join("lbops.yaml"));
    daemon.ready().await;
    let to: SocketAddr = daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bob@example.test",
        "emails": [{"primary": true, "value": "bob@example.test"}],
        "active": true,
    });
    let (status, text) = call(to, "POST", "/scim/v2/Users", SCIM_TOKEN, &user.to_string()).await;
    assert_eq!(status, 201, "{text}");
    let body: Value = serde_json::from_str(text.split_once("\r\n\r\n").unwrap().1).unwrap();
    let id = body["id"].as_str().unwrap().to_owned();
    until(to, &token, 200, Instant::now()).await;

    let mut refused = Vec::with_capacity(rounds);
    let mut restored = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        set_active(to, &id, false).await;
        refused.push(until(to, &token, 403, Instant::now()).await);
        set_active(to, &id, true).await;
        restored.push(until(to, &token, 200, Instant::now()).await);
    }
    refused.sort();
    restored.sort();
    println!("deprovisioning, {rounds} rounds (SCIM PATCH answered → API call answered):");
    for (what, sorted) in [("refused", &refused), ("served again", &restored)] {
        println!(
            "  {what:<13} p50 {:>10}  p99 {:>10}  max {:>10}",
            ms(percentile(sorted, 0.50)),
            ms(percentile(sorted, 0.99)),
            ms(*sorted.last().unwrap())
        );
    }
    assert!(
        percentile(&refused, 0.99) < Duration::from_secs(1),
        "the goal is under 1 s"
    );
}
