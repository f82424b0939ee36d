//! The identity provider takes access away, end to end: `lbops run` as a
//! real process over a real signed repository, with SCIM configured and
//! called over real HTTP as an identity provider calls it.
//!
//! * a group requirement: bob may change the `db` pool only while he is
//!   in the IdP group `sre-oncall` — in it his commit applies, removed
//!   from it his next commit is denied, re-added his next one applies;
//! * deprovisioning: bob deactivated (`PATCH active:false`), the token of
//!   the ServiceAccount he owns is refused on its very next call with
//!   code `deprovisioned`, his next commit is denied with the SCIM event
//!   in its status, a `deprovision` audit record is written and the
//!   tokens page marks the token; re-activated, the token works again.

mod common;

use common::estate::{policy, wait_for_status, Daemon, Team};
use common::git::GitRepo;
use lbops::spec::material::api_token::ApiToken;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The SCIM token (`scripts/check-test-logs` looks for it in every log).
const SCIM_TOKEN: &str = "scim-test-token-never-logged-5d1e0c7a9b3f4e2d";

fn random(buffer: &mut [u8]) {
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), buffer).unwrap();
}

/// The shared policy, with bob also holding `db-oncall` (weights of the
/// `db` pool, only while in `sre-oncall`) and owning `deploy-bot`, whose
/// token may read.
fn access(team: &Team, token: &ApiToken) -> String {
    let roles = "kind: Role
name: db-oncall
spec:
  rules:
    - actions: [pool.weights.update]
      resources: [pool/db]
      when: {idp_groups: [sre-oncall]}
---
kind: Role
name: reader
spec:
  rules: [{actions: [state.read], resources: ['*']}]
---
";
    let bot = format!(
        "---
kind: ServiceAccount
name: deploy-bot
spec:
  owner: bob
  roles: [reader]
  tokens:
    - {{name: watcher, id: {}, hash: '{}', expires: 2099-01-01, scopes: [state.read]}}
",
        token.id(),
        token.stored_hash()
    );
    format!(
        "{roles}{}{bot}",
        policy(&team.alice, &team.bob, "", "roles: [db-oncall]")
    )
}

/// `web` (team web) and `db` (team data), with `db` at `weight`.
fn pools(weight: u32) -> String {
    format!(
        "kind: Pool
name: web
labels: {{team: web}}
spec:
  targets: [{{address: '127.0.0.1:9', weight: 1}}]
---
kind: Pool
name: db
labels: {{team: data}}
spec:
  targets: [{{address: '127.0.0.1:9', weight: {weight}}}]
"
    )
}

struct Estate {
    team: Team,
    repo: GitRepo,
    token: ApiToken,
    dir: tempfile::TempDir,
}

impl Estate {
    fn new() -> Estate {
        let team = Team::new();
        let token = ApiToken::generate(random);
        let repo = GitRepo::new();
        repo.write("access.yaml", &access(&team, &token));
        repo.write("pools.yaml", &pools(1));
        let first = repo.commit(&team.alice(), "the estate");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scim-token"), format!("{SCIM_TOKEN}\n")).unwrap();
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 1s, watch: true}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
scim: {{token_file: scim-token}}
idp: {{match: email}}
",
            repo.path().display(),
            dir.path().join("state").display()
        );
        std::fs::write(dir.path().join("lbops.yaml"), config).unwrap();
        Estate {
            team,
            repo,
            token,
            dir,
        }
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    /// bob sets the `db` pool's weight, signed.
    fn bob_sets_db_weight(&self, weight: u32) -> String {
        self.repo.write("pools.yaml", &pools(weight));
        self.repo
            .commit(&self.team.bob(), &format!("db weight {weight}"))
    }

    /// The audit records of `kind`, oldest first.
    fn records(&self, kind: &str) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("state").join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["event"]["kind"] == kind)
            .collect()
    }
}

/// One HTTP/1.1 call, read whole: status and JSON body.
async fn call(
    to: SocketAddr,
    method: &str,
    path: &str,
    auth: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: lbops.test\r\nauthorization: Bearer {auth}\r\ncontent-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    let (head, text) = raw.split_once("\r\n\r\n").unwrap();
    (
        head[9..12].parse().unwrap(),
        serde_json::from_str(text).unwrap_or(Value::Null),
    )
}

