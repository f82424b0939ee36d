//! The path every write takes, whatever its endpoint: the call's
//! [`Edit`] is made as text on the resource's file at the branch head,
//! the edited tree is validated with `spec::load`, and the change it makes
//! (`authz::changes` from the head to the edit, exactly what the judge
//! will see) is authorized for the caller (a token, or a signed-in
//! person) by the trusted policy before
//! anything is written. The commit is signed with the daemon's API key
//! and the branch moves only from the head the edit was made on (in
//! place for a repository on this machine, by a push for a remote); if it
//! moved, the edit is made again on the new head, [`RETRIES`] times, then
//! `409`. An edit that changes nothing is refused, unless what it asks
//! for is already so ([`Edit::already_so`]): then, once the caller is
//! allowed, `200` without a commit. Then the reconcile loop is woken, and
//! `?wait=applied` blocks until the daemon applied or refused the commit.
//!
//! An `Idempotency-Key` is recorded in the state directory
//! ([`ledger_file`]) before its commit is made, and settled with the
//! commit after: a retry gets the first call's commit, across restarts.
//! A retry of a key whose commit was never recorded (the daemon stopped
//! in between) looks for the commit carrying the request id in git, and
//! makes it only if it is not there.

mod ledger;
pub mod ledger_file;

use super::edit::EditError;
use super::error::ApiError;
use super::{ApiPrincipal, ApiState, Caller};
use crate::authz::{changes, Change};
use crate::daemon::journal::Journal;
use crate::judge::Ruling;
use crate::source::{ApiCommit, ApiSigner, CommitId, GitLocation, GitSource};
use crate::spec::api_commit::{ApiTrailers, RequestId};
use crate::spec::{self, Catalog, SourceFile};
use crate::trigger::{Trigger, TriggerSource};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use ledger::{BodyDigest, Entry, KeyOwner, Ledger, Seen};
pub use ledger::{MAX_KEY_LEN, REMEMBERED_KEYS};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// How many times an edit is made again on a branch that moved.
pub const RETRIES: u32 = 3;

/// How many commits after an unsettled key's intent are read to find the
/// commit carrying its request id.
pub const SETTLE_WALK: usize = 1000;

/// The longest `?timeout=` a waiting call may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// What the write endpoints need beyond the reads.
pub struct Writer {
    /// The repository whose branch is written: the daemon's, or the
    /// mirror of its remote.
    pub location: GitLocation,
    pub branch: String,
    /// The daemon's API key; `None` when the config names none.
    pub signer: Option<Arc<ApiSigner>>,
    /// Where the reconcile loop takes triggers, so an API commit is
    /// applied without waiting for the poll.
    pub triggers: Option<mpsc::Sender<Trigger>>,
    /// The judgements and apply results, for `?wait=applied`.
    pub journal: Arc<Journal>,
    /// One write at a time, and the keys seen.
    keys: tokio::sync::Mutex<Keys>,
}

/// The remembered keys and the file that keeps them; with replicas on
/// etcd, the ledger is the replicas' shared one, read before each keyed
/// call and written under the leader's fence.
struct Keys {
    ledger: Ledger,
    file: PathBuf,
    shared: Option<crate::cluster::SharedStore>,
}

/// The name of the replicas' shared Idempotency-Key ledger in etcd.
pub const SHARED_KEYS: &str = "idempotency-keys";

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer")
            .field("location", &self.location)
            .field("branch", &self.branch)
            .finish_non_exhaustive()
    }
}

