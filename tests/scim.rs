//! The SCIM endpoints end to end: `lbops run` as a real process, called
//! over real HTTP as Okta and Microsoft Entra call it (request shapes
//! from their documentation): the token refused and accepted, Users
//! created, found by filter, deactivated both ways, deleted; Groups and
//! their members; the directory kept across a restart, a damaged one
//! refused at start; one audit record per call and the token in no log.
//! And the outside check: scim2-tester (`scim2 test`, PyPI scim2-cli)
//! run against the daemon, its figure held.

mod common;

use common::estate::{Daemon, Team};
use common::git::GitRepo;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The SCIM token of these tests (`scripts/check-test-logs` looks for it
/// in every log).
const TOKEN: &str = "scim-test-token-never-logged-5d1e0c7a9b3f4e2d";

/// The checks of scim2-tester 0.5.2 that pass: all 72 it runs (it skips
/// none). A change that makes one fail fails this test.
const COMPLIANCE_PASSED: usize = 72;

/// A repository whose first commit is pinned as trusted, and a daemon
/// config with SCIM (`scim: true`) or without.
struct Estate {
    _repo: GitRepo,
    dir: tempfile::TempDir,
}

impl Estate {
    fn new() -> Estate {
        let team = Team::new();
        let repo = GitRepo::new();
        repo.write("access.yaml", &team.access());
        let first = repo.commit(&team.alice(), "the policy");
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("scim-token"), format!("{TOKEN}\n")).unwrap();
        let estate = Estate { _repo: repo, dir };
        estate.configure(&first, true);
        estate
    }

    fn configure(&self, first: &str, scim: bool) {
        let config = format!(
            "repository: {{path: '{}', branch: main}}
trigger: {{poll: 30s, watch: false}}
trust: {{pinned_commit: {first}}}
provider: {{embedded: {{admin_listen: '127.0.0.1:0'}}}}
api: {{listen: '127.0.0.1:0'}}
state_dir: '{}'
{}",
            self._repo.path().display(),
            self.state().display(),
            if scim {
                "scim: {token_file: scim-token}\n"
            } else {
                ""
            },
        );
        std::fs::write(self.config(), config).unwrap();
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("lbops.yaml")
    }

    fn state(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    async fn start(&self) -> (Daemon, Scim) {
        let daemon = Daemon::start(&self.config());
        let base = daemon.pages().await;
        let address = base.trim_start_matches("http://").parse().unwrap();
        (daemon, Scim { address })
    }

    /// The `scim_call` records of the audit log, oldest first.
    fn scim_records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.state().join("audit.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["event"]["kind"] == "scim_call")
            .collect()
    }
}

struct Scim {
    address: std::net::SocketAddr,
}

#[derive(Debug)]
struct Answer {
    status: u16,
    head: String,
    body: Value,
}

impl Answer {
    fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
        })
    }
}