/// A page, as text.
async fn call_text(to: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(to).await.unwrap();
    let request = format!("GET {path} HTTP/1.1\r\nhost: lbops.test\r\nconnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
        .await
        .expect("answered in time")
        .unwrap();
    let raw = String::from_utf8(raw).unwrap();
    (raw[9..12].parse().unwrap(), raw)
}

async fn scim(to: SocketAddr, method: &str, path: &str, body: &Value) -> Value {
    let (status, answer) = call(
        to,
        method,
        &format!("/scim/v2{path}"),
        SCIM_TOKEN,
        Some(body),
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    answer
}

fn patch(operations: Value) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations})
}

async fn set_active(to: SocketAddr, user: &str, active: bool) {
    let body = patch(json!([{"op": "replace", "value": {"active": active}}]));
    scim(to, "PATCH", &format!("/Users/{user}"), &body).await;
}

/// deploy-bot's token reads the pools: the status and the error code.
async fn read_pools(to: SocketAddr, token: &ApiToken) -> (u16, Value) {
    let (status, body) = call(to, "GET", "/v1/pools", token.expose(), None).await;
    (status, body["code"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_identity_provider_takes_access_away_at_once_and_gives_back_what_git_grants() {
    let estate = Estate::new();
    let daemon = Daemon::start(&estate.config());
    daemon.ready().await;
    let to: SocketAddr = daemon
        .pages()
        .await
        .trim_start_matches("http://")
        .parse()
        .unwrap();

    // The identity provider pushes bob, and him into `sre-oncall`.
    let user = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "bob@example.test",
        "emails": [{"primary": true, "value": "bob@example.test", "type": "work"}],
        "active": true,
    });
    let bob = scim(to, "POST", "/Users", &user).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "sre-oncall",
        "members": [{"value": bob}],
    });
    let oncall = scim(to, "POST", "/Groups", &group).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(read_pools(to, &estate.token).await.0, 200);

    // In the group: bob may change production.
    let in_group = estate.bob_sets_db_weight(2);
    wait_for_status(&estate.repo, &in_group, "lbops/apply: success", &daemon).await;

    // Removed from the group: his next commit is denied.
    let remove = patch(json!([{"op": "remove", "path": format!("members[value eq \"{bob}\"]")}]));
    scim(to, "PATCH", &format!("/Groups/{oncall}"), &remove).await;
    let out_of_group = estate.bob_sets_db_weight(3);
    let note = wait_for_status(
        &estate.repo,
        &out_of_group,
        "lbops/authorize: failure",
        &daemon,
    )
    .await;
    assert!(note.contains("sre-oncall"), "{note}");

    // Re-added: he may again (the denied commit is judged again within
    // the new range, now allowed).
    let add = patch(json!([{"op": "add", "path": "members", "value": [{"value": bob}]}]));
    scim(to, "PATCH", &format!("/Groups/{oncall}"), &add).await;
    let back_in_group = estate.bob_sets_db_weight(4);
    wait_for_status(
        &estate.repo,
        &back_in_group,
        "lbops/apply: success",
        &daemon,
    )
    .await;

    // Deactivated: the token of the ServiceAccount he owns is refused on
    // its very next call, and so is his next commit.
    set_active(to, &bob, false).await;
    let (status, code) = read_pools(to, &estate.token).await;
    assert_eq!((status, code), (403, json!("deprovisioned")));
    let refused = estate
        .records("api_call")
        .into_iter()
        .rev()
        .find(|r| r["event"]["outcome"] == "deprovisioned")
        .expect("the refused call is recorded");
    let reason = refused["event"]["detail"]["reason"].as_str().unwrap();
    assert!(
        reason.contains("deprovisioned by the identity provider at")
            && reason.contains("SCIM event"),
        "{reason}"
    );
    let (_, page) = call_text(to, "/tokens").await;
    assert!(
        page.contains("owner deprovisioned by the identity provider at"),
        "the tokens page marks the token of a deprovisioned owner: {page}"
    );
    let after = estate.bob_sets_db_weight(5);
    let note = wait_for_status(&estate.repo, &after, "lbops/authorize: failure", &daemon).await;
    assert!(
        note.contains("deprovisioned by the identity provider at") && note.contains("SCIM event"),
        "{note}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !estate
        .records("deprovision")
        .iter()
        .any(|r| r["event"]["outcome"] == "deprovisioned")
    {
        assert!(std::time::Instant::now() < deadline, "{}", daemon.logs());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Re-activated: exactly what git grants, again.
    set_active(to, &bob, true).await;
    assert_eq!(read_pools(to, &estate.token).await.0, 200);
    let restored = estate.bob_sets_db_weight(6);
    wait_for_status(&estate.repo, &restored, "lbops/apply: success", &daemon).await;
}