impl Writer {
    /// A writer of `branch` in `location`, whose Idempotency-Keys are kept
    /// in `keys_file` (read now; see [`ledger_file`] for a file that is
    /// not a ledger).
    pub fn new(
        location: GitLocation,
        branch: String,
        signer: Option<Arc<ApiSigner>>,
        triggers: Option<mpsc::Sender<Trigger>>,
        journal: Arc<Journal>,
        keys_file: PathBuf,
    ) -> Result<Writer, ledger_file::LedgerFileError> {
        let (ledger, set_aside) = ledger_file::load(&keys_file)?;
        if let Some(set_aside) = set_aside {
            tracing::warn!(
                file = %keys_file.display(),
                moved_to = %set_aside.moved_to.display(),
                problem = %set_aside.problem,
                "api: the Idempotency-Key ledger is not readable as one; it was moved aside and \
                 the daemon starts with no keys, so a retry of an earlier call may make a second \
                 commit"
            );
        }
        Ok(Writer {
            location,
            branch,
            signer,
            triggers,
            journal,
            keys: tokio::sync::Mutex::new(Keys {
                ledger,
                file: keys_file,
                shared: None,
            }),
        })
    }

    /// Replicas on etcd: writes only while this replica leads, with the
    /// replicas' shared Idempotency-Key ledger, so that a retry after a
    /// failover finds the commit the last leader made for its key.
    #[must_use]
    pub fn shared(mut self, shared: crate::cluster::SharedStore) -> Self {
        self.keys.get_mut().shared = Some(shared);
        self
    }
}

/// The commit a write made, as the response and the audit record name it.
#[derive(Clone, Debug, Serialize)]
pub struct Written {
    pub commit: String,
    pub request_id: String,
    pub status_url: String,
}

impl Written {
    fn of(commit: CommitId, request: &RequestId) -> Written {
        Written {
            commit: commit.to_string(),
            request_id: request.to_string(),
            status_url: format!("/commits/{commit}"),
        }
    }
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
    let signer = writer.signer.clone().ok_or(ApiError::NoSigningKey)?;
    let key = idempotency_key(headers)?;
    let body = BodyDigest::of(body);
    let fresh = request_id(api.clock.now());
    let write = Write {
        writer: writer.clone(),
        caller,
        edit,
        signer,
        unix: api.clock.unix_seconds(),
    };
    let mut keys = writer.keys.lock().await;
    keys.lead().await?;
    let (commit, request) = match key {
        None => (write.commit(&fresh).await?, fresh),
        Some(key) => write.keyed(&mut keys, key, body, fresh).await?,
    };
    drop(keys);
    let Some(commit) = commit else {
        return Ok(already_so(&request));
    };
    write.wake(commit);
    let written = Written::of(commit, &request);
    let mut response = match timeout {
        None => (StatusCode::ACCEPTED, Json(written.clone())).into_response(),
        Some(timeout) => wait_applied(api, &writer, &written, timeout).await?,
    };
    response
        .extensions_mut()
        .insert(Committed(written.commit.clone()));
    Ok(response)
}

/// Whose keys a call's Idempotency-Key is among.
fn key_owner(caller: &Caller) -> KeyOwner {
    match &caller.who {
        ApiPrincipal::Token(token) => KeyOwner::Token(token.id.clone()),
        ApiPrincipal::Person(person) => KeyOwner::User(person.user.clone()),
    }
}

/// The call's `Idempotency-Key`, if it sent one.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if ledger::valid_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key is 1 to {MAX_KEY_LEN} visible characters"
        ))),
    }
}

