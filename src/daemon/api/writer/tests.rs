//! A write call on a real repository with a real ledger file, as a daemon
//! that stopped mid-call leaves them: an intent on disk whose commit was
//! made (the branch moved, the daemon died before recording it) or never
//! made. The retry answers with the commit git holds, or makes it then,
//! under the same request id; never a second commit.

use super::ledger::{BodyDigest, Entry, Ledger};
use super::*;
use crate::audit::AuditLog;
use crate::daemon::trusted::{Trusted, TrustedView};
use crate::spec::material::api_token::ApiToken;
use axum::http::HeaderValue;
use http_body_util::BodyExt as _;
use std::process::Command;
use std::sync::Mutex;

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.test"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

const POOL: &str = "kind: Pool
name: web
spec:
  targets:
    - {address: '10.0.0.1:80', weight: 1}
";

/// Adds one target to pool `web` (the file is the only one it edits).
struct AddTarget(&'static str);

impl Edit for AddTarget {
    fn summary(&self) -> String {
        format!("Register {} in pool/web", self.0)
    }

    fn edit(&self, files: &[SourceFile], _: &Catalog) -> Result<FileEdit, ApiError> {
        let index = files
            .iter()
            .position(|f| f.path == "pools/web.yaml")
            .unwrap();
        let text = format!(
            "{}    - {{address: '{}', weight: 1}}\n",
            files[index].text, self.0
        );
        Ok(FileEdit { index, text })
    }

    fn unchanged(&self) -> ApiError {
        ApiError::Invalid(format!("pool/web already has {}", self.0))
    }
}

/// A provider that runs nothing: these calls read nothing live.
struct Nothing;

impl super::super::Observe for Nothing {
    fn observe(
        &self,
    ) -> std::pin::Pin<
        Box<
            dyn std::future::Future<
                    Output = Result<crate::model::ObservedState, crate::provider::ProviderError>,
                > + Send
                + '_,
        >,
    > {
        Box::pin(async { Ok(crate::model::ObservedState::default()) })
    }
}

/// A repository whose policy gives `bot` a token that may register
/// targets, the trusted view of its head, and the daemon's key.
struct Estate {
    dir: tempfile::TempDir,
    caller: Caller,
    signer: Arc<ApiSigner>,
    trusted: Trusted,
}

const NOW: i64 = 1_800_000_000;

fn estate() -> Estate {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(repo.join("pools")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let token = ApiToken::generate(|b| b.fill(5));
    std::fs::write(
        repo.join("access.yaml"),
        format!(
            "kind: Role
name: oncall
spec: {{rules: [{{actions: [pool.targets.update], resources: ['pool/*']}}]}}
---
kind: User
name: alice
spec: {{emails: [alice@example.test]}}
---
kind: ServiceAccount
name: bot
spec:
  owner: alice
  roles: [oncall]
  tokens: [{{name: adder, id: {}, hash: '{}', expires: 2099-01-01}}]
",
            token.id(),
            token.stored_hash()
        ),
    )
    .unwrap();
    std::fs::write(repo.join("pools/web.yaml"), POOL).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "the estate"]);
    let source = GitSource::open(&repo, "main").unwrap();
    let head = source.head().unwrap();
    let catalog = Arc::new(
        spec::load(&source.files_at(head).unwrap(), &spec::Options::at(NOW))
            .unwrap()
            .catalog,
    );
    let view = Arc::new(TrustedView {
        commit: head,
        catalog: catalog.clone(),
    });
    let trusted = Trusted::default();
    trusted.publish(head, catalog.clone());
    let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[4; 32]));
    Estate {
        caller: Caller {
            who: ApiPrincipal::Token(
                crate::identity::authenticate(&catalog, token.expose(), NOW).unwrap(),
            ),
            view,
            idp: Default::default(),
        },
        signer: Arc::new(ApiSigner::new(key).unwrap()),
        trusted,
        dir,
    }
}