impl Scim {
    /// One HTTP/1.1 call below `/scim/v2`, with `token` (or none).
    async fn call_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Answer {
        let body = body.map(Value::to_string).unwrap_or_default();
        let auth = token
            .map(|t| format!("authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} /scim/v2{path} HTTP/1.1\r\nhost: lbops.test\r\n{auth}content-type: application/scim+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let mut stream = tokio::net::TcpStream::connect(self.address).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        tokio::time::timeout(Duration::from_secs(30), stream.read_to_end(&mut raw))
            .await
            .expect("answered in time")
            .unwrap();
        let raw = String::from_utf8(raw).unwrap();
        let (head, text) = raw.split_once("\r\n\r\n").unwrap();
        Answer {
            status: head[9..12].parse().unwrap(),
            head: head.to_owned(),
            body: serde_json::from_str(text).unwrap_or(Value::Null),
        }
    }

    async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.call_with(Some(TOKEN), method, path, body).await
    }

    async fn patch(&self, path: &str, operations: Value) -> Answer {
        let body = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": operations});
        self.call("PATCH", path, Some(&body)).await
    }
}

/// Okta's "Create the User" request.
fn okta_user(user_name: &str) -> Value {
    json!({
        "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": user_name,
        "name": {"givenName": "Test", "familyName": "User"},
        "emails": [{"primary": true, "value": user_name, "type": "work"}],
        "displayName": "Test User",
        "locale": "en-US",
        "externalId": "00ujl29u0le5T6Aj10h7",
        "groups": [],
        "password": "1mz050nq",
        "active": true
    })
}

/// Entra's "Create User" request.
fn entra_user(user_name: &str) -> Value {
    json!({
        "schemas": [
            "urn:ietf:params:scim:schemas:core:2.0:User",
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"
        ],
        "externalId": "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
        "userName": user_name,
        "active": true,
        "emails": [{"primary": true, "type": "work", "value": user_name}],
        "meta": {"resourceType": "User"},
        "name": {"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
        "roles": []
    })
}

fn assert_scim_error(answer: &Answer, status: u16, scim_type: Option<&str>) {
    assert_eq!(answer.status, status, "{answer:?}");
    assert_eq!(
        answer.header("content-type").as_deref(),
        Some("application/scim+json"),
        "{answer:?}"
    );
    assert_eq!(
        answer.body["schemas"],
        json!(["urn:ietf:params:scim:api:messages:2.0:Error"]),
        "{answer:?}"
    );
    assert_eq!(answer.body["status"], status.to_string(), "{answer:?}");
    assert_eq!(
        answer.body.get("scimType").and_then(Value::as_str),
        scim_type,
        "{answer:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn okta_and_entra_provision_deactivate_and_delete_and_the_directory_outlives_a_restart() {
    let estate = Estate::new();
    let (mut daemon, scim) = estate.start().await;

    // The token: none, another, then the right one.
    let none = scim.call_with(None, "GET", "/Users", None).await;
    assert_scim_error(&none, 401, None);
    assert!(none
        .header("www-authenticate")
        .is_some_and(|v| v.starts_with("Bearer")));
    let wrong = scim
        .call_with(
            Some("not-the-token-but-long-enough-0123456789"),
            "GET",
            "/Users",
            None,
        )
        .await;
    assert_scim_error(&wrong, 401, None);
    let config = scim.call("GET", "/ServiceProviderConfig", None).await;
    assert_eq!(config.status, 200);
    assert_eq!(config.body["patch"]["supported"], true);

    // Okta creates a User (after looking it up by userName).
    let found = scim
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22ada%40example.test%22&startIndex=1&count=100",
            None,
        )
        .await;
    assert_eq!(
        (found.status, found.body["totalResults"].clone()),
        (200, json!(0)),
        "{found:?}"
    );
    let created = scim
        .call("POST", "/Users", Some(&okta_user("ada@example.test")))
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let ada = created.body["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location").as_deref(),
        Some(format!("http://lbops.test/scim/v2/Users/{ada}").as_str())
    );
    assert_eq!(
        created.header("etag"),
        created.body["meta"]["version"].as_str().map(str::to_owned)
    );
    assert!(created.body.get("password").is_none() && created.body.get("locale").is_none());
    let again = scim
        .call("POST", "/Users", Some(&okta_user("ADA@example.test")))
        .await;
    assert_scim_error(&again, 409, Some("uniqueness"));
    let found = scim
        .call(
            "GET",
            "/Users?filter=userName%20eq%20%22ADA%40example.test%22",
            None,
        )
        .await;
    assert_eq!(found.body["totalResults"], 1, "{found:?}");
    assert_eq!(found.body["Resources"][0]["id"], ada.as_str());

    // Entra creates one, found by externalId first.
    let bea = scim
        .call("POST", "/Users", Some(&entra_user("bea@example.test")))
        .await;
    assert_eq!(bea.status, 201, "{bea:?}");
    let bea = bea.body["id"].as_str().unwrap().to_owned();
    let by_external = scim
        .call(
            "GET",
            "/Users?filter=externalId%20eq%20%220a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef%22",
            None,
        )
        .await;
    assert_eq!(by_external.body["Resources"][0]["id"], bea.as_str());
    let bad_filter = scim
        .call("GET", "/Users?filter=userName%20sw%20%22a%22", None)
        .await;
    assert_scim_error(&bad_filter, 400, Some("invalidFilter"));

    // A group, members added Entra's way and removed Okta's.
    let group = scim
        .call("POST", "/Groups", Some(&json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "sre", "members": []})))
        .await;
    assert_eq!(group.status, 201, "{group:?}");
    let sre = group.body["id"].as_str().unwrap().to_owned();
    let added = scim
        .patch(
            &format!("/Groups/{sre}"),
            json!([{"op": "Add", "path": "members", "value": [{"value": ada}, {"value": bea}]}]),
        )
        .await;
    assert_eq!(added.status, 200, "{added:?}");
    assert_eq!(added.body["members"].as_array().map(Vec::len), Some(2));
    let removed = scim
        .patch(
            &format!("/Groups/{sre}"),
            json!([{"op": "remove", "path": format!("members[value eq \"{bea}\"]")}]),
        )
        .await;
    assert_eq!(
        removed.body["members"],
        json!([{"value": ada, "$ref": format!("http://lbops.test/scim/v2/Users/{ada}"), "type": "User"}])
    );
    let read = scim.call("GET", &format!("/Users/{ada}"), None).await;
    assert_eq!(read.body["groups"][0]["display"], "sre", "{read:?}");

    // Deactivation: Okta's pathless replace, Entra's "Replace" "False".
    let okta = scim
        .patch(
            &format!("/Users/{ada}"),
            json!([{"op": "replace", "value": {"active": false}}]),
        )
        .await;
    assert_eq!(
        (okta.status, okta.body["active"].clone()),
        (200, json!(false)),
        "{okta:?}"
    );
    let entra = scim
        .patch(
            &format!("/Users/{bea}"),
            json!([{"op": "Replace", "path": "active", "value": "False"}]),
        )
        .await;
    assert_eq!(
        (entra.status, entra.body["active"].clone()),
        (200, json!(false)),
        "{entra:?}"
    );

    // Limits and refusals answer SCIM errors.
    let huge = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "x".repeat(70 * 1024)});
    assert_scim_error(&scim.call("POST", "/Users", Some(&huge)).await, 413, None);
    assert_scim_error(&scim.call("GET", "/Users/nobody", None).await, 404, None);
    assert_scim_error(&scim.call("DELETE", "/Schemas", None).await, 405, None);
    assert_scim_error(&scim.call("GET", "/Nope", None).await, 404, None);

    // Entra deletes one.
    let deleted = scim.call("DELETE", &format!("/Users/{bea}"), None).await;
    assert_eq!(deleted.status, 204, "{deleted:?}");
    assert_scim_error(
        &scim.call("GET", &format!("/Users/{bea}"), None).await,
        404,
        None,
    );

    // Every call is one record; changes say what changed; the token is
    // in neither the audit log nor the daemon's log.
    let records = estate.scim_records();
    assert!(records.len() >= 20, "{records:#?}");
    assert_eq!(
        records
            .iter()
            .filter(|r| r["event"]["outcome"] == "unauthorized")
            .count(),
        2
    );
    let deactivations: Vec<&Value> = records
        .iter()
        .filter(|r| r["event"]["detail"]["change"]["active"] == false)
        .collect();
    assert_eq!(
        deactivations.len(),
        3,
        "two deactivations and one deletion: {records:#?}"
    );
    assert!(records
        .iter()
        .any(|r| r["event"]["detail"]["change"]["action"] == "deleted"
            && r["event"]["detail"]["change"]["id"] == bea.as_str()));
    let audit = std::fs::read_to_string(estate.state().join("audit.jsonl")).unwrap();
    assert!(!audit.contains(TOKEN) && !audit.contains("1mz050nq"));
    daemon
        .wait_for_log("a scim call line", |l| l.contains("\"scim call\""))
        .await;
    assert!(!daemon.logs().contains(TOKEN) && !daemon.logs().contains("Bearer"));

    // kill -9, start again: the directory is as it was.
    daemon.kill();
    let (daemon, scim) = estate.start().await;
    let read = scim.call("GET", &format!("/Users/{ada}"), None).await;
    assert_eq!(
        (read.status, read.body["active"].clone()),
        (200, json!(false)),
        "{read:?}"
    );
    assert_eq!(read.body["groups"][0]["value"], sre.as_str());
    let users = scim.call("GET", "/Users", None).await;
    assert_eq!(users.body["totalResults"], 1);
    drop(daemon);

    // A damaged directory stops the daemon at start and says what to do.
    let file = estate.state().join("scim-directory.json");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replacen("\"active\":false", "\"active\":\"no\"", 1),
    )
    .unwrap();
    let mut daemon = Daemon::start(&estate.config());
    let line = daemon
        .wait_for_log("the refusal", |l| l.contains("damaged"))
        .await;
    assert!(line.contains("restore the file from a backup"), "{line}");
    wait_until_stopped(&mut daemon).await;
}

