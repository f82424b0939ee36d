//! The write endpoints: a call becomes a signed commit on the watched
//! branch, judged and applied like any other.
//!
//! The call's change is made as a text edit of the resource's file at the
//! branch head ([`edit`](super::edit)), the edited tree is validated with
//! `spec::load`, and the change it makes (`authz::changes` from the head
//! to the edit, exactly what the judge will see) is authorized for the
//! token by the trusted policy before anything is written. The commit is
//! signed with the daemon's API key and the branch moves only from the
//! head the edit was made on; if it moved, the edit is made again on the
//! new head, [`RETRIES`] times, then `409`.

use super::edit::{add_target, EditError};
use super::error::ApiError;
use super::{ApiState, Caller};
use crate::authz::{authorize_token, changes};
use crate::daemon::journal::Journal;
use crate::judge::{Ruling, Verdict};
use crate::source::{ApiCommit, ApiSigner, CommitId, GitSource};
use crate::spec::api_commit::{ApiTrailers, RequestId};
use crate::spec::{self, SourceFile};
use crate::trigger::{Trigger, TriggerSource};
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How many times an edit is made again on a branch that moved.
pub const RETRIES: u32 = 3;

/// How many Idempotency-Keys are remembered (in memory: a restart forgets).
pub const REMEMBERED_KEYS: usize = 1024;

/// The longest `?timeout=` a waiting call may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the write endpoints need beyond the reads.
pub struct Writer {
    /// The repository on this machine; `None` when it is remote (not
    /// supported yet).
    pub repository: Option<PathBuf>,
    pub branch: String,
    /// The daemon's API key; `None` when the config names none.
    pub signer: Option<Arc<ApiSigner>>,
    /// Where the reconcile loop takes triggers, so an API commit is
    /// applied without waiting for the poll.
    pub triggers: Option<mpsc::Sender<Trigger>>,
    /// The judgements and apply results, for `?wait=applied`.
    pub journal: Arc<Journal>,
    /// One write at a time, and the keys seen.
    keys: tokio::sync::Mutex<VecDeque<Remembered>>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("repository", &self.repository)
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

impl Writer {
    #[must_use]
    pub fn new(
        repository: Option<PathBuf>,
        branch: String,
        signer: Option<Arc<ApiSigner>>,
        triggers: Option<mpsc::Sender<Trigger>>,
        journal: Arc<Journal>,
    ) -> Writer {
        Writer {
            repository,
            branch,
            signer,
            triggers,
            journal,
            keys: tokio::sync::Mutex::new(VecDeque::new()),
        }
    }
}

/// An Idempotency-Key's first answer: the commit it made.
struct Remembered {
    token: String,
    key: String,
    body: [u8; 32],
    written: Written,
}

/// The commit a write made, as the response and the audit record name it.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    pub commit: String,
    pub request_id: String,
    pub status_url: String,
}

/// `POST /v1/pools/{name}/targets`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTarget {
    pub address: String,
    #[serde(default = "one")]
    pub weight: u32,
}

fn one() -> u32 {
    1
}

#[derive(Debug, Default, Deserialize)]
pub struct Wait {
    pub wait: Option<String>,
    pub timeout: Option<String>,
}

/// How long `?wait=applied&timeout=…` may block; `None` for no wait.
fn wait_for(wait: &Wait) -> Result<Option<Duration>, ApiError> {
    match wait.wait.as_deref() {
        None => return Ok(None),
        Some("applied") => {}
        Some(_) => return Err(ApiError::BadRequest("`wait` can only be `applied`".into())),
    }
    let Some(text) = wait.timeout.as_deref() else {
        return Ok(Some(Duration::from_secs(30)));
    };
    let bad = || ApiError::BadRequest("`timeout` is a duration such as `30s` or `500ms`".into());
    let (number, unit) = match text.strip_suffix("ms") {
        Some(n) => (n, 1),
        None => (text.strip_suffix('s').unwrap_or(text), 1000),
    };
    let n: u64 = number.parse().map_err(|_| bad())?;
    Ok(Some(
        Duration::from_millis(n.saturating_mul(unit)).min(MAX_WAIT),
    ))
}