impl Estate {
    fn repo(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn keys_file(&self) -> PathBuf {
        self.dir.path().join("keys.json")
    }

    fn head(&self) -> CommitId {
        GitSource::open(&self.repo(), "main")
            .unwrap()
            .head()
            .unwrap()
    }

    /// The commits on the branch that carry `request`.
    fn carrying(&self, request: &str) -> usize {
        git(
            &self.repo(),
            &[
                "log",
                "--format=%H",
                &format!("--grep=Lbops-Request: {request}$"),
                "main",
            ],
        )
        .lines()
        .count()
    }

    /// The daemon's API state after a restart: the writer reads the ledger
    /// file as the last daemon left it.
    fn api(&self) -> ApiState {
        let audit = AuditLog::open(&self.dir.path().join("audit.jsonl"))
            .unwrap()
            .log;
        ApiState {
            trusted: self.trusted.clone(),
            live: Arc::new(super::super::Live::new(Arc::new(Nothing))),
            audit: Arc::new(Mutex::new(audit)),
            limiter: Arc::new(super::super::limit::RateLimiter::new(Default::default())),
            metrics: Default::default(),
            oidc: None,
            clock: Arc::new(crate::support::clock::FixedClock::at_unix(NOW as u64)),
            idp: Default::default(),
            estate: Default::default(),
            writer: Some(Arc::new(
                Writer::new(
                    GitLocation::Local(self.repo()),
                    "main".into(),
                    Some(self.signer.clone()),
                    None,
                    Default::default(),
                    self.keys_file(),
                )
                .unwrap(),
            )),
        }
    }

    /// What a daemon records before it commits.
    fn intent(&self, key: &str, body: &[u8], request: &str) -> Entry {
        Entry {
            owner: key_owner(&self.caller),
            key: key.to_owned(),
            body: BodyDigest::of(body),
            request: RequestId::parse(request).unwrap(),
            since: Some(self.head()),
            commit: None,
        }
    }

    fn ledger_on_disk(&self) -> Ledger {
        ledger_file::load(&self.keys_file()).unwrap().0
    }
}

const BODY: &[u8] = br#"{"address": "10.0.0.7:8080"}"#;

/// POSTs `edit` with `key`: the status and the JSON body.
async fn call(api: &ApiState, e: &Estate, key: &str, body: &[u8]) -> (u16, serde_json::Value) {
    let mut headers = HeaderMap::new();
    headers.insert("idempotency-key", HeaderValue::from_str(key).unwrap());
    let answer = write_call(
        api,
        e.caller.clone(),
        Arc::new(AddTarget("10.0.0.7:8080")),
        &Wait::default(),
        &headers,
        body,
    )
    .await;
    let response = answer.unwrap_or_else(IntoResponse::into_response);
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn an_intent_whose_commit_was_made_is_answered_from_git_with_that_commit() {
    let e = estate();
    // The daemon recorded the intent, made the commit, moved the branch,
    // and died before recording the commit.
    let intent = e.intent("deploy-7", BODY, "req-before-the-crash");
    let mut ledger = Ledger::default();
    ledger.intend(intent.clone());
    ledger_file::save(&e.keys_file(), &ledger).unwrap();
    let made = commit_edit(
        &e.repo(),
        "main",
        &e.caller,
        &AddTarget("10.0.0.7:8080"),
        &intent.request,
        &e.signer,
        NOW,
        &mut || {},
    )
    .unwrap()
    .expect("a commit");
    // Someone pushed after it.
    std::fs::write(e.repo().join("notes.yaml"), "# a person's push\n").unwrap();
    git(&e.repo(), &["add", "-A"]);
    git(&e.repo(), &["commit", "-q", "-m", "notes"]);
    let head = e.head();

    let api = e.api();
    let (status, body) = call(&api, &e, "deploy-7", BODY).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["commit"], made.to_string());
    assert_eq!(body["request_id"], "req-before-the-crash");
    assert_eq!(e.head(), head, "no second commit");
    assert_eq!(e.carrying("req-before-the-crash"), 1);
    // Settled on disk: the next daemon answers without looking.
    assert!(matches!(
        e.ledger_on_disk().seen(&intent.owner, "deploy-7", &intent.body),
        Seen::Made { commit, .. } if commit == made
    ));
    // The same key with another body is still refused.
    let (status, body) = call(&api, &e, "deploy-7", b"{}").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (422, Some("idempotency-key-reused"))
    );
}

#[tokio::test]
async fn an_intent_whose_commit_was_never_made_is_made_once_under_its_request_id() {
    let e = estate();
    // The daemon recorded the intent and died before committing; a person
    // pushed a commit that copies the request id's trailers (unsigned): it
    // is not taken for the request's.
    let intent = e.intent("deploy-8", BODY, "req-never-made");
    let mut ledger = Ledger::default();
    ledger.intend(intent.clone());
    ledger_file::save(&e.keys_file(), &ledger).unwrap();
    std::fs::write(e.repo().join("notes.yaml"), "# hello\n").unwrap();
    git(&e.repo(), &["add", "-A"]);
    let message = ApiTrailers {
        on_behalf: e.caller.on_behalf(),
        request: intent.request.clone(),
    }
    .message("a look-alike");
    git(&e.repo(), &["commit", "-q", "-m", &message]);
    let before = e.head();

    let api = e.api();
    let (status, body) = call(&api, &e, "deploy-8", BODY).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["request_id"], "req-never-made");
    let made = e.head();
    assert_eq!(body["commit"], made.to_string());
    let source = GitSource::open(&e.repo(), "main").unwrap();
    assert_eq!(source.commit(made).unwrap().parents, [before]);
    assert!(e.signer.signed(&source.commit(made).unwrap()));
    assert_eq!(
        e.carrying("req-never-made"),
        2,
        "the look-alike and the real one"
    );

    // Again: the same commit, nothing new.
    let (status, again) = call(&api, &e, "deploy-8", BODY).await;
    assert_eq!(status, 202, "{again}");
    assert_eq!(again["commit"], made.to_string());
    assert_eq!(e.head(), made);
    // After a restart too.
    let (status, again) = call(&e.api(), &e, "deploy-8", BODY).await;
    assert_eq!((status, &again["commit"]), (202, &made.to_string().into()));
    assert_eq!(e.head(), made);
}

#[tokio::test]
async fn without_a_durable_intent_nothing_is_committed() {
    let e = estate();
    let api = e.api();
    // The state directory is gone from under the daemon.
    let writer = api.writer.as_ref().unwrap();
    writer.keys.lock().await.file = e.dir.path().join("gone").join("keys.json");
    let head = e.head();
    let (status, body) = call(&api, &e, "deploy-9", BODY).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("idempotency-keys-unavailable")),
        "{body}"
    );
    assert_eq!(e.head(), head);
    // Once it can be written, the same key makes the commit.
    writer.keys.lock().await.file = e.keys_file();
    let (status, body) = call(&api, &e, "deploy-9", BODY).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["commit"], e.head().to_string());
    assert!(matches!(
        e.ledger_on_disk()
            .seen(&key_owner(&e.caller), "deploy-9", &BodyDigest::of(BODY)),
        Seen::Made { .. }
    ));
}
