//! API write to applied: how long a deploy pipeline's call takes, from
//! sending `POST /v1/pools/web/targets?wait=applied` to the daemon's `200`,
//! which it answers only once the commit the call made is the applied one.
//! That covers the text edit of the pool's YAML, validation, the token's
//! authorization, signing the commit with the daemon's API key, moving
//! the branch, judging the commit (identity and authorization, as for a
//! person's), planning, applying to the embedded data plane and writing
//! the audit record.
//!
//! `lbops run` is the real binary over a real signed repository, called
//! over real HTTP on loopback. Each round registers a new target and the
//! next deregisters it again, so the pool stays the same size.
//!
//! `cargo bench --bench api_write` (or `-- 300` for 300 calls).

#[path = "../tests/common/mod.rs"]
#[allow(unused_imports)]
mod common;

use common::api::{random, start_daemon};
use common::estate::{balancer, Team};
use common::git::GitRepo;
use common::git::SshKey;
use common::{Backend, Ports, Reply};
use lbops::spec::material::api_token::ApiToken;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn main() {
    let calls: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(calls));
}

/// One HTTP/1.1 call on a fresh connection, as a pipeline's `curl` makes it.
async fn call(to: SocketAddr, method: &str, path: &str, token: &ApiToken, body: &str) -> u16 {
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: lbops\r\nauthorization: Bearer {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        token.expose(),
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    assert!(status == 200, "{method} {path}: {text}");
    status
}

async fn run(calls: usize) {
    let team = Team::new();
    let api_key = SshKey::new("lbops-api");
    let token = ApiToken::generate(random);
    let stable = Backend::start_at("stable", Reply::Name, "127.0.0.1:0".parse().unwrap()).await;
    let ports = Ports::default();
    let port = ports.hold();
    let repo = GitRepo::new();
    repo.write("access.yaml", &team.access());
    repo.write(
        "bots.yaml",
        &format!(
            "kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall]
  tokens:
    - {{name: bench, id: {}, hash: '{}', expires: 2099-01-01, scopes: [pool.targets.update]}}
",
            token.id(),
            token.stored_hash()
        ),
    );
    repo.write(
        "pools/web.yaml",
        &format!(
            "kind: Pool\nname: web\nlabels: {{team: web}}\nspec:\n  targets:\n    - {{address: '{}', weight: 1}}\n",
            stable.address
        ),
    );
    repo.write("balancers.yaml", &balancer(port));
    let first = repo.commit(&team.alice(), "the estate, with deploy-bot");
    let dir = tempfile::tempdir().unwrap();
    let daemon = start_daemon(
        &repo,
        &first,
        &api_key,
        ", rate_limit: {per_second: 1000, burst: 1000}",
        dir.path(),
    )
    .await;
    let api: SocketAddr = daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();

    let mut times = Vec::with_capacity(calls);
    for round in 0..calls {
        let added = format!("127.0.0.1:{}", 20_000 + round / 2);
        let started = Instant::now();
        if round % 2 == 0 {
            let body = format!("{{\"address\": \"{added}\", \"weight\": 1}}");
            call(
                api,
                "POST",
                "/v1/pools/web/targets?wait=applied&timeout=30s",
                &token,
                &body,
            )
            .await;
        } else {
            let path = format!("/v1/pools/web/targets/{added}?wait=applied&timeout=30s");
            call(api, "DELETE", &path, &token, "").await;
        }
        times.push(started.elapsed());
    }
    drop(daemon);
    drop(ports);

    times.sort();
    let at = |q: f64| times[((times.len() as f64 - 1.0) * q).round() as usize];
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    println!("API write to applied over {calls} calls (register/deregister alternating, `?wait=applied`, embedded data plane):");
    println!(
        "  p50 {:.0} ms   p99 {:.0} ms   max {:.0} ms   mean {:.0} ms",
        ms(at(0.5)),
        ms(at(0.99)),
        ms(*times.last().unwrap()),
        ms(mean)
    );
}