async fn wait_until_stopped(daemon: &mut Daemon) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while daemon.running() {
        assert!(
            std::time::Instant::now() < deadline,
            "still running:\n{}",
            daemon.logs()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_scim_section_there_are_no_scim_endpoints() {
    let estate = Estate::new();
    let first = estate._repo.head();
    estate.configure(&first, false);
    let (_daemon, scim) = estate.start().await;
    let answer = scim.call("GET", "/Users", None).await;
    assert_eq!(answer.status, 404, "{answer:?}");
    assert!(estate.scim_records().is_empty());
}

/// The outside check: scim2-tester, through scim2-cli's `scim2 test`,
/// installed by `scripts/test` (pinned, in `target/scim-venv`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scim2_tester_passes_what_lbops_supports() {
    let Some(scim2) = std::env::var_os("LBOPS_SCIM_TESTER") else {
        panic!(
            "LBOPS_SCIM_TESTER is not set: run the suite with scripts/test, which installs \
             scim2-cli and scim2-tester into target/scim-venv and sets it to their `scim2`"
        );
    };
    let estate = Estate::new();
    let (daemon, scim) = estate.start().await;
    // Its output goes to a file; the process is killed however the test ends.
    let out = estate.dir.path().join("scim2-test.out");
    let mut tester = common::ChildProcess(
        std::process::Command::new(Path::new(&scim2))
            .arg("--url")
            .arg(format!("http://{}/scim/v2", scim.address))
            .arg("test")
            .env("SCIM_CLI_HEADERS", format!("Authorization: Bearer {TOKEN}"))
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("scim2 runs"),
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(300);
    while tester.0.try_wait().unwrap().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "scim2 test did not finish in 300s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let stdout = std::fs::read_to_string(&out).unwrap();
    let statuses = [
        "SUCCESS",
        "COMPLIANT",
        "ACCEPTABLE",
        "DEVIATION",
        "ERROR",
        "CRITICAL",
        "SKIPPED",
    ];
    let results: Vec<(&str, &str)> = stdout
        .lines()
        .filter_map(|line| {
            let (status, title) = line.split_once(' ')?;
            statuses.contains(&status).then_some((status, title))
        })
        .collect();
    let run = results.iter().filter(|(s, _)| *s != "SKIPPED").count();
    let passed = results.iter().filter(|(s, _)| *s == "SUCCESS").count();
    println!("scim2-tester: {passed} of {run} checks passed\n{stdout}");
    assert!(run > 0, "scim2 test ran no check:\n{stdout}");
    assert!(
        passed >= COMPLIANCE_PASSED,
        "scim2-tester: {passed} of {run} passed, fewer than the {COMPLIANCE_PASSED} before:\n{stdout}"
    );
    assert!(!daemon.logs().contains(TOKEN));
}
