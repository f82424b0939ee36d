//! What the tests of the daemon's API share: a token's randomness, one
//! plain HTTP/1.1 call, the API's address, and counting a branch's commits.

use super::estate::Daemon;
use super::git::GitRepo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The OS's randomness, for `ApiToken::generate`.
pub fn random(buffer: &mut [u8]) {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
}

/// One HTTP/1.1 call on a fresh connection (`headers`: whole lines, each
/// ending in `\r\n`), read whole within 40 s: the status and the body.
pub async fn call(
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
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    (head[9..12].parse().unwrap(), text.to_owned())
}

/// Where `daemon` serves its pages and API.
pub async fn address(daemon: &Daemon) -> SocketAddr {
    daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap()
}

/// How many commits branch `main` of `repo` has.
pub fn commits(repo: &GitRepo) -> usize {
    repo.git(&["rev-list", "--count", "main"], &[])
        .parse()
        .unwrap()
}

/// `lbops run` over `repo` (trusting `first`), its embedded data plane in
/// process, the API on a port of its own signing with `api_key`; `api`
/// adds keys to the `api:` mapping (e.g. `, rate_limit: {…}`). Started
/// and ready; its config and state live in `dir`.
pub async fn start_daemon(
    repo: &GitRepo,
    first: &str,
    api_key: &super::git::SshKey,
    api: &str,
    dir: &std::path::Path,
) -> Daemon {
    let config = format!(
        "repository: {{path: '{}', branch: main}}
trigger: {{poll: 30s, watch: false}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0', signing_key_file: '{}'{api}}}
state_dir: '{}'
",
        repo.path().display(),
        api_key.private_key().display(),
        dir.join("state").display()
    );
    std::fs::write(dir.join("lbops.yaml"), config).unwrap();
    let daemon = Daemon::start(&dir.join("lbops.yaml"));
    daemon.ready().await;
    daemon
}

/// deploy-bot (role web-oncall, owned by alice) with a token that may
/// register targets of `pool/web`.
pub fn deploy_bot(adder: &lbops::spec::material::api_token::ApiToken) -> String {
    format!(
        "kind: ServiceAccount
name: deploy-bot
spec:
  owner: alice
  roles: [web-oncall]
  tokens:
    - {{name: adder, id: {}, hash: '{}', expires: 2099-01-01, scopes: [pool.targets.update], resources: ['pool/web']}}
",
        adder.id(),
        adder.stored_hash()
    )
}
