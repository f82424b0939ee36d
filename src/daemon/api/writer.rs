//! The path every write takes, whatever its endpoint: the call's
//! [`Edit`] is made as text on the resource's file at the branch head,
//! the edited tree is validated with `spec::load`, and the change it makes
//! (`authz::changes` from the head to the edit, exactly what the judge
//! will see) is authorized for the token by the trusted policy before
//! anything is written. The commit is signed with the daemon's API key
//! and the branch moves only from the head the edit was made on; if it
//! moved, the edit is made again on the new head, [`RETRIES`] times, then
//! `409`. An edit that changes nothing is refused, unless what it asks
//! for is already so ([`Edit::already_so`]): then, once the caller is
//! allowed, `200` without a commit. Then: the reconcile loop is woken,
//! an `Idempotency-Key` is remembered, and `?wait=applied` blocks until
//! the daemon applied or refused the commit.

use super::edit::EditError;
use super::error::ApiError;
use super::{ApiState, Caller};
use crate::authz::{authorize_token, changes, Change};
use crate::daemon::journal::Journal;
use crate::judge::{Ruling, Verdict};
use crate::source::{ApiCommit, ApiSigner, CommitId, GitSource};
use crate::spec::api_commit::{ApiTrailers, RequestId};
use crate::spec::{self, Catalog, SourceFile};
use crate::trigger::{Trigger, TriggerSource};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
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

/// What one write endpoint changes, made as text on the files of a head.
pub trait Edit: Send + Sync {
    /// The commit's subject line ("Register 10.0.0.7:8080 in pool/web").
    fn summary(&self) -> String;
    /// The file it changes and that file's new text, made on `files` (the
    /// tree of the branch head), whose catalog is `before`. A resource
    /// that does not exist is [`ApiError::NotFound`]; an edit the text
    /// form does not allow is [`ApiError::Invalid`].
    fn edit(&self, files: &[SourceFile], before: &Catalog) -> Result<FileEdit, ApiError>;
    /// The answer when the edit changes nothing the judge would see.
    fn unchanged(&self) -> ApiError;
    /// For an edit that sets a value (a weight, a split): when it changes
    /// nothing because the head already has what the call asks for, the
    /// change the call stands for, which the caller must still be allowed
    /// to make; the call then succeeds without a commit, so a retried
    /// drain or PUT is not an error. `None` (the default): refused with
    /// [`Edit::unchanged`].
    fn already_so(&self, _before: &Catalog) -> Option<Change> {
        None
    }
}

/// One file of the tree with new text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEdit {
    /// Its index in the `files` the edit was made on.
    pub index: usize,
    pub text: String,
}

/// Makes `edit` a commit for `caller` and answers the call: `202` with
/// the commit (or, with `?wait=applied`, what became of it). `body` is
/// the request's bytes, which an `Idempotency-Key` is bound to.
pub async fn write_call(
    api: &ApiState,
    caller: Caller,
    edit: Arc<dyn Edit>,
    wait: &Wait,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
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
                commit_edit(
                    &repository,
                    &branch,
                    &caller,
                    &*edit,
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
            let Some(commit) = commit else {
                return Ok(already_so(&request));
            };
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
        Some(timeout) => wait_applied(api, &writer, &written, timeout).await?,
    };
    response
        .extensions_mut()
        .insert(Committed(written.commit.clone()));
    Ok(response)
}

/// The answer to a call whose edit the branch head already had: `200`,
/// and no commit to wait for.
fn already_so(request: &RequestId) -> Response {
    let body = serde_json::json!({
        "commit": null,
        "request_id": request.to_string(),
        "status_url": null,
        "unchanged": true,
    });
    (StatusCode::OK, Json(body)).into_response()
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

pub(super) fn diagnostics(invalid: &spec::Invalid) -> String {
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

/// Makes the commit of `edit` and moves the branch to it: on the head as
/// it is, again on a head that moved; `None` when the head already is
/// what the edit asks for ([`Edit::already_so`]). `before_swap` runs
/// between the commit and the branch's move (tests push there to race it).
#[allow(clippy::too_many_arguments)]
pub(super) fn commit_edit(
    repository: &std::path::Path,
    branch: &str,
    caller: &Caller,
    edit: &dyn Edit,
    request: &RequestId,
    signer: &ApiSigner,
    now: i64,
    before_swap: &mut dyn FnMut(),
) -> Result<Option<CommitId>, ApiError> {
    let source = GitSource::open(repository, branch).map_err(git)?;
    let trailers = ApiTrailers {
        account: caller.token.account.clone(),
        token: caller.token.id.clone(),
        request: request.clone(),
    };
    let summary = edit.summary();
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
        let FileEdit { index, text } = edit.edit(&files, &before)?;
        let mut edited: Vec<SourceFile> = files.clone();
        edited[index] = SourceFile::new(files[index].path.clone(), text.clone());
        let after = spec::load(&edited, &spec::Options::at(now))
            .map_err(|invalid| ApiError::Invalid(diagnostics(&invalid)))?
            .catalog;
        let made = changes(&before, &after);
        if made.is_empty() {
            let change = edit.already_so(&before).ok_or_else(|| edit.unchanged())?;
            let _permit = authorize_token(&caller.view.catalog, &caller.token, &change)
                .map_err(|denied| ApiError::Forbidden(Box::new(denied)))?;
            return Ok(None);
        }
        for change in &made {
            let _permit = authorize_token(&caller.view.catalog, &caller.token, change)
                .map_err(|denied| ApiError::Forbidden(Box::new(denied)))?;
        }
        let tree = source
            .tree_with_file(head, &files[index].path, &text)
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
            return Ok(Some(commit));
        }
        tracing::info!(%request, "api: the branch moved; making the edit again on its new head");
    }
    Err(ApiError::Conflict(RETRIES + 1))
}