impl Keys {
    /// Replicas on etcd: refuses unless this replica leads, and takes up
    /// the shared ledger as the last leader left it. A daemon alone: Ok.
    async fn lead(&mut self) -> Result<(), ApiError> {
        let Some(shared) = &self.shared else {
            return Ok(());
        };
        if let crate::cluster::Role::Standby { leader, .. } = shared.leadership().role() {
            return Err(ApiError::NotLeader { leader });
        }
        match shared.read(SHARED_KEYS).await {
            Ok(Some(bytes)) => match ledger_file::decode(&bytes) {
                Ok(ledger) => self.ledger = ledger,
                Err(problem) => {
                    tracing::error!(%problem, "api: the shared Idempotency-Key ledger in etcd is damaged; nothing is committed");
                    return Err(ApiError::KeysUnavailable);
                }
            },
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "api: cannot read the shared Idempotency-Key ledger; nothing is committed");
                return Err(ApiError::KeysUnavailable);
            }
        }
        Ok(())
    }

    /// Writes the ledger to its file, and to etcd under the fence.
    async fn save(&self) -> std::io::Result<()> {
        let (file, ledger) = (self.file.clone(), self.ledger.clone());
        let bytes = ledger_file::encode(&ledger);
        tokio::task::spawn_blocking(move || ledger_file::save(&file, &ledger))
            .await
            .map_err(std::io::Error::other)??;
        if let Some(shared) = &self.shared {
            shared
                .write(SHARED_KEYS, bytes)
                .await
                .map_err(std::io::Error::other)?;
        }
        Ok(())
    }

    /// Records `commit` as `key`'s. The commit is made whatever happens
    /// here: if the file cannot be written, the intent stays on disk and a
    /// retry after a restart finds the commit in git.
    async fn settle(&mut self, owner: &KeyOwner, key: &str, commit: CommitId) {
        if self.ledger.settle(owner, key, commit) {
            if let Err(error) = self.save().await {
                tracing::warn!(%error, file = %self.file.display(), %commit, "api: cannot record an Idempotency-Key's commit; a retry will look for it in git");
            }
        }
    }
}

/// One write call's parts, for the steps that make its commit.
struct Write {
    writer: Arc<Writer>,
    caller: Caller,
    edit: Arc<dyn Edit>,
    signer: Arc<ApiSigner>,
    unix: i64,
}

impl Write {
    /// The commit of a call with `key` and a body of digest `body`: the
    /// one remembered, the one git holds for an unsettled intent, or a new
    /// one (carrying `fresh` for a key never seen).
    async fn keyed(
        &self,
        keys: &mut Keys,
        key: String,
        body: BodyDigest,
        fresh: RequestId,
    ) -> Result<(Option<CommitId>, RequestId), ApiError> {
        let owner = key_owner(&self.caller);
        let (request, since) = match keys.ledger.seen(&owner, &key, &body) {
            Seen::Reused => return Err(ApiError::IdempotencyKeyReused),
            Seen::Made { request, commit } => return Ok((Some(commit), request)),
            Seen::New => (fresh, self.head().await),
            // Made before the daemon could record it, or never made: git
            // tells which.
            Seen::Unsettled { request, since } => {
                if let Some(commit) = self.find(&request, since).await? {
                    tracing::info!(%request, %commit, "api: a retried request's commit was found in git");
                    keys.settle(&owner, &key, commit).await;
                    return Ok((Some(commit), request));
                }
                (request, since)
            }
        };
        let intent = Entry {
            owner,
            key,
            body,
            request: request.clone(),
            since,
            commit: None,
        };
        Ok((self.under_intent(keys, intent).await?, request))
    }

    /// Records `intent` on disk, then makes its commit and settles it: no
    /// commit without a durable intent. An edit the head already had
    /// makes none, and its intent stays unsettled: a retry looks in git,
    /// finds nothing, and finds the head as it is again.
    async fn under_intent(
        &self,
        keys: &mut Keys,
        intent: Entry,
    ) -> Result<Option<CommitId>, ApiError> {
        let (owner, key, request) = (
            intent.owner.clone(),
            intent.key.clone(),
            intent.request.clone(),
        );
        keys.ledger.intend(intent);
        if let Err(error) = keys.save().await {
            tracing::error!(%error, file = %keys.file.display(), "api: cannot record an Idempotency-Key; nothing is committed");
            return Err(ApiError::KeysUnavailable);
        }
        let commit = self.commit(&request).await?;
        if let Some(commit) = commit {
            keys.settle(&owner, &key, commit).await;
        }
        Ok(commit)
    }