/// A fresh request id: unique, not secret.
fn request_id(now: std::time::SystemTime) -> RequestId {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    RequestId::parse(&format!("req-{nanos:x}-{:x}-{n}", std::process::id()))
        .unwrap_or_else(|_| unreachable!("a request id of hex digits parses"))
}

/// The response extension that tells the front door which commit a call
/// made, for its audit record.
#[derive(Clone, Debug)]
pub struct Committed(pub String);

pub(super) async fn add_target_call(
    State(api): State<ApiState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    Query(wait): Query<Wait>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match add_target_inner(api, caller, name, &wait, &headers, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn add_target_inner(
    api: ApiState,
    caller: Caller,
    name: String,
    wait: &Wait,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let target: NewTarget =
        serde_json::from_slice(body).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    // The address goes into the YAML as a quoted scalar: no line breaks
    // or other control characters, whatever the validation would say.
    if target.address.is_empty()
        || target.address.len() > 255
        || target.address.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(
            "`address` is host:port, 1 to 255 characters without control characters".into(),
        ));
    }
    let timeout = wait_for(wait)?;
    let writer = api
        .writer
        .clone()
        .ok_or(ApiError::NotSupportedYet("this daemon does not write"))?;
    let Some(repository) = writer.repository.clone() else {
        return Err(ApiError::NotSupportedYet(
            "API writes to a remote repository are not supported yet",
        ));
    };
    let signer = writer.signer.clone().ok_or(ApiError::NoSigningKey)?;
    let key = match headers.get("idempotency-key") {
        None => None,
        Some(value) => match value.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Some(k.to_owned()),
            _ => {
                return Err(ApiError::BadRequest(
                    "Idempotency-Key is 1 to 255 visible characters".into(),
                ))
            }
        },
    };
    let digest: [u8; 32] = Sha256::digest(body).into();
    let token = caller.token.id.to_string();
    let mut keys = writer.keys.lock().await;
    let earlier = key.as_ref().and_then(|key| {
        keys.iter()
            .find(|r| r.token == token && &r.key == key)
            .map(|r| (r.body == digest, r.written.clone()))
    });
    let written = match earlier {
        Some((false, _)) => return Err(ApiError::IdempotencyKeyReused),
        Some((true, written)) => written,
        None => {
            let now = api.clock.now();
            let request = request_id(now);
            let unix = api.clock.unix_seconds();
            let branch = writer.branch.clone();
            let commit = tokio::task::spawn_blocking(move || {
                commit_target(
                    &repository,
                    &branch,
                    &caller,
                    &name,
                    &target,
                    &request,
                    &signer,
                    unix,
                    &mut || {},
                )
                .map(|commit| (commit, request))
            })
            .await
            .map_err(|e| ApiError::Repository(e.to_string()))??;
            let (commit, request) = commit;
            if let Some(triggers) = &writer.triggers {
                let _ = triggers.try_send(Trigger {
                    source: TriggerSource::Api,
                    git_ref: Some(format!("refs/heads/{}", writer.branch)),
                    after: Some(commit.to_string()),
                });
            }
            let written = Written {
                commit: commit.to_string(),
                request_id: request.to_string(),
                status_url: format!("/commits/{commit}"),
            };
            if let Some(key) = key {
                if keys.len() >= REMEMBERED_KEYS {
                    keys.pop_front();
                }
                keys.push_back(Remembered {
                    token,
                    key,
                    body: digest,
                    written: written.clone(),
                });
            }
            written
        }
    };
    drop(keys);
    let mut response = match timeout {
        None => (StatusCode::ACCEPTED, Json(written.clone())).into_response(),
        Some(timeout) => wait_applied(&api, &writer, &written, timeout).await?,
    };
    response
        .extensions_mut()
        .insert(Committed(written.commit.clone()));
    Ok(response)
}

/// Blocks until the trusted commit is `written`'s (or has it in its
/// history), it was refused, or `timeout` passed.
async fn wait_applied(
    api: &ApiState,
    writer: &Writer,
    written: &Written,
    timeout: Duration,
) -> Result<Response, ApiError> {
    let deadline = Instant::now() + timeout;
    let commit =
        CommitId::parse(&written.commit).map_err(|e| ApiError::Repository(e.to_string()))?;
    loop {
        if let Some(view) = api.trusted.load() {
            if view.commit == commit || applied_after(writer, commit, view.commit).await {
                let mut body = serde_json::to_value(written).unwrap_or_default();
                body["applied"] = serde_json::Value::String(view.commit.to_string());
                return Ok((StatusCode::OK, Json(body)).into_response());
            }
        }
        if let Some(refused) = refused(&writer.journal, commit) {
            return Err(refused);
        }
        if Instant::now() >= deadline {
            return Ok((StatusCode::ACCEPTED, Json(written.clone())).into_response());
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Whether `trusted` descends from `commit`.
async fn applied_after(writer: &Writer, commit: CommitId, trusted: CommitId) -> bool {
    let Some(path) = writer.repository.clone() else {
        return false;
    };
    let branch = writer.branch.clone();
    tokio::task::spawn_blocking(move || {
        GitSource::open(&path, &branch)
            .and_then(|source| source.is_ancestor(commit, trusted))
            .unwrap_or(false)
    })
    .await
    .unwrap_or(false)
}

/// The refusal of `commit`, when the daemon judged it and did not apply it.
fn refused(journal: &Journal, commit: CommitId) -> Option<ApiError> {
    let record = journal.get(&commit.to_string())?;
    let judgement = record.judgement?;
    match judgement.ruling {
        Ruling::Accepted => match record.apply {
            Some(apply) if !apply.ok => Some(ApiError::NotApplied(apply.message)),
            _ => None,
        },
        Ruling::Refused { .. } => {
            let denials: Vec<String> = judgement
                .commits
                .iter()
                .flat_map(|c| &c.changes)
                .filter_map(|c| match &c.verdict {
                    Verdict::Denied { denied, .. } => Some(denied.to_string()),
                    _ => None,
                })
                .collect();
            Some(ApiError::Refused(denials.join("; ")))
        }
        Ruling::Invalid { invalid } => Some(ApiError::Invalid(diagnostics(&invalid))),
        Ruling::Rewound => Some(ApiError::Refused("the branch was rewound".into())),
    }
}

fn diagnostics(invalid: &spec::Invalid) -> String {
    invalid
        .diagnostics
        .iter()
        .take(5)
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

impl From<EditError> for ApiError {
    fn from(e: EditError) -> Self {
        ApiError::Invalid(e.to_string())
    }
}

fn git(e: impl std::fmt::Display) -> ApiError {
    ApiError::Repository(e.to_string())
}

/// Makes the commit that adds `target` to pool `name`, and moves the
/// branch to it: on the head as it is, again on a head that moved.
/// `before_swap` runs between the commit and the branch's move (tests
/// push there to race it).
#[allow(clippy::too_many_arguments)]
fn commit_target(
    repository: &std::path::Path,
    branch: &str,
    caller: &Caller,
    name: &str,
    target: &NewTarget,
    request: &RequestId,
    signer: &ApiSigner,
    now: i64,
    before_swap: &mut dyn FnMut(),
) -> Result<CommitId, ApiError> {
    let source = GitSource::open(repository, branch).map_err(git)?;
    let trailers = ApiTrailers {
        account: caller.token.account.clone(),
        token: caller.token.id.clone(),
        request: request.clone(),
    };
    let summary = format!("Register {} in pool/{name}", target.address);
    for _ in 0..=RETRIES {
        let head = source.head().map_err(git)?;
        let files = source.files_at(head).map_err(git)?;
        let before = spec::load(&files, &spec::Options::at(now))
            .map_err(|invalid| {
                ApiError::Invalid(format!(
                    "the branch head does not validate: {}",
                    diagnostics(&invalid)
                ))
            })?
            .catalog;
        let pool = before.pools.get(name).ok_or_else(|| ApiError::NotFound {
            kind: "pool",
            name: name.to_owned(),
            hidden: None,
        })?;
        let file = &pool.origin.file;
        let Some(at) = files.iter().position(|f| f.path.as_str() == &**file) else {
            return Err(ApiError::Repository(format!(
                "pool/{name}'s file {file} is not in the tree"
            )));
        };
        let text = add_target(
            &files[at].text,
            file,
            pool.origin.pos.line,
            &target.address,
            target.weight,
        )?;
        let mut edited: Vec<SourceFile> = files.clone();
        edited[at] = SourceFile::new(files[at].path.clone(), text.clone());
        let after = spec::load(&edited, &spec::Options::at(now))
            .map_err(|invalid| ApiError::Invalid(diagnostics(&invalid)))?
            .catalog;
        let made = changes(&before, &after);
        if made.is_empty() {
            return Err(ApiError::Invalid(format!(
                "pool/{name} already has target {}",
                target.address
            )));
        }
        for change in &made {
            let _permit = authorize_token(&caller.view.catalog, &caller.token, change)
                .map_err(|denied| ApiError::Forbidden(Box::new(denied)))?;
        }
        let tree = source
            .tree_with_file(head, &files[at].path, &text)
            .map_err(git)?;
        let commit = source
            .write_api_commit(
                &ApiCommit {
                    parent: head,
                    tree,
                    summary: &summary,
                    trailers: &trailers,
                    time: now,
                },
                signer,
            )
            .map_err(git)?;
        before_swap();
        if source.advance_branch(head, commit).map_err(git)? {
            return Ok(commit);
        }
        tracing::info!(%request, "api: the branch moved; making the edit again on its new head");
    }
    Err(ApiError::Conflict(RETRIES + 1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::trusted::TrustedView;
    use crate::spec::material::api_token::ApiToken;
    use std::process::Command;

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

    fn commit(dir: &std::path::Path, file: &str, text: &str) -> CommitId {
        let path = dir.join(file);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
        git(dir, &["add", "-A"]);
        git(dir, &["commit", "-q", "-m", file]);
        CommitId::parse(&git(dir, &["rev-parse", "HEAD"])).unwrap()
    }

    const POOL: &str = "kind: Pool
name: web
# comments stay
spec:
  targets:
    - {address: '10.0.0.1:80', weight: 1}
";

    /// A repository with a policy whose `bot` has tokens `adder` (may
    /// register targets) and `weights` (may not), and the caller for one.
    struct Estate {
        dir: tempfile::TempDir,
        adder: Caller,
        weights: Caller,
        signer: ApiSigner,
    }

    fn estate() -> Estate {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "-b", "main"]);
        let adder = ApiToken::generate(|b| b.fill(1));
        let weights = ApiToken::generate(|b| b.fill(2));
        let entry = |name: &str, t: &ApiToken, scope: &str| {
            format!(
                "{{name: {name}, id: {}, hash: '{}', expires: 2099-01-01, scopes: [{scope}]}}",
                t.id(),
                t.stored_hash()
            )
        };
        let policy = format!(
            "kind: Role
name: oncall
spec: {{rules: [{{actions: [pool.targets.update, pool.weights.update], resources: ['pool/*']}}]}}
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
  tokens: [{}, {}]
",
            entry("adder", &adder, "pool.targets.update"),
            entry("weights", &weights, "pool.weights.update"),
        );
        commit(dir.path(), "access.yaml", &policy);
        let trusted = commit(dir.path(), "pools/web.yaml", POOL);
        let files = GitSource::open(dir.path(), "main")
            .unwrap()
            .files_at(trusted)
            .unwrap();
        let catalog = Arc::new(
            spec::load(&files, &spec::Options::at(1_800_000_000))
                .unwrap()
                .catalog,
        );
        let view = Arc::new(TrustedView {
            commit: trusted,
            catalog: catalog.clone(),
        });
        let caller = |t: &ApiToken| Caller {
            token: crate::identity::authenticate(&catalog, t.expose(), 1_800_000_000).unwrap(),
            view: view.clone(),
        };
        let key = ssh_key::PrivateKey::from(ssh_key::private::Ed25519Keypair::from_seed(&[9; 32]));
        Estate {
            adder: caller(&adder),
            weights: caller(&weights),
            signer: ApiSigner::new(key).unwrap(),
            dir,
        }
    }

    fn add(e: &Estate, caller: &Caller, address: &str) -> Result<CommitId, ApiError> {
        add_racing(e, caller, address, &mut || {})
    }

    fn add_racing(
        e: &Estate,
        caller: &Caller,
        address: &str,
        before_swap: &mut dyn FnMut(),
    ) -> Result<CommitId, ApiError> {
        let target = NewTarget {
            address: address.into(),
            weight: 2,
        };
        let request = RequestId::parse("req-1").unwrap();
        commit_target(
            e.dir.path(),
            "main",
            caller,
            "web",
            &target,
            &request,
            &e.signer,
            1_800_000_000,
            before_swap,
        )
    }

    #[test]
    fn a_push_that_wins_the_race_is_kept_and_the_edit_made_again_on_it() {
        let e = estate();
        let mut pushes = 0;
        let mut last = None;
        let made = add_racing(&e, &e.adder, "10.0.0.7:8080", &mut || {
            if pushes < 2 {
                pushes += 1;
                last = Some(commit(
                    e.dir.path(),
                    &format!("notes/{pushes}.yaml"),
                    "# a person's push\n",
                ));
            }
        })
        .unwrap();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        assert_eq!(source.head().unwrap(), made);
        assert_eq!(source.commit(made).unwrap().parents, [last.unwrap()]);
        let files = source.files_at(made).unwrap();
        assert!(
            files.iter().any(|f| f.path == "notes/2.yaml"),
            "no lost update"
        );
        assert!(files
            .iter()
            .any(|f| f.path == "pools/web.yaml" && f.text.contains("10.0.0.7:8080")));
    }

    #[test]
    fn a_branch_that_keeps_moving_is_a_conflict_after_the_retries() {
        let e = estate();
        let mut n = 0;
        let answer = add_racing(&e, &e.adder, "10.0.0.7:8080", &mut || {
            n += 1;
            commit(e.dir.path(), &format!("notes/{n}.yaml"), "# push\n");
        });
        assert!(matches!(answer, Err(ApiError::Conflict(4))), "{answer:?}");
        assert_eq!(n, 4);
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        let head = source.head().unwrap();
        assert!(!source
            .files_at(head)
            .unwrap()
            .iter()
            .any(|f| f.text.contains("10.0.0.7:8080")));
    }

    #[test]
    fn the_edit_is_made_on_the_branch_head_keeping_what_others_pushed() {
        let e = estate();
        // A person's push after the trusted commit, to the same file.
        let pushed = commit(
            e.dir.path(),
            "pools/web.yaml",
            &POOL.replace("# comments stay", "# comments stay\nlabels: {team: web}"),
        );
        let made = add(&e, &e.adder, "10.0.0.7:8080").unwrap();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        assert_eq!(source.head().unwrap(), made);
        assert_eq!(source.commit(made).unwrap().parents, [pushed]);
        let files = source.files_at(made).unwrap();
        let pool = files.iter().find(|f| f.path == "pools/web.yaml").unwrap();
        assert_eq!(
            pool.text,
            POOL.replace("# comments stay", "# comments stay\nlabels: {team: web}")
                + "    - {address: '10.0.0.7:8080', weight: 2}\n"
        );
    }

    #[test]
    fn a_refused_or_invalid_edit_commits_nothing() {
        let e = estate();
        let source = GitSource::open(e.dir.path(), "main").unwrap();
        let head = source.head().unwrap();
        match add(&e, &e.weights, "10.0.0.7:8080") {
            Err(ApiError::Forbidden(denied)) => {
                assert!(
                    denied.to_string().contains("pool.targets.update"),
                    "{denied}"
                );
            }
            other => panic!("{other:?}"),
        }
        match add(&e, &e.adder, "not an address") {
            Err(ApiError::Invalid(why)) => assert!(why.contains("pools/web.yaml:"), "{why}"),
            other => panic!("{other:?}"),
        }
        match add(&e, &e.adder, "10.0.0.1:80") {
            Err(ApiError::Invalid(_)) => {}
            other => panic!("a target it already has: {other:?}"),
        }
        assert_eq!(source.head().unwrap(), head);
    }
}