    /// Makes the edit a commit carrying `request` and moves the branch to it.
    async fn commit(&self, request: &RequestId) -> Result<Option<CommitId>, ApiError> {
        let (writer, caller, edit, signer) = (
            self.writer.clone(),
            self.caller.clone(),
            self.edit.clone(),
            self.signer.clone(),
        );
        let (request, unix) = (request.clone(), self.unix);
        tokio::task::spawn_blocking(move || {
            let source = writer.location.open(&writer.branch).map_err(git)?;
            commit_edit_on(
                &source,
                &caller,
                &*edit,
                &request,
                &signer,
                unix,
                &mut || {},
            )
        })
        .await
        .map_err(git)?
    }

    /// The branch head as this machine last saw it (the mirror's, for a
    /// remote): an intent's commit comes after it.
    async fn head(&self) -> Option<CommitId> {
        let writer = self.writer.clone();
        tokio::task::spawn_blocking(move || writer.location.open(&writer.branch)?.head())
            .await
            .ok()?
            .ok()
    }

    /// The commit carrying `request`, made by this daemon for this caller,
    /// among the branch's commits after `since`.
    async fn find(
        &self,
        request: &RequestId,
        since: Option<CommitId>,
    ) -> Result<Option<CommitId>, ApiError> {
        let (writer, signer, on_behalf) = (
            self.writer.clone(),
            self.signer.clone(),
            self.caller.on_behalf(),
        );
        let request = request.clone();
        tokio::task::spawn_blocking(move || {
            let source = writer.location.open(&writer.branch).map_err(git)?;
            let head = source.latest().map_err(git)?;
            source
                .find_request(since, head, &request, SETTLE_WALK, &|commit, trailers| {
                    trailers.on_behalf == on_behalf && signer.signed(commit)
                })
                .map_err(git)
        })
        .await
        .map_err(git)?
    }

    /// Wakes the reconcile loop for `commit`.
    fn wake(&self, commit: CommitId) {
        if let Some(triggers) = &self.writer.triggers {
            let _ = triggers.try_send(Trigger {
                source: TriggerSource::Api,
                git_ref: Some(format!("refs/heads/{}", self.writer.branch)),
                after: Some(commit.to_string()),
            });
        }
    }
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
    writer: &Arc<Writer>,
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
async fn applied_after(writer: &Arc<Writer>, commit: CommitId, trusted: CommitId) -> bool {
    let writer = writer.clone();
    tokio::task::spawn_blocking(move || {
        writer
            .location
            .open(&writer.branch)
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
                // Every refused verdict says why (a denial, a freeze, the
                // approvals it lacks), not only plain denials.
                .filter(|c| !c.verdict.is_allowed())
                .map(|c| c.verdict.reason())
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

/// [`commit_edit_on`] the branch of the repository at `repository`: the
/// form the endpoints' tests call.
#[cfg(test)]
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
    commit_edit_on(&source, caller, edit, request, signer, now, before_swap)
}

/// Makes the commit of `edit` and moves the branch to it: on the head as
/// it is, again on a head that moved; `None` when the head already is
/// what the edit asks for ([`Edit::already_so`]). `before_swap` runs
/// between the commit and the branch's move (tests push there to race it).
pub(super) fn commit_edit_on(
    source: &GitSource,
    caller: &Caller,
    edit: &dyn Edit,
    request: &RequestId,
    signer: &ApiSigner,
    now: i64,
    before_swap: &mut dyn FnMut(),
) -> Result<Option<CommitId>, ApiError> {
    let trailers = ApiTrailers {
        on_behalf: caller.on_behalf(),
        request: request.clone(),
    };
    let summary = edit.summary();
    for _ in 0..=RETRIES {
        let head = source.latest().map_err(git)?;
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
            let _permit = caller
                .authorize(&change)
                .map_err(|denied| ApiError::Forbidden(Box::new(denied)))?;
            return Ok(None);
        }
        for change in &made {
            let _permit = caller
                .authorize(change)
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
        if source.publish(head, commit).map_err(git)? {
            return Ok(Some(commit));
        }
        tracing::info!(%request, "api: the branch moved; making the edit again on its new head");
    }
    Err(ApiError::Conflict(RETRIES + 1))
}

#[cfg(test)]
mod tests;
